// State reconstruction (paper §3.4): the ConnQuery/ConnReport codec (round trips, splitting,
// size bounds, every kind of malformed input) and the ReconstructionCoordinator state machine
// (answers, retries, give-up, timeout, late and leaving servers, conflicts, rejected reports,
// and a seeded lossy simulation with invariants checked after every step).

#include "agent/connmessages.h"
#include "agent/reconstructioncoordinator.h"

#include <QHostAddress>
#include <QTest>
#include <QtEndian>

#include <map>
#include <random>
#include <set>

using namespace sasha;
using namespace std::chrono_literals;
using Coordinator = ReconstructionCoordinator;
using Kind = Coordinator::Event::Kind;

namespace {

constexpr quint32 kVip = 0x0a4d00c8; // 10.77.0.200
const std::array<quint8, 6> kMac{0x02, 0x5a, 0x5a, 0, 0, 1};

ConnQuery query(quint32 id = 7, std::vector<quint16> ports = {80})
{
    return ConnQuery{id, kVip, std::move(ports)};
}

std::vector<ConnEntry> entries(int n, quint16 vport = 80, quint32 base = 0xc0a80000)
{
    std::vector<ConnEntry> out;
    for (int i = 0; i < n; ++i)
        out.push_back({base + quint32(i / 1000), quint16(10000 + i % 1000), vport, quint8(i % 33)});
    return out;
}

// A simulated agent: answers a query with its connections.
std::vector<QByteArray> answer(tb::NodeAddr server, QByteArrayView queryPayload, const std::vector<ConnEntry> &conns,
                               int perPart = kMaxEntriesPerReport)
{
    const std::optional<ConnQuery> q = decodeConnQuery(queryPayload);
    if (!q)
        return {};
    return encodeConnReports(*q, server, kMac, conns, 0, perPart);
}

std::vector<Kind> kinds(const Coordinator::Output &o)
{
    std::vector<Kind> out;
    for (const auto &e : o.events)
        out.push_back(e.kind);
    return out;
}

int count(const Coordinator::Output &o, Kind k)
{
    return int(std::count_if(o.events.begin(), o.events.end(), [k](const auto &e) { return e.kind == k; }));
}

// Feeds every report of `server` answering the query in `q`.
Coordinator::Output feed(Coordinator &c, tb::Time now, tb::NodeAddr server, const QByteArray &q,
                         const std::vector<ConnEntry> &conns)
{
    Coordinator::Output all;
    for (const QByteArray &r : answer(server, q, conns)) {
        Coordinator::Output o = c.onReport(now, server, r);
        all.flows.insert(all.flows.end(), o.flows.begin(), o.flows.end());
        all.events.insert(all.events.end(), o.events.begin(), o.events.end());
        all.malformed = all.malformed || o.malformed;
    }
    return all;
}

const QByteArray *queryFor(const Coordinator::Output &o, tb::NodeAddr to)
{
    for (const auto &q : o.send)
        if (q.to == to)
            return &q.payload;
    return nullptr;
}

} // namespace

class TestReconstruction : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void idleCode_data();
    void idleCode();
    void queryRoundTrip_data();
    void queryRoundTrip();
    void reportRoundTrip_data();
    void reportRoundTrip();
    void reportWireLayout();
    void hundredThousandFitOneTransfer();
    void queryMalformed_data();
    void queryMalformed();
    void reportMalformed_data();
    void reportMalformed();
    void everyTruncationIsMalformed();
    void trailingBytesIgnored();
    void severalVipsRoundTrip();
    void severalVipsAreQueriedAndMerged();
    void udpServicesRoundTrip();
    void udpReportMalformed_data();
    void udpReportMalformed();
    void udpFlowsAreQueriedAndMerged();

    void allServersAnswer();
    void noServersCompletesAtOnce();
    void silentServerRetriedThenGivenUp();
    void answerToEarlierQueryCounts();
    void overallTimeoutCompletes();
    void multiPartOutOfOrder();
    void slicedMergeAnswersOnlyWhenMerged();
    void slicedMergeIsNotAskedAgain();
    void slicedMergeCountsAtTimeout();
    void slicedMergeOfARestartedServer();
    void conflict_data();
    void conflict();
    void lateServerQueriedAfterCompletion();
    void serverLeavingStopsTheWait();
    void rejected_data();
    void rejected();
    void seededLossySimulation_data();
    void seededLossySimulation();
};

void TestReconstruction::idleCode_data()
{
    QTest::addColumn<quint32>("ms");
    QTest::addColumn<int>("code");
    QTest::newRow("0 ms") << 0u << 0;
    QTest::newRow("1 ms") << 1u << 1;
    QTest::newRow("3 ms") << 3u << 2;
    QTest::newRow("4 ms") << 4u << 3;
    QTest::newRow("1000 ms") << 1000u << 10;
    QTest::newRow("max") << 0xffffffffu << 32;
}

void TestReconstruction::idleCode()
{
    QFETCH(quint32, ms);
    QFETCH(int, code);
    QCOMPARE(int(idleCodeFromMs(ms)), code);
}

void TestReconstruction::queryRoundTrip_data()
{
    QTest::addColumn<std::vector<quint16>>("ports");
    QTest::addColumn<std::vector<quint16>>("decoded");
    QTest::newRow("one port") << std::vector<quint16>{80} << std::vector<quint16>{80};
    QTest::newRow("two ports in order") << std::vector<quint16>{443, 80} << std::vector<quint16>{443, 80};
    QTest::newRow("duplicates removed") << std::vector<quint16>{80, 80, 443} << std::vector<quint16>{80, 443};
}

void TestReconstruction::queryRoundTrip()
{
    QFETCH(std::vector<quint16>, ports);
    QFETCH(std::vector<quint16>, decoded);
    const QByteArray wire = encodeConnQuery(query(0xdeadbeef, ports));
    QCOMPARE(wire.size(), kConnQueryFixedSize + 2 * qsizetype(decoded.size()));
    QString error;
    const std::optional<ConnQuery> q = decodeConnQuery(wire, &error);
    QVERIFY2(q, qPrintable(error));
    QCOMPARE(q->queryId, 0xdeadbeefu);
    QCOMPARE(q->vip, kVip);
    QCOMPARE(q->ports, decoded);
}

void TestReconstruction::reportRoundTrip_data()
{
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("perPart");
    QTest::addColumn<int>("parts");
    QTest::newRow("no connections is one empty part") << 0 << 100 << 1;
    QTest::newRow("one connection") << 1 << 100 << 1;
    QTest::newRow("exactly one full part") << 100 << 100 << 1;
    QTest::newRow("one over a part") << 101 << 100 << 2;
    QTest::newRow("seven in parts of three") << 7 << 3 << 3;
}

