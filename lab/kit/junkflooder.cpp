#include "junkflooder.h"

#include <QString>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <netinet/in.h>
#include <random>
#include <sys/socket.h>
#include <unistd.h>

namespace sasha::lab {
namespace {
constexpr int kBatch = 32;          // datagrams per sendmmsg
constexpr int kMaxDatagram = 1400;
constexpr int kTokenType = 4;       // tokenbeat/messages.h MessageType::Token
constexpr int kHeader = 32;         // tokenbeat/envelope.h kEnvelopeHeaderSize (version 2)
constexpr int kForgedBody = 40;

void put16(unsigned char *p, quint16 v) { p[0] = quint8(v >> 8); p[1] = quint8(v); }
void put32(unsigned char *p, quint32 v) { put16(p, quint16(v >> 16)); put16(p + 2, quint16(v)); }
void put64(unsigned char *p, quint64 v) { put32(p, quint32(v >> 32)); put32(p + 4, quint32(v)); }
} // namespace

JunkFlooder::JunkFlooder(Options options) : m_options(std::move(options)) {}

JunkFlooder::~JunkFlooder()
{
    stop();
}

bool JunkFlooder::start(QString *error)
{
    if (m_options.targets.empty()) {
        if (error)
            *error = QStringLiteral("no target");
        return false;
    }
    m_fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0) {
        if (error)
            *error = QStringLiteral("socket: %1").arg(QString::fromLocal8Bit(std::strerror(errno)));
        return false;
    }
    const int big = 4 << 20;
    ::setsockopt(m_fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    m_stop = false;
    m_thread = std::thread(&JunkFlooder::run, this);
    return true;
}

void JunkFlooder::stop()
{
    m_stop = true;
    if (m_thread.joinable())
        m_thread.join();
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = -1;
}

void JunkFlooder::run()
{
    std::mt19937_64 rng(m_options.seed);
    std::vector<sockaddr_in> to(m_options.targets.size());
    for (std::size_t i = 0; i < to.size(); ++i) {
        to[i] = {};
        to[i].sin_family = AF_INET;
        to[i].sin_addr.s_addr = htonl(m_options.targets[i].ip);
        to[i].sin_port = htons(m_options.targets[i].port);
    }
    static thread_local unsigned char buf[kBatch][kMaxDatagram];
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    std::size_t next = 0;
    quint64 seq = 1;
    const auto t0 = std::chrono::steady_clock::now();
    quint64 total = 0;
    while (!m_stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < kBatch; ++i) {
            const int len = m_options.kind == Kind::Forged ? kHeader + kForgedBody + 16 : 16 + int(rng() % (kMaxDatagram - 16));
            for (int b = 0; b < len; b += 8) {
                const quint64 r = rng();
                std::memcpy(buf[i] + b, &r, std::min(8, len - b));
            }
            if (m_options.kind == Kind::Forged) {
                // tokenbeat/envelope.h, version 2: magic, version, type, sender, destination
                // address and port, boot epoch, sequence, body length; then body and MAC.
                buf[i][0] = 0x53;
                buf[i][1] = 0x42;
                buf[i][2] = 2;
                buf[i][3] = kTokenType;
                put32(buf[i] + 4, m_options.forgedSender);
                put32(buf[i] + 8, m_options.targets[next].ip);
                put16(buf[i] + 12, m_options.targets[next].port);
                put64(buf[i] + 14, 1); // boot epoch
                put64(buf[i] + 22, seq++);
                put16(buf[i] + 30, kForgedBody);
            }
            iov[i] = {buf[i], std::size_t(len)};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_name = &to[next];
            msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            next = (next + 1) % to.size();
        }
        const int n = ::sendmmsg(m_fd, msgs, kBatch, 0);
        if (n > 0) {
            m_sent.fetch_add(quint64(n), std::memory_order_relaxed);
            total += quint64(n);
        }
        if (n < kBatch)
            m_errors.fetch_add(quint64(kBatch - std::max(n, 0)), std::memory_order_relaxed);
        if (m_options.rate > 0) {
            // Paced: sleep until the time this many datagrams are due.
            const auto due = t0 + std::chrono::duration<double>(double(total) / m_options.rate);
            const auto now = std::chrono::steady_clock::now();
            if (due > now)
                std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(due - now), std::chrono::milliseconds(100)));
        }
    }
}

} // namespace sasha::lab
