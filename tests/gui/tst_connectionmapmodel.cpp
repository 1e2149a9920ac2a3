// Specification of ConnectionMapModel and FlowFilterProxy: batched application, no resets,
// closed flows linger then compact with the selection kept, per-server counts, a new dispatcher
// confirming flows in place, filtering.

#include "connectionmapmodel.h"

#include <QAbstractItemModelTester>
#include <QItemSelectionModel>
#include <QSignalSpy>
#include <QTest>

using namespace sasha;
using namespace sasha::console;

namespace {

constexpr tb::NodeAddr kS1 = 0x7f000002, kS2 = 0x7f000003;

FlowRecord flow(int i, tb::NodeAddr server, FlowRecord::State st = FlowRecord::State::Established, qint64 startUs = 0)
{
    return {0x0a000000u | quint32(i >> 16), quint16(i & 0xffff), server, st, startUs};
}

struct Fixture {
    qint64 now = 1'000'000;
    ConnectionMapModel model{[this] { return now; }};
    Fixture() { model.setRefreshInterval(0); }
};

} // namespace

class TestConnectionMapModel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void batchAppliedOnRefreshOnly();
    void duplicatesInOneBatchMakeOneRow();
    void countsPerServer_data();
    void countsPerServer();
    void closedFlowsLingerThenCompactKeepingSelection();
    void endOfUnknownFlowIgnored();
    void newDispatcherConfirmsInPlaceAndClosesTheRest();
    void filterBySubstring_data();
    void filterBySubstring();
    void ageColumnFromFeedClock();
    void hundredThousandFlowsThroughProxy();
};