void TestReconstruction::reportRoundTrip()
{
    QFETCH(int, n);
    QFETCH(int, perPart);
    QFETCH(int, parts);
    std::vector<ConnEntry> conns = entries(n, 80);
    std::vector<ConnEntry> withOther = conns;
    withOther.push_back({1, 2, 8080, 0}); // not asked: left out
    const std::vector<QByteArray> wire =
        encodeConnReports(query(9, {443, 80}), 0x0a000002, kMac, withOther, 5, perPart);
    QCOMPARE(int(wire.size()), parts);
    std::vector<ConnEntry> back;
    for (int i = 0; i < parts; ++i) {
        QString error;
        const std::optional<ConnReport> r = decodeConnReport(wire[std::size_t(i)], &error);
        QVERIFY2(r, qPrintable(error));
        QCOMPARE(r->queryId, 9u);
        QCOMPARE(r->server, 0x0a000002u);
        QCOMPARE(r->vip, kVip);
        QCOMPARE(r->mac, kMac);
        QCOMPARE(int(r->part), i);
        QCOMPARE(int(r->partCount), parts);
        QCOMPARE(int(r->totalEntries), n);
        QCOMPARE(r->skippedDead, 5u);
        QVERIFY(int(r->entries.size()) <= perPart);
        back.insert(back.end(), r->entries.begin(), r->entries.end());
    }
    QCOMPARE(back, conns);
}

void TestReconstruction::reportWireLayout()
{
    const std::vector<ConnEntry> one{{0xc0a80001, 0x1234, 80, 10}};
    const QByteArray w = encodeConnReports(query(0x01020304, {80}), 0x0a000005, kMac, one, 0)[0];
    QCOMPARE(w.size(), kConnReportFixedSize + 2 + kConnEntrySize);
    QCOMPARE(w.left(4).toHex(), QByteArray("01020001"));                  // version, type, flags, ports
    QCOMPARE(w.mid(4, 4).toHex(), QByteArray("01020304"));                // query id
    QCOMPARE(w.mid(8, 4).toHex(), QByteArray("0a000005"));                // server
    QCOMPARE(w.mid(12, 4).toHex(), QByteArray("0a4d00c8"));               // vip
    QCOMPARE(w.mid(38, 2).toHex(), QByteArray("0050"));                   // port table: 80
    QCOMPARE(w.mid(40, 8).toHex(), QByteArray("c0a80001" "1234" "00" "0a")); // entry
}

void TestReconstruction::hundredThousandFitOneTransfer()
{
    const std::vector<QByteArray> one = encodeConnReports(query(), 1, kMac, entries(100000), 0);
    QCOMPARE(one.size(), std::size_t(1));
    QVERIFY(std::size_t(one[0].size()) <= tb::kMaxOobPayload);
    QCOMPARE(one[0].size(), kConnReportFixedSize + 2 + 800000);
    const std::vector<QByteArray> two =
        encodeConnReports(query(7, {80}), 1, kMac, entries(kMaxEntriesPerReport + 1), 0);
    QCOMPARE(two.size(), std::size_t(2));
    for (const QByteArray &w : two)
        QVERIFY(std::size_t(w.size()) <= tb::kMaxOobPayload);
    // Even a query with the maximum port table keeps a full part under the cap.
    std::vector<quint16> manyPorts;
    for (int i = 0; i < kMaxServicePorts; ++i)
        manyPorts.push_back(quint16(1000 + i));
    const std::vector<QByteArray> full =
        encodeConnReports(query(7, manyPorts), 1, kMac, entries(kMaxEntriesPerReport, 1000), 0);
    QCOMPARE(full.size(), std::size_t(1));
    QVERIFY(std::size_t(full[0].size()) <= tb::kMaxOobPayload);
}

void TestReconstruction::queryMalformed_data()
{
    QTest::addColumn<QByteArray>("wire");
    const QByteArray good = encodeConnQuery(query(1, {80, 443}));
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("header cut") << good.left(kConnQueryFixedSize - 1);
    QTest::newRow("ports cut") << good.left(good.size() - 1);
    QByteArray v = good;
    v[0] = 2;
    QTest::newRow("unknown version") << v;
    QByteArray t = good;
    t[1] = 2;
    QTest::newRow("report type") << t;
    QByteArray zero = good.left(kConnQueryFixedSize);
    zero[12] = 0;
    zero[13] = 0;
    QTest::newRow("no ports") << zero;
    QByteArray many = good;
    qToBigEndian<quint16>(kMaxServicePorts + 1, many.data() + 12);
    many.append(QByteArray(2 * (kMaxServicePorts + 1), '\1'));
    QTest::newRow("too many ports") << many;
}

void TestReconstruction::queryMalformed()
{
    QFETCH(QByteArray, wire);
    QString error;
    QVERIFY(!decodeConnQuery(wire, &error));
    QVERIFY(!error.isEmpty());
    QVERIFY(!decodeConnReport(wire)); // nor is it a report
}

void TestReconstruction::reportMalformed_data()
{
    QTest::addColumn<QByteArray>("wire");
    const QByteArray good = encodeConnReports(query(1, {80, 443}), 1, kMac, entries(3), 0)[0];
    auto with = [&](int at, QByteArray bytes) {
        QByteArray w = good;
        w.replace(at, bytes.size(), bytes);
        return w;
    };
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("header cut") << good.left(kConnReportFixedSize - 1);
    QTest::newRow("unknown version") << with(0, QByteArray::fromHex("09"));
    QTest::newRow("query type") << with(1, QByteArray::fromHex("01"));
    QTest::newRow("port table beyond the bytes") << with(3, QByteArray::fromHex("40"));
    QTest::newRow("port count above the limit") << with(3, QByteArray::fromHex("41"));
    QTest::newRow("part count zero") << with(22, QByteArray::fromHex("00000000"));
    QTest::newRow("part beyond part count") << with(22, QByteArray::fromHex("00020002"));
    QTest::newRow("entries beyond the bytes") << with(34, QByteArray::fromHex("00000004"));
    QTest::newRow("entry count overflowing 32 bits") << with(26, QByteArray::fromHex("ffffffff00000000ffffffff"));
    QTest::newRow("more entries than the total") << with(26, QByteArray::fromHex("00000002"));
    QTest::newRow("entry names a port outside the table")
        << with(kConnReportFixedSize + 4 + 6, QByteArray::fromHex("02"));
}

void TestReconstruction::reportMalformed()
{
    QFETCH(QByteArray, wire);
    QString error;
    QVERIFY(!decodeConnReport(wire, &error));
    QVERIFY(!error.isEmpty());
    // The coordinator counts it and hands nothing out.
    Coordinator c;
    c.start(0us, kVip, {80}, {1});
    const Coordinator::Output o = c.onReport(1ms, 1, wire);
    QVERIFY(o.malformed);
    QVERIFY(o.flows.empty());
    QCOMPARE(c.stats().reportsMalformed, 1u);
}

