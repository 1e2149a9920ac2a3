// ServiceModel and the console's Services tab, from sashad status objects (the JSON that
// `sashactl --json status` prints and the control socket's watch stream sends each second).
#include "mainwindow.h"
#include "servicemodel.h"
#include "syntheticfeed.h"

#include <QAbstractItemModelTester>
#include <QJsonDocument>
#include <QLabel>
#include <QSignalSpy>
#include <QTableView>
#include <QTest>

using namespace sasha;
using namespace sasha::console;

namespace {

// A status as a node of `sasha-lab up --mode mixed` reports it (trimmed to what the model reads,
// plus a few neighbours): an L4/2 service on 10.77.0.200 and an L4/3 one on 10.77.0.201.
QJsonObject mixedStatus(const QString &node, const QString &dispatcher, qint64 cpsDr, qint64 cpsNat)
{
    const bool dispatching = node == dispatcher;
    const QByteArray text = QStringLiteral(R"({
        "node": "%1", "name": "node", "state": "member", "dispatcher": "%2", "ringEpoch": 3,
        "services": [
          {"vip": "10.77.0.200", "protocol": "tcp", "ports": ["80"], "mode": "dr", "scheduler": "maglev",
           "persistenceS": 0, "legacy": false, "line": 28 %3},
          {"vip": "10.77.0.201", "protocol": "tcp", "ports": ["80", "8000-8010"], "mode": "nat", "scheduler": "wlc",
           "persistenceS": 300, "legacy": false, "line": 34, "weights": {"10.77.0.3": 0, "10.77.0.4": 2} %4}
        ]})")
                                 .arg(node, dispatcher,
                                      dispatching ? QStringLiteral(", \"newFlows\": 1032, \"cps\": %1").arg(cpsDr) : QString(),
                                      dispatching ? QStringLiteral(", \"newFlows\": 517, \"cps\": %1").arg(cpsNat) : QString())
                                 .toUtf8();
    QJsonParseError err{};
    const QJsonDocument doc = QJsonDocument::fromJson(text, &err);
    if (err.error != QJsonParseError::NoError)
        qFatal("bad test JSON: %s", qPrintable(err.errorString()));
    return doc.object();
}

QString cell(const QAbstractItemModel &m, int row, int column) { return m.index(row, column).data().toString(); }

} // namespace

class TestServiceModel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void dispatcherStatusFillsEveryColumn_data();
    void dispatcherStatusFillsEveryColumn();
    void otherNodesStatusShowsNoFigures();
    void otherNodesStatusDoesNotHideTheDispatchersFigures();
    void newDispatcherTakesOver();
    void staleFiguresClearedWhenAnotherNodeDispatches();
    void sameServicesUpdateInPlace();
    void statusWithoutServicesIsIgnored();
    void legacyKeys();
    void servicesTabShowsTheFeedsStatus();
    void demoFeedReportsItsDispatchersService();
};

void TestServiceModel::dispatcherStatusFillsEveryColumn_data()
{
    QTest::addColumn<int>("row");
    QTest::addColumn<int>("column");
    QTest::addColumn<QString>("text");
    using C = ServiceModel;
    QTest::newRow("dr vip") << 0 << int(C::Vip) << QStringLiteral("10.77.0.200");
    QTest::newRow("dr protocol") << 0 << int(C::Protocol) << QStringLiteral("tcp");
    QTest::newRow("dr ports") << 0 << int(C::Ports) << QStringLiteral("80");
    QTest::newRow("dr mode") << 0 << int(C::Mode) << QStringLiteral("dr (L4/2)");
    QTest::newRow("dr scheduler") << 0 << int(C::Scheduler) << QStringLiteral("maglev");
    QTest::newRow("dr persistence off") << 0 << int(C::Persistence) << QStringLiteral("-");
    QTest::newRow("dr weights: the cluster's") << 0 << int(C::Weights) << QStringLiteral("-");
    QTest::newRow("dr new flows") << 0 << int(C::NewFlows) << QStringLiteral("1032");
    QTest::newRow("dr cps") << 0 << int(C::Cps) << QStringLiteral("41");
    QTest::newRow("dr config") << 0 << int(C::Source) << QStringLiteral("[[service]]");
    QTest::newRow("nat vip") << 1 << int(C::Vip) << QStringLiteral("10.77.0.201");
    QTest::newRow("nat ports list and range") << 1 << int(C::Ports) << QStringLiteral("80,8000-8010");
    QTest::newRow("nat mode") << 1 << int(C::Mode) << QStringLiteral("nat (L4/3)");
    QTest::newRow("nat scheduler") << 1 << int(C::Scheduler) << QStringLiteral("wlc");
    QTest::newRow("nat persistence") << 1 << int(C::Persistence) << QStringLiteral("300 s");
    QTest::newRow("nat weights: its own") << 1 << int(C::Weights) << QStringLiteral("10.77.0.3=0,10.77.0.4=2");
    QTest::newRow("nat new flows") << 1 << int(C::NewFlows) << QStringLiteral("517");
    QTest::newRow("nat cps") << 1 << int(C::Cps) << QStringLiteral("20");
}

