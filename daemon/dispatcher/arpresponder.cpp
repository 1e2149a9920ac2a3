#include "arpresponder.h"

#include <libnet.h>

#include <algorithm>

namespace sasha {

namespace {
// Offsets in an Ethernet + ARP frame (RFC 826 over Ethernet II).
constexpr std::size_t kEthDst = 0, kEthSrc = 6, kEthType = 12;
constexpr std::size_t kArpHtype = 14, kArpPtype = 16, kArpHlen = 18, kArpPlen = 19, kArpOp = 20;
constexpr std::size_t kArpSha = 22, kArpSpa = 28, kArpTha = 32, kArpTpa = 38;

std::uint16_t be16(std::span<const std::uint8_t> f, std::size_t at) noexcept
{
    return std::uint16_t((f[at] << 8) | f[at + 1]);
}
std::uint32_t be32(std::span<const std::uint8_t> f, std::size_t at) noexcept
{
    return (std::uint32_t(f[at]) << 24) | (std::uint32_t(f[at + 1]) << 16) | (std::uint32_t(f[at + 2]) << 8) | f[at + 3];
}
bool multicast(std::span<const std::uint8_t> f, std::size_t at) noexcept
{
    return (f[at] & 0x01) != 0; // the group bit; broadcast included
}
bool zero(std::span<const std::uint8_t> f, std::size_t at) noexcept
{
    return std::all_of(f.begin() + std::ptrdiff_t(at), f.begin() + std::ptrdiff_t(at + 6),
                       [](std::uint8_t b) { return b == 0; });
}
} // namespace

ArpResponder::ArpResponder(const MacAddress &vmac, const std::vector<std::uint32_t> &vips)
    : ArpResponder(vmac, vips.empty() ? 0 : vips.front())
{
    if (!vips.empty())
        m_vips = vips;
}

ArpResponder::Verdict ArpResponder::classify(std::span<const std::uint8_t> frame, Asker &asker) const noexcept
{
    Verdict v = classify(frame, m_vip, asker);
    asker.vip = m_vip;
    // Another of the VIPs: the same checks, against it (rare: only ARP frames get here).
    for (std::size_t i = 1; v == Verdict::Ignored && i < m_vips.size(); ++i) {
        v = classify(frame, m_vips[i], asker);
        asker.vip = m_vips[i];
    }
    return v;
}

ArpResponder::ArpResponder(const MacAddress &vmac, std::uint32_t vip) : m_vip(vip), m_vips{vip}
{
    char errbuf[LIBNET_ERRBUF_SIZE] = {};
    libnet_t *l = libnet_init(LIBNET_NONE, nullptr, errbuf);
    if (!l) {
        m_error = std::string("libnet_init: ") + errbuf;
        return;
    }
    const std::uint8_t none[6] = {};
    const std::uint8_t noIp[4] = {};
    const std::uint8_t vipBytes[4] = {std::uint8_t(vip >> 24), std::uint8_t(vip >> 16), std::uint8_t(vip >> 8),
                                      std::uint8_t(vip)};
    // As in VmacAnnouncer::buildGratuitousArp: without injection (LIBNET_NONE) libnet builds each
    // block in wire order, Ethernet then ARP, concatenated here (neither has a checksum).
    const libnet_ptag_t arp =
        libnet_build_arp(ARPHRD_ETHER, ETHERTYPE_IP, 6, 4, ARPOP_REPLY, vmac.data(), vipBytes, none, noIp, nullptr, 0, l, 0);
    const libnet_ptag_t ethernet = arp == -1 ? -1 : libnet_build_ethernet(none, vmac.data(), ETHERTYPE_ARP, nullptr, 0, l, 0);
    if (arp == -1 || ethernet == -1) {
        m_error = std::string("building the ARP reply: ") + libnet_geterror(l);
    } else {
        std::size_t at = 0;
        for (const libnet_ptag_t tag : {ethernet, arp}) {
            const std::uint8_t *bytes = libnet_getpbuf(l, tag);
            const std::size_t size = libnet_getpbuf_size(l, tag);
            if (at + size > m_template.size())
                break;
            std::copy_n(bytes, size, m_template.begin() + std::ptrdiff_t(at));
            at += size;
        }
        m_valid = at == kReplyBytes;
        if (!m_valid)
            m_error = "building the ARP reply: libnet made " + std::to_string(at) + " bytes, not 42";
    }
    libnet_destroy(l);
}

std::vector<std::uint8_t> ArpResponder::buildQuestion(const MacAddress &asker, std::uint32_t vip, std::string &error)
{
    char errbuf[LIBNET_ERRBUF_SIZE] = {};
    libnet_t *l = libnet_init(LIBNET_NONE, nullptr, errbuf);
    if (!l) {
        error = std::string("libnet_init: ") + errbuf;
        return {};
    }
    const std::uint8_t none[6] = {};
    const std::uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const std::uint8_t noIp[4] = {};
    const std::uint8_t vipBytes[4] = {std::uint8_t(vip >> 24), std::uint8_t(vip >> 16), std::uint8_t(vip >> 8),
                                      std::uint8_t(vip)};
    std::vector<std::uint8_t> frame;
    const libnet_ptag_t arp = libnet_build_arp(ARPHRD_ETHER, ETHERTYPE_IP, 6, 4, ARPOP_REQUEST, asker.data(), noIp,
                                               none, vipBytes, nullptr, 0, l, 0);
    const libnet_ptag_t ethernet =
        arp == -1 ? -1 : libnet_build_ethernet(broadcast, asker.data(), ETHERTYPE_ARP, nullptr, 0, l, 0);
    if (arp == -1 || ethernet == -1) {
        error = std::string("building the ARP question: ") + libnet_geterror(l);
    } else {
        for (const libnet_ptag_t tag : {ethernet, arp}) {
            const std::uint8_t *bytes = libnet_getpbuf(l, tag);
            frame.insert(frame.end(), bytes, bytes + libnet_getpbuf_size(l, tag));
        }
        if (frame.size() != kReplyBytes) {
            error = "building the ARP question: libnet made " + std::to_string(frame.size()) + " bytes, not 42";
            frame.clear();
        }
    }
    libnet_destroy(l);
    return frame;
}

ArpResponder::Verdict ArpResponder::classify(std::span<const std::uint8_t> f, std::uint32_t vip, Asker &asker) noexcept
{
    if (f.size() < kEthType + 2 || be16(f, kEthType) != 0x0806)
        return Verdict::NotArp;
    if (f.size() < kReplyBytes || be16(f, kArpHtype) != 1 || be16(f, kArpPtype) != 0x0800 || f[kArpHlen] != 6 ||
        f[kArpPlen] != 4 || multicast(f, kEthSrc) || multicast(f, kArpSha) || zero(f, kArpSha))
        return Verdict::Malformed;
    const std::uint32_t spa = be32(f, kArpSpa), tpa = be32(f, kArpTpa);
    if (be16(f, kArpOp) != 1 || tpa != vip || spa == tpa)
        return Verdict::Ignored;
    std::copy_n(f.begin() + kArpSha, 6, asker.mac.begin());
    asker.ip = spa;
    return Verdict::RequestForVip;
}

std::size_t ArpResponder::writeReply(const Asker &asker, std::span<std::uint8_t> out) const noexcept
{
    if (!m_valid || out.size() < kReplyBytes)
        return 0;
    std::copy(m_template.begin(), m_template.end(), out.begin());
    std::copy(asker.mac.begin(), asker.mac.end(), out.begin() + kEthDst);
    std::copy(asker.mac.begin(), asker.mac.end(), out.begin() + kArpTha);
    for (std::size_t i = 0; i < 4; ++i)
        out[kArpTpa + i] = std::uint8_t(asker.ip >> (8 * (3 - i)));
    if (asker.vip != 0)
        for (std::size_t i = 0; i < 4; ++i)
            out[kArpSpa + i] = std::uint8_t(asker.vip >> (8 * (3 - i)));
    return kReplyBytes;
}

} // namespace sasha
