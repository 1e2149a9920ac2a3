// RingDriver on real sockets and real time: three drivers in one process on 127.0.0.1 with
// OS-chosen ports form a ring, one leaves gracefully (no purge), one vanishes (purge, the last
// node stands alone). Bounded waits only; the protocol's own timing is tested in the core's
// simulation tests, not here.

#include "transport/ringdriver.h"

#include <QHostAddress>
#include <QSignalSpy>
#include <QTest>
#include <QThread>

#include <memory>
#include <vector>

using namespace sasha;

class TestRingDriver : public QObject {
    Q_OBJECT

private:
    std::vector<std::unique_ptr<RingDriver>> m_drivers;

    // Ring addresses are independent of the (shared) IP here: 1, 2, 3.
    static tb::NodeAddr addrOf(int i) { return tb::NodeAddr(i + 1); }

    bool ringIs(const std::vector<int> &live, QString *why) const
    {
        for (int i : live) {
            const auto &d = m_drivers[size_t(i)];
            if (!d) {
                *why = QStringLiteral("driver %1 is gone").arg(i);
                return false;
            }
            const tb::RingView &v = d->node().view();
            if (d->node().state() != tb::NodeState::Member || v.members.size() != live.size()) {
                *why = QStringLiteral("driver %1: state %2, %3 members").arg(i).arg(int(d->node().state())).arg(v.members.size());
                return false;
            }
            if (v.master != addrOf(live.front())) {
                *why = QStringLiteral("driver %1: master %2").arg(i).arg(v.master);
                return false;
            }
        }
        return true;
    }

private Q_SLOTS:
    void init()
    {
        m_drivers.clear();
        tb::NodeConfig base;
        base.key = QByteArray(32, '\x42');
        base.bootEpoch = 1;
        std::vector<tb::Endpoint> endpoints;
        for (int i = 0; i < 3; ++i) {
            tb::NodeConfig c = base;
            c.self = addrOf(i);
            c.endpoint = {QHostAddress(QHostAddress::LocalHost).toIPv4Address(), 0};
            m_drivers.push_back(std::make_unique<RingDriver>(c));
            const auto err = m_drivers.back()->bind();
            QVERIFY2(!err, err ? qPrintable(err->message) : "");
            QVERIFY(m_drivers.back()->localEndpoint().port != 0);
            endpoints.push_back(m_drivers.back()->localEndpoint());
        }
        for (auto &d : m_drivers) {
            d->setSeeds(endpoints);
            QVERIFY(!d->start().has_value());
        }
    }

    void cleanup() { m_drivers.clear(); }

    void threeDriversFormARing()
    {
        QString why;
        QTRY_VERIFY2_WITH_TIMEOUT(ringIs({0, 1, 2}, &why), qPrintable(why), 5000);
        const tb::RingView &v = m_drivers[0]->node().view();
        QCOMPARE(v.dispatcher, addrOf(0));
        QCOMPARE(m_drivers[0]->node().role(), tb::Role::Dispatcher);
        QCOMPARE(m_drivers[1]->node().role(), tb::Role::Server);
        // The token actually circulates: the master completes rotations and the ring stays
        // whole while it does (no purge, same epoch).
        const quint32 epoch = v.ringEpoch;
        const quint64 purges = m_drivers[0]->node().counters().purges;
        const quint64 rotations = m_drivers[0]->node().counters().rotations;
        const quint64 relayed = m_drivers[2]->node().counters().tokensRelayed;
        QTRY_VERIFY_WITH_TIMEOUT(m_drivers[0]->node().counters().rotations > rotations + 5, 3000);
        QVERIFY(m_drivers[2]->node().counters().tokensRelayed > relayed);
        QCOMPARE(m_drivers[0]->node().counters().purges, purges);
        QCOMPARE(m_drivers[0]->node().view().ringEpoch, epoch);
        // Honest peers sharing a key never fail authentication or replay checks.
        for (const auto &d : m_drivers) {
            const tb::Counters &c = d->node().counters();
            QCOMPARE(c.dropped[int(tb::DropReason::BadMac)], quint64(0));
            QCOMPARE(c.dropped[int(tb::DropReason::Replay)], quint64(0));
            QCOMPARE(c.dropped[int(tb::DropReason::Malformed)], quint64(0));
        }
    }

