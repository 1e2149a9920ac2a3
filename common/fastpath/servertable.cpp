#include "fastpath/servertable.h"

#include <algorithm>

namespace sasha {

namespace {

// The schedule for the servers (sorted by id) with weight weightOf(i) each.
template <typename WeightOf>
ServerSchedule buildSchedule(const std::vector<ServerInfo> &servers, const DispatchPolicy &policy, WeightOf weightOf)
{
    std::vector<MaglevBackend> all;
    std::vector<MaglevBackend> eligible;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        const ServerInfo &s = servers[i];
        const std::uint32_t weight = weightOf(i);
        if (!s.healthy || weight == 0)
            continue;
        all.push_back({s.id, s.slot, weight});
        if (!s.isSelf || policy.selfTakesNewFlows)
            eligible.push_back({s.id, s.slot, weight});
    }
    // The last node alive serves alone (DESIGN: "when it is the last node alive it serves alone").
    if (eligible.empty())
        eligible = all;
    ServerSchedule out;
    for (const MaglevBackend &b : eligible) {
        out.eligible.push_back(b.slot);
        out.weights.push_back(b.weight);
    }
    out.newFlow = MaglevTable(eligible);
    out.continuity = MaglevTable(all);
    return out;
}

} // namespace

std::unique_ptr<const ServerTable> ServerTable::build(std::vector<ServerInfo> servers, const DispatchPolicy &policy,
                                                      std::uint64_t generation,
                                                      std::span<const ServiceWeight> serviceWeights)
{
    std::unique_ptr<ServerTable> t(new ServerTable);
    t->m_generation = generation;
    t->m_policy = policy;
    t->m_indexBySlot.fill(-1);
    t->m_scheduleOf.fill(-1);
    std::sort(servers.begin(), servers.end(),
              [](const ServerInfo &a, const ServerInfo &b) { return a.id < b.id; });
    for (std::size_t i = 0; i < servers.size(); ++i) {
        const std::uint16_t slot = servers[i].slot;
        if (slot >= kMaxServers || t->m_indexBySlot[slot] >= 0)
            return nullptr;
        t->m_indexBySlot[slot] = std::int16_t(i);
    }
    for (const ServiceWeight &w : serviceWeights) {
        if (w.service >= kMaxServices)
            return nullptr;
    }
    t->m_servers = std::move(servers);
    for (std::size_t i = 0; i < t->m_servers.size(); ++i)
        t->m_byAddress.emplace_back(t->m_servers[i].ipv4, std::uint16_t(i));
    std::sort(t->m_byAddress.begin(), t->m_byAddress.end());

    const std::vector<ServerInfo> &list = t->m_servers;
    t->m_cluster = buildSchedule(list, policy, [&list](std::size_t i) { return list[i].weight; });

    // Services with weights of their own: each server's weight in the service, in list order.
    std::vector<std::vector<std::uint32_t>> ownWeights; // parallel to m_own
    for (std::size_t service = 0; service < kMaxServices; ++service) {
        if (std::none_of(serviceWeights.begin(), serviceWeights.end(),
                         [service](const ServiceWeight &w) { return w.service == service; }))
            continue;
        std::vector<std::uint32_t> weights;
        bool differs = false;
        for (const ServerInfo &s : list) {
            std::uint32_t weight = s.weight;
            for (const ServiceWeight &w : serviceWeights) {
                if (w.service == service && w.id == s.id)
                    weight = w.weight;
            }
            // An unhealthy server is in no schedule: its weights cannot make one differ.
            differs = differs || (s.healthy && weight != s.weight);
            weights.push_back(weight);
        }
        if (!differs)
            continue;
        const auto same = std::find(ownWeights.begin(), ownWeights.end(), weights);
        if (same != ownWeights.end()) {
            t->m_scheduleOf[service] = std::int8_t(same - ownWeights.begin());
            continue;
        }
        ServerSchedule own = buildSchedule(list, policy, [&weights](std::size_t i) { return weights[i]; });
        own.creditRow = std::uint8_t(1 + service);
        t->m_scheduleOf[service] = std::int8_t(t->m_own.size());
        t->m_own.push_back(std::move(own));
        ownWeights.push_back(std::move(weights));
    }
    return t;
}

std::uint16_t ServerSlotAllocator::slotFor(std::uint32_t id)
{
    for (std::size_t i = 0; i < m_slots.size(); ++i) {
        if (m_slots[i].id == id) {
            m_slots[i].live = true;
            return std::uint16_t(i);
        }
    }
    if (m_slots.size() < kMaxServers) {
        m_slots.push_back({id, true, 0});
        return std::uint16_t(m_slots.size() - 1);
    }
    std::size_t best = kMaxServers;
    for (std::size_t i = 0; i < m_slots.size(); ++i) {
        if (!m_slots[i].live && (best == kMaxServers || m_slots[i].releasedAt < m_slots[best].releasedAt))
            best = i;
    }
    if (best == kMaxServers)
        return kNoServerSlot;
    m_slots[best] = {id, true, 0};
    return std::uint16_t(best);
}

void ServerSlotAllocator::release(std::uint32_t id)
{
    for (Assignment &a : m_slots) {
        if (a.id == id && a.live) {
            a.live = false;
            a.releasedAt = ++m_releaseSeq;
        }
    }
}

bool ServerTableHandoff::publish(std::unique_ptr<const ServerTable> table)
{
    if (!table)
        return false;
    const ServerTable *current = m_current.load(std::memory_order_relaxed);
    if (current && table->generation() <= current->generation())
        return false;
    m_owned.push_back(std::move(table));
    m_current.store(m_owned.back().get(), std::memory_order_release);
    return true;
}

std::size_t ServerTableHandoff::reclaim()
{
    const std::uint64_t acked = m_ackedGeneration.load(std::memory_order_acquire);
    const ServerTable *current = m_current.load(std::memory_order_relaxed);
    const auto before = m_owned.size();
    std::erase_if(m_owned, [&](const std::unique_ptr<const ServerTable> &t) {
        return t.get() != current && t->generation() < acked;
    });
    return before - m_owned.size();
}

std::size_t ServerTableHandoff::reclaimStopped()
{
    const ServerTable *current = m_current.load(std::memory_order_relaxed);
    const auto before = m_owned.size();
    std::erase_if(m_owned, [&](const std::unique_ptr<const ServerTable> &t) { return t.get() != current; });
    // The fast path is stopped, so this is not a race; without it a freed table's address
    // reused by a later publish() would look already acknowledged.
    m_seenByFastPath = nullptr;
    return before - m_owned.size();
}

} // namespace sasha
