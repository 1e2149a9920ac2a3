// The console's main window driven by a synthetic cluster: 5 nodes, 100k flows at 5k cps, a
// dispatcher kill and a server crash. Checks what an operator would look at, and writes the
// screenshot used by the README (build dir always; docs/images when SASHA_UPDATE_SCREENSHOT=1).

#include "connectionmapmodel.h"
#include "cpschartview.h"
#include "cpshistory.h"
#include "eventmodel.h"
#include "mainwindow.h"
#include "membershipmodel.h"
#include "ringwidget.h"
#include "syntheticfeed.h"

#include <QApplication>
#include <QDir>
#include <QHeaderView>
#include <QTableView>
#include <QTreeView>
#include <QTemporaryDir>
#include <QTest>
#include <QToolBar>

using namespace sasha;
using namespace sasha::console;

namespace {

SyntheticFeed::Options fiveNodes()
{
    SyntheticFeed::Options o;
    o.nodes = 5;
    o.cps = 5000;
    o.meanLifetimeS = 20;
    return o;
}

// One second of cluster life as the running console would see it.
void second(SyntheticFeed &feed, MainWindow &w)
{
    feed.advance(1'000'000);
    w.connectionMap()->applyPending();
    w.sampleNow();
    QCoreApplication::processEvents();
}

bool columnContains(const QAbstractItemModel *m, int column, const QString &text)
{
    for (int r = 0; r < m->rowCount(); ++r)
        if (m->index(r, column).data().toString().contains(text))
            return true;
    return false;
}

} // namespace

class TestMainWindow : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void failoverWithHundredThousandFlows();
    void readOnlyHidesFaults();
    void confirmationOutsideLab_data();
    void confirmationOutsideLab();
    void problemBanner();
    void operatorDrainAndWeightReachTheMembersTable();
    void readOnlyRefusesOperatorCommands();
    void exports();
    void headerClickSortsTheConnectionMap();
    void presentationScreenshot();
};

