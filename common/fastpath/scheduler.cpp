#include "fastpath/scheduler.h"

namespace sasha {

std::uint16_t Scheduler::pick(const ServerTable &table, const FlowTable &flows, std::uint64_t flowHash,
                              SchedulerKind kind) noexcept
{
    switch (kind) {
    case SchedulerKind::Maglev:
        return table.newFlowMaglev().lookup(flowHash);
    case SchedulerKind::WeightedLeastConnections:
        return pickLeastConnections(table, flows);
    case SchedulerKind::RoundRobin:
        return pickRoundRobin(table);
    }
    return kNoServerSlot;
}

std::uint16_t Scheduler::pickLeastConnections(const ServerTable &table, const FlowTable &flows) noexcept
{
    // Minimise active/weight; compare a/wa < b/wb as a*wb < b*wa (64-bit, no division).
    // Ties go to the first eligible slot in id order, so the choice is deterministic.
    std::uint16_t best = kNoServerSlot;
    std::uint64_t bestActive = 0;
    std::uint64_t bestWeight = 1;
    for (const std::uint16_t slot : table.eligibleForNew()) {
        const ServerInfo *s = table.bySlot(slot);
        const std::uint64_t active = flows.activeFlows(slot);
        if (best == kNoServerSlot || active * bestWeight < bestActive * s->weight) {
            best = slot;
            bestActive = active;
            bestWeight = s->weight;
        }
    }
    return best;
}

std::uint16_t Scheduler::pickRoundRobin(const ServerTable &table) noexcept
{
    std::uint16_t best = kNoServerSlot;
    std::int64_t total = 0;
    for (const std::uint16_t slot : table.eligibleForNew()) {
        const std::int64_t w = table.bySlot(slot)->weight;
        m_credit[slot] += w;
        total += w;
        if (best == kNoServerSlot || m_credit[slot] > m_credit[best])
            best = slot;
    }
    if (best != kNoServerSlot)
        m_credit[best] -= total;
    return best;
}

} // namespace sasha