void TestReconstruction::everyTruncationIsMalformed()
{
    const QByteArray good = encodeConnReports(query(1, {80}), 1, kMac, entries(4), 0)[0];
    for (qsizetype n = 0; n < good.size(); ++n)
        QVERIFY2(!decodeConnReport(good.left(n)), qPrintable(QStringLiteral("prefix of %1 bytes decoded").arg(n)));
    const QByteArray q = encodeConnQuery(query(1, {80, 81}));
    for (qsizetype n = 0; n < q.size(); ++n)
        QVERIFY(!decodeConnQuery(q.left(n)));
}

void TestReconstruction::trailingBytesIgnored()
{
    const QByteArray r = encodeConnReports(query(1, {80}), 1, kMac, entries(2), 0)[0] + QByteArray("future");
    QCOMPARE(decodeConnReport(r)->entries, entries(2));
    const QByteArray q = encodeConnQuery(query(1, {80})) + QByteArray("future");
    QCOMPARE(decodeConnQuery(q)->ports, std::vector<quint16>{80});
}

void TestReconstruction::allServersAnswer()
{
    Coordinator c;
    const Coordinator::Output s = c.start(10ms, kVip, {80}, {1, 2, 3});
    QCOMPARE(s.send.size(), std::size_t(3));
    QCOMPARE(kinds(s), std::vector<Kind>{Kind::Started});
    QVERIFY(c.isRunning());
    Coordinator::Output a = feed(c, 12ms, 1, *queryFor(s, 1), entries(10, 80, 0x01000000));
    QCOMPARE(a.flows.size(), std::size_t(10));
    QCOMPARE(a.flows[0].server, 1u);
    QCOMPARE(a.flows[0].vip, kVip);
    QCOMPARE(kinds(a), std::vector<Kind>{Kind::ServerAnswered});
    QCOMPARE(a.events[0].count, 10u);
    QCOMPARE(a.events[0].elapsed, tb::Time(2ms));
    feed(c, 13ms, 2, *queryFor(s, 2), entries(20, 80, 0x02000000));
    QVERIFY(c.isRunning());
    const Coordinator::Output last = feed(c, 15ms, 3, *queryFor(s, 3), {});
    QCOMPARE(kinds(last), (std::vector<Kind>{Kind::ServerAnswered, Kind::Completed}));
    const auto &done = last.events.back();
    QCOMPARE(done.count, 30u);
    QCOMPARE(done.answered, 3u);
    QCOMPARE(done.missing, 0u);
    QCOMPARE(done.elapsed, tb::Time(5ms));
    QVERIFY(c.isComplete());
    QCOMPARE(c.mergedFlows().size(), std::size_t(30));
    QCOMPARE(c.nextDeadline(), tb::Time::max());
}

void TestReconstruction::noServersCompletesAtOnce()
{
    Coordinator c;
    const Coordinator::Output s = c.start(0us, kVip, {80}, {});
    QCOMPARE(kinds(s), (std::vector<Kind>{Kind::Started, Kind::Completed}));
    QVERIFY(c.isComplete());
}

void TestReconstruction::silentServerRetriedThenGivenUp()
{
    Coordinator c({100ms, 3, 10s});
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1, 2});
    feed(c, 5ms, 1, *queryFor(s, 1), entries(3));
    QCOMPARE(c.nextDeadline(), tb::Time(100ms));
    QVERIFY(c.onTick(99ms).send.empty());
    Coordinator::Output r1 = c.onTick(100ms);
    QCOMPARE(r1.send.size(), std::size_t(1));
    QCOMPARE(r1.send[0].to, 2u);
    QVERIFY(decodeConnQuery(r1.send[0].payload)->queryId != decodeConnQuery(*queryFor(s, 2))->queryId);
    QCOMPARE(kinds(r1), std::vector<Kind>{Kind::QueryRetried});
    QCOMPARE(r1.events[0].count, 2u);
    QCOMPARE(c.onTick(200ms).send.size(), std::size_t(1));
    const Coordinator::Output end = c.onTick(300ms);
    QVERIFY(end.send.empty());
    QCOMPARE(kinds(end), (std::vector<Kind>{Kind::ServerGaveUp, Kind::Completed}));
    QCOMPARE(end.events.back().answered, 1u);
    QCOMPARE(end.events.back().missing, 1u);
    QCOMPARE(c.stats().queriesSent, 4u);
}

void TestReconstruction::answerToEarlierQueryCounts()
{
    Coordinator c({100ms, 3, 10s});
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1});
    c.onTick(100ms); // retried
    const Coordinator::Output a = feed(c, 150ms, 1, *queryFor(s, 1), entries(2));
    QCOMPARE(kinds(a), (std::vector<Kind>{Kind::ServerAnswered, Kind::Completed}));
    QCOMPARE(a.events[0].elapsed, tb::Time(150ms));
}

void TestReconstruction::overallTimeoutCompletes()
{
    Coordinator c({100ms, 100, 500ms});
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1, 2});
    feed(c, 1ms, 1, *queryFor(s, 1), entries(1));
    Coordinator::Output o;
    for (tb::Time t = 100ms; t <= 500ms && !c.isComplete(); t += 100ms)
        o = c.onTick(t);
    QVERIFY(c.isComplete());
    QCOMPARE(count(o, Kind::Completed), 1);
    QCOMPARE(o.events.back().elapsed, tb::Time(500ms));
    QVERIFY(o.events.back().detail.contains(QStringLiteral("timed out")));
    // A late answer still reaches the flow table, without a second completion.
    const Coordinator::Output late = feed(c, 700ms, 2, *queryFor(s, 2), entries(4, 80, 0x09000000));
    QCOMPARE(late.flows.size(), std::size_t(4));
    QCOMPARE(kinds(late), std::vector<Kind>{Kind::ServerAnswered});
}

