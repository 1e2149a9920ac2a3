// Seeded simulation of TokenBeat rings (ringsim.h): many seeds per scenario, invariants checked
// after every simulated step. A failure prints its scenario and seed; reproduce it with
//   SASHA_SIM_SEED=<seed> ./tst_ringsim <scenario-function>
// (SASHA_SIM_SEEDS=<n> changes how many seeds each scenario runs.)

#include "ringsim.h"

#include <QTest>

#include <algorithm>
#include <numeric>

using namespace sasha::tb;
using namespace sasha::tb::sim;

namespace {

Timers defaultTimers() { return Timers{}; }

// The lab kit's setup on a loaded host (bench_tokenbeat, tst_ringprocesses): no broadcast,
// every node lists every node as a seed, each datagram costs CPU, receive queues overflow
// (a socket's receive buffer holds ~150 small datagrams), and processes get descheduled.
// pinnedCost: a regression row's load, which the SASHA_SIM_* overrides must not change.
SimOptions realProcessOptions(std::optional<Time> pinnedCost = std::nullopt)
{
    SimOptions o;
    o.broadcast = false;
    o.allSeeds = true;
    o.minDelay = 30us;
    o.maxDelay = 400us;
    o.procCost = pinnedCost ? *pinnedCost : Time(qEnvironmentVariableIntValue("SASHA_SIM_COST") ?: 150);
    o.rxQueue = 128;
    o.stallChance = (pinnedCost ? 3 : (qEnvironmentVariableIntValue("SASHA_SIM_STALL") ?: 3)) / 1000.0;
    o.maxStall = 25ms;
    o.cores = !pinnedCost && qEnvironmentVariableIsSet("SASHA_SIM_CORES") ? qEnvironmentVariableIntValue("SASHA_SIM_CORES") : 2;
    return o;
}

// Seeds to run: SASHA_SIM_SEED pins one; otherwise `count` seeds from base.
std::vector<quint64> seedsFor(quint64 base, int count)
{
    bool ok = false;
    const quint64 pinned = qEnvironmentVariable("SASHA_SIM_SEED").toULongLong(&ok);
    if (ok)
        return {pinned};
    const int n = qEnvironmentVariableIntValue("SASHA_SIM_SEEDS", &ok);
    if (ok && n > 0)
        count = n;
    std::vector<quint64> s(count);
    std::iota(s.begin(), s.end(), base);
    return s;
}

// Starts n ring nodes at random times in [0, spread) and runs until they converge.
struct Cluster {
    RingSim sim;
    std::mt19937_64 rng;
    explicit Cluster(quint64 seed, SimOptions opt = {}) : sim(seed, opt), rng(seed * 7919 + 1) {}
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
    Time pickTime(Time lo, Time hi) { return Time(std::uniform_int_distribution<qint64>(lo.count(), hi.count())(rng)); }

    void startNodes(int n, Time spread)
    {
        for (int i = 0; i < n; ++i) {
            // Every fifth node cannot dispatch, to exercise "lowest capable".
            const quint8 caps = (i % 5 == 3) ? quint8(kCanServe) : quint8(kCanDispatch | kCanServe);
            const int idx = sim.addNode(caps);
            sim.at(pickTime(0us, spread), [this, idx] { sim.start(idx); });
        }
    }

    // Runs in 5 ms steps until converged(); returns how long that took, or nullopt.
    std::optional<Time> settle(Time limit, QString *why = nullptr)
    {
        const Time from = sim.now();
        while (sim.now() - from <= limit) {
            if (!sim.runUntil(sim.now() + 5ms))
                return std::nullopt;
            if (sim.converged(why))
                return sim.now() - from;
        }
        return std::nullopt;
    }

