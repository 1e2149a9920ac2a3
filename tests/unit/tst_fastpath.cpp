// The dispatcher engine end to end on frames: scheduling, stickiness, unknown flows before
// and after reconstruction, server removal, local delivery, ICMP errors routed to their flow's
// server, the table handoff, counters that add up, 100k random frames, and the rewrite stage's
// checksum helper (RFC 1624).

#include "fastpath/checksum.h"
#include "fastpath/fastpath.h"
#include "fastpath/rewriter.h"
#include "testframes.h"

#include <QTest>

#include <array>
#include <cmath>
#include <random>
#include <set>

using namespace sasha;
using namespace sasha::testframes;
using namespace std::chrono_literals;

namespace {

ServerInfo server(std::uint16_t slot, bool isSelf = false, std::uint32_t weight = 1, bool healthy = true)
{
    ServerInfo s;
    s.id = ip4(10, 0, 0, std::uint8_t(10 + slot));
    s.slot = slot;
    s.mac = {0x02, 0x5e, 0x00, 0x00, 0x00, std::uint8_t(slot)};
    s.ipv4 = s.id;
    s.weight = weight;
    s.healthy = healthy;
    s.isSelf = isSelf;
    return s;
}

DispatchPolicy policy(SchedulerKind kind = SchedulerKind::Maglev, bool reconstructed = false)
{
    DispatchPolicy p;
    p.vip = kVip;
    p.dispatcherMac = kDispatcherMac;
    p.scheduler = kind;
    p.reconstructionComplete = reconstructed;
    return p;
}

// Four servers in slots 0..3, none of them this node.
std::vector<ServerInfo> fourServers()
{
    return {server(0), server(1), server(2), server(3)};
}

FrameSpec tcp(std::uint16_t srcPort, std::uint8_t flags, std::uint32_t srcIp = kClientIp)
{
    FrameSpec s;
    s.srcIp = srcIp;
    s.srcPort = srcPort;
    s.tcpFlags = flags;
    return s;
}

struct Harness {
    explicit Harness(std::size_t maxFlows = 4096, const SynFloodLimits &synFlood = {})
    {
        FastPathConfig c;
        c.maxFlows = maxFlows;
        c.synFlood = synFlood;
        fp = std::make_unique<FastPath>(c, tables);
    }
    bool publish(std::vector<ServerInfo> servers, const DispatchPolicy &p, std::span<const ServiceWeight> weights = {})
    {
        return tables.publish(ServerTable::build(std::move(servers), p, ++generation, weights));
    }
    ProcessResult send(const FrameSpec &s, FastTime now = 1s) { return sendBytes(buildFrame(s), now); }
    ProcessResult send(const IcmpSpec &s, FastTime now = 1s) { return sendBytes(buildIcmpFrame(s), now); }
    ProcessResult sendBytes(std::vector<std::uint8_t> frame, FastTime now)
    {
        last = std::move(frame);
        out.assign(last.size() + 16, 0);
        return fp->process(last, out, now);
    }
    std::vector<std::uint8_t> output(const ProcessResult &r) const
    {
        return std::vector<std::uint8_t>(out.begin(), out.begin() + r.outLength);
    }
    const FastPathCounters &c() const { return fp->counters(); }
    // Every frame ends in exactly one counter.
    std::uint64_t accounted() const { return framesAccounted(c()); }

    ServerTableHandoff tables;
    std::uint64_t generation = 0;
    std::unique_ptr<FastPath> fp;
    std::vector<std::uint8_t> last;
    std::vector<std::uint8_t> out;
};

const char *name(DropReason r)
{
    return dropReasonName(r);
}

const char *name(IcmpVerdict v)
{
    return icmpVerdictName(v);
}

// "Fragmentation needed" (or another error) about the server's reply on client:port -> VIP:80.
IcmpSpec icmpAbout(std::uint16_t clientPort, std::uint8_t type = 3, std::uint8_t code = 4,
                   std::uint8_t proto = kIpProtoTcp)
{
    IcmpSpec s;
    s.type = type;
    s.code = code;
    s.quoted.proto = proto;
    s.quoted.dstPort = clientPort;
    return s;
}

constexpr std::uint32_t kVip2 = ip4(10, 0, 0, 101);

// Four services on two VIPs (docs/config.md "[[service]]"): kVip tcp 80 and tcp 8000-8010,
// kVip2 tcp 443 (round-robin) and udp 53.
DispatchPolicy servicePolicy(bool reconstructed = true)
{
    DispatchPolicy p = policy(SchedulerKind::Maglev, reconstructed);
    p.vips = {kVip, kVip2};
    p.vipCount = 2;
    const ServiceRule rules[] = {
        {kVip, 80, 80, kIpProtoTcp, 0},
        {kVip, 8000, 8010, kIpProtoTcp, 0},
        {kVip2, 443, 443, kIpProtoTcp, 1},
        {kVip2, 53, 53, kIpProtoUdp, 2},
    };
    for (const ServiceRule &r : rules)
        p.rules[p.ruleCount++] = r;
    p.services[1].scheduler = SchedulerKind::RoundRobin;
    p.serviceCount = 3;
    return p;
}

// A frame of servicePolicy()'s service 1 (kVip2 tcp 443).
FrameSpec toService1(std::uint16_t srcPort, std::uint8_t flags, std::uint32_t srcIp = kClientIp)
{
    FrameSpec f = tcp(srcPort, flags, srcIp);
    f.dstIp = kVip2;
    f.dstPort = 443;
    return f;
}

// Service 1's own weights ([[service]] weights): server 0 weighs 3, server 2 takes none of its
// new flows; servers 1 and 3 keep their cluster weight 1. Service 0 has none of its own.
const std::vector<ServiceWeight> kService1Weights = {{1, server(0).id, 3}, {1, server(2).id, 0}};

// L4/3 (docs/dispatcher.md "NAT mode"): kVip tcp 80 and udp 53 are NAT services, kVip2 tcp 443
// an L4/2 one. Every checksum of the expected frames is computed from scratch by the builder, so
// comparing bytes checks the incremental updates (RFC 1624).
DispatchPolicy natPolicy()
{
    DispatchPolicy p = policy(SchedulerKind::Maglev, true);
    p.vips = {kVip, kVip2};
    p.vipCount = 2;
    const ServiceRule rules[] = {
        {kVip, 80, 80, kIpProtoTcp, 0},
        {kVip, 53, 53, kIpProtoUdp, 1},
        {kVip2, 443, 443, kIpProtoTcp, 2},
    };
    for (const ServiceRule &r : rules)
        p.rules[p.ruleCount++] = r;
    p.services[0].mode = ForwardMode::Nat;
    p.services[1].mode = ForwardMode::Nat;
    p.serviceCount = 3;
    p.nat = true;
    return p;
}

QByteArray bytes(const std::vector<std::uint8_t> &v)
{
    return QByteArray(reinterpret_cast<const char *>(v.data()), qsizetype(v.size()));
}

} // namespace

class TestFastPath : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void synChoosesServerAndRewritesMacs_data();
    void synChoosesServerAndRewritesMacs();
    void inPlaceRewrite();
    void unknownNonSynBeforeReconstructionFollowsTheHash();
    void unknownNonSynAfterReconstructionIsDropped();
    void reconstructedFlowsArriveThroughTheQueue();
    void removedServerFlowsAreDroppedAndResumeOnRejoin();
    void unhealthyServerKeepsItsFlowsButGetsNoNewOnes();
    void synOnClosingFlowIsANewConnection();
    void reusedPortKeepsItsServerWhileHandingOver();
    void serverToClientIsNeverForwarded();
    void icmpErrorGoesToTheFlowsServer_data();
    void icmpErrorGoesToTheFlowsServer();
    void icmpErrorForAnUnknownFlowFollowsTheHashUntilReconstructionCompletes();
    void icmpDropsAreCountedByReason();
    void selfTakesNoNewFlowsUnlessAlone();
    void continuityTableMatchesTheOldDispatchers();
    void leastConnectionsAndRoundRobinFollowWeights();
    void fullTableAndNoTableAreCounted();
    void bogusFramesNeverReachTheFlowTable_data();
    void bogusFramesNeverReachTheFlowTable();
    void synFloodCannotStarveLegitimateClients_data();
    void synFloodCannotStarveLegitimateClients();
    void anEvictedFlowsNextPacketIsReadmittedUnderMaglev_data();
    void anEvictedFlowsNextPacketIsReadmittedUnderMaglev();
    void housekeepingExpiresFlows();
    void sweepIsPacedByTime();
    void handoffAcknowledgesAndReclaims();
    void randomFramesNeverCrash();
    void checksumUpdate_data();
    void checksumUpdate();
    void checksumUpdateMatchesRecomputation();
    void natRewriteKeepsChecksumsValid();
    void natTranslatesBothDirections_data();
    void natTranslatesBothDirections();
    void natRepliesNeedNoFlowState();
    void servicesDecideWhatIsForwarded_data();
    void servicesDecideWhatIsForwarded();
    void persistenceKeepsAClientOnOneServerWithinTheTimeout();
    void serviceWeightsBuildOwnTablesOnlyWhereTheyDiffer();
    void serviceWeightsScheduleEachServiceApart_data();
    void serviceWeightsScheduleEachServiceApart();
    void serviceContinuityFollowsTheServicesWeights();
    void persistenceRespectsAServiceWeightOfZero();
};

void TestFastPath::synChoosesServerAndRewritesMacs_data()
{
    QTest::addColumn<int>("scheduler");
    QTest::newRow("maglev") << int(SchedulerKind::Maglev);
    QTest::newRow("weighted least-connections") << int(SchedulerKind::WeightedLeastConnections);
    QTest::newRow("round-robin") << int(SchedulerKind::RoundRobin);
}

void TestFastPath::synChoosesServerAndRewritesMacs()
{
    QFETCH(int, scheduler);
    Harness h;
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind(scheduler))));
    std::set<std::uint16_t> used;
    for (std::uint16_t port = 1000; port < 1100; ++port) {
        const ProcessResult syn = h.send(tcp(port, kTcpSyn));
        QCOMPARE(int(syn.verdict), int(Verdict::Forward));
        QVERIFY(syn.slot < 4);
        used.insert(syn.slot);
        const auto expected = withMacs(h.last, server(syn.slot).mac, kDispatcherMac);
        QCOMPARE(std::vector<std::uint8_t>(h.out.begin(), h.out.begin() + syn.outLength), expected);
        // The rest of the connection sticks to the same server, whatever the scheduler says now.
        for (const std::uint8_t f : {std::uint8_t(kTcpAck), std::uint8_t(kTcpAck | kTcpPsh), std::uint8_t(kTcpAck)}) {
            const ProcessResult r = h.send(tcp(port, f));
            QCOMPARE(int(r.verdict), int(Verdict::Forward));
            QCOMPARE(r.slot, syn.slot);
        }
    }
    QCOMPARE(int(used.size()), 4);
    QCOMPARE(read(h.c().newFlows), 100u);
    QCOMPARE(read(h.c().forwarded), 400u);
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

