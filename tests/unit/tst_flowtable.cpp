// The flow table: creation, TCP transitions, retirement after the grace period, idle expiry,
// bounded sweeps, behaviour when full, reconstructed inserts, per-server counts, the SYN-flood
// defence (syn-seen count, shorter lifetime under pressure, eviction of the least recently seen
// unanswered flow), and the memory per flow at 1M flows (printed; asserted <= 64 bytes).

#include "fastpath/flowtable.h"
#include "fastpath/frameparser.h"

#include <QTest>

#include <random>
#include <set>
#include <tuple>

using namespace sasha;
using namespace std::chrono_literals;

namespace {

FlowKey tcpKey(std::uint32_t n)
{
    return {0x0A010000u + (n >> 16), 0x0A000064u, std::uint16_t(1024 + (n & 0xFFFF) % 60000), 80, kIpProtoTcp};
}

FlowTimeouts shortTimeouts()
{
    FlowTimeouts t;
    t.synSeen = 5s;
    t.established = 100s;
    t.closing = 10s;
    t.udp = 20s;
    return t;
}

std::size_t sweepAll(FlowTable &t, FastTime now)
{
    return t.sweep(now, t.capacity() * 2);
}

auto asTuple(const FlowKey &k)
{
    return std::make_tuple(k.srcIp, k.dstIp, k.srcPort, k.dstPort, k.proto);
}

} // namespace

class TestFlowTable : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void createFindErase();
    void tcpTransitions_data();
    void tcpTransitions();
    void expiry_data();
    void expiry();
    void udpIdlePerService_data();
    void udpIdlePerService();
    void trafficKeepsAFlowAlive();
    void timeWrapsAfter49Days();
    void fullTableRefusesThenRecovers();
    void reconstructedInserts();
    void transferredKeepStateAndNeverOverride();
    void previousDispatcherWordWinsExceptOverOwnScheduling();
    void randomInsertEraseMatchesAModel();
    void synSeenLifetimeShortensUnderPressure();
    void evictionTakesTheLeastRecentlySeenUnansweredFlow_data();
    void evictionTakesTheLeastRecentlySeenUnansweredFlow();
    void sweepWorkIsBounded();
    void memoryPerFlowAtOneMillion();
};

void TestFlowTable::createFindErase()
{
    FlowTable t(100, shortTimeouts());
    QCOMPARE(t.capacity(), std::size_t(256));
    const FlowKey k = tcpKey(1);
    QVERIFY(!t.find(k));
    FlowEntry *e = t.insert(k, flowHash(k), 3, FlowState::SynSeen, FlowOrigin::Scheduled, 1s);
    QVERIFY(e);
    QCOMPARE(t.size(), std::size_t(1));
    QCOMPARE(t.activeFlows(3), 1u);
    QCOMPARE(t.openFlows(3), 1u);
    QVERIFY(t.find(k) == e);
    QVERIFY(t.find(k)->key() == k);
    QCOMPARE(int(t.find(k)->origin()), int(FlowOrigin::Scheduled));
    QVERIFY(t.erase(k));
    QVERIFY(!t.erase(k));
    QVERIFY(!t.find(k));
    QCOMPARE(t.size(), std::size_t(0));
    QCOMPARE(t.activeFlows(3), 0u);
    QCOMPARE(t.openFlows(3), 0u);
}

void TestFlowTable::tcpTransitions_data()
{
    QTest::addColumn<QList<int>>("flags"); // packets after the creating SYN
    QTest::addColumn<int>("state");
    QTest::addColumn<unsigned>("active");
    QTest::newRow("SYN only") << QList<int>{} << int(FlowState::SynSeen) << 1u;
    QTest::newRow("SYN, retransmitted SYN") << QList<int>{kTcpSyn} << int(FlowState::SynSeen) << 1u;
    QTest::newRow("SYN, ACK") << QList<int>{kTcpAck} << int(FlowState::Established) << 1u;
    QTest::newRow("SYN, ACK, data") << QList<int>{kTcpAck, kTcpAck | kTcpPsh} << int(FlowState::Established) << 1u;
    QTest::newRow("SYN, ACK, FIN") << QList<int>{kTcpAck, kTcpFin | kTcpAck} << int(FlowState::Closing) << 0u;
    QTest::newRow("SYN, ACK, FIN, last ACK") << QList<int>{kTcpAck, kTcpFin | kTcpAck, kTcpAck} << int(FlowState::Closing)
                                             << 0u;
    QTest::newRow("SYN, RST") << QList<int>{kTcpRst} << int(FlowState::Closing) << 0u;
}

