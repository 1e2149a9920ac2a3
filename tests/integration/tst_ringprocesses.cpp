// Integration: real sashad processes on loopback addresses form a TokenBeat ring; faults are
// real signals (SIGKILL = crash, SIGSTOP = hang, SIGTERM = graceful leave). Membership and roles
// are read the way an operator reads them: `sashactl --json status`.

#include "junkflooder.h"
#include "loopbackcluster.h"

#include <QJsonArray>
#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QScopeGuard>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <memory>

using namespace sasha::lab;

class tst_RingProcesses : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<LoopbackCluster> m_cluster;

    LoopbackCluster &startCluster(int n, const QStringList &extra = {}, std::map<int, QStringList> environment = {})
    {
        LoopbackCluster::Options o;
        o.environment = std::move(environment);
        o.nodes = n;
        o.sashad = QStringLiteral(SASHAD_PATH);
        o.sashactl = QStringLiteral(SASHACTL_PATH);
        o.keepLogs = true;
        o.extraToml = extra;
        m_cluster = std::make_unique<LoopbackCluster>(o);
        QString err;
        if (!m_cluster->start(&err))
            qFatal("cannot start the cluster: %s", qPrintable(err));
        return *m_cluster;
    }

    // sashactl --json status of node i, parsed.
    QJsonObject ctlStatus(int i)
    {
        QByteArray out;
        const int code = m_cluster->sashactl(i, {QStringLiteral("--json"), QStringLiteral("status")}, &out);
        if (code != 0)
            return {};
        return QJsonDocument::fromJson(out).object();
    }

    static std::vector<int> range(int n)
    {
        std::vector<int> v;
        for (int i = 0; i < n; ++i)
            v.push_back(i);
        return v;
    }

    // Exactly one member of the view node i reports holds the dispatcher role, and it is `who`.
    bool onlyDispatcherIs(int i, const QString &who, QString *why)
    {
        const QJsonObject s = ctlStatus(i);
        int count = 0;
        QString found;
        for (const auto &m : s.value(QStringLiteral("members")).toArray()) {
            const QString role = m.toObject().value(QStringLiteral("role")).toString();
            if (role == QLatin1String("dispatcher") || role == QLatin1String("standalone")) {
                ++count;
                found = m.toObject().value(QStringLiteral("addr")).toString();
            }
        }
        if (count == 1 && found == who && s.value(QStringLiteral("dispatcher")).toString() == who)
            return true;
        *why = QStringLiteral("node%1 sees %2 dispatcher(s), last %3, view says %4, expected %5")
                   .arg(i + 1).arg(count).arg(found, s.value(QStringLiteral("dispatcher")).toString(), who);
        return false;
    }

    // sashactl against node i with stdout and stderr apart (fault answers go to either).
    int runCtl(int i, const QStringList &args, QByteArray *out, QByteArray *err, int timeoutMs = 5000)
    {
        return m_cluster->sashactl(i, args, out, timeoutMs, err);
    }

    // What node i reports about member `addr` (its "members" row), empty when absent.
    QJsonObject memberSeenBy(int i, const QString &addr)
    {
        for (const auto &m : ctlStatus(i).value(QStringLiteral("members")).toArray())
            if (m.toObject().value(QStringLiteral("addr")).toString() == addr)
                return m.toObject();
        return {};
    }

    // Whether node i's process is stopped (SIGSTOP), from /proc.
    bool isStopped(int i)
    {
        QFile f(QStringLiteral("/proc/%1/stat").arg(m_cluster->pid(i)));
        if (!f.open(QIODevice::ReadOnly))
            return false;
        const QByteArray stat = f.readAll();
        const qsizetype close = stat.lastIndexOf(')');
        return close > 0 && close + 2 < stat.size() && stat.at(close + 2) == 'T';
    }

    void dumpLogsOnFailure()
    {
        if (QTest::currentTestFailed() && m_cluster)
            m_cluster->printLogTails();
    }

