// Specification of ConnectionMapModel: batched application, no resets, closed flows linger then
// compact with the selection kept, per-server counts, a new dispatcher confirming flows in place,
// the filter kept inside the model (matching flows are the rows, decided per flow as it changes).

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
    void apply(const QList<FlowRecord> &flows)
    {
        model.enqueue(flows);
        model.applyPending();
    }
    // Past the compaction interval, so the next refresh re-lays out the rows.
    void nextCompaction()
    {
        now += ConnectionMapModel::kCompactIntervalUs;
        model.applyPending();
    }
    QStringList clients() const
    {
        QStringList out;
        for (int r = 0; r < model.rowCount(); ++r)
            out << model.index(r, ConnectionMapModel::Client).data().toString();
        return out;
    }
};

QStringList clientNames(std::initializer_list<int> flows)
{
    QStringList out;
    for (int i : flows)
        out << QStringLiteral("10.0.0.0:%1").arg(i);
    return out;
}

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
    void searchTextIsTheCellsWords_data();
    void searchTextIsTheCellsWords();
    void changingFilterIsOneLayoutChangeKeepingSelection();
    void flowsAddedWhileFiltered();
    void flowsChangedWhileFilteredShowOrHideAtNextRelayout_data();
    void flowsChangedWhileFilteredShowOrHideAtNextRelayout();
    void flowsRemovedWhileFilteredKeepSelection();
    void clearingFilterShowsEveryFlowInArrivalOrder();
    void countsCoverEveryFlowWhateverTheFilter();
    void sortProxySortsTheFilteredRows();
    void ageColumnFromFeedClock();
    void hundredThousandFlowsFiltered();
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
    // 20 flows 10.0.0.0:0..19, odd ones to 127.0.0.2 and even ones to 127.0.0.3; 1, 3 and 4 closed.
    QTest::addColumn<QString>("search");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("empty shows everything") << QString() << clientNames({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
    QTest::newRow("blank is no filter") << QStringLiteral("   ") << clientNames({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
    QTest::newRow("server address") << QStringLiteral("127.0.0.3") << clientNames({0, 2, 4, 6, 8, 10, 12, 14, 16, 18});
    QTest::newRow("client address:port, with spaces trimmed") << QStringLiteral("  10.0.0.0:15 ") << clientNames({15});
    QTest::newRow("client port prefix") << QStringLiteral(":1") << clientNames({1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
    QTest::newRow("state word, case-insensitive") << QStringLiteral("CLOSED") << clientNames({1, 3, 4});
    QTest::newRow("state word part") << QStringLiteral("tabli") << clientNames({0, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
    QTest::newRow("across client and server") << QStringLiteral("0:3 127.0.0.2") << clientNames({3});
    QTest::newRow("across server and state") << QStringLiteral(".2 closed") << clientNames({1, 3});
    QTest::newRow("nothing matches") << QStringLiteral("192.168.") << QStringList();
    QTest::newRow("non-ASCII matches nothing") << QStringLiteral("ćlosed") << QStringList();
}

void TestConnectionMapModel::filterBySubstring()
{
    QFETCH(QString, search);
    QFETCH(QStringList, expected);
    Fixture f;
    QAbstractItemModelTester tester(&f.model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QList<FlowRecord> b;
    for (int i = 0; i < 20; ++i)
        b.append(flow(i, i % 2 ? kS1 : kS2));
    f.apply(b);
    f.apply({flow(1, kS1, FlowRecord::State::Closed), flow(3, kS1, FlowRecord::State::Closed),
             flow(4, kS2, FlowRecord::State::Closed)});
    f.model.setFilter(search);
    QCOMPARE(f.model.filter(), search.trimmed());
    QCOMPARE(f.clients(), expected);
    QCOMPARE(f.model.totalFlows(), 20);
}

void TestConnectionMapModel::searchTextIsTheCellsWords_data()
{
    QTest::addColumn<quint32>("clientIp");
    QTest::addColumn<int>("clientPort");
    QTest::addColumn<quint32>("server");
    QTest::addColumn<int>("state");
    QTest::newRow("short numbers, syn") << 0x01000000u << 0 << 0x7f000001u << int(FlowRecord::State::SynSeen);
    QTest::newRow("longest numbers, established") << 0xffffffffu << 65535 << 0xfefdfcfbu << int(FlowRecord::State::Established);
    QTest::newRow("closing") << 0x0a000203u << 8080 << 0xc0a80001u << int(FlowRecord::State::Closing);
}

void TestConnectionMapModel::searchTextIsTheCellsWords()
{
    // The filter searches text formatted without Qt; it must say what the cells show.
    QFETCH(quint32, clientIp);
    QFETCH(int, clientPort);
    QFETCH(quint32, server);
    QFETCH(int, state);
    Fixture f;
    f.apply({{clientIp, quint16(clientPort), server, FlowRecord::State(state), 0}});
    const auto cell = [&](int column) { return f.model.index(0, column).data().toString(); };
    const QString words = cell(ConnectionMapModel::Client) + QLatin1Char(' ') + cell(ConnectionMapModel::Server) +
                          QLatin1Char(' ') + cell(ConnectionMapModel::State);
    QCOMPARE(f.model.index(0, 0).data(ConnectionMapModel::SearchTextRole).toString(), words);
    f.model.setFilter(words.toUpper());
    QCOMPARE(f.model.rowCount(), 1);
    f.model.setFilter(words + QLatin1Char('x'));
    QCOMPARE(f.model.rowCount(), 0);
}

void TestConnectionMapModel::changingFilterIsOneLayoutChangeKeepingSelection()
{
    Fixture f;
    QAbstractItemModelTester tester(&f.model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QList<FlowRecord> b;
    for (int i = 0; i < 10; ++i)
        b.append(flow(i, i < 5 ? kS1 : kS2));
    f.apply(b);
    QItemSelectionModel selection(&f.model);
    selection.select(f.model.index(7, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
    QSignalSpy layouts(&f.model, &QAbstractItemModel::layoutChanged);
    QSignalSpy resets(&f.model, &QAbstractItemModel::modelReset);
    QSignalSpy removed(&f.model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy inserted(&f.model, &QAbstractItemModel::rowsInserted);

    f.model.setFilter(QStringLiteral("127.0.0.3")); // flows 5..9: flow 7 is now row 2
    QCOMPARE(layouts.count(), 1);
    QCOMPARE(f.clients(), clientNames({5, 6, 7, 8, 9}));
    QCOMPARE(selection.selectedRows().size(), 1);
    QCOMPARE(selection.selectedRows().first().row(), 2);
    QCOMPARE(selection.selectedRows().first().data().toString(), QStringLiteral("10.0.0.0:7"));

    f.model.setFilter(QStringLiteral(" 127.0.0.3")); // the same text once trimmed: nothing to do
    QCOMPARE(layouts.count(), 1);

    f.model.setFilter(QStringLiteral(":7")); // flow 7 alone: row 0
    QCOMPARE(layouts.count(), 2);
    QCOMPARE(f.clients(), clientNames({7}));
    QCOMPARE(selection.selectedRows().first().row(), 0);

    f.model.setFilter(QStringLiteral("127.0.0.2")); // flow 7 hidden: the selection goes
    QCOMPARE(layouts.count(), 3);
    QCOMPARE(f.clients(), clientNames({0, 1, 2, 3, 4}));
    QVERIFY(selection.selectedRows().isEmpty());
    QCOMPARE(resets.count(), 0);
    QCOMPARE(removed.count(), 0);
    QCOMPARE(inserted.count(), 0);
}

void TestConnectionMapModel::flowsAddedWhileFiltered()
{
    Fixture f;
    QAbstractItemModelTester tester(&f.model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    f.apply({flow(0, kS1), flow(1, kS2)});
    f.model.setFilter(QStringLiteral("127.0.0.3"));
    QCOMPARE(f.clients(), clientNames({1}));
    QSignalSpy inserted(&f.model, &QAbstractItemModel::rowsInserted);
    QList<FlowRecord> b;
    for (int i = 2; i < 8; ++i)
        b.append(flow(i, i % 2 ? kS2 : kS1));
    f.apply(b);
    // One insertion of the matching new flows, after the rows already shown.
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(inserted.first().at(1).toInt(), 1);
    QCOMPARE(inserted.first().at(2).toInt(), 3);
    QCOMPARE(f.clients(), clientNames({1, 3, 5, 7}));
    // A batch without a matching flow inserts nothing; the flows are held all the same.
    f.apply({flow(8, kS1), flow(10, kS1)});
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(f.model.totalFlows(), 10);
    // A flow added and moved to the filtered server in the same batch is shown.
    f.apply({flow(11, kS1), flow(11, kS2)});
    QCOMPARE(f.clients(), clientNames({1, 3, 5, 7, 11}));
}

void TestConnectionMapModel::flowsChangedWhileFilteredShowOrHideAtNextRelayout_data()
{
    QTest::addColumn<QString>("search");
    QTest::addColumn<int>("changedFlow");
    QTest::addColumn<int>("toServer");
    QTest::addColumn<int>("toState");
    QTest::addColumn<QStringList>("before");
    QTest::addColumn<QStringList>("after");
    // Flows 0..5, even ones to 127.0.0.2, odd ones to 127.0.0.3, all established.
    const int est = int(FlowRecord::State::Established);
    QTest::newRow("server changes to the filtered one: shown") << QStringLiteral("127.0.0.3") << 2 << int(kS2) << est
                                                               << clientNames({1, 3, 5}) << clientNames({1, 2, 3, 5});
    QTest::newRow("server changes away: hidden") << QStringLiteral("127.0.0.3") << 3 << int(kS1) << est
                                                 << clientNames({1, 3, 5}) << clientNames({1, 5});
    QTest::newRow("state changes to the filtered word: shown") << QStringLiteral("closing") << 4 << int(kS1)
                                                               << int(FlowRecord::State::Closing) << QStringList()
                                                               << clientNames({4});
    QTest::newRow("state changes away from the filtered word: hidden")
        << QStringLiteral("establ") << 0 << int(kS1) << int(FlowRecord::State::Closing)
        << clientNames({0, 1, 2, 3, 4, 5}) << clientNames({1, 2, 3, 4, 5});
}

void TestConnectionMapModel::flowsChangedWhileFilteredShowOrHideAtNextRelayout()
{
    QFETCH(QString, search);
    QFETCH(int, changedFlow);
    QFETCH(int, toServer);
    QFETCH(int, toState);
    QFETCH(QStringList, before);
    QFETCH(QStringList, after);
    Fixture f;
    QAbstractItemModelTester tester(&f.model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QList<FlowRecord> b;
    for (int i = 0; i < 6; ++i)
        b.append(flow(i, i % 2 ? kS2 : kS1));
    f.apply(b);
    f.model.setFilter(search);
    QCOMPARE(f.clients(), before);
    QSignalSpy changed(&f.model, &QAbstractItemModel::dataChanged);
    QSignalSpy layouts(&f.model, &QAbstractItemModel::layoutChanged);
    f.now += ConnectionMapModel::kCompactIntervalUs / 2;
    f.apply({flow(changedFlow, tb::NodeAddr(toServer), FlowRecord::State(toState))});
    // Not yet re-laid out: a shown row shows its new data, a hidden one stays hidden.
    QCOMPARE(f.clients(), before);
    QCOMPARE(layouts.count(), 0);
    const int shownAt = before.indexOf(QStringLiteral("10.0.0.0:%1").arg(changedFlow));
    QCOMPARE(changed.count(), shownAt >= 0 ? 1 : 0);
    if (shownAt >= 0)
        QCOMPARE(f.model.index(shownAt, ConnectionMapModel::Server).data().toString(), ipToString(tb::NodeAddr(toServer)));
    f.nextCompaction();
    QCOMPARE(layouts.count(), 1);
    QCOMPARE(f.clients(), after);
    f.nextCompaction(); // nothing flipped, nothing expired: no layout change
    QCOMPARE(layouts.count(), 1);
}

void TestConnectionMapModel::flowsRemovedWhileFilteredKeepSelection()
{
    Fixture f;
    QAbstractItemModelTester tester(&f.model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QList<FlowRecord> b;
    for (int i = 0; i < 12; ++i)
        b.append(flow(i, i % 2 ? kS2 : kS1));
    f.apply(b);
    f.model.setFilter(QStringLiteral("127.0.0.3")); // 1 3 5 7 9 11
    QItemSelectionModel selection(&f.model);
    selection.select(f.model.index(4, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows); // flow 9
    f.apply({flow(1, kS2, FlowRecord::State::Closed), flow(5, kS2, FlowRecord::State::Closed),
             flow(2, kS1, FlowRecord::State::Closed)});
    QCOMPARE(f.clients(), clientNames({1, 3, 5, 7, 9, 11})); // closed flows linger
    QCOMPARE(f.model.index(0, ConnectionMapModel::State).data().toString(), QStringLiteral("closed"));
    QSignalSpy resets(&f.model, &QAbstractItemModel::modelReset);
    f.now += ConnectionMapModel::kClosedLingerUs + 1;
    f.model.applyPending();
    QCOMPARE(f.clients(), clientNames({3, 7, 9, 11}));
    QCOMPARE(f.model.totalFlows(), 9);
    QCOMPARE(resets.count(), 0);
    QCOMPARE(selection.selectedRows().size(), 1);
    QCOMPARE(selection.selectedRows().first().row(), 2);
    QCOMPARE(selection.selectedRows().first().data().toString(), QStringLiteral("10.0.0.0:9"));
    // The flow index still finds moved flows: flow 9 changes row 2.
    f.apply({flow(9, kS2, FlowRecord::State::Closing)});
    QCOMPARE(f.model.index(2, ConnectionMapModel::State).data().toString(), QStringLiteral("closing"));
}

void TestConnectionMapModel::clearingFilterShowsEveryFlowInArrivalOrder()
{
    Fixture f;
    QAbstractItemModelTester tester(&f.model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QList<FlowRecord> b;
    for (int i = 0; i < 6; ++i)
        b.append(flow(i, i % 2 ? kS2 : kS1));
    f.apply(b);
    f.model.setFilter(QStringLiteral("127.0.0.3"));
    f.apply({flow(6, kS1), flow(7, kS2)}); // added while filtered: 6 held, not shown
    QCOMPARE(f.clients(), clientNames({1, 3, 5, 7}));
    QItemSelectionModel selection(&f.model);
    selection.select(f.model.index(1, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows); // flow 3
    QSignalSpy layouts(&f.model, &QAbstractItemModel::layoutChanged);
    f.model.setFilter(QString());
    QCOMPARE(layouts.count(), 1);
    QCOMPARE(f.model.filter(), QString());
    QCOMPARE(f.clients(), clientNames({0, 1, 2, 3, 4, 5, 6, 7}));
    QCOMPARE(selection.selectedRows().first().row(), 3);
    // Unfiltered again: a change is a plain dataChanged of its row.
    QSignalSpy changed(&f.model, &QAbstractItemModel::dataChanged);
    f.apply({flow(6, kS2)});
    QCOMPARE(changed.count(), 1);
    QCOMPARE(changed.first().at(0).toModelIndex().row(), 6);
}

void TestConnectionMapModel::countsCoverEveryFlowWhateverTheFilter()
{
    Fixture f;
    QList<FlowRecord> b;
    for (int i = 0; i < 10; ++i)
        b.append(flow(i, i < 3 ? kS1 : kS2));
    f.apply(b);
    f.model.setFilter(QStringLiteral("127.0.0.2"));
    f.apply({flow(10, kS2), flow(3, kS2, FlowRecord::State::Closed)});
    QCOMPARE(f.model.rowCount(), 3);
    QCOMPARE(f.model.activeFlows(), 10);
    QCOMPARE(f.model.activePerServer().value(kS1), 3);
    QCOMPARE(f.model.activePerServer().value(kS2), 7);
    f.model.setFilter(QStringLiteral("nothing"));
    QCOMPARE(f.model.rowCount(), 0);
    QCOMPARE(f.model.activeFlows(), 10);
}

void TestConnectionMapModel::sortProxySortsTheFilteredRows()
{
    Fixture f;
    FlowSortProxy proxy;
    proxy.setSourceModel(&f.model);
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QList<FlowRecord> b;
    for (int i = 0; i < 8; ++i)
        b.append(flow(i, i % 2 ? kS2 : kS1));
    f.apply(b);
    proxy.sort(ConnectionMapModel::Client, Qt::DescendingOrder);
    const auto proxyClients = [&proxy] {
        QStringList out;
        for (int r = 0; r < proxy.rowCount(); ++r)
            out << proxy.index(r, ConnectionMapModel::Client).data().toString();
        return out;
    };
    QCOMPARE(proxyClients(), clientNames({7, 6, 5, 4, 3, 2, 1, 0}));
    f.model.setFilter(QStringLiteral("127.0.0.3"));
    QCOMPARE(proxyClients(), clientNames({7, 5, 3, 1}));
    f.apply({flow(1, kS2, FlowRecord::State::Closed), flow(9, kS2)});
    QCOMPARE(proxy.rowCount(), 5);
    f.now += ConnectionMapModel::kClosedLingerUs + 1;
    f.model.applyPending(); // flow 1 compacted away
    QCOMPARE(proxyClients(), clientNames({9, 7, 5, 3}));
    f.model.setFilter(QString());
    QCOMPARE(proxyClients(), clientNames({9, 7, 6, 5, 4, 3, 2, 0}));
}

void TestConnectionMapModel::ageColumnFromFeedClock()
{
    Fixture f;
    f.model.enqueue({flow(1, kS1, FlowRecord::State::Established, f.now)});
    f.model.applyPending();
    f.now += 12'340'000;
    QCOMPARE(f.model.index(0, ConnectionMapModel::Age).data().toString(), QStringLiteral("12.3 s"));
}

void TestConnectionMapModel::hundredThousandFlowsFiltered()
{
    Fixture f; // no QAbstractItemModelTester here: it walks every row per signal
    f.model.setFilter(QStringLiteral("127.0.0.3"));
    // 100k flows, then 20 refreshes of 1,000 new and 1,000 closed (5k cps at 200 ms)
    QList<FlowRecord> b;
    for (int i = 0; i < 100'000; ++i)
        b.append(flow(i, i % 2 ? kS1 : kS2));
    f.apply(b);
    QCOMPARE(f.model.rowCount(), 50'000);
    int next = 100'000, oldest = 0;
    for (int step = 0; step < 20; ++step) {
        b.clear();
        for (int i = 0; i < 1000; ++i) {
            b.append(flow(next, next % 2 ? kS1 : kS2));
            ++next;
            b.append(flow(oldest * 7 % 100'000, (oldest * 7 % 100'000) % 2 ? kS1 : kS2, FlowRecord::State::Closed));
            ++oldest;
        }
        f.now += 200'000;
        f.apply(b);
    }
    QVERIFY(f.model.totalFlows() < 120'000);
    QCOMPARE(f.model.activeFlows(), 100'000);
    int onS2 = 0; // every flow held whose server is 127.0.0.3, counted the slow way
    f.model.setFilter(QString());
    for (int r = 0; r < f.model.rowCount(); ++r)
        onS2 += f.model.index(r, ConnectionMapModel::Server).data().toString() == QStringLiteral("127.0.0.3");
    f.model.setFilter(QStringLiteral("127.0.0.3"));
    QCOMPARE(f.model.rowCount(), onS2);
    QVERIFY(onS2 > 50'000); // closed ones still lingering included
}

QTEST_MAIN(TestConnectionMapModel)
#include "tst_connectionmapmodel.moc"
