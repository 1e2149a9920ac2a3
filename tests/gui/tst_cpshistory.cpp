// Specification of CpsHistory: the rolling window, totals, marker merging and CSV export.

#include "clusterfeed.h"
#include "cpshistory.h"

#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace sasha;
using namespace sasha::console;

class TestCpsHistory : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void windowTrimsOldSamplesAndMarkers();
    void totalIsSumOfServers();
    void markersOfOneKindMerged_data();
    void markersOfOneKindMerged();
    void csv();
};

void TestCpsHistory::windowTrimsOldSamplesAndMarkers()
{
    CpsHistory h(10'000'000);
    QSignalSpy changed(&h, &CpsHistory::changed);
    for (int s = 0; s <= 30; ++s)
        h.addSample(qint64(s) * 1'000'000, {{1, 10}});
    h.addMarker(5'000'000, kKindFaultInjected, QStringLiteral("old"));
    h.addSample(31'000'000, {{1, 10}});
    QCOMPARE(changed.count(), 33);
    QCOMPARE(int(h.samples().size()), 11); // 21 s .. 31 s
    QCOMPARE(h.samples().front().atUs, qint64(21'000'000));
    QVERIFY(h.markers().empty());
}

void TestCpsHistory::totalIsSumOfServers()
{
    CpsHistory h;
    h.addSample(1, {{0x0a000002, 100}, {0x0a000003, 250}});
    QCOMPARE(h.samples().back().total, quint64(350));
    h.addSample(2, {{0x0a000004, 5}});
    QCOMPARE(h.servers(), (QList<tb::NodeAddr>{0x0a000002, 0x0a000003, 0x0a000004}));
}

void TestCpsHistory::markersOfOneKindMerged_data()
{
    QTest::addColumn<qint64>("gapUs");
    QTest::addColumn<QString>("secondKind");
    QTest::addColumn<int>("markers");
    QTest::newRow("same kind within 0.5 s: one (five nodes report one purge)") << qint64(100'000) << "purge-started" << 1;
    QTest::newRow("same kind 0.5 s apart: two") << CpsHistory::kMarkerMergeUs << "purge-started" << 2;
    QTest::newRow("other kind at once: two") << qint64(0) << "dispatcher-elected" << 2;
}

void TestCpsHistory::markersOfOneKindMerged()
{
    QFETCH(qint64, gapUs);
    QFETCH(QString, secondKind);
    QFETCH(int, markers);
    CpsHistory h;
    h.addMarker(1'000'000, QStringLiteral("purge-started"), QStringLiteral("purge"));
    h.addMarker(1'000'000 + gapUs, secondKind, QStringLiteral("x"));
    QCOMPARE(int(h.markers().size()), markers);
    QCOMPARE(h.markers().front().color, CpsHistory::markerColor(QStringLiteral("purge-started")));
}

void TestCpsHistory::csv()
{
    CpsHistory h;
    h.addSample(1'000'000, {{0x0a000002, 7}});
    h.addSample(2'000'000, {{0x0a000003, 9}});
    h.addMarker(1'500'000, kKindFaultInjected, QStringLiteral("crash 10.0.0.2"));
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("s.csv"));
    QString error;
    QVERIFY2(h.exportCsv(path, &error), qPrintable(error));
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(f.readAll(), QByteArray("mono_us,total_cps,cps_10.0.0.2,cps_10.0.0.3\n"
                                     "1000000,7,7,\n"
                                     "2000000,9,,9\n"
                                     "\nmarker_mono_us,kind,label\n"
                                     "1500000,fault-injected,crash 10.0.0.2\n"));
}

QTEST_MAIN(TestCpsHistory)
#include "tst_cpshistory.moc"
