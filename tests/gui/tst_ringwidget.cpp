// Specification of RingWidget's token animation: it runs only while the ring is whole, at the
// ring's rate capped for the eye, over the alive nodes only; and it paints offscreen.

#include "membershipmodel.h"
#include "ringwidget.h"

#include <QTest>

using namespace sasha;
using namespace sasha::console;

namespace {

tb::RingView ring(int n)
{
    tb::RingView v;
    v.ringEpoch = 1;
    for (int i = 1; i <= n; ++i) {
        tb::Member m;
        m.addr = 0x0a000000u | quint32(i);
        m.endpoint = {m.addr, 7400};
        m.status.role = i == 1 ? tb::Role::Dispatcher : tb::Role::Server;
        v.members.push_back(m);
    }
    v.master = v.dispatcher = 0x0a000001;
    return v;
}

} // namespace

class TestRingWidget : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void tokenSpeed_data();
    void tokenSpeed();
    void tokenStopsDuringPurge();
    void deadNodesSkipped();
    void paintsEveryPhase();
};

void TestRingWidget::tokenSpeed_data()
{
    QTest::addColumn<double>("rps");
    QTest::addColumn<double>("hopsAfterOneSecond");
    QTest::newRow("slow paper timers: real rate") << 0.25 << 5 * 0.25;
    QTest::newRow("LAN timers 25 rot/s: capped") << 25.0 << 5 * RingWidget::kMaxShownRotationsPerSecond;
}

void TestRingWidget::tokenSpeed()
{
    QFETCH(double, rps);
    QFETCH(double, hopsAfterOneSecond);
    MembershipModel model;
    model.setView(ring(5), 0);
    RingWidget w(&model);
    w.setRotationsPerSecond(rps);
    w.setPhase(RingWidget::Phase::Whole);
    w.advance(1.0);
    QVERIFY(qAbs(w.tokenPosition() - hopsAfterOneSecond) < 1e-9);
}

void TestRingWidget::tokenStopsDuringPurge()
{
    MembershipModel model;
    model.setView(ring(3), 0);
    RingWidget w(&model);
    w.setPhase(RingWidget::Phase::Whole);
    w.advance(0.5);
    const double at = w.tokenPosition();
    w.setPhase(RingWidget::Phase::Purging);
    w.advance(1.0);
    QCOMPARE(w.tokenPosition(), at);
}

void TestRingWidget::deadNodesSkipped()
{
    MembershipModel model;
    model.setView(ring(4), 0);
    tb::RingView three = ring(4);
    three.members.pop_back();
    model.setView(three, 1);
    RingWidget w(&model);
    w.setRotationsPerSecond(0.5);
    w.setPhase(RingWidget::Phase::Whole);
    w.advance(2.0); // one full rotation over 3 alive hops, wraps to 0
    QVERIFY(w.tokenPosition() < 1e-9 || qAbs(w.tokenPosition() - 3.0) < 1e-9);
}

void TestRingWidget::paintsEveryPhase()
{
    MembershipModel model;
    model.setView(ring(5), 0);
    RingWidget w(&model);
    w.resize(500, 400);
    QList<QImage> shots;
    for (auto phase : {RingWidget::Phase::NoRing, RingWidget::Phase::Whole, RingWidget::Phase::Purging, RingWidget::Phase::Forming}) {
        w.setPhase(phase);
        shots << w.grab().toImage();
        QCOMPARE(shots.back().size(), QSize(500, 400) * w.devicePixelRatio());
    }
    // each phase looks different (caption, ring line), and the election halo shows
    for (int i = 1; i < shots.size(); ++i)
        QVERIFY2(shots[i] != shots[i - 1], qPrintable(QString::number(i)));
    w.flashElected(0x0a000002);
    QVERIFY(w.grab().toImage() != shots.back());
}

QTEST_MAIN(TestRingWidget)
#include "tst_ringwidget.moc"
