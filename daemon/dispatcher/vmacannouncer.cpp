#include "vmacannouncer.h"

#include <libnet.h>

#include <algorithm>

namespace sasha {

VmacAnnouncer::VmacAnnouncer(const MacAddress &vmac, std::uint32_t vip, std::chrono::milliseconds interval,
                             const MacAddress &announcer)
    : VmacAnnouncer(vmac, std::vector<std::uint32_t>{vip}, interval, announcer)
{
}

VmacAnnouncer::VmacAnnouncer(const MacAddress &vmac, const std::vector<std::uint32_t> &vips,
                             std::chrono::milliseconds interval, const MacAddress &announcer)
    : m_interval(interval)
{
    for (const std::uint32_t vip : vips) {
        m_frames.push_back(buildGratuitousArp(vmac, vip, m_error, announcer));
        if (m_frames.back().empty()) {
            m_frames.clear();
            break;
        }
    }
    if (m_frames.empty())
        m_frames.emplace_back(); // frame() stays valid; valid() is false
}

std::optional<MacAddress> VmacAnnouncer::announcerOf(std::span<const std::uint8_t> f, const MacAddress &vmac) noexcept
{
    // Ethernet 14 + ARP 28: type 0x0806 at 12, ARP op at 20, sender MAC at 22, target MAC at 32.
    if (f.size() < 42 || f[12] != 0x08 || f[13] != 0x06)
        return std::nullopt;
    if (!std::equal(vmac.begin(), vmac.end(), f.begin() + 6) || !std::equal(vmac.begin(), vmac.end(), f.begin() + 22))
        return std::nullopt;
    // Only the gratuitous form: a request whose sender and target IP are equal. A dispatcher's
    // ARP reply (arpresponder.h) also comes from the VMAC, unicast to whoever asked; in L4/3 the
    // servers ask for the gateway, and its target MAC (the asking server's) is no announcer.
    if (f[20] != 0x00 || f[21] != 0x01 || !std::equal(f.begin() + 28, f.begin() + 32, f.begin() + 38))
        return std::nullopt;
    MacAddress announcer{};
    std::copy_n(f.begin() + 32, 6, announcer.begin());
    return announcer;
}

std::size_t VmacAnnouncer::appendAnswerer(std::span<std::uint8_t> out, std::size_t length, const MacAddress &announcer) noexcept
{
    if (length != 42 || out.size() < kAnsweredBytes)
        return length;
    std::copy(kAnswerMagic.begin(), kAnswerMagic.end(), out.begin() + 42);
    std::copy(announcer.begin(), announcer.end(), out.begin() + 46);
    std::fill(out.begin() + 52, out.begin() + std::ptrdiff_t(kAnsweredBytes), std::uint8_t(0));
    return kAnsweredBytes;
}

std::optional<MacAddress> VmacAnnouncer::answererOf(std::span<const std::uint8_t> f, const MacAddress &vmac) noexcept
{
    // An ARP reply (op 2) whose Ethernet and ARP sender are the VMAC, with the trailer.
    if (f.size() < 52 || f[12] != 0x08 || f[13] != 0x06 || f[20] != 0x00 || f[21] != 0x02)
        return std::nullopt;
    if (!std::equal(vmac.begin(), vmac.end(), f.begin() + 6) || !std::equal(vmac.begin(), vmac.end(), f.begin() + 22)
        || !std::equal(kAnswerMagic.begin(), kAnswerMagic.end(), f.begin() + 42))
        return std::nullopt;
    MacAddress announcer{};
    std::copy_n(f.begin() + 46, 6, announcer.begin());
    return announcer;
}

MacAddress VmacAnnouncer::announcer() const noexcept
{
    MacAddress a{};
    const std::uint64_t v = m_announcer.load(std::memory_order_relaxed);
    if (v == 0) { // as built
        if (!m_frames.empty() && m_frames.front().size() >= 38)
            std::copy_n(m_frames.front().begin() + 32, 6, a.begin());
        return a;
    }
    for (int i = 0; i < 6; ++i)
        a[std::size_t(i)] = std::uint8_t(v >> (8 * (5 - i)));
    return a;
}

std::vector<std::uint8_t> VmacAnnouncer::buildGratuitousArp(const MacAddress &vmac, std::uint32_t vip,
                                                            std::string &error, const MacAddress &announcer)
{
    char errbuf[LIBNET_ERRBUF_SIZE] = {};
    libnet_t *l = libnet_init(LIBNET_NONE, nullptr, errbuf);
    if (!l) {
        error = std::string("libnet_init: ") + errbuf;
        return {};
    }
    std::vector<std::uint8_t> frame;
    const std::uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    // libnet takes protocol addresses as raw bytes in network order.
    const std::uint8_t vipBytes[4] = {std::uint8_t(vip >> 24), std::uint8_t(vip >> 16), std::uint8_t(vip >> 8),
                                      std::uint8_t(vip)};
    // libnet 1.1.6 assembles a whole frame only in its "advanced" injection modes, which open a
    // link socket (and need CAP_NET_RAW). Without injection (LIBNET_NONE) each protocol block
    // is still built in wire order: Ethernet header then ARP, concatenated here as
    // libnet_adv_cull_packet would (neither carries a checksum to fill in).
    const libnet_ptag_t arp = libnet_build_arp(ARPHRD_ETHER, ETHERTYPE_IP, 6, 4, ARPOP_REQUEST, vmac.data(), vipBytes,
                                               announcer.data(), vipBytes, nullptr, 0, l, 0);
    const libnet_ptag_t ethernet =
        arp == -1 ? -1 : libnet_build_ethernet(broadcast, vmac.data(), ETHERTYPE_ARP, nullptr, 0, l, 0);
    if (arp == -1 || ethernet == -1) {
        error = std::string("building the gratuitous ARP: ") + libnet_geterror(l);
    } else {
        for (const libnet_ptag_t tag : {ethernet, arp}) {
            const std::uint8_t *bytes = libnet_getpbuf(l, tag);
            frame.insert(frame.end(), bytes, bytes + libnet_getpbuf_size(l, tag));
        }
    }
    libnet_destroy(l);
    return frame;
}

bool VmacAnnouncer::tick(PacketSink &sink, std::chrono::microseconds now) noexcept
{
    if (!valid())
        return false;
    const bool periodic = m_interval.count() > 0 && now - m_last >= m_interval;
    if (!m_due && !periodic)
        return false;
    const std::uint64_t who = m_announcer.load(std::memory_order_relaxed);
    for (std::vector<std::uint8_t> &frame : m_frames) {
        if (who != 0 && frame.size() >= 38) {
            for (int i = 0; i < 6; ++i)
                frame[std::size_t(32 + i)] = std::uint8_t(who >> (8 * (5 - i)));
        }
        if (!sink.enqueue(frame))
            return false; // no room: all are tried again at the next tick
    }
    m_due = false;
    m_last = now;
    ++m_sent;
    return true;
}

} // namespace sasha
