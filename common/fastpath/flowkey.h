#pragma once
// The values every fast-path stage shares: a flow's 5-tuple, a MAC address, the fast path's
// notion of time, and the one hash every dispatcher uses. No Qt, no allocation.

#include <array>
#include <chrono>
#include <cstdint>

namespace sasha {

// Monotonic time as the caller sees it (µs since an arbitrary origin). The fast path never
// reads a clock: every call that needs time receives it.
using FastTime = std::chrono::microseconds;

using MacAddress = std::array<std::uint8_t, 6>;

constexpr std::uint8_t kIpProtoTcp = 6;
constexpr std::uint8_t kIpProtoUdp = 17;
constexpr std::uint8_t kIpProtoIcmp = 1;

// A flow's 5-tuple in the client -> VIP direction, host byte order.
struct FlowKey {
    std::uint32_t srcIp = 0;
    std::uint32_t dstIp = 0;
    std::uint16_t srcPort = 0;
    std::uint16_t dstPort = 0;
    std::uint8_t proto = 0;
    friend bool operator==(const FlowKey &, const FlowKey &) = default;
};

// splitmix64's finaliser: every input bit affects every output bit.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

// The flow hash. It must be the same on every node and in every build (a new dispatcher's
// Maglev lookups must agree with the old one's), so it is a fixed function with a fixed seed,
// never std::hash.
constexpr std::uint64_t flowHash(const FlowKey &k, std::uint64_t seed = 0x5a5aa0f10f1a5ULL) noexcept
{
    const std::uint64_t a = (std::uint64_t(k.srcIp) << 32) | k.dstIp;
    const std::uint64_t b = (std::uint64_t(k.srcPort) << 48) | (std::uint64_t(k.dstPort) << 32)
        | (std::uint64_t(k.proto) << 24);
    return mix64(a ^ mix64(b ^ seed));
}

} // namespace sasha
