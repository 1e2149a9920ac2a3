#include "fastpath/rewriter.h"

#include "fastpath/checksum.h"

#include <cstring>

namespace sasha {

namespace {
constexpr std::size_t kIpChecksumOffset = 10;
constexpr std::size_t kIpSrcOffset = 12;
constexpr std::size_t kIpDstOffset = 16;
constexpr std::size_t kTcpChecksumOffset = 16;
constexpr std::size_t kUdpChecksumOffset = 6;
} // namespace

std::size_t Rewriter::rewriteToServer(const FrameView &frame, std::span<std::uint8_t> out, const ServerInfo &server,
                                      const MacAddress &dispatcherMac, ForwardMode mode) noexcept
{
    if (out.size() < frame.size)
        return 0;
    std::uint8_t *o = out.data();
    if (o != frame.data)
        std::memmove(o, frame.data, frame.size);
    std::memcpy(o, server.mac.data(), 6);
    std::memcpy(o + 6, dispatcherMac.data(), 6);
    if (mode == ForwardMode::Nat)
        rewriteAddress(frame, o, kIpDstOffset, server.ipv4);
    return frame.size;
}

std::size_t Rewriter::rewriteNatReply(const FrameView &frame, std::span<std::uint8_t> out, std::uint32_t vip,
                                      const MacAddress &nextHop, const MacAddress &dispatcherMac) noexcept
{
    if (out.size() < frame.size)
        return 0;
    std::uint8_t *o = out.data();
    if (o != frame.data)
        std::memmove(o, frame.data, frame.size);
    std::memcpy(o, nextHop.data(), 6);
    std::memcpy(o + 6, dispatcherMac.data(), 6);
    rewriteAddress(frame, o, kIpSrcOffset, vip);
    return frame.size;
}

std::size_t Rewriter::rewriteNatIcmp(const FrameView &frame, std::span<std::uint8_t> out, std::size_t outerField,
                                     std::uint32_t outerAddress, std::size_t quotedField, std::uint32_t quotedAddress,
                                     const MacAddress &dstMac, const MacAddress &srcMac) noexcept
{
    if (out.size() < frame.size)
        return 0;
    std::uint8_t *o = out.data();
    if (o != frame.data)
        std::memmove(o, frame.data, frame.size);
    std::memcpy(o, dstMac.data(), 6);
    std::memcpy(o + 6, srcMac.data(), 6);
    std::uint8_t *ip = o + frame.l3Offset;
    const std::uint32_t oldOuter = loadBe32(ip + outerField);
    storeBe32(ip + outerField, outerAddress);
    storeBe16(ip + kIpChecksumOffset, checksumUpdate32(loadBe16(ip + kIpChecksumOffset), oldOuter, outerAddress));

    // The ICMP message: 8 bytes of header, then the quote (parseFrame checked its IHL and ports).
    std::uint8_t *icmp = o + frame.l4Offset;
    const std::size_t icmpBytes = std::size_t(frame.ipTotalLength) - (frame.l4Offset - frame.l3Offset);
    std::uint8_t *q = icmp + 8;
    const std::size_t quoted = icmpBytes - 8;
    const std::size_t ihl = std::size_t(q[0] & 0x0F) * 4;
    const std::uint32_t oldQuoted = loadBe32(q + quotedField);
    storeBe32(q + quotedField, quotedAddress);
    storeBe16(q + kIpChecksumOffset, 0);
    storeBe16(q + kIpChecksumOffset, internetChecksum({q, ihl}));
    // The quoted transport checksum covers the address too (pseudo-header); fixed when quoted.
    // A quote of the first 8 bytes holds UDP's but not TCP's.
    const std::size_t l4Quoted = quoted - ihl;
    std::uint8_t *ql4 = q + ihl;
    if (q[9] == kIpProtoTcp && l4Quoted >= kTcpChecksumOffset + 2) {
        storeBe16(ql4 + kTcpChecksumOffset, checksumUpdate32(loadBe16(ql4 + kTcpChecksumOffset), oldQuoted, quotedAddress));
    } else if (q[9] == kIpProtoUdp && l4Quoted >= kUdpChecksumOffset + 2 && loadBe16(ql4 + kUdpChecksumOffset) != 0) {
        const std::uint16_t updated = checksumUpdate32(loadBe16(ql4 + kUdpChecksumOffset), oldQuoted, quotedAddress);
        storeBe16(ql4 + kUdpChecksumOffset, updated == 0 ? 0xFFFF : updated);
    }
    storeBe16(icmp + 2, 0);
    storeBe16(icmp + 2, internetChecksum({icmp, icmpBytes}));
    return frame.size;
}

void Rewriter::rewriteReplyToClient(const FrameView &frame, std::span<std::uint8_t> bytes, std::uint32_t vip) noexcept
{
    if (bytes.size() < frame.size)
        return;
    rewriteAddress(frame, bytes.data(), kIpSrcOffset, vip);
}

void Rewriter::rewriteAddress(const FrameView &frame, std::uint8_t *bytes, std::size_t ipFieldOffset,
                              std::uint32_t newAddress) noexcept
{
    std::uint8_t *ip = bytes + frame.l3Offset;
    const std::uint32_t oldAddress = loadBe32(ip + ipFieldOffset);
    if (oldAddress == newAddress)
        return;
    storeBe32(ip + ipFieldOffset, newAddress);
    storeBe16(ip + kIpChecksumOffset, checksumUpdate32(loadBe16(ip + kIpChecksumOffset), oldAddress, newAddress));
    std::uint8_t *l4 = bytes + frame.l4Offset;
    if (frame.key.proto == kIpProtoTcp) {
        storeBe16(l4 + kTcpChecksumOffset, checksumUpdate32(loadBe16(l4 + kTcpChecksumOffset), oldAddress, newAddress));
    } else if (frame.key.proto == kIpProtoUdp) {
        // A zero UDP checksum means "none" (RFC 768) and stays zero; a computed zero is sent
        // as 0xFFFF.
        const std::uint16_t old = loadBe16(l4 + kUdpChecksumOffset);
        if (old != 0) {
            const std::uint16_t updated = checksumUpdate32(old, oldAddress, newAddress);
            storeBe16(l4 + kUdpChecksumOffset, updated == 0 ? 0xFFFF : updated);
        }
    }
}

} // namespace sasha
