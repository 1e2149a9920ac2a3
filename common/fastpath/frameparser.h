#pragma once
// Frame parsing for the dispatcher's fast path: Ethernet II, an optional 802.1Q tag, IPv4
// without options, TCP and UDP, and the ICMP errors that quote a TCP/UDP packet (so that
// path-MTU discovery works through the dispatcher, as LVS's ip_vs_in_icmp does). The result is
// a zero-copy view (offsets into the caller's bytes) plus the 5-tuple; anything the fast path
// does not handle gets its own verdict so it is counted apart (issue 3: "frames it cannot
// handle ... are dropped, counted, never crash").
//
// Wire layout read here (all fields big-endian):
//   Ethernet II  dst MAC 6 | src MAC 6 | ethertype 2                       (14 bytes)
//   802.1Q       TPID 0x8100 2 | TCI 2 (PCP 3 bits, DEI 1, VID 12) | ethertype 2 (+4 bytes)
//   IPv4         ver/IHL 1 | DSCP/ECN 1 | total length 2 | id 2 | flags/frag offset 2 |
//                TTL 1 | protocol 1 | header checksum 2 | src 4 | dst 4   (20 bytes, IHL = 5)
//   TCP          src port 2 | dst port 2 | seq 4 | ack 4 | data offset/flags 2 | window 2 |
//                checksum 2 | urgent 2                                      (>= 20 bytes)
//   UDP          src port 2 | dst port 2 | length 2 | checksum 2            (8 bytes)
//   ICMP error   type 1 | code 1 | checksum 2 | unused 2 | next-hop MTU 2 (type 3 code 4,
//                RFC 1191; otherwise unused) (8 bytes), then the quoted packet: its IPv4
//                header (IHL * 4 bytes, options included) and at least 8 bytes of its payload
//                (RFC 792), i.e. the TCP/UDP ports. RFC 1812 routers quote more; RFC 4884
//                extensions come after the quote and do not move it.
// Bytes after the IPv4 total length are Ethernet padding and are ignored (and kept on output).

#include "fastpath/flowkey.h"

#include <cstddef>
#include <cstdint>
#include <span>

