#include "afpacketsink.h"

#include "privilege.h"

#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sasha {

namespace {
// TPACKET_V2 slot: header, then the frame at a fixed offset. 2 KiB holds a 1518-byte frame.
constexpr std::size_t kRingFrameSize = 2048;
constexpr std::size_t kRingBlockSize = 1 << 16;
constexpr std::size_t kFramesPerBlock = kRingBlockSize / kRingFrameSize;
constexpr std::size_t kRingDataOffset = TPACKET2_HDRLEN - sizeof(sockaddr_ll);
} // namespace

const char *afPacketModeName(AfPacketSink::Mode mode) noexcept
{
    return mode == AfPacketSink::Mode::TxRing ? "tx-ring" : "sendmmsg";
}

std::unique_ptr<AfPacketSink> AfPacketSink::open(const Options &options, std::string &error)
{
    const std::string where = std::string("injection (AF_PACKET ") + afPacketModeName(options.mode) + ") on " +
                              options.interface;
    const unsigned ifindex = if_nametoindex(options.interface.c_str());
    if (ifindex == 0) {
        error = where + ": no such interface";
        return nullptr;
    }
    // Protocol 0: this socket only sends; the kernel never queues received frames to it.
    const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = socketError(where, errno);
        return nullptr;
    }
    std::unique_ptr<AfPacketSink> sink(new AfPacketSink(fd, int(ifindex), options));
    // Sends block when the device queue or the TX ring is full (back-pressure instead of loss),
    // but never for long: the dispatcher thread must stay able to stop within ~100 ms.
    const timeval sendTimeout{0, 50 * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, sizeof sendTimeout);
    if (options.qdiscBypass) {
        const int one = 1;
        if (::setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) {
            error = socketError(where + ": PACKET_QDISC_BYPASS", errno);
            return nullptr;
        }
    }
    if (options.mode == Mode::TxRing && !sink->setUpRing(error)) {
        error = where + ": " + error;
        return nullptr;
    }
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = 0;
    address.sll_ifindex = int(ifindex);
    if (::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
        error = socketError(where + ": bind", errno);
        return nullptr;
    }
    return sink;
}

AfPacketSink::AfPacketSink(int fd, int ifindex, const Options &options) : m_fd(fd), m_ifindex(ifindex), m_options(options)
{
    if (options.mode == Mode::Sendmmsg) {
        m_frames.resize(kBatchFrames);
        for (std::size_t i = 0; i < kBatchFrames; ++i) {
            m_iov[i].iov_base = m_frames[i].data();
            m_messages[i].msg_hdr.msg_iov = &m_iov[i];
            m_messages[i].msg_hdr.msg_iovlen = 1;
        }
    }
}

AfPacketSink::~AfPacketSink()
{
    if (m_ring)
        ::munmap(m_ring, m_ringBytes);
    ::close(m_fd);
}

