#pragma once
// Builds Ethernet/802.1Q/IPv4/TCP/UDP frames, and ICMP errors quoting such a packet, for the
// fast-path tests and the benchmark, with correct checksums unless told otherwise, and knobs to
// break each layer on purpose.
// Header-only, no Qt (the benchmark links only sasha_fastpath).

#include "fastpath/checksum.h"
#include "fastpath/flowkey.h"
#include "fastpath/frameparser.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace sasha::testframes {

constexpr MacAddress kVmac{0x02, 0x5a, 0x5a, 0x00, 0x00, 0x01};
constexpr MacAddress kClientMac{0x02, 0xc1, 0x00, 0x00, 0x00, 0x01};
constexpr MacAddress kDispatcherMac{0x02, 0xd1, 0x00, 0x00, 0x00, 0x01};
constexpr std::uint32_t ip4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d)
{
    return (std::uint32_t(a) << 24) | (std::uint32_t(b) << 16) | (std::uint32_t(c) << 8) | d;
}
constexpr std::uint32_t kVip = ip4(10, 0, 0, 100);
constexpr std::uint32_t kClientIp = ip4(10, 0, 1, 1);
constexpr MacAddress kRouterMac{0x02, 0xaa, 0x00, 0x00, 0x00, 0x01};
constexpr std::uint32_t kRouterIp = ip4(10, 0, 2, 254);

struct FrameSpec {
    MacAddress dstMac = kVmac;
    MacAddress srcMac = kClientMac;
    bool vlan = false;
    std::uint16_t vlanId = 42;
    std::uint16_t etherType = kEtherTypeIpv4;
    std::uint8_t ipVersion = 4;
    std::uint8_t ihl = 5;              // > 5 appends zeroed option words
    std::uint8_t proto = kIpProtoTcp;
    std::uint16_t fragField = 0x4000;  // DF
    std::uint32_t srcIp = kClientIp;
    std::uint32_t dstIp = kVip;
    std::uint16_t srcPort = 40000;
    std::uint16_t dstPort = 80;
    std::uint8_t tcpFlags = kTcpSyn;
    std::uint8_t tcpDataOffset = 5;
    std::size_t payload = 0;           // bytes of L4 payload (pattern filled)
    int totalLengthDelta = 0;          // added to the IPv4 total length field
    int udpLengthDelta = 0;            // added to the UDP length field
    std::size_t l4HeaderOverride = 0;  // if set: bytes of L4 header actually present
    std::size_t padTo = 0;             // Ethernet padding up to this many bytes
    std::size_t truncateTo = SIZE_MAX; // cut the finished frame
};

inline FlowKey keyOf(const FrameSpec &s)
{
    return {s.srcIp, s.dstIp, s.srcPort, s.dstPort, s.proto};
}

