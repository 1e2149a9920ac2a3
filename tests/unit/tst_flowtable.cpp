// The flow table: creation, TCP transitions, retirement after the grace period, idle expiry,
// bounded sweeps, behaviour when full, reconstructed inserts, per-server counts, and the
// memory per flow at 1M flows (printed; asserted <= 64 bytes).

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
    void trafficKeepsAFlowAlive();
    void timeWrapsAfter49Days();
    void fullTableRefusesThenRecovers();
    void reconstructedInserts();
    void transferredKeepStateAndNeverOverride();
    void randomInsertEraseMatchesAModel();
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
    FlowTable t(16, shortTimeouts());
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

void TestFlowTable::randomInsertEraseMatchesAModel()
{
    // Backward-shift deletion must never lose a key that is still present: compare with a
    // std::set over a seeded random mix of inserts and erases at high load.
    constexpr std::size_t kMax = 4096;
    FlowTable t(kMax, shortTimeouts());
    std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint16_t, std::uint16_t, std::uint8_t>> model;
    std::mt19937 rng(20240607);
    std::uniform_int_distribution<std::uint32_t> pick(0, 3 * kMax);
    for (int step = 0; step < 200000; ++step) {
        const FlowKey k = tcpKey(pick(rng));
        const bool present = model.contains(asTuple(k));
        QCOMPARE(bool(t.find(k)), present);
        if (rng() % 2) {
            if (!present && model.size() < kMax) {
                QVERIFY(t.insert(k, flowHash(k), 0, FlowState::Established, FlowOrigin::Scheduled, 0s));
                model.insert(asTuple(k));
            }
        } else {
            QCOMPARE(t.erase(k), present);
            model.erase(asTuple(k));
        }
        QCOMPARE(t.size(), model.size());
    }
    for (const auto &m : model)
        QVERIFY(t.find(std::make_from_tuple<FlowKey>(m)));
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
