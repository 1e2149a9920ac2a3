#pragma once
// The MAC each client's frames came from (the client itself, or the router in front of it), for
// the destination MAC of L4/3 replies (docs/dispatcher.md "NAT mode"). Learned from every client
// frame of a NAT service, so a new dispatcher knows a client's next hop from the client's first
// frame after the takeover: nothing here needs to survive the dispatcher.
//
// Direct-mapped by a hash of the client's address: a collision overwrites the older entry (its
// client's next frame writes it back). Fixed size, allocated at construction; learn() and find()
// allocate nothing and write only when the entry changes. Fast-path thread only.

#include "fastpath/flowkey.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sasha {

class NextHopTable {
public:
    // entries is rounded up to a power of two (at least 1).
    explicit NextHopTable(std::size_t entries)
    {
        std::size_t n = 1;
        while (n < entries)
            n <<= 1;
        m_entries.resize(n);
        m_mask = n - 1;
    }

    void learn(std::uint32_t client, const std::uint8_t *mac) noexcept
    {
        Entry &e = m_entries[index(client)];
        if (e.client == client && e.valid && std::equal(e.mac.begin(), e.mac.end(), mac))
            return;
        e.client = client;
        e.valid = true;
        std::copy(mac, mac + 6, e.mac.begin());
    }
    // nullptr when the client's next hop is not known (or was overwritten).
    const MacAddress *find(std::uint32_t client) const noexcept
    {
        const Entry &e = m_entries[index(client)];
        return e.valid && e.client == client ? &e.mac : nullptr;
    }

private:
    struct Entry {
        std::uint32_t client = 0;
        MacAddress mac{};
        bool valid = false;
    };
    std::size_t index(std::uint32_t client) const noexcept
    {
        return std::size_t((client * 0x9E3779B1u) >> 8) & m_mask;
    }
    std::vector<Entry> m_entries;
    std::size_t m_mask = 0;
};

} // namespace sasha