void TestFastPath::inPlaceRewrite()
{
    Harness h;
    QVERIFY(h.publish(fourServers(), policy()));
    auto frame = buildFrame(tcp(5555, kTcpSyn));
    const auto original = frame;
    const ProcessResult r = h.fp->process(frame, frame, 1s);
    QCOMPARE(int(r.verdict), int(Verdict::Forward));
    QCOMPARE(frame, withMacs(original, server(r.slot).mac, kDispatcherMac));
    std::vector<std::uint8_t> tooSmall(10);
    const ProcessResult small = h.fp->process(original, tooSmall, 1s);
    QCOMPARE(name(small.reason), name(DropReason::OutputTooSmall));
}

void TestFastPath::unknownNonSynBeforeReconstructionFollowsTheHash()
{
    Harness h;
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::RoundRobin, false)));
    const ServerTable *t = h.tables.acquire();
    for (std::uint16_t port = 2000; port < 2200; ++port) {
        const FrameSpec s = tcp(port, kTcpAck | kTcpPsh);
        const ProcessResult r = h.send(s);
        QCOMPARE(int(r.verdict), int(Verdict::Forward));
        QCOMPARE(r.slot, t->continuityMaglev().lookup(flowHash(keyOf(s))));
        QCOMPARE(int(h.fp->flows().size()), port - 2000 + 1);
    }
    QCOMPARE(read(h.c().hashedFlows), 200u);
    QCOMPARE(read(h.c().newFlows), 0u);
    // An unknown reset goes the same way but creates no state.
    const FrameSpec rst = tcp(3000, kTcpRst);
    QCOMPARE(h.send(rst).slot, t->continuityMaglev().lookup(flowHash(keyOf(rst))));
    QCOMPARE(int(h.fp->flows().size()), 200);
}

void TestFastPath::unknownNonSynAfterReconstructionIsDropped()
{
    Harness h;
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::Maglev, false)));
    QCOMPARE(int(h.send(tcp(4000, kTcpAck)).verdict), int(Verdict::Forward)); // adopted by hash
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::Maglev, true)));
    const ProcessResult unknown = h.send(tcp(4001, kTcpAck));
    QCOMPARE(name(unknown.reason), name(DropReason::UnknownFlow));
    QCOMPARE(read(h.c().unknownFlowDropped), 1u);
    // The flow adopted before completion keeps flowing; a SYN is still scheduled.
    QCOMPARE(int(h.send(tcp(4000, kTcpAck)).verdict), int(Verdict::Forward));
    QCOMPARE(int(h.send(tcp(4002, kTcpSyn)).verdict), int(Verdict::Forward));
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

void TestFastPath::reconstructedFlowsArriveThroughTheQueue()
{
    Harness h;
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::Maglev, false)));
    // An agent on server 2 reports 100 connections; one of them was already adopted by hash.
    const FrameSpec adopted = tcp(6000, kTcpAck);
    const std::uint16_t hashed = h.send(adopted).slot;
    for (std::uint16_t port = 6000; port < 6100; ++port)
        QVERIFY(h.fp->reconstructionQueue().push({keyOf(tcp(port, kTcpAck)), 2}));
    const FastPath::Housekeeping hk = h.fp->housekeeping(2s);
    QCOMPARE(hk.reconstructed, std::size_t(100));
    QCOMPARE(read(h.c().reconstructedInserted), 99u);
    QCOMPARE(read(h.c().reconstructedCorrected), hashed == 2 ? 0u : 1u);
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::Maglev, true)));
    for (std::uint16_t port = 6000; port < 6100; ++port) {
        const ProcessResult r = h.send(tcp(port, kTcpAck), 3s);
        QCOMPARE(int(r.verdict), int(Verdict::Forward));
        QCOMPARE(int(r.slot), 2);
    }
    QCOMPARE(h.fp->flows().activeFlows(2), 100u);
}

void TestFastPath::removedServerFlowsAreDroppedAndResumeOnRejoin()
{
    // Decision (docs/fastpath.md): a flow whose server left the table is dropped and counted,
    // not rescheduled (another server would only answer with a reset, and with L4/2 the client
    // cannot tell). The entry is kept, unrefreshed, until idle expiry, so a server that comes
    // back under the same slot (e.g. after a ring purge) finds its connections again.
    Harness h;
    QVERIFY(h.publish(fourServers(), policy()));
    std::vector<std::uint16_t> slotOf(200);
    for (std::uint16_t i = 0; i < 200; ++i)
        slotOf[i] = h.send(tcp(7000 + i, kTcpSyn)).slot;
    QVERIFY(h.publish({server(0), server(2), server(3)}, policy()));
    int gone = 0;
    for (std::uint16_t i = 0; i < 200; ++i) {
        const ProcessResult r = h.send(tcp(7000 + i, kTcpAck));
        if (slotOf[i] == 1) {
            ++gone;
            QCOMPARE(name(r.reason), name(DropReason::ServerGone));
        } else {
            QCOMPARE(r.slot, slotOf[i]);
        }
    }
    QVERIFY(gone > 0);
    QCOMPARE(read(h.c().serverGone), std::uint64_t(gone));
    // New connections never go to the removed server; a new SYN on a dead flow is rescheduled.
    for (std::uint16_t i = 0; i < 200; ++i) {
        if (slotOf[i] == 1) {
            const ProcessResult r = h.send(tcp(7000 + i, kTcpSyn));
            QCOMPARE(int(r.verdict), int(Verdict::Forward));
            QVERIFY(r.slot != 1);
            break;
        }
    }
    for (std::uint16_t port = 8000; port < 8100; ++port)
        QVERIFY(h.send(tcp(port, kTcpSyn)).slot != 1);
    // The server rejoins: its remaining flows resume.
    QVERIFY(h.publish(fourServers(), policy()));
    int resumed = 0;
    for (std::uint16_t i = 0; i < 200; ++i) {
        if (slotOf[i] == 1) {
            const ProcessResult r = h.send(tcp(7000 + i, kTcpAck));
            resumed += r.verdict == Verdict::Forward && r.slot == 1;
        }
    }
    QCOMPARE(resumed, gone - 1);
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

void TestFastPath::unhealthyServerKeepsItsFlowsButGetsNoNewOnes()
{
    Harness h;
    QVERIFY(h.publish(fourServers(), policy()));
    std::uint16_t port = 9000;
    while (h.send(tcp(port, kTcpSyn)).slot != 3)
        ++port;
    QVERIFY(h.publish({server(0), server(1), server(2), server(3, false, 1, false)}, policy()));
    QCOMPARE(int(h.send(tcp(port, kTcpAck)).slot), 3);
    for (std::uint16_t p = 10000; p < 10200; ++p)
        QVERIFY(h.send(tcp(p, kTcpSyn)).slot != 3);
}

void TestFastPath::synOnClosingFlowIsANewConnection()
{
    Harness h;
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::RoundRobin)));
    const std::uint16_t first = h.send(tcp(11000, kTcpSyn)).slot;
    QCOMPARE(h.send(tcp(11000, kTcpSyn)).slot, first); // a retransmitted SYN sticks
    h.send(tcp(11000, kTcpFin | kTcpAck));
    QCOMPARE(int(h.fp->flows().find(keyOf(tcp(11000, 0)))->state()), int(FlowState::Closing));
    const ProcessResult again = h.send(tcp(11000, kTcpSyn)); // the port is reused
    QCOMPARE(int(again.verdict), int(Verdict::Forward));
    QCOMPARE(int(h.fp->flows().find(keyOf(tcp(11000, 0)))->state()), int(FlowState::SynSeen));
    QCOMPARE(read(h.c().newFlows), 2u);
}

// While handing over, the successor's copy of the table names a closing flow's server: a SYN
// that reuses the port stays with that server (round robin would have moved it).
void TestFastPath::reusedPortKeepsItsServerWhileHandingOver()
{
    Harness h;
    DispatchPolicy handingOver = policy(SchedulerKind::RoundRobin);
    handingOver.keepServerOnReuse = true;
    QVERIFY(h.publish(fourServers(), handingOver));
    const std::uint16_t first = h.send(tcp(12000, kTcpSyn)).slot;
    h.send(tcp(12000, kTcpFin | kTcpAck));
    for (int i = 0; i < 4; ++i) {
        const ProcessResult again = h.send(tcp(12000, kTcpSyn)); // reused again and again
        QCOMPARE(int(again.verdict), int(Verdict::Forward));
        QCOMPARE(again.slot, first);
        QCOMPARE(int(h.fp->flows().find(keyOf(tcp(12000, 0)))->state()), int(FlowState::SynSeen));
        h.send(tcp(12000, kTcpFin | kTcpAck));
    }
    QCOMPARE(read(h.c().reusedDuringHandover), 4u);
    QCOMPARE(read(h.c().newFlows), 1u);
}

void TestFastPath::serverToClientIsNeverForwarded()
{
    Harness h;
    QVERIFY(h.publish(fourServers(), policy()));
    FrameSpec reply;
    reply.srcIp = kVip;
    reply.srcPort = 80;
    reply.dstIp = kClientIp;
    reply.dstPort = 40000;
    reply.tcpFlags = kTcpSyn | kTcpAck;
    QCOMPARE(name(h.send(reply).reason), name(DropReason::ServerToClient));
    FrameSpec other = tcp(1234, kTcpSyn);
    other.dstIp = ip4(10, 0, 0, 99);
    QCOMPARE(name(h.send(other).reason), name(DropReason::NotForVip));
    QCOMPARE(read(h.c().serverToClient), 1u);
    QCOMPARE(read(h.c().notForVip), 1u);
    QCOMPARE(int(h.fp->flows().size()), 0);
}

void TestFastPath::icmpErrorGoesToTheFlowsServer_data()
{
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("code");
    QTest::addColumn<int>("proto");
    QTest::addColumn<bool>("reconstructed");
    QTest::newRow("frag-needed, tcp") << 3 << 4 << int(kIpProtoTcp) << false;
    QTest::newRow("frag-needed, tcp, after reconstruction") << 3 << 4 << int(kIpProtoTcp) << true;
    QTest::newRow("port unreachable, udp") << 3 << 3 << int(kIpProtoUdp) << true;
    QTest::newRow("time exceeded, tcp") << 11 << 0 << int(kIpProtoTcp) << true;
}