void TestFlowTable::tcpTransitions()
{
    QFETCH(QList<int>, flags);
    QFETCH(int, state);
    QFETCH(unsigned, active);
    FlowTable t(16, shortTimeouts());
    const FlowKey k = tcpKey(7);
    QVERIFY(t.insert(k, flowHash(k), 2, FlowState::SynSeen, FlowOrigin::Scheduled, 0s));
    FastTime now = 0s;
    for (const int f : flags) {
        now += 1ms;
        t.touch(*t.find(k), std::uint8_t(f), now);
    }
    QCOMPARE(int(t.find(k)->state()), state);
    QCOMPARE(t.synSeenFlows(), std::size_t(state == int(FlowState::SynSeen)));
    QCOMPARE(t.activeFlows(2), active);
    QCOMPARE(t.openFlows(2), 1u); // closing or not, the flow is open until retired
}

void TestFlowTable::expiry_data()
{
    QTest::addColumn<int>("state");
    QTest::addColumn<int>("proto");
    QTest::addColumn<int>("timeoutSeconds");
    QTest::newRow("SYN seen, no handshake ACK: 5 s") << int(FlowState::SynSeen) << int(kIpProtoTcp) << 5;
    QTest::newRow("established, idle: 100 s") << int(FlowState::Established) << int(kIpProtoTcp) << 100;
    QTest::newRow("closing: retired after the 10 s grace") << int(FlowState::Closing) << int(kIpProtoTcp) << 10;
    QTest::newRow("udp, idle: 20 s") << int(FlowState::Udp) << int(kIpProtoUdp) << 20;
}

void TestFlowTable::expiry()
{
    QFETCH(int, state);
    QFETCH(int, proto);
    QFETCH(int, timeoutSeconds);
    FlowTable t(1024, shortTimeouts()); // one syn-seen flow is far from SYN-flood pressure
    FlowKey k = tcpKey(9);
    k.proto = std::uint8_t(proto);
    const FastTime start = 1000s;
    QVERIFY(t.insert(k, flowHash(k), 1, FlowState(state), FlowOrigin::Scheduled, start));
    QCOMPARE(sweepAll(t, start + std::chrono::seconds(timeoutSeconds) - 1ms), std::size_t(0));
    QVERIFY(t.find(k));
    QCOMPARE(sweepAll(t, start + std::chrono::seconds(timeoutSeconds)), std::size_t(1));
    QVERIFY(!t.find(k));
    QCOMPARE(t.activeFlows(1), 0u);
    QCOMPARE(t.openFlows(1), 0u);
}

// [[service]] udp_idle_s: with a policy, a UDP flow lives its service's idle timeout; a UDP flow
// of a service without one, or outside every service, and TCP flows keep the table's.
void TestFlowTable::udpIdlePerService_data()
{
    QTest::addColumn<int>("port");
    QTest::addColumn<int>("proto");
    QTest::addColumn<int>("state");
    QTest::addColumn<int>("timeoutSeconds");
    QTest::newRow("udp service with udp_idle_s 5") << 53 << int(kIpProtoUdp) << int(FlowState::Udp) << 5;
    QTest::newRow("udp service with udp_idle_s 300, above the table's 20") << 5000 << int(kIpProtoUdp) << int(FlowState::Udp) << 300;
    QTest::newRow("udp service without udp_idle_s: the table's 20") << 123 << int(kIpProtoUdp) << int(FlowState::Udp) << 20;
    QTest::newRow("udp outside every service: the table's 20") << 9999 << int(kIpProtoUdp) << int(FlowState::Udp) << 20;
    QTest::newRow("tcp on a udp service's port: established 100") << 53 << int(kIpProtoTcp) << int(FlowState::Established) << 100;
}