// The daemon's way (ReconstructionRunner): decoded off the ring's thread, merged a budget at a
// time. The flows come out in slices; the server has answered, and the run is complete, only
// with the last slice; the merged table is the same as onReport's.
void TestReconstruction::slicedMergeAnswersOnlyWhenMerged()
{
    Coordinator c;
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1, 2});
    feed(c, 1ms, 2, *queryFor(s, 2), entries(5, 80, 0x02000000));
    const std::vector<QByteArray> parts = answer(1, *queryFor(s, 1), entries(25), 10);
    QCOMPARE(parts.size(), std::size_t(3));
    std::size_t flows = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const Coordinator::Output o = c.onDecodedReport(2ms, 1, *decodeConnReport(parts[i]), 4);
        QCOMPARE(o.flows.size(), std::size_t(4)); // at most the budget per call
        QVERIFY(o.events.empty());
        flows += o.flows.size();
    }
    QVERIFY(c.hasPendingMerge());
    QVERIFY(c.isRunning());
    std::vector<Kind> seen;
    for (int turn = 0; turn < 10 && c.hasPendingMerge(); ++turn) {
        const Coordinator::Output o = c.mergeMore(3ms, 4);
        QVERIFY(o.flows.size() <= 4);
        flows += o.flows.size();
        for (const auto &e : o.events)
            seen.push_back(e.kind);
    }
    QVERIFY(!c.hasPendingMerge());
    QCOMPARE(flows, std::size_t(25));
    QCOMPARE(seen, (std::vector<Kind>{Kind::ServerAnswered, Kind::Completed}));
    QVERIFY(c.isComplete());
    QCOMPARE(c.mergedCount(), std::size_t(30));
}

// An answer that is in but not merged yet is not asked for again (each query of a 100k-connection
// server costs it a dump), and no deadline is armed for it.
void TestReconstruction::slicedMergeIsNotAskedAgain()
{
    Coordinator c({100ms, 4, 10s});
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1});
    const std::vector<QByteArray> parts = answer(1, *queryFor(s, 1), entries(20));
    QCOMPARE(parts.size(), std::size_t(1));
    c.onDecodedReport(50ms, 1, *decodeConnReport(parts[0]), 5);
    QVERIFY(c.hasPendingMerge());
    QCOMPARE(c.nextDeadline(), tb::Time(10s)); // only the overall timeout
    QVERIFY(c.onTick(150ms).send.empty());
    QCOMPARE(c.stats().queriesSent, 1u);
    while (c.hasPendingMerge())
        c.mergeMore(160ms, 5);
    QVERIFY(c.isComplete());
}

// At the overall timeout what has arrived is merged before the completion is counted, so no
// reported flow reaches the table after "complete".
void TestReconstruction::slicedMergeCountsAtTimeout()
{
    Coordinator c({100ms, 100, 500ms});
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1, 2});
    const std::vector<QByteArray> parts = answer(1, *queryFor(s, 1), entries(30));
    const Coordinator::Output first = c.onDecodedReport(10ms, 1, *decodeConnReport(parts[0]), 10);
    QCOMPARE(first.flows.size(), std::size_t(10));
    const Coordinator::Output end = c.onTick(500ms); // 2 never answers
    QCOMPARE(end.flows.size(), std::size_t(20));
    QCOMPARE(count(end, Kind::ServerAnswered), 1);
    QCOMPARE(count(end, Kind::Completed), 1);
    QCOMPARE(end.events.back().kind, Kind::Completed);
    QCOMPARE(end.events.back().count, 30u);
    QCOMPARE(end.events.back().answered, 1u);
    QVERIFY(!c.hasPendingMerge());
}

// A server that rejoins while its first answer is still being merged is asked again; the old
// answer's flows still count, but only the new answer makes it "answered".
void TestReconstruction::slicedMergeOfARestartedServer()
{
    Coordinator c({100ms, 4, 10s});
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1});
    const std::vector<QByteArray> old = answer(1, *queryFor(s, 1), entries(10));
    c.onDecodedReport(5ms, 1, *decodeConnReport(old[0]), 3);
    const Coordinator::Output joined = c.onServerJoined(6ms, 1);
    QCOMPARE(joined.send.size(), std::size_t(1));
    std::size_t flows = 3;
    for (int turn = 0; turn < 10 && c.hasPendingMerge(); ++turn) {
        const Coordinator::Output o = c.mergeMore(7ms, 3);
        QCOMPARE(count(o, Kind::ServerAnswered), 0);
        flows += o.flows.size();
    }
    QCOMPARE(flows, std::size_t(10));
    QVERIFY(c.isRunning());
    const std::vector<QByteArray> fresh = answer(1, joined.send[0].payload, entries(12));
    const Coordinator::Output o = c.onDecodedReport(8ms, 1, *decodeConnReport(fresh[0]), 100);
    QCOMPARE(kinds(o), (std::vector<Kind>{Kind::ServerAnswered, Kind::Completed}));
    QCOMPARE(c.mergedCount(), std::size_t(12));
}

void TestReconstruction::multiPartOutOfOrder()
{
    Coordinator c;
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1});
    std::vector<QByteArray> parts = answer(1, *queryFor(s, 1), entries(10), 3);
    QCOMPARE(parts.size(), std::size_t(4));
    std::reverse(parts.begin(), parts.end());
    std::size_t flows = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const Coordinator::Output o = c.onReport(1ms, 1, parts[i]);
        flows += o.flows.size();
        QCOMPARE(c.isComplete(), i + 1 == parts.size());
        // A duplicate part is ignored.
        QVERIFY(c.onReport(1ms, 1, parts[i]).flows.empty());
    }
    QCOMPARE(flows, std::size_t(10));
    QCOMPARE(c.stats().reportsDuplicate, 4u);
}

void TestReconstruction::conflict_data()
{
    QTest::addColumn<int>("idleA"); // server 1
    QTest::addColumn<int>("idleB"); // server 2
    QTest::addColumn<bool>("bFirst");
    QTest::addColumn<quint32>("winner");
    QTest::newRow("fresher second claim wins") << 12 << 3 << false << 2u;
    QTest::newRow("fresher first claim stays") << 3 << 12 << false << 1u;
    QTest::newRow("fresher wins in the other order") << 3 << 12 << true << 1u;
    QTest::newRow("tie goes to the lower address") << 5 << 5 << false << 1u;
    QTest::newRow("tie goes to the lower address in the other order") << 5 << 5 << true << 1u;
}

void TestReconstruction::conflict()
{
    QFETCH(int, idleA);
    QFETCH(int, idleB);
    QFETCH(bool, bFirst);
    QFETCH(quint32, winner);
    Coordinator c;
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1, 2});
    const std::vector<ConnEntry> a{{0xc0a80001, 5000, 80, quint8(idleA)}, {0xc0a80001, 5001, 80, 0}};
    const std::vector<ConnEntry> b{{0xc0a80001, 5000, 80, quint8(idleB)}};
    std::vector<Coordinator::Flow> handedOut;
    auto run = [&](tb::NodeAddr who, const std::vector<ConnEntry> &conns) {
        const Coordinator::Output o = feed(c, 1ms, who, *queryFor(s, who), conns);
        handedOut.insert(handedOut.end(), o.flows.begin(), o.flows.end());
        return o;
    };
    const Coordinator::Output last = bFirst ? (run(2, b), run(1, a)) : (run(1, a), run(2, b));
    QCOMPARE(last.events.back().kind, Kind::Completed);
    QCOMPARE(last.events.back().conflicts, 1u);
    QCOMPARE(last.events.back().count, 2u);
    // The last flow handed out for the contested key is the winner (the flow table applies them
    // in order: a later one corrects an earlier one).
    quint32 lastServer = 0;
    for (const auto &f : handedOut)
        if (f.clientPort == 5000)
            lastServer = f.server;
    QCOMPARE(lastServer, winner);
    for (const auto &f : c.mergedFlows())
        if (f.clientPort == 5000)
            QCOMPARE(f.server, winner);
    QCOMPARE(c.stats().conflicts, 1u);
}

