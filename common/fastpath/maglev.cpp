#include "fastpath/maglev.h"

#include "fastpath/flowkey.h"

#include <algorithm>

namespace sasha {

namespace {
// Two independent hashes of the backend's id give its permutation (offset, skip). Fixed seeds:
// every node must compute the same permutation.
constexpr std::uint64_t kOffsetSeed = 0x9e3779b97f4a7c15ULL;
constexpr std::uint64_t kSkipSeed = 0xc2b2ae3d27d4eb4fULL;
} // namespace

MaglevTable::MaglevTable(std::span<const MaglevBackend> backends, std::uint32_t tableSize)
{
    std::vector<MaglevBackend> live;
    live.reserve(backends.size());
    for (const MaglevBackend &b : backends) {
        if (b.weight > 0)
            live.push_back(b);
    }
    if (live.empty() || tableSize < 2)
        return;
    std::sort(live.begin(), live.end(), [](const MaglevBackend &a, const MaglevBackend &b) {
        return a.id != b.id ? a.id < b.id : a.slot < b.slot;
    });

    const std::size_t n = live.size();
    const std::uint32_t m = tableSize;
    std::vector<std::uint32_t> offset(n), skip(n), next(n, 0);
    std::vector<std::uint64_t> credit(n, 0);
    std::uint32_t maxWeight = 0;
    for (std::size_t i = 0; i < n; ++i) {
        offset[i] = std::uint32_t(mix64(live[i].id ^ kOffsetSeed) % m);
        skip[i] = std::uint32_t(mix64(live[i].id ^ kSkipSeed) % (m - 1)) + 1;
        maxWeight = std::max(maxWeight, live[i].weight);
    }

    m_entries.assign(m, kNoServerSlot);
    std::uint32_t filled = 0;
    // Each round the max-weight backend claims exactly one entry, so the loop ends after at
    // most m rounds; each claim walks the backend's permutation to its next free entry.
    while (filled < m) {
        for (std::size_t i = 0; i < n && filled < m; ++i) {
            credit[i] += live[i].weight;
            while (credit[i] >= maxWeight && filled < m) {
                credit[i] -= maxWeight;
                std::uint32_t c = std::uint32_t((offset[i] + std::uint64_t(next[i]) * skip[i]) % m);
                while (m_entries[c] != kNoServerSlot) {
                    ++next[i];
                    c = std::uint32_t((offset[i] + std::uint64_t(next[i]) * skip[i]) % m);
                }
                m_entries[c] = live[i].slot;
                ++next[i];
                ++filled;
            }
        }
    }
}

} // namespace sasha