void TestFlowTable::udpIdlePerService()
{
    QFETCH(int, port);
    QFETCH(int, proto);
    QFETCH(int, state);
    QFETCH(int, timeoutSeconds);
    DispatchPolicy policy;
    policy.vip = 0x0A000064u;
    const auto udpService = [&](std::uint16_t p, FastTime idle) {
        policy.services[policy.serviceCount].udpIdle = idle;
        policy.rules[policy.ruleCount++] = ServiceRule{policy.vip, p, p, kIpProtoUdp, policy.serviceCount++};
    };
    udpService(53, 5s);
    udpService(5000, 300s);
    udpService(123, 0s);
    policy.rules[policy.ruleCount++] = ServiceRule{policy.vip, 53, 53, kIpProtoTcp, policy.serviceCount++};
    policy.udpIdlePerService = true;

    FlowTable t(1024, shortTimeouts());
    FlowKey k = tcpKey(3);
    k.dstPort = std::uint16_t(port);
    k.proto = std::uint8_t(proto);
    const FastTime start = 1000s;
    QVERIFY(t.insert(k, flowHash(k), 1, FlowState(state), FlowOrigin::Scheduled, start));
    QCOMPARE(t.sweep(start + std::chrono::seconds(timeoutSeconds) - 1ms, t.capacity() * 2, &policy), std::size_t(0));
    QVERIFY(t.find(k));
    QCOMPARE(t.sweep(start + std::chrono::seconds(timeoutSeconds), t.capacity() * 2, &policy), std::size_t(1));
    QVERIFY(!t.find(k));
}

void TestFlowTable::trafficKeepsAFlowAlive()
{
    FlowTable t(16, shortTimeouts());
    const FlowKey k = tcpKey(3);
    QVERIFY(t.insert(k, flowHash(k), 1, FlowState::Established, FlowOrigin::Scheduled, 0s));
    for (int i = 1; i <= 10; ++i) {
        const FastTime now = std::chrono::seconds(i * 90);
        t.touch(*t.find(k), kTcpAck, now);
        QCOMPARE(sweepAll(t, now + 99s), std::size_t(0));
    }
    QVERIFY(t.find(k));
}

void TestFlowTable::timeWrapsAfter49Days()
{
    FlowTable t(16, shortTimeouts());
    const FlowKey k = tcpKey(4);
    // 2^32 ms minus 1 s: the stored 32-bit tick wraps during the flow's life.
    const FastTime nearWrap = std::chrono::milliseconds((1ULL << 32) - 1000);
    QVERIFY(t.insert(k, flowHash(k), 1, FlowState::Established, FlowOrigin::Scheduled, nearWrap));
    QCOMPARE(sweepAll(t, nearWrap + 50s), std::size_t(0));
    QCOMPARE(sweepAll(t, nearWrap + 100s), std::size_t(1));
}

void TestFlowTable::fullTableRefusesThenRecovers()
{
    FlowTable t(100, shortTimeouts());
    for (std::uint32_t i = 0; i < 100; ++i) {
        const FlowKey k = tcpKey(i);
        QVERIFY(t.insert(k, flowHash(k), 0, FlowState::Established, FlowOrigin::Scheduled, 0s));
    }
    const FlowKey extra = tcpKey(1000);
    QVERIFY(!t.insert(extra, flowHash(extra), 0, FlowState::SynSeen, FlowOrigin::Scheduled, 0s));
    QCOMPARE(t.insertReconstructed(extra, 0, 0s), FlowTable::ReconstructResult::Full);
    QCOMPARE(t.size(), std::size_t(100));
    QVERIFY(t.erase(tcpKey(50)));
    QVERIFY(t.insert(extra, flowHash(extra), 0, FlowState::SynSeen, FlowOrigin::Scheduled, 0s));
    for (std::uint32_t i = 0; i < 100; ++i)
        QCOMPARE(bool(t.find(tcpKey(i))), i != 50);
}