    std::vector<int> liveRingNodes()
    {
        std::vector<int> out;
        for (auto &n : sim.nodes())
            if (sim.isRingNode(n) && !n.hung)
                out.push_back(n.index);
        return out;
    }
};

QString where(const char *scenario, quint64 seed, const QString &what)
{
    return QStringLiteral("scenario %1 seed %2: %3 (reproduce: SASHA_SIM_SEED=%2 ./tst_ringsim %1)")
        .arg(QLatin1String(scenario)).arg(seed).arg(what);
}

#define SIM_VERIFY(cond, what)                                                          \
    do {                                                                                \
        if (!(cond))                                                                    \
            QFAIL(qPrintable(where(scenario, seed, QString(what) + QStringLiteral(" | sim: ") + c.sim.failure()))); \
    } while (false)

struct Stats {
    std::vector<double> ms;
    void add(Time t) { ms.push_back(double(t.count()) / 1000.0); }
    QString summary() const
    {
        if (ms.empty())
            return QStringLiteral("no samples");
        std::vector<double> s = ms;
        std::sort(s.begin(), s.end());
        const double mean = std::accumulate(s.begin(), s.end(), 0.0) / double(s.size());
        return QStringLiteral("n=%1 min=%2 median=%3 mean=%4 p95=%5 max=%6 ms")
            .arg(s.size()).arg(s.front(), 0, 'f', 1).arg(s[s.size() / 2], 0, 'f', 1).arg(mean, 0, 'f', 1)
            .arg(s[std::min(s.size() - 1, s.size() * 95 / 100)], 0, 'f', 1).arg(s.back(), 0, 'f', 1);
    }
};

} // namespace

class TestRingSim : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void formation();
    void formationSeedsOnly();
    void dispatcherCrashFailover();
    void randomCrashAndRestart();
    void hangAndResume();
    void lossAndDuplication();
    void healthyChurnNeverPurges();
    void partitionHealsToOneDispatcher();
    void largeRing();
    void sequentialStartAllSeeds();
    void dispatcherKillRestartAllSeeds();
    void dispatcherKillRestartRegressions_data();
    void dispatcherKillRestartRegressions();
    void loneNodeAfterPurge();
    void slowRingNeverPurges();
    void machineStallNeverPurges();
};

// N = 3..50 nodes starting within 60 ms form exactly one ring with one dispatcher, and no
// datagram exceeds 1,400 bytes.
void TestRingSim::formation()
{
    const char *scenario = "formation";
    Stats st;
    for (quint64 seed : seedsFor(1000, 40)) {
        Cluster c(seed);
        c.sim.setQuietWindow(600ms);
        const int n = c.pick(3, seed % 4 == 0 ? 50 : 12);
        c.startNodes(n, 60ms);
        c.sim.runUntil(60ms);
        QString why;
        const auto t = c.settle(1500ms, &why);
        SIM_VERIFY(t.has_value(), QStringLiteral("%1 nodes did not converge: %2").arg(n).arg(why));
        st.add(c.sim.now());
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 500ms), QStringLiteral("after settling"));
        SIM_VERIFY(c.sim.converged(&why), QStringLiteral("diverged after settling: ") + why);
        SIM_VERIFY(c.sim.maxDatagramSeen() <= 1400, QStringLiteral("datagram too large"));
        // The master is the lowest address. (The dispatcher is the lowest capable node only
        // when all start within one reform interval; a later, lower node never takes it over.)
        const RingView &v = c.sim.nodes()[0].node->view();
        SIM_VERIFY(v.master == c.sim.nodes()[0].addr, QStringLiteral("master is not the lowest"));
        SIM_VERIFY(v.find(v.dispatcher) && (v.find(v.dispatcher)->caps & kCanDispatch),
                   QStringLiteral("dispatcher cannot dispatch"));
    }
    qInfo("formation: time to one ring from first start: %s", qPrintable(st.summary()));
}

// Without broadcast, nodes only know two seeds: they still end in one ring.
void TestRingSim::formationSeedsOnly()
{
    const char *scenario = "formationSeedsOnly";
    for (quint64 seed : seedsFor(2000, 25)) {
        SimOptions opt;
        opt.broadcast = false;
        opt.seedsOnly = true;
        Cluster c(seed, opt);
        c.sim.setQuietWindow(1500ms);
        const int n = c.pick(3, 15);
        c.startNodes(n, 100ms);
        c.sim.runUntil(100ms);
        QString why;
        SIM_VERIFY(c.settle(3s, &why).has_value(), QStringLiteral("%1 nodes did not converge: %2").arg(n).arg(why));
        // Then the dispatcher crashes; the rest re-form through the seeds and the last view.
        const int d = c.sim.dispatchers().front();
        c.sim.crash(d);
        SIM_VERIFY(c.settle(3s, &why).has_value(), QStringLiteral("no re-form after crash: ") + why);
    }
}

