#include "fastpath/frameparser.h"

namespace sasha {

const char *parseVerdictName(ParseVerdict v) noexcept
{
    switch (v) {
    case ParseVerdict::Ok: return "ok";
    case ParseVerdict::TruncatedEthernet: return "truncated-ethernet";
    case ParseVerdict::Arp: return "arp";
    case ParseVerdict::NotIpv4: return "not-ipv4";
    case ParseVerdict::TruncatedIpv4: return "truncated-ipv4";
    case ParseVerdict::BadIpVersion: return "bad-ip-version";
    case ParseVerdict::BadIhl: return "bad-ihl";
    case ParseVerdict::IpOptions: return "ip-options";
    case ParseVerdict::BadTotalLength: return "bad-total-length";
    case ParseVerdict::Fragment: return "fragment";
    case ParseVerdict::UnsupportedL4: return "unsupported-l4";
    case ParseVerdict::TruncatedL4: return "truncated-l4";
    case ParseVerdict::BadL4Header: return "bad-l4-header";
    case ParseVerdict::Icmp: return "icmp";
    }
    return "unknown";
}

// The names say "icmp-" so that they read alone in a flat list of drop reasons (sashactl).
const char *icmpVerdictName(IcmpVerdict v) noexcept
{
    switch (v) {
    case IcmpVerdict::Routable: return "icmp-routable";
    case IcmpVerdict::Truncated: return "icmp-truncated";
    case IcmpVerdict::UnhandledType: return "icmp-unhandled-type";
    case IcmpVerdict::EmbeddedTruncated: return "icmp-embedded-truncated";
    case IcmpVerdict::EmbeddedBadIhl: return "icmp-embedded-bad-ihl";
    case IcmpVerdict::EmbeddedNotIpv4: return "icmp-embedded-not-ipv4";
    case IcmpVerdict::EmbeddedFragment: return "icmp-embedded-fragment";
    case IcmpVerdict::EmbeddedNotTcpUdp: return "icmp-embedded-not-tcp-udp";
    case IcmpVerdict::EmbeddedNotFromVip: return "icmp-embedded-not-from-vip";
    case IcmpVerdict::UnknownFlow: return "icmp-unknown-flow";
    case IcmpVerdict::ServerGone: return "icmp-server-gone";
    case IcmpVerdict::NoServer: return "icmp-no-server";
    case IcmpVerdict::NatMode: return "icmp-nat-mode";
    }
    return "icmp-unknown";
}

const char *bogusVerdictName(BogusVerdict v) noexcept
{
    switch (v) {
    case BogusVerdict::None: return "none";
    case BogusVerdict::SourceVip: return "bogus-source-vip";
    case BogusVerdict::SourceThisNetwork: return "bogus-source-this-network";
    case BogusVerdict::SourceLoopback: return "bogus-source-loopback";
    case BogusVerdict::SourceMulticast: return "bogus-source-multicast";
    case BogusVerdict::SourceReserved: return "bogus-source-reserved";
    case BogusVerdict::SourceBroadcast: return "bogus-source-broadcast";
    case BogusVerdict::VlanTagged: return "vlan-tagged";
    }
    return "bogus-unknown";
}

namespace {

constexpr std::size_t kIcmpHeaderBytes = 8;
constexpr std::size_t kQuotedL4Bytes = 8; // RFC 792's minimum: enough for both ports
constexpr std::uint8_t kIcmpDestinationUnreachable = 3;
constexpr std::uint8_t kIcmpTimeExceeded = 11;

// The ICMP message at `icmp`, `icmpBytes` long (up to the outer IPv4 total length, already
// checked against the captured bytes). On Routable, `key` is the quoted packet's flow in the
// client -> VIP direction.
IcmpVerdict parseIcmpError(const std::uint8_t *icmp, std::size_t icmpBytes, FlowKey &key) noexcept
{
    if (icmpBytes < kIcmpHeaderBytes)
        return IcmpVerdict::Truncated;
    const std::uint8_t type = icmp[0];
    if (type != kIcmpDestinationUnreachable && type != kIcmpTimeExceeded)
        return IcmpVerdict::UnhandledType;
    const std::uint8_t *q = icmp + kIcmpHeaderBytes; // the quoted IPv4 packet
    const std::size_t quoted = icmpBytes - kIcmpHeaderBytes;
    if (quoted < kIpv4HeaderBytes)
        return IcmpVerdict::EmbeddedTruncated;
    if ((q[0] >> 4) != 4)
        return IcmpVerdict::EmbeddedNotIpv4;
    const std::size_t ihlBytes = std::size_t(q[0] & 0x0F) * 4;
    if (ihlBytes < kIpv4HeaderBytes || ihlBytes > quoted)
        return IcmpVerdict::EmbeddedBadIhl;
    // The quoted total length describes the original packet, not the quote: not checked.
    if ((loadBe16(q + 6) & 0x1FFF) != 0)
        return IcmpVerdict::EmbeddedFragment;
    const std::uint8_t proto = q[9];
    if (proto != kIpProtoTcp && proto != kIpProtoUdp)
        return IcmpVerdict::EmbeddedNotTcpUdp;
    if (quoted - ihlBytes < kQuotedL4Bytes)
        return IcmpVerdict::EmbeddedTruncated;
    const std::uint8_t *ports = q + ihlBytes;
    // Quoted: VIP:port -> client:port. The flow is keyed client -> VIP.
    key.srcIp = loadBe32(q + 16);
    key.dstIp = loadBe32(q + 12);
    key.srcPort = loadBe16(ports + 2);
    key.dstPort = loadBe16(ports);
    key.proto = proto;
    return IcmpVerdict::Routable;
}

// The whole result for an ICMP message whose Ethernet and IPv4 headers parseFrame() checked.
// Out of line and cold: ICMP is rare, and building its result here keeps parseFrame's own
// result in registers on the TCP/UDP path (taking its address cost ~10 instructions a frame).
[[gnu::cold, gnu::noinline]] ParseResult parseIcmp(const std::uint8_t *frame, std::size_t size, std::size_t l3,
                                                   std::size_t totalLength, bool hasVlan, std::uint16_t vlanId) noexcept
{
    ParseResult r;
    r.verdict = ParseVerdict::Icmp;
    const std::size_t l4 = l3 + kIpv4HeaderBytes;
    r.icmp = parseIcmpError(frame + l4, totalLength - kIpv4HeaderBytes, r.view.key);
    if (r.icmp == IcmpVerdict::Routable) {
        r.view.data = frame;
        r.view.size = std::uint32_t(size);
        r.view.l3Offset = std::uint16_t(l3);
        r.view.l4Offset = std::uint16_t(l4);
        r.view.ipTotalLength = std::uint16_t(totalLength);
        r.view.hasVlan = hasVlan;
        r.view.vlanId = vlanId;
    }
    return r;
}

} // namespace

ParseResult parseFrame(std::span<const std::uint8_t> frame) noexcept
{
    ParseResult r;
    const std::uint8_t *p = frame.data();
    const std::size_t n = frame.size();
    auto fail = [&r](ParseVerdict v) {
        r.verdict = v;
        return r;
    };

    if (n < kEthernetHeaderBytes)
        return fail(ParseVerdict::TruncatedEthernet);
    std::size_t l3 = kEthernetHeaderBytes;
    std::uint16_t etherType = loadBe16(p + 12);
    if (etherType == kEtherTypeVlan) {
        if (n < kEthernetHeaderBytes + kVlanTagBytes)
            return fail(ParseVerdict::TruncatedEthernet);
        r.view.hasVlan = true;
        r.view.vlanId = loadBe16(p + 14) & 0x0FFF;
        etherType = loadBe16(p + 16);
        l3 += kVlanTagBytes;
    }
    if (etherType == kEtherTypeArp)
        return fail(ParseVerdict::Arp);
    if (etherType != kEtherTypeIpv4)
        return fail(ParseVerdict::NotIpv4);

    if (n - l3 < kIpv4HeaderBytes)
        return fail(ParseVerdict::TruncatedIpv4);
    const std::uint8_t *ip = p + l3;
    if ((ip[0] >> 4) != 4)
        return fail(ParseVerdict::BadIpVersion);
    const std::size_t ihl = ip[0] & 0x0F;
    if (ihl < 5)
        return fail(ParseVerdict::BadIhl);
    const std::size_t totalLength = loadBe16(ip + 2);
    if (totalLength < ihl * 4 || totalLength > n - l3)
        return fail(ParseVerdict::BadTotalLength);
    if (ihl > 5)
        return fail(ParseVerdict::IpOptions);
    const std::uint16_t fragField = loadBe16(ip + 6);
    if ((fragField & 0x2000) != 0 || (fragField & 0x1FFF) != 0)
        return fail(ParseVerdict::Fragment);

    const std::uint8_t proto = ip[9];
    const std::size_t l4 = l3 + kIpv4HeaderBytes;
    const std::size_t l4Bytes = totalLength - kIpv4HeaderBytes; // bytes of IP payload
    const std::uint8_t *t = p + l4;
    if (proto == kIpProtoTcp) {
        if (l4Bytes < 20)
            return fail(ParseVerdict::TruncatedL4);
        const std::size_t dataOffset = std::size_t(t[12] >> 4) * 4;
        if (dataOffset < 20 || dataOffset > l4Bytes)
            return fail(ParseVerdict::BadL4Header);
        r.view.tcpFlags = t[13];
    } else if (proto == kIpProtoUdp) {
        if (l4Bytes < 8)
            return fail(ParseVerdict::TruncatedL4);
        const std::size_t udpLength = loadBe16(t + 4);
        if (udpLength < 8 || udpLength > l4Bytes)
            return fail(ParseVerdict::BadL4Header);
    } else if (proto == kIpProtoIcmp) {
        return parseIcmp(p, n, l3, totalLength, r.view.hasVlan, r.view.vlanId);
    } else {
        return fail(ParseVerdict::UnsupportedL4);
    }

    r.view.data = p;
    r.view.size = std::uint32_t(n);
    r.view.l3Offset = std::uint16_t(l3);
    r.view.l4Offset = std::uint16_t(l4);
    r.view.ipTotalLength = std::uint16_t(totalLength);
    r.view.key.srcIp = loadBe32(ip + 12);
    r.view.key.dstIp = loadBe32(ip + 16);
    r.view.key.srcPort = loadBe16(t);
    r.view.key.dstPort = loadBe16(t + 2);
    r.view.key.proto = proto;
    r.verdict = ParseVerdict::Ok;
    return r;
}

} // namespace sasha