inline std::vector<std::uint8_t> buildFrame(const FrameSpec &s)
{
    std::vector<std::uint8_t> f;
    auto put16 = [&f](std::uint16_t v) {
        f.push_back(std::uint8_t(v >> 8));
        f.push_back(std::uint8_t(v));
    };
    auto put32 = [&](std::uint32_t v) {
        put16(std::uint16_t(v >> 16));
        put16(std::uint16_t(v));
    };
    f.insert(f.end(), s.dstMac.begin(), s.dstMac.end());
    f.insert(f.end(), s.srcMac.begin(), s.srcMac.end());
    if (s.vlan) {
        put16(kEtherTypeVlan);
        put16(s.vlanId & 0x0FFF);
    }
    put16(s.etherType);
    const std::size_t l3 = f.size();

    std::size_t l4Header = s.proto == kIpProtoTcp ? std::size_t(s.tcpDataOffset) * 4 : s.proto == kIpProtoUdp ? 8 : 8;
    if (s.proto == kIpProtoTcp && l4Header < 20)
        l4Header = 20; // the field lies, the header is still 20 bytes
    if (s.l4HeaderOverride)
        l4Header = s.l4HeaderOverride;
    const std::size_t ipHeader = std::size_t(s.ihl) * 4 < 20 ? 20 : std::size_t(s.ihl) * 4;
    const std::size_t totalLength = ipHeader + l4Header + s.payload;

    f.push_back(std::uint8_t((s.ipVersion << 4) | (s.ihl & 0x0F)));
    f.push_back(0);
    put16(std::uint16_t(int(totalLength) + s.totalLengthDelta));
    put16(0x1234);
    put16(s.fragField);
    f.push_back(64);
    f.push_back(s.proto);
    put16(0); // checksum, filled below
    put32(s.srcIp);
    put32(s.dstIp);
    f.resize(l3 + ipHeader, 0); // options, zeroed
    const std::uint16_t ipSum = internetChecksum({f.data() + l3, ipHeader});
    storeBe16(f.data() + l3 + 10, ipSum);

    const std::size_t l4 = f.size();
    f.resize(l4 + l4Header, 0);
    std::uint8_t *t = f.data() + l4;
    if (l4Header >= 4) {
        storeBe16(t, s.srcPort);
        storeBe16(t + 2, s.dstPort);
    }
    if (s.proto == kIpProtoTcp && l4Header >= 20) {
        storeBe32(t + 4, 1000);
        storeBe32(t + 8, (s.tcpFlags & kTcpAck) ? 2000 : 0);
        t[12] = std::uint8_t(s.tcpDataOffset << 4);
        t[13] = s.tcpFlags;
        storeBe16(t + 14, 65535);
    } else if (s.proto == kIpProtoUdp && l4Header >= 8) {
        storeBe16(t + 4, std::uint16_t(int(l4Header + s.payload) + s.udpLengthDelta));
    }
    for (std::size_t i = 0; i < s.payload; ++i)
        f.push_back(std::uint8_t('a' + i % 26));

    // TCP/UDP checksum over the pseudo-header and the segment.
    const std::size_t segment = f.size() - l4;
    const std::size_t sumOffset = s.proto == kIpProtoTcp ? 16 : 6;
    if ((s.proto == kIpProtoTcp || s.proto == kIpProtoUdp) && l4Header >= sumOffset + 2) {
        std::uint8_t pseudo[12];
        storeBe32(pseudo, s.srcIp);
        storeBe32(pseudo + 4, s.dstIp);
        pseudo[8] = 0;
        pseudo[9] = s.proto;
        storeBe16(pseudo + 10, std::uint16_t(segment));
        const std::uint32_t partial = onesComplementSum({pseudo, sizeof pseudo});
        std::uint16_t sum = std::uint16_t(~onesComplementSum({f.data() + l4, segment}, partial));
        if (s.proto == kIpProtoUdp && sum == 0)
            sum = 0xFFFF;
        storeBe16(f.data() + l4 + sumOffset, sum);
    }
    if (f.size() < s.padTo)
        f.resize(s.padTo, 0);
    if (f.size() > s.truncateTo)
        f.resize(s.truncateTo);
    return f;
}

// A server's reply that a router could not forward: VIP:80 -> client:40000, full-sized. Its flow
// is FrameSpec{}'s (client:40000 -> VIP:80).
inline FrameSpec serverReply()
{
    FrameSpec s;
    s.srcIp = kVip;
    s.dstIp = kClientIp;
    s.srcPort = 80;
    s.dstPort = 40000;
    s.tcpFlags = kTcpAck | kTcpPsh;
    s.payload = 1448;
    return s;
}

// An ICMP error from a router to the VIP quoting `quoted` (RFC 792: its IPv4 header and the
// first 8 bytes of its payload, unless told otherwise). Defaults: "fragmentation needed"
// (type 3 code 4) with a next-hop MTU (RFC 1191).
struct IcmpSpec {
    MacAddress dstMac = kVmac;
    MacAddress srcMac = kRouterMac;
    bool vlan = false;
    std::uint8_t ihl = 5;              // of the ICMP message's own header; > 5 appends zero options
    std::uint16_t fragField = 0;
    std::uint32_t srcIp = kRouterIp;
    std::uint32_t dstIp = kVip;
    std::uint8_t type = 3;
    std::uint8_t code = 4;
    std::uint16_t nextHopMtu = 1400;   // written for type 3 code 4 only
    FrameSpec quoted = serverReply();  // built without a VLAN tag, then quoted from its IPv4 header
    std::size_t quoteBytes = 0;        // bytes of the quoted packet: 0 = its header + 8, SIZE_MAX = all
    std::optional<std::uint8_t> quotedVersionIhl; // overrides the quote's first byte (after the checksum)
    std::size_t icmpBytes = SIZE_MAX;  // cut the ICMP message (header + quote); total length follows
    int totalLengthDelta = 0;
    std::size_t padTo = 0;
    std::size_t truncateTo = SIZE_MAX;
};

// The flow an ICMP error is about: the quoted packet's reverse (client -> VIP).
inline FlowKey flowKeyOf(const IcmpSpec &s)
{
    return {s.quoted.dstIp, s.quoted.srcIp, s.quoted.dstPort, s.quoted.srcPort, s.quoted.proto};
}

