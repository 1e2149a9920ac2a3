#include "fastpath/scheduler.h"

namespace sasha {

Scheduler::Scheduler()
    : m_credit((kMaxServices + 1) * kMaxServers, 0)
{
}

std::uint16_t Scheduler::pick(const ServerSchedule &schedule, const FlowTable &flows, std::uint64_t flowHash,
                              SchedulerKind kind) noexcept
{
    switch (kind) {
    case SchedulerKind::Maglev:
        return schedule.newFlow.lookup(flowHash);
    case SchedulerKind::WeightedLeastConnections:
        return pickLeastConnections(schedule, flows);
    case SchedulerKind::RoundRobin:
        return pickRoundRobin(schedule);
    }
    return kNoServerSlot;
}

std::uint16_t Scheduler::pickLeastConnections(const ServerSchedule &schedule, const FlowTable &flows) noexcept
{
    // Minimise active/weight; compare a/wa < b/wb as a*wb < b*wa (64-bit, no division).
    // Ties go to the first eligible slot in id order, so the choice is deterministic.
    std::uint16_t best = kNoServerSlot;
    std::uint64_t bestActive = 0;
    std::uint64_t bestWeight = 1;
    for (std::size_t i = 0; i < schedule.eligible.size(); ++i) {
        const std::uint16_t slot = schedule.eligible[i];
        const std::uint64_t weight = schedule.weights[i];
        const std::uint64_t active = flows.activeFlows(slot);
        if (best == kNoServerSlot || active * bestWeight < bestActive * weight) {
            best = slot;
            bestActive = active;
            bestWeight = weight;
        }
    }
    return best;
}

std::uint16_t Scheduler::pickRoundRobin(const ServerSchedule &schedule) noexcept
{
    std::int64_t *credit = m_credit.data() + std::size_t(schedule.creditRow) * kMaxServers;
    std::uint16_t best = kNoServerSlot;
    std::int64_t total = 0;
    for (std::size_t i = 0; i < schedule.eligible.size(); ++i) {
        const std::uint16_t slot = schedule.eligible[i];
        const std::int64_t w = schedule.weights[i];
        credit[slot] += w;
        total += w;
        if (best == kNoServerSlot || credit[slot] > credit[best])
            best = slot;
    }
    if (best != kNoServerSlot)
        credit[best] -= total;
    return best;
}

} // namespace sasha