void TestMainWindow::failoverWithHundredThousandFlows()
{
    SyntheticFeed feed(fiveNodes());
    ConsoleOptions opts;
    opts.lab = true;
    opts.flowRefreshMs = 0;
    MainWindow w(&feed, opts);
    w.resize(1600, 1000);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    feed.prefill(100'000);
    for (int s = 0; s < 40; ++s)
        second(feed, w);

    // every node in the table, with its address
    QCOMPARE(w.membership()->rowCount(), 6); // 5 members + this observer
    for (int i = 0; i < 5; ++i)
        QVERIFY2(columnContains(w.membershipView()->model(), MembershipModel::Node, ipToString(feed.addrOf(i))),
                 qPrintable(ipToString(feed.addrOf(i))));
    QVERIFY(w.connectionRows()->rowCount() >= 95'000);
    QCOMPARE(w.membership()->dispatcher(), feed.addrOf(0));

    QString error;
    QVERIFY2(w.killDispatcher(&error), qPrintable(error));
    for (int s = 0; s < 12; ++s)
        second(feed, w);
    QVERIFY2(w.runScenario(1, &error), qPrintable(error));
    for (int s = 0; s < 14; ++s)
        second(feed, w);

    // the new dispatcher, the dead nodes
    QCOMPARE(w.membership()->dispatcher(), feed.addrOf(1));
    QCOMPARE(w.membership()->index(0, MembershipModel::State).data().toString(), QStringLiteral("dead"));
    QCOMPARE(w.membership()->index(4, MembershipModel::State).data().toString(), QStringLiteral("dead"));
    // the timeline shows the failover with every phase timed
    QVERIFY(columnContains(w.events(), EventModel::Kind, QStringLiteral("dispatcher-elected")));
    QVERIFY(columnContains(w.events(), EventModel::Phase, QStringLiteral("election")));
    const FailoverModel *f = w.failovers();
    QCOMPARE(f->rowCount(), 2);
    for (int col = FailoverModel::Detection; col <= FailoverModel::Total; ++col)
        QVERIFY2(f->index(0, col).data().toString().endsWith(QStringLiteral("ms")),
                 qPrintable(f->headerData(col, Qt::Horizontal, Qt::DisplayRole).toString() + ": " + f->index(0, col).data().toString()));
    QCOMPARE(f->index(1, FailoverModel::Election).data().toString(), QStringLiteral("—")); // a server fault elects nobody
    // the chart has its markers and a series per server; the map follows the new dispatcher
    QVERIFY(w.history()->markers().size() >= 5);
    QVERIFY(w.chart()->seriesCount() >= 4);
    QCOMPARE(w.connectionMap()->dispatcher(), feed.addrOf(1));
    QVERIFY(!w.connectionMap()->activePerServer().contains(feed.addrOf(4)));
    QCOMPARE(w.ring()->phase(), RingWidget::Phase::Whole);

    const int middle = w.connectionRows()->rowCount() / 2;
    w.connectionView()->scrollTo(w.connectionRows()->index(middle, 0), QAbstractItemView::PositionAtTop);
    w.connectionView()->selectRow(middle + 3);
    w.membershipView()->selectRow(1);
    QCoreApplication::processEvents();
    const QImage shot = w.grab().toImage();
    QVERIFY(!shot.isNull());
    QVERIFY(shot.save(QStringLiteral(SASHA_BUILD_DIR "/console-failover.png")));
    if (qEnvironmentVariableIntValue("SASHA_UPDATE_SCREENSHOT") == 1)
        QVERIFY(shot.save(QStringLiteral(SASHA_SOURCE_DIR "/docs/images/console-failover.png")));
}

void TestMainWindow::readOnlyHidesFaults()
{
    SyntheticFeed feed(fiveNodes());
    ConsoleOptions opts;
    opts.readOnly = true;
    MainWindow w(&feed, opts);
    QVERIFY(!w.findChild<QToolBar *>(QStringLiteral("faults")));
    feed.advance(500'000);
    QString error;
    QVERIFY(!w.killDispatcher(&error));
    QVERIFY(error.contains(QStringLiteral("read-only")));
    QVERIFY(!w.runScenario(1, &error));
    QCOMPARE(w.membership()->dispatcher(), feed.addrOf(0));
}

void TestMainWindow::confirmationOutsideLab_data()
{
    QTest::addColumn<bool>("answer");
    QTest::addColumn<int>("faultEvents");
    QTest::newRow("operator confirms: sent") << true << 1;
    QTest::newRow("operator declines: nothing sent") << false << 0;
}

void TestMainWindow::confirmationOutsideLab()
{
    QFETCH(bool, answer);
    QFETCH(int, faultEvents);
    SyntheticFeed feed(fiveNodes());
    MainWindow w(&feed, ConsoleOptions{});
    QStringList asked;
    w.setConfirmHandler([&](const QString &q) { asked << q; return answer; });
    feed.advance(500'000);
    w.injectFault(feed.addrOf(3), FaultAction::Hang, 5000);
    QCOMPARE(asked.size(), 1);
    QVERIFY2(asked.first().contains(QStringLiteral("hang 10.0.0.4 for 5 s")), qPrintable(asked.first()));
    int n = 0;
    for (const auto &r : w.events()->events())
        n += r.event.kind == kKindFaultInjected;
    QCOMPARE(n, faultEvents);
    w.injectFault(feed.addrOf(3), FaultAction::Restore);
    QCOMPARE(asked.size(), 1); // restoring is not destructive
}

void TestMainWindow::operatorDrainAndWeightReachTheMembersTable()
{
    SyntheticFeed feed(fiveNodes());
    MainWindow w(&feed, ConsoleOptions{}); // not a lab: operator commands ask no confirmation
    w.setConfirmHandler([](const QString &q) {
        qWarning("unexpected confirmation: %s", qPrintable(q));
        return false;
    });
    QVERIFY(w.findChild<QToolBar *>(QStringLiteral("operator")));
    feed.advance(500'000);
    const tb::NodeAddr node = feed.addrOf(3);
    QString error;
    QVERIFY2(w.sendAdmin(node, AdminAction::Drain, 0, &error), qPrintable(error));
    QVERIFY2(w.sendAdmin(node, AdminAction::Weight, 4, &error), qPrintable(error));
    const MembershipModel *m = w.membership();
    const int row = m->rowOf(node);
    QVERIFY(row >= 0);
    QTRY_COMPARE(m->index(row, MembershipModel::Weight).data().toString(), QStringLiteral("4"));
    QCOMPARE(m->index(row, MembershipModel::Drained).data().toString(), QStringLiteral("yes"));
    QCOMPARE(m->index(row, MembershipModel::Weight).data(MembershipModel::SortRole).toInt(), 4);
    int replies = 0;
    for (const auto &r : w.events()->events())
        replies += r.event.kind == kKindAdminReply && r.event.detail.startsWith(QStringLiteral("drain: accepted"));
    QCOMPARE(replies, 1);
    QVERIFY2(w.sendAdmin(node, AdminAction::Undrain, 0, &error), qPrintable(error));
    QTRY_COMPARE(m->index(row, MembershipModel::Drained).data().toString(), QStringLiteral("no"));
    // A node without a report shows dashes, not zeros.
    const int other = m->rowOf(feed.addrOf(2));
    QCOMPARE(m->index(other, MembershipModel::Weight).data().toString(), QStringLiteral("—"));
    QCOMPARE(m->index(other, MembershipModel::OpenFlows).data().toString(), QStringLiteral("—"));
}

void TestMainWindow::readOnlyRefusesOperatorCommands()
{
    SyntheticFeed feed(fiveNodes());
    ConsoleOptions opts;
    opts.readOnly = true;
    MainWindow w(&feed, opts);
    QVERIFY(!w.findChild<QToolBar *>(QStringLiteral("operator")));
    feed.advance(500'000);
    QString error;
    QVERIFY(!w.sendAdmin(feed.addrOf(3), AdminAction::Drain, 0, &error));
    QVERIFY2(error.contains(QStringLiteral("read-only")), qPrintable(error));
}

void TestMainWindow::problemBanner()
{
    SyntheticFeed feed(fiveNodes());
    MainWindow w(&feed, ConsoleOptions{});
    QVERIFY(w.problem().isEmpty());
    Q_EMIT feed.problemChanged(QStringLiteral("datagrams dropped as bad-mac: wrong --key?"));
    QVERIFY(w.problem().contains(QStringLiteral("bad-mac")));
    Q_EMIT feed.problemChanged(QString());
    QVERIFY(w.problem().isEmpty());
}

void TestMainWindow::exports()
{
    SyntheticFeed feed(fiveNodes());
    ConsoleOptions opts;
    opts.lab = true;
    opts.flowRefreshMs = 0;
    MainWindow w(&feed, opts);
    w.resize(1200, 800);
    w.show();
    for (int s = 0; s < 5; ++s)
        second(feed, w);
    QVERIFY(w.killDispatcher());
    for (int s = 0; s < 3; ++s)
        second(feed, w);
    QTemporaryDir dir;
    QString error;
    QVERIFY2(w.exportChartPng(dir.filePath(QStringLiteral("c.png")), &error), qPrintable(error));
    QVERIFY(!QImage(dir.filePath(QStringLiteral("c.png"))).isNull());
    QVERIFY2(w.exportEventsCsv(dir.filePath(QStringLiteral("e.csv")), &error), qPrintable(error));
    QVERIFY2(w.exportSamplesCsv(dir.filePath(QStringLiteral("s.csv")), &error), qPrintable(error));
    QFile samples(dir.filePath(QStringLiteral("s.csv")));
    QVERIFY(samples.open(QIODevice::ReadOnly));
    const QByteArray text = samples.readAll();
    QVERIFY(text.startsWith("mono_us,total_cps,cps_10.0.0.2"));
    QVERIFY(text.contains("dispatcher-elected"));
    QVERIFY(!w.exportChartPng(QStringLiteral("/nonexistent-dir/c.png"), &error));
}

// The table shows the map itself (no proxy to re-map 100k rows at every compaction) until a
// header is clicked; then it sorts, and the selected flow stays selected.
void TestMainWindow::headerClickSortsTheConnectionMap()
{
    SyntheticFeed feed(fiveNodes());
    ConsoleOptions opts;
    opts.lab = true;
    opts.flowRefreshMs = 0;
    MainWindow w(&feed, opts);
    w.show();
    feed.prefill(2'000);
    w.connectionMap()->applyPending();
    QCOMPARE(w.connectionRows(), static_cast<QAbstractItemModel *>(w.connectionMap()));
    const QModelIndex picked = w.connectionMap()->index(1234, ConnectionMapModel::Client);
    w.connectionView()->setCurrentIndex(picked);
    const QString pickedClient = picked.data().toString();

    Q_EMIT w.connectionView()->horizontalHeader()->sectionClicked(ConnectionMapModel::Server);
    QAbstractItemModel *rows = w.connectionRows();
    QVERIFY(rows != w.connectionMap());
    QCOMPARE(rows->rowCount(), w.connectionMap()->rowCount());
    for (int r = 1; r < rows->rowCount(); ++r) {
        const QString a = rows->index(r - 1, ConnectionMapModel::Server).data().toString();
        const QString b = rows->index(r, ConnectionMapModel::Server).data().toString();
        QVERIFY2(QString::compare(a, b) <= 0 || w.connectionView()->horizontalHeader()->sortIndicatorOrder() == Qt::DescendingOrder,
                 qPrintable(QStringLiteral("row %1: %2 before %3").arg(r).arg(a, b)));
    }
    QCOMPARE(w.connectionView()->currentIndex().siblingAtColumn(ConnectionMapModel::Client).data().toString(), pickedClient);
}

void TestMainWindow::presentationScreenshot()
{
    SyntheticFeed feed(fiveNodes());
    ConsoleOptions opts;
    opts.lab = true;
    opts.presentation = true;
    opts.flowRefreshMs = 0;
    MainWindow w(&feed, opts);
    w.resize(1920, 1080);
    w.show();
    feed.prefill(20'000);
    for (int s = 0; s < 20; ++s)
        second(feed, w);
    QVERIFY(w.killDispatcher());
    for (int s = 0; s < 8; ++s)
        second(feed, w);
    QVERIFY(w.font().pointSizeF() >= 16);
    QVERIFY(w.grab().toImage().save(QStringLiteral(SASHA_BUILD_DIR "/console-presentation.png")));
}

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