void TestFlowTable::reconstructedInserts()
{
    FlowTable t(64, shortTimeouts());
    const FlowKey a = tcpKey(1);
    const FlowKey b = tcpKey(2);
    QCOMPARE(t.insertReconstructed(a, 4, 1s), FlowTable::ReconstructResult::Inserted);
    QCOMPARE(int(t.find(a)->state()), int(FlowState::Established));
    QCOMPARE(int(t.find(a)->origin()), int(FlowOrigin::Reconstructed));
    QCOMPARE(t.insertReconstructed(a, 4, 2s), FlowTable::ReconstructResult::AlreadyKnown);
    QCOMPARE(t.activeFlows(4), 1u);

    // A flow adopted by hash onto server 5 that the agent of server 6 reports: the agent wins.
    QVERIFY(t.insert(b, flowHash(b), 5, FlowState::Established, FlowOrigin::Hashed, 1s));
    QCOMPARE(t.activeFlows(5), 1u);
    QCOMPARE(t.insertReconstructed(b, 6, 2s), FlowTable::ReconstructResult::Corrected);
    QCOMPARE(int(t.find(b)->slot), 6);
    QCOMPARE(int(t.find(b)->origin()), int(FlowOrigin::Reconstructed));
    QCOMPARE(t.activeFlows(5), 0u);
    QCOMPARE(t.activeFlows(6), 1u);
    QCOMPARE(t.openFlows(5), 0u);
    QCOMPARE(t.openFlows(6), 1u);

    FlowKey u = tcpKey(3);
    u.proto = kIpProtoUdp;
    QCOMPARE(t.insertReconstructed(u, 4, 1s), FlowTable::ReconstructResult::Inserted);
    QCOMPARE(int(t.find(u)->state()), int(FlowState::Udp));
}

void TestFlowTable::transferredKeepStateAndNeverOverride()
{
    FlowTable t(64, shortTimeouts());
    const FlowKey half = tcpKey(1), closing = tcpKey(2), known = tcpKey(3);
    // The previous dispatcher's states come along: a half-open flow stays SynSeen (short timeout,
    // not counted active), a closing one Closing.
    QCOMPARE(t.insertTransferred(half, 4, FlowState::SynSeen, 1s), FlowTable::ReconstructResult::Inserted);
    QCOMPARE(int(t.find(half)->state()), int(FlowState::SynSeen));
    QCOMPARE(int(t.find(half)->origin()), int(FlowOrigin::Transferred));
    QCOMPARE(t.insertTransferred(closing, 4, FlowState::Closing, 1s), FlowTable::ReconstructResult::Inserted);
    QCOMPARE(int(t.find(closing)->state()), int(FlowState::Closing));
    QCOMPARE(t.openFlows(4), 2u);

    // An agent's report came first (or a packet since): the transfer does not move it.
    QCOMPARE(t.insertReconstructed(known, 6, 1s), FlowTable::ReconstructResult::Inserted);
    QCOMPARE(t.insertTransferred(known, 5, FlowState::Established, 2s), FlowTable::ReconstructResult::AlreadyKnown);
    QCOMPARE(int(t.find(known)->slot), 6);
    QCOMPARE(int(t.find(known)->origin()), int(FlowOrigin::Reconstructed));
    // An agent's report after the transfer still wins.
    QCOMPARE(t.insertReconstructed(half, 7, 2s), FlowTable::ReconstructResult::Corrected);
    QCOMPARE(int(t.find(half)->slot), 7);
}

