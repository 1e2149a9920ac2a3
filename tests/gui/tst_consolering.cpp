// Integration: the console against a real ring of sashad processes on loopback (LoopbackCluster).
// The console joins as an observer through ClusterObserver; the tests read what an operator sees
// in the main window's models. Faults are real signals until sashad executes fault commands.

#include "clusterobserver.h"
#include "config/nodesettings.h"
#include "eventmodel.h"
#include "loopbackcluster.h"
#include "mainwindow.h"
#include "membershipmodel.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonArray>
#include <QSignalSpy>
#include <QTest>

#include <csignal>
#include <memory>

using namespace sasha;
using namespace sasha::console;
using sasha::lab::LoopbackCluster;

class TestConsoleRing : public QObject {
    Q_OBJECT
private:
    std::unique_ptr<LoopbackCluster> m_cluster;
    quint16 m_port = 0;

    ClusterObserver::Options observerOptions(quint8 lastOctet, QByteArray key = {})
    {
        ClusterObserver::Options o;
        if (key.isEmpty()) {
            QFile f(m_cluster->workDir() + QStringLiteral("/cluster.key"));
            if (f.open(QIODevice::ReadOnly)) {
                QString why;
                key = decodeClusterKey(f.readAll(), &why);
            }
        }
        o.key = key;
        for (int i = 0; i < m_cluster->size(); ++i)
            o.seeds.push_back({*parseIpv4(m_cluster->address(i)), m_port});
        o.self = (*parseIpv4(m_cluster->address(0)) & 0xffffff00u) | lastOctet;
        o.bind = {o.self, 0};
        return o;
    }

    int indexOf(tb::NodeAddr a) const
    {
        for (int i = 0; i < m_cluster->size(); ++i)
            if (*parseIpv4(m_cluster->address(i)) == a)
                return i;
        return -1;
    }

    // Members in the ring, whatever their health (without nginx the agents say unhealthy).
    static int aliveMembers(const MembershipModel &m)
    {
        int n = 0;
        for (const auto &r : m.rows())
            n += !r.observer && r.state != NodeDisplayState::Dead && r.state != NodeDisplayState::Left &&
                 r.state != NodeDisplayState::Suspect;
        return n;
    }

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void tableShowsEveryNode();
    void killedDispatcherShowsNewOneInTimeline();
    void daemonEventsTimeEveryPhase();
    void remoteConsoleTimesDetectionFromEventFeed();
    void crashCommandFromConsole();
    void wrongKeyReported();
    void noRingReported();
};

void TestConsoleRing::initTestCase()
{
    LoopbackCluster::Options o;
    o.nodes = 4;
    o.sashad = QStringLiteral(SASHAD_PATH);
    o.sashactl = QStringLiteral(SASHACTL_PATH);
    o.extraToml = {QStringLiteral("[faults]"), QStringLiteral("enabled = true")};
    m_cluster = std::make_unique<LoopbackCluster>(o);
    QString err;
    QVERIFY2(m_cluster->start(&err), qPrintable(err));
    QVERIFY2(LoopbackCluster::waitUntil([this] { return m_cluster->ringIs({0, 1, 2, 3}); }, 10000), "no ring of 4");
    const QString endpoint = m_cluster->status(0).value(QStringLiteral("members")).toArray().first().toObject()
                                 .value(QStringLiteral("endpoint")).toString();
    m_port = quint16(endpoint.section(QLatin1Char(':'), 1).toUInt());
    QVERIFY(m_port != 0);
}

void TestConsoleRing::cleanupTestCase() { m_cluster.reset(); }

void TestConsoleRing::tableShowsEveryNode()
{
    ClusterObserver feed(observerOptions(200));
    QVERIFY(!feed.start().has_value());
    ConsoleOptions ui;
    ui.lab = true;
    MainWindow w(&feed, ui);
    QTRY_COMPARE_WITH_TIMEOUT(aliveMembers(*w.membership()), 4, 5000);
    for (int i = 0; i < 4; ++i)
        QVERIFY(w.membership()->rowOf(*parseIpv4(m_cluster->address(i))) >= 0);
    QVERIFY(w.membership()->dispatcher() != tb::kNoNode);
    QVERIFY(w.problem().isEmpty());
}

