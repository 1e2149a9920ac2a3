#pragma once
// What the control plane tells the fast path: the servers, the scheduling policy and whether
// state reconstruction has completed. A ServerTable is immutable once built; the control plane
// builds a new one for every change and hands it over through ServerTableHandoff.
//
// Threads: ServerTable::build() and everything in ServerTableHandoff marked "control plane"
// run on the control-plane (Qt) thread; acquire() runs on the fast-path thread only.

#include "fastpath/flowkey.h"
#include "fastpath/maglev.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace sasha {

// Server slots are small stable indices (per-server counters and flow entries use them). The
// control plane keeps a server's slot for as long as it knows the server, so flows survive a
// server leaving and rejoining (ServerSlotAllocator).
constexpr std::size_t kMaxServers = 1024;

struct ServerInfo {
    std::uint32_t id = 0;      // the node's ring address (tb::NodeAddr); Maglev hashes it
    std::uint16_t slot = 0;    // < kMaxServers, unique within a table
    MacAddress mac{};          // L4/2 rewrites the destination MAC to this
    std::uint32_t ipv4 = 0;    // host order; L4/3 rewrites the destination address to this
    std::uint32_t weight = 1;  // relative; 0 takes no new flows
    bool healthy = true;       // the agent's health check (paper §3.3); unhealthy takes no new flows
    bool isSelf = false;       // this node: frames for it are delivered locally
};

enum class SchedulerKind : std::uint8_t {
    Maglev = 0,                   // default: consistent across dispatchers
    WeightedLeastConnections = 1,
    RoundRobin = 2,               // smooth weighted round-robin
};

enum class ForwardMode : std::uint8_t {
    Direct = 0, // L4/2: rewrite MACs only; replies bypass the dispatcher
    Nat = 1,    // L4/3 (RFC 2391): rewrite the destination address too
};

// Virtual services (docs/config.md "[[service]]"): which (VIP, protocol, port) the dispatcher
// forwards. A configured service with several ports or ranges is several rules sharing one
// service index (its counters and persistence). Fixed sizes: the policy is copied into every
// ServerTable and read by the fast path without allocation.
constexpr std::size_t kMaxVips = 16;
constexpr std::size_t kMaxServices = 64;
constexpr std::size_t kMaxServiceRules = 256;
// Different [[service]] weights tables (ServerSchedule below): each adds two Maglev tables to
// every ServerTable::build, which runs on the ring's thread (~5 ms each on a loaded 2-core
// machine), so the config refuses more. ServerTable::build itself has no such limit.
constexpr std::size_t kMaxServiceWeightings = 8;

struct ServiceRule {
    std::uint32_t vip = 0;          // host order
    std::uint16_t portFirst = 0;    // inclusive range
    std::uint16_t portLast = 0;
    std::uint8_t protocol = 0;      // kIpProtoTcp or kIpProtoUdp
    std::uint8_t service = 0;       // < kMaxServices: index into DispatchPolicy::services
};

struct ServiceParams {
    SchedulerKind scheduler = SchedulerKind::Maglev;
    // Source-address affinity (ipvsadm -p): a client's new flows to this service within this
    // long of its last new flow go to the same server. 0 = off.
    FastTime persistence{0};
    // L4/2 or L4/3 (docs/dispatcher.md "NAT mode"). A NAT service's port is the servers' port too
    // (ports are not translated), and no other NAT service has its protocol and port, so a
    // reply from server:port maps back to exactly one VIP:port without per-flow state.
    ForwardMode mode = ForwardMode::Direct;
    // A UDP service's flow idle timeout ([[service]] udp_idle_s); 0 = FlowTimeouts::udp.
    FastTime udpIdle{0};
};

