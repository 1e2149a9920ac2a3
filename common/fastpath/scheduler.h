#pragma once
// Picks the server for a new flow, per DispatchPolicy::scheduler. Candidates are the table's
// eligibleForNew() slots. Maglev is pure; weighted least-connections reads the flow table's
// per-server active counts; round-robin keeps per-slot credit (smooth weighted round-robin,
// as nginx does: every server receives its share, interleaved rather than in bursts).
//
// Thread: fast path. No allocation: the credit array is sized kMaxServers at construction.

#include "fastpath/flowtable.h"
#include "fastpath/servertable.h"

#include <array>
#include <cstdint>

namespace sasha {

class Scheduler {
public:
    // kNoServerSlot when no server may take new flows.
    std::uint16_t pick(const ServerTable &table, const FlowTable &flows, std::uint64_t flowHash) noexcept
    {
        return pick(table, flows, flowHash, table.policy().scheduler);
    }
    // With a service's own scheduler (DispatchPolicy::services).
    std::uint16_t pick(const ServerTable &table, const FlowTable &flows, std::uint64_t flowHash,
                       SchedulerKind kind) noexcept;

    static std::uint16_t pickLeastConnections(const ServerTable &table, const FlowTable &flows) noexcept;
    std::uint16_t pickRoundRobin(const ServerTable &table) noexcept;

private:
    std::array<std::int64_t, kMaxServers> m_credit{}; // round-robin's running credit per slot
};

} // namespace sasha
