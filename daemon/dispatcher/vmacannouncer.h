#pragma once
// The VMAC takeover announcement (issue 3; docs/design.md "The lab": a switch forwards VIP frames to
// the port it last saw the VMAC on, for its ageing time, 300 s on a Linux bridge). Like a VRRP
// master, the dispatcher sends a gratuitous ARP from the VMAC for the VIP when it takes over and
// then periodically, so the switch moves its forwarding entry at once and keeps it fresh.
//
// Frame (42 bytes, built once with libnet; no padding, the NIC pads to 60 on the wire):
//   Ethernet  dst ff:ff:ff:ff:ff:ff, src VMAC, type 0x0806
//   ARP       htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request),
//             sender VMAC / VIP, target ANNOUNCER / VIP
// A request, not a reply: RFC 5798 §6.4.2 (VRRP) broadcasts gratuitous ARP requests. ANNOUNCER
// (6 bytes) says who announces: the dispatcher's ring address (4 bytes, big-endian) and the
// number of members of its ring (2 bytes; the top bit set when the dispatcher is established:
// DispatcherService::updateAnnouncer), all zero when not set. Receivers of a gratuitous ARP
// request ignore the target hardware address (RFC 5227 §2.3); a dispatcher that sees another
// node announce the VMAC reads it (announcerOf(): issue 11, docs/dispatcher.md "One dispatcher on
// the data network").
//
// Thread: tick() runs on the dispatcher thread (the announcement goes out on its sink); no
// allocation after construction.

#include "fastpath/flowkey.h"
#include "packetsink.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <span>
#include <cstdint>
#include <string>
#include <vector>

namespace sasha {

class VmacAnnouncer {
public:
    // vip in host byte order. interval 0 = announce once, at the first tick().
    VmacAnnouncer(const MacAddress &vmac, std::uint32_t vip, std::chrono::milliseconds interval,
                  const MacAddress &announcer = {});
    // One announcement per VIP, sent together ([[service]] tables on several VIPs).
    VmacAnnouncer(const MacAddress &vmac, const std::vector<std::uint32_t> &vips, std::chrono::milliseconds interval,
                  const MacAddress &announcer = {});

    // Builds the gratuitous ARP with libnet (no socket: LIBNET_NONE). Empty on failure, with `error` set.
    static std::vector<std::uint8_t> buildGratuitousArp(const MacAddress &vmac, std::uint32_t vip, std::string &error,
                                                        const MacAddress &announcer = {});
    // A VMAC announcement (a gratuitous ARP request, sender IP = target IP, whose Ethernet and
    // ARP sender are `vmac`; not the dispatcher's ARP replies): the announcer's
    // MAC from its target hardware address (all zero from a sender that does not say). nullopt
    // for any other frame. Pure; no allocation.
    static std::optional<MacAddress> announcerOf(std::span<const std::uint8_t> frame, const MacAddress &vmac) noexcept;

    // An answer to a question (ArpResponder::buildQuestion: an RFC 5227 probe for the VIP) says who
    // dispatches too: after the 42-byte ARP reply, in what would be the Ethernet padding (which
    // receivers ignore), kAnswerMagic and the ANNOUNCER field, then zeros to 60 bytes. Writes them
    // into `out` after `length` bytes; returns the new length (kAnsweredBytes), or `length` if
    // `out` is too short.
    static constexpr std::array<std::uint8_t, 4> kAnswerMagic{'S', 'S', 'H', 'A'};
    static constexpr std::size_t kAnsweredBytes = 60;
    static std::size_t appendAnswerer(std::span<std::uint8_t> out, std::size_t length, const MacAddress &announcer) noexcept;
    // Who answered: the ANNOUNCER field of an ARP reply from `vmac` that carries it; nullopt for
    // any other frame. Pure; no allocation.
    static std::optional<MacAddress> answererOf(std::span<const std::uint8_t> frame, const MacAddress &vmac) noexcept;
    // The ANNOUNCER field the next announcements carry (any thread).
    MacAddress announcer() const noexcept;

    bool valid() const noexcept { return !m_frames.empty() && !m_frames.front().empty(); }
    std::string error() const { return m_error; }
    const std::vector<std::uint8_t> &frame() const noexcept { return m_frames.front(); } // the first VIP's
    std::size_t vipCount() const noexcept { return m_frames.size(); }

    // Queues the announcements (one per VIP) on `sink` if due at `now` (the first call always
    // is). Returns true if it queued them; the caller flushes the sink.
    bool tick(PacketSink &sink, std::chrono::microseconds now) noexcept;
    // Makes the next tick() announce regardless of the interval (e.g. after a takeover).
    void announceNow() noexcept { m_due = true; }
    // Any thread: who announces (the ANNOUNCER field of the next announcements).
    void setAnnouncer(std::uint32_t ringAddress, std::uint16_t members) noexcept
    {
        m_announcer.store((std::uint64_t(ringAddress) << 16) | members, std::memory_order_relaxed);
    }
    std::uint64_t sent() const noexcept { return m_sent; }

private:
    std::vector<std::vector<std::uint8_t>> m_frames; // one per VIP; allocated at construction
    std::string m_error;
    std::chrono::microseconds m_interval;
    std::chrono::microseconds m_last{0};
    bool m_due = true;
    std::uint64_t m_sent = 0;
    std::atomic<std::uint64_t> m_announcer{0}; // 48 bits: ring address, members; 0 = as built
};

} // namespace sasha
