#pragma once
// The fast path's counters. One writer (the fast-path thread), any number of readers (the
// control plane builds the ring's status payload and sashactl output from them).
//
// Contract: fields are std::atomic only so that concurrent reads are defined behaviour. The
// writer never uses a locked instruction: bump() is a relaxed load + relaxed store, which
// compiles to a plain increment. Readers use relaxed loads and may see counters from slightly
// different instants; every counter is monotonic.

#include "fastpath/frameparser.h"
#include "fastpath/servertable.h"

#include <array>
#include <atomic>
#include <cstdint>

namespace sasha {

using Counter = std::atomic<std::uint64_t>;

inline void bump(Counter &c, std::uint64_t n = 1) noexcept
{
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline std::uint64_t read(const Counter &c) noexcept
{
    return c.load(std::memory_order_relaxed);
}

struct FastPathCounters {
    Counter framesIn{0};
    Counter forwarded{0};      // sent to a server over the wire
    Counter deliveredLocal{0}; // the chosen server is this node
    // Frames the parser refused, by ParseVerdict (Ok and Icmp stay 0: not refusals).
    std::array<Counter, kParseVerdictCount> malformed{};
    // Drops after parsing, one counter per reason (see DropReason in fastpath.h).
    Counter noTable{0};            // no ServerTable published yet
    Counter notForVip{0};          // destination is not the VIP
    Counter serverToClient{0};     // source is the VIP: a reply; never expected in L4/2
    Counter unknownFlowDropped{0}; // non-SYN of an unknown flow after reconstruction completed
    Counter serverGone{0};         // the flow's server is no longer in the table
    Counter noServer{0};           // nobody may take new flows
    Counter tableFull{0};          // new flow refused: flow table at maxFlows
    Counter outputTooSmall{0};     // caller's buffer shorter than the frame
    Counter noService{0};          // to a VIP, but no configured service has its protocol and port
    Counter natReplies{0};         // L4/3 replies sent to their client from the VIP
    Counter noClientMac{0};        // L4/3 replies dropped: the client's next hop not learned yet
    // ICMP messages (docs/fastpath.md "ICMP"). Those dropped for an ICMP reason are counted here
    // only, by IcmpVerdict (index 0, Routable, stays 0); those dropped for a general reason
    // (noTable, notForVip, serverToClient, outputTooSmall) in that counter only.
    std::array<Counter, kIcmpVerdictCount> icmpDropped{};
    // Frames to the VIP from a source no client has, or VLAN-tagged, by BogusVerdict (index 0,
    // None, stays 0). An ICMP message is checked too, by its own source.
    std::array<Counter, kBogusVerdictCount> bogusDropped{};
    // Flow events (not in the every-frame-once sum).
    Counter icmpForwarded{0};      // ICMP errors sent to their flow's server; also in forwarded or deliveredLocal
    Counter newFlows{0};           // scheduled by the scheduler (SYN, first UDP datagram)
    Counter hashedFlows{0};        // adopted by the continuity Maglev table before reconstruction ended
    Counter expiredFlows{0};
    Counter synSeenEvicted{0};     // unanswered flows evicted to make room for a new SYN (SynFloodLimits)
    Counter persistentFlows{0};    // new flows sent to the server of the client's persistence entry
    Counter readmittedFlows{0};    // unknown TCP packets after an eviction, placed again by Maglev (FastPath::process)
    Counter reconstructedInserted{0};
    Counter reconstructedCorrected{0}; // agent said another server than the hash had guessed
    Counter reconstructedFull{0};     // agent's or transferred flows refused: the table was full
    Counter transferredInserted{0};   // from the previous dispatcher's table (planned handover)
    Counter transferredKnown{0};      // transferred but already known (an agent or a packet came first)
    Counter reusedDuringHandover{0};  // SYNs on closing flows kept on their server while handing over
    Counter transferredUpdated{0};    // moved or closed by the previous dispatcher's closed-since list
    // Per server slot.
    std::array<Counter, kMaxServers> serverPackets{};
    std::array<Counter, kMaxServers> serverNewFlows{};
    // Per configured service (DispatchPolicy::services): new flows scheduled for it.
    std::array<Counter, kMaxServices> serviceNewFlows{};
};

// The invariant the tests and the fuzz target check: every frame in framesIn is in exactly one
// of these counters (icmpForwarded, newFlows and the other flow events are not in the sum).
inline std::uint64_t framesAccounted(const FastPathCounters &c) noexcept
{
    std::uint64_t n = read(c.forwarded) + read(c.deliveredLocal) + read(c.noTable) + read(c.notForVip)
        + read(c.serverToClient) + read(c.unknownFlowDropped) + read(c.serverGone) + read(c.noServer)
        + read(c.tableFull) + read(c.outputTooSmall) + read(c.noService) + read(c.natReplies) + read(c.noClientMac);
    for (const Counter &m : c.malformed)
        n += read(m);
    for (const Counter &m : c.icmpDropped)
        n += read(m);
    for (const Counter &m : c.bogusDropped)
        n += read(m);
    return n;
}

} // namespace sasha
