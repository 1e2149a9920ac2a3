// Specification of what the failover histogram measures (FailoverClock): from this node's
// detection of a broken ring to its first forwarded frame as the new dispatcher, and nothing
// for a start-up, a handover, another node's takeover or a dispatcher that kept its role.

#include "metrics/failoverclock.h"
#include "metrics/histogram.h"

#include <QTest>

using namespace sasha;

class TestFailoverClock : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void takeoverAfterPurgeIsMeasuredFromTheFirstDetection()
    {
        FailoverClock c;
        c.onRingBroken(1'000'000);  // token timeout here
        c.onRingBroken(1'050'000);  // the purge it declared: later, ignored
        c.onDispatcherElected(true, false);
        const auto d = c.onFirstForward(1'420'000);
        QVERIFY(d.has_value());
        QCOMPARE(*d, 0.42);
        QVERIFY(!c.pending());
        QVERIFY(!c.onFirstForward(2'000'000).has_value()); // counted once
    }

    void startUpWithoutPurgeIsNoFailover()
    {
        FailoverClock c;
        c.onDispatcherElected(true, false);
        QVERIFY(!c.onFirstForward(5'000'000).has_value());
    }

    void anotherNodeElectedForgetsTheDetection()
    {
        FailoverClock c;
        c.onRingBroken(1'000'000);
        c.onDispatcherElected(false, false);
        QVERIFY(!c.pending());
        QVERIFY(!c.onFirstForward(1'500'000).has_value());
    }

    void dispatcherKeepingItsRoleThroughAPurgeIsNoFailover()
    {
        FailoverClock c;
        c.onRingBroken(1'000'000); // a server died; the role persists
        c.onDispatcherElected(true, true);
        QVERIFY(!c.onFirstForward(1'300'000).has_value());
    }

    void staleDetectionIsNotCounted()
    {
        FailoverClock c;
        c.onRingBroken(1'000'000);
        c.onDispatcherElected(true, false);
        QVERIFY(!c.onFirstForward(1'000'000 + FailoverClock::kMaxPendingUs + 1).has_value());
    }

    void histogramBucketsAreCumulative()
    {
        Histogram h({0.1, 0.5, 1});
        h.observe(0.05);
        h.observe(0.3);
        h.observe(0.3);
        h.observe(2);
        QCOMPARE(h.cumulativeCounts(), (std::vector<quint64>{1, 3, 3}));
        QCOMPARE(h.count(), quint64(4));
        QCOMPARE(h.sum(), 2.65);
    }
};

QTEST_APPLESS_MAIN(TestFailoverClock)
#include "tst_failoverclock.moc"