struct DispatchPolicy {
    std::uint32_t vip = 0;            // host order; the first VIP (the only one without services)
    MacAddress dispatcherMac{};       // source MAC of forwarded frames
    SchedulerKind scheduler = SchedulerKind::Maglev;
    // With ruleCount 0: the mode of every frame. With services: each service's own (ServiceParams).
    ForwardMode mode = ForwardMode::Direct;
    // Some service (or, without services, `mode`) is NAT: frames from the servers' service
    // ports to the VMAC are replies to translate (FastPath::processNatReply). Set by whoever
    // fills the services (fillServicePolicy) or the mode.
    bool nat = false;
    // Until true, non-SYN packets of unknown flows follow the continuity Maglev table (they are
    // probably flows the previous dispatcher placed); afterwards they are dropped and counted.
    bool reconstructionComplete = false;
    // The dispatcher's own node stops taking new connections (DESIGN: "the node that becomes
    // dispatcher stops taking new connections as a server") unless it is the only one left.
    bool selfTakesNewFlows = false;
    // A planned handover is under way: a SYN that reuses a closing flow's port stays with that
    // flow's server instead of being scheduled afresh, because the successor's copy of the table
    // names that server and would send the new connection's next packets there (a reset).
    bool keepServerOnReuse = false;
    // Every VIP the dispatcher answers for (vip among them). vipCount 0: vip alone.
    std::array<std::uint32_t, kMaxVips> vips{};
    std::uint8_t vipCount = 0;
    // ruleCount 0: every port and protocol of vip is forwarded under `scheduler` (the unit tests'
    // and benchmarks' policy); otherwise only frames matching a rule open flows, the others are
    // dropped as DropReason::NoService.
    std::array<ServiceRule, kMaxServiceRules> rules{};
    std::uint16_t ruleCount = 0;
    std::array<ServiceParams, kMaxServices> services{};
    std::uint8_t serviceCount = 0;
    // Some service has its own udpIdle: the flow table's sweep looks a UDP flow's service up.
    bool udpIdlePerService = false;

    bool isVip(std::uint32_t ip) const noexcept
    {
        if (ip == vip)
            return true;
        for (std::size_t i = 0; i < vipCount; ++i)
            if (vips[i] == ip)
                return true;
        return false;
    }
    // The rule a new flow to key.dstIp:key.dstPort falls under; nullptr if none. Linear: a few
    // dozen rules, read only for packets of unknown flows.
    const ServiceRule *findRule(const FlowKey &key) const noexcept
    {
        for (std::size_t i = 0; i < ruleCount; ++i) {
            const ServiceRule &r = rules[i];
            if (r.vip == key.dstIp && r.protocol == key.proto && key.dstPort >= r.portFirst && key.dstPort <= r.portLast)
                return &r;
        }
        return nullptr;
    }
    bool anyNat() const noexcept { return nat || mode == ForwardMode::Nat; }
    // The idle timeout of a UDP flow with this key: its service's udpIdle, or 0 (the table's).
    FastTime udpIdleOf(const FlowKey &key) const noexcept
    {
        if (!udpIdlePerService)
            return FastTime{0};
        const ServiceRule *rule = findRule(key);
        return rule ? services[rule->service].udpIdle : FastTime{0};
    }
    // The mode of a frame that falls under `rule` (nullptr: no services, `mode`).
    ForwardMode modeOf(const ServiceRule *rule) const noexcept { return rule ? services[rule->service].mode : mode; }
    // The VIP a NAT reply from a server's port `srcPort` over `protocol` goes back to; 0 if no
    // NAT service has that protocol and port. Linear, like findRule.
    std::uint32_t natReplyVip(std::uint8_t protocol, std::uint16_t srcPort) const noexcept
    {
        if (ruleCount == 0)
            return mode == ForwardMode::Nat ? vip : 0;
        for (std::size_t i = 0; i < ruleCount; ++i) {
            const ServiceRule &r = rules[i];
            if (r.protocol == protocol && srcPort >= r.portFirst && srcPort <= r.portLast
                && services[r.service].mode == ForwardMode::Nat)
                return r.vip;
        }
        return 0;
    }
};

