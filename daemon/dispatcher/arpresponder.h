#pragma once
// The dispatcher answers ARP for the VIP (issue 9; docs/dispatcher.md "ARP for the VIP"). The
// servers hold the VIP on loopback with arp_ignore=1 and never answer for it; a router in front
// of the cluster asks "who has VIP?" when its entry is missing or ages out, and a Linux router
// with the default arp_accept=0 makes no entry from the periodic gratuitous ARP alone. Like a
// VRRP master for its virtual addresses (RFC 5798 §6.4.1: the master responds to ARP requests
// for the virtual addresses with the virtual MAC), the dispatching node answers with the VMAC.
//
// Request recognised (RFC 826; Ethernet 14 bytes + ARP 28, at least 42 bytes; padding after):
//   Ethernet  dst any (broadcast, or the VMAC for a router's unicast re-check), src not multicast,
//             type 0x0806
//   ARP       htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request), sender MAC not multicast and
//             not zero, target IP = VIP, sender IP != target IP (equal: a gratuitous announcement,
//             another dispatcher's or a host's, which is not a question). A sender IP of 0.0.0.0
//             (an RFC 5227 probe for the VIP) is answered, as the Linux kernel answers probes.
// Reply (42 bytes, no padding; the NIC pads to 60 on the wire), unicast to the asker:
//   Ethernet  dst = request's sender MAC, src VMAC, type 0x0806
//   ARP       htype 1, ptype 0x0800, hlen 6, plen 4, op 2 (reply),
//             sender VMAC / VIP, target = request's sender MAC / sender IP
//
// The reply is built once with libnet (the target fields zero) and copied per request with the
// three asker fields patched: no allocation or system call on the packet thread. Pure: classify()
// and writeReply() touch no socket; the DispatcherThread decides whether to answer at all (only
// while this node announces the VMAC, dispatcherthread.h).

#include "fastpath/flowkey.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sasha {

class ArpResponder {
public:
    enum class Verdict : std::uint8_t {
        NotArp,       // not an ARP frame (EtherType other than 0x0806)
        Malformed,    // ARP, but short, not Ethernet/IPv4, or from a multicast or zero MAC
        Ignored,      // well-formed ARP that is not a question for the VIP (a reply, an
                      // announcement, a request for another address)
        RequestForVip // a request for the VIP: answer it
    };
    struct Asker {
        MacAddress mac{};       // the request's sender hardware address
        std::uint32_t ip = 0;   // the request's sender protocol address, host byte order
        std::uint32_t vip = 0;  // the VIP asked for (the reply's sender address); 0 = the first
    };
    static constexpr std::size_t kReplyBytes = 42;

    // vip in host byte order. valid() is false if libnet could not build the template.
    ArpResponder(const MacAddress &vmac, std::uint32_t vip);
    // Answers for every VIP of `vips` (at least one; [[service]] tables on several VIPs).
    ArpResponder(const MacAddress &vmac, const std::vector<std::uint32_t> &vips);

    bool valid() const noexcept { return m_valid; }
    std::string error() const { return m_error; }
    std::uint32_t vip() const noexcept { return m_vip; }

    // A question for `vip` from `asker` (an RFC 5227 probe: broadcast, sender address 0.0.0.0, so
    // no host makes a cache entry from it), built with libnet. A node about to take over sends it
    // to learn whether a dispatcher beyond its ring is alive: that one answers it and announces at
    // once (DispatcherThread). Empty on failure, with `error` set.
    static std::vector<std::uint8_t> buildQuestion(const MacAddress &asker, std::uint32_t vip, std::string &error);
    // What `frame` is; fills `asker` for RequestForVip. No allocation.
    static Verdict classify(std::span<const std::uint8_t> frame, std::uint32_t vip, Asker &asker) noexcept;
    // A request for any of this responder's VIPs is RequestForVip, with asker.vip set.
    Verdict classify(std::span<const std::uint8_t> frame, Asker &asker) const noexcept;
    // Writes the reply to `asker` into `out`; returns its length (kReplyBytes), or 0 if `out`
    // is shorter or the template is invalid. No allocation.
    std::size_t writeReply(const Asker &asker, std::span<std::uint8_t> out) const noexcept;

private:
    std::array<std::uint8_t, kReplyBytes> m_template{}; // the reply with the asker's fields zero
    bool m_valid = false;
    std::uint32_t m_vip;
    std::vector<std::uint32_t> m_vips; // m_vip first
    std::string m_error;
};

} // namespace sasha