// The dispatcher crashes at a random phase of the rotation: a new one is elected within
// tokenTimeout + reformInterval + slack of simulated time; the ring then holds every live node.
void TestRingSim::dispatcherCrashFailover()
{
    const char *scenario = "dispatcherCrashFailover";
    const Timers tm = defaultTimers();
    const Time bound = tm.tokenTimeout + tm.reformInterval + 40ms;
    Stats st;
    for (quint64 seed : seedsFor(3000, 40)) {
        Cluster c(seed);
        c.sim.setQuietWindow(700ms);
        const int n = c.pick(3, seed % 5 == 0 ? 40 : 10);
        c.startNodes(n, 30ms);
        c.sim.runUntil(30ms);
        QString why;
        SIM_VERIFY(c.settle(1500ms, &why).has_value(), QStringLiteral("no initial ring: ") + why);
        c.sim.runUntil(c.sim.now() + c.pickTime(0ms, 200ms));
        const std::vector<int> disp = c.sim.dispatchers();
        SIM_VERIFY(disp.size() == 1, QStringLiteral("%1 dispatchers before the crash").arg(disp.size()));
        const Time crashAt = c.sim.now();
        c.sim.crash(disp.front());
        SIM_VERIFY(c.sim.runUntil(crashAt + 1s), QStringLiteral("after crash"));
        std::optional<Time> elected;
        for (const EventRecord &r : c.sim.events())
            if (r.event.at >= crashAt && r.event.kind == Event::Kind::RoleChanged
                && RingSim::dispatches(r.event.role) && c.sim.nodes()[r.node].alive) {
                elected = r.event.at - crashAt;
                break;
            }
        SIM_VERIFY(elected.has_value(), QStringLiteral("no new dispatcher"));
        st.add(*elected);
        SIM_VERIFY(*elected <= bound, QStringLiteral("failover took %1 > %2").arg(fmtMs(*elected), fmtMs(bound)));
        SIM_VERIFY(c.settle(1s, &why).has_value(), QStringLiteral("no single ring after failover: ") + why);
    }
    qInfo("dispatcher failover (crash -> new dispatcher), default timers: %s", qPrintable(st.summary()));
}

// Random nodes crash and some restart (with a new boot epoch); the ring always settles back to
// all live nodes with one dispatcher.
void TestRingSim::randomCrashAndRestart()
{
    const char *scenario = "randomCrashAndRestart";
    for (quint64 seed : seedsFor(4000, 35)) {
        Cluster c(seed);
        c.sim.setQuietWindow(800ms);
        const int n = c.pick(3, 12);
        c.startNodes(n, 30ms);
        c.sim.runUntil(30ms);
        QString why;
        SIM_VERIFY(c.settle(1500ms, &why).has_value(), QStringLiteral("no initial ring: ") + why);
        const int faults = c.pick(1, 3);
        for (int f = 0; f < faults; ++f) {
            std::vector<int> live = c.liveRingNodes();
            if (live.size() <= 2)
                break;
            const int victim = live[c.pick(0, int(live.size()) - 1)];
            c.sim.crash(victim);
            if (c.pick(0, 1)) {
                const Time back = c.sim.now() + c.pickTime(1ms, 400ms);
                c.sim.at(back, [&c, victim] { c.sim.start(victim); });
            }
            c.sim.runUntil(c.sim.now() + c.pickTime(0ms, 300ms));
        }
        c.sim.runUntil(c.sim.now() + 450ms);
        SIM_VERIFY(c.settle(2s, &why).has_value(), QStringLiteral("did not settle after faults: ") + why);
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 1s), QStringLiteral("quiet period"));
        SIM_VERIFY(c.sim.converged(&why), QStringLiteral("diverged in quiet period: ") + why);
    }
}

// A node stalls (e.g. SIGSTOP) past the token timeout and resumes: the ring purges once,
// re-forms, and the resumed node rejoins.
void TestRingSim::hangAndResume()
{
    const char *scenario = "hangAndResume";
    for (quint64 seed : seedsFor(5000, 25)) {
        Cluster c(seed);
        c.sim.setQuietWindow(800ms);
        const int n = c.pick(3, 10);
        c.startNodes(n, 30ms);
        c.sim.runUntil(30ms);
        QString why;
        SIM_VERIFY(c.settle(1500ms, &why).has_value(), QStringLiteral("no initial ring: ") + why);
        const int victim = c.pick(0, n - 1);
        c.sim.hang(victim);
        c.sim.runUntil(c.sim.now() + c.pickTime(50ms, 500ms));
        c.sim.unhang(victim);
        SIM_VERIFY(c.settle(2s, &why).has_value(), QStringLiteral("did not settle after resume: ") + why);
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 1s), QStringLiteral("quiet period"));
    }
}

