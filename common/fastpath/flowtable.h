#pragma once
// The dispatcher's flow table: 5-tuple -> server slot, with TCP state and idle expiry.
//
// Layout: one preallocated array of 20-byte entries, open addressing with linear probing and
// backward-shift deletion (no tombstones, so probe chains never rot). The capacity is fixed at
// construction: the next power of two >= 2 x maxFlows, so the load factor stays <= 0.5 and
// probes stay short. At maxFlows = 1M that is 2^21 entries = 40 MiB, ~42 bytes per flow
// (tst_flowtable prints and checks it; goal <= 64). Nothing allocates after construction.
//
// Time: passed in by the caller, stored per entry as a 32-bit millisecond tick that wraps
// every ~49 days; comparisons are wrap-safe because every timeout is far below 2^31 ms.
//
// Thread: owned by the fast-path thread. activeFlows() and openFlows() may be read from any
// thread (relaxed).

#include "fastpath/flowkey.h"
#include "fastpath/servertable.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace sasha {

enum class FlowState : std::uint8_t {
    Empty = 0,
    SynSeen = 1,     // SYN forwarded, handshake's ACK not yet seen
    Established = 2, // data flowing (or reconstructed from an agent, or adopted by hash)
    Closing = 3,     // FIN or RST seen from the client: kept for the grace period, then retired
    Udp = 4,         // UDP has no handshake: live until idle
};

// How the flow got its server (diagnostics; and reconstruction may correct Hashed ones).
enum class FlowOrigin : std::uint8_t {
    Scheduled = 0,     // a SYN (or first UDP datagram) scheduled by the policy's scheduler
    Hashed = 1,        // a packet of an unknown flow placed by the continuity Maglev table
    Reconstructed = 2, // reported by the server's agent (paper §3.4)
    Transferred = 3,   // from the previous dispatcher's table at a planned handover
};

struct FlowEntry {
    std::uint32_t srcIp;
    std::uint32_t dstIp;
    std::uint16_t srcPort;
    std::uint16_t dstPort;
    std::uint8_t proto;
    // bits 0-3 FlowState, bits 4-5 FlowOrigin, bit 7 kClosedHereBit: the FIN or RST that made it
    // Closing passed this table (cleared when it leaves Closing).
    std::uint8_t stateBits;
    std::uint16_t slot;     // server slot (ServerInfo::slot)
    std::uint32_t lastSeenMs;

    FlowState state() const noexcept { return FlowState(stateBits & 0x0F); }
    FlowOrigin origin() const noexcept { return FlowOrigin((stateBits >> 4) & 0x03); }
    static constexpr std::uint8_t kClosedHereBit = 0x80;
    bool closedHere() const noexcept { return stateBits & kClosedHereBit; }
    FlowKey key() const noexcept { return {srcIp, dstIp, srcPort, dstPort, proto}; }
};
static_assert(sizeof(FlowEntry) == 20, "flow entry layout changed: re-measure bytes per flow");

// Idle limits per state. Defaults follow LVS's spirit, shortened for a LAN cluster: we only see
// the client's half of the conversation, so "idle" means "the client sent nothing".
struct FlowTimeouts {
    FastTime synSeen = std::chrono::seconds(30);
    FastTime established = std::chrono::seconds(300);
    FastTime closing = std::chrono::seconds(30); // grace after FIN/RST: late ACKs still reach the server
    FastTime udp = std::chrono::seconds(60);
};

// The SYN-flood defence (docs/fastpath.md "SYN floods"). In L4/2 the dispatcher never sees a
// server's SYN-ACK, so a flow is "answered" when the client sends its handshake's ACK: SynSeen ->
// Established. Until then it is the cheapest entry to lose: the client retransmits its SYN, and
// a spoofed source never answers. Like LVS's defence levels (drop_entry scans for SYN_RECV
// entries to drop, secure_tcp shortens their life) but driven by the syn-seen count in the table,
// not by free memory, and at insert time rather than by a timer, so a flood cannot outrun it:
//  1. pressure: more than maxFlows / pressureDivisor syn-seen flows -> the sweep retires
//     syn-seen flows after synSeenUnderPressure instead of FlowTimeouts::synSeen;
//  2. budget: a new SYN that finds maxFlows / budgetDivisor syn-seen flows in the table (or the
//     table full) first evicts the least recently seen syn-seen flow among evictionSample slots
//     from its home slot (a sampled LRU, as Redis does, because a true LRU list would cost
//     memory per flow and pointer updates per packet). Established, closing, UDP, hashed and
//     reconstructed flows are never evicted, so syn-seen flows never hold more than about
//     maxFlows / budgetDivisor entries and answered connections always find room.
// A divisor of 0 turns its level off (both 0: the table as it was before the defence).
struct SynFloodLimits {
    std::size_t pressureDivisor = 16;
    std::size_t budgetDivisor = 4;
    FastTime synSeenUnderPressure = std::chrono::seconds(2); // above a SYN's first retransmission (1 s)
    std::size_t evictionSample = 64; // slots, ~20 cache lines; about 8 syn-seen flows at the budget
};