// PMTU discovery through the dispatcher (LVS ip_vs_in_icmp): a router's "fragmentation needed"
// about a server's reply is addressed to the VIP; it must reach the server that owns the flow,
// only the MACs changed, and leave the flow as it was.
void TestFastPath::icmpErrorGoesToTheFlowsServer()
{
    QFETCH(int, type);
    QFETCH(int, code);
    QFETCH(int, proto);
    QFETCH(bool, reconstructed);
    Harness h;
    // Round-robin places flows where the continuity hash would not, so following the hash
    // instead of the table would be caught.
    QVERIFY(h.publish({server(0), server(1), server(2), server(3, true)}, policy(SchedulerKind::RoundRobin, true)));
    const ServerTable *t = h.tables.acquire();
    int unlikeTheHash = 0;
    for (std::uint16_t port = 30000; port < 30040; ++port) {
        FrameSpec opener = tcp(port, kTcpSyn);
        opener.proto = std::uint8_t(proto);
        const std::uint16_t slot = h.send(opener, 1s).slot;
        QVERIFY(slot < 4);
        if (!reconstructed) // a table without completion must not change what a known flow gets
            QVERIFY(h.publish({server(0), server(1), server(2), server(3, true)}, policy(SchedulerKind::RoundRobin, false)));
        const FlowEntry before = *h.fp->flows().find(keyOf(opener));
        const IcmpSpec error = icmpAbout(port, std::uint8_t(type), std::uint8_t(code), std::uint8_t(proto));
        QVERIFY(flowKeyOf(error) == keyOf(opener));
        const ProcessResult r = h.send(error, 9s);
        QCOMPARE(int(r.verdict), int(slot == 3 ? Verdict::DeliverLocal : Verdict::Forward));
        QCOMPARE(r.slot, slot);
        QCOMPARE(h.output(r), withMacs(buildIcmpFrame(error), server(slot).mac, kDispatcherMac));
        const FlowEntry after = *h.fp->flows().find(keyOf(opener));
        QCOMPARE(int(after.state()), int(before.state()));
        QCOMPARE(after.lastSeenMs, before.lastSeenMs);
        unlikeTheHash += slot != t->continuityMaglev().lookup(flowHash(keyOf(opener)));
        if (!reconstructed)
            QVERIFY(h.publish({server(0), server(1), server(2), server(3, true)}, policy(SchedulerKind::RoundRobin, true)));
    }
    QVERIFY(unlikeTheHash > 0);
    QCOMPARE(read(h.c().icmpForwarded), 40u);
    QCOMPARE(read(h.c().forwarded) + read(h.c().deliveredLocal), 80u);
    QCOMPARE(read(h.c().newFlows), 40u);
    QCOMPARE(int(h.fp->flows().size()), 40);
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

// Same policy as a TCP non-SYN of an unknown flow: before reconstruction completes, the
// continuity Maglev table (where the previous dispatcher put it); afterwards, dropped. Unlike
// a data packet, the error adopts no flow.
void TestFastPath::icmpErrorForAnUnknownFlowFollowsTheHashUntilReconstructionCompletes()
{
    Harness h;
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::RoundRobin, false)));
    const ServerTable *t = h.tables.acquire();
    std::set<std::uint16_t> used;
    for (std::uint16_t port = 31000; port < 31100; ++port) {
        const IcmpSpec error = icmpAbout(port);
        const ProcessResult r = h.send(error);
        QCOMPARE(int(r.verdict), int(Verdict::Forward));
        QCOMPARE(r.slot, t->continuityMaglev().lookup(flowHash(flowKeyOf(error))));
        QCOMPARE(h.output(r), withMacs(h.last, server(r.slot).mac, kDispatcherMac));
        used.insert(r.slot);
    }
    QCOMPARE(int(used.size()), 4);
    QCOMPARE(int(h.fp->flows().size()), 0);
    QCOMPARE(read(h.c().hashedFlows), 0u);
    QCOMPARE(read(h.c().icmpForwarded), 100u);
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::RoundRobin, true)));
    const ProcessResult late = h.send(icmpAbout(31000));
    QCOMPARE(name(late.reason), name(DropReason::Icmp));
    QCOMPARE(name(late.icmp), name(IcmpVerdict::UnknownFlow));
    QCOMPARE(read(h.c().icmpDropped[std::size_t(IcmpVerdict::UnknownFlow)]), 1u);
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

void TestFastPath::icmpDropsAreCountedByReason()
{
    Harness h;
    QCOMPARE(name(h.send(icmpAbout(32000)).reason), name(DropReason::NoTable));
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::Maglev, true)));
    // A flow whose server leaves: its errors are dropped, as its packets are.
    std::uint16_t port = 32001;
    const std::uint16_t slot = h.send(tcp(port, kTcpSyn)).slot;
    std::vector<ServerInfo> rest;
    for (std::uint16_t i = 0; i < 4; ++i) {
        if (i != slot)
            rest.push_back(server(i));
    }
    QVERIFY(h.publish(rest, policy(SchedulerKind::Maglev, true)));
    QCOMPARE(name(h.send(icmpAbout(port)).icmp), name(IcmpVerdict::ServerGone));
    // Echo (ping to the VIP) and other types stay dropped, counted.
    QCOMPARE(name(h.send(icmpAbout(port, 8, 0)).icmp), name(IcmpVerdict::UnhandledType));
    // Not about one of our replies.
    IcmpSpec foreign = icmpAbout(port);
    foreign.quoted.srcIp = ip4(10, 0, 0, 99);
    QCOMPARE(name(h.send(foreign).icmp), name(IcmpVerdict::EmbeddedNotFromVip));
    // The ICMP message itself not addressed to the VIP.
    IcmpSpec elsewhere = icmpAbout(port);
    elsewhere.dstIp = ip4(10, 0, 0, 99);
    QCOMPARE(name(h.send(elsewhere).reason), name(DropReason::NotForVip));
    IcmpSpec fromVip = icmpAbout(port);
    fromVip.srcIp = kVip;
    fromVip.dstIp = kClientIp;
    QCOMPARE(name(h.send(fromVip).reason), name(DropReason::ServerToClient));
    // (L4/3 errors are translated: natTranslatesBothDirections.)
    // Nobody healthy: the continuity table is empty.
    QVERIFY(h.publish({server(0, false, 1, false)}, policy(SchedulerKind::Maglev, false)));
    QCOMPARE(name(h.send(icmpAbout(32003)).icmp), name(IcmpVerdict::NoServer));
    // The caller's buffer too small.
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::Maglev, false)));
    std::vector<std::uint8_t> tooSmall(20);
    const ProcessResult small = h.fp->process(buildIcmpFrame(icmpAbout(32004)), tooSmall, 1s);
    QCOMPARE(name(small.reason), name(DropReason::OutputTooSmall));
    QCOMPARE(int(small.parse), int(ParseVerdict::Icmp));

    for (const IcmpVerdict v : {IcmpVerdict::ServerGone, IcmpVerdict::UnhandledType, IcmpVerdict::EmbeddedNotFromVip,
                                IcmpVerdict::NoServer})
        QCOMPARE(read(h.c().icmpDropped[std::size_t(v)]), 1u);
    QCOMPARE(read(h.c().noTable), 1u);
    QCOMPARE(read(h.c().notForVip), 1u);
    QCOMPARE(read(h.c().serverToClient), 1u);
    QCOMPARE(read(h.c().outputTooSmall), 1u);
    QCOMPARE(read(h.c().icmpForwarded), 0u);
    QCOMPARE(read(h.c().malformed[std::size_t(ParseVerdict::Icmp)]), 0u);
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

void TestFastPath::selfTakesNoNewFlowsUnlessAlone()
{
    Harness h;
    QVERIFY(h.publish({server(0, true), server(1), server(2)}, policy()));
    for (std::uint16_t port = 12000; port < 12300; ++port)
        QVERIFY(h.send(tcp(port, kTcpSyn)).slot != 0);
    // Existing flows placed on this node by the old dispatcher are delivered locally.
    int local = 0;
    for (std::uint16_t port = 13000; port < 13300; ++port) {
        const ProcessResult r = h.send(tcp(port, kTcpAck));
        if (r.verdict == Verdict::DeliverLocal) {
            ++local;
            QCOMPARE(int(r.slot), 0);
            QCOMPARE(std::vector<std::uint8_t>(h.out.begin(), h.out.begin() + r.outLength),
                     withMacs(h.last, server(0).mac, kDispatcherMac));
        }
    }
    QVERIFY(local > 50 && local < 150); // about a third
    QCOMPARE(read(h.c().deliveredLocal), std::uint64_t(local));
    // The last node alive serves alone.
    QVERIFY(h.publish({server(0, true)}, policy()));
    QCOMPARE(int(h.send(tcp(14000, kTcpSyn)).verdict), int(Verdict::DeliverLocal));
    // Nobody healthy: counted, dropped.
    QVERIFY(h.publish({server(0, true, 1, false)}, policy()));
    QCOMPARE(name(h.send(tcp(14001, kTcpSyn)).reason), name(DropReason::NoServer));
}

void TestFastPath::continuityTableMatchesTheOldDispatchers()
{
    // Old dispatcher D (slot 4) schedules new flows over servers 0..3, one of which (N, slot 2)
    // becomes the next dispatcher when D dies. N's continuity table must equal D's new-flow
    // table, so every flow D placed is found again without state.
    auto old = ServerTable::build({server(0), server(1), server(2), server(3), server(4, true)}, policy(), 1);
    auto next = ServerTable::build({server(0), server(1), server(2, true), server(3)}, policy(), 1);
    QVERIFY(old && next);
    const auto a = old->newFlowMaglev().entries();
    const auto b = next->continuityMaglev().entries();
    QVERIFY(std::equal(a.begin(), a.end(), b.begin(), b.end()));
}

void TestFastPath::leastConnectionsAndRoundRobinFollowWeights()
{
    {
        Harness h;
        QVERIFY(h.publish({server(0, false, 3), server(1, false, 1)}, policy(SchedulerKind::RoundRobin)));
        int toHeavy = 0;
        for (std::uint16_t port = 15000; port < 15400; ++port)
            toHeavy += h.send(tcp(port, kTcpSyn)).slot == 0;
        QCOMPARE(toHeavy, 300);
    }
    {
        Harness h;
        QVERIFY(h.publish({server(0, false, 1), server(1, false, 1)}, policy(SchedulerKind::WeightedLeastConnections)));
        // Equal weights: SYNs alternate between the two least-loaded servers.
        for (std::uint16_t port = 16000; port < 16100; ++port)
            h.send(tcp(port, kTcpSyn));
        QCOMPARE(h.fp->flows().activeFlows(0), 50u);
        QCOMPARE(h.fp->flows().activeFlows(1), 50u);
        QVERIFY(h.publish({server(0, false, 3), server(1, false, 1)}, policy(SchedulerKind::WeightedLeastConnections)));
        for (std::uint16_t port = 17000; port < 17100; ++port)
            h.send(tcp(port, kTcpSyn));
        QCOMPARE(h.fp->flows().activeFlows(0), 150u); // 3:1 of 200
        QCOMPARE(h.fp->flows().activeFlows(1), 50u);
    }
}

