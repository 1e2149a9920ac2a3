// FlowFeedReceiver (gui/flowfeedreceiver.h): the console's end of the dispatcher's flow feed.
// A new dispatcher's snapshot resets and replaces the map, changes of the current run apply,
// changes of another run are dropped, malformed or forged messages are refused; and the
// receiver driving a real ConnectionMapModel follows a failover.

#include "connectionmapmodel.h"
#include "flowfeedreceiver.h"

#include <QTest>

using namespace sasha;
using namespace sasha::console;

namespace {

constexpr tb::NodeAddr kD1 = 0x0a4d0001, kD2 = 0x0a4d0002, kS3 = 0x0a4d0003;

FlowFeedEntry entry(quint32 i, FlowFeedState s = FlowFeedState::Established, tb::NodeAddr server = kS3)
{
    return FlowFeedEntry{0x0a4d0a00u, quint16(i), server, s, 0, 1500};
}

QByteArray changes(tb::NodeAddr d, quint32 run, quint32 seq, std::vector<FlowFeedEntry> e)
{
    FlowFeedMessage m;
    m.dispatcher = d;
    m.runId = run;
    m.seq = seq;
    m.entries = std::move(e);
    return encodeFlowFeed(m);
}

QByteArray snapshot(tb::NodeAddr d, quint32 run, quint32 seq, std::vector<FlowFeedEntry> e, quint16 part = 0,
                    quint16 parts = 1)
{
    FlowFeedMessage m;
    m.type = FlowFeedMessage::Type::SnapshotPart;
    m.dispatcher = d;
    m.runId = run;
    m.seq = seq;
    m.part = part;
    m.parts = parts;
    m.entries = std::move(e);
    return encodeFlowFeed(m);
}

int closedIn(const QList<FlowRecord> &flows)
{
    return int(std::count_if(flows.begin(), flows.end(), [](const FlowRecord &f) { return f.state == FlowRecord::State::Closed; }));
}

} // namespace

