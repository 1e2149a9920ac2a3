#pragma once
// Picks the server for a new flow, per DispatchPolicy::scheduler (or the service's). Candidates
// are a ServerSchedule's eligible slots with its weights: the cluster's, or a service's own
// when its [[service]] weights differ (ServerTable::schedule). Maglev is pure; weighted
// least-connections reads the flow table's per-server active counts (over all services);
// round-robin keeps per-slot credit (smooth weighted round-robin, as nginx does: every server
// receives its share, interleaved rather than in bursts), one row of credit per schedule.
//
// Thread: fast path. No allocation after construction: the credit rows (kMaxServices + 1 rows of
// kMaxServers) are allocated by the constructor.

#include "fastpath/flowtable.h"
#include "fastpath/servertable.h"

#include <cstdint>
#include <vector>

namespace sasha {

class Scheduler {
public:
    Scheduler();

    // The cluster's schedule under the policy's scheduler; kNoServerSlot when no server may
    // take new flows.
    std::uint16_t pick(const ServerTable &table, const FlowTable &flows, std::uint64_t flowHash) noexcept
    {
        return pick(table.clusterSchedule(), flows, flowHash, table.policy().scheduler);
    }
    // With a service's schedule and scheduler (ServerTable::schedule, DispatchPolicy::services).
    std::uint16_t pick(const ServerSchedule &schedule, const FlowTable &flows, std::uint64_t flowHash,
                       SchedulerKind kind) noexcept;

    static std::uint16_t pickLeastConnections(const ServerSchedule &schedule, const FlowTable &flows) noexcept;
    std::uint16_t pickRoundRobin(const ServerSchedule &schedule) noexcept;

private:
    // Round-robin's running credit: row ServerSchedule::creditRow, column slot.
    std::vector<std::int64_t> m_credit;
};

} // namespace sasha
