#include "fastpath/persistencetable.h"

#include <algorithm>
#include <bit>

namespace sasha {

PersistenceTable::PersistenceTable(std::size_t capacity)
{
    if (capacity == 0)
        return;
    const std::size_t size = std::bit_ceil(std::max(capacity, kProbe));
    m_entries.resize(size);
    m_mask = size - 1;
}

std::size_t PersistenceTable::position(std::uint8_t service, std::uint32_t client) const noexcept
{
    // A multiplicative hash of both fields; the high bits are the best mixed.
    const std::uint64_t h = ((std::uint64_t(client) << 8) | service) * 0x9E3779B97F4A7C15ull;
    return std::size_t(h >> 32) & m_mask;
}

std::uint16_t PersistenceTable::find(std::uint8_t service, std::uint32_t client, FastTime now, FastTime timeout) const noexcept
{
    if (m_entries.empty())
        return kNoServerSlot;
    const std::size_t at = position(service, client);
    for (std::size_t i = 0; i < kProbe; ++i) {
        const Entry &e = m_entries[(at + i) & m_mask];
        if (e.used && e.client == client && e.service == service)
            return now.count() - e.lastUs < timeout.count() ? e.slot : kNoServerSlot;
    }
    return kNoServerSlot;
}

void PersistenceTable::remember(std::uint8_t service, std::uint32_t client, std::uint16_t slot, FastTime now) noexcept
{
    if (m_entries.empty())
        return;
    const std::size_t at = position(service, client);
    Entry *victim = nullptr;
    for (std::size_t i = 0; i < kProbe; ++i) {
        Entry &e = m_entries[(at + i) & m_mask];
        if (e.used && e.client == client && e.service == service) {
            victim = &e;
            break;
        }
        if (!e.used) {
            if (!victim || victim->used)
                victim = &e;
        } else if (!victim || (victim->used && e.lastUs < victim->lastUs)) {
            victim = &e;
        }
    }
    victim->used = true;
    victim->client = client;
    victim->service = service;
    victim->slot = slot;
    victim->lastUs = now.count();
}

} // namespace sasha
