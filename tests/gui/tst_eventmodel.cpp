// Specification of EventModel, FailoverTracker and FailoverModel: the timeline lists events in
// order and the phases of a failover are timed from the events that exist.

#include "clusterfeed.h"
#include "eventmodel.h"

#include <QAbstractItemModelTester>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace sasha;
using namespace sasha::console;

namespace {

ControlEvent ev(qint64 ms, const QString &kind, const QString &node = QStringLiteral("127.0.0.1"), const QString &detail = {})
{
    ControlEvent e;
    e.monoUs = ms * 1000;
    e.wallMs = 1'700'000'000'000 + ms;
    e.kind = kind;
    e.node = node;
    e.detail = detail;
    return e;
}

} // namespace

class TestEventModel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void dispatcherFailoverPhasesTimed();
    void phases_data();
    void phases();
    void purgeReportedByManyNodesIsOneFailover();
    void lateDetectionReportBelongsToOpenFailover();
    void staleFailoverClosedWithoutPackets();
    void oldFaultIsNotTheCause();
    void faultCauseNamesTheFaultedNode_data();
    void faultCauseNamesTheFaultedNode();
    void rowsCappedOldestFirst();
    void csvExport();
};

void TestEventModel::dispatcherFailoverPhasesTimed()
{
    EventModel model;
    FailoverModel failovers(&model);
    QAbstractItemModelTester t1(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t2(&failovers, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.addEvent(ev(1000, kKindFaultInjected, QStringLiteral("127.0.0.1"), QStringLiteral("crash 127.0.0.1")));
    model.addEvent(ev(1150, QStringLiteral("token-timeout"), QStringLiteral("127.0.0.3")));
    model.addEvent(ev(1151, QStringLiteral("purge-started"), QStringLiteral("127.0.0.3")));
    model.addEvent(ev(1195, QStringLiteral("ring-formed"), QStringLiteral("127.0.0.2")));
    model.addEvent(ev(1197, QStringLiteral("dispatcher-elected"), QStringLiteral("127.0.0.2")));
    model.addEvent(ev(1230, kKindReconstructionDone, QStringLiteral("127.0.0.2")));
    model.addEvent(ev(1205, kKindFirstPacket, QStringLiteral("127.0.0.2")));
    QCOMPARE(model.rowCount(), 7);
    QCOMPARE(model.index(1, EventModel::Phase).data().toString(), QStringLiteral("detection 150 ms"));
    QCOMPARE(model.index(3, EventModel::Phase).data().toString(), QStringLiteral("re-formation 45 ms"));
    QCOMPARE(model.index(4, EventModel::Phase).data().toString(), QStringLiteral("election 2.0 ms"));
    QCOMPARE(model.index(5, EventModel::Phase).data().toString(), QStringLiteral("reconstruction 33 ms"));
    QCOMPARE(model.index(6, EventModel::Phase).data().toString(),
             QStringLiteral("first packet 8.0 ms after election; total 230 ms"));
    QCOMPARE(failovers.rowCount(), 1);
    QCOMPARE(failovers.index(0, FailoverModel::Cause).data().toString(),
             QStringLiteral("crash 127.0.0.1 → dispatcher 127.0.0.2"));
    QCOMPARE(failovers.index(0, FailoverModel::Detection).data().toString(), QStringLiteral("150 ms"));
    QCOMPARE(failovers.index(0, FailoverModel::Total).data().toString(), QStringLiteral("230 ms"));
}

void TestEventModel::phases_data()
{
    QTest::addColumn<QStringList>("kinds"); // one event per 10 ms
    QTest::addColumn<QString>("detection");
    QTest::addColumn<QString>("reformation");
    QTest::addColumn<QString>("election");
    QTest::addColumn<QString>("firstPacket");
    QTest::newRow("server crash: no election")
        << QStringList{kKindFaultInjected, "purge-started", "ring-formed"} << "10 ms" << "10 ms" << "—" << "—";
    QTest::newRow("crash nobody injected: detection unknown")
        << QStringList{"token-timeout", "ring-formed", "dispatcher-elected", kKindFirstPacket}
        << "—" << "10 ms" << "10 ms" << "10 ms";
    QTest::newRow("elected at formation without ring-formed seen")
        << QStringList{"purge-started", "dispatcher-elected"} << "—" << "—" << "10 ms" << "—";
}

void TestEventModel::phases()
{
    QFETCH(QStringList, kinds);
    QFETCH(QString, detection);
    QFETCH(QString, reformation);
    QFETCH(QString, election);
    QFETCH(QString, firstPacket);
    EventModel model;
    FailoverModel failovers(&model);
    for (int i = 0; i < kinds.size(); ++i)
        model.addEvent(ev(5000 + 10 * i, kinds[i]));
    QCOMPARE(failovers.rowCount(), 1);
    QCOMPARE(failovers.index(0, FailoverModel::Detection).data().toString(), detection);
    QCOMPARE(failovers.index(0, FailoverModel::Reformation).data().toString(), reformation);
    QCOMPARE(failovers.index(0, FailoverModel::Election).data().toString(), election);
    QCOMPARE(failovers.index(0, FailoverModel::FirstPacket).data().toString(), firstPacket);
}

void TestEventModel::purgeReportedByManyNodesIsOneFailover()
{
    EventModel model;
    for (int n = 2; n <= 5; ++n)
        model.addEvent(ev(100 + n, QStringLiteral("purge-started"), QStringLiteral("127.0.0.%1").arg(n)));
    model.addEvent(ev(150, QStringLiteral("ring-formed")));
    model.addEvent(ev(3000, QStringLiteral("purge-started"))); // a later, separate purge
    QCOMPARE(model.tracker().failovers().size(), std::size_t(2));
    QCOMPARE(model.tracker().failovers()[0].reformationUs(), qint64(48'000));
}

void TestEventModel::lateDetectionReportBelongsToOpenFailover()
{
    // The event feed delivers each daemon's events in any order: node 3's token-timeout, stamped
    // before node 2's ring-formed, can arrive after it. It is the same failover, and the earlier.
    EventModel model;
    model.addEvent(ev(1000, kKindFaultInjected, QStringLiteral("127.0.0.1"), QStringLiteral("kill dispatcher 127.0.0.1")));
    model.addEvent(ev(1200, QStringLiteral("purge-started"), QStringLiteral("127.0.0.2")));
    model.addEvent(ev(1240, QStringLiteral("ring-formed"), QStringLiteral("127.0.0.2")));
    model.addEvent(ev(1190, QStringLiteral("token-timeout"), QStringLiteral("127.0.0.3")));
    QCOMPARE(model.tracker().failovers().size(), std::size_t(1));
    QCOMPARE(model.tracker().failovers()[0].detectionUs(), qint64(190'000));
    QCOMPARE(model.tracker().failovers()[0].reformationUs(), qint64(50'000));
    // A purge stamped after the ring formed is a new failover.
    model.addEvent(ev(1400, QStringLiteral("purge-started"), QStringLiteral("127.0.0.3")));
    QCOMPARE(model.tracker().failovers().size(), std::size_t(2));
}

void TestEventModel::staleFailoverClosedWithoutPackets()
{
    EventModel model;
    model.addEvent(ev(100, QStringLiteral("purge-started")));
    QVERIFY(model.tracker().isOpen());
    model.tick(100'000 + FailoverTracker::kCloseAfterUs - 1);
    QVERIFY(model.tracker().isOpen());
    model.tick(100'000 + FailoverTracker::kCloseAfterUs);
    QVERIFY(!model.tracker().isOpen());
}

void TestEventModel::oldFaultIsNotTheCause()
{
    EventModel model;
    model.addEvent(ev(0, kKindFaultInjected, {}, QStringLiteral("drain 127.0.0.4")));
    model.addEvent(ev(FailoverTracker::kFaultRelevanceUs / 1000 + 1, QStringLiteral("purge-started")));
    QCOMPARE(model.tracker().failovers().back().faultUs, qint64(0));
    QVERIFY(model.tracker().failovers().back().cause.startsWith(QStringLiteral("purge-started")));
}

void TestEventModel::faultCauseNamesTheFaultedNode_data()
{
    QTest::addColumn<QString>("node");
    QTest::addColumn<QString>("detail");
    QTest::addColumn<QString>("cause");
    // A daemon's own report: it is the node, the detail names who sent the command.
    QTest::newRow("daemon report names the crashed node, not the sender")
        << QStringLiteral("10.77.0.1") << QStringLiteral("crash by 10.77.0.2") << QStringLiteral("10.77.0.1: crash by 10.77.0.2");
    // The console's own record already names its target.
    QTest::newRow("console record kept as it is")
        << QStringLiteral("10.77.0.1") << QStringLiteral("kill dispatcher 10.77.0.1") << QStringLiteral("kill dispatcher 10.77.0.1");
    QTest::newRow("no detail: the node") << QStringLiteral("10.77.0.3") << QString() << QStringLiteral("10.77.0.3");
    QTest::newRow("no node: the detail") << QString() << QStringLiteral("drain 10.77.0.4") << QStringLiteral("drain 10.77.0.4");
}

void TestEventModel::faultCauseNamesTheFaultedNode()
{
    QFETCH(QString, node);
    QFETCH(QString, detail);
    QFETCH(QString, cause);
    EventModel model;
    model.addEvent(ev(1000, kKindFaultInjected, node, detail));
    model.addEvent(ev(1150, QStringLiteral("token-timeout"), QStringLiteral("10.77.0.2")));
    QCOMPARE(model.tracker().failovers().size(), std::size_t(1));
    QCOMPARE(model.tracker().failovers()[0].cause, cause);
}

void TestEventModel::rowsCappedOldestFirst()
{
    EventModel model;
    for (int i = 0; i < EventModel::kMaxRows + 10; ++i)
        model.addEvent(ev(i, QStringLiteral("member-joined"), QString::number(i)));
    QCOMPARE(model.rowCount(), EventModel::kMaxRows);
    QCOMPARE(model.index(0, EventModel::Node).data().toString(), QStringLiteral("10"));
}

void TestEventModel::csvExport()
{
    EventModel model;
    model.addEvent(ev(1, kKindFaultInjected, QStringLiteral("127.0.0.1"), QStringLiteral("hang, 5 s \"lab\"")));
    model.addEvent(ev(2, QStringLiteral("purge-started")));
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("events.csv"));
    QString error;
    QVERIFY2(model.exportCsv(path, &error), qPrintable(error));
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = f.readAll().split('\n');
    QCOMPARE(lines.value(0), QByteArray("wall_time,mono_us,kind,node,role,detail,phase"));
    QVERIFY(lines.value(1).contains("\"hang, 5 s \"\"lab\"\"\""));
    QVERIFY(lines.value(2).contains("purge-started"));
    QVERIFY(!model.exportCsv(QStringLiteral("/nonexistent-dir/x.csv"), &error));
    QVERIFY(error.contains(QStringLiteral("/nonexistent-dir/x.csv")));
}

QTEST_MAIN(TestEventModel)
#include "tst_eventmodel.moc"