void TestServiceModel::dispatcherStatusFillsEveryColumn()
{
    QFETCH(int, row);
    QFETCH(int, column);
    QFETCH(QString, text);
    ServiceModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.1"), QStringLiteral("10.77.0.1"), 41, 20));
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.columnCount(), int(ServiceModel::ColumnCount));
    QVERIFY(model.fromDispatcher());
    QCOMPARE(model.sourceNode(), QStringLiteral("10.77.0.1"));
    QCOMPARE(cell(model, row, column), text);
    QVERIFY(!model.headerData(column, Qt::Horizontal, Qt::DisplayRole).toString().isEmpty());
}

void TestServiceModel::otherNodesStatusShowsNoFigures()
{
    ServiceModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.2"), QStringLiteral("10.77.0.1"), 0, 0));
    QCOMPARE(model.rowCount(), 2);
    QVERIFY(!model.fromDispatcher());
    QCOMPARE(cell(model, 1, ServiceModel::Mode), QStringLiteral("nat (L4/3)"));
    QCOMPARE(cell(model, 0, ServiceModel::Cps), QStringLiteral("—"));
    QCOMPARE(cell(model, 1, ServiceModel::NewFlows), QStringLiteral("—"));
    QVERIFY(!model.rows()[0].cps.has_value());
}

void TestServiceModel::otherNodesStatusDoesNotHideTheDispatchersFigures()
{
    ServiceModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.1"), QStringLiteral("10.77.0.1"), 41, 20));
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.2"), QStringLiteral("10.77.0.1"), 0, 0));
    QCOMPARE(cell(model, 0, ServiceModel::Cps), QStringLiteral("41"));
    QCOMPARE(cell(model, 1, ServiceModel::Cps), QStringLiteral("20"));
    QCOMPARE(model.sourceNode(), QStringLiteral("10.77.0.1"));
}

void TestServiceModel::newDispatcherTakesOver()
{
    ServiceModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.1"), QStringLiteral("10.77.0.1"), 41, 20));
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.3"), QStringLiteral("10.77.0.3"), 7, 3));
    QCOMPARE(model.sourceNode(), QStringLiteral("10.77.0.3"));
    QCOMPARE(cell(model, 0, ServiceModel::Cps), QStringLiteral("7"));
    QCOMPARE(cell(model, 1, ServiceModel::Cps), QStringLiteral("3"));
}

void TestServiceModel::staleFiguresClearedWhenAnotherNodeDispatches()
{
    ServiceModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.1"), QStringLiteral("10.77.0.1"), 41, 20));
    // node2 says node3 dispatches now (a failover), and node3's status is not read.
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.2"), QStringLiteral("10.77.0.3"), 0, 0));
    QVERIFY(!model.fromDispatcher());
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(cell(model, 0, ServiceModel::Cps), QStringLiteral("—"));
    QCOMPARE(cell(model, 1, ServiceModel::NewFlows), QStringLiteral("—"));
}

void TestServiceModel::sameServicesUpdateInPlace()
{
    ServiceModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.1"), QStringLiteral("10.77.0.1"), 41, 20));
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    QSignalSpy changes(&model, &QAbstractItemModel::dataChanged);
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.1"), QStringLiteral("10.77.0.1"), 55, 21));
    QCOMPARE(resets.count(), 0);
    QCOMPARE(changes.count(), 1);
    QCOMPARE(cell(model, 0, ServiceModel::Cps), QStringLiteral("55"));
}

