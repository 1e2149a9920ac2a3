#pragma once
// The Internet checksum (RFC 1071) and its incremental update (RFC 1624), for the L4/3 (NAT,
// RFC 2391) rewrite: changing the destination address must fix the IPv4 header checksum and
// the TCP/UDP checksum (whose pseudo-header covers the addresses) without summing the payload.
//
// Checksums here are the 16-bit values as they appear on the wire, read big-endian.

#include <cstddef>
#include <cstdint>
#include <span>

namespace sasha {

// One's-complement sum of the bytes (big-endian 16-bit words, an odd last byte padded with 0),
// folded to 16 bits, not complemented. Start from a previous partial sum to chain buffers.
std::uint32_t onesComplementSum(std::span<const std::uint8_t> bytes, std::uint32_t start = 0) noexcept;

// The checksum field value for the given bytes (complement of the folded sum).
std::uint16_t internetChecksum(std::span<const std::uint8_t> bytes) noexcept;

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word m changed to m'.
// Unlike eqn. 2 it never produces 0xFFFF from a correct header whose new sum is zero.
std::uint16_t checksumUpdate16(std::uint16_t checksum, std::uint16_t oldWord, std::uint16_t newWord) noexcept;

// The same for a 32-bit field (an IPv4 address): two 16-bit words.
std::uint16_t checksumUpdate32(std::uint16_t checksum, std::uint32_t oldValue, std::uint32_t newValue) noexcept;

} // namespace sasha