void TestConnectionMapModel::batchAppliedOnRefreshOnly()
{
    Fixture f;
    QAbstractItemModelTester tester(&f.model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy inserts(&f.model, &QAbstractItemModel::rowsInserted);
    QSignalSpy resets(&f.model, &QAbstractItemModel::modelReset);
    QList<FlowRecord> batch;
    for (int i = 0; i < 1000; ++i)
        batch.append(flow(i, i % 2 ? kS1 : kS2));
    f.model.enqueue(batch);
    QCOMPARE(f.model.rowCount(), 0);
    QCOMPARE(f.model.applyPending(), 1000);
    QCOMPARE(f.model.rowCount(), 1000);
    QCOMPARE(inserts.count(), 1);
    QCOMPARE(resets.count(), 0);
    QCOMPARE(f.model.index(1, ConnectionMapModel::Client).data().toString(), QStringLiteral("10.0.0.0:1"));
    QCOMPARE(f.model.index(1, ConnectionMapModel::Server).data().toString(), QStringLiteral("127.0.0.2"));
}

void TestConnectionMapModel::duplicatesInOneBatchMakeOneRow()
{
    Fixture f;
    f.model.enqueue({flow(7, kS1, FlowRecord::State::SynSeen), flow(7, kS1, FlowRecord::State::Established)});
    f.model.applyPending();
    QCOMPARE(f.model.rowCount(), 1);
    QCOMPARE(f.model.index(0, ConnectionMapModel::State).data().toString(), QStringLiteral("established"));
    QCOMPARE(f.model.activeFlows(), 1);
}

void TestConnectionMapModel::countsPerServer_data()
{
    QTest::addColumn<int>("toS1");
    QTest::addColumn<int>("toS2");
    QTest::addColumn<int>("closedOnS1");
    QTest::newRow("all on one server") << 10 << 0 << 0;
    QTest::newRow("split, some closed") << 6 << 4 << 3;
    QTest::newRow("every flow of S1 closed: S1 disappears") << 5 << 5 << 5;
}

void TestConnectionMapModel::countsPerServer()
{
    QFETCH(int, toS1);
    QFETCH(int, toS2);
    QFETCH(int, closedOnS1);
    Fixture f;
    QList<FlowRecord> b;
    for (int i = 0; i < toS1; ++i)
        b.append(flow(i, kS1));
    for (int i = 0; i < toS2; ++i)
        b.append(flow(1000 + i, kS2));
    f.model.enqueue(b);
    f.model.applyPending();
    b.clear();
    for (int i = 0; i < closedOnS1; ++i)
        b.append(flow(i, kS1, FlowRecord::State::Closed));
    f.model.enqueue(b);
    f.model.applyPending();
    QCOMPARE(f.model.activeFlows(), toS1 + toS2 - closedOnS1);
    QCOMPARE(f.model.activePerServer().value(kS1), toS1 - closedOnS1);
    QCOMPARE(f.model.activePerServer().contains(kS1), toS1 > closedOnS1);
    QCOMPARE(f.model.activePerServer().value(kS2), toS2);
}

void TestConnectionMapModel::closedFlowsLingerThenCompactKeepingSelection()
{
    Fixture f;
    QAbstractItemModelTester tester(&f.model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QList<FlowRecord> b;
    for (int i = 0; i < 100; ++i)
        b.append(flow(i, kS1));
    f.model.enqueue(b);
    f.model.applyPending();
    QItemSelectionModel selection(&f.model);
    selection.select(f.model.index(99, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
    b.clear();
    for (int i = 0; i < 100; i += 2)
        b.append(flow(i, kS1, FlowRecord::State::Closed));
    f.model.enqueue(b);
    f.model.applyPending();
    QCOMPARE(f.model.rowCount(), 100); // still visible as closed
    QCOMPARE(f.model.index(0, ConnectionMapModel::State).data().toString(), QStringLiteral("closed"));
    QSignalSpy resets(&f.model, &QAbstractItemModel::modelReset);
    f.now += ConnectionMapModel::kClosedLingerUs + 1;
    f.model.applyPending();
    QCOMPARE(f.model.rowCount(), 50);
    QCOMPARE(resets.count(), 0);
    QCOMPARE(selection.selectedRows().size(), 1);
    QCOMPARE(selection.selectedRows().first().row(), 49);
    QCOMPARE(selection.selectedRows().first().data().toString(), QStringLiteral("10.0.0.0:99"));
    // the index still finds moved rows: updating flow 99 changes row 49
    f.model.enqueue({flow(99, kS2)});
    f.model.applyPending();
    QCOMPARE(f.model.index(49, ConnectionMapModel::Server).data().toString(), QStringLiteral("127.0.0.3"));
    QCOMPARE(f.model.rowCount(), 50);
}

void TestConnectionMapModel::endOfUnknownFlowIgnored()
{
    Fixture f;
    f.model.enqueue({flow(1, kS1, FlowRecord::State::Closed)});
    f.model.applyPending();
    QCOMPARE(f.model.rowCount(), 0);
    QCOMPARE(f.model.activeFlows(), 0);
}

void TestConnectionMapModel::newDispatcherConfirmsInPlaceAndClosesTheRest()
{
    Fixture f;
    QAbstractItemModelTester tester(&f.model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    f.model.resetMap(0x7f000001);
    QList<FlowRecord> b;
    for (int i = 0; i < 10; ++i)
        b.append(flow(i, i < 5 ? kS1 : kS2));
    f.model.enqueue(b);
    f.model.applyPending();
    QSignalSpy resets(&f.model, &QAbstractItemModel::modelReset);
    f.model.resetMap(kS1); // dispatcher failover; S1 is the new dispatcher
    QCOMPARE(f.model.dispatcher(), kS1);
    b.clear();
    for (int i = 5; i < 10; ++i) // reconstruction reports S2's flows again
        b.append(flow(i, kS2));
    f.model.enqueue(b);
    f.model.applyPending();
    QCOMPARE(f.model.activeFlows(), 10); // not yet past the reconfirm deadline
    f.now += ConnectionMapModel::kReconfirmUs;
    f.model.applyPending();
    QCOMPARE(f.model.activeFlows(), 5);
    QCOMPARE(f.model.activePerServer().value(kS2), 5);
    QCOMPARE(resets.count(), 0);
}

void TestConnectionMapModel::filterBySubstring_data()
{
    QTest::addColumn<QString>("search");
    QTest::addColumn<int>("rows");
    QTest::newRow("empty shows everything") << QString() << 20;
    QTest::newRow("server address") << QStringLiteral("127.0.0.3") << 10;
    QTest::newRow("client port, with spaces trimmed") << QStringLiteral("  10.0.0.0:15 ") << 1;
    QTest::newRow("state word, case-insensitive") << QStringLiteral("CLOSED") << 3;
    QTest::newRow("nothing matches") << QStringLiteral("192.168.") << 0;
}

void TestConnectionMapModel::filterBySubstring()
{
    QFETCH(QString, search);
    QFETCH(int, rows);
    Fixture f;
    FlowFilterProxy proxy;
    proxy.setSourceModel(&f.model);
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QList<FlowRecord> b;
    for (int i = 0; i < 20; ++i)
        b.append(flow(i, i % 2 ? kS1 : kS2));
    f.model.enqueue(b);
    f.model.applyPending();
    f.model.enqueue({flow(1, kS1, FlowRecord::State::Closed), flow(3, kS1, FlowRecord::State::Closed),
                     flow(4, kS2, FlowRecord::State::Closed)});
    f.model.applyPending();
    proxy.setSearch(search);
    QCOMPARE(proxy.rowCount(), rows);
}

void TestConnectionMapModel::ageColumnFromFeedClock()
{
    Fixture f;
    f.model.enqueue({flow(1, kS1, FlowRecord::State::Established, f.now)});
    f.model.applyPending();
    f.now += 12'340'000;
    QCOMPARE(f.model.index(0, ConnectionMapModel::Age).data().toString(), QStringLiteral("12.3 s"));
}

void TestConnectionMapModel::hundredThousandFlowsThroughProxy()
{
    Fixture f;
    FlowFilterProxy proxy; // no QAbstractItemModelTester here: it walks every row per signal
    proxy.setSourceModel(&f.model);
    proxy.setSearch(QStringLiteral("127.0.0"));
    // 100k flows, then 20 refreshes of 1,000 new and 1,000 closed (5k cps at 200 ms)
    QList<FlowRecord> b;
    for (int i = 0; i < 100'000; ++i)
        b.append(flow(i, i % 2 ? kS1 : kS2));
    f.model.enqueue(b);
    f.model.applyPending();
    int next = 100'000, oldest = 0;
    for (int step = 0; step < 20; ++step) {
        b.clear();
        for (int i = 0; i < 1000; ++i) {
            b.append(flow(next++, kS1));
            b.append(flow(oldest++ * 7 % 100'000, kS2, FlowRecord::State::Closed));
        }
        f.model.enqueue(b);
        f.now += 200'000;
        f.model.applyPending();
    }
    QVERIFY(f.model.rowCount() < 120'000);
    QCOMPARE(f.model.activeFlows() + 0, 100'000);
    QCOMPARE(proxy.rowCount(), f.model.rowCount());
}

QTEST_MAIN(TestConnectionMapModel)
#include "tst_connectionmapmodel.moc"