// A table full of answered flows refuses a new one; a table full of unanswered ones makes room
// by evicting the least recently seen (SynFloodLimits).
void TestFastPath::fullTableAndNoTableAreCounted()
{
    Harness h(4);
    QCOMPARE(name(h.send(tcp(1, kTcpSyn)).reason), name(DropReason::NoTable));
    QVERIFY(h.publish(fourServers(), policy()));
    for (std::uint16_t port = 1; port <= 4; ++port) {
        QCOMPARE(int(h.send(tcp(port, kTcpSyn), FastTime(port * 1000)).verdict), int(Verdict::Forward));
        QCOMPARE(int(h.send(tcp(port, kTcpAck), FastTime(port * 1000)).verdict), int(Verdict::Forward));
    }
    QCOMPARE(name(h.send(tcp(5, kTcpSyn)).reason), name(DropReason::TableFull));
    QCOMPARE(read(h.c().tableFull), 1u);
    QCOMPARE(read(h.c().noTable), 1u);
    QCOMPARE(read(h.c().synSeenEvicted), 0u);

    SynFloodLimits evictOnlyWhenFull;
    evictOnlyWhenFull.budgetDivisor = 1;
    Harness unanswered(4, evictOnlyWhenFull);
    QVERIFY(unanswered.publish(fourServers(), policy()));
    for (std::uint16_t port = 1; port <= 4; ++port)
        unanswered.send(tcp(port, kTcpSyn), FastTime(port * 1000));
    unanswered.send(tcp(1, kTcpSyn), 5ms); // a retransmission refreshes port 1: port 2 is now the oldest
    QCOMPARE(read(unanswered.c().synSeenEvicted), 0u);
    QCOMPARE(int(unanswered.send(tcp(5, kTcpSyn), 6ms).verdict), int(Verdict::Forward));
    QCOMPARE(read(unanswered.c().synSeenEvicted), 1u);
    QCOMPARE(read(unanswered.c().tableFull), 0u);
    QVERIFY(!unanswered.fp->flows().find(keyOf(tcp(2, 0))));
    for (const std::uint16_t port : {1, 3, 4, 5})
        QVERIFY(unanswered.fp->flows().find(keyOf(tcp(port, 0))));
}

// Sources no client has, and 802.1Q tags, are dropped before the flow lookup whatever the
// packet: not adopted by the continuity hash, not routed as ICMP errors. Each row: a frame to
// the VIP, the reason it is dropped under.
void TestFastPath::bogusFramesNeverReachTheFlowTable_data()
{
    QTest::addColumn<QByteArray>("frame");
    QTest::addColumn<int>("reason");
    auto row = [](const char *name, const std::vector<std::uint8_t> &frame, BogusVerdict v) {
        QTest::newRow(name) << QByteArray(reinterpret_cast<const char *>(frame.data()), qsizetype(frame.size())) << int(v);
    };
    auto ack = [](std::uint32_t srcIp) {
        FrameSpec s = tcp(7000, kTcpAck | kTcpPsh, srcIp);
        s.payload = 10;
        return s;
    };
    auto icmpFrom = [](std::uint32_t srcIp) {
        IcmpSpec s = icmpAbout(7000);
        s.srcIp = srcIp;
        return s;
    };
    row("SYN from the VIP", buildFrame(tcp(7000, kTcpSyn, kVip)), BogusVerdict::SourceVip);
    row("data from 0.0.0.0 (would be adopted by the hash)", buildFrame(ack(ip4(0, 0, 0, 0))), BogusVerdict::SourceThisNetwork);
    row("data from 127.0.0.1", buildFrame(ack(ip4(127, 0, 0, 1))), BogusVerdict::SourceLoopback);
    row("RST from 224.0.0.5", buildFrame(tcp(7000, kTcpRst, ip4(224, 0, 0, 5))), BogusVerdict::SourceMulticast);
    row("SYN from 250.1.2.3", buildFrame(tcp(7000, kTcpSyn, ip4(250, 1, 2, 3))), BogusVerdict::SourceReserved);
    row("SYN from 255.255.255.255", buildFrame(tcp(7000, kTcpSyn, ip4(255, 255, 255, 255))), BogusVerdict::SourceBroadcast);
    FrameSpec tagged = ack(kClientIp);
    tagged.vlan = true;
    row("data with an 802.1Q tag", buildFrame(tagged), BogusVerdict::VlanTagged);
    row("frag-needed from 127.0.0.1", buildIcmpFrame(icmpFrom(ip4(127, 0, 0, 1))), BogusVerdict::SourceLoopback);
    row("frag-needed from the VIP to the VIP", buildIcmpFrame(icmpFrom(kVip)), BogusVerdict::SourceVip);
    IcmpSpec taggedIcmp = icmpAbout(7000);
    taggedIcmp.vlan = true;
    row("frag-needed with an 802.1Q tag", buildIcmpFrame(taggedIcmp), BogusVerdict::VlanTagged);
}

void TestFastPath::bogusFramesNeverReachTheFlowTable()
{
    QFETCH(QByteArray, frame);
    QFETCH(int, reason);
    Harness h;
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::Maglev, false)));
    const ProcessResult r = h.sendBytes(std::vector<std::uint8_t>(frame.begin(), frame.end()), 1s);
    QCOMPARE(name(r.reason), name(DropReason::Bogus));
    QCOMPARE(QByteArray(bogusVerdictName(r.bogus)), QByteArray(bogusVerdictName(BogusVerdict(reason))));
    QCOMPARE(read(h.c().bogusDropped[std::size_t(reason)]), 1u);
    QCOMPARE(int(h.fp->flows().size()), 0);
    QCOMPARE(read(h.c().hashedFlows) + read(h.c().newFlows) + read(h.c().icmpForwarded), 0u);
    QCOMPARE(h.accounted(), read(h.c().framesIn));
    // The same client port from a real client is served.
    QCOMPARE(int(h.send(tcp(7000, kTcpSyn)).verdict), int(Verdict::Forward));
}

// A legitimate handshake whose ACK was lost (a saturated capture buffer) while the flood evicted
// its unanswered entry: under Maglev the next packet finds the SYN's server again, as long as an
// eviction happened within the syn-seen lifetime; other schedulers cannot know that server.
void TestFastPath::anEvictedFlowsNextPacketIsReadmittedUnderMaglev_data()
{
    QTest::addColumn<int>("scheduler");
    QTest::addColumn<int>("flags");
    QTest::addColumn<int>("afterMs"); // after the eviction
    QTest::addColumn<bool>("readmitted");
    const int maglev = int(SchedulerKind::Maglev);
    QTest::newRow("maglev, the ACK 1 s later") << maglev << int(kTcpAck) << 1000 << true;
    QTest::newRow("maglev, data 29.999 s later") << maglev << int(kTcpAck | kTcpPsh) << 29999 << true;
    QTest::newRow("maglev, 30 s later: no eviction that recent") << maglev << int(kTcpAck) << 30000 << false;
    QTest::newRow("maglev, a FIN") << maglev << int(kTcpFin | kTcpAck) << 1000 << false;
    QTest::newRow("maglev, a RST") << maglev << int(kTcpRst) << 1000 << false;
    QTest::newRow("round-robin") << int(SchedulerKind::RoundRobin) << int(kTcpAck) << 1000 << false;
    QTest::newRow("weighted least-connections") << int(SchedulerKind::WeightedLeastConnections) << int(kTcpAck) << 1000
                                                << false;
}

void TestFastPath::anEvictedFlowsNextPacketIsReadmittedUnderMaglev()
{
    QFETCH(int, scheduler);
    QFETCH(int, flags);
    QFETCH(int, afterMs);
    QFETCH(bool, readmitted);
    Harness h(4); // syn-seen budget 1: the second SYN evicts the first
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind(scheduler), true)));
    const ProcessResult first = h.send(tcp(1, kTcpSyn), 1s);
    QCOMPARE(int(h.send(tcp(2, kTcpSyn), 2s).verdict), int(Verdict::Forward));
    QCOMPARE(read(h.c().synSeenEvicted), 1u);
    QVERIFY(!h.fp->flows().find(keyOf(tcp(1, 0))));

    const ProcessResult r = h.send(tcp(1, std::uint8_t(flags)), 2s + std::chrono::milliseconds(afterMs));
    if (!readmitted) {
        QCOMPARE(name(r.reason), name(DropReason::UnknownFlow));
        QCOMPARE(read(h.c().readmittedFlows), 0u);
        QVERIFY(!h.fp->flows().find(keyOf(tcp(1, 0))));
        return;
    }
    QCOMPARE(int(r.verdict), int(Verdict::Forward));
    QCOMPARE(r.slot, first.slot);
    QCOMPARE(read(h.c().readmittedFlows), 1u);
    const FlowEntry *e = h.fp->flows().find(keyOf(tcp(1, 0)));
    QVERIFY(e);
    QCOMPARE(int(e->state()), int(FlowState::SynSeen)); // unanswered until its next packet
    QCOMPARE(int(e->origin()), int(FlowOrigin::Hashed));
    h.send(tcp(1, kTcpAck | kTcpPsh), 3s + std::chrono::milliseconds(afterMs));
    QCOMPARE(int(h.fp->flows().find(keyOf(tcp(1, 0)))->state()), int(FlowState::Established));
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

// A spoofed SYN flood at 20k SYN/s for 10 s (an injected clock) into a 16k-flow table, 12 times
// the table's size, with a legitimate client connecting every 100 ms and one long connection
// sending every second. With the defence the table never fills, every legitimate handshake gets
// its entry and keeps it (answered flows are never evicted); without it (the baseline row) the
// flood fills the table within a second and legitimate SYNs are refused: the flood is strong
// enough for the first row to mean something.
void TestFastPath::synFloodCannotStarveLegitimateClients_data()
{
    QTest::addColumn<int>("pressureDivisor");
    QTest::addColumn<int>("budgetDivisor");
    QTest::addColumn<bool>("defended");
    QTest::newRow("default limits") << int(SynFloodLimits{}.pressureDivisor) << int(SynFloodLimits{}.budgetDivisor) << true;
    QTest::newRow("eviction only, no short lifetime") << 0 << 4 << true;
    QTest::newRow("baseline: no defence") << 0 << 0 << false;
}

