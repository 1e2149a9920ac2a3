#include "fastpath/fastpath.h"

#include "fastpath/rewriter.h"

#include <algorithm>

namespace sasha {

const char *dropReasonName(DropReason r) noexcept
{
    switch (r) {
    case DropReason::None: return "none";
    case DropReason::Malformed: return "malformed";
    case DropReason::NoTable: return "no-table";
    case DropReason::NotForVip: return "not-for-vip";
    case DropReason::ServerToClient: return "server-to-client";
    case DropReason::UnknownFlow: return "unknown-flow";
    case DropReason::ServerGone: return "server-gone";
    case DropReason::NoServer: return "no-server";
    case DropReason::TableFull: return "table-full";
    case DropReason::OutputTooSmall: return "output-too-small";
    case DropReason::Icmp: return "icmp";
    case DropReason::Bogus: return "bogus";
    case DropReason::NoService: return "no-service";
    case DropReason::NoClientMac: return "no-client-mac";
    }
    return "unknown";
}

FastPath::FastPath(const FastPathConfig &config, ServerTableHandoff &tables)
    : m_config(config)
    , m_tables(tables)
    , m_flows(config.maxFlows, config.timeouts, config.synFlood)
    , m_persistence(config.persistenceEntries)
    , m_nextHops(config.nextHopEntries)
    , m_reconstruction(config.reconstructionQueueCapacity)
    , m_counters(std::make_unique<FastPathCounters>())
{
}

ProcessResult FastPath::drop(DropReason reason, Counter &counter) noexcept
{
    bump(counter);
    ProcessResult r;
    r.verdict = Verdict::Drop;
    r.reason = reason;
    return r;
}

// A server's reply (or ICMP error) of a NAT service, rewritten into `n` bytes (0: it did not fit):
// forwarded to the client.
ProcessResult FastPath::natReplyOut(std::size_t n, std::uint16_t slot) noexcept
{
    if (n == 0)
        return drop(DropReason::OutputTooSmall, m_counters->outputTooSmall);
    bump(m_counters->natReplies);
    ProcessResult r;
    r.verdict = Verdict::Forward;
    r.slot = slot;
    r.outLength = std::uint32_t(n);
    return r;
}

ProcessResult FastPath::deliver(const FrameView &frame, std::span<std::uint8_t> out, const ServerInfo &server,
                                const DispatchPolicy &policy, ForwardMode mode) noexcept
{
    const std::size_t n = Rewriter::rewriteToServer(frame, out, server, policy.dispatcherMac, mode);
    if (n == 0)
        return drop(DropReason::OutputTooSmall, m_counters->outputTooSmall);
    bump(m_counters->serverPackets[server.slot]);
    ProcessResult r;
    r.slot = server.slot;
    r.outLength = std::uint32_t(n);
    if (server.isSelf) {
        r.verdict = Verdict::DeliverLocal;
        bump(m_counters->deliveredLocal);
    } else {
        r.verdict = Verdict::Forward;
        bump(m_counters->forwarded);
    }
    return r;
}

ProcessResult FastPath::process(std::span<const std::uint8_t> in, std::span<std::uint8_t> out, FastTime now) noexcept
{
    FastPathCounters &c = *m_counters;
    bump(c.framesIn);
    const ParseResult parsed = parseFrame(in);
    if (parsed.verdict != ParseVerdict::Ok) {
        if (parsed.verdict == ParseVerdict::Icmp)
            return processIcmp(parsed, out);
        ProcessResult r = drop(DropReason::Malformed, c.malformed[std::size_t(parsed.verdict)]);
        r.parse = parsed.verdict;
        return r;
    }
    const FrameView &f = parsed.view;

    const ServerTable *table = m_tables.acquire();
    if (!table)
        return drop(DropReason::NoTable, c.noTable);
    const DispatchPolicy &policy = table->policy();
    if (!policy.isVip(f.key.dstIp)) {
        // In L4/2 replies leave the servers from the VIP straight to the client; seeing one
        // here means the switch or the capture filter is wrong.
        if (policy.isVip(f.key.srcIp))
            return drop(DropReason::ServerToClient, c.serverToClient);
        if (policy.anyNat())
            return processNatReply(f, out, *table);
        return drop(DropReason::NotForVip, c.notForVip);
    }
    if (const BogusVerdict bogus = checkBogus(f.key.srcIp, f.hasVlan, f.key.dstIp); bogus != BogusVerdict::None)
        return dropBogus(bogus);

    // The service decides the mode (and, below, whether an unknown flow may open). Looked up for
    // every frame only when some service is NAT: L4/2 alone pays nothing for it.
    const ServiceRule *rule = nullptr;
    bool ruleLooked = false;
    ForwardMode mode = policy.mode;
    if (policy.anyNat()) {
        rule = policy.ruleCount > 0 ? policy.findRule(f.key) : nullptr;
        ruleLooked = true;
        mode = policy.modeOf(rule);
        if (mode == ForwardMode::Nat)
            m_nextHops.learn(f.key.srcIp, f.data + 6); // the reply goes back where this came from
    }

    const std::uint64_t hash = flowHash(f.key);
    if (FlowEntry *e = m_flows.find(f.key, hash)) {
        const ServerInfo *server = table->bySlot(e->slot);
        // A SYN on a closing flow (port reuse), or on a flow whose server is gone, opens a new
        // connection: forget the old one and schedule afresh below.
        if (f.isSyn() && server && e->state() == FlowState::Closing && policy.keepServerOnReuse) {
            m_flows.reopen(*e, now);
            bump(c.reusedDuringHandover);
            return deliver(f, out, *server, policy, mode);
        }
        if (f.isSyn() && (e->state() == FlowState::Closing || !server)) {
            m_flows.erase(f.key);
        } else {
            if (!server) {
                // Kept until idle expiry (not refreshed), so if the server rejoins under the
                // same slot its connections resume; see docs/fastpath.md.
                return drop(DropReason::ServerGone, c.serverGone);
            }
            m_flows.touch(*e, f.tcpFlags, now);
            return deliver(f, out, *server, policy, mode);
        }
    }

    // Unknown flow. With services configured, only a service's protocol and port may open one
    // (a flow already in the table was admitted when it opened: services never change at run time).
    if (policy.ruleCount > 0) {
        if (!ruleLooked)
            rule = policy.findRule(f.key);
        if (!rule)
            return drop(DropReason::NoService, c.noService);
    }
    const ServiceParams *service = rule ? &policy.services[rule->service] : nullptr;
    const SchedulerKind scheduler = service ? service->scheduler : policy.scheduler;
    // The service's own weights, if they differ from the cluster's ([[service]] weights).
    const ServerSchedule &schedule = table->schedule(rule);
    const bool opener = f.isTcp() ? f.isSyn() : policy.reconstructionComplete;
    // Under a SYN flood an unanswered flow may have been evicted before its handshake's ACK got
    // through (lost in a full capture buffer, or slower than the budget's turnover). Under Maglev
    // its SYN's server is where the new-flow table puts it, so the flow is admitted again,
    // unanswered, as its SYN was (its next packet promotes it), within the same budget: an ACK
    // flood gains nothing a SYN flood does not. docs/fastpath.md "SYN floods".
    const bool readmitted = !opener && policy.reconstructionComplete && f.isTcp()
        && !(f.tcpFlags & (kTcpRst | kTcpFin)) && scheduler == SchedulerKind::Maglev
        && m_flows.evictedRecently(now);
    std::uint16_t slot;
    FlowState state;
    FlowOrigin origin;
    if (opener || readmitted) {
        slot = opener && service && service->persistence.count() > 0 ? persistentSlot(*table, *rule, f.key.srcIp, now)
                                                                      : kNoServerSlot;
        if (slot == kNoServerSlot)
            slot = m_scheduler.pick(schedule, m_flows, hash, scheduler);
        state = f.isTcp() ? FlowState::SynSeen : FlowState::Udp;
        origin = opener ? FlowOrigin::Scheduled : FlowOrigin::Hashed;
    } else {
        if (policy.reconstructionComplete)
            return drop(DropReason::UnknownFlow, c.unknownFlowDropped);
        // Probably a flow the previous dispatcher placed: follow the consistent hash (the
        // service's, when it has weights of its own: the previous dispatcher used them too).
        slot = schedule.continuity.lookup(hash);
        state = !f.isTcp() ? FlowState::Udp
            : (f.tcpFlags & kTcpFin) ? FlowState::Closing
                                     : FlowState::Established;
        origin = FlowOrigin::Hashed;
    }
    const ServerInfo *server = slot == kNoServerSlot ? nullptr : table->bySlot(slot);
    if (!server)
        return drop(DropReason::NoServer, c.noServer);
    // A reset of an unknown flow is passed on without creating state.
    if (!(f.isTcp() && (f.tcpFlags & kTcpRst) && !opener)) {
        if (state == FlowState::SynSeen && m_flows.evictForSyn(hash, now))
            bump(c.synSeenEvicted);
        if (!m_flows.insert(f.key, hash, slot, state, origin, now))
            return drop(DropReason::TableFull, c.tableFull);
        if (opener) {
            bump(c.newFlows);
            bump(c.serverNewFlows[slot]);
            if (rule) {
                bump(c.serviceNewFlows[rule->service]);
                if (service->persistence.count() > 0)
                    m_persistence.remember(rule->service, f.key.srcIp, slot, now);
            }
        } else if (readmitted) {
            bump(c.readmittedFlows);
        } else {
            bump(c.hashedFlows);
        }
    }
    return deliver(f, out, *server, policy, mode);
}

// L4/3 reply direction (docs/dispatcher.md "NAT mode"): a frame to the VMAC (the servers'
// gateway) from a server's address and a NAT service's port. Everything it needs comes from the
// table (the server, the service's VIP) and from the client's own frames (its next hop), none
// from the flow: a dispatcher that took over a minute ago translates the replies of connections
// it never saw open. Not inlined into process(): L4/2 never calls it.
[[gnu::noinline]] ProcessResult FastPath::processNatReply(const FrameView &f, std::span<std::uint8_t> out,
                                                         const ServerTable &table) noexcept
{
    FastPathCounters &c = *m_counters;
    const DispatchPolicy &policy = table.policy();
    const ServerInfo *server = table.byAddress(f.key.srcIp);
    const std::uint32_t vip = server ? policy.natReplyVip(f.key.proto, f.key.srcPort) : 0;
    if (vip == 0)
        return drop(DropReason::NotForVip, c.notForVip);
    const MacAddress *nextHop = m_nextHops.find(f.key.dstIp);
    if (!nextHop)
        return drop(DropReason::NoClientMac, c.noClientMac);
    return natReplyOut(Rewriter::rewriteNatReply(f, out, vip, *nextHop, policy.dispatcherMac), server->slot);
}

// The server the client's last new flow to this service went to, if within the service's
// persistence and that server may still take new flows; else kNoServerSlot (schedule afresh).
std::uint16_t FastPath::persistentSlot(const ServerTable &table, const ServiceRule &rule, std::uint32_t client,
                                       FastTime now) noexcept
{
    const ServiceParams &service = table.policy().services[rule.service];
    const std::uint16_t slot = m_persistence.find(rule.service, client, now, service.persistence);
    if (slot == kNoServerSlot)
        return kNoServerSlot;
    // The service's eligible servers: a weight 0 in this service ends the affinity too.
    const auto &eligible = table.schedule(rule.service).eligible;
    if (std::find(eligible.begin(), eligible.end(), slot) == eligible.end())
        return kNoServerSlot;
    bump(m_counters->persistentFlows);
    return slot;
}

ProcessResult FastPath::dropIcmp(IcmpVerdict why) noexcept
{
    ProcessResult r = drop(DropReason::Icmp, m_counters->icmpDropped[std::size_t(why)]);
    r.parse = ParseVerdict::Icmp;
    r.icmp = why;
    return r;
}

[[gnu::cold, gnu::noinline]] ProcessResult FastPath::dropBogus(BogusVerdict why) noexcept
{
    ProcessResult r = drop(DropReason::Bogus, m_counters->bogusDropped[std::size_t(why)]);
    r.bogus = why;
    return r;
}

// LVS's ip_vs_in_icmp for L4/2: an ICMP error about a packet the VIP sent (a server's reply)
// reaches the dispatcher, because the VIP is its source; the server that owns the connection
// needs it, above all "fragmentation needed" (type 3 code 4), or path-MTU discovery stalls the
// connection (a PMTU black hole). Not inlined into process(): it is rare.
[[gnu::noinline]] ProcessResult FastPath::processIcmp(const ParseResult &parsed, std::span<std::uint8_t> out) noexcept
{
    FastPathCounters &c = *m_counters;
    if (parsed.icmp != IcmpVerdict::Routable)
        return dropIcmp(parsed.icmp);
    const FrameView &f = parsed.view;
    auto general = [](ProcessResult r) {
        r.parse = ParseVerdict::Icmp;
        return r;
    };

    const ServerTable *table = m_tables.acquire();
    if (!table)
        return general(drop(DropReason::NoTable, c.noTable));
    const DispatchPolicy &policy = table->policy();
    // The ICMP message itself must be addressed to the VIP, as any frame we forward.
    const std::uint8_t *ip = f.data + f.l3Offset;
    const std::uint32_t icmpDst = loadBe32(ip + 16);
    if (!policy.isVip(icmpDst)) {
        if (policy.isVip(loadBe32(ip + 12)))
            return general(drop(DropReason::ServerToClient, c.serverToClient));
        if (policy.anyNat())
            return general(processNatIcmpReply(f, out, *table));
        return general(drop(DropReason::NotForVip, c.notForVip));
    }
    if (const BogusVerdict bogus = checkBogus(loadBe32(ip + 12), f.hasVlan, icmpDst); bogus != BogusVerdict::None)
        return general(dropBogus(bogus));
    if (f.key.dstIp != icmpDst)
        return dropIcmp(IcmpVerdict::EmbeddedNotFromVip);
    const bool nat =
        policy.anyNat() && policy.modeOf(policy.ruleCount > 0 ? policy.findRule(f.key) : nullptr) == ForwardMode::Nat;

    // The flow's server, found the way a non-SYN packet of the flow would find it, but without
    // creating, refreshing or changing the flow: an ICMP error says nothing about the client.
    const std::uint64_t hash = flowHash(f.key);
    const ServerInfo *server = nullptr;
    if (const FlowEntry *e = m_flows.find(f.key, hash)) {
        server = table->bySlot(e->slot);
        if (!server)
            return dropIcmp(IcmpVerdict::ServerGone);
    } else {
        if (policy.reconstructionComplete)
            return dropIcmp(IcmpVerdict::UnknownFlow);
        // Probably a flow the previous dispatcher placed: follow the consistent hash (its
        // service's, when the service has weights of its own).
        const ServiceRule *rule =
            table->ownScheduleCount() > 0 && policy.ruleCount > 0 ? policy.findRule(f.key) : nullptr;
        const std::uint16_t slot = table->schedule(rule).continuity.lookup(hash);
        server = slot == kNoServerSlot ? nullptr : table->bySlot(slot);
        if (!server)
            return dropIcmp(IcmpVerdict::NoServer);
    }
    ProcessResult r;
    if (nat) {
        // L4/3: the error is about a reply the dispatcher sent from the VIP; the server sent it
        // from its own address. Outer destination and quoted source become the server's.
        const std::size_t n = Rewriter::rewriteNatIcmp(f, out, 16, server->ipv4, 12, server->ipv4, server->mac,
                                                       policy.dispatcherMac);
        if (n == 0)
            return general(drop(DropReason::OutputTooSmall, c.outputTooSmall));
        bump(c.serverPackets[server->slot]);
        r.slot = server->slot;
        r.outLength = std::uint32_t(n);
        r.verdict = server->isSelf ? Verdict::DeliverLocal : Verdict::Forward;
        bump(server->isSelf ? c.deliveredLocal : c.forwarded);
        r = general(r);
    } else {
        r = general(deliver(f, out, *server, policy, ForwardMode::Direct));
    }
    if (r.verdict != Verdict::Drop)
        bump(c.icmpForwarded);
    return r;
}

// L4/3, the other way (LVS's ip_vs_out_icmp): an ICMP error a server sends to a client about the
// client's packet (to the server's address and a NAT service's port), through the gateway. The
// outer source and the quoted destination become the VIP, as the client knows them. The parser's
// key is the quote reversed: srcIp = the server, dstIp = the client.
ProcessResult FastPath::processNatIcmpReply(const FrameView &f, std::span<std::uint8_t> out,
                                            const ServerTable &table) noexcept
{
    FastPathCounters &c = *m_counters;
    const DispatchPolicy &policy = table.policy();
    const std::uint8_t *ip = f.data + f.l3Offset;
    const std::uint32_t from = loadBe32(ip + 12);
    const std::uint32_t to = loadBe32(ip + 16);
    const ServerInfo *server = table.byAddress(from);
    const std::uint32_t vip =
        server && f.key.srcIp == from && f.key.dstIp == to ? policy.natReplyVip(f.key.proto, f.key.srcPort) : 0;
    if (vip == 0)
        return drop(DropReason::NotForVip, c.notForVip);
    const MacAddress *nextHop = m_nextHops.find(to);
    if (!nextHop)
        return drop(DropReason::NoClientMac, c.noClientMac);
    return natReplyOut(Rewriter::rewriteNatIcmp(f, out, 12, vip, 16, vip, *nextHop, policy.dispatcherMac), server->slot);
}

FastPath::Housekeeping FastPath::housekeeping(FastTime now) noexcept
{
    Housekeeping h;
    FastPathCounters &c = *m_counters;
    ReconstructedFlow rf;
    while (h.reconstructed < m_config.reconstructedPerCall && m_reconstruction.pop(rf)) {
        ++h.reconstructed;
        if (rf.fromPrevious) {
            const auto r = m_flows.adoptPrevious(rf.key, rf.slot, rf.state, now);
            bump(r == FlowTable::ReconstructResult::Inserted    ? c.transferredInserted
                 : r == FlowTable::ReconstructResult::Corrected ? c.transferredUpdated
                 : r == FlowTable::ReconstructResult::Full      ? c.reconstructedFull
                                                                : c.transferredKnown);
            continue;
        }
        if (rf.transferred) {
            const auto r = m_flows.insertTransferred(rf.key, rf.slot, rf.state, now);
            bump(r == FlowTable::ReconstructResult::Inserted ? c.transferredInserted
                 : r == FlowTable::ReconstructResult::Full   ? c.reconstructedFull
                                                             : c.transferredKnown);
            continue;
        }
        switch (m_flows.insertReconstructed(rf.key, rf.slot, now)) {
        case FlowTable::ReconstructResult::Inserted: bump(c.reconstructedInserted); break;
        case FlowTable::ReconstructResult::Corrected: bump(c.reconstructedCorrected); break;
        case FlowTable::ReconstructResult::AlreadyKnown: break;
        case FlowTable::ReconstructResult::Full: bump(c.reconstructedFull); break;
        }
    }
    // Slots owed = elapsed * capacity / sweepPass; the remainder carries over, and what one call
    // cannot do is owed to the next ones, up to one whole pass.
    const std::int64_t elapsedUs = std::max<std::int64_t>(0, (now - m_lastHousekeeping).count());
    m_lastHousekeeping = now;
    const std::uint64_t passUs = std::uint64_t(std::max<std::int64_t>(1, m_config.sweepPass.count()));
    const std::uint64_t cap = m_config.sweepSlotsPerCall;
    m_sweepCredit += std::min<std::uint64_t>(std::uint64_t(elapsedUs), passUs) * m_flows.capacity();
    std::uint64_t slots = m_sweepCredit / passUs;
    m_sweepCredit -= slots * passUs;
    if (slots > cap) {
        const std::uint64_t owed = std::min<std::uint64_t>(slots - cap, m_flows.capacity());
        m_sweepCredit += owed * passUs;
        slots = cap;
    }
    const ServerTable *table = slots > 0 ? m_tables.acquire() : nullptr;
    h.expired = slots > 0 ? m_flows.sweep(now, std::size_t(slots), table ? &table->policy() : nullptr) : 0;
    bump(c.expiredFlows, h.expired);
    return h;
}

} // namespace sasha
