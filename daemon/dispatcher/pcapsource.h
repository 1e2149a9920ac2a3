#pragma once
// libpcap packet sources: a live interface (the dispatcher's NIC) and a recorded capture.
//
// Live capture settings, each from a measurement in docs/design.md ("The lab"):
//  - immediate mode: without it a request waits ~180 ms for the buffer timeout instead of ~0.6 ms;
//  - 32 MB kernel buffer: 4 MB dropped 46k frames under overload, 32 MB none;
//  - non-blocking, poll() on pcap_get_selectable_fd with a timeout: a blocking pcap_next_ex
//    never returns when idle, so the thread could not stop;
//  - promiscuous, with a kernel BPF filter `ether dst <VMAC>`: the VMAC is no address of the
//    NIC, and nothing else may reach the fast path;
//  - direction "in": our own injected frames are never captured back. With NAT services
//    (outgoing = true) "in and out", the filter taking this node's own frames only when they go
//    to the VMAC (its own servers' replies through the gateway: withOwnNatReplies()).

#include "packetsource.h"

#include "fastpath/flowkey.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct pcap;

namespace sasha {

// "ether dst 02:5a:5a:00:00:01": the BPF filter for frames addressed to the VMAC.
std::string vmacFilter(const MacAddress &vmac);
// "arp and ether src 02:5a:...": another node's VMAC announcements (the capture's direction is
// "in", so never our own): what a prepared, idle capture watches.
std::string vmacAnnouncementFilter(const MacAddress &vmac);
// "arp[6:2] = 1 and arp[24:4] = 0x0a4d00c8": ARP requests whose target is the VIP (host byte
// order), broadcast by whoever resolves it (arpresponder.h).
std::string vipArpRequestFilter(std::uint32_t vip);
// What a dispatching capture takes: frames to the VMAC, other nodes' VMAC announcements, and
// ARP requests for the VIP (answered while this node announces the VMAC).
std::string dispatcherFilter(const MacAddress &vmac, std::uint32_t vip);
// Same with ARP requests for any of several VIPs ([[service]] tables on several VIPs).
std::string dispatcherFilter(const MacAddress &vmac, const std::vector<std::uint32_t> &vips);
// A filter no frame matches (its length is never 0): a prepared capture that is open and
// activated but takes nothing in (docs/dispatcher.md "Takeover").
inline constexpr const char *kRejectAllFilter = "less 0";

// L4/3: the capture runs in both directions (LiveCaptureOptions::outgoing) and `filter` becomes
// "(inbound and (filter)) or (outbound and ether dst VMAC and ip)": what came in as before, plus
// the IPv4 frames this node's own stack sends to the VMAC (the replies of the connections this
// node still serves as the dispatcher, docs/dispatcher.md "NAT mode").
std::string withOwnNatReplies(const std::string &filter, const MacAddress &vmac);

struct LiveCaptureOptions {
    std::string interface;
    std::string filter;              // BPF expression; empty = everything (use vmacFilter())
    bool promiscuous = true;
    bool outgoing = false;           // both directions (NAT); the filter must say which outgoing frames
    int bufferBytes = 32 << 20;
    // Bytes kept per frame; longer frames (TSO/GRO super-frames, jumbo frames) are dropped and
    // counted as oversized. It also sizes the kernel ring's slots (TPACKET_V2 in immediate mode):
    // 1518 fits two slots per 4 KiB page, ~16k frames in 32 MB; 9216 fitted only ~3.6k.
    int snapLength = 1518;
};

class PcapLiveSource final : public PacketSource {
public:
    // Null on failure, with `error` naming the cause (and the capability if one is missing).
    static std::unique_ptr<PcapLiveSource> open(const LiveCaptureOptions &options, std::string &error);
    ~PcapLiveSource() override;

    Batch receive(FrameReceiver &receiver, int maxFrames, std::chrono::milliseconds timeout) override;
    SourceStats stats() override;
    std::string lastError() const override { return m_error; }

    // Takeover of a prepared capture (opened non-promiscuous with kRejectAllFilter): switch the
    // kernel filter, and turn promiscuous mode on the way libpcap does on Linux (a
    // PACKET_MR_PROMISC membership of the socket, dropped when it closes). Microseconds each;
    // not while receive() runs on another thread. False with `error` set on failure.
    bool setFilter(const std::string &filter, std::string &error);
    bool enablePromiscuous(std::string &error);
    // A stopped run's capture kept for the next preparation: promiscuous off again (the
    // membership dropped), and the frames still in the ring thrown away (at most `maxFrames`).
    bool disablePromiscuous(std::string &error);
    std::size_t discardPending(std::size_t maxFrames);

private:
    PcapLiveSource(pcap *handle, int fd, std::string interface);
    bool setPromiscuous(bool on, std::string &error);
    pcap *m_handle;
    int m_fd;
    std::string m_interface;
    std::string m_error;
    SourceStats m_lastStats;
    std::uint64_t m_oversized = 0;
    FrameReceiver *m_receiver = nullptr; // during receive() only
    friend struct PcapCallbacks;
};

// A pcap savefile (Ethernet link type), replayed frame by frame as fast as asked; an optional
// BPF filter is applied as on a live interface, so filters are testable without privileges.
class PcapFileSource final : public PacketSource {
public:
    static std::unique_ptr<PcapFileSource> open(const std::string &path, const std::string &filter, std::string &error);
    ~PcapFileSource() override;

    Batch receive(FrameReceiver &receiver, int maxFrames, std::chrono::milliseconds timeout) override;
    SourceStats stats() override { return {0, 0, m_oversized}; }
    std::string lastError() const override { return m_error; }

private:
    explicit PcapFileSource(pcap *handle);
    pcap *m_handle;
    std::string m_error;
    std::uint64_t m_oversized = 0;
};

} // namespace sasha