void TestFastPath::synFloodCannotStarveLegitimateClients()
{
    QFETCH(int, pressureDivisor);
    QFETCH(int, budgetDivisor);
    QFETCH(bool, defended);
    constexpr std::size_t kMaxFlows = 1 << 14;
    constexpr int kFloodSyns = 200000;
    constexpr FastTime kGap{50}; // µs between flood SYNs: 20k/s
    FastPathConfig config;
    config.maxFlows = kMaxFlows;
    config.synFlood.pressureDivisor = std::size_t(pressureDivisor);
    config.synFlood.budgetDivisor = std::size_t(budgetDivisor);
    ServerTableHandoff tables;
    QVERIFY(tables.publish(ServerTable::build(fourServers(), policy(SchedulerKind::Maglev, true), 1)));
    FastPath fp(config, tables);
    std::vector<std::uint8_t> out(256);
    FastTime now{1'000'000};
    auto send = [&](const std::vector<std::uint8_t> &frame) { return fp.process(frame, out, now); };

    // One template for the flood, its source address and port rewritten per SYN (the fast path
    // does not check checksums); sources from 198.18.0.0/15 (RFC 2544), as a flooder spoofs them.
    std::vector<std::uint8_t> spoofed = buildFrame(tcp(1, kTcpSyn));
    std::mt19937 rng(11);
    const FrameSpec longLived = tcp(5000, kTcpAck | kTcpPsh);
    QCOMPARE(int(send(buildFrame(tcp(5000, kTcpSyn))).verdict), int(Verdict::Forward));
    const std::uint16_t longSlot = send(buildFrame(longLived)).slot;

    int legitAttempts = 0, legitServed = 0;
    std::size_t mostSynSeen = 0, mostFlows = 0;
    std::uint16_t legitPort = 20000;
    for (int i = 0; i < kFloodSyns; ++i) {
        storeBe32(spoofed.data() + 14 + 12, ip4(198, 18, 0, 0) + (rng() & 0x1FFFF));
        storeBe16(spoofed.data() + 34, std::uint16_t(rng()));
        now += kGap;
        send(spoofed);
        if (i % 2000 == 1000) { // a legitimate connection: SYN, 20 flood SYNs (1 ms), ACK, data, FIN
            ++legitAttempts;
            const std::uint16_t port = legitPort++;
            const ProcessResult syn = send(buildFrame(tcp(port, kTcpSyn)));
            for (int j = 0; j < 20; ++j, ++i) {
                storeBe32(spoofed.data() + 14 + 12, ip4(198, 18, 0, 0) + (rng() & 0x1FFFF));
                now += kGap;
                send(spoofed);
            }
            const ProcessResult ack = send(buildFrame(tcp(port, kTcpAck)));
            const ProcessResult data = send(buildFrame(tcp(port, kTcpAck | kTcpPsh)));
            if (syn.verdict == Verdict::Forward && ack.verdict == Verdict::Forward && data.slot == syn.slot)
                ++legitServed;
            send(buildFrame(tcp(port, kTcpFin | kTcpAck)));
        }
        if (i % 20000 == 0) // the long connection sends every second
            QCOMPARE(send(buildFrame(longLived)).slot, longSlot);
        if (i % 256 == 0)
            fp.housekeeping(now);
        mostSynSeen = std::max(mostSynSeen, fp.flows().synSeenFlows());
        mostFlows = std::max(mostFlows, fp.flows().size());
    }
    const FastPathCounters &c = fp.counters();
    qInfo("%d spoofed SYNs at 20k/s into %zu flows: %d of %d legitimate connections served, at most %zu flows "
          "(%zu syn-seen), %llu evicted, %llu expired, %llu refused (table full)",
          kFloodSyns, kMaxFlows, legitServed, legitAttempts, mostFlows, mostSynSeen,
          static_cast<unsigned long long>(read(c.synSeenEvicted)), static_cast<unsigned long long>(read(c.expiredFlows)),
          static_cast<unsigned long long>(read(c.tableFull)));
    QCOMPARE(legitAttempts, 100);
    QCOMPARE(framesAccounted(c), read(c.framesIn));
    if (!defended) {
        QCOMPARE(mostFlows, kMaxFlows);
        QVERIFY(read(c.tableFull) > 0);
        QVERIFY(legitServed < legitAttempts / 2);
        return;
    }
    QCOMPARE(legitServed, legitAttempts);
    QCOMPARE(read(c.tableFull), 0u);
    QVERIFY(mostFlows < kMaxFlows);
    // Unanswered flows stay near the budget (a SYN whose sample holds none is inserted anyway).
    QVERIFY(mostSynSeen <= kMaxFlows / 4 + kMaxFlows / 64);
    QVERIFY(read(c.synSeenEvicted) > 0);
    const FlowEntry *survivor = fp.flows().find(keyOf(longLived));
    QVERIFY(survivor);
    QCOMPARE(int(survivor->state()), int(FlowState::Established));
    QCOMPARE(survivor->slot, longSlot);
    // New legitimate SYNs still get entries after the flood.
    QCOMPARE(int(send(buildFrame(tcp(9, kTcpSyn))).verdict), int(Verdict::Forward));
    QVERIFY(fp.flows().find(keyOf(tcp(9, 0))));
}

void TestFastPath::housekeepingExpiresFlows()
{
    Harness h(64);
    QVERIFY(h.publish(fourServers(), policy()));
    for (std::uint16_t port = 1; port <= 10; ++port)
        h.send(tcp(port, kTcpSyn), 1s);
    h.send(tcp(1, kTcpAck), 20s); // established: idle limit 300 s
    std::size_t expired = 0;
    for (int i = 0; i < 10; ++i)
        expired += h.fp->housekeeping(60s).expired; // SYN-seen limit 30 s
    QCOMPARE(expired, std::size_t(9));
    QCOMPARE(read(h.c().expiredFlows), 9u);
    QCOMPARE(int(h.fp->flows().size()), 1);
}

// The expiry sweep covers the table once per sweepPass whatever the call rate: a thread that
// calls housekeeping for every frame must not sweep more (it cost a fifth of the dispatcher's
// CPU at 1,000 connections/s), one that calls rarely must not sweep less.
void TestFastPath::sweepIsPacedByTime()
{
    Harness h(1024);
    const FastTime pass = FastPathConfig{}.sweepPass;
    QVERIFY(h.publish(fourServers(), policy()));
    h.fp->housekeeping(100s); // the first call: the whole (empty) table is owed
    for (std::uint16_t port = 1; port <= 10; ++port)
        h.send(tcp(port, kTcpSyn), 50s); // idle 50 s at t = 100 s: past the SYN-seen limit (30 s)
    const std::size_t slotsPerUs = h.fp->flows().capacity(); // slot-µs per µs of elapsed time
    // 1,000 calls 1 µs apart owe 1,000 * capacity / pass slots: fewer than one.
    QVERIFY(1000 * slotsPerUs < std::size_t(pass.count()));
    std::size_t expired = 0;
    for (int i = 1; i <= 1000; ++i)
        expired += h.fp->housekeeping(100s + FastTime(i)).expired;
    QCOMPARE(expired, std::size_t(0));
    QCOMPARE(int(h.fp->flows().size()), 10);
    // One more pass's worth of time, in 100 calls: every slot is looked at, all ten retire.
    for (int i = 1; i <= 100; ++i)
        expired += h.fp->housekeeping(100s + FastTime(1000) + pass * i / 100).expired;
    QCOMPARE(expired, std::size_t(10));
    QCOMPARE(int(h.fp->flows().size()), 0);
}

void TestFastPath::handoffAcknowledgesAndReclaims()
{
    Harness h;
    QVERIFY(h.publish(fourServers(), policy()));
    QVERIFY(h.publish(fourServers(), policy()));
    QVERIFY(h.publish(fourServers(), policy()));
    QCOMPARE(h.tables.reclaim(), std::size_t(0)); // the fast path has acknowledged nothing yet
    h.send(tcp(1, kTcpSyn));
    QCOMPARE(h.tables.ackedGeneration(), std::uint64_t(3));
    QCOMPARE(h.tables.reclaim(), std::size_t(2));
    QCOMPARE(h.tables.ownedCount(), std::size_t(1));
    QVERIFY(!h.tables.publish(ServerTable::build(fourServers(), policy(), 3))); // not newer
    QVERIFY(!ServerTable::build({server(1), server(1)}, policy(), 9));       // duplicate slot
    QVERIFY(h.publish(fourServers(), policy()));
    QCOMPARE(h.tables.reclaimStopped(), std::size_t(1));
    QCOMPARE(int(h.send(tcp(1, kTcpAck)).verdict), int(Verdict::Forward));
    QCOMPARE(h.tables.ackedGeneration(), std::uint64_t(4));
}

void TestFastPath::randomFramesNeverCrash()
{
    // 100k frames from a seeded generator: half random bytes of random length, half valid
    // frames with random bytes flipped (one in four of those an ICMP error, half of them
    // about the flow of the last TCP/UDP frame, so some find their flow). Nothing may crash, and every frame must
    // be counted.
    Harness h(1 << 14);
    QVERIFY(h.publish(fourServers(), policy(SchedulerKind::Maglev, true)));
    std::mt19937_64 rng(0x5a5a);
    std::vector<std::uint8_t> frame;
    std::vector<std::uint8_t> out(2048);
    std::uint16_t lastPort = 0;
    std::uint8_t lastProto = kIpProtoTcp;
    for (int i = 0; i < 100000; ++i) {
        if (i % 2) {
            frame.resize(rng() % 200);
            for (auto &b : frame)
                b = std::uint8_t(rng());
            if (frame.size() >= 14 && rng() % 2) { // make the ethertype plausible more often
                frame[12] = 0x08;
                frame[13] = 0x00;
            }
        } else if (i % 8 == 0) {
            // ICMP errors (and pings) quoting a flow of the last ports used, then mutated.
            IcmpSpec s = icmpAbout(rng() % 2 ? lastPort : std::uint16_t(rng()), rng() % 4 ? 3 : rng() % 2 ? 11 : 8,
                                   std::uint8_t(rng() % 16), lastProto);
            s.vlan = rng() % 4 == 0;
            s.quoted.ihl = std::uint8_t(4 + rng() % 12);
            s.quoteBytes = rng() % 4 ? 0 : rng() % 100;
            frame = buildIcmpFrame(s);
            for (int flips = int(rng() % 4); flips > 0; --flips)
                frame[rng() % frame.size()] = std::uint8_t(rng());
            frame.resize(frame.size() - rng() % 3);
        } else {
            FrameSpec s = tcp(std::uint16_t(rng()), std::uint8_t(rng()));
            s.vlan = rng() % 4 == 0;
            s.proto = rng() % 3 ? kIpProtoTcp : kIpProtoUdp;
            lastPort = s.srcPort;
            lastProto = s.proto;
            s.payload = rng() % 64;
            frame = buildFrame(s);
            for (int flips = int(rng() % 4); flips > 0; --flips)
                frame[rng() % frame.size()] = std::uint8_t(rng());
            frame.resize(frame.size() - rng() % 3);
        }
        h.fp->process(frame, out, FastTime(i * 10));
        if (i % 1000 == 0)
            h.fp->housekeeping(FastTime(i * 10));
    }
    QCOMPARE(read(h.c().framesIn), 100000u);
    QCOMPARE(h.accounted(), 100000u);
    std::uint64_t malformed = 0;
    for (const Counter &m : h.c().malformed)
        malformed += read(m);
    std::uint64_t icmpDropped = 0;
    for (const Counter &m : h.c().icmpDropped)
        icmpDropped += read(m);
    qInfo("100k random frames: %llu forwarded (%llu ICMP), %llu malformed, %llu unknown-flow drops, %llu not for the "
          "VIP, %llu ICMP drops",
          static_cast<unsigned long long>(read(h.c().forwarded)), static_cast<unsigned long long>(read(h.c().icmpForwarded)),
          static_cast<unsigned long long>(malformed), static_cast<unsigned long long>(read(h.c().unknownFlowDropped)),
          static_cast<unsigned long long>(read(h.c().notForVip)), static_cast<unsigned long long>(icmpDropped));
    QVERIFY(malformed > 10000);
    QVERIFY(read(h.c().forwarded) > 1000);
    QVERIFY(read(h.c().icmpForwarded) > 50);
    QVERIFY(icmpDropped > 1000);
}

