#pragma once
// Source-address affinity for services with persistence (ipvsadm -p; docs/fastpath.md
// "Persistence"): which server a client's last new flow to a service went to, and when. The
// fast path consults it before the scheduler for a new flow of a persistent service.
//
// Open addressing with a bounded probe (kProbe entries from the hash's position): an entry not
// found there is forgotten, which costs the client its affinity, never correctness (the
// scheduler picks again). remember() overwrites the same key, else the first free entry, else
// the oldest in the probe window. Fixed size, allocated at construction; thread: fast path only.

#include "fastpath/flowkey.h"
#include "fastpath/maglev.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sasha {

class PersistenceTable {
public:
    // capacity is rounded up to a power of two; 0 = no table (find() never hits).
    explicit PersistenceTable(std::size_t capacity);

    // The slot `client`'s last new flow to `service` went to, if that was less than `timeout`
    // before `now`; kNoServerSlot otherwise.
    std::uint16_t find(std::uint8_t service, std::uint32_t client, FastTime now, FastTime timeout) const noexcept;
    void remember(std::uint8_t service, std::uint32_t client, std::uint16_t slot, FastTime now) noexcept;
    std::size_t capacity() const noexcept { return m_entries.size(); }

    static constexpr std::size_t kProbe = 8;

private:
    struct Entry {
        std::int64_t lastUs = 0;    // FastTime of the client's last new flow
        std::uint32_t client = 0;   // host order
        std::uint16_t slot = 0;
        std::uint8_t service = 0;
        bool used = false;
    };
    std::size_t position(std::uint8_t service, std::uint32_t client) const noexcept;

    std::vector<Entry> m_entries;
    std::size_t m_mask = 0;
};

} // namespace sasha