// A server's own weight in one service ([[service]] weights; docs/config.md "Weights"), in
// place of ServerInfo::weight for that service's new flows. The control plane resolves the
// precedence first (an operator weight wins: it passes no override for that server).
struct ServiceWeight {
    std::uint8_t service = 0; // < kMaxServices: index into DispatchPolicy::services
    std::uint32_t id = 0;     // ServerInfo::id
    std::uint32_t weight = 1; // 0 = no new flows of this service
};

// How new flows are scheduled: the cluster's (ServerInfo::weight), or a service's whose weights
// differ from it. Built with the table, read by the fast path.
struct ServerSchedule {
    std::vector<std::uint16_t> eligible; // slots that may take new flows, in id order
    std::vector<std::uint32_t> weights;  // parallel to eligible, each > 0
    MaglevTable newFlow;                 // Maglev over eligible with these weights
    // Maglev over every healthy server with a weight > 0 here, this node included: the
    // previous dispatcher's newFlow for the same weights (ServerTable::continuityMaglev()).
    MaglevTable continuity;
    // Smooth round-robin's credit row (Scheduler): 0 for the cluster's schedule, 1 + the first
    // service that has this schedule otherwise.
    std::uint8_t creditRow = 0;
};

class ServerTable {
public:
    // Control plane. Servers with duplicate or out-of-range slots are rejected (nullptr), so are
    // service weights of a service >= kMaxServices. A service whose weights (an override, else
    // ServerInfo::weight) equal every healthy server's cluster weight shares the cluster's schedule;
    // services with equal weights share one schedule (each costs two Maglev tables, 256 KiB).
    static std::unique_ptr<const ServerTable> build(std::vector<ServerInfo> servers, const DispatchPolicy &policy,
                                                    std::uint64_t generation,
                                                    std::span<const ServiceWeight> serviceWeights = {});

    std::uint64_t generation() const noexcept { return m_generation; }
    const DispatchPolicy &policy() const noexcept { return m_policy; }
    std::span<const ServerInfo> servers() const noexcept { return m_servers; }
    // The server whose data address is ipv4 (host order); nullptr if none. Binary search: NAT
    // replies look their source up with it.
    const ServerInfo *byAddress(std::uint32_t ipv4) const noexcept
    {
        std::size_t lo = 0, hi = m_byAddress.size();
        while (lo < hi) {
            const std::size_t mid = (lo + hi) / 2;
            if (m_byAddress[mid].first < ipv4)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < m_byAddress.size() && m_byAddress[lo].first == ipv4)
            return &m_servers[m_byAddress[lo].second];
        return nullptr;
    }

    // nullptr when no server holds this slot in this generation.
    const ServerInfo *bySlot(std::uint16_t slot) const noexcept
    {
        if (slot >= kMaxServers || m_indexBySlot[slot] < 0)
            return nullptr;
        return &m_servers[std::size_t(m_indexBySlot[slot])];
    }
    // The cluster's schedule (ServerInfo::weight), which services without weights of their own use.
    // Slots that may receive new flows (healthy, weight > 0, self only if allowed or alone).
    std::span<const std::uint16_t> eligibleForNew() const noexcept { return m_cluster.eligible; }
    // Maglev over the eligible servers: schedules new flows under SchedulerKind::Maglev.
    const MaglevTable &newFlowMaglev() const noexcept { return m_cluster.newFlow; }
    // Maglev over every healthy server including this node: where a packet of an unknown,
    // already-established flow most likely belongs. When this node was a server under the old
    // dispatcher, this is exactly the old dispatcher's new-flow table (see docs/fastpath.md).
    const MaglevTable &continuityMaglev() const noexcept { return m_cluster.continuity; }
    const ServerSchedule &clusterSchedule() const noexcept { return m_cluster; }