class FlowTable {
public:
    // Allocates everything. maxFlows >= 1.
    FlowTable(std::size_t maxFlows, const FlowTimeouts &timeouts, const SynFloodLimits &synFlood = {});
    FlowTable(const FlowTable &) = delete;
    FlowTable &operator=(const FlowTable &) = delete;

    // Pointers returned stay valid until the next insert/erase/sweep (deletion shifts entries).
    FlowEntry *find(const FlowKey &key, std::uint64_t hash) noexcept;
    FlowEntry *find(const FlowKey &key) noexcept { return find(key, flowHash(key)); }
    const FlowEntry *find(const FlowKey &key) const noexcept
    {
        return const_cast<FlowTable *>(this)->find(key, flowHash(key));
    }
    // Inserts a key that is not present. nullptr when the table already holds maxFlows flows.
    FlowEntry *insert(const FlowKey &key, std::uint64_t hash, std::uint16_t slot, FlowState state,
                      FlowOrigin origin, FastTime now) noexcept;
    bool erase(const FlowKey &key) noexcept;
    // Before inserting a new SYN's flow with this hash: at the syn-seen budget, or with the table
    // full, evicts the least recently seen syn-seen flow among SynFloodLimits::evictionSample
    // slots from the home slot (see SynFloodLimits). Returns true if it evicted one. Invalidates
    // entry pointers like erase().
    bool evictForSyn(std::uint64_t hash, FastTime now) noexcept;
    // Whether evictForSyn() evicted a flow within the last FlowTimeouts::synSeen: only then may
    // a packet of an unknown flow belong to a flow that would still be here without the defence.
    bool evictedRecently(FastTime now) const noexcept
    {
        return m_lastEvictionMs != 0 && std::int32_t(toMs(now) - m_lastEvictionMs) < std::int32_t(m_timeoutMs[std::size_t(FlowState::SynSeen)]);
    }

    // A client packet of this flow: refreshes it and applies the TCP transition
    // (SynSeen + ACK -> Established; FIN or RST -> Closing).
    void touch(FlowEntry &e, std::uint8_t tcpFlags, FastTime now) noexcept;
    // A SYN on this closing flow opens a new connection to the same server: SynSeen again.
    void reopen(FlowEntry &e, FastTime now) noexcept
    {
        e.lastSeenMs = toMs(now);
        setState(e, FlowState::SynSeen);
    }

    enum class ReconstructResult : std::uint8_t {
        Inserted,     // new flow from the agent's report
        Corrected,    // known (e.g. adopted by hash) but on another server: the agent wins
        AlreadyKnown, // same server already
        Full,
    };
    // An established connection an agent reported (paper §3.4).
    ReconstructResult insertReconstructed(const FlowKey &key, std::uint16_t slot, FastTime now) noexcept;
    // A flow from the previous dispatcher's table (planned handover), in the state it had there.
    // A flow already known stays as it is (AlreadyKnown): an agent's report, which may have come
    // first, is the better witness, and a flow seen here since is fresher.
    ReconstructResult insertTransferred(const FlowKey &key, std::uint16_t slot, FlowState state,
                                        FastTime now) noexcept;
    // The previous dispatcher's later word on a flow (a planned handover's list of the flows it
    // touched after it copied its table): its server and state win, as they were what it
    // forwarded with until the VMAC moved (a SYN reusing a closing flow's port was scheduled
    // afresh there; a FIN closed it). Inserted when unknown (a connection it made after the
    // copy), Corrected when the server or state changed, AlreadyKnown otherwise (also for a flow
    // this table scheduled itself: a SYN seen here is newer; and for a flow whose FIN or RST
    // passed here: the client closed it after the VMAC moved, so "open" there is older).
    ReconstructResult adoptPrevious(const FlowKey &key, std::uint16_t slot, FlowState state, FastTime now) noexcept;