void TestFastPath::checksumUpdate_data()
{
    QTest::addColumn<int>("checksum");
    QTest::addColumn<int>("oldWord");
    QTest::addColumn<int>("newWord");
    QTest::addColumn<int>("expected");
    // RFC 1624 §4: eqn. 3 gives 0x0000 where eqn. 2 gave the wrong 0xFFFF.
    QTest::newRow("RFC 1624 section 4 example") << 0xDD2F << 0x5555 << 0x3285 << 0x0000;
    QTest::newRow("no change") << 0x1234 << 0xABCD << 0xABCD << 0x1234;
    QTest::newRow("word 0 to 1") << 0xFFFE << 0x0000 << 0x0001 << 0xFFFD;
}

void TestFastPath::checksumUpdate()
{
    QFETCH(int, checksum);
    QFETCH(int, oldWord);
    QFETCH(int, newWord);
    QFETCH(int, expected);
    QCOMPARE(int(checksumUpdate16(std::uint16_t(checksum), std::uint16_t(oldWord), std::uint16_t(newWord))), expected);
}

void TestFastPath::checksumUpdateMatchesRecomputation()
{
    std::mt19937 rng(7);
    for (int i = 0; i < 10000; ++i) {
        std::uint8_t header[20];
        for (auto &b : header)
            b = std::uint8_t(rng());
        header[10] = header[11] = 0;
        storeBe16(header + 10, internetChecksum(header));
        const std::uint32_t oldAddr = loadBe32(header + 16);
        const std::uint32_t newAddr = std::uint32_t(rng());
        const std::uint16_t incremental = checksumUpdate32(loadBe16(header + 10), oldAddr, newAddr);
        storeBe32(header + 16, newAddr);
        header[10] = header[11] = 0;
        const std::uint16_t full = internetChecksum(header);
        // One's complement has two zeros; both verify. Compare by verifying the header.
        storeBe16(header + 10, incremental);
        QVERIFY2(onesComplementSum(header) == 0xFFFF,
                 qPrintable(QStringLiteral("incremental %1 full %2").arg(incremental, 0, 16).arg(full, 0, 16)));
    }
}

void TestFastPath::natRewriteKeepsChecksumsValid()
{
    for (const std::uint8_t proto : {kIpProtoTcp, kIpProtoUdp}) {
        FrameSpec s = tcp(20000, kTcpAck | kTcpPsh);
        s.proto = proto;
        s.payload = 333;
        auto frame = buildFrame(s);
        const ParseResult parsed = parseFrame(frame);
        QCOMPARE(int(parsed.verdict), int(ParseVerdict::Ok));
        DispatchPolicy p = policy();
        p.mode = ForwardMode::Nat;
        const ServerInfo srv = server(3);
        std::vector<std::uint8_t> out(frame.size());
        QCOMPARE(Rewriter::rewriteToServer(parsed.view, out, srv, p), frame.size());
        FrameSpec expectedSpec = s;
        expectedSpec.dstIp = srv.ipv4; // the builder computes every checksum from scratch
        QCOMPARE(out, withMacs(buildFrame(expectedSpec), srv.mac, kDispatcherMac));
        // And the reply direction: server address back to the VIP.
        FrameSpec reply = s;
        reply.srcIp = srv.ipv4;
        reply.dstIp = kClientIp;
        auto replyFrame = buildFrame(reply);
        Rewriter::rewriteReplyToClient(parseFrame(replyFrame).view, replyFrame, kVip);
        reply.srcIp = kVip;
        QCOMPARE(replyFrame, buildFrame(reply));
    }
}

// Frame tables for L4/3, both directions. Each row: frames the client sent first (the
// dispatcher learns its next hop from them), the frame in, the verdict, and the frame out. One
// server (slot 0, 10.0.0.10), so every new flow goes to it.
void TestFastPath::natTranslatesBothDirections_data()
{
    QTest::addColumn<QByteArrayList>("before");
    QTest::addColumn<QByteArray>("in");
    QTest::addColumn<int>("reason"); // DropReason; None = forwarded
    QTest::addColumn<QByteArray>("out");
    const ServerInfo srv = server(0);
    const int none = int(DropReason::None);

    FrameSpec syn = tcp(40000, kTcpSyn);
    FrameSpec synToServer = syn;
    synToServer.dstIp = srv.ipv4;
    QTest::newRow("tcp SYN client -> VIP:80: destination address and MAC become the server's")
        << QByteArrayList{} << bytes(buildFrame(syn)) << none
        << bytes(withMacs(buildFrame(synToServer), srv.mac, kDispatcherMac));

    FrameSpec data = tcp(40000, kTcpAck | kTcpPsh);
    data.payload = 333;
    FrameSpec dataToServer = data;
    dataToServer.dstIp = srv.ipv4;
    QTest::newRow("tcp data client -> VIP:80 on an open flow")
        << QByteArrayList{bytes(buildFrame(syn))} << bytes(buildFrame(data)) << none
        << bytes(withMacs(buildFrame(dataToServer), srv.mac, kDispatcherMac));

    FrameSpec dns = tcp(40001, 0);
    dns.proto = kIpProtoUdp;
    dns.dstPort = 53;
    dns.payload = 41;
    FrameSpec dnsToServer = dns;
    dnsToServer.dstIp = srv.ipv4;
    QTest::newRow("udp client -> VIP:53: destination address and MAC become the server's")
        << QByteArrayList{} << bytes(buildFrame(dns)) << none
        << bytes(withMacs(buildFrame(dnsToServer), srv.mac, kDispatcherMac));

    FrameSpec tls = tcp(40002, kTcpSyn);
    tls.dstIp = kVip2;
    tls.dstPort = 443;
    QTest::newRow("tcp SYN client -> VIP2:443, an L4/2 service beside: only the MACs change")
        << QByteArrayList{} << bytes(buildFrame(tls)) << none << bytes(withMacs(buildFrame(tls), srv.mac, kDispatcherMac));

    // Replies: from the server's address and service port to the client, sent to the VMAC (the
    // servers' gateway resolves to it).
    auto reply = [&](FrameSpec s) {
        std::swap(s.srcIp, s.dstIp);
        std::swap(s.srcPort, s.dstPort);
        s.srcIp = srv.ipv4;
        s.srcMac = srv.mac;
        s.dstMac = kVmac;
        return s;
    };
    auto translated = [&](FrameSpec s, const MacAddress &nextHop) {
        s.srcIp = kVip;
        return withMacs(buildFrame(s), nextHop, kDispatcherMac);
    };
    FrameSpec synAck = reply(syn);
    synAck.tcpFlags = kTcpSyn | kTcpAck;
    QTest::newRow("tcp SYN+ACK server:80 -> client: source becomes VIP:80, to the client's MAC")
        << QByteArrayList{bytes(buildFrame(syn))} << bytes(buildFrame(synAck)) << none
        << bytes(translated(synAck, kClientMac));

    FrameSpec download = reply(data);
    download.payload = 1448;
    FrameSpec synViaRouter = syn;
    synViaRouter.srcMac = kRouterMac;
    QTest::newRow("tcp data server:80 -> client behind a router: to the router's MAC")
        << QByteArrayList{bytes(buildFrame(synViaRouter))} << bytes(buildFrame(download)) << none
        << bytes(translated(download, kRouterMac));

    FrameSpec dnsReply = reply(dns);
    dnsReply.payload = 97;
    QTest::newRow("udp server:53 -> client: source becomes VIP:53")
        << QByteArrayList{bytes(buildFrame(dns))} << bytes(buildFrame(dnsReply)) << none
        << bytes(translated(dnsReply, kClientMac));

    QTest::newRow("tcp reply to a client never seen: dropped until its next frame")
        << QByteArrayList{} << bytes(buildFrame(download)) << int(DropReason::NoClientMac) << QByteArray();

    FrameSpec tlsReply = reply(tls);
    tlsReply.tcpFlags = kTcpSyn | kTcpAck;
    QTest::newRow("tcp server:443 -> client: no NAT service has that port")
        << QByteArrayList{bytes(buildFrame(tls))} << bytes(buildFrame(tlsReply)) << int(DropReason::NotForVip) << QByteArray();

    FrameSpec stranger = download;
    stranger.srcIp = ip4(10, 0, 0, 99);
    QTest::newRow("tcp from port 80 of an address that is no server: not translated")
        << QByteArrayList{bytes(buildFrame(syn))} << bytes(buildFrame(stranger)) << int(DropReason::NotForVip) << QByteArray();

    // ICMP errors, as LVS translates them: the quoted packet's address too (the builder computes
    // every checksum of the expected frame from scratch, the quoted ones included).
    IcmpSpec fragNeeded = icmpAbout(40000);
    IcmpSpec fragNeededToServer = fragNeeded;
    fragNeededToServer.dstIp = srv.ipv4;
    fragNeededToServer.quoted.srcIp = srv.ipv4;
    fragNeededToServer.dstMac = srv.mac;
    fragNeededToServer.srcMac = kDispatcherMac;
    QTest::newRow("ICMP frag-needed from a router about a NAT reply: to the server, its address inside and out")
        << QByteArrayList{bytes(buildFrame(syn))} << bytes(buildIcmpFrame(fragNeeded)) << none
        << bytes(buildIcmpFrame(fragNeededToServer));

    IcmpSpec ttl = icmpAbout(40001, 11, 0, kIpProtoUdp);
    ttl.quoted = dnsReply;
    ttl.quoted.srcIp = kVip;
    ttl.quoted.srcMac = kVmac;
    ttl.quoteBytes = SIZE_MAX; // the whole datagram: its UDP checksum is fixed too
    IcmpSpec ttlToServer = ttl;
    ttlToServer.dstIp = srv.ipv4;
    ttlToServer.quoted.srcIp = srv.ipv4;
    ttlToServer.dstMac = srv.mac;
    ttlToServer.srcMac = kDispatcherMac;
    QTest::newRow("ICMP time exceeded quoting a whole NAT UDP reply: to the server, quoted UDP checksum fixed")
        << QByteArrayList{bytes(buildFrame(dns))} << bytes(buildIcmpFrame(ttl)) << none << bytes(buildIcmpFrame(ttlToServer));

    IcmpSpec portUnreachable;
    portUnreachable.srcIp = srv.ipv4;
    portUnreachable.dstIp = kClientIp;
    portUnreachable.srcMac = srv.mac;
    portUnreachable.dstMac = kVmac;
    portUnreachable.type = 3;
    portUnreachable.code = 3;
    portUnreachable.quoted = dnsToServer;
    portUnreachable.quoteBytes = SIZE_MAX;
    IcmpSpec portUnreachableFromVip = portUnreachable;
    portUnreachableFromVip.srcIp = kVip;
    portUnreachableFromVip.quoted.dstIp = kVip;
    portUnreachableFromVip.dstMac = kClientMac;
    portUnreachableFromVip.srcMac = kDispatcherMac;
    QTest::newRow("ICMP port unreachable from a server about a client datagram: to the client from the VIP")
        << QByteArrayList{bytes(buildFrame(dns))} << bytes(buildIcmpFrame(portUnreachable)) << none
        << bytes(buildIcmpFrame(portUnreachableFromVip));
    QTest::newRow("ICMP from a server to a client never seen: dropped until its next frame")
        << QByteArrayList{} << bytes(buildIcmpFrame(portUnreachable)) << int(DropReason::NoClientMac) << QByteArray();
    IcmpSpec aboutDr = portUnreachable;
    aboutDr.quoted = tls;
    aboutDr.quoted.dstIp = srv.ipv4;
    QTest::newRow("ICMP from a server about a port no NAT service has: not translated")
        << QByteArrayList{bytes(buildFrame(dns))} << bytes(buildIcmpFrame(aboutDr)) << int(DropReason::NotForVip)
        << QByteArray();
}