// 1-5 % loss and duplication for a while: purges may happen, but afterwards the ring settles and
// stays quiet; duplicates never create a second token or dispatcher.
void TestRingSim::lossAndDuplication()
{
    const char *scenario = "lossAndDuplication";
    for (quint64 seed : seedsFor(6000, 30)) {
        Cluster c(seed);
        c.sim.setQuietWindow(800ms);
        const int n = c.pick(3, 12);
        c.startNodes(n, 30ms);
        c.sim.runUntil(30ms);
        QString why;
        SIM_VERIFY(c.settle(1500ms, &why).has_value(), QStringLiteral("no initial ring: ") + why);
        c.sim.setLoss(double(c.pick(1, 5)) / 100.0, double(c.pick(0, 5)) / 100.0);
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 2s), QStringLiteral("during loss"));
        c.sim.setLoss(0, 0);
        SIM_VERIFY(c.settle(2s, &why).has_value(), QStringLiteral("did not settle after loss: ") + why);
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 1s), QStringLiteral("quiet period"));
    }
}

// On a healthy network, nodes joining late, leaving gracefully and observers coming and going
// (closing or crashing) never cause a purge, and the ring always holds exactly the live nodes.
void TestRingSim::healthyChurnNeverPurges()
{
    const char *scenario = "healthyChurnNeverPurges";
    for (quint64 seed : seedsFor(7000, 35)) {
        Cluster c(seed);
        c.sim.setQuietWindow(300ms);
        const int n = c.pick(3, 10);
        c.startNodes(n, 20ms);
        c.sim.runUntil(20ms);
        QString why;
        SIM_VERIFY(c.settle(1s, &why).has_value(), QStringLiteral("no initial ring: ") + why);
        c.sim.runUntil(c.sim.now() + 300ms);
        const Time churnFrom = c.sim.now();
        int observers = 0;
        for (int step = 0; step < 8; ++step) {
            const int what = c.pick(0, 4);
            std::vector<int> live = c.liveRingNodes();
            if (what == 0) { // a new node joins
                const int idx = c.sim.addNode();
                c.sim.start(idx);
            } else if (what == 1 && live.size() > 2) { // graceful leave (maybe the master)
                const int victim = live[c.pick(0, int(live.size()) - 1)];
                c.sim.leave(victim);
                c.sim.at(c.sim.now() + Timers{}.leaveLinger + 1ms, [&c, victim] {
                    if (c.sim.nodes()[victim].alive && c.sim.nodes()[victim].node->state() == NodeState::Stopped)
                        c.sim.nodes()[victim].alive = false;
                });
            } else if (what == 2) { // an observer arrives
                const int idx = c.sim.addNode(kObserver);
                c.sim.start(idx);
                ++observers;
            } else { // an observer closes or crashes
                for (auto &node : c.sim.nodes())
                    if (node.alive && (node.caps & kObserver)) {
                        if (what == 3)
                            c.sim.leave(node.index);
                        node.alive = false;
                        node.node.reset();
                        break;
                    }
            }
            SIM_VERIFY(c.sim.runUntil(c.sim.now() + c.pickTime(100ms, 2500ms)), QStringLiteral("during churn"));
        }
        SIM_VERIFY(c.settle(1s, &why).has_value(), QStringLiteral("did not settle after churn: ") + why);
        SIM_VERIFY(c.sim.purgesSince(churnFrom) == 0, QStringLiteral("purge during healthy churn"));
        // Leavers must have stopped on their own, within leaveLinger.
        for (auto &node : c.sim.nodes())
            SIM_VERIFY(!node.node || node.alive || node.node->state() == NodeState::Stopped,
                       QStringLiteral("leaver %1 did not stop").arg(node.index));
    }
}