// A planned handover's closed-since list: the previous dispatcher's server and state win for
// what it touched after its copy (a FIN; a SYN that reused a closing flow's port and went to
// another server; a connection made after the copy), except over a flow this table scheduled.
void TestFlowTable::previousDispatcherWordWinsExceptOverOwnScheduling()
{
    using namespace std::chrono_literals;
    FlowTable t(64, shortTimeouts());
    const FlowKey open = tcpKey(1), reused = tcpKey(2), fresh = tcpKey(3), mine = tcpKey(4);
    QCOMPARE(t.insertTransferred(open, 4, FlowState::Established, 1s), FlowTable::ReconstructResult::Inserted);
    QCOMPARE(t.insertTransferred(reused, 4, FlowState::Closing, 1s), FlowTable::ReconstructResult::Inserted);
    QCOMPARE(t.activeFlows(4), 1u);
    // Closed there.
    QCOMPARE(t.adoptPrevious(open, 4, FlowState::Closing, 2s), FlowTable::ReconstructResult::Corrected);
    QCOMPARE(int(t.find(open)->state()), int(FlowState::Closing));
    QCOMPARE(t.activeFlows(4), 0u);
    // Its port reused by a new connection scheduled to server 6 there: moved, open again.
    QCOMPARE(t.adoptPrevious(reused, 6, FlowState::Established, 2s), FlowTable::ReconstructResult::Corrected);
    QCOMPARE(int(t.find(reused)->slot), 6);
    QCOMPARE(int(t.find(reused)->state()), int(FlowState::Established));
    QCOMPARE(t.activeFlows(6), 1u);
    QCOMPARE(t.openFlows(4), 1u);
    // Made there after the copy: inserted.
    QCOMPARE(t.adoptPrevious(fresh, 5, FlowState::SynSeen, 2s), FlowTable::ReconstructResult::Inserted);
    QCOMPARE(int(t.find(fresh)->origin()), int(FlowOrigin::Transferred));
    // The same word again changes nothing.
    QCOMPARE(t.adoptPrevious(reused, 6, FlowState::Established, 3s), FlowTable::ReconstructResult::AlreadyKnown);
    // A flow this table scheduled (its SYN came here) is kept.
    QVERIFY(t.insert(mine, flowHash(mine), 7, FlowState::Established, FlowOrigin::Scheduled, 2s));
    QCOMPARE(t.adoptPrevious(mine, 4, FlowState::Closing, 3s), FlowTable::ReconstructResult::AlreadyKnown);
    QCOMPARE(int(t.find(mine)->slot), 7);
    QCOMPARE(int(t.find(mine)->state()), int(FlowState::Established));
    // A transferred flow whose FIN passed here after the VMAC moved stays closed: the previous
    // dispatcher touched it after its copy (its last data) and still holds it open.
    const FlowKey finHere = tcpKey(5), rstHere = tcpKey(6);
    QCOMPARE(t.insertTransferred(finHere, 4, FlowState::Established, 1s), FlowTable::ReconstructResult::Inserted);
    QCOMPARE(t.insertTransferred(rstHere, 4, FlowState::Established, 1s), FlowTable::ReconstructResult::Inserted);
    t.touch(*t.find(finHere), kTcpFin | kTcpAck, 2s);
    t.touch(*t.find(rstHere), kTcpRst, 2s);
    QVERIFY(t.find(finHere)->closedHere());
    const std::uint32_t active = t.activeFlows(4);
    QCOMPARE(t.adoptPrevious(finHere, 4, FlowState::Established, 3s), FlowTable::ReconstructResult::AlreadyKnown);
    QCOMPARE(t.adoptPrevious(rstHere, 6, FlowState::Established, 3s), FlowTable::ReconstructResult::AlreadyKnown);
    QCOMPARE(int(t.find(finHere)->state()), int(FlowState::Closing));
    QCOMPARE(int(t.find(rstHere)->slot), 4);
    QCOMPARE(t.activeFlows(4), active);
    // Reopened here by a SYN (port reuse): no longer closed here, so the previous word counts again.
    t.reopen(*t.find(finHere), 4s);
    QVERIFY(!t.find(finHere)->closedHere());
    QCOMPARE(t.adoptPrevious(finHere, 6, FlowState::Established, 5s), FlowTable::ReconstructResult::Corrected);
    QCOMPARE(int(t.find(finHere)->slot), 6);
    // The closing the copy brought (not seen here) is still overruled, as above for `reused`.
    QVERIFY(!t.find(reused)->closedHere());
}

void TestFlowTable::randomInsertEraseMatchesAModel()
{
    // Backward-shift deletion must never lose a key that is still present: compare with a
    // std::set over a seeded random mix of inserts and erases at high load.
    constexpr std::size_t kMax = 4096;
    FlowTable t(kMax, shortTimeouts());
    std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint16_t, std::uint16_t, std::uint8_t>> model;
    std::mt19937 rng(20240607);
    std::uniform_int_distribution<std::uint32_t> pick(0, 3 * kMax);
    std::size_t synSeen = 0;
    for (int step = 0; step < 200000; ++step) {
        const FlowKey k = tcpKey(pick(rng));
        const bool present = model.contains(asTuple(k));
        QCOMPARE(bool(t.find(k)), present);
        if (rng() % 2) {
            if (!present && model.size() < kMax) {
                const bool answered = rng() % 2;
                QVERIFY(t.insert(k, flowHash(k), 0, answered ? FlowState::Established : FlowState::SynSeen,
                                 FlowOrigin::Scheduled, 0s));
                model.insert(asTuple(k));
                synSeen += !answered;
            }
        } else if (present && rng() % 4 == 0) {
            synSeen -= t.find(k)->state() == FlowState::SynSeen;
            t.touch(*t.find(k), kTcpAck, 0s);
        } else {
            if (present)
                synSeen -= t.find(k)->state() == FlowState::SynSeen;
            QCOMPARE(t.erase(k), present);
            model.erase(asTuple(k));
        }
        QCOMPARE(t.size(), model.size());
        QCOMPARE(t.synSeenFlows(), synSeen);
    }
    for (const auto &m : model)
        QVERIFY(t.find(std::make_from_tuple<FlowKey>(m)));
}

