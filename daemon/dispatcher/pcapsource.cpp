#include "pcapsource.h"

#include "privilege.h"

#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sasha {

std::string vmacFilter(const MacAddress &vmac)
{
    char text[64];
    std::snprintf(text, sizeof text, "ether dst %02x:%02x:%02x:%02x:%02x:%02x", vmac[0], vmac[1], vmac[2], vmac[3],
                  vmac[4], vmac[5]);
    return text;
}

std::string vmacAnnouncementFilter(const MacAddress &vmac)
{
    char text[64];
    std::snprintf(text, sizeof text, "arp and ether src %02x:%02x:%02x:%02x:%02x:%02x", vmac[0], vmac[1], vmac[2],
                  vmac[3], vmac[4], vmac[5]);
    return text;
}

std::string vipArpRequestFilter(std::uint32_t vip)
{
    // ARP header: operation at offset 6, target protocol address at 24 (RFC 826, Ethernet/IPv4).
    char text[64];
    std::snprintf(text, sizeof text, "arp and arp[6:2] = 1 and arp[24:4] = 0x%08x", vip);
    return text;
}

std::string dispatcherFilter(const MacAddress &vmac, std::uint32_t vip)
{
    return vmacFilter(vmac) + " or (" + vmacAnnouncementFilter(vmac) + ") or (" + vipArpRequestFilter(vip) + ")";
}

std::string dispatcherFilter(const MacAddress &vmac, const std::vector<std::uint32_t> &vips)
{
    std::string out = vmacFilter(vmac) + " or (" + vmacAnnouncementFilter(vmac) + ")";
    for (const std::uint32_t vip : vips)
        out += " or (" + vipArpRequestFilter(vip) + ")";
    return out;
}

std::string withOwnNatReplies(const std::string &filter, const MacAddress &vmac)
{
    return "(inbound and (" + filter + ")) or (outbound and " + vmacFilter(vmac) + " and ip)";
}

struct PcapCallbacks {
    static void deliverWhole(u_char *user, const pcap_pkthdr *header, const u_char *bytes)
    {
        auto *source = reinterpret_cast<PcapLiveSource *>(user);
        if (header->caplen < header->len) {
            ++source->m_oversized; // a cut frame must never be forwarded
            return;
        }
        source->m_receiver->onFrame({bytes, header->caplen});
    }
};

namespace {

bool applyFilter(pcap *handle, const std::string &filter, const std::string &where, std::string &error)
{
    if (filter.empty())
        return true;
    bpf_program program{};
    if (pcap_compile(handle, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        error = where + ": bad capture filter \"" + filter + "\": " + pcap_geterr(handle);
        return false;
    }
    const int rc = pcap_setfilter(handle, &program);
    pcap_freecode(&program);
    if (rc != 0) {
        error = where + ": cannot install capture filter: " + pcap_geterr(handle);
        return false;
    }
    return true;
}

std::string activateError(pcap *handle, int rc, const std::string &where)
{
    switch (rc) {
    case PCAP_ERROR_PERM_DENIED:
        return needsNetRaw(where);
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        return needsNetAdmin(where);
    case PCAP_ERROR_NO_SUCH_DEVICE:
        return where + ": no such interface";
    case PCAP_ERROR_IFACE_NOT_UP:
        return where + ": interface is down (ip link set <if> up)";
    default:
        return where + ": " + pcap_statustostr(rc) + ": " + pcap_geterr(handle);
    }
}

} // namespace

std::unique_ptr<PcapLiveSource> PcapLiveSource::open(const LiveCaptureOptions &options, std::string &error)
{
    const std::string where = "capture on " + options.interface;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap *handle = pcap_create(options.interface.c_str(), errbuf);
    if (!handle) {
        error = where + ": " + errbuf;
        return nullptr;
    }
    auto fail = [&](std::string message) -> std::unique_ptr<PcapLiveSource> {
        error = std::move(message);
        pcap_close(handle);
        return nullptr;
    };
    pcap_set_snaplen(handle, options.snapLength);
    pcap_set_promisc(handle, options.promiscuous ? 1 : 0);
    pcap_set_immediate_mode(handle, 1);
    pcap_set_buffer_size(handle, options.bufferBytes);
    const int rc = pcap_activate(handle);
    if (rc < 0)
        return fail(activateError(handle, rc, where));
    if (rc == PCAP_WARNING_PROMISC_NOTSUP)
        return fail(where + ": the interface does not support promiscuous mode");
    if (pcap_datalink(handle) != DLT_EN10MB)
        return fail(where + ": not an Ethernet interface (link type " +
                    std::to_string(pcap_datalink(handle)) + ")");
    if (!options.outgoing && pcap_setdirection(handle, PCAP_D_IN) != 0)
        return fail(where + ": cannot restrict to incoming frames: " + pcap_geterr(handle));
    if (!applyFilter(handle, options.filter, where, error)) {
        pcap_close(handle);
        return nullptr;
    }
    if (pcap_setnonblock(handle, 1, errbuf) != 0)
        return fail(where + ": cannot set non-blocking mode: " + errbuf);
    const int fd = pcap_get_selectable_fd(handle);
    if (fd < 0)
        return fail(where + ": no selectable descriptor");
    return std::unique_ptr<PcapLiveSource>(new PcapLiveSource(handle, fd, options.interface));
}

PcapLiveSource::PcapLiveSource(pcap *handle, int fd, std::string interface)
    : m_handle(handle), m_fd(fd), m_interface(std::move(interface))
{
}

PcapLiveSource::~PcapLiveSource()
{
    pcap_close(m_handle);
}

bool PcapLiveSource::setFilter(const std::string &filter, std::string &error)
{
    return applyFilter(m_handle, filter, "capture on " + m_interface, error);
}

bool PcapLiveSource::enablePromiscuous(std::string &error)
{
    return setPromiscuous(true, error);
}

bool PcapLiveSource::disablePromiscuous(std::string &error)
{
    return setPromiscuous(false, error);
}

// Promiscuous mode the way libpcap sets it on Linux: a PACKET_MR_PROMISC membership of this
// socket (the kernel counts them per interface, and drops this one when the socket closes).
bool PcapLiveSource::setPromiscuous(bool on, std::string &error)
{
    const std::string where = "capture on " + m_interface;
    const unsigned ifindex = if_nametoindex(m_interface.c_str());
    if (ifindex == 0) {
        error = where + ": no such interface";
        return false;
    }
    packet_mreq request{};
    request.mr_ifindex = int(ifindex);
    request.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(pcap_fileno(m_handle), SOL_PACKET, on ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &request,
                   sizeof request) == 0)
        return true;
    if (!on && errno == EADDRNOTAVAIL)
        return true; // no such membership (it was never turned on): nothing to undo
    error = errno == EPERM ? needsNetAdmin(where)
                           : where + (on ? ": promiscuous mode: " : ": promiscuous mode off: ") + std::strerror(errno);
    return false;
}