class TestFlowFeedReceiver : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void snapshotResetsAndListsFlows()
    {
        FlowFeedReceiver r;
        const auto res = r.onMessage(kD1, snapshot(kD1, 5, 1, {entry(1), entry(2, FlowFeedState::SynSeen)}), 10'000'000);
        QVERIFY(res.error.isEmpty());
        QVERIFY(res.reset);
        QCOMPARE(res.dispatcher, kD1);
        QCOMPARE(res.flows.size(), 2);
        QCOMPARE(res.flows[0].server, kS3);
        QCOMPARE(res.flows[0].startUs, 10'000'000 - 1'500'000); // ageMs 1500
        QCOMPARE(res.flows[1].state, FlowRecord::State::SynSeen);
        QCOMPARE(r.openFlows(), 2);
        QCOMPARE(r.snapshots(), 1ull);
    }

    void changesOfCurrentRunApply()
    {
        FlowFeedReceiver r;
        r.onMessage(kD1, snapshot(kD1, 5, 1, {entry(1), entry(2)}), 0);
        const auto res = r.onMessage(kD1, changes(kD1, 5, 1, {entry(1, FlowFeedState::Closed), entry(3)}), 0);
        QVERIFY(!res.reset);
        QCOMPARE(res.flows.size(), 2);
        QCOMPARE(closedIn(res.flows), 1);
        QCOMPARE(r.openFlows(), 2); // 2 and 3
    }

    void changesOfAnotherRunDropped_data()
    {
        QTest::addColumn<quint32>("dispatcher");
        QTest::addColumn<quint32>("run");
        QTest::newRow("other dispatcher, before its snapshot") << kD2 << 5u;
        QTest::newRow("same dispatcher, an earlier run") << kD1 << 4u;
    }
    void changesOfAnotherRunDropped()
    {
        QFETCH(quint32, dispatcher);
        QFETCH(quint32, run);
        FlowFeedReceiver r;
        r.onMessage(kD1, snapshot(kD1, 5, 1, {entry(1)}), 0);
        const auto res = r.onMessage(dispatcher, changes(dispatcher, run, 9, {entry(7)}), 0);
        QVERIFY(res.flows.isEmpty());
        QCOMPARE(r.staleBatches(), 1ull);
        QCOMPARE(r.openFlows(), 1);
    }

    void newDispatcherSnapshotReplacesMap()
    {
        FlowFeedReceiver r;
        r.onMessage(kD1, snapshot(kD1, 5, 1, {entry(1), entry(2), entry(3)}), 0);
        // Failover: the new dispatcher knows 2 and 3 (reconstructed) and a new 4; 1 ended meanwhile.
        const auto res = r.onMessage(kD2, snapshot(kD2, 9, 1, {entry(2), entry(3), entry(4)}), 0);
        QVERIFY(res.reset);
        QCOMPARE(res.dispatcher, kD2);
        QCOMPARE(res.flows.size(), 4);
        QCOMPARE(closedIn(res.flows), 1);
        QCOMPARE(res.flows.back().clientPort, quint16(1));
        QCOMPARE(r.openFlows(), 3);
        // The old dispatcher's late batch is ignored.
        QVERIFY(r.onMessage(kD1, changes(kD1, 5, 2, {entry(8)}), 0).flows.isEmpty());
    }

    void multiPartSnapshotClosesOnlyWhenComplete()
    {
        FlowFeedReceiver r;
        r.onMessage(kD1, snapshot(kD1, 5, 1, {entry(1), entry(2), entry(3)}), 0);
        // A re-snapshot of the same run in two parts, the second first.
        auto b = r.onMessage(kD1, snapshot(kD1, 5, 2, {entry(3)}, 1, 2), 0);
        QVERIFY(!b.reset);
        QCOMPARE(closedIn(b.flows), 0);
        auto a = r.onMessage(kD1, snapshot(kD1, 5, 2, {entry(2)}, 0, 2), 0);
        QCOMPARE(closedIn(a.flows), 1); // flow 1 was in neither part
        QCOMPARE(r.openFlows(), 2);
        QCOMPARE(r.snapshots(), 2ull);
        // A repeated part is refused.
        QVERIFY(!r.onMessage(kD1, snapshot(kD1, 5, 2, {entry(2)}, 0, 2), 0).error.isEmpty());
    }

    void subscriptionSaysWhichRunIsHeld()
    {
        FlowFeedReceiver r;
        QCOMPARE(decodeFlowFeed(r.subscription(kD1))->runId, 0u);
        r.onMessage(kD1, snapshot(kD1, 5, 1, {entry(1)}, 0, 2), 0);
        QCOMPARE(decodeFlowFeed(r.subscription(kD1))->runId, 0u); // incomplete
        r.onMessage(kD1, snapshot(kD1, 5, 1, {entry(2)}, 1, 2), 0);
        const auto m = decodeFlowFeed(r.subscription(kD1));
        QCOMPARE(m->type, FlowFeedMessage::Type::Subscribe);
        QCOMPARE(m->dispatcher, kD1);
        QCOMPARE(m->runId, 5u);
        QCOMPARE(decodeFlowFeed(r.subscription(kD2))->runId, 0u); // a new dispatcher: nothing held
    }

    void refused_data()
    {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<QString>("errorPart");
        QTest::newRow("truncated") << snapshot(kD1, 1, 1, {entry(1)}).chopped(3) << "announces";
        QTest::newRow("garbage") << QByteArray("hello") << "shorter than";
        QTest::newRow("forged dispatcher") << snapshot(kD2, 1, 1, {entry(1)}) << "claims";
        QTest::newRow("a subscription") << encodeFlowFeedSubscribe(kD1, 0) << "do not serve";
    }
    void refused()
    {
        QFETCH(QByteArray, payload);
        QFETCH(QString, errorPart);
        FlowFeedReceiver r;
        const auto res = r.onMessage(kD1, payload, 0);
        QVERIFY2(res.error.contains(errorPart), qPrintable(res.error));
        QVERIFY(res.flows.isEmpty());
        QVERIFY(!res.reset);
        QCOMPARE(r.rejected(), 1ull);
    }

    void drivesConnectionMapThroughFailover()
    {
        qint64 now = 1'000'000;
        ConnectionMapModel model([&now] { return now; });
        model.setRefreshInterval(0);
        FlowFeedReceiver r;
        auto feed = [&](tb::NodeAddr from, const QByteArray &p) {
            const auto res = r.onMessage(from, p, now);
            if (res.reset)
                model.resetMap(res.dispatcher);
            model.enqueue(res.flows);
            model.applyPending();
        };
        feed(kD1, snapshot(kD1, 1, 1, {entry(1), entry(2), entry(3)}));
        QCOMPARE(model.activeFlows(), 3);
        QCOMPARE(model.dispatcher(), kD1);
        feed(kD1, changes(kD1, 1, 1, {entry(4, FlowFeedState::Established, kD2)}));
        QCOMPARE(model.activeFlows(), 4);
        QCOMPARE(model.activePerServer().value(kD2), 1);
        now += 100'000;
        feed(kD2, snapshot(kD2, 7, 1, {entry(2), entry(3)}));
        QCOMPARE(model.dispatcher(), kD2);
        QCOMPARE(model.activeFlows(), 2);
    }
};

QTEST_MAIN(TestFlowFeedReceiver)
#include "tst_flowfeedreceiver.moc"
