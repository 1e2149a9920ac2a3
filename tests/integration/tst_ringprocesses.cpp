// Integration: real sashad processes on loopback addresses form a TokenBeat ring; faults are
// real signals (SIGKILL = crash, SIGSTOP = hang, SIGTERM = graceful leave). Membership and roles
// are read the way an operator reads them: `sashactl --json status`.

#include "loopbackcluster.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

#include <csignal>
#include <memory>

using namespace sasha::lab;

class tst_RingProcesses : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<LoopbackCluster> m_cluster;

    LoopbackCluster &startCluster(int n, const QStringList &extra = {})
    {
        LoopbackCluster::Options o;
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

    void dumpLogsOnFailure()
    {
        if (!QTest::currentTestFailed() || !m_cluster)
            return;
        for (int i = 0; i < m_cluster->size(); ++i) {
            QFile f(m_cluster->logPath(i));
            if (f.open(QIODevice::ReadOnly))
                qWarning().noquote() << "---- node" << i + 1 << "log (tail)\n" << f.readAll().right(4000);
        }
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
};

QTEST_GUILESS_MAIN(tst_RingProcesses)
#include "tst_ringprocesses.moc"