    void gracefulLeaveDoesNotPurge()
    {
        QString why;
        QTRY_VERIFY2_WITH_TIMEOUT(ringIs({0, 1, 2}, &why), qPrintable(why), 5000);
        const quint64 purges = m_drivers[0]->node().counters().purges;
        QSignalSpy stopped(m_drivers[2].get(), &RingDriver::stopped);
        m_drivers[2]->leave();
        QTRY_COMPARE_WITH_TIMEOUT(stopped.count(), 1, 2000);
        QTRY_VERIFY2_WITH_TIMEOUT(ringIs({0, 1}, &why), qPrintable(why), 3000);
        QCOMPARE(m_drivers[0]->node().counters().purges, purges);
    }

    void vanishedNodeIsPurged()
    {
        QString why;
        QTRY_VERIFY2_WITH_TIMEOUT(ringIs({0, 1, 2}, &why), qPrintable(why), 5000);
        QSignalSpy events(m_drivers[0].get(), &RingDriver::eventOccurred);
        m_drivers[1].reset(); // like SIGKILL: no leave, its socket closes
        QTRY_VERIFY2_WITH_TIMEOUT(ringIs({0, 2}, &why), qPrintable(why), 5000);
        QVERIFY(m_drivers[0]->node().counters().purges >= 1 || m_drivers[2]->node().counters().purges >= 1);
        bool sawLost = false;
        for (const auto &args : events)
            sawLost |= args.at(0).value<tb::Event>().kind == tb::Event::Kind::MemberLost;
        QVERIFY(sawLost);
    }

    // The console is an observer: a member's new cps reaches it as a View of the same version,
    // and viewChanged must say so (its membership table and cps chart read the view then).
    void observerIsToldOfStatusChanges()
    {
        QString why;
        QTRY_VERIFY2_WITH_TIMEOUT(ringIs({0, 1, 2}, &why), qPrintable(why), 5000);
        tb::NodeConfig c;
        c.key = QByteArray(32, '\x42');
        c.bootEpoch = 1;
        c.self = addrOf(9);
        c.caps = tb::kObserver;
        c.endpoint = {QHostAddress(QHostAddress::LocalHost).toIPv4Address(), 0};
        RingDriver observer(c);
        QVERIFY(!observer.bind().has_value());
        observer.setSeeds({m_drivers[0]->localEndpoint()});
        quint32 cpsSeen = 0; // node 3's cps as of the last viewChanged
        connect(&observer, &RingDriver::viewChanged, this, [&] {
            for (const tb::Member &m : observer.node().view().members)
                if (m.addr == addrOf(2))
                    cpsSeen = m.status.connectionsPerSecond;
        });
        QVERIFY(!observer.start().has_value());
        QTRY_COMPARE_WITH_TIMEOUT(observer.node().view().members.size(), std::size_t(3), 3000);
        const quint32 version = observer.node().view().viewVersion;
        tb::NodeStatus st;
        st.health = tb::Health::Healthy;
        st.connectionsPerSecond = 42;
        m_drivers[2]->setLocalStatus(st);
        QTRY_COMPARE_WITH_TIMEOUT(cpsSeen, quint32(42), 3000);
        QCOMPARE(observer.node().view().viewVersion, version); // a status change, not a new view
    }

    // sashad feeds systemd's watchdog from the heartbeat: it must come from the ring's thread,
    // and keep coming when the ring has nothing to do for longer than the watchdog allows (a
    // lone node waits a whole beacon interval, here 10 s, between deadlines).
    void heartbeatComesFromTheRingThreadEvenWhenIdle()
    {
        m_drivers.clear();
        tb::NodeConfig c;
        c.key = QByteArray(32, '\x42');
        c.bootEpoch = 1;
        c.self = addrOf(0);
        c.endpoint = {QHostAddress(QHostAddress::LocalHost).toIPv4Address(), 0};
        c.timers.beaconInterval = std::chrono::seconds(10);
        RingDriver lone(c);
        QVERIFY(!lone.start().has_value());
        QTRY_COMPARE_WITH_TIMEOUT(lone.node().state(), tb::NodeState::Member, 3000);
        int beats = 0;
        bool otherThread = false;
        tb::Time last{0};
        lone.setHeartbeat([&](tb::Time now) {
            ++beats;
            otherThread = otherThread || QThread::currentThread() != lone.thread();
            last = now;
        }, std::chrono::milliseconds(30));
        QTRY_VERIFY_WITH_TIMEOUT(beats >= 10, 3000);
        QVERIFY(!otherThread);
        QVERIFY(last.count() > 0);
        // A blocked ring thread does not beat.
        const int before = beats;
        QThread::msleep(200);
        QCOMPARE(beats, before);
    }
};

QTEST_GUILESS_MAIN(TestRingDriver)
#include "tst_ringdriver.moc"