void TestConsoleRing::killedDispatcherShowsNewOneInTimeline()
{
    ClusterObserver feed(observerOptions(201));
    QVERIFY(!feed.start().has_value());
    ConsoleOptions ui;
    ui.lab = true;
    MainWindow w(&feed, ui);
    QTRY_COMPARE_WITH_TIMEOUT(aliveMembers(*w.membership()), 4, 5000);
    const tb::NodeAddr old = w.membership()->dispatcher();
    const int victim = indexOf(old);
    QVERIFY(victim >= 0);
    m_cluster->signal(victim, SIGKILL);
    QTRY_VERIFY_WITH_TIMEOUT(w.membership()->dispatcher() != old && w.membership()->dispatcher() != tb::kNoNode, 5000);
    const QString fresh = ipToString(w.membership()->dispatcher());
    bool elected = false;
    for (const auto &r : w.events()->events())
        elected |= r.event.kind == QLatin1String("dispatcher-elected") && r.event.node == fresh;
    QVERIFY2(elected, qPrintable(fresh));
    QCOMPARE(w.membership()->index(w.membership()->rowOf(old), MembershipModel::State).data().toString(), QStringLiteral("dead"));
    QString kinds;
    for (const auto &r : w.events()->events())
        kinds += r.event.kind + QLatin1Char(' ') + r.phase + QLatin1String("; ");
    qInfo("timeline: %s", qPrintable(kinds));
    QTRY_VERIFY_WITH_TIMEOUT(w.failovers()->rowCount() >= 1, 2000);
    const int last = w.failovers()->rowCount() - 1;
    QVERIFY2(w.failovers()->index(last, FailoverModel::Election).data().toString().endsWith(QStringLiteral("ms")),
             qPrintable(w.failovers()->index(last, FailoverModel::Election).data().toString()));
    QString err;
    QVERIFY2(m_cluster->startNode(victim, &err), qPrintable(err));
    QVERIFY(LoopbackCluster::waitUntil([this] { return m_cluster->ringIs({0, 1, 2, 3}); }, 10000));
}

void TestConsoleRing::daemonEventsTimeEveryPhase()
{
    ClusterObserver::Options o = observerOptions(205);
    for (int i = 0; i < m_cluster->size(); ++i)
        o.controlSockets << m_cluster->socketPath(i);
    ClusterObserver feed(o);
    QVERIFY(!feed.start().has_value());
    ConsoleOptions ui;
    ui.lab = true;
    MainWindow w(&feed, ui);
    QTRY_COMPARE_WITH_TIMEOUT(aliveMembers(*w.membership()), 4, 15000);
    // A node restarted by an earlier test may still be settling (re-formation, abdication).
    QTest::qWait(1000);
    QTRY_VERIFY_WITH_TIMEOUT(!w.events()->tracker().isOpen(), FailoverTracker::kCloseAfterUs / 1000 + 1000);
    const int before = w.failovers()->rowCount();
    const tb::NodeAddr old = w.membership()->dispatcher();
    const int victim = indexOf(old);
    QVERIFY(victim >= 0);
    m_cluster->signal(victim, SIGKILL);
    QTRY_VERIFY_WITH_TIMEOUT(w.membership()->dispatcher() != old && w.membership()->dispatcher() != tb::kNoNode, 5000);
    QTRY_VERIFY_WITH_TIMEOUT(w.failovers()->rowCount() > before, 3000);
    const int last = w.failovers()->rowCount() - 1;
    QTRY_VERIFY_WITH_TIMEOUT(w.failovers()->index(last, FailoverModel::Cause).data().toString()
                                 .contains(ipToString(w.membership()->dispatcher())), 3000);
    QString row;
    for (int c = 0; c < FailoverModel::ColumnCount; ++c)
        row += w.failovers()->index(last, c).data().toString() + QLatin1String(" | ");
    qInfo("failover from the daemons' events: %s", qPrintable(row));
    // the daemons report the purge: re-formation is timed, which an observer alone cannot do
    QVERIFY2(w.failovers()->index(last, FailoverModel::Reformation).data().toString().endsWith(QStringLiteral("ms")), qPrintable(row));
    QVERIFY2(w.failovers()->index(last, FailoverModel::Election).data().toString().endsWith(QStringLiteral("ms")), qPrintable(row));
    QString err;
    QVERIFY2(m_cluster->startNode(victim, &err), qPrintable(err));
    QVERIFY(LoopbackCluster::waitUntil([this] { return m_cluster->ringIs({0, 1, 2, 3}); }, 10000));
}