// The network splits in two; each side re-forms with its own dispatcher; after healing the
// lower master's ring absorbs the other (via Beacons) and exactly one dispatcher remains. The
// two dispatchers, once in one ring, resolve within 3 rotations.
void TestRingSim::partitionHealsToOneDispatcher()
{
    const char *scenario = "partitionHealsToOneDispatcher";
    const Timers tm = defaultTimers();
    Stats heal, meet;
    for (quint64 seed : seedsFor(8000, 30)) {
        Cluster c(seed);
        c.sim.setQuietWindow(tm.beaconInterval * 2 + 500ms);
        const int n = c.pick(4, 12);
        c.startNodes(n, 20ms);
        c.sim.runUntil(20ms);
        QString why;
        SIM_VERIFY(c.settle(1500ms, &why).has_value(), QStringLiteral("no initial ring: ") + why);
        std::vector<int> groups(n);
        for (int i = 0; i < n; ++i)
            groups[i] = i == 0 ? 0 : (i == 1 ? 1 : c.pick(0, 1));
        c.sim.partition(groups);
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 1500ms), QStringLiteral("during partition"));
        const std::vector<int> before = c.sim.dispatchers();
        const Time healedAt = c.sim.now();
        c.sim.heal();
        std::optional<Time> meetAt;
        std::optional<Time> resolvedAfterMeet;
        const NodeAddr lowMaster = c.sim.nodes()[0].addr;
        while (c.sim.now() - healedAt < 3s && !resolvedAfterMeet) {
            SIM_VERIFY(c.sim.runUntil(c.sim.now() + 500us), QStringLiteral("while healing"));
            if (before.size() == 2 && !meetAt) {
                const RingView &v = c.sim.nodes()[0].node->view();
                if (v.master == lowMaster && v.find(c.sim.nodes()[before[0]].addr)
                    && v.find(c.sim.nodes()[before[1]].addr))
                    meetAt = c.sim.now();
            }
            if (meetAt && c.sim.dispatchers().size() == 1)
                resolvedAfterMeet = c.sim.now() - *meetAt;
        }
        SIM_VERIFY(c.settle(3s, &why).has_value(), QStringLiteral("did not settle after heal: ") + why);
        heal.add(c.sim.now() - healedAt);
        if (before.size() == 2) {
            SIM_VERIFY(resolvedAfterMeet.has_value(), QStringLiteral("two dispatchers never resolved"));
            meet.add(*resolvedAfterMeet);
            SIM_VERIFY(*resolvedAfterMeet <= 3 * tm.rotationInterval,
                       QStringLiteral("dispatchers resolved in %1").arg(fmtMs(*resolvedAfterMeet)));
        }
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 1s), QStringLiteral("quiet period"));
    }
    qInfo("partition heal -> one ring: %s", qPrintable(heal.summary()));
    qInfo("two dispatchers in one ring -> one: %s", qPrintable(meet.summary()));
}

// 50 nodes (the design's largest tested ring) with observers: token circulation, a crash and
// graceful leaves, every datagram within 1,400 bytes.
void TestRingSim::largeRing()
{
    const char *scenario = "largeRing";
    for (quint64 seed : seedsFor(9000, 6)) {
        Cluster c(seed);
        c.sim.setQuietWindow(800ms);
        c.startNodes(50, 50ms);
        for (int o = 0; o < 3; ++o) {
            const int idx = c.sim.addNode(kObserver);
            c.sim.at(10ms, [&c, idx] { c.sim.start(idx); });
        }
        c.sim.runUntil(50ms);
        QString why;
        SIM_VERIFY(c.settle(2s, &why).has_value(), QStringLiteral("50 nodes did not converge: ") + why);
        c.sim.crash(c.pick(0, 49));
        SIM_VERIFY(c.settle(2s, &why).has_value(), QStringLiteral("no re-form after crash: ") + why);
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 1s), QStringLiteral("quiet period"));
        SIM_VERIFY(c.sim.maxDatagramSeen() <= 1400, QStringLiteral("datagram too large"));
        // Observers see the ring.
        for (auto &node : c.sim.nodes())
            if (node.caps & kObserver)
                SIM_VERIFY(node.node->view().members.size() == c.liveRingNodes().size(),
                           QStringLiteral("observer %1 sees %2 members").arg(node.index).arg(node.node->view().members.size()));
    }
}

