#pragma once
// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
// Load Balancer", NSDI 2016, §3.4), with weights. Pure: the same set of (id, weight) gives the
// same table in every process on every node, whatever order the servers are listed in, so a new
// dispatcher sends packets of flows it has no state for to the server the old one chose.
//
// Built by the control plane (allocates); looked up by the fast path (does not).

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sasha {

// A prime >= 100 x the largest cluster we plan for (the paper's rule of thumb: M >> N keeps
// every server's share within ~1 % of its weight).
constexpr std::uint32_t kMaglevTableSize = 65537;
constexpr std::uint16_t kNoServerSlot = 0xFFFF;

struct MaglevBackend {
    std::uint32_t id = 0;     // stable identity; its hash picks the permutation
    std::uint16_t slot = 0;   // what lookups return (the fast path's server slot)
    std::uint32_t weight = 1; // relative; 0 leaves the server out
};

class MaglevTable {
public:
    MaglevTable() = default; // empty: every lookup gives kNoServerSlot
    // Populates the lookup table (paper's Pseudocode 1, weighted as in Katran's "V2": each
    // round a backend accumulates its weight and claims one preferred entry per max-weight
    // reached). Backends are sorted by id first, so listing order does not matter.
    // tableSize must be prime.
    explicit MaglevTable(std::span<const MaglevBackend> backends, std::uint32_t tableSize = kMaglevTableSize);

    std::uint16_t lookup(std::uint64_t hash) const noexcept
    {
        return m_entries.empty() ? kNoServerSlot : m_entries[hash % m_entries.size()];
    }
    bool empty() const noexcept { return m_entries.empty(); }
    std::size_t size() const noexcept { return m_entries.size(); }
    std::span<const std::uint16_t> entries() const noexcept { return m_entries; }

private:
    std::vector<std::uint16_t> m_entries; // entry -> server slot
};

} // namespace sasha