void TestReconstruction::lateServerQueriedAfterCompletion()
{
    Coordinator c;
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1});
    feed(c, 1ms, 1, *queryFor(s, 1), entries(1));
    QVERIFY(c.isComplete());
    const Coordinator::Output j = c.onServerJoined(2s, 4);
    QCOMPARE(kinds(j), std::vector<Kind>{Kind::LateServerQueried});
    QCOMPARE(j.send.size(), std::size_t(1));
    QCOMPARE(j.send[0].to, 4u);
    QVERIFY(c.onServerJoined(2s, 4).send.empty()); // already being asked
    const Coordinator::Output a = feed(c, 2s + 3ms, 4, j.send[0].payload, entries(6, 80, 0x04000000));
    QCOMPARE(a.flows.size(), std::size_t(6));
    QCOMPARE(kinds(a), std::vector<Kind>{Kind::ServerAnswered});
    QCOMPARE(a.events[0].elapsed, tb::Time(3ms));
    QCOMPARE(c.mergedCount(), std::size_t(7));
    // A rejoining server that answered before is asked again.
    QCOMPARE(c.onServerJoined(3s, 1).send.size(), std::size_t(1));
}

void TestReconstruction::serverLeavingStopsTheWait()
{
    Coordinator c;
    const Coordinator::Output s = c.start(0us, kVip, {80}, {1, 2});
    feed(c, 1ms, 1, *queryFor(s, 1), entries(1));
    const Coordinator::Output l = c.onServerLeft(2ms, 2);
    QCOMPARE(kinds(l), (std::vector<Kind>{Kind::ServerLeft, Kind::Completed}));
    QCOMPARE(l.events.back().missing, 1u);
    QVERIFY(c.onServerLeft(3ms, 2).events.empty());
    // Its report arriving after it left is ignored.
    QVERIFY(feed(c, 4ms, 2, *queryFor(s, 2), entries(3)).flows.empty());
}

void TestReconstruction::rejected_data()
{
    QTest::addColumn<int>("which");
    QTest::newRow("from a node that was not queried") << 0;
    QTest::newRow("naming another server than its sender") << 1;
    QTest::newRow("answering a query we never sent") << 2;
    QTest::newRow("for another vip") << 3;
    QTest::newRow("answering the previous run") << 4;
}

void TestReconstruction::rejected()
{
    QFETCH(int, which);
    Coordinator c;
    Coordinator::Output s = c.start(0us, kVip, {80}, {1, 2});
    const ConnQuery q = *decodeConnQuery(*queryFor(s, 1));
    QByteArray wire;
    tb::NodeAddr from = 1;
    switch (which) {
    case 0:
        from = 9;
        wire = encodeConnReports(q, 9, kMac, entries(1), 0)[0];
        break;
    case 1:
        wire = encodeConnReports(q, 2, kMac, entries(1), 0)[0];
        break;
    case 2:
        wire = encodeConnReports(ConnQuery{q.queryId + 100, kVip, {80}}, 1, kMac, entries(1), 0)[0];
        break;
    case 3:
        wire = encodeConnReports(ConnQuery{q.queryId, kVip + 1, {80}}, 1, kMac, entries(1), 0)[0];
        break;
    case 4:
        s = c.start(1s, kVip, {80}, {1, 2}); // the old query id is no longer ours
        wire = encodeConnReports(q, 1, kMac, entries(1), 0)[0];
        break;
    }
    const Coordinator::Output o = c.onReport(1s + 1ms, from, wire);
    QVERIFY(o.malformed);
    QVERIFY(!o.error.isEmpty());
    QVERIFY(o.flows.empty());
    QVERIFY(o.events.empty());
    QCOMPARE(c.stats().reportsUnexpected, 1u);
    QCOMPARE(c.mergedCount(), std::size_t(0));
}

void TestReconstruction::seededLossySimulation_data()
{
    QTest::addColumn<quint32>("seed");
    QTest::addColumn<bool>("sliced");
    for (quint32 seed : {1u, 2u, 3u, 42u, 1234u, 99991u}) {
        QTest::newRow(qPrintable(QStringLiteral("seed %1").arg(seed))) << seed << false;
        // The daemon's way: decoded reports merged 7 entries per millisecond.
        QTest::newRow(qPrintable(QStringLiteral("seed %1 sliced").arg(seed))) << seed << true;
    }
}

