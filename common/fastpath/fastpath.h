#pragma once
// The dispatcher's packet engine (issue 3, "The dispatcher (L4/2)"): frame in -> parse ->
// flow lookup (new SYN: scheduler) -> rewrite -> frame out, plus the between-batches
// housekeeping (expiry sweep, merging reconstructed flows). Capture and injection are not
// here: the daemon's pcap adapter feeds process() and injects what it returns.
//
// Threads and ownership:
//  - One FastPath per fast-path thread; process() and housekeeping() only on that thread.
//  - The ServerTableHandoff is shared with the control plane (see servertable.h).
//  - reconstructionQueue().push() is for exactly one control-plane thread.
//  - counters() may be read from any thread (relaxed atomics, see counters.h).
// No allocation, lock or clock read after construction.

#include "fastpath/counters.h"
#include "fastpath/flowtable.h"
#include "fastpath/frameparser.h"
#include "fastpath/nexthoptable.h"
#include "fastpath/persistencetable.h"
#include "fastpath/scheduler.h"
#include "fastpath/servertable.h"
#include "fastpath/spscring.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace sasha {

enum class Verdict : std::uint8_t {
    Forward,      // inject the output frame (to a server, or an L4/3 reply to a client)
    DeliverLocal, // the chosen server is this node: hand the output frame to the local stack
    Drop,
};

enum class DropReason : std::uint8_t {
    None,
    Malformed, // see ProcessResult::parse
    NoTable,
    NotForVip,
    ServerToClient,
    UnknownFlow,
    ServerGone,
    NoServer,
    TableFull,
    OutputTooSmall,
    Icmp,  // an ICMP message that is not forwarded: see ProcessResult::icmp
    Bogus, // a source no client has, or a VLAN tag: see ProcessResult::bogus
    NoService, // to a VIP, but no configured service has its protocol and port
    NoClientMac, // an L4/3 reply to a client none of whose frames this dispatcher has seen yet
};
const char *dropReasonName(DropReason r) noexcept;

struct ProcessResult {
    Verdict verdict = Verdict::Drop;
    DropReason reason = DropReason::None;
    ParseVerdict parse = ParseVerdict::Ok;    // Icmp for every ICMP message, forwarded or not
    IcmpVerdict icmp = IcmpVerdict::Routable; // when parse == Icmp: why it was dropped
    BogusVerdict bogus = BogusVerdict::None;  // when reason == Bogus: why
    std::uint16_t slot = kNoServerSlot; // the server it went to
    std::uint32_t outLength = 0;        // bytes of the output frame
};

// A connection an agent reported (paper §3.4), already mapped to its server's slot by the
// control plane (ServerSlotAllocator).
// A flow for the table from the control plane: an agent's report (transferred = false; state
// is then ignored: Established for TCP) or the previous dispatcher's table at a planned handover.
struct ReconstructedFlow {
    FlowKey key;
    std::uint16_t slot = kNoServerSlot;
    FlowState state = FlowState::Established;
    bool transferred = false;
    // The previous dispatcher touched this flow after it copied its table (a planned handover's
    // closed-since list): its server and state win (FlowTable::adoptPrevious).
    bool fromPrevious = false;
};

struct FastPathConfig {
    std::size_t maxFlows = std::size_t(1) << 20;
    FlowTimeouts timeouts;
    SynFloodLimits synFlood;
    // The expiry sweep is paced by time, not by calls: a whole pass over the table every
    // sweepPass, spread over the housekeeping calls in proportion to the time since the last one
    // (at low rates the thread calls housekeeping for almost every frame: a fixed amount per call
    // made the sweep a fifth of the dispatcher's CPU). sweepSlotsPerCall bounds one call's work.
    FastTime sweepPass = FastTime(4'000'000);
    std::size_t sweepSlotsPerCall = 4096;
    std::size_t reconstructedPerCall = 4096;       // bounds housekeeping's merge work
    std::size_t reconstructionQueueCapacity = std::size_t(1) << 16;
    // Source-address affinity entries (PersistenceTable, 16 bytes each); 0 when no service
    // has persistence_s.
    std::size_t persistenceEntries = std::size_t(1) << 16;
    // Clients' next-hop MACs for L4/3 replies (NextHopTable, 16 bytes each).
    std::size_t nextHopEntries = std::size_t(1) << 16;
};

class FastPath {
public:
    FastPath(const FastPathConfig &config, ServerTableHandoff &tables);
    FastPath(const FastPath &) = delete;
    FastPath &operator=(const FastPath &) = delete;

    // One client frame. `out` receives the rewritten frame and may alias `in` (in place).
    // An ICMP error quoting a packet of a flow goes to that flow's server, rewritten like the
    // flow's own frames; it neither creates nor refreshes a flow (docs/fastpath.md "ICMP").
    // With a NAT service, also a server's reply from its service port (to the VMAC, its
    // gateway's MAC): sent to the client from the VIP, without a flow lookup.
    ProcessResult process(std::span<const std::uint8_t> in, std::span<std::uint8_t> out, FastTime now) noexcept;

    struct Housekeeping {
        std::size_t expired = 0;
        std::size_t reconstructed = 0;
    };
    // Call between capture batches (and when idle, e.g. every few ms).
    Housekeeping housekeeping(FastTime now) noexcept;

    SpscRing<ReconstructedFlow> &reconstructionQueue() noexcept { return m_reconstruction; }
    const FastPathCounters &counters() const noexcept { return *m_counters; }
    const FlowTable &flows() const noexcept { return m_flows; }

private:
    ProcessResult drop(DropReason reason, Counter &counter) noexcept;
    ProcessResult processIcmp(const ParseResult &parsed, std::span<std::uint8_t> out) noexcept;
    ProcessResult dropIcmp(IcmpVerdict why) noexcept;
    ProcessResult dropBogus(BogusVerdict why) noexcept;
    std::uint16_t persistentSlot(const ServerTable &table, const ServiceRule &rule, std::uint32_t client,
                                 FastTime now) noexcept;
    ProcessResult natReplyOut(std::size_t n, std::uint16_t slot) noexcept;
    ProcessResult deliver(const FrameView &frame, std::span<std::uint8_t> out, const ServerInfo &server,
                          const DispatchPolicy &policy, ForwardMode mode) noexcept;
    ProcessResult processNatReply(const FrameView &frame, std::span<std::uint8_t> out, const ServerTable &table) noexcept;
    ProcessResult processNatIcmpReply(const FrameView &frame, std::span<std::uint8_t> out,
                                      const ServerTable &table) noexcept;

    FastPathConfig m_config;
    ServerTableHandoff &m_tables;
    FlowTable m_flows;
    Scheduler m_scheduler;
    PersistenceTable m_persistence;
    NextHopTable m_nextHops;
    SpscRing<ReconstructedFlow> m_reconstruction;
    std::unique_ptr<FastPathCounters> m_counters;
    FastTime m_lastHousekeeping{0};
    std::uint64_t m_sweepCredit = 0; // slot-microseconds owed to the sweep, < sweepPass per slot
};

} // namespace sasha