// No --control-socket: the console is an observer only, as on another host. The daemons' event
// feed (kEventFeedChannel) tells it about the purge, so detection is timed from the daemons'
// token-timeout / purge-started, mapped to the console's clock. The console's monotonic clock
// is made an hour ahead of the daemons' (another host, booted earlier): unmapped stamps would
// give phases of about -1 h.
void TestConsoleRing::remoteConsoleTimesDetectionFromEventFeed()
{
    static constexpr tb::Time kOtherHost = std::chrono::hours(1);
    ClusterObserver feed(observerOptions(206), [] { return RingDriver::steadyNow() + kOtherHost; });
    QVERIFY(!feed.start().has_value());
    ConsoleOptions ui;
    ui.lab = true;
    MainWindow w(&feed, ui);
    QTRY_COMPARE_WITH_TIMEOUT(aliveMembers(*w.membership()), 4, 15000);
    // Each daemon answers the subscription with a clock sample within a second.
    QTRY_VERIFY_WITH_TIMEOUT(feed.daemonEventsFlowing(), 3000);
    QTest::qWait(1000);
    QTRY_VERIFY_WITH_TIMEOUT(!w.events()->tracker().isOpen(), FailoverTracker::kCloseAfterUs / 1000 + 1000);
    const int before = w.failovers()->rowCount();
    const std::size_t eventsBefore = w.events()->events().size();
    const tb::NodeAddr old = w.membership()->dispatcher();
    const int victim = indexOf(old);
    QVERIFY(victim >= 0);
    QString error;
    QVERIFY2(w.killDispatcher(&error), qPrintable(error)); // a fault command: sashad SIGKILLs itself
    QTRY_VERIFY_WITH_TIMEOUT(w.membership()->dispatcher() != old && w.membership()->dispatcher() != tb::kNoNode, 5000);
    QTRY_VERIFY_WITH_TIMEOUT(w.failovers()->rowCount() > before, 3000);
    const int last = w.failovers()->rowCount() - 1;
    QTRY_VERIFY_WITH_TIMEOUT(w.events()->tracker().failovers().back().electedUs != 0, 3000);
    QString row;
    for (int c = 0; c < FailoverModel::ColumnCount; ++c)
        row += w.failovers()->index(last, c).data().toString() + QLatin1String(" | ");
    QString timeline;
    bool purgeSeen = false;
    const auto &rows = w.events()->events();
    for (std::size_t i = eventsBefore; i < rows.size(); ++i) {
        const ControlEvent &e = rows[i].event;
        timeline += e.kind + QLatin1Char(' ') + e.node + (rows[i].phase.isEmpty() ? QString() : QLatin1Char(' ') + rows[i].phase)
                    + QLatin1String("; ");
        purgeSeen |= e.kind == QLatin1String("purge-started") || e.kind == QLatin1String("token-timeout");
    }
    qInfo("remote console, failover: %s", qPrintable(row));
    qInfo("remote console, timeline: %s", qPrintable(timeline));
    qInfo("event feed: %llu messages, %llu events, %llu refused, %llu gaps, %llu dropped by senders",
          static_cast<unsigned long long>(feed.eventFeed().stats().messages),
          static_cast<unsigned long long>(feed.eventFeed().stats().events),
          static_cast<unsigned long long>(feed.eventFeed().stats().rejected),
          static_cast<unsigned long long>(feed.eventFeed().stats().gaps),
          static_cast<unsigned long long>(feed.eventFeed().stats().senderDropped));
    QVERIFY2(purgeSeen, qPrintable(timeline)); // an observer alone is never told of a purge
    const Failover &f = w.events()->tracker().failovers().back();
    QVERIFY2(f.faultUs != 0 && f.detectedUs != 0, qPrintable(row));
    // kActDelayMs (50 ms) + the token timeout (140 ms) + up to a rotation; plausible, not exact.
    QVERIFY2(f.detectionUs() >= 50'000 && f.detectionUs() <= 1'000'000, qPrintable(row));
    QVERIFY2(w.failovers()->index(last, FailoverModel::Detection).data().toString().endsWith(QStringLiteral("ms")), qPrintable(row));
    QVERIFY2(w.failovers()->index(last, FailoverModel::Reformation).data().toString().endsWith(QStringLiteral("ms")), qPrintable(row));
    QVERIFY2(w.failovers()->index(last, FailoverModel::Election).data().toString().endsWith(QStringLiteral("ms")), qPrintable(row));
    QVERIFY2(f.formedUs >= f.detectedUs && f.electedUs >= f.formedUs, qPrintable(row));
    QCOMPARE(feed.eventFeed().stats().rejected, quint64(0));
    // The offset learnt for a daemon is the hour, give or take the loopback's latency.
    const qint64 offset = *feed.eventFeed().offsetUs(*parseIpv4(m_cluster->address(victim == 0 ? 1 : 0)));
    QVERIFY2(qAbs(offset - kOtherHost.count()) < 50'000, qPrintable(QString::number(offset)));
    QString err;
    QVERIFY2(m_cluster->startNode(victim, &err), qPrintable(err));
    QVERIFY(LoopbackCluster::waitUntil([this] { return m_cluster->ringIs({0, 1, 2, 3}); }, 10000));
}

void TestConsoleRing::crashCommandFromConsole()
{
    ClusterObserver feed(observerOptions(202));
    QVERIFY(!feed.start().has_value());
    ConsoleOptions ui;
    ui.lab = true;
    MainWindow w(&feed, ui);
    // The node restarted by the previous test may still be rejoining: allow a few re-formations.
    QTRY_COMPARE_WITH_TIMEOUT(aliveMembers(*w.membership()), 4, 15000);
    QSignalSpy replies(&feed, &ClusterFeed::faultReplied);
    const tb::NodeAddr target = *parseIpv4(m_cluster->address(3));
    QString error;
    QVERIFY2(w.injectFault(target, FaultAction::Crash, 0, 0, &error), qPrintable(error));
    if (!replies.wait(2000))
        QSKIP("sashad does not answer fault commands yet (docs/console.md lists what it must do)");
    QTRY_COMPARE_WITH_TIMEOUT(w.membership()->index(w.membership()->rowOf(target), MembershipModel::State).data().toString(),
                              QStringLiteral("dead"), 5000);
    QString err;
    QVERIFY2(m_cluster->startNode(3, &err), qPrintable(err));
    QVERIFY(LoopbackCluster::waitUntil([this] { return m_cluster->ringIs({0, 1, 2, 3}); }, 10000));
}

void TestConsoleRing::wrongKeyReported()
{
    ClusterObserver feed(observerOptions(203, QByteArray(32, 'x')));
    QVERIFY(!feed.start().has_value());
    MainWindow w(&feed, ConsoleOptions{});
    // Seeds drop our hellos as bad-mac and never answer: the console can only say so.
    QTRY_VERIFY_WITH_TIMEOUT(w.problem().contains(QStringLiteral("--key")), 5000);
    QVERIFY(w.problem().contains(QStringLiteral("bad-mac")));
    QCOMPARE(w.membership()->rowCount(), 0);
    qint64 badMac = 0;
    for (int i = 0; i < m_cluster->size(); ++i)
        badMac += m_cluster->status(i).value(QStringLiteral("counters")).toObject().value(QStringLiteral("dropped")).toObject()
                      .value(QStringLiteral("bad-mac")).toInteger();
    QVERIFY2(badMac > 0, qPrintable(QJsonDocument(m_cluster->status(1)).toJson()));
}

void TestConsoleRing::noRingReported()
{
    ClusterObserver::Options o = observerOptions(204);
    for (auto &s : o.seeds)
        s.port = quint16(m_port + 1); // nobody listens there
    o.noRingTimeoutMs = 1000;
    ClusterObserver feed(o);
    QVERIFY(!feed.start().has_value());
    MainWindow w(&feed, ConsoleOptions{});
    QTRY_VERIFY_WITH_TIMEOUT(w.problem().contains(QStringLiteral("No ring answered")), 4000);
}

QTEST_MAIN(TestConsoleRing)
#include "tst_consolering.moc"