// Five agents, overlapping flows, queries and reports lost or delayed at random. After every
// step: the merge holds exactly the winners (by the documented rule) over the reports accepted
// so far; the run completes by the overall timeout and exactly once.
void TestReconstruction::seededLossySimulation()
{
    QFETCH(quint32, seed);
    QFETCH(bool, sliced);
    std::mt19937 rng(seed);
    const ReconstructionConfig cfg{50ms, 4, 400ms};
    Coordinator c(cfg);
    const std::vector<tb::NodeAddr> servers{1, 2, 3, 4, 5};
    std::map<tb::NodeAddr, std::vector<ConnEntry>> held;
    for (tb::NodeAddr s : servers)
        for (int i = 0; i < 200; ++i) { // client ports overlap across servers now and then
            const ConnEntry e{quint32(0xc0a80000 + rng() % 8), quint16(1000 + rng() % 400), 80, quint8(rng() % 20)};
            auto &mine = held[s];
            // One host never holds the same 4-tuple twice.
            if (std::none_of(mine.begin(), mine.end(), [&](const ConnEntry &x) {
                    return x.clientIp == e.clientIp && x.clientPort == e.clientPort;
                }))
                mine.push_back(e);
        }

    struct InFlight {
        tb::Time at;
        tb::NodeAddr from;
        QByteArray payload;
    };
    std::vector<InFlight> reports;
    std::set<tb::NodeAddr> answered;
    std::map<quint64, std::pair<tb::NodeAddr, quint8>> expected;
    int completions = 0;
    auto deliverQueries = [&](const Coordinator::Output &o, tb::Time now) {
        for (const auto &q : o.send) {
            if (rng() % 100 < 40)
                continue; // lost (the reliable exchange failed, or the agent was busy)
            for (QByteArray &r : answer(q.to, q.payload, held[q.to]))
                reports.push_back({now + tb::Time(std::chrono::milliseconds(rng() % 120)), q.to, std::move(r)});
        }
        completions += count(o, Kind::Completed);
    };
    auto accept = [&](tb::NodeAddr s) {
        if (!answered.insert(s).second)
            return;
        for (const ConnEntry &e : held[s]) {
            const quint64 k = (quint64(e.clientIp) << 32) | (quint64(e.clientPort) << 16) | e.vport;
            auto it = expected.find(k);
            if (it == expected.end() || e.idleCode < it->second.second
                || (e.idleCode == it->second.second && s < it->second.first))
                expected[k] = {s, e.idleCode};
        }
    };

    deliverQueries(c.start(0us, kVip, {80}, servers), 0us);
    for (tb::Time now = 1ms; now <= 1s; now += 1ms) {
        for (auto it = reports.begin(); it != reports.end();) {
            if (it->at > now) {
                ++it;
                continue;
            }
            const Coordinator::Output o = sliced ? c.onDecodedReport(now, it->from, *decodeConnReport(it->payload), 7)
                                                 : c.onReport(now, it->from, it->payload);
            QVERIFY(!o.malformed);
            QVERIFY(o.flows.size() <= (sliced ? 7u : 1000u));
            for (const auto &e : o.events)
                if (e.kind == Kind::ServerAnswered)
                    accept(e.server);
            completions += count(o, Kind::Completed);
            it = reports.erase(it);
        }
        if (sliced && c.hasPendingMerge()) {
            const Coordinator::Output o = c.mergeMore(now, 7);
            for (const auto &e : o.events)
                if (e.kind == Kind::ServerAnswered)
                    accept(e.server);
            completions += count(o, Kind::Completed);
        }
        if (now >= c.nextDeadline())
            deliverQueries(c.onTick(now), now);
        // Invariants.
        if (now >= cfg.overallTimeout)
            QVERIFY2(c.isComplete(), "not complete at the overall timeout");
        QVERIFY(completions <= 1);
    }
    QCOMPARE(completions, 1);
    std::map<quint64, tb::NodeAddr> merged;
    for (const auto &f : c.mergedFlows())
        merged[(quint64(f.clientIp) << 32) | (quint64(f.clientPort) << 16) | f.vport] = f.server;
    std::map<quint64, tb::NodeAddr> want;
    for (const auto &[k, v] : expected)
        want[k] = v.first;
    QCOMPARE(merged.size(), want.size());
    QVERIFY(merged == want);
    QVERIFY(!merged.empty());
    QVERIFY(c.stats().conflicts > 0); // the rule was exercised
}

QTEST_GUILESS_MAIN(TestReconstruction)
#include "tst_reconstruction.moc"

// Services on two VIPs (docs/agent.md): the query carries the second VIP in its appended field,
// the report the VIP of each port-table entry; one VIP stays the old layout byte for byte.
void TestReconstruction::severalVipsRoundTrip()
{
    constexpr quint32 kVip2 = 0x0a4d00c9; // 10.77.0.201
    const ConnQuery one = connQueryFor(9, {{kVip, 80}, {kVip, 443}});
    QCOMPARE(one.vip, kVip);
    QVERIFY(one.moreVips.empty());
    QCOMPARE(encodeConnQuery(one), encodeConnQuery(query(9, {80, 443}))); // the old layout
    const ConnQuery two = connQueryFor(9, {{kVip, 80}, {kVip2, 80}, {kVip2, 8080}});
    const QByteArray wire = encodeConnQuery(two);
    QCOMPARE(wire.size(), kConnQueryFixedSize + 2 + 2 + 4 + 2 + 4);
    const auto back = decodeConnQuery(wire);
    QVERIFY(back.has_value());
    QCOMPARE(back->ports, std::vector<quint16>{80});
    QCOMPARE(back->moreVips.size(), std::size_t(1));
    QCOMPARE(back->moreVips[0].vip, kVip2);
    QCOMPARE(back->moreVips[0].ports, (std::vector<quint16>{80, 8080}));
    QCOMPARE(back->services(), (std::vector<std::pair<quint32, quint16>>{{kVip, 80}, {kVip2, 80}, {kVip2, 8080}}));
    // Over 64 ports in all, or a VIP without ports: malformed.
    QByteArray tooMany = encodeConnQuery(connQueryFor(9, {{kVip, 80}}));
    tooMany[3] = 1; // flags: more VIPs follow
    tooMany += QByteArray::fromHex("0001") + QByteArray::fromHex("0a4d00c9") + QByteArray::fromHex("0040")
        + QByteArray(2 * 64, '\1');
    QString error;
    QVERIFY(!decodeConnQuery(tooMany, &error));
    QVERIFY2(error.contains(QStringLiteral("65 ports over all VIPs")), qPrintable(error));
    QByteArray truncated = wire.left(wire.size() - 1);
    QVERIFY(!decodeConnQuery(truncated));
    // Without the flag, appended bytes are a later version's and ignored (as trailingBytesIgnored).
    QByteArray unflagged = wire;
    unflagged[3] = 0;
    QVERIFY(decodeConnQuery(unflagged).has_value());
    QVERIFY(decodeConnQuery(unflagged)->moreVips.empty());

    // A report: the same client port to both VIPs on port 80 is two connections.
    const std::vector<ConnEntry> conns = {{0xc0a80001, 5000, 80, 3, kVip}, {0xc0a80001, 5000, 80, 4, kVip2},
                                          {0xc0a80002, 5001, 8080, 5, kVip2}, {0xc0a80003, 5002, 443, 6, kVip2}};
    const std::vector<QByteArray> parts = encodeConnReports(*back, 3, kMac, conns, 0);
    QCOMPARE(parts.size(), std::size_t(1));
    const auto r = decodeConnReport(parts[0]);
    QVERIFY(r.has_value());
    QCOMPARE(r->vip, kVip);
    QCOMPARE(r->entries.size(), std::size_t(3)); // 443 on kVip2 was not asked
    QCOMPARE(r->entries[0].vip, 0u);              // the report's own VIP
    QCOMPARE(r->entries[1].vip, kVip2);
    QCOMPARE(r->entries[1].vport, quint16(80));
    QCOMPARE(r->entries[2].vip, kVip2);
    QCOMPARE(r->entries[2].vport, quint16(8080));
}