// LVS's secure_tcp, level 1 of the defence: past maxFlows / pressureDivisor unanswered flows
// they live synSeenUnderPressure instead of FlowTimeouts::synSeen; answered flows are unaffected.
void TestFlowTable::synSeenLifetimeShortensUnderPressure()
{
    SynFloodLimits limits;
    limits.pressureDivisor = 16;
    limits.budgetDivisor = 0;
    limits.synSeenUnderPressure = 1s;
    FlowTable t(160, shortTimeouts(), limits); // pressure from 10 syn-seen flows; their normal life 5 s
    const FlowKey answered = tcpKey(100);
    QVERIFY(t.insert(answered, flowHash(answered), 0, FlowState::Established, FlowOrigin::Scheduled, 0s));
    for (std::uint32_t i = 0; i < 9; ++i)
        QVERIFY(t.insert(tcpKey(i), flowHash(tcpKey(i)), 0, FlowState::SynSeen, FlowOrigin::Scheduled, 0s));
    QVERIFY(!t.underSynPressure());
    QCOMPARE(sweepAll(t, 2s), std::size_t(0));
    QVERIFY(t.insert(tcpKey(9), flowHash(tcpKey(9)), 0, FlowState::SynSeen, FlowOrigin::Scheduled, 0s));
    QVERIFY(t.underSynPressure());
    QCOMPARE(sweepAll(t, 1s - 1ms), std::size_t(0));
    QCOMPARE(sweepAll(t, 1s), std::size_t(10));
    QVERIFY(!t.underSynPressure());
    QCOMPARE(t.synSeenFlows(), std::size_t(0));
    QVERIFY(t.find(answered));
}

// Level 2: at the budget (or with the table full) a new SYN first evicts the syn-seen flow idle
// the longest among the sampled slots (here the whole table), never an answered one; below the
// budget, or with nothing unanswered to take, nothing is evicted.
void TestFlowTable::evictionTakesTheLeastRecentlySeenUnansweredFlow_data()
{
    QTest::addColumn<int>("unanswered");  // syn-seen flows inserted at 10, 20, 30 ... ms
    QTest::addColumn<int>("answered");    // established flows inserted before them, at 0 ms
    QTest::addColumn<int>("refreshed");   // the oldest syn-seen flow seen again (a retransmitted SYN) at 1 s
    QTest::addColumn<int>("evicted");     // index of the syn-seen flow evicted, -1 none
    QTest::newRow("below the budget: nothing") << 15 << 0 << 0 << -1;
    QTest::newRow("at the budget: the oldest") << 16 << 0 << 0 << 0;
    QTest::newRow("a retransmitted SYN is young again") << 16 << 0 << 1 << 1;
    QTest::newRow("answered flows are older but never taken") << 16 << 40 << 0 << 0;
    QTest::newRow("table full of answered flows: nothing") << 0 << 64 << 0 << -1;
    QTest::newRow("table full, one unanswered: that one") << 1 << 63 << 0 << 0;
}