inline std::vector<std::uint8_t> buildIcmpFrame(const IcmpSpec &s)
{
    FrameSpec inner = s.quoted;
    inner.vlan = false;
    inner.padTo = 0;
    inner.truncateTo = SIZE_MAX;
    const std::vector<std::uint8_t> packet = buildFrame(inner);
    const std::size_t innerIp = std::size_t(inner.ihl) * 4 < 20 ? 20 : std::size_t(inner.ihl) * 4;
    const std::size_t available = packet.size() - kEthernetHeaderBytes;
    const std::size_t quote = std::min(available, s.quoteBytes == 0 ? innerIp + 8 : s.quoteBytes);

    std::vector<std::uint8_t> icmp(8, 0);
    icmp[0] = s.type;
    icmp[1] = s.code;
    if (s.type == 3 && s.code == 4)
        storeBe16(icmp.data() + 6, s.nextHopMtu);
    icmp.insert(icmp.end(), packet.begin() + kEthernetHeaderBytes, packet.begin() + kEthernetHeaderBytes + quote);
    if (s.quotedVersionIhl && icmp.size() > 8)
        icmp[8] = *s.quotedVersionIhl;
    if (icmp.size() > s.icmpBytes)
        icmp.resize(s.icmpBytes);
    if (icmp.size() >= 4)
        storeBe16(icmp.data() + 2, internetChecksum(icmp));

    std::vector<std::uint8_t> f;
    auto put16 = [&f](std::uint16_t v) {
        f.push_back(std::uint8_t(v >> 8));
        f.push_back(std::uint8_t(v));
    };
    f.insert(f.end(), s.dstMac.begin(), s.dstMac.end());
    f.insert(f.end(), s.srcMac.begin(), s.srcMac.end());
    if (s.vlan) {
        put16(kEtherTypeVlan);
        put16(42);
    }
    put16(kEtherTypeIpv4);
    const std::size_t l3 = f.size();
    const std::size_t ipHeader = std::size_t(s.ihl) * 4 < 20 ? 20 : std::size_t(s.ihl) * 4;
    f.resize(l3 + ipHeader, 0);
    std::uint8_t *ip = f.data() + l3;
    ip[0] = std::uint8_t(0x40 | (s.ihl & 0x0F));
    storeBe16(ip + 2, std::uint16_t(int(ipHeader + icmp.size()) + s.totalLengthDelta));
    storeBe16(ip + 4, 0x4321);
    storeBe16(ip + 6, s.fragField);
    ip[8] = 255;
    ip[9] = kIpProtoIcmp;
    storeBe32(ip + 12, s.srcIp);
    storeBe32(ip + 16, s.dstIp);
    storeBe16(ip + 10, internetChecksum({ip, ipHeader}));
    f.insert(f.end(), icmp.begin(), icmp.end());
    if (f.size() < s.padTo)
        f.resize(s.padTo, 0);
    if (f.size() > s.truncateTo)
        f.resize(s.truncateTo);
    return f;
}

// The same frame as the dispatcher should emit it in L4/2: new destination and source MACs.
inline std::vector<std::uint8_t> withMacs(std::vector<std::uint8_t> f, const MacAddress &dst, const MacAddress &src)
{
    std::copy(dst.begin(), dst.end(), f.begin());
    std::copy(src.begin(), src.end(), f.begin() + 6);
    return f;
}

// An Ethernet/IPv4 ARP frame (RFC 826), written byte by byte: what a router's request for an
// address looks like on the wire (broadcast, padded to the 60-byte minimum by the sender's NIC
// when padTo is 60), or a reply. Fields can be bent to make malformed frames.
struct ArpSpec {
    MacAddress ethDst{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    MacAddress ethSrc = kRouterMac;
    std::uint16_t etherType = 0x0806;
    std::uint16_t htype = 1;
    std::uint16_t ptype = 0x0800;
    std::uint8_t hlen = 6;
    std::uint8_t plen = 4;
    std::uint16_t op = 1; // 1 request, 2 reply
    MacAddress sha = kRouterMac;
    std::uint32_t spa = kRouterIp;
    MacAddress tha{};
    std::uint32_t tpa = kVip;
    std::size_t padTo = 60;
    std::size_t truncateTo = SIZE_MAX;
};

inline std::vector<std::uint8_t> buildArpFrame(const ArpSpec &s)
{
    std::vector<std::uint8_t> f;
    auto mac = [&](const MacAddress &m) { f.insert(f.end(), m.begin(), m.end()); };
    auto u16 = [&](std::uint16_t v) { f.push_back(std::uint8_t(v >> 8)); f.push_back(std::uint8_t(v)); };
    auto u32 = [&](std::uint32_t v) { u16(std::uint16_t(v >> 16)); u16(std::uint16_t(v)); };
    mac(s.ethDst);
    mac(s.ethSrc);
    u16(s.etherType);
    u16(s.htype);
    u16(s.ptype);
    f.push_back(s.hlen);
    f.push_back(s.plen);
    u16(s.op);
    mac(s.sha);
    u32(s.spa);
    mac(s.tha);
    u32(s.tpa);
    if (f.size() < s.padTo)
        f.resize(s.padTo, 0);
    if (f.size() > s.truncateTo)
        f.resize(s.truncateTo);
    return f;
}

} // namespace sasha::testframes