void TestReconstruction::severalVipsAreQueriedAndMerged()
{
    constexpr quint32 kVip2 = 0x0a4d00c9;
    Coordinator c;
    const std::vector<std::pair<quint32, quint16>> services = {{kVip, 80}, {kVip2, 80}};
    const Coordinator::Output started = c.start(tb::Time(0), services, {1, 2});
    QCOMPARE(started.send.size(), std::size_t(2));
    QVERIFY(queryFor(started, 1) && queryFor(started, 2));
    const auto q = decodeConnQuery(*queryFor(started, 1));
    QVERIFY(q.has_value());
    QCOMPARE(q->services(), services);
    // Server 1 holds a connection on each VIP from the same client port; server 2 one on kVip2
    // and one on a port nobody asked for (left out by the encoder, never merged).
    Coordinator::Output o = feed(c, tb::Time(1), 1, *queryFor(started, 1), {{0xc0a80001, 5000, 80, 2, kVip}, {0xc0a80001, 5000, 80, 2, kVip2}});
    QCOMPARE(o.flows.size(), std::size_t(2));
    QCOMPARE(o.flows[0].vip, kVip);
    QCOMPARE(o.flows[1].vip, kVip2);
    o = feed(c, tb::Time(2), 2, *queryFor(started, 2), {{0xc0a80002, 6000, 80, 1, kVip2}, {0xc0a80002, 6001, 81, 1, kVip2}});
    QCOMPARE(o.flows.size(), std::size_t(1));
    QCOMPARE(o.flows[0].vip, kVip2);
    QCOMPARE(o.flows[0].server, tb::NodeAddr(2));
    QVERIFY(c.isComplete());
    QCOMPARE(c.mergedCount(), std::size_t(3));
    std::vector<Coordinator::Flow> merged = c.mergedFlows();
    QCOMPARE(std::count_if(merged.begin(), merged.end(), [&](const Coordinator::Flow &f) { return f.vip == kVip2; }), 2);
}

// UDP services (docs/agent.md "UDP"): the query carries them in a field of their own (flags bit
// 1), the report a protocol per port-table entry (flags bit 1). A query or report without UDP is
// the old layout byte for byte, and an agent that predates the field (which ignores the flag and
// the bytes after the ports) reads the TCP part of a new query exactly.
void TestReconstruction::udpServicesRoundTrip()
{
    constexpr quint32 kVip2 = 0x0a4d00c9; // 10.77.0.201
    QCOMPARE(encodeConnQuery(connQueryFor(9, {{kVip, 80}}, {})), encodeConnQuery(query(9, {80})));
    const ConnQuery q = connQueryFor(9, {{kVip, 80}, {kVip, 53}}, {{kVip, 53}, {kVip2, 53}, {kVip2, 443}});
    QCOMPARE(q.vip, kVip);
    QVERIFY(q.moreVips.empty());
    QCOMPARE(q.udp.size(), std::size_t(2));
    const QByteArray wire = encodeConnQuery(q);
    QCOMPARE(wire.size(), kConnQueryFixedSize + 2 * 2 + 2 + (4 + 2 + 2) + (4 + 2 + 2 * 2));
    QCOMPARE(quint8(wire[3]), quint8(0x02)); // flags: the UDP field, no more-VIPs field
    const auto back = decodeConnQuery(wire);
    QVERIFY(back.has_value());
    QVERIFY(*back == q);
    QCOMPARE(back->services(), (ServicePorts{{kVip, 80}, {kVip, 53}}));
    QCOMPARE(back->udpServices(), (ServicePorts{{kVip, 53}, {kVip2, 53}, {kVip2, 443}}));
    // What an agent that predates the field reads: the flag unknown to it, the bytes after the
    // ports ignored. Its TCP services are exactly the new query's.
    QByteArray old = wire;
    old[3] = 0;
    const auto oldView = decodeConnQuery(old);
    QVERIFY(oldView.has_value());
    QVERIFY(oldView->udp.empty());
    QCOMPARE(oldView->services(), back->services());
    // Its answer has no protocol table: every entry is TCP to the new dispatcher too.
    const std::vector<QByteArray> oldAnswer = encodeConnReports(*oldView, 3, kMac, std::vector<ConnEntry>{{0xc0a80001, 5000, 53, 2}}, 0);
    QCOMPARE(quint8(oldAnswer[0][2]), quint8(0)); // flags
    const auto oldReport = decodeConnReport(oldAnswer[0]);
    QVERIFY(oldReport.has_value());
    QCOMPARE(oldReport->entries.size(), std::size_t(1));
    QVERIFY(!oldReport->entries[0].udp);

    // Both fields: more VIPs then UDP.
    const ConnQuery both = connQueryFor(5, {{kVip, 80}, {kVip2, 8080}}, {{kVip2, 53}});
    const auto bothBack = decodeConnQuery(encodeConnQuery(both));
    QVERIFY(bothBack.has_value());
    QVERIFY(*bothBack == both);
    QCOMPARE(quint8(encodeConnQuery(both)[3]), quint8(0x03));

    // UDP services only: no TCP port, the query's vip is the first UDP VIP. An agent that predates
    // the field refuses it (0 ports), and the dispatcher gives that agent up.
    const ConnQuery udpOnly = connQueryFor(6, {}, {{kVip2, 53}});
    QCOMPARE(udpOnly.vip, kVip2);
    QVERIFY(udpOnly.ports.empty());
    const QByteArray udpOnlyWire = encodeConnQuery(udpOnly);
    QVERIFY(decodeConnQuery(udpOnlyWire) == std::optional<ConnQuery>(udpOnly));
    QByteArray udpOnlyOld = udpOnlyWire;
    udpOnlyOld[3] = 0;
    QString error;
    QVERIFY(!decodeConnQuery(udpOnlyOld, &error));
    QVERIFY2(error.contains(QStringLiteral("0 ports")), qPrintable(error));
    // Over 64 UDP ports: malformed; 64 UDP beside 64 TCP: fine (separate budgets).
    QByteArray tooMany = encodeConnQuery(connQueryFor(9, {{kVip, 80}}, {{kVip, 53}}));
    tooMany.chop(2 + 4 + 2 + 2);
    tooMany += QByteArray::fromHex("0001") + QByteArray::fromHex("0a4d00c9") + QByteArray::fromHex("0041")
        + QByteArray(2 * 65, '\1');
    QVERIFY(!decodeConnQuery(tooMany, &error));
    QVERIFY2(error.contains(QStringLiteral("UDP services: 65 ports over all VIPs")), qPrintable(error));
    ServicePorts tcp64, udp64;
    for (int i = 0; i < kMaxServicePorts; ++i) {
        tcp64.emplace_back(kVip, quint16(1000 + i));
        udp64.emplace_back(kVip, quint16(1000 + i));
    }
    const auto full = decodeConnQuery(encodeConnQuery(connQueryFor(1, tcp64, udp64)));
    QVERIFY(full.has_value());
    QCOMPARE(full->udpServices(), udp64);

    // The report: TCP and UDP from the same client port to the same VIP and port are two
    // connections; a UDP socket on a port asked for TCP only is left out.
    const std::vector<ConnEntry> conns = {
        {0xc0a80001, 5000, 53, 3, 0, false},     {0xc0a80001, 5000, 53, 0, 0, true},
        {0xc0a80002, 5001, 80, 0, 0, true},      {0xc0a80003, 5002, 443, 0, kVip2, true}};
    const std::vector<QByteArray> parts = encodeConnReports(*back, 3, kMac, conns, 0);
    QCOMPARE(parts.size(), std::size_t(1));
    QCOMPARE(quint8(parts[0][2]), quint8(0x03)); // flags: a VIP table (kVip2) and a protocol table
    QCOMPARE(quint8(parts[0][3]), quint8(5));    // 2 TCP + 3 UDP pairs
    QCOMPARE(parts[0].right(5), QByteArray::fromHex("0606111111")); // the protocol table, last
    const auto r = decodeConnReport(parts[0]);
    QVERIFY(r.has_value());
    QCOMPARE(r->entries.size(), std::size_t(3));
    QVERIFY(r->entries[0] == (ConnEntry{0xc0a80001, 5000, 53, 3, 0, false}));
    QVERIFY(r->entries[1] == (ConnEntry{0xc0a80001, 5000, 53, 0, 0, true}));
    QVERIFY(r->entries[2] == (ConnEntry{0xc0a80003, 5002, 443, 0, kVip2, true}));
    // One VIP: no VIP table, only the protocol table.
    const auto oneVip = decodeConnQuery(encodeConnQuery(connQueryFor(2, {{kVip, 80}}, {{kVip, 53}})));
    const std::vector<QByteArray> oneVipParts = encodeConnReports(*oneVip, 3, kMac, conns, 0);
    QCOMPARE(quint8(oneVipParts[0][2]), quint8(0x02));
    QCOMPARE(oneVipParts[0].size(), kConnReportFixedSize + 2 * 2 + kConnEntrySize + 2);
    QVERIFY(decodeConnReport(oneVipParts[0])->entries == (std::vector<ConnEntry>{{0xc0a80001, 5000, 53, 0, 0, true}}));
    // 64 TCP and 64 UDP pairs: a 128-entry table, accepted with the protocol table only.
    const std::vector<QByteArray> fullParts = encodeConnReports(*full, 3, kMac, std::vector<ConnEntry>{{0xc0a80001, 5000, 1063, 0, 0, true}}, 0);
    QCOMPARE(quint8(fullParts[0][3]), quint8(2 * kMaxServicePorts));
    const auto fullReport = decodeConnReport(fullParts[0]);
    QVERIFY(fullReport.has_value());
    QVERIFY(fullReport->entries == (std::vector<ConnEntry>{{0xc0a80001, 5000, 1063, 0, 0, true}}));
}