bool AfPacketSink::setUpRing(std::string &error)
{
    const int version = TPACKET_V2;
    if (::setsockopt(m_fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
        error = std::string("PACKET_VERSION: ") + std::strerror(errno);
        return false;
    }
    // A malformed frame is skipped (marked available again) instead of stalling the ring.
    const int loss = 1;
    ::setsockopt(m_fd, SOL_PACKET, PACKET_LOSS, &loss, sizeof loss);
    const std::size_t blocks = (std::max<std::size_t>(m_options.ringFrames, kFramesPerBlock) + kFramesPerBlock - 1) /
                               kFramesPerBlock;
    tpacket_req request{};
    request.tp_block_size = kRingBlockSize;
    request.tp_block_nr = unsigned(blocks);
    request.tp_frame_size = kRingFrameSize;
    request.tp_frame_nr = unsigned(blocks * kFramesPerBlock);
    if (::setsockopt(m_fd, SOL_PACKET, PACKET_TX_RING, &request, sizeof request) != 0) {
        error = std::string("PACKET_TX_RING: ") + std::strerror(errno);
        return false;
    }
    m_ringBytes = blocks * kRingBlockSize;
    void *ring = ::mmap(nullptr, m_ringBytes, PROT_READ | PROT_WRITE, MAP_SHARED, m_fd, 0);
    if (ring == MAP_FAILED) {
        error = std::string("mmap of the TX ring: ") + std::strerror(errno);
        return false;
    }
    m_ring = static_cast<std::uint8_t *>(ring);
    m_frameSize = kRingFrameSize;
    m_options.ringFrames = unsigned(blocks * kFramesPerBlock);
    return true;
}

void AfPacketSink::noteError(const char *what, int error) noexcept
{
    if (m_error.empty())
        m_error = std::string("injection on ") + m_options.interface + ": " + what + ": " + std::strerror(error);
}

std::span<std::uint8_t> AfPacketSink::acquire() noexcept
{
    if (m_options.mode == Mode::Sendmmsg)
        return m_frames[m_queued];
    auto *header = reinterpret_cast<tpacket2_hdr *>(m_ring + m_cursor * m_frameSize);
    for (int attempt = 0; attempt < 2; ++attempt) {
        const auto status = __atomic_load_n(&header->tp_status, __ATOMIC_ACQUIRE);
        if (status == TP_STATUS_AVAILABLE)
            return {reinterpret_cast<std::uint8_t *>(header) + kRingDataOffset, kMaxFrameBytes};
        if (status == TP_STATUS_WRONG_FORMAT) {
            ++m_pending.failed;
            __atomic_store_n(&header->tp_status, TP_STATUS_AVAILABLE, __ATOMIC_RELEASE);
            continue;
        }
        // The ring is full of frames still being sent: push them out and wait for the slot.
        kickRing(true);
    }
    return {};
}

void AfPacketSink::commit(std::size_t length) noexcept
{
    if (m_options.mode == Mode::Sendmmsg) {
        m_iov[m_queued].iov_len = length;
        if (++m_queued == kBatchFrames)
            sendBatch();
        return;
    }
    auto *header = reinterpret_cast<tpacket2_hdr *>(m_ring + m_cursor * m_frameSize);
    header->tp_len = unsigned(length);
    __atomic_store_n(&header->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    m_cursor = (m_cursor + 1) % m_options.ringFrames;
    ++m_ringQueued;
}

void AfPacketSink::sendBatch() noexcept
{
    std::size_t start = 0;
    // Bounded: each failed call skips the frame it failed on; EINTR is retried a few times.
    for (int interrupted = 0; start < m_queued && interrupted < 8;) {
        const int n = ::sendmmsg(m_fd, &m_messages[start], unsigned(m_queued - start), 0);
        if (n > 0) {
            m_pending.sent += unsigned(n);
            start += unsigned(n);
        } else if (n < 0 && errno == EINTR) {
            ++interrupted;
        } else {
            noteError("sendmmsg", n < 0 ? errno : EIO);
            ++m_pending.failed;
            ++start;
        }
    }
    m_pending.failed += m_queued - start;
    m_queued = 0;
}

void AfPacketSink::kickRing(bool wait) noexcept
{
    // Waiting with nothing queued still makes sense: it waits for slots already being sent.
    if (m_ringQueued == 0 && !wait)
        return;
    // One send() transmits every slot marked SEND_REQUEST. Without MSG_DONTWAIT it also waits
    // until they are all sent, which frees their slots.
    const ssize_t rc = ::send(m_fd, nullptr, 0, wait ? 0 : MSG_DONTWAIT);
    if (rc < 0 && errno != EAGAIN && errno != EINTR) {
        noteError("send (TX ring)", errno);
        m_pending.failed += m_ringQueued;
    } else {
        m_pending.sent += m_ringQueued;
    }
    m_ringQueued = 0;
}

SinkResult AfPacketSink::flush() noexcept
{
    if (m_options.mode == Mode::Sendmmsg) {
        if (m_queued > 0)
            sendBatch();
    } else {
        kickRing(false);
    }
    const SinkResult result = m_pending;
    m_pending = {};
    return result;
}

} // namespace sasha