    // Examines at most maxSlots slots from where the previous call stopped and retires expired
    // flows; a full pass over the table takes capacity()/maxSlots calls. Returns flows retired.
    // With a policy whose services set their own UDP idle timeout ([[service]] udp_idle_s), a
    // UDP flow expires after its service's (DispatchPolicy::udpIdleOf: a linear rule lookup per
    // UDP flow examined, never per packet); without, after FlowTimeouts::udp.
    std::size_t sweep(FastTime now, std::size_t maxSlots, const DispatchPolicy *policy = nullptr) noexcept;

    // Copies occupied entries, in slot order, until `out` is full or the table is scanned
    // (diagnostics: the control plane's connection map). Owner thread only; it reads the whole
    // array (40 MiB at 1M flows, a few ms), so never per packet. Returns entries copied.
    std::size_t copyFlows(std::span<FlowEntry> out) const noexcept
    {
        std::size_t n = 0;
        for (std::size_t i = 0; i <= m_mask && n < out.size(); ++i) {
            if (m_entries[i].state() != FlowState::Empty)
                out[n++] = m_entries[i];
        }
        return n;
    }

    std::size_t size() const noexcept { return m_size; }
    // Unanswered flows (SynSeen), and whether there are enough to shorten their lifetime. Any
    // thread (relaxed).
    std::size_t synSeenFlows() const noexcept { return m_synSeen.load(std::memory_order_relaxed); }
    bool underSynPressure() const noexcept { return m_synPressureAt != 0 && synSeenFlows() >= m_synPressureAt; }
    std::size_t maxFlows() const noexcept { return m_maxFlows; }
    std::size_t capacity() const noexcept { return m_mask + 1; }
    // Bytes owned by the table: entries plus the per-server counters.
    std::size_t memoryBytes() const noexcept;
    // Flows on this server that are not Closing (what weighted least-connections compares).
    std::uint32_t activeFlows(std::uint16_t slot) const noexcept
    {
        return slot < kMaxServers ? m_active[slot].load(std::memory_order_relaxed) : 0;
    }
    // Every flow in the table for this server, Closing ones included (the connection map's
    // count, and what a drain waits on: the server is idle when it reaches 0).
    std::uint32_t openFlows(std::uint16_t slot) const noexcept
    {
        return slot < kMaxServers ? m_open[slot].load(std::memory_order_relaxed) : 0;
    }

private:
    static bool countsAsActive(FlowState s) noexcept { return s != FlowState::Empty && s != FlowState::Closing; }
    static void adjust(std::atomic<std::uint32_t> *counters, std::uint16_t slot, int delta) noexcept;
    void adjustActive(std::uint16_t slot, int delta) noexcept { adjust(m_active.get(), slot, delta); }
    void adjustOpen(std::uint16_t slot, int delta) noexcept { adjust(m_open.get(), slot, delta); }
    void setState(FlowEntry &e, FlowState s) noexcept;
    // Another server: the flow's open and active counts move with it.
    void moveToSlot(FlowEntry &e, std::uint16_t slot) noexcept;
    void eraseAt(std::size_t index) noexcept;
    bool expired(const FlowEntry &e, std::uint32_t nowMs, std::uint32_t synSeenMs, const DispatchPolicy *policy) const noexcept;
    void adjustSynSeen(int delta) noexcept
    {
        m_synSeen.store(std::size_t(std::ptrdiff_t(m_synSeen.load(std::memory_order_relaxed)) + delta),
                        std::memory_order_relaxed);
    }
    static std::uint32_t toMs(FastTime t) noexcept { return std::uint32_t(std::uint64_t(t.count()) / 1000); }

    std::unique_ptr<FlowEntry[]> m_entries;
    std::size_t m_mask = 0;
    std::size_t m_maxFlows = 0;
    std::size_t m_size = 0;
    std::size_t m_sweepCursor = 0;
    std::uint32_t m_timeoutMs[5] = {}; // indexed by FlowState
    // SynFloodLimits resolved against maxFlows; 0 = that level is off.
    std::size_t m_synPressureAt = 0;
    std::size_t m_synBudget = 0;
    std::uint32_t m_synSeenPressureMs = 0;
    std::size_t m_evictionSample = 0;
    std::atomic<std::size_t> m_synSeen{0}; // written by the fast-path thread only
    std::uint32_t m_lastEvictionMs = 0;    // 0: never (a tick of exactly 0 reads as never: harmless)
    // Written by the fast-path thread only; atomics so other threads may read them relaxed.
    std::unique_ptr<std::atomic<std::uint32_t>[]> m_active;
    std::unique_ptr<std::atomic<std::uint32_t>[]> m_open;
};

} // namespace sasha