// The lab kit starts N sashad one after another, 50-100 ms apart, every node listing every node
// as a seed: they end in one ring (a late, lower or higher node never stays alone).
void TestRingSim::sequentialStartAllSeeds()
{
    const char *scenario = "sequentialStartAllSeeds";
    Stats st;
    for (quint64 seed : seedsFor(10000, 16)) {
        Cluster c(seed, realProcessOptions());
        c.sim.setQuietWindow(2s);
        const int n = seed % 2 ? 20 : 5;
        for (int i = 0; i < n; ++i)
            c.sim.addNode();
        Time t = 0us;
        for (int i = 0; i < n; ++i) {
            c.sim.at(t, [&c, i] { c.sim.start(i); });
            t += c.pickTime(50ms, 100ms);
        }
        c.sim.runUntil(t);
        QString why;
        const auto took = c.settle(3s, &why);
        SIM_VERIFY(took.has_value(), QStringLiteral("%1 nodes started in sequence did not converge: %2").arg(n).arg(why));
        st.add(*took);
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 1s), QStringLiteral("after settling"));
        SIM_VERIFY(c.sim.converged(&why), QStringLiteral("diverged after settling: ") + why);
    }
    qInfo("sequential start, all seeds: last start -> one ring: %s", qPrintable(st.summary()));
}

// bench_tokenbeat's failover loop: kill the dispatcher, wait until the survivors agree, restart
// it, wait for the full ring; several times per run, 5 and 20 nodes, all seeds, loaded host.
namespace {

// One run of the kill/restart scenario (below); returns false after a QFAIL.
bool killRestartRun(quint64 seed, const SimOptions &opt, Stats &agree, Stats &back)
{
    const char *scenario = "dispatcherKillRestartAllSeeds";
    bool ok = false;
    [&] {
        Cluster c(seed, opt);
        c.sim.setQuietWindow(2s);
        const int n = seed % 2 ? 20 : 5;
        for (int i = 0; i < n; ++i)
            c.sim.addNode();
        Time t = 0us;
        for (int i = 0; i < n; ++i) {
            c.sim.at(t, [&c, i] { c.sim.start(i); });
            t += c.pickTime(50ms, 100ms);
        }
        c.sim.runUntil(t);
        QString why;
        SIM_VERIFY(c.settle(3s, &why).has_value(), QStringLiteral("no initial ring: ") + why);
        for (int kill = 0; kill < 4; ++kill) {
            c.sim.runUntil(c.sim.now() + c.pickTime(100ms, 400ms));
            const std::vector<int> disp = c.sim.dispatchers();
            SIM_VERIFY(disp.size() == 1, QStringLiteral("kill %1: %2 dispatchers").arg(kill).arg(disp.size()));
            const int victim = disp.front();
            c.sim.crash(victim);
            const auto a = c.settle(2500ms, &why);
            SIM_VERIFY(a.has_value(), QStringLiteral("kill %1: survivors did not agree: %2").arg(kill).arg(why));
            agree.add(*a);
            c.sim.runUntil(c.sim.now() + c.pickTime(20ms, 200ms));
            c.sim.start(victim);
            const auto b = c.settle(2500ms, &why);
            SIM_VERIFY(b.has_value(), QStringLiteral("kill %1: ring did not recover after the restart: %2").arg(kill).arg(why));
            back.add(*b);
        }
        ok = true;
    }();
    return ok;
}

} // namespace

// The lab kit's failover test on a loaded host: the dispatcher is killed, the survivors must
// agree on a new one within 2.5 s, the victim restarts and rejoins within 2.5 s; four times.
void TestRingSim::dispatcherKillRestartAllSeeds()
{
    Stats agree, back;
    for (quint64 seed : seedsFor(11000, 14))
        if (!killRestartRun(seed, realProcessOptions(), agree, back))
            return;
    qInfo("kill dispatcher -> survivors agree: %s", qPrintable(agree.summary()));
    qInfo("restart victim -> full ring: %s", qPrintable(back.summary()));
}