void TestReconstruction::udpReportMalformed_data()
{
    QTest::addColumn<QByteArray>("payload");
    QTest::addColumn<QString>("mustContain");
    const auto q = decodeConnQuery(encodeConnQuery(connQueryFor(2, {{kVip, 80}}, {{kVip, 53}})));
    const QByteArray good = encodeConnReports(*q, 3, kMac, std::vector<ConnEntry>{{0xc0a80001, 5000, 53, 0, 0, true}}, 0)[0];
    QByteArray badProto = good;
    badProto[badProto.size() - 1] = char(99);
    QTest::newRow("protocol neither tcp nor udp") << badProto << QStringLiteral("protocol 99");
    QTest::newRow("protocol table cut short") << good.left(good.size() - 1) << QStringLiteral("protocol table of 2 entries");
    QByteArray noFlag = good;
    noFlag[2] = 0;
    noFlag[3] = char(65); // 65 ports without the protocol table
    QTest::newRow("over 64 ports without the protocol table") << noFlag << QStringLiteral("65 ports, accepted 0..64");
    QByteArray over = good;
    over[3] = char(129);
    QTest::newRow("over 128 ports with the protocol table") << over << QStringLiteral("129 ports, accepted 0..128");
}

void TestReconstruction::udpReportMalformed()
{
    QFETCH(QByteArray, payload);
    QFETCH(QString, mustContain);
    QString error;
    QVERIFY(!decodeConnReport(payload, &error));
    QVERIFY2(error.contains(mustContain), qPrintable(error));
}

// The coordinator asks UDP services beside TCP ones and merges each protocol's flows apart: a
// UDP flow and a TCP flow with the same addresses and ports are two flows; a UDP entry on a
// (VIP, port) asked for TCP only is not merged.
void TestReconstruction::udpFlowsAreQueriedAndMerged()
{
    Coordinator c;
    const Coordinator::Output started = c.start(tb::Time(0), ServicePorts{{kVip, 80}}, ServicePorts{{kVip, 53}}, {1, 2});
    QCOMPARE(started.send.size(), std::size_t(2));
    const auto q = decodeConnQuery(*queryFor(started, 1));
    QVERIFY(q.has_value());
    QCOMPARE(q->services(), (ServicePorts{{kVip, 80}}));
    QCOMPARE(q->udpServices(), (ServicePorts{{kVip, 53}}));
    Coordinator::Output o = feed(c, tb::Time(1), 1, *queryFor(started, 1),
                                 {{0xc0a80001, 5000, 53, 0, 0, true}, {0xc0a80001, 5000, 80, 2, 0, false}});
    QCOMPARE(o.flows.size(), std::size_t(2));
    QVERIFY(o.flows[0] == (Coordinator::Flow{0xc0a80001, 5000, kVip, 53, 1, true}));
    QVERIFY(o.flows[1] == (Coordinator::Flow{0xc0a80001, 5000, kVip, 80, 1, false}));
    // Server 2: the same UDP flow (a conflict: equal codes go to the lower address, server 1),
    // and a TCP socket on UDP port 53, never asked.
    o = feed(c, tb::Time(2), 2, *queryFor(started, 2), {{0xc0a80001, 5000, 53, 0, 0, true}, {0xc0a80002, 6000, 53, 0, 0, false}});
    QVERIFY(o.flows.empty());
    QVERIFY(c.isComplete());
    QCOMPARE(c.stats().conflicts, quint64(1));
    QCOMPARE(c.mergedCount(), std::size_t(2));
    std::vector<Coordinator::Flow> merged = c.mergedFlows();
    QCOMPARE(std::count_if(merged.begin(), merged.end(), [](const Coordinator::Flow &f) { return f.udp && f.server == 1; }), 1);
}
