// Integration: config reload (SIGHUP, `sashactl reload`) and [notify] hooks on real sashad
// processes on loopback addresses (LoopbackCluster). A reload applies a weight change and
// refuses an address or key change, leaving the running config; hooks receive the role-changed
// and member-lost events with their arguments and environment, and a hook that never ends is
// killed at [notify] timeout_ms while the ring goes on without a purge.

#include "loopbackcluster.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>

#include <csignal>
#include <memory>

using namespace sasha::lab;

class tst_ReloadHooks : public QObject {
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

    static std::vector<int> range(int n)
    {
        std::vector<int> v;
        for (int i = 0; i < n; ++i)
            v.push_back(i);
        return v;
    }

    // sashactl against node i with stdout and stderr apart.
    int runCtl(int i, const QStringList &args, QByteArray *out, QByteArray *err, int timeoutMs = 5000)
    {
        return m_cluster->sashactl(i, args, out, timeoutMs, err);
    }

    // Replaces `from` by `to` in node i's config file (from must be there).
    bool editConfig(int i, const QString &from, const QString &to)
    {
        QFile f(m_cluster->configPath(i));
        if (!f.open(QIODevice::ReadOnly))
            return false;
        QString text = QString::fromUtf8(f.readAll());
        f.close();
        if (!text.contains(from))
            return false;
        text.replace(from, to);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
            return false;
        f.write(text.toUtf8());
        return true;
    }