std::size_t PcapLiveSource::discardPending(std::size_t maxFrames)
{
    struct Discard final : FrameReceiver {
        std::size_t frames = 0;
        void onFrame(std::span<const std::uint8_t>) noexcept override { ++frames; }
    } discard;
    while (discard.frames < maxFrames) {
        const std::size_t before = discard.frames;
        receive(discard, 256, std::chrono::milliseconds(0));
        if (discard.frames == before)
            break;
    }
    return discard.frames;
}

PacketSource::Batch PcapLiveSource::receive(FrameReceiver &receiver, int maxFrames, std::chrono::milliseconds timeout)
{
    // Under load the ring already holds frames: read first, poll only when it was empty.
    for (int attempt = 0; attempt < 2; ++attempt) {
        m_receiver = &receiver;
        const int n = pcap_dispatch(m_handle, maxFrames, PcapCallbacks::deliverWhole, reinterpret_cast<u_char *>(this));
        m_receiver = nullptr;
        if (n < 0) {
            m_error = "capture on " + m_interface + ": " + pcap_geterr(m_handle);
            return {Status::Failed, 0};
        }
        if (n > 0 || attempt == 1)
            return {Status::Ok, n};
        pollfd p{m_fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, int(timeout.count()));
        if (ready < 0 && errno != EINTR) {
            m_error = "capture on " + m_interface + ": poll: " + std::strerror(errno);
            return {Status::Failed, 0};
        }
        if (ready > 0 && (p.revents & (POLLERR | POLLNVAL))) {
            m_error = "capture on " + m_interface + ": the interface went away or failed";
            return {Status::Failed, 0};
        }
        if (ready <= 0)
            return {Status::Ok, 0};
    }
    return {Status::Ok, 0};
}

SourceStats PcapLiveSource::stats()
{
    pcap_stat s{};
    if (pcap_stats(m_handle, &s) == 0)
        m_lastStats = {s.ps_drop, s.ps_ifdrop, 0};
    m_lastStats.oversized = m_oversized;
    return m_lastStats;
}

std::unique_ptr<PcapFileSource> PcapFileSource::open(const std::string &path, const std::string &filter,
                                                     std::string &error)
{
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap *handle = pcap_open_offline(path.c_str(), errbuf);
    if (!handle) {
        error = "capture file " + path + ": " + errbuf;
        return nullptr;
    }
    if (pcap_datalink(handle) != DLT_EN10MB) {
        error = "capture file " + path + ": not Ethernet (link type " + std::to_string(pcap_datalink(handle)) + ")";
        pcap_close(handle);
        return nullptr;
    }
    if (!applyFilter(handle, filter, "capture file " + path, error)) {
        pcap_close(handle);
        return nullptr;
    }
    return std::unique_ptr<PcapFileSource>(new PcapFileSource(handle));
}

PcapFileSource::PcapFileSource(pcap *handle) : m_handle(handle)
{
}

PcapFileSource::~PcapFileSource()
{
    pcap_close(m_handle);
}

PacketSource::Batch PcapFileSource::receive(FrameReceiver &receiver, int maxFrames, std::chrono::milliseconds)
{
    // pcap_next_ex rather than pcap_dispatch: it tells the end of the file (-2) apart from a
    // batch that the filter emptied.
    int delivered = 0;
    while (delivered < maxFrames) {
        pcap_pkthdr *header = nullptr;
        const u_char *bytes = nullptr;
        const int rc = pcap_next_ex(m_handle, &header, &bytes);
        if (rc == 1) {
            if (header->caplen < header->len) {
                ++m_oversized;
                continue;
            }
            receiver.onFrame({bytes, header->caplen});
            ++delivered;
            continue;
        }
        if (rc == PCAP_ERROR_BREAK)
            return {delivered > 0 ? Status::Ok : Status::Exhausted, delivered};
        m_error = std::string("capture file: ") + pcap_geterr(m_handle);
        return {Status::Failed, delivered};
    }
    return {Status::Ok, delivered};
}

} // namespace sasha
