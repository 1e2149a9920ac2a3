#pragma once
// The rewrite stage: turns a parsed client frame into the frame sent to the chosen server.
// One stage, two kinds (ForwardMode), chosen per table generation:
//   Direct (L4/2): destination MAC := server's MAC, source MAC := dispatcher's MAC. IP and
//                  TCP/UDP stay untouched, so no checksum changes; the server answers the client
//                  directly from the VIP on its loopback.
//   Nat (L4/3, RFC 2391): additionally destination address := server's address, with the IPv4
//                  header checksum and the TCP/UDP checksum (pseudo-header) updated incrementally
//                  (RFC 1624). Ports are kept (the server listens on the VIP's port), so the reply
//                  direction needs no per-flow state: its source address becomes the VIP again
//                  and its destination MAC the client's next hop (rewriteNatReply).
//
// Pure functions of (frame, server, policy); no state, no allocation.

#include "fastpath/frameparser.h"
#include "fastpath/servertable.h"

#include <cstddef>
#include <cstdint>
#include <span>

namespace sasha {

class Rewriter {
public:
    // Writes the frame for `server` into out (out may be the very bytes of `frame`: in place).
    // Returns the bytes written, or 0 when out is smaller than the frame.
    static std::size_t rewriteToServer(const FrameView &frame, std::span<std::uint8_t> out, const ServerInfo &server,
                                       const DispatchPolicy &policy) noexcept
    {
        return rewriteToServer(frame, out, server, policy.dispatcherMac, policy.mode);
    }
    // The same in an explicit mode (a service's, ServiceParams::mode).
    static std::size_t rewriteToServer(const FrameView &frame, std::span<std::uint8_t> out, const ServerInfo &server,
                                       const MacAddress &dispatcherMac, ForwardMode mode) noexcept;

    // L4/3 reply (server -> client): source address := VIP, checksums updated. In place.
    static void rewriteReplyToClient(const FrameView &frame, std::span<std::uint8_t> bytes, std::uint32_t vip) noexcept;
    // The whole reply frame: destination MAC := the client's next hop, source MAC := the
    // dispatcher's, source address := VIP. Returns the bytes written, 0 when out is too small.
    static std::size_t rewriteNatReply(const FrameView &frame, std::span<std::uint8_t> out, std::uint32_t vip,
                                       const MacAddress &nextHop, const MacAddress &dispatcherMac) noexcept;

    // L4/3 ICMP errors (as LVS's ip_vs_nat_icmp): an error quotes the packet it is about, whose
    // addresses are translated too. The outer address at outerField (12 = source, 16 =
    // destination) := outerAddress, the quoted header's address at quotedField := quotedAddress
    // (its header checksum recomputed, its TCP/UDP checksum updated when the quote holds it), the
    // ICMP checksum recomputed over the message, and the MACs set. Returns the bytes written, 0
    // when out is too small. `frame` is an ICMP error parseFrame() found Routable.
    static std::size_t rewriteNatIcmp(const FrameView &frame, std::span<std::uint8_t> out, std::size_t outerField,
                                      std::uint32_t outerAddress, std::size_t quotedField, std::uint32_t quotedAddress,
                                      const MacAddress &dstMac, const MacAddress &srcMac) noexcept;

private:
    static void rewriteAddress(const FrameView &frame, std::uint8_t *bytes, std::size_t ipFieldOffset,
                               std::uint32_t newAddress) noexcept;
};

} // namespace sasha