private Q_SLOTS:
    void cleanup()
    {
        dumpLogsOnFailure();
        m_cluster.reset();
    }

    void fiveNodesFormOneRingWithLowestAsDispatcher()
    {
        auto &c = startCluster(5);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(5), &why); }, 10000), qPrintable(why));
        for (int i = 0; i < 5; ++i) {
            const QJsonObject s = ctlStatus(i);
            QCOMPARE(s.value(QStringLiteral("node")).toString(), c.address(i));
            QCOMPARE(s.value(QStringLiteral("master")).toString(), c.address(0));
            QCOMPARE(s.value(QStringLiteral("members")).toArray().size(), 5);
            QVERIFY2(onlyDispatcherIs(i, c.address(0), &why), qPrintable(why));
            QCOMPARE(s.value(QStringLiteral("role")).toString(),
                     i == 0 ? QStringLiteral("dispatcher") : QStringLiteral("server"));
        }
        // The human table lists every node.
        QByteArray table;
        QCOMPARE(c.sashactl(2, {QStringLiteral("members")}, &table), 0);
        for (int i = 0; i < 5; ++i)
            QVERIFY2(table.contains(c.address(i).toUtf8()), table.constData());
    }

    void killedDispatcherIsReplacedByLowestSurvivor()
    {
        auto &c = startCluster(5);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(5), &why); }, 10000), qPrintable(why));
        c.signal(0, SIGKILL);
        QVERIFY(c.waitExit(0, 3000) != 0);
        const std::vector<int> survivors{1, 2, 3, 4};
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(survivors, &why); }, 5000), qPrintable(why));
        for (int i : survivors)
            QVERIFY2(onlyDispatcherIs(i, c.address(1), &why), qPrintable(why));
        QVERIFY(ctlStatus(1).value(QStringLiteral("counters")).toObject().value(QStringLiteral("purges")).toInteger() >= 1);

        // The old dispatcher restarts: it rejoins as a server and does not take the role back.
        QString err;
        QVERIFY2(c.startNode(0, &err), qPrintable(err));
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(5), &why); }, 5000), qPrintable(why));
        QTest::qWait(300); // several rotations: a late takeover would show here
        for (int i = 0; i < 5; ++i)
            QVERIFY2(onlyDispatcherIs(i, c.address(1), &why), qPrintable(why));
        QCOMPARE(ctlStatus(0).value(QStringLiteral("role")).toString(), QStringLiteral("server"));
    }

    void hungNodeIsDroppedAndRejoinsAfterResume()
    {
        auto &c = startCluster(5);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(5), &why); }, 10000), qPrintable(why));
        c.signal(2, SIGSTOP);
        const std::vector<int> others{0, 1, 3, 4};
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(others, &why); }, 5000), qPrintable(why));
        for (int i : others)
            QVERIFY2(onlyDispatcherIs(i, c.address(0), &why), qPrintable(why));
        c.signal(2, SIGCONT);
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(5), &why); }, 5000), qPrintable(why));
        for (int i = 0; i < 5; ++i)
            QVERIFY2(onlyDispatcherIs(i, c.address(0), &why), qPrintable(why));
    }

    void gracefulLeaveCausesNoPurge()
    {
        auto &c = startCluster(5);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(5), &why); }, 10000), qPrintable(why));
        QTest::qWait(200);
        auto purges = [&](int i) {
            return ctlStatus(i).value(QStringLiteral("counters")).toObject().value(QStringLiteral("purges")).toInteger();
        };
        const qint64 before = purges(0) + purges(1);
        c.signal(3, SIGTERM);
        QCOMPARE(c.waitExit(3, 3000), 0);
        const std::vector<int> others{0, 1, 2, 4};
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(others, &why); }, 3000), qPrintable(why));
        QTest::qWait(300);
        QCOMPARE(purges(0) + purges(1), before);
        QVERIFY2(onlyDispatcherIs(0, c.address(0), &why), qPrintable(why));
    }

    // Issue 11 "Tokens are never lost to junk": unauthenticated datagrams at every ring port, as
    // fast as one thread sends them (~100k/s here), first random bytes, then well-formed headers
    // naming a member as sender, so only the HMAC rejects them. The receive threads drop every one
    // under its reason and source; the token never waits behind them: no purge, no re-formation.
    void junkFloodCostsNoPurge_data()
    {
        QTest::addColumn<int>("kind");
        QTest::addColumn<QString>("reason");
        QTest::newRow("random bytes") << int(JunkFlooder::Kind::Random) << QStringLiteral("bad-magic");
        QTest::newRow("forged headers (only the MAC is wrong)") << int(JunkFlooder::Kind::Forged) << QStringLiteral("bad-mac");
    }
    void junkFloodCostsNoPurge()
    {
        QFETCH(int, kind);
        QFETCH(QString, reason);
        constexpr int kNodes = 5, kSeconds = 6;
        auto &c = startCluster(kNodes);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(kNodes), &why); }, 10000), qPrintable(why));
        QTest::qWait(300);
        auto sum = [&](const char *field) {
            qint64 n = 0;
            for (int i = 0; i < kNodes; ++i)
                n += ctlStatus(i).value(QStringLiteral("counters")).toObject().value(QLatin1String(field)).toInteger();
            return n;
        };
        // Every datagram sent is rejected (most under `reason`; random ones shorter than an
        // envelope as truncated) or dropped by the kernel from a full queue (SO_RXQ_OVFL).
        auto rejected = [&](bool onlyReason) {
            qint64 n = 0;
            for (int i = 0; i < kNodes; ++i) {
                const QJsonObject t = ctlStatus(i).value(QStringLiteral("transport")).toObject();
                n += onlyReason ? t.value(QStringLiteral("rejected")).toObject().value(reason).toInteger()
                                : t.value(QStringLiteral("rejectedTotal")).toInteger()
                                      + t.value(QStringLiteral("kernelQueueDrops")).toInteger();
            }
            return n;
        };
        const qint64 purges0 = sum("purges"), formed0 = sum("ringsFormed"), rejected0 = rejected(false), reason0 = rejected(true);
        JunkFlooder::Options fo;
        for (int i = 0; i < kNodes; ++i)
            fo.targets.push_back({QHostAddress(c.address(i)).toIPv4Address(), c.port()});
        fo.kind = JunkFlooder::Kind(kind);
        fo.forgedSender = QHostAddress(c.address(0)).toIPv4Address();
        JunkFlooder flooder(fo);
        QString err;
        QVERIFY2(flooder.start(&err), qPrintable(err));
        QTest::qWait(kSeconds * 1000);
        flooder.stop();
        const quint64 sent = flooder.sent();
        qInfo("junk sent: %llu datagrams in %d s (%.0f/s)", static_cast<unsigned long long>(sent), kSeconds,
              double(sent) / kSeconds);
        QVERIFY2(sent >= 20000ull * kSeconds, "the flooder sent too little to mean anything");
        QVERIFY2(LoopbackCluster::waitUntil([&] { return quint64(rejected(false) - rejected0) >= sent; }, 3000),
                 qPrintable(QStringLiteral("%1 rejected or dropped of %2 sent").arg(rejected(false) - rejected0).arg(sent)));
        QVERIFY2(double(rejected(true) - reason0) >= 0.9 * double(sent),
                 qPrintable(QStringLiteral("%1 of %2 sent rejected as %3").arg(rejected(true) - reason0).arg(sent).arg(reason)));
        QCOMPARE(sum("purges") - purges0, 0);
        QCOMPARE(sum("ringsFormed") - formed0, 0);
        QVERIFY2(c.ringIs(range(kNodes), &why), qPrintable(why));
        const QJsonObject t = ctlStatus(1).value(QStringLiteral("transport")).toObject();
        QCOMPARE(t.value(QStringLiteral("topRejectedSources")).toArray().first().toObject().value(QStringLiteral("source")).toString(),
                 QStringLiteral("127.0.0.1"));
    }

    void nodeWithWrongKeyIsRejectedAndCounted()
    {
        auto &c = startCluster(3);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(3), &why); }, 10000), qPrintable(why));
        // node3 gets a different key and restarts: the others must drop its datagrams as bad-mac.
        c.signal(2, SIGKILL);
        c.waitExit(2, 3000);
        QFile cfg(c.configPath(2));
        QVERIFY(cfg.open(QIODevice::ReadOnly));
        QByteArray text = cfg.readAll();
        cfg.close();
        const QString otherKey = c.workDir() + QStringLiteral("/other.key");
        QFile k(otherKey);
        QVERIFY(k.open(QIODevice::WriteOnly));
        k.write(QByteArray(64, 'a') + '\n');
        k.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
        k.close();
        text.replace(c.workDir().toUtf8() + "/cluster.key", otherKey.toUtf8());
        QVERIFY(cfg.open(QIODevice::WriteOnly | QIODevice::Truncate));
        cfg.write(text);
        cfg.close();
        QString err;
        QVERIFY2(c.startNode(2, &err), qPrintable(err));
        const std::vector<int> good{0, 1};
        QVERIFY2(LoopbackCluster::waitUntil([&] {
                     const auto d = ctlStatus(0).value(QStringLiteral("counters")).toObject()
                                        .value(QStringLiteral("dropped")).toObject();
                     return d.value(QStringLiteral("bad-mac")).toInteger() > 0 && c.ringIs(good, &why);
                 }, 5000), qPrintable(why));
        QTest::qWait(300);
        QVERIFY2(c.ringIs(good, &why), qPrintable(why));
        QVERIFY(ctlStatus(2).value(QStringLiteral("members")).toArray().size() <= 1);
    }

    // `sashactl fault` (docs/console.md "How sashad executes fault commands"): the command goes
    // from node1's daemon to the target as an authenticated OOB message and the target's answer
    // comes back. drain moves the dispatcher role away, restore gives the capability back, hang
    // drops the node out of the ring and back in, a refused --if-dispatcher and an unknown target
    // are clear errors, and crash makes the node exit and leave the ring.
    void faultCommandsFromSashactlAreExecuted()
    {
        auto &c = startCluster(3, {QStringLiteral("[faults]"), QStringLiteral("enabled = true")});
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(3), &why); }, 10000), qPrintable(why));
        QByteArray out, err;

        // drain the dispatcher (node1) from node3: node2 takes over, node1 reports draining.
        QCOMPARE(runCtl(2, {QStringLiteral("fault"), c.address(0), QStringLiteral("drain")}, &out, &err), 0);
        QVERIFY2(out.contains("drain accepted"), out.constData());
        QVERIFY2(LoopbackCluster::waitUntil([&] {
                     return onlyDispatcherIs(2, c.address(1), &why)
                         && memberSeenBy(2, c.address(0)).value(QStringLiteral("health")).toString() == QLatin1String("draining");
                 }, 5000), qPrintable(why));
        QCOMPARE(memberSeenBy(1, c.address(0)).value(QStringLiteral("caps")).toString(), QStringLiteral("serve"));
        QCOMPARE(runCtl(2, {QStringLiteral("--json"), QStringLiteral("fault"), c.address(0), QStringLiteral("restore")}, &out, &err), 0);
        const QJsonObject restored = QJsonDocument::fromJson(out).object();
        QCOMPARE(restored.value(QStringLiteral("result")).toString(), QStringLiteral("accepted"));
        QCOMPARE(restored.value(QStringLiteral("node")).toString(), c.address(0));
        QVERIFY2(LoopbackCluster::waitUntil([&] {
                     const QJsonObject m = memberSeenBy(2, c.address(0));
                     return m.value(QStringLiteral("caps")).toString() == QLatin1String("dispatch,serve")
                         && m.value(QStringLiteral("health")).toString() != QLatin1String("draining");
                 }, 5000), qPrintable(QJsonDocument(memberSeenBy(2, c.address(0))).toJson()));

        // hang node3 for 1 s: it is stopped, the others drop it, it comes back on its own.
        QCOMPARE(runCtl(0, {QStringLiteral("fault"), c.address(2), QStringLiteral("hang"), QStringLiteral("--duration"), QStringLiteral("1")},
                        &out, &err), 0);
        QVERIFY2(out.contains("hang accepted"), out.constData());
        QVERIFY(LoopbackCluster::waitUntil([&] { return isStopped(2); }, 1000));
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs({0, 1}, &why); }, 3000), qPrintable(why));
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(3), &why); }, 10000), qPrintable(why));
        QVERIFY(c.isRunning(2));

        // Refusals are clear: not the dispatcher, not a member.
        QCOMPARE(runCtl(0, {QStringLiteral("fault"), c.address(2), QStringLiteral("crash"), QStringLiteral("--if-dispatcher")},
                        &out, &err), 1);
        QVERIFY2(err.contains("wrong-target") && err.contains("not the dispatcher (the dispatcher is " + c.address(1).toUtf8()),
                 err.constData());
        const QString stranger = c.address(0).section(QLatin1Char('.'), 0, 2) + QStringLiteral(".99");
        QCOMPARE(runCtl(0, {QStringLiteral("fault"), stranger, QStringLiteral("crash")}, &out, &err), 1);
        QVERIFY2(err.contains("is not a member of the ring"), err.constData());
        QVERIFY(c.isRunning(2));

        // crash node3: it exits on SIGKILL and the ring goes on without it.
        QCOMPARE(runCtl(0, {QStringLiteral("fault"), c.address(2), QStringLiteral("crash")}, &out, &err), 0);
        QVERIFY2(out.contains("crash accepted"), out.constData());
        QVERIFY(c.waitExit(2, 3000) != 0);
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs({0, 1}, &why); }, 3000), qPrintable(why));
        bool logged = false;
        for (const auto &e : c.events(0))
            logged |= e.toObject().value(QStringLiteral("kind")).toString() == QLatin1String("fault-injected");
        QVERIFY2(logged, "node1 (target of drain and restore) logs fault-injected events");
    }

    // Without [faults] enabled (the default) the node answers, executes nothing, and says how
    // to turn it on.
    void faultCommandRefusedWhenDisabled()
    {
        auto &c = startCluster(2);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(2), &why); }, 10000), qPrintable(why));
        QByteArray out, err;
        QCOMPARE(runCtl(0, {QStringLiteral("fault"), c.address(1), QStringLiteral("crash")}, &out, &err), 1);
        QVERIFY2(err.contains("disabled") && err.contains("[faults] enabled = true"), err.constData());
        QCOMPARE(runCtl(0, {QStringLiteral("--json"), QStringLiteral("fault"), c.address(1), QStringLiteral("hang"),
                            QStringLiteral("--duration"), QStringLiteral("0.5")}, &out, &err), 1);
        QCOMPARE(QJsonDocument::fromJson(out).object().value(QStringLiteral("result")).toString(), QStringLiteral("disabled"));
        QTest::qWait(300);
        QVERIFY(c.isRunning(1));
        QVERIFY(!isStopped(1));
        QVERIFY2(c.ringIs(range(2), &why), qPrintable(why));
    }

    // `sashactl watch --key` joins as an observer: it sees the ring, and when it goes away the
    // ring drops it without a purge (observers are never on the token's path).
    void observerWatchSeesTheRingAndLeavesNoPurge()
    {
        auto &c = startCluster(3);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(3), &why); }, 10000), qPrintable(why));
        auto purges = [&] {
            qint64 n = 0;
            for (int i = 0; i < 3; ++i)
                n += ctlStatus(i).value(QStringLiteral("counters")).toObject().value(QStringLiteral("purges")).toInteger();
            return n;
        };
        const qint64 before = purges();
        QProcess watch;
        watch.start(QStringLiteral(SASHACTL_PATH),
                    {QStringLiteral("watch"), QStringLiteral("--json"), QStringLiteral("--key"), c.keyPath(),
                     QStringLiteral("--seed"), QStringLiteral("%1:%2").arg(c.address(1)).arg(c.port()),
                     QStringLiteral("--for"), QStringLiteral("3")});
        QVERIFY(watch.waitForStarted(5000));
        // While it watches, the ring lists it among the observers.
        auto listed = [&] {
            for (int i = 0; i < 3; ++i)
                if (!ctlStatus(i).value(QStringLiteral("observers")).toArray().isEmpty())
                    return true;
            return false;
        };
        QVERIFY2(LoopbackCluster::waitUntil(listed, 2500), "no node lists the observer");
        QVERIFY(watch.waitForFinished(10000));
        QCOMPARE(watch.exitCode(), 0);
        int statusLines = 0;
        bool sawWholeRing = false;
        for (const QByteArray &line : watch.readAllStandardOutput().split('\n')) {
            const QJsonObject s = QJsonDocument::fromJson(line).object().value(QStringLiteral("status")).toObject();
            if (s.isEmpty())
                continue;
            ++statusLines;
            if (s.value(QStringLiteral("members")).toArray().size() == 3
                && s.value(QStringLiteral("dispatcher")).toString() == c.address(0))
                sawWholeRing = true;
        }
        QVERIFY2(sawWholeRing, qPrintable(QStringLiteral("%1 status lines, none with 3 members and dispatcher %2")
                                              .arg(statusLines).arg(c.address(0))));
        // The master listed the observer while it was there, and drops it after the observer
        // timeout (1.5 s) without disturbing the ring.
        QVERIFY2(LoopbackCluster::waitUntil([&] { return !listed(); }, 5000), "the observer was not dropped");
        QVERIFY2(c.ringIs(range(3), &why), qPrintable(why));
        QCOMPARE(purges(), before);
    }

    // Type=notify and WatchdogSec= (docs/packaging.md): node3 is started with the NOTIFY_SOCKET
    // and WATCHDOG_USEC systemd would give it; a socket of the test's plays systemd.
    void systemdIsToldReadinessRoleWatchdogAndStop()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QByteArray path = QFile::encodeName(dir.filePath(QStringLiteral("notify")));
        const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        QVERIFY(fd >= 0);
        const auto closeFd = qScopeGuard([fd] { ::close(fd); });
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        QVERIFY(std::size_t(path.size()) < sizeof sa.sun_path);
        std::memcpy(sa.sun_path, path.constData(), std::size_t(path.size()));
        QVERIFY(::bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) == 0);
        QByteArrayList got;
        const auto drain = [&] {
            char buf[4096];
            for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
                got.append(QByteArray(buf, int(n)));
        };
        const auto count = [&](const QByteArray &prefix) {
            return std::count_if(got.begin(), got.end(), [&](const QByteArray &m) { return m.startsWith(prefix); });
        };

        // Fed every 200 ms: half of 400 ms.
        auto &c = startCluster(3, {}, {{2, {QStringLiteral("NOTIFY_SOCKET=") + QString::fromLocal8Bit(path),
                                            QStringLiteral("WATCHDOG_USEC=400000")}}});
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(3), &why); }, 10000), qPrintable(why));
        QVERIFY(LoopbackCluster::waitUntil([&] { drain(); return count("READY=1") == 1; }, 3000));
        const QByteArray ready = *std::find_if(got.begin(), got.end(), [](const QByteArray &m) { return m.startsWith("READY=1"); });
        QVERIFY2(ready.contains("STATUS=") && ready.contains(" in a ring of "), ready.constData());

        got.clear();
        QTest::qWait(1000);
        drain();
        QVERIFY2(count("WATCHDOG=1") >= 3, got.join('|').constData());

        // A stopped daemon feeds nothing; it resumes when continued.
        c.signal(2, SIGSTOP);
        QVERIFY(LoopbackCluster::waitUntil([&] { return isStopped(2); }, 2000));
        drain();
        got.clear();
        QTest::qWait(600);
        drain();
        QCOMPARE(count("WATCHDOG=1"), 0);
        c.signal(2, SIGCONT);
        QVERIFY(LoopbackCluster::waitUntil([&] { drain(); return count("WATCHDOG=1") >= 1; }, 2000));

        // The dispatcher dies: node3's STATUS names the new one.
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(3), &why); }, 5000), qPrintable(why));
        got.clear();
        c.signal(0, SIGKILL);
        const QByteArray successor = "dispatcher " + c.address(1).toLatin1();
        QVERIFY2(LoopbackCluster::waitUntil([&] {
                     drain();
                     return std::any_of(got.begin(), got.end(), [&](const QByteArray &m) {
                         return m.startsWith("STATUS=") && m.endsWith(successor);
                     });
                 }, 5000),
                 qPrintable(got.join('|')));

        got.clear();
        c.signal(2, SIGTERM);
        QCOMPARE(c.waitExit(2, 3000), 0);
        drain();
        QCOMPARE(count("STOPPING=1"), 1);
    }
};

QTEST_GUILESS_MAIN(tst_RingProcesses)
#include "tst_ringprocesses.moc"