void TestServiceModel::statusWithoutServicesIsIgnored()
{
    ServiceModel model;
    model.setStatus(mixedStatus(QStringLiteral("10.77.0.1"), QStringLiteral("10.77.0.1"), 41, 20));
    model.setStatus(QJsonObject{{QStringLiteral("node"), QStringLiteral("10.77.0.1")},
                                {QStringLiteral("dispatcher"), QStringLiteral("10.77.0.1")}});
    QCOMPARE(model.rowCount(), 2);
}

void TestServiceModel::legacyKeys()
{
    const QJsonArray services = QJsonDocument::fromJson(R"([
        {"vip": "10.0.0.200", "protocol": "tcp", "ports": ["80", "443"], "mode": "dr", "scheduler": "maglev",
         "persistenceS": 0, "legacy": true, "line": 5, "newFlows": 9, "cps": 2},
        {"vip": "10.0.0.200", "protocol": "udp", "ports": ["80", "443"], "mode": "dr", "scheduler": "maglev",
         "persistenceS": 0, "legacy": true, "line": 5, "newFlows": 0, "cps": 0}])")
                                    .array();
    const auto rows = ServiceModel::parseServices(services, true);
    QCOMPARE(rows.size(), std::size_t(2));
    QVERIFY(rows[0].legacy);
    QCOMPARE(rows[1].protocol, QStringLiteral("udp"));
    QCOMPARE(rows[0].ports, QStringList({QStringLiteral("80"), QStringLiteral("443")}));
    QCOMPARE(rows[0].cps.value_or(-1), qint64(2));
    QVERIFY(!ServiceModel::parseServices(services, false)[0].cps.has_value());
}

void TestServiceModel::servicesTabShowsTheFeedsStatus()
{
    SyntheticFeed::Options o;
    o.nodes = 3;
    SyntheticFeed feed(o);
    MainWindow w(&feed, ConsoleOptions{});
    QTableView *view = w.serviceView();
    QVERIFY(view);
    QCOMPARE(view->model(), static_cast<QAbstractItemModel *>(w.services()));
    QCOMPARE(view->model()->rowCount(), 0);
    QVERIFY(w.servicesHint()->text().contains(QStringLiteral("--control-socket")));

    Q_EMIT feed.statusReported(mixedStatus(QStringLiteral("10.77.0.2"), QStringLiteral("10.77.0.1"), 0, 0));
    QCOMPARE(view->model()->rowCount(), 2);
    QVERIFY(w.servicesHint()->text().contains(QStringLiteral("does not dispatch")));

    Q_EMIT feed.statusReported(mixedStatus(QStringLiteral("10.77.0.1"), QStringLiteral("10.77.0.1"), 41, 20));
    QCOMPARE(cell(*view->model(), 0, ServiceModel::Mode), QStringLiteral("dr (L4/2)"));
    QCOMPARE(cell(*view->model(), 1, ServiceModel::Mode), QStringLiteral("nat (L4/3)"));
    QCOMPARE(cell(*view->model(), 1, ServiceModel::Cps), QStringLiteral("20"));
    QVERIFY(w.servicesHint()->text().contains(QStringLiteral("From the dispatcher 10.77.0.1")));
}

void TestServiceModel::demoFeedReportsItsDispatchersService()
{
    SyntheticFeed::Options o;
    o.nodes = 3;
    o.cps = 400;
    SyntheticFeed feed(o);
    MainWindow w(&feed, ConsoleOptions{});
    for (int s = 0; s < 3; ++s)
        feed.advance(1'000'000);
    QCOMPARE(w.services()->rowCount(), 1);
    QVERIFY(w.services()->fromDispatcher());
    QCOMPARE(w.services()->sourceNode(), ipToString(feed.dispatcher()));
    const qint64 cps = w.services()->rows()[0].cps.value_or(-1);
    QVERIFY2(cps >= 300 && cps <= 500, qPrintable(QString::number(cps)));
    QVERIFY(w.services()->rows()[0].newFlows.value_or(0) >= quint64(cps));
}

QTEST_MAIN(TestServiceModel)
#include "tst_servicemodel.moc"