void TestFlowTable::evictionTakesTheLeastRecentlySeenUnansweredFlow()
{
    QFETCH(int, unanswered);
    QFETCH(int, answered);
    QFETCH(int, refreshed);
    QFETCH(int, evicted);
    SynFloodLimits limits;
    limits.pressureDivisor = 0;
    limits.budgetDivisor = 4;
    limits.evictionSample = 1024; // the whole table: deterministic
    FlowTable t(64, shortTimeouts(), limits);
    for (int i = 0; i < answered; ++i)
        QVERIFY(t.insert(tcpKey(1000 + i), flowHash(tcpKey(1000 + i)), 1, FlowState::Established, FlowOrigin::Scheduled, 0s));
    for (int i = 0; i < unanswered; ++i) {
        const FastTime at = std::chrono::milliseconds(10 * (i + 1));
        QVERIFY(t.insert(tcpKey(i), flowHash(tcpKey(i)), 2, FlowState::SynSeen, FlowOrigin::Scheduled, at));
    }
    for (int i = 0; i < refreshed; ++i)
        t.touch(*t.find(tcpKey(i)), kTcpSyn, 1s);
    const FlowKey newcomer = tcpKey(5000);
    QCOMPARE(t.evictForSyn(flowHash(newcomer), 2s), evicted >= 0);
    for (int i = 0; i < unanswered; ++i)
        QCOMPARE(bool(t.find(tcpKey(i))), i != evicted);
    for (int i = 0; i < answered; ++i)
        QVERIFY(t.find(tcpKey(1000 + i)));
    QCOMPARE(t.synSeenFlows(), std::size_t(unanswered - (evicted >= 0)));
    QCOMPARE(t.openFlows(2), std::uint32_t(unanswered - (evicted >= 0)));
    const bool room = t.size() < t.maxFlows();
    QCOMPARE(bool(t.insert(newcomer, flowHash(newcomer), 2, FlowState::SynSeen, FlowOrigin::Scheduled, 2s)), room);
}

void TestFlowTable::sweepWorkIsBounded()
{
    FlowTable t(1000, shortTimeouts());
    for (std::uint32_t i = 0; i < 1000; ++i) {
        const FlowKey k = tcpKey(i);
        QVERIFY(t.insert(k, flowHash(k), 0, FlowState::SynSeen, FlowOrigin::Scheduled, 0s));
    }
    // Every flow is expired, yet one call examines at most 64 slots.
    std::size_t calls = 0;
    std::size_t retired = 0;
    while (t.size() > 0 && calls < 1000) {
        const std::size_t n = t.sweep(1h, 64);
        QVERIFY(n <= 64);
        retired += n;
        ++calls;
    }
    QCOMPARE(retired, std::size_t(1000));
    // A full pass needs about capacity/64 calls (plus re-examined slots after shifts).
    QVERIFY(calls >= t.capacity() / 64 / 2);
    QVERIFY(calls <= 2 * t.capacity() / 64 + 2);
    QCOMPARE(t.activeFlows(0), 0u);
}

void TestFlowTable::memoryPerFlowAtOneMillion()
{
    constexpr std::size_t kFlows = 1000000;
    FlowTable t(kFlows, FlowTimeouts{});
    std::mt19937 rng(1);
    std::size_t inserted = 0;
    for (std::uint32_t i = 0; inserted < kFlows && i < 2 * kFlows; ++i) {
        const FlowKey k{std::uint32_t(rng()), 0x0A000064u, std::uint16_t(rng()), 80, kIpProtoTcp};
        const std::uint64_t h = flowHash(k);
        if (!t.find(k, h) && t.insert(k, h, std::uint16_t(i % 5), FlowState::Established, FlowOrigin::Scheduled, 0s))
            ++inserted;
    }
    QCOMPARE(t.size(), kFlows);
    const FlowKey extra{1, 2, 3, 4, kIpProtoTcp};
    QVERIFY(!t.insert(extra, flowHash(extra), 0, FlowState::SynSeen, FlowOrigin::Scheduled, 0s));
    const double perFlow = double(t.memoryBytes()) / kFlows;
    qInfo("flow table at %zu flows: sizeof(FlowEntry) = %zu B, capacity %zu entries (load %.2f), "
          "%zu bytes total, %.1f bytes per flow (goal <= 64)",
          kFlows, sizeof(FlowEntry), t.capacity(), double(kFlows) / t.capacity(), t.memoryBytes(), perFlow);
    QVERIFY(perFlow <= 64.0);
    std::uint32_t active = 0, open = 0;
    for (std::uint16_t s = 0; s < 5; ++s) {
        active += t.activeFlows(s);
        open += t.openFlows(s);
    }
    QCOMPARE(active, std::uint32_t(kFlows));
    QCOMPARE(open, std::uint32_t(kFlows));
}

QTEST_GUILESS_MAIN(TestFlowTable)
#include "tst_flowtable.moc"