    QJsonObject reloadStatus(int i) { return m_cluster->status(i).value(QStringLiteral("reload")).toObject(); }
    qint64 purges(int i)
    {
        return m_cluster->status(i).value(QStringLiteral("counters")).toObject().value(QStringLiteral("purges")).toInteger(-1);
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

    void reloadAppliesWeightsAndRefusesWhatNeedsARestart()
    {
        // Every node's file gets the same [dispatcher] weights; node 3's weight is what changes.
        auto &c = startCluster(3, {QStringLiteral("[dispatcher]\nweights = { \"127.0.0.250\" = 1 }")});
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(3), &why); }, 10000), qPrintable(why));
        const QString server = c.address(2);
        const QString weightsBefore = QStringLiteral("weights = { \"127.0.0.250\" = 1 }");
        const QString weights3 = QStringLiteral("weights = { \"127.0.0.250\" = 1, \"%1\" = 3 }").arg(server);

        // SIGHUP on node 1.
        QVERIFY(editConfig(0, weightsBefore, weights3));
        c.signal(0, SIGHUP);
        QVERIFY2(LoopbackCluster::waitUntil([&] { return reloadStatus(0).value(QStringLiteral("ok")).toInteger() == 1; }, 3000),
                 qPrintable(QJsonDocument(reloadStatus(0)).toJson()));
        QCOMPARE(reloadStatus(0).value(QStringLiteral("lastMessage")).toString(),
                 QStringLiteral("weight of %1: 1 -> 3").arg(server));
        QCOMPARE(c.status(0).value(QStringLiteral("state")).toString(), QStringLiteral("member"));

        // sashactl reload on node 2: what changed, then "no change".
        QByteArray out, err;
        QVERIFY(editConfig(1, weightsBefore, weights3));
        QCOMPARE(runCtl(1, {QStringLiteral("reload")}, &out, &err), 0);
        QCOMPARE(out.trimmed(), QStringLiteral("weight of %1: 1 -> 3").arg(server).toUtf8());
        QCOMPARE(runCtl(1, {QStringLiteral("reload")}, &out, &err), 0);
        QCOMPARE(out.trimmed(), QByteArray("no change"));

        // An address change (with a weight change): refused whole, naming the key and both values.
        const qint64 purgesBefore = purges(0);
        QVERIFY(editConfig(1, QStringLiteral("address = \"%1\"").arg(c.address(1)), QStringLiteral("address = \"127.0.0.251\"")));
        QVERIFY(editConfig(1, weights3, QStringLiteral("weights = { \"127.0.0.250\" = 1, \"%1\" = 5 }").arg(server)));
        QCOMPARE(runCtl(1, {QStringLiteral("reload")}, &out, &err), 1);
        QVERIFY2(err.contains(QStringLiteral("[node] address cannot change without a restart: \"%1\" -> \"127.0.0.251\"")
                                  .arg(c.address(1)).toUtf8()), err.constData());
        QVERIFY2(err.contains(c.configPath(1).toUtf8()), err.constData());
        QCOMPARE(reloadStatus(1).value(QStringLiteral("refused")).toInteger(), 1);
        QCOMPARE(reloadStatus(1).value(QStringLiteral("last")).toString(), QStringLiteral("refused"));
        // Nothing of it applied: with the address back, the weight change is still pending (3 -> 5).
        QVERIFY(editConfig(1, QStringLiteral("address = \"127.0.0.251\""), QStringLiteral("address = \"%1\"").arg(c.address(1))));
        QCOMPARE(runCtl(1, {QStringLiteral("reload")}, &out, &err), 0);
        QCOMPARE(out.trimmed(), QStringLiteral("weight of %1: 3 -> 5").arg(server).toUtf8());

        // Another key file: refused, naming [cluster] key_file.
        QFile::copy(c.keyPath(), c.workDir() + QStringLiteral("/other.key"));
        QFile::setPermissions(c.workDir() + QStringLiteral("/other.key"), QFile::ReadOwner | QFile::WriteOwner);
        QVERIFY(editConfig(1, c.keyPath(), c.workDir() + QStringLiteral("/other.key")));
        QCOMPARE(runCtl(1, {QStringLiteral("reload")}, &out, &err), 1);
        QVERIFY2(err.contains("[cluster] key_file cannot change without a restart"), err.constData());
        QVERIFY(editConfig(1, c.workDir() + QStringLiteral("/other.key"), c.keyPath()));

        // A bad file: refused with file, line and key.
        QVERIFY(editConfig(1, QStringLiteral("port = "), QStringLiteral("port = \"x\"\nbogus = ")));
        QCOMPARE(runCtl(1, {QStringLiteral("reload")}, &out, &err), 1);
        QVERIFY2(err.contains(QStringLiteral("%1:").arg(c.configPath(1)).toUtf8()) && err.contains("[node] "), err.constData());

        // SIGHUP with a port change: refused, counted, the node runs on.
        QVERIFY(editConfig(0, QStringLiteral("port = %1").arg(c.port()), QStringLiteral("port = %1").arg(c.port() + 1)));
        c.signal(0, SIGHUP);
        QVERIFY(LoopbackCluster::waitUntil([&] { return reloadStatus(0).value(QStringLiteral("refused")).toInteger() == 1; }, 3000));
        QVERIFY2(reloadStatus(0).value(QStringLiteral("lastMessage")).toString().contains(
                     QStringLiteral("[node] port cannot change without a restart: %1 -> %2").arg(c.port()).arg(c.port() + 1)),
                 qPrintable(reloadStatus(0).value(QStringLiteral("lastMessage")).toString()));
        QVERIFY2(c.ringIs(range(3), &why), qPrintable(why));
        QCOMPARE(purges(0), purgesBefore);
    }

    void hooksSeeRoleChangesAndLostMembersAndHungHooksAreKilled()
    {
        // Cluster first (its folder holds the scripts); the configs name scripts written before
        // the daemons start, so start() is split: the scripts' paths are known from the folder.
        LoopbackCluster::Options o;
        o.nodes = 3;
        o.sashad = QStringLiteral(SASHAD_PATH);
        o.sashactl = QStringLiteral(SASHACTL_PATH);
        o.keepLogs = true;
        QTemporaryDir scripts;
        QVERIFY(scripts.isValid());
        const QString dir = scripts.path();
        const auto write = [&](const QString &name, const QByteArray &body) {
            const QString path = dir + QLatin1Char('/') + name;
            QFile f(path);
            f.open(QIODevice::WriteOnly | QIODevice::Truncate);
            f.write(body);
            f.close();
            QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
            return path;
        };
        // One line per call: argv, then the environment's SASHA_ variables.
        const QString record = write(QStringLiteral("record.sh"),
                                     "#!/bin/sh\n"
                                     "printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\\n' \"$1\" \"$2\" \"$3\" \"$SASHA_EVENT\" \"$SASHA_NODE\" "
                                     "\"$SASHA_ROLE\" \"$SASHA_OLD_ROLE\" \"$SASHA_MEMBER\" \"$SASHA_EPOCH\" "
                                     ">> \"$(dirname \"$0\")/hooks-$SASHA_SELF.log\"\n");
        // Never ends by itself; its child sleep is in its process group and must die with it.
        const QString hang = write(QStringLiteral("hang.sh"),
                                   "#!/bin/sh\necho $$ > \"$(dirname \"$0\")/hang-$SASHA_SELF.pid\"\n"
                                   "echo 'hanging on purpose' >&2\nsleep 1000\n");
        o.extraToml = {QStringLiteral("[notify]\nscript = \"%1\"\nmember_lost = \"%2\"\ntimeout_ms = 500").arg(record, hang)};
        m_cluster = std::make_unique<LoopbackCluster>(o);
        auto &c = *m_cluster;
        QString err;
        QVERIFY2(c.start(&err), qPrintable(err));
        const auto lines = [&](int i) {
            QFile f(dir + QStringLiteral("/hooks-%1.log").arg(c.address(i)));
            return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts)
                                               : QStringList();
        };
        const auto has = [&](int i, const QString &prefix) {
            const QStringList l = lines(i);
            return std::any_of(l.begin(), l.end(), [&](const QString &x) { return x.startsWith(prefix); });
        };
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(3), &why); }, 10000), qPrintable(why));

        // Role changes: node 1 dispatches, node 2 serves; argv and environment agree.
        const QString a0 = c.address(0), a1 = c.address(1), a2 = c.address(2);
        QVERIFY2(LoopbackCluster::waitUntil([&] { return has(0, QStringLiteral("role-changed|%1|dispatcher|role-changed|%1|dispatcher|").arg(a0)); }, 3000),
                 qPrintable(lines(0).join(QLatin1Char('\n'))));
        QVERIFY2(LoopbackCluster::waitUntil([&] { return has(1, QStringLiteral("role-changed|%1|server|role-changed|%1|server|").arg(a1)); }, 3000),
                 qPrintable(lines(1).join(QLatin1Char('\n'))));

        // Node 3 crashes: the survivors run the hanging member_lost hook (killed at 500 ms), then
        // the catch-all with member-lost, node 3 as argument and SASHA_MEMBER.
        c.signal(2, SIGKILL);
        QVERIFY(c.waitExit(2, 3000) != 0);
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs({0, 1}, &why); }, 5000), qPrintable(why));
        const qint64 purges0 = c.status(0).value(QStringLiteral("counters")).toObject().value(QStringLiteral("purges")).toInteger();
        const qint64 purges1 = c.status(1).value(QStringLiteral("counters")).toObject().value(QStringLiteral("purges")).toInteger();
        const QString lost0 = QStringLiteral("member-lost|%1|dispatcher|member-lost|%1|dispatcher||%1|").arg(a2);
        const QString lost1 = QStringLiteral("member-lost|%1|server|member-lost|%1|server||%1|").arg(a2);
        QVERIFY2(LoopbackCluster::waitUntil([&] { return has(0, lost0) && has(1, lost1); }, 5000),
                 qPrintable(lines(0).join(QLatin1Char('\n')) + QStringLiteral("\n--\n") + lines(1).join(QLatin1Char('\n'))));
        for (int i : {0, 1}) {
            const QJsonObject n = c.status(i).value(QStringLiteral("notify")).toObject();
            QVERIFY2(n.value(QStringLiteral("timedOut")).toInteger() >= 1, qPrintable(QJsonDocument(n).toJson()));
            // The hung hook's shell is gone (its process group was killed).
            QFile pidFile(dir + QStringLiteral("/hang-%1.pid").arg(c.address(i)));
            QVERIFY(pidFile.open(QIODevice::ReadOnly));
            const QByteArray pid = pidFile.readAll().trimmed();
            QVERIFY(!pid.isEmpty());
            QVERIFY2(LoopbackCluster::waitUntil([&] { return !QFile::exists(QStringLiteral("/proc/%1").arg(QString::fromLatin1(pid))); }, 2000),
                     pid.constData());
        }
        // The hook's half second cost the ring nothing: no purge since the ring re-formed.
        QCOMPARE(c.status(0).value(QStringLiteral("counters")).toObject().value(QStringLiteral("purges")).toInteger(), purges0);
        QCOMPARE(c.status(1).value(QStringLiteral("counters")).toObject().value(QStringLiteral("purges")).toInteger(), purges1);
        // The failure is logged with the script's stderr.
        QFile log(c.logPath(0));
        QVERIFY(log.open(QIODevice::ReadOnly));
        const QByteArray text = log.readAll();
        QVERIFY2(text.contains("killed after the 500 ms timeout") && text.contains("hanging on purpose"), text.right(2000).constData());

        // The dispatcher crashes: node 2 takes the role (old role: server).
        c.signal(0, SIGKILL);
        QVERIFY(c.waitExit(0, 3000) != 0);
        QVERIFY2(LoopbackCluster::waitUntil(
                     [&] { return has(1, QStringLiteral("role-changed|%1|standalone|role-changed|%1|standalone|server|").arg(a1)); }, 5000),
                 qPrintable(lines(1).join(QLatin1Char('\n'))));
    }
};

QTEST_GUILESS_MAIN(tst_ReloadHooks)
#include "tst_reloadhooks.moc"
