// Specification of the console's presentation layout (--presentation), for a projector: at
// 1280x720 and 1920x1080, with the synthetic cluster after a dispatcher kill, the ring keeps its
// shape (every node inside the ring widget, nodes at least a diameter apart), no node label
// overlaps another or the centre caption, the labels stay at least 80 % of the room font, and the
// cps chart and the failover-phase panel are shown at a size a room can read. Also RingWidget's
// layout alone over sizes and fonts, including the one that collapsed the ring to a point (a
// 590x330 ring at 34 px text). Writes the screenshots used by docs/teaching.md (build dir always;
// docs/images when SASHA_UPDATE_SCREENSHOT=1).

#include "connectionmapmodel.h"
#include "cpschartview.h"
#include "failoverphasespanel.h"
#include "mainwindow.h"
#include "membershipmodel.h"
#include "ringwidget.h"
#include "syntheticfeed.h"

#include <QTest>

#include <cmath>

using namespace sasha;
using namespace sasha::console;

namespace {

std::vector<std::pair<QString, QString>> labels(int n)
{
    std::vector<std::pair<QString, QString>> v;
    for (int i = 1; i <= n; ++i)
        v.emplace_back(QStringLiteral("10.0.0.%1").arg(i), i == 1 ? QStringLiteral("dispatcher · alive") : QStringLiteral("server · alive"));
    return v;
}

double distance(QPointF a, QPointF b) { return std::hypot(a.x() - b.x(), a.y() - b.y()); }

QString rectText(const QRectF &r)
{
    return QStringLiteral("(%1,%2 %3x%4)").arg(r.x(), 0, 'f', 1).arg(r.y(), 0, 'f', 1).arg(r.width(), 0, 'f', 1).arg(r.height(), 0, 'f', 1);
}

// Every node inside area and a diameter (plus nothing) from every other: the ring never collapses.
void checkNodes(const RingLayout &l, const QRectF &area, int n)
{
    QCOMPARE(int(l.nodeCenters.size()), n);
    QVERIFY2(l.nodeRadius >= 3, qPrintable(QString::number(l.nodeRadius)));
    for (int i = 0; i < n; ++i) {
        const QPointF p = l.nodeCenters[std::size_t(i)];
        const QRectF node(p.x() - l.nodeRadius, p.y() - l.nodeRadius, 2 * l.nodeRadius, 2 * l.nodeRadius);
        QVERIFY2(area.contains(node), qPrintable(QStringLiteral("node %1 at %2 outside %3").arg(i).arg(rectText(node), rectText(area))));
        for (int j = i + 1; j < n; ++j)
            QVERIFY2(distance(p, l.nodeCenters[std::size_t(j)]) >= 2 * l.nodeRadius,
                     qPrintable(QStringLiteral("nodes %1 and %2: %3 px apart, diameter %4").arg(i).arg(j)
                                    .arg(distance(p, l.nodeCenters[std::size_t(j)])).arg(2 * l.nodeRadius)));
    }
}

// No label overlaps another label or the caption, and every label is inside area.
void checkLabels(const RingLayout &l, const QRectF &area)
{
    std::vector<QRectF> rects = l.labelRects;
    if (!l.captionRect.isEmpty())
        rects.push_back(l.captionRect);
    for (std::size_t i = 0; i < rects.size(); ++i) {
        QVERIFY2(area.contains(rects[i]), qPrintable(QStringLiteral("label %1 %2 outside %3").arg(i).arg(rectText(rects[i]), rectText(area))));
        for (std::size_t j = i + 1; j < rects.size(); ++j)
            QVERIFY2(!rects[i].intersects(rects[j]),
                     qPrintable(QStringLiteral("label %1 %2 overlaps %3 %4 (the last is the caption)").arg(i).arg(rectText(rects[i])).arg(j).arg(rectText(rects[j]))));
    }
}

} // namespace

class TestPresentation : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void ringLayout_data();
    void ringLayout();
    void presentationWindow_data();
    void presentationWindow();
};

void TestPresentation::ringLayout_data()
{
    QTest::addColumn<QSize>("size");
    QTest::addColumn<int>("pixels");
    QTest::addColumn<int>("nodes");
    QTest::addColumn<bool>("labelsFit"); // false: too small for any label, the nodes must still stay apart
    QTest::newRow("the old collapse: 590x330 at 34 px, 5 nodes") << QSize(590, 330) << 34 << 5 << true;
    QTest::newRow("normal console 620x420 at 13 px, 5 nodes") << QSize(620, 420) << 13 << 5 << true;
    QTest::newRow("wide and short 1000x260 at 20 px, 5 nodes") << QSize(1000, 260) << 20 << 5 << true;
    QTest::newRow("tall and narrow 360x900 at 20 px, 5 nodes") << QSize(360, 900) << 20 << 5 << true;
    QTest::newRow("one node") << QSize(500, 400) << 20 << 1 << true;
    QTest::newRow("two nodes") << QSize(500, 400) << 20 << 2 << true;
    QTest::newRow("eight nodes at 30 px") << QSize(900, 700) << 30 << 8 << true;
    QTest::newRow("sixteen nodes at 13 px") << QSize(900, 700) << 13 << 16 << true;
    QTest::newRow("minimum size 260x240 at 34 px, 16 nodes") << QSize(260, 240) << 34 << 16 << false;
}