void TestFastPath::natTranslatesBothDirections()
{
    QFETCH(QByteArrayList, before);
    QFETCH(QByteArray, in);
    QFETCH(int, reason);
    QFETCH(QByteArray, out);
    Harness h;
    QVERIFY(h.publish({server(0)}, natPolicy()));
    for (const QByteArray &f : before)
        QCOMPARE(name(h.sendBytes(std::vector<std::uint8_t>(f.begin(), f.end()), 1s).reason), name(DropReason::None));
    const ProcessResult r = h.sendBytes(std::vector<std::uint8_t>(in.begin(), in.end()), 2s);
    QCOMPARE(name(r.reason), name(DropReason(reason)));
    if (DropReason(reason) == DropReason::None) {
        QCOMPARE(int(r.verdict), int(Verdict::Forward));
        QCOMPARE(bytes(h.output(r)), out);
    } else {
        QCOMPARE(int(r.verdict), int(Verdict::Drop));
    }
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

// Issue 10 item 3: the reply direction needs nothing that dies with a dispatcher. A fresh
// FastPath (a new dispatcher) with an empty flow table translates the replies of a connection
// it never saw open as soon as any frame from that client has taught it the client's next hop,
// and it creates no flow for them.
void TestFastPath::natRepliesNeedNoFlowState()
{
    Harness h;
    QVERIFY(h.publish({server(0)}, natPolicy()));
    FrameSpec download;
    download.srcIp = server(0).ipv4;
    download.srcMac = server(0).mac;
    download.srcPort = 80;
    download.dstIp = kClientIp;
    download.dstPort = 41000;
    download.tcpFlags = kTcpAck;
    download.payload = 1448;
    QCOMPARE(name(h.send(download).reason), name(DropReason::NoClientMac));
    // Another connection of the same client (a new SYN, or an ACK of any flow) teaches its next hop.
    QCOMPARE(name(h.send(tcp(41001, kTcpSyn)).reason), name(DropReason::None));
    const std::size_t flowsBefore = h.fp->flows().size();
    for (int i = 0; i < 3; ++i) {
        const ProcessResult r = h.send(download);
        QCOMPARE(name(r.reason), name(DropReason::None));
        QCOMPARE(loadBe32(h.output(r).data() + 14 + 12), kVip);
    }
    QCOMPARE(h.fp->flows().size(), flowsBefore);
    QCOMPARE(read(h.c().natReplies), 3u);
    QCOMPARE(read(h.c().noClientMac), 1u);
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

// [[service]] weights (docs/config.md "Weights"): a service whose weights differ from the
// cluster's gets its own schedule and Maglev tables; the others share the cluster's, and
// services with the same weights share one.
void TestFastPath::serviceWeightsBuildOwnTablesOnlyWhereTheyDiffer()
{
    DispatchPolicy p = servicePolicy();
    // Service 2 lists server 1 with its cluster weight: no difference, no table of its own.
    std::vector<ServiceWeight> weights = kService1Weights;
    weights.push_back({2, server(1).id, 1});
    auto t = ServerTable::build(fourServers(), p, 1, weights);
    QVERIFY(t);
    QVERIFY(!t->hasOwnSchedule(0));
    QVERIFY(t->hasOwnSchedule(1));
    QVERIFY(!t->hasOwnSchedule(2));
    QCOMPARE(t->ownScheduleCount(), std::size_t(1));
    QCOMPARE(&t->schedule(std::uint8_t(0)), &t->clusterSchedule());
    QCOMPARE(&t->schedule(std::uint8_t(2)), &t->clusterSchedule());
    const ServerSchedule &own = t->schedule(std::uint8_t(1));
    QCOMPARE(own.eligible, (std::vector<std::uint16_t>{0, 1, 3}));
    QCOMPARE(own.weights, (std::vector<std::uint32_t>{3, 1, 1}));
    QCOMPARE(t->clusterSchedule().eligible, (std::vector<std::uint16_t>{0, 1, 2, 3}));
    // The Maglev share follows the service's weights: 3/5, 0, 1/5, 1/5 of the entries.
    std::array<std::size_t, 4> entries{};
    for (const std::uint16_t slot : own.newFlow.entries())
        ++entries[slot];
    QCOMPARE(entries[2], std::size_t(0));
    const double n = double(own.newFlow.size());
    QVERIFY2(std::abs(double(entries[0]) / n - 0.6) < 0.01, qPrintable(QString::number(entries[0])));
    QVERIFY2(std::abs(double(entries[1]) / n - 0.2) < 0.01, qPrintable(QString::number(entries[1])));
    QVERIFY2(std::abs(double(entries[3]) / n - 0.2) < 0.01, qPrintable(QString::number(entries[3])));
    // Two services with the same weights share one schedule.
    weights.push_back({2, server(0).id, 3});
    weights.push_back({2, server(2).id, 0});
    weights.push_back({2, server(1).id, 1});
    auto shared = ServerTable::build(fourServers(), p, 2, weights);
    QVERIFY(shared && shared->hasOwnSchedule(2));
    QCOMPARE(shared->ownScheduleCount(), std::size_t(1));
    QCOMPARE(&shared->schedule(std::uint8_t(1)), &shared->schedule(std::uint8_t(2)));
    // A weight of an unhealthy server's changes no schedule: it is in none.
    std::vector<ServerInfo> oneDown = fourServers();
    oneDown[3].healthy = false;
    const ServiceWeight down[] = {{2, server(3).id, 5}};
    auto t3 = ServerTable::build(oneDown, p, 3, down);
    QVERIFY(t3 && !t3->hasOwnSchedule(2));
    QCOMPARE(t3->ownScheduleCount(), std::size_t(0));
    // A service index past kMaxServices is refused.
    const ServiceWeight bad[] = {{std::uint8_t(kMaxServices), server(0).id, 2}};
    QVERIFY(!ServerTable::build(fourServers(), p, 3, bad));
}

void TestFastPath::serviceWeightsScheduleEachServiceApart_data()
{
    QTest::addColumn<int>("scheduler"); // SchedulerKind of both services
    QTest::newRow("maglev") << int(SchedulerKind::Maglev);
    QTest::newRow("weighted least-connections") << int(SchedulerKind::WeightedLeastConnections);
    QTest::newRow("round-robin") << int(SchedulerKind::RoundRobin);
}

// Service 1 gives server 2 weight 0 and server 0 weight 3; service 0 keeps the cluster's equal
// weights. New flows of service 1 never reach server 2 and follow 3:1:1; service 0's still do.
void TestFastPath::serviceWeightsScheduleEachServiceApart()
{
    QFETCH(int, scheduler);
    const auto kind = SchedulerKind(scheduler);
    Harness h(8192);
    DispatchPolicy p = servicePolicy();
    p.services[0].scheduler = kind;
    p.services[1].scheduler = kind;
    QVERIFY(h.publish(fourServers(), p, kService1Weights));
    std::array<int, 4> service1{};
    for (std::uint16_t port = 20000; port < 20500; ++port) {
        const ProcessResult r = h.send(toService1(port, kTcpSyn, ip4(198, 51, 100, std::uint8_t(port % 200))));
        QCOMPARE(int(r.verdict), int(Verdict::Forward));
        ++service1[r.slot];
    }
    QCOMPARE(service1[2], 0);
    if (kind == SchedulerKind::Maglev) {
        QVERIFY2(service1[0] > 250 && service1[0] < 350, qPrintable(QString::number(service1[0])));
    } else {
        // Round-robin: exactly 3:1:1. Least-connections: every server's flows are this
        // service's so far, so active/weight stays level: 3:1:1 as well.
        QCOMPARE(service1[0], 300);
        QCOMPARE(service1[1], 100);
        QCOMPARE(service1[3], 100);
    }
    std::array<int, 4> service0{};
    for (std::uint16_t port = 30000; port < 30400; ++port) {
        FrameSpec f = tcp(port, kTcpSyn, ip4(203, 0, 113, std::uint8_t(port % 200)));
        ++service0[h.send(f).slot];
    }
    QVERIFY2(service0[2] > 0, "service 0 has no weights of its own: server 2 takes its new flows");
    QCOMPARE(read(h.c().serviceNewFlows[0]), 400u);
    QCOMPARE(read(h.c().serviceNewFlows[1]), 500u);
    if (kind == SchedulerKind::RoundRobin) {
        for (int slot = 0; slot < 4; ++slot)
            QCOMPARE(service0[std::size_t(slot)], 100);
        // Interleaved, each service keeps its own rotation (a credit row of its own): shared
        // credit would give 66:33:0:1 and 17:9:25:49 here.
        std::array<int, 4> one{}, zero{};
        for (std::uint16_t i = 0; i < 100; ++i) {
            ++one[h.send(toService1(std::uint16_t(40000 + i), kTcpSyn)).slot];
            ++zero[h.send(tcp(std::uint16_t(41000 + i), kTcpSyn)).slot];
        }
        QCOMPARE(one, (std::array<int, 4>{60, 20, 0, 20}));
        QCOMPARE(zero, (std::array<int, 4>{25, 25, 25, 25}));
    }
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

// Before reconstruction completes, a packet of an unknown flow follows the continuity table of
// its service: the previous dispatcher scheduled the service's flows with the same weights.
void TestFastPath::serviceContinuityFollowsTheServicesWeights()
{
    // Old dispatcher D (slot 4) scheduled service 1 over servers 0..3 with service 1's weights;
    // N (slot 2) takes over. N's continuity table for service 1 is D's new-flow table for it.
    // Server 2 weighs 0 in service 1, so as N it is left out of that service either way.
    auto old = ServerTable::build({server(0), server(1), server(2), server(3), server(4, true)}, servicePolicy(), 1,
                                  kService1Weights);
    auto next = ServerTable::build({server(0), server(1), server(2, true), server(3)}, servicePolicy(), 1,
                                   kService1Weights);
    QVERIFY(old && next);
    const auto a = old->schedule(std::uint8_t(1)).newFlow.entries();
    const auto b = next->schedule(std::uint8_t(1)).continuity.entries();
    QVERIFY(std::equal(a.begin(), a.end(), b.begin(), b.end()));
    // The cluster's continuity table is not service 1's.
    const auto c = next->continuityMaglev().entries();
    QVERIFY(!std::equal(a.begin(), a.end(), c.begin(), c.end()));

    Harness h;
    QVERIFY(h.publish({server(0), server(1), server(2, true), server(3)}, servicePolicy(false), kService1Weights));
    const ServerTable *t = h.tables.acquire();
    int toZero = 0, service0OnTwo = 0;
    for (std::uint16_t port = 2000; port < 2300; ++port) {
        const FrameSpec s = toService1(port, kTcpAck);
        const ProcessResult r = h.send(s);
        QCOMPARE(r.slot, t->schedule(std::uint8_t(1)).continuity.lookup(flowHash(keyOf(s))));
        toZero += r.slot == 2;
        // ICMP errors about an unknown flow of service 1 follow the same table.
        IcmpSpec icmp = icmpAbout(std::uint16_t(port + 1000));
        icmp.dstIp = kVip2;
        icmp.quoted.srcIp = kVip2;
        icmp.quoted.srcPort = 443;
        const ProcessResult e = h.send(icmp);
        QCOMPARE(e.slot, t->schedule(std::uint8_t(1)).continuity.lookup(flowHash(flowKeyOf(icmp))));
        service0OnTwo += h.send(tcp(port, kTcpAck)).slot == 2;
    }
    QCOMPARE(toZero, 0);
    QVERIFY(service0OnTwo > 0); // service 0 still hashes flows to this node (slot 2)
}

// A client's affinity ends when its server's weight in the service becomes 0, as it does when
// the server drains; in another service the same server keeps taking new flows.
void TestFastPath::persistenceRespectsAServiceWeightOfZero()
{
    Harness h;
    DispatchPolicy p = servicePolicy();
    p.services[1].persistence = FastTime(60s);
    QVERIFY(h.publish(fourServers(), p));
    const std::uint16_t first = h.send(toService1(1000, kTcpSyn), 1s).slot;
    QVERIFY(first != kNoServerSlot);
    QCOMPARE(h.send(toService1(1001, kTcpSyn), 2s).slot, first);
    QCOMPARE(read(h.c().persistentFlows), 1u);
    const std::vector<ServiceWeight> zero = {{1, server(first).id, 0}};
    QVERIFY(h.publish(fourServers(), p, zero));
    for (std::uint16_t port = 1002; port < 1010; ++port)
        QVERIFY(h.send(toService1(port, kTcpSyn), FastTime(std::chrono::seconds(port - 999))).slot != first);
    QCOMPARE(read(h.c().persistentFlows), 8u); // 1 + the 7 that followed the new affinity
    // Service 0 (round-robin here, to reach every server) still sends new flows to it.
    DispatchPolicy rr = p;
    rr.services[0].scheduler = SchedulerKind::RoundRobin;
    QVERIFY(h.publish(fourServers(), rr, zero));
    bool reached = false;
    for (std::uint16_t port = 5000; port < 5004; ++port)
        reached = reached || h.send(tcp(port, kTcpSyn), 20s).slot == first;
    QVERIFY(reached);
}


void TestFastPath::servicesDecideWhatIsForwarded_data()
{
    QTest::addColumn<int>("proto");
    QTest::addColumn<quint32>("dstIp");
    QTest::addColumn<int>("dstPort");
    QTest::addColumn<int>("tcpFlags");
    QTest::addColumn<bool>("reconstructed");
    QTest::addColumn<int>("reason"); // DropReason; None = forwarded
    QTest::addColumn<int>("service"); // whose serviceNewFlows counts it; -1: none
    const int tcp = kIpProtoTcp, udp = kIpProtoUdp, syn = kTcpSyn, ack = kTcpAck, none = int(DropReason::None),
              noService = int(DropReason::NoService);
    QTest::newRow("first VIP, tcp 80: a service") << tcp << kVip << 80 << syn << true << none << 0;
    QTest::newRow("first VIP, tcp 8005: in the range") << tcp << kVip << 8005 << syn << true << none << 0;
    QTest::newRow("first VIP, tcp 8011: past the range") << tcp << kVip << 8011 << syn << true << noService << -1;
    QTest::newRow("first VIP, tcp 81: unlisted port") << tcp << kVip << 81 << syn << true << noService << -1;
    QTest::newRow("first VIP, udp 80: a TCP-only port") << udp << kVip << 80 << 0 << true << noService << -1;
    QTest::newRow("second VIP, tcp 443: its service") << tcp << kVip2 << 443 << syn << true << none << 1;
    QTest::newRow("second VIP, udp 53: its service") << udp << kVip2 << 53 << 0 << true << none << 2;
    QTest::newRow("second VIP, tcp 80: the first VIP's port") << tcp << kVip2 << 80 << syn << true << noService << -1;
    QTest::newRow("second VIP, unknown ACK to its service before reconstruction: hashed")
        << tcp << kVip2 << 443 << ack << false << none << -1;
    QTest::newRow("second VIP, unknown ACK to an unlisted port before reconstruction: not hashed")
        << tcp << kVip2 << 444 << ack << false << noService << -1;
    QTest::newRow("not a VIP") << tcp << ip4(10, 0, 0, 102) << 80 << syn << true << int(DropReason::NotForVip) << -1;
}

void TestFastPath::servicesDecideWhatIsForwarded()
{
    QFETCH(int, proto);
    QFETCH(quint32, dstIp);
    QFETCH(int, dstPort);
    QFETCH(int, tcpFlags);
    QFETCH(bool, reconstructed);
    QFETCH(int, reason);
    QFETCH(int, service);
    Harness h;
    QVERIFY(h.publish(fourServers(), servicePolicy(reconstructed)));
    FrameSpec f = tcp(40000, std::uint8_t(tcpFlags));
    f.proto = std::uint8_t(proto);
    f.dstIp = dstIp;
    f.dstPort = std::uint16_t(dstPort);
    const ProcessResult r = h.send(f);
    QCOMPARE(name(r.reason), name(DropReason(reason)));
    if (DropReason(reason) == DropReason::None) {
        QCOMPARE(int(r.verdict), int(Verdict::Forward));
        const auto out = h.output(r);
        // L4/2: the frame goes to the chosen server's MAC, the VIP and port untouched.
        QVERIFY(std::equal(out.begin(), out.begin() + 6, server(r.slot).mac.begin()));
        QCOMPARE(loadBe32(out.data() + 14 + 16), quint32(dstIp));
    } else {
        QCOMPARE(int(r.verdict), int(Verdict::Drop));
    }
    QCOMPARE(read(h.c().noService), DropReason(reason) == DropReason::NoService ? 1u : 0u);
    for (int i = 0; i < 3; ++i)
        QCOMPARE(read(h.c().serviceNewFlows[std::size_t(i)]), i == service ? 1u : 0u);
    QCOMPARE(h.accounted(), read(h.c().framesIn));
}

// ipvsadm -p: within persistence of the client's last new flow to the service, its new flows go
// to the same server, whatever the scheduler would say; after it, the scheduler decides again.
void TestFastPath::persistenceKeepsAClientOnOneServerWithinTheTimeout()
{
    for (const bool persistent : {true, false}) {
        Harness h;
        DispatchPolicy p = servicePolicy();
        p.services[1].persistence = persistent ? FastTime(10s) : FastTime(0); // kVip2 tcp 443, round-robin
        QVERIFY(h.publish(fourServers(), p));
        FrameSpec a = tcp(1000, kTcpSyn);
        a.dstIp = kVip2;
        a.dstPort = 443;
        FrameSpec b = a;
        b.srcIp = ip4(198, 51, 100, 7);
        const std::uint16_t first = h.send(a, 1s).slot;
        QVERIFY(first != kNoServerSlot);
        const std::uint16_t other = h.send(b, 2s).slot; // round-robin moves on
        QVERIFY(other != first);
        std::set<std::uint16_t> seen;
        for (std::uint16_t port = 1001; port <= 1003; ++port) {
            a.srcPort = port;
            seen.insert(h.send(a, FastTime(std::chrono::seconds(2 + port - 1000))).slot); // 3 s .. 5 s
        }
        if (persistent) {
            QCOMPARE(seen, std::set<std::uint16_t>{first});
            QCOMPARE(read(h.c().persistentFlows), 3u);
            // 10 s after the last new flow (5 s) the affinity is gone: round-robin's next pick
            // (its third, since persistent flows did not ask it) is neither earlier server.
            a.srcPort = 1004;
            const std::uint16_t later = h.send(a, 15s).slot;
            QVERIFY(later != first && later != other && later != kNoServerSlot);
            QCOMPARE(read(h.c().persistentFlows), 3u);
            // An unhealthy affinity server is not used: the client is scheduled afresh.
            std::vector<ServerInfo> servers = fourServers();
            servers[later].healthy = false;
            QVERIFY(h.publish(servers, p));
            a.srcPort = 1005;
            const std::uint16_t moved = h.send(a, 16s).slot;
            QVERIFY(moved != later && moved != kNoServerSlot);
        } else {
            QVERIFY2(seen.size() > 1, "without persistence round-robin spreads the client's connections");
            QCOMPARE(read(h.c().persistentFlows), 0u);
        }
        QCOMPARE(h.accounted(), read(h.c().framesIn));
    }
}

QTEST_GUILESS_MAIN(TestFastPath)
#include "tst_fastpath.moc"