// Seeds that once failed, at the load they failed under (docs/tokenbeat.md "Rings that share
// an epoch"). Both formed two rings with one epoch after a purge; a late Join of the lower
// former made the other ring name it master, and the two rings, both named (epoch, master),
// showed two dispatchers in one settled ring.
void TestRingSim::dispatcherKillRestartRegressions_data()
{
    QTest::addColumn<quint64>("seed");
    QTest::addColumn<int>("costUs");
    QTest::newRow("seed 11101: lower former admitted late, cost 150") << quint64(11101) << 150;
    QTest::newRow("seed 11117: lower former admitted late, cost 150") << quint64(11117) << 150;
}

void TestRingSim::dispatcherKillRestartRegressions()
{
    QFETCH(quint64, seed);
    QFETCH(int, costUs);
    Stats agree, back;
    QVERIFY(killRestartRun(seed, realProcessOptions(Time(costUs)), agree, back));
    QCOMPARE(agree.ms.size(), std::size_t(4));
    QCOMPARE(back.ms.size(), std::size_t(4));
}

// After the master crashes, one node misses the re-formation (cut off for a while) and forms a
// ring of its own; once it hears the others again the two rings merge within ~2 beacon
// intervals, seeds only (no broadcast).
void TestRingSim::loneNodeAfterPurge()
{
    const char *scenario = "loneNodeAfterPurge";
    const Timers tm = defaultTimers();
    Stats st;
    for (quint64 seed : seedsFor(12000, 20)) {
        SimOptions opt;
        opt.broadcast = false;
        opt.allSeeds = true;
        Cluster c(seed, opt);
        c.sim.setQuietWindow(tm.beaconInterval * 2 + 500ms);
        const int n = c.pick(3, 8);
        c.startNodes(n, 30ms);
        c.sim.runUntil(30ms);
        QString why;
        SIM_VERIFY(c.settle(1500ms, &why).has_value(), QStringLiteral("no initial ring: ") + why);
        const int master = 0;
        const int lone = c.pick(1, n - 1);
        c.sim.crash(master);
        c.sim.runUntil(c.sim.now() + c.pickTime(0ms, 150ms));
        std::vector<int> groups(n, 0);
        groups[lone] = 1;
        c.sim.partition(groups);
        c.sim.runUntil(c.sim.now() + c.pickTime(200ms, 400ms));
        c.sim.heal();
        const auto t = c.settle(tm.beaconInterval * 2 + 300ms, &why);
        SIM_VERIFY(t.has_value(), QStringLiteral("lone node %1 not merged: %2").arg(lone).arg(why));
        st.add(*t);
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 1s), QStringLiteral("quiet period"));
        SIM_VERIFY(c.sim.converged(&why), QStringLiteral("diverged after merging: ") + why);
    }
    qInfo("lone node after purge -> one ring: %s", qPrintable(st.summary()));
}

// A healthy ring whose round trip stays between half the token timeout and the timeout less a
// rotation interval (every hop slow, nothing lost): the master regenerates each rotation at tokenTimeout/2, and the late
// original must count as the ring being alive (it did purge, every ~140 ms, before). A status
// set meanwhile reaches every member although the token that first carried it came back late.
void TestRingSim::slowRingNeverPurges()
{
    const char *scenario = "slowRingNeverPurges";
    const Timers tm = defaultTimers();
    for (quint64 seed : seedsFor(13000, 20)) {
        Cluster c(seed);
        c.sim.setQuietWindow(300ms);
        const int n = c.pick(3, 6);
        c.startNodes(n, 20ms);
        c.sim.runUntil(20ms);
        QString why;
        SIM_VERIFY(c.settle(1s, &why).has_value(), QStringLiteral("no initial ring: ") + why);
        // A round trip of n hops between tokenTimeout/2 (the regeneration) and tokenTimeout -
        // rotationInterval (the gap between two returns when the ring turns slow: the rotation
        // after the last fast return starts rotationInterval later): 77-95 ms by default.
        const qint64 lo = tm.tokenTimeout.count() * 55 / 100, hi = (tm.tokenTimeout - tm.rotationInterval).count() * 95 / 100;
        c.sim.setDelay(Time(lo / n), Time(hi / n));
        const Time slowFrom = c.sim.now();
        SIM_VERIFY(c.sim.runUntil(slowFrom + 1s), QStringLiteral("slow ring"));
        const int reporter = n - 1;
        c.sim.nodes()[reporter].node->setLocalStatus(NodeStatus{Role::None, Health::Draining, 4242, 7});
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 2s), QStringLiteral("slow ring"));
        SIM_VERIFY(c.sim.purgesSince(slowFrom) == 0,
                   QStringLiteral("%1 purge(s) in a slow ring of %2").arg(c.sim.purgesSince(slowFrom)).arg(n));
        SIM_VERIFY(c.sim.converged(&why), QStringLiteral("slow ring diverged: ") + why);
        const quint64 late = c.sim.nodes()[0].node->counters().lateTokens;
        SIM_VERIFY(late > 0, QStringLiteral("the master counted no late token"));
        for (int i = 0; i < n; ++i) {
            const Member *m = c.sim.nodes()[i].node->view().find(c.sim.nodes()[reporter].addr);
            SIM_VERIFY(m && m->status.activeConnections == 4242,
                       QStringLiteral("node %1 did not see node %2's status").arg(i).arg(reporter));
        }
    }
}

