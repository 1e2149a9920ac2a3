#pragma once
// The VMAC takeover announcement (issue 3; DESIGN.md "The lab": a switch forwards VIP frames to
// the port it last saw the VMAC on, for its ageing time, 300 s on a Linux bridge). Like a VRRP
// master, the dispatcher sends a gratuitous ARP from the VMAC for the VIP when it takes over and
// then periodically, so the switch moves its forwarding entry at once and keeps it fresh.
//
// Frame (42 bytes, built once with libnet; no padding, the NIC pads to 60 on the wire):
//   Ethernet  dst ff:ff:ff:ff:ff:ff, src VMAC, type 0x0806
//   ARP       htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request),
//             sender VMAC / VIP, target 00:00:00:00:00:00 / VIP
// A request, not a reply: RFC 5798 §6.4.2 (VRRP) broadcasts gratuitous ARP requests.
//
// Thread: tick() runs on the dispatcher thread (the announcement goes out on its sink); no
// allocation after construction.

#include "fastpath/flowkey.h"
#include "packetsink.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sasha {

class VmacAnnouncer {
public:
    // vip in host byte order. interval 0 = announce once, at the first tick().
    VmacAnnouncer(const MacAddress &vmac, std::uint32_t vip, std::chrono::milliseconds interval);

    // Builds the gratuitous ARP with libnet (no socket: LIBNET_NONE). Empty on failure, with `error` set.
    static std::vector<std::uint8_t> buildGratuitousArp(const MacAddress &vmac, std::uint32_t vip, std::string &error);

    bool valid() const noexcept { return !m_frame.empty(); }
    std::string error() const { return m_error; }
    const std::vector<std::uint8_t> &frame() const noexcept { return m_frame; }

    // Queues the announcement on `sink` if one is due at `now` (the first call always is).
    // Returns true if it queued one; the caller flushes the sink.
    bool tick(PacketSink &sink, std::chrono::microseconds now) noexcept;
    // Makes the next tick() announce regardless of the interval (e.g. after a takeover).
    void announceNow() noexcept { m_due = true; }
    std::uint64_t sent() const noexcept { return m_sent; }

private:
    std::vector<std::uint8_t> m_frame;
    std::string m_error;
    std::chrono::microseconds m_interval;
    std::chrono::microseconds m_last{0};
    bool m_due = true;
    std::uint64_t m_sent = 0;
};

} // namespace sasha
