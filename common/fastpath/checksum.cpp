#include "fastpath/checksum.h"

namespace sasha {

namespace {
std::uint32_t fold(std::uint32_t sum) noexcept
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return sum;
}
} // namespace

std::uint32_t onesComplementSum(std::span<const std::uint8_t> bytes, std::uint32_t start) noexcept
{
    std::uint64_t sum = start;
    std::size_t i = 0;
    for (; i + 1 < bytes.size(); i += 2)
        sum += (std::uint32_t(bytes[i]) << 8) | bytes[i + 1];
    if (i < bytes.size())
        sum += std::uint32_t(bytes[i]) << 8;
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return std::uint32_t(sum);
}

std::uint16_t internetChecksum(std::span<const std::uint8_t> bytes) noexcept
{
    return std::uint16_t(~onesComplementSum(bytes) & 0xFFFF);
}

std::uint16_t checksumUpdate16(std::uint16_t checksum, std::uint16_t oldWord, std::uint16_t newWord) noexcept
{
    const std::uint32_t sum = std::uint32_t(std::uint16_t(~checksum)) + std::uint16_t(~oldWord) + newWord;
    return std::uint16_t(~fold(sum) & 0xFFFF);
}

std::uint16_t checksumUpdate32(std::uint16_t checksum, std::uint32_t oldValue, std::uint32_t newValue) noexcept
{
    const std::uint32_t sum = std::uint32_t(std::uint16_t(~checksum)) + std::uint16_t(~(oldValue >> 16))
        + std::uint16_t(~oldValue) + (newValue >> 16) + (newValue & 0xFFFF);
    return std::uint16_t(~fold(sum) & 0xFFFF);
}

} // namespace sasha