// The whole machine stalls (every node at once, as when the hypervisor does not run the VM's
// virtual CPUs: lab_bigtables saw 75-126 ms) for 65-93 % of the token timeout. Every node's
// timer then fires late, before it reads the token waiting in its socket, and its token
// deadline has passed: without more, every node purged. Each postpones its token timeout once by
// its own stall (counters.selfStalls), the token comes, and no purge happens. A node that
// crashes afterwards is still purged within tokenTimeout + 40 ms.
void TestRingSim::machineStallNeverPurges()
{
    const char *scenario = "machineStallNeverPurges";
    const Timers tm = defaultTimers();
    quint64 postponed = 0; // token timeouts postponed, over all seeds
    for (quint64 seed : seedsFor(14000, 20)) {
        Cluster c(seed);
        c.sim.setQuietWindow(300ms);
        const int n = c.pick(3, 6);
        c.startNodes(n, 20ms);
        c.sim.runUntil(20ms);
        QString why;
        SIM_VERIFY(c.settle(1s, &why).has_value(), QStringLiteral("no initial ring: ") + why);
        const Time from = c.sim.now();
        for (int stall = 0; stall < 6; ++stall) {
            SIM_VERIFY(c.sim.runUntil(c.sim.now() + c.pickTime(300ms, 600ms)), QStringLiteral("between stalls"));
            const Time until = c.sim.now() + c.pickTime(tm.tokenTimeout * 65 / 100, tm.tokenTimeout * 93 / 100);
            for (auto &node : c.sim.nodes())
                node.busyUntil = std::max(node.busyUntil, until);
        }
        SIM_VERIFY(c.sim.runUntil(c.sim.now() + 500ms), QStringLiteral("after the stalls"));
        SIM_VERIFY(c.sim.purgesSince(from) == 0,
                   QStringLiteral("%1 purge(s) after machine stalls in a ring of %2").arg(c.sim.purgesSince(from)).arg(n));
        SIM_VERIFY(c.sim.converged(&why), QStringLiteral("diverged after the stalls: ") + why);
        for (const auto &node : c.sim.nodes())
            postponed += node.node->counters().selfStalls;
        // Detection is not slowed when nothing stalled.
        const Time crashAt = c.sim.now();
        c.sim.crash(c.pick(1, n - 1));
        SIM_VERIFY(c.settle(2s, &why).has_value(), QStringLiteral("no re-form after a crash: ") + why);
        Time firstPurge = Time::max();
        for (const EventRecord &r : c.sim.events())
            if (r.event.kind == Event::Kind::PurgeStarted && r.event.at >= crashAt)
                firstPurge = std::min(firstPurge, r.event.at);
        SIM_VERIFY(firstPurge <= crashAt + tm.tokenTimeout + 40ms,
                   QStringLiteral("crash detected %1 after it").arg(firstPurge == Time::max() ? QStringLiteral("never") : fmtMs(firstPurge - crashAt)));
    }
    // Not every stall reaches a node's deadline (a token may have come just before it), but
    // many do: without the postponement those purged.
    QVERIFY2(postponed >= 5, qPrintable(QStringLiteral("only %1 token timeout(s) postponed: the stalls reached no deadline").arg(postponed)));
    qInfo("machine stalls: %llu token timeout(s) postponed, no purge", static_cast<unsigned long long>(postponed));
}

QTEST_GUILESS_MAIN(TestRingSim)
#include "tst_ringsim.moc"