    // The schedule of a service's new flows: its own if its weights differ from the cluster's.
    const ServerSchedule &schedule(std::uint8_t service) const noexcept
    {
        const std::int8_t i = service < kMaxServices ? m_scheduleOf[service] : -1;
        return i < 0 ? m_cluster : m_own[std::size_t(i)];
    }
    // nullptr (no services): the cluster's.
    const ServerSchedule &schedule(const ServiceRule *rule) const noexcept
    {
        return rule ? schedule(rule->service) : m_cluster;
    }
    bool hasOwnSchedule(std::uint8_t service) const noexcept
    {
        return service < kMaxServices && m_scheduleOf[service] >= 0;
    }
    // How many distinct schedules of services' own the table holds (each two Maglev tables).
    std::size_t ownScheduleCount() const noexcept { return m_own.size(); }

private:
    ServerTable() = default;
    std::uint64_t m_generation = 0;
    DispatchPolicy m_policy;
    std::vector<ServerInfo> m_servers;
    std::array<std::int16_t, kMaxServers> m_indexBySlot{};
    std::vector<std::pair<std::uint32_t, std::uint16_t>> m_byAddress; // (ipv4, index), sorted
    ServerSchedule m_cluster;
    std::vector<ServerSchedule> m_own;                // services' own schedules
    std::array<std::int8_t, kMaxServices> m_scheduleOf{}; // service -> index into m_own; -1 = m_cluster
};

// Gives each server id a slot and keeps it while the id is known, so a server that leaves and
// rejoins finds its flows again. Reuses the longest-unused slot only when all are taken.
// Control plane only.
class ServerSlotAllocator {
public:
    // The slot for id (assigning one if new); kNoServerSlot if all kMaxServers are in use by
    // ids marked live in this call sequence (see release()).
    std::uint16_t slotFor(std::uint32_t id);
    // The id no longer belongs to the cluster; its slot may be reused after every other free one.
    void release(std::uint32_t id);

private:
    struct Assignment {
        std::uint32_t id = 0;
        bool live = false;
        std::uint64_t releasedAt = 0; // release() sequence number, for least-recently-used reuse
    };
    std::vector<Assignment> m_slots; // index = slot
    std::uint64_t m_releaseSeq = 0;
};

// The handoff of ServerTables from the control plane to the fast path, without a lock:
//  1. control plane: publish(table) stores the pointer (release) and keeps ownership of every
//     table it ever published in m_owned;
//  2. fast path: acquire() loads the pointer (acquire); when it differs from the last one it
//     saw, it stores that table's generation in m_ackedGeneration (release). From then on it
//     never touches an older table;
//  3. control plane: reclaim() frees every owned table whose generation is below the acked one
//     (never the current one). After the fast-path thread has been joined, reclaimStopped()
//     frees everything but the current table.
// Generations must increase strictly from one publish() to the next.
class ServerTableHandoff {
public:
    ServerTableHandoff() = default;
    ServerTableHandoff(const ServerTableHandoff &) = delete;
    ServerTableHandoff &operator=(const ServerTableHandoff &) = delete;

    // Control plane. Returns false (and drops nothing) if the generation does not increase.
    bool publish(std::unique_ptr<const ServerTable> table);
    std::size_t reclaim();
    std::size_t reclaimStopped();
    std::size_t ownedCount() const noexcept { return m_owned.size(); }
    std::uint64_t ackedGeneration() const noexcept { return m_ackedGeneration.load(std::memory_order_acquire); }

    // Fast path. nullptr until the first publish().
    const ServerTable *acquire() noexcept
    {
        const ServerTable *t = m_current.load(std::memory_order_acquire);
        if (t != m_seenByFastPath) {
            m_seenByFastPath = t;
            m_ackedGeneration.store(t->generation(), std::memory_order_release);
        }
        return t;
    }

private:
    std::atomic<const ServerTable *> m_current{nullptr};
    std::atomic<std::uint64_t> m_ackedGeneration{0};
    const ServerTable *m_seenByFastPath = nullptr;              // fast-path thread only
    std::vector<std::unique_ptr<const ServerTable>> m_owned;   // control-plane thread only
};

} // namespace sasha