namespace sasha {

enum class ParseVerdict : std::uint8_t {
    Ok = 0,
    TruncatedEthernet, // shorter than the Ethernet header, or a VLAN tag cut off
    Arp,               // ARP is the control plane's business (VMAC announcements use libnet)
    NotIpv4,           // IPv6, LLDP, any other ethertype, or a second (QinQ) tag
    TruncatedIpv4,     // fewer than 20 bytes of IPv4 header
    BadIpVersion,      // ethertype says IPv4, version nibble says otherwise
    BadIhl,            // IHL < 5
    IpOptions,         // IHL > 5: valid, but not handled on the fast path
    BadTotalLength,    // total length < header length, or more than the bytes captured
    Fragment,          // MF set or offset != 0: later fragments carry no ports to route by
    UnsupportedL4,     // GRE, ESP, ...: only TCP, UDP and ICMP are looked at
    TruncatedL4,       // the IP payload is shorter than the TCP/UDP header
    BadL4Header,       // TCP data offset < 5 or past the payload; UDP length inconsistent
    Icmp,              // not a refusal: an ICMP message, see ParseResult::icmp
};
constexpr std::size_t kParseVerdictCount = 14;
const char *parseVerdictName(ParseVerdict v) noexcept;

// What becomes of an ICMP message (ParseVerdict::Icmp). Only an error that quotes a packet the
// VIP sent over TCP or UDP can be routed: to the server that owns that flow. Every other value
// is a drop reason (FastPathCounters::icmpDropped). parseFrame() decides the values up to
// EmbeddedNotTcpUdp; the rest need the policy and the flow table, and FastPath decides them.
enum class IcmpVerdict : std::uint8_t {
    Routable = 0,       // destination unreachable (3, any code) or time exceeded (11) quoting a
                        // TCP/UDP header: FrameView::key is the quoted packet's flow
    Truncated,          // fewer than 8 bytes of ICMP header inside the IPv4 total length
    UnhandledType,      // echo request/reply and every type but 3 and 11: not for a server
    EmbeddedTruncated,  // the quote is shorter than a 20-byte IPv4 header, or ends before its ports
    EmbeddedBadIhl,     // the quoted header's IHL < 5, or IHL * 4 beyond the quote
    EmbeddedNotIpv4,    // the quoted header's version is not 4
    EmbeddedFragment,   // the quoted packet is a later fragment (offset != 0): no ports in it
    EmbeddedNotTcpUdp,  // the quoted packet is neither TCP nor UDP
    // Decided by FastPath:
    EmbeddedNotFromVip, // the quoted packet's source is not the VIP: not one of our replies
    UnknownFlow,        // no such flow, and reconstruction has completed
    ServerGone,         // the flow's server is no longer in the table
    NoServer,           // unknown flow, and the continuity table has no server for it
    NatMode,            // no longer produced: L4/3 errors are translated (kept: its counter's name)
};
constexpr std::size_t kIcmpVerdictCount = 13;
const char *icmpVerdictName(IcmpVerdict v) noexcept;

// Frames to the VIP that parse but that no client can send, dropped before they reach the flow
// table (FastPathCounters::bogusDropped): spoofed or misrouted sources (RFC 1122 3.2.1.3 and
// RFC 5735 "martians": no host sends from these), and 802.1Q tags on the dispatcher's link. A
// SYN flood with such sources would otherwise cost a flow entry each and reach a server.
// Index 0, None, is not a drop.
enum class BogusVerdict : std::uint8_t {
    None = 0,
    SourceVip,         // the VIP itself (a LAND attack, or a loop): replies never come this way
    SourceThisNetwork, // 0.0.0.0/8: "this host on this network", only a booting host's source
    SourceLoopback,    // 127.0.0.0/8: never on a wire
    SourceMulticast,   // 224.0.0.0/4: a group address is never a source
    SourceReserved,    // 240.0.0.0/4 but the limited broadcast: reserved, never assigned
    SourceBroadcast,   // 255.255.255.255: the limited broadcast
    VlanTagged,        // an 802.1Q tag: the dispatcher's interface is untagged; on a VLAN, run it
                       // on the VLAN's interface (eth0.42), where the kernel strips the tag
};
constexpr std::size_t kBogusVerdictCount = 8;
const char *bogusVerdictName(BogusVerdict v) noexcept;

// Pure: why a frame from srcIp (host order) to the VIP is bogus, or None. One compare for the
// common case (a unicast source below 224/4 that is not 0/8, 127/8 or the VIP).
inline BogusVerdict checkBogus(std::uint32_t srcIp, bool hasVlan, std::uint32_t vip) noexcept
{
    const std::uint32_t first = srcIp >> 24;
    if (!hasVlan && first != 0 && first != 127 && first < 224 && srcIp != vip) [[likely]]
        return BogusVerdict::None;
    if (hasVlan)
        return BogusVerdict::VlanTagged;
    if (srcIp == vip)
        return BogusVerdict::SourceVip;
    if (first == 0)
        return BogusVerdict::SourceThisNetwork;
    if (first == 127)
        return BogusVerdict::SourceLoopback;
    if (first < 240)
        return BogusVerdict::SourceMulticast;
    return srcIp == 0xFFFFFFFFu ? BogusVerdict::SourceBroadcast : BogusVerdict::SourceReserved;
}

// TCP flag bits as in the header's low byte.
enum TcpFlag : std::uint8_t {
    kTcpFin = 0x01,
    kTcpSyn = 0x02,
    kTcpRst = 0x04,
    kTcpPsh = 0x08,
    kTcpAck = 0x10,
};

constexpr std::size_t kEthernetHeaderBytes = 14;
constexpr std::size_t kVlanTagBytes = 4;
constexpr std::size_t kIpv4HeaderBytes = 20;
constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeArp = 0x0806;
constexpr std::uint16_t kEtherTypeVlan = 0x8100;

// A parsed frame. Offsets are from the first byte of the frame; the bytes stay the caller's.
struct FrameView {
    const std::uint8_t *data = nullptr;
    std::uint32_t size = 0;        // bytes captured
    std::uint16_t l3Offset = 0;    // 14, or 18 with an 802.1Q tag
    std::uint16_t l4Offset = 0;    // l3Offset + 20
    std::uint16_t ipTotalLength = 0;
    std::uint16_t vlanId = 0;      // 0 when untagged
    bool hasVlan = false;
    std::uint8_t tcpFlags = 0;     // 0 for UDP and ICMP
    // Client -> VIP direction. TCP/UDP: as seen on the wire. A routable ICMP error: the quoted
    // packet went VIP:port -> client:port, so this is its reverse (client -> VIP), the key its
    // flow has in the table; the ICMP message's own addresses stay in the bytes.
    FlowKey key;

    bool isTcp() const noexcept { return key.proto == kIpProtoTcp; }
    // A connection opener: SYN without ACK (a SYN+ACK never travels client -> VIP).
    bool isSyn() const noexcept { return isTcp() && (tcpFlags & (kTcpSyn | kTcpAck)) == kTcpSyn; }
};

struct ParseResult {
    ParseVerdict verdict = ParseVerdict::TruncatedEthernet;
    IcmpVerdict icmp = IcmpVerdict::Routable; // meaningful only when verdict == Icmp
    // Valid when verdict == Ok, or verdict == Icmp and icmp == Routable (then l4Offset is the
    // ICMP header's offset and key the quoted packet's flow, see FrameView::key).
    FrameView view;
};

// Pure and total: any byte sequence, any length (including empty) gives a verdict.
ParseResult parseFrame(std::span<const std::uint8_t> frame) noexcept;

inline std::uint16_t loadBe16(const std::uint8_t *p) noexcept
{
    return std::uint16_t((std::uint16_t(p[0]) << 8) | p[1]);
}
inline std::uint32_t loadBe32(const std::uint8_t *p) noexcept
{
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
inline void storeBe16(std::uint8_t *p, std::uint16_t v) noexcept
{
    p[0] = std::uint8_t(v >> 8);
    p[1] = std::uint8_t(v);
}
inline void storeBe32(std::uint8_t *p, std::uint32_t v) noexcept
{
    p[0] = std::uint8_t(v >> 24);
    p[1] = std::uint8_t(v >> 16);
    p[2] = std::uint8_t(v >> 8);
    p[3] = std::uint8_t(v);
}

} // namespace sasha