void TestPresentation::ringLayout()
{
    QFETCH(QSize, size);
    QFETCH(int, pixels);
    QFETCH(int, nodes);
    QFETCH(bool, labelsFit);
    QFont font;
    font.setPixelSize(pixels);
    const RingLayout l = RingWidget::layOut(size, font, labels(nodes), QStringLiteral("ring whole\nepoch 3\ntoken 25/s\nanimation slowed"));
    checkNodes(l, QRectF(QPointF(0, 0), size), nodes);
    if (labelsFit)
        checkLabels(l, QRectF(QPointF(0, 0), size));
}

void TestPresentation::presentationWindow_data()
{
    QTest::addColumn<QSize>("size");
    QTest::newRow("1280x720") << QSize(1280, 720);
    QTest::newRow("1920x1080") << QSize(1920, 1080);
}

void TestPresentation::presentationWindow()
{
    QFETCH(QSize, size);
    SyntheticFeed::Options o;
    o.nodes = 5;
    o.cps = 2000;
    SyntheticFeed feed(o);
    ConsoleOptions opts;
    opts.presentation = true;
    opts.lab = true;
    opts.flowRefreshMs = 0;
    MainWindow w(&feed, opts);
    w.resize(size);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QCOMPARE(w.size(), size);
    feed.prefill(20'000);
    auto second = [&] {
        feed.advance(1'000'000);
        w.connectionMap()->applyPending();
        w.sampleNow();
        QCoreApplication::processEvents();
    };
    for (int s = 0; s < 20; ++s)
        second();
    QVERIFY(w.killDispatcher());
    for (int s = 0; s < 12; ++s)
        second();
    const QImage shot = w.grab().toImage(); // paints the ring: lastLayout() is this size's

    // The ring: five nodes inside the widget, apart, labels and caption clear of each other.
    RingWidget *ring = w.ring();
    const RingLayout &l = ring->lastLayout();
    checkNodes(l, QRectF(ring->rect()), 5);
    checkLabels(l, QRectF(ring->rect()));
    QVERIFY2(!l.captionRect.isEmpty(), "the centre caption is drawn");
    // The text scales with the window (about 1/36 of its height) and the labels keep most of it.
    const int roomPx = ring->font().pixelSize();
    QVERIFY2(roomPx >= size.height() / 40, qPrintable(QString::number(roomPx)));
    QVERIFY2(l.fontScale >= 0.8, qPrintable(QString::number(l.fontScale)));
    // The ring uses its space: its diameter is at least a third of the widget's smaller side.
    QVERIFY2(2 * l.ringRadius >= std::min(ring->width(), ring->height()) / 3.0,
             qPrintable(QStringLiteral("radius %1 in %2x%3").arg(l.ringRadius).arg(ring->width()).arg(ring->height())));

    // The chart with its markers and the phases: visible and large.
    CpsChartView *chart = w.chart();
    QVERIFY(chart->isVisible());
    QVERIFY2(chart->width() >= size.width() * 0.4 && chart->height() >= size.height() * 0.4,
             qPrintable(QStringLiteral("chart %1x%2").arg(chart->width()).arg(chart->height())));
    QCOMPARE(chart->font().pixelSize(), roomPx);
    FailoverPhasesPanel *phases = w.failoverPhases();
    QVERIFY(phases);
    QVERIFY(phases->isVisible());
    QVERIFY2(phases->width() >= size.width() * 0.9 && phases->height() >= 3 * QFontMetrics(phases->font()).height(),
             qPrintable(QStringLiteral("phases %1x%2").arg(phases->width()).arg(phases->height())));
    QCOMPARE(phases->font().pixelSize(), roomPx);
    QVERIFY2(phases->causeText().contains(QStringLiteral("10.0.0.1")), qPrintable(phases->causeText()));
    for (int p = 0; p < 3; ++p) // detection, re-formation, election
        QVERIFY2(phases->valueText(p).endsWith(QStringLiteral("ms")), qPrintable(phases->valueText(p)));

    const QString name = QStringLiteral("console-presentation-%1x%2.png").arg(size.width()).arg(size.height());
    QVERIFY(shot.save(QStringLiteral(SASHA_BUILD_DIR "/") + name));
    if (qEnvironmentVariableIntValue("SASHA_UPDATE_SCREENSHOT") == 1)
        // 256 colours: a third of the size, and flat UI colours survive the palette.
        QVERIFY(shot.convertToFormat(QImage::Format_Indexed8, Qt::ThresholdDither).save(QStringLiteral(SASHA_SOURCE_DIR "/docs/images/") + name, "PNG", 0));
}

QTEST_MAIN(TestPresentation)
#include "tst_presentation.moc"
