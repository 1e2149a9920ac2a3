// sashad's NotifyRunner (daemon/sashad/notifyrunner.h) with real shell scripts in a temporary
// directory: arguments and environment, the event's own script then the catch-all, one at a time
// in order, the timeout killing the whole process group, failures with the stderr tail, the
// bounded queue. The caller's thread never waits for a script.

#include "notifyrunner.h"

#include <QElapsedTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace sasha;

class TestNotifyRunner : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> m_dir;

    QString script(const QString &name, const QByteArray &body)
    {
        const QString path = m_dir->filePath(name);
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
            qFatal("cannot write %s", qPrintable(path));
        f.write("#!/bin/sh\n" + body);
        f.close();
        QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
        return path;
    }

    QString read(const QString &name)
    {
        QFile f(m_dir->filePath(name));
        return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
    }

    static NotifyEvent event(const QString &kind, const QString &node = QStringLiteral("10.0.0.3"))
    {
        NotifyEvent e;
        e.event = kind;
        e.node = node;
        e.role = QStringLiteral("dispatcher");
        e.epoch = 42;
        e.self = QStringLiteral("10.0.0.1");
        e.name = QStringLiteral("node1");
        e.detail = QStringLiteral("detail text");
        e.wallMs = 1234;
        if (kind == QLatin1String("role-changed"))
            e.oldRole = QStringLiteral("server");
        if (kind == QLatin1String("health-changed"))
            e.health = QStringLiteral("unhealthy");
        return e;
    }

private Q_SLOTS:
    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
    }

    void argumentsAndEnvironment_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("expected"); // what the script writes
        QTest::newRow("role-changed") << "role-changed"
                                      << "role-changed 10.0.0.3 dispatcher|role-changed|10.0.0.3|dispatcher|server||||42|10.0.0.1|node1|detail text|1234";
        QTest::newRow("member-lost") << "member-lost"
                                     << "member-lost 10.0.0.3 dispatcher|member-lost|10.0.0.3|dispatcher|||10.0.0.3||42|10.0.0.1|node1|detail text|1234";
        QTest::newRow("health-changed") << "health-changed"
                                        << "health-changed 10.0.0.3 dispatcher|health-changed|10.0.0.3|dispatcher||unhealthy|||42|10.0.0.1|node1|detail text|1234";
    }
    void argumentsAndEnvironment()
    {
        QFETCH(QString, kind);
        QFETCH(QString, expected);
        NotifySettings s;
        s.script = script(QStringLiteral("all.sh"),
                          "printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\\n' \"$*\" \"$SASHA_EVENT\" \"$SASHA_NODE\" "
                          "\"$SASHA_ROLE\" \"$SASHA_OLD_ROLE\" \"$SASHA_HEALTH\" \"$SASHA_MEMBER\" \"$SASHA_NOPE\" \"$SASHA_EPOCH\" "
                          "\"$SASHA_SELF\" \"$SASHA_NAME\" \"$SASHA_DETAIL\" \"$SASHA_TIME_MS\" >> \"$(dirname \"$0\")/out\"\n");
        NotifyRunner runner(s);
        QSignalSpy done(&runner, &NotifyRunner::scriptFinished);
        QCOMPARE(runner.notify(event(kind)), 0);
        QTRY_COMPARE(done.size(), 1);
        QCOMPARE(done.at(0).at(2).toBool(), true);
        QCOMPARE(read(QStringLiteral("out")).trimmed(), expected);
        QCOMPARE(runner.started(), 1u);
        QCOMPARE(runner.failed(), 0u);
        QCOMPARE(runner.pending(), 0);
    }

    // The event's own script first, then the catch-all; one at a time, in event order; an event
    // without a script of its own runs only the catch-all.
    void ownScriptThenCatchAllInOrderOneAtATime()
    {
        const QByteArray body = "echo \"start $0 $1 $2\" >> \"$(dirname \"$0\")/out\"\nsleep 0.05\n"
                                "echo \"end $0 $1 $2\" >> \"$(dirname \"$0\")/out\"\n";
        NotifySettings s;
        s.memberLost = script(QStringLiteral("lost.sh"), body);
        s.script = script(QStringLiteral("all.sh"), body);
        NotifyRunner runner(s);
        QSignalSpy done(&runner, &NotifyRunner::scriptFinished);
        QElapsedTimer t;
        t.start();
        runner.notify(event(QStringLiteral("member-lost"), QStringLiteral("10.0.0.3")));
        runner.notify(event(QStringLiteral("member-joined"), QStringLiteral("10.0.0.4")));
        runner.notify(event(QStringLiteral("member-left"), QStringLiteral("10.0.0.5")));
        QVERIFY2(t.elapsed() < 50, "notify() waited for a script");
        QTRY_COMPARE(done.size(), 5);
        const QString l = s.memberLost, a = s.script;
        const QStringList expected = {
            "start " + l + " member-lost 10.0.0.3", "end " + l + " member-lost 10.0.0.3",
            "start " + a + " member-lost 10.0.0.3", "end " + a + " member-lost 10.0.0.3",
            "start " + a + " member-joined 10.0.0.4", "end " + a + " member-joined 10.0.0.4",
            "start " + l + " member-left 10.0.0.5", "end " + l + " member-left 10.0.0.5",
            "start " + a + " member-left 10.0.0.5", "end " + a + " member-left 10.0.0.5",
        };
        QCOMPARE(read(QStringLiteral("out")).split(QLatin1Char('\n'), Qt::SkipEmptyParts), expected);
    }

    // A script that never ends is killed at the timeout, its children with it (process group).
    void timeoutKillsTheProcessGroup()
    {
        NotifySettings s;
        s.timeoutMs = 200;
        s.script = script(QStringLiteral("hang.sh"), "sleep 1000 &\necho $! > \"$(dirname \"$0\")/child\"\n"
                                                     "echo 'stuck here' >&2\nwait\n");
        NotifyRunner runner(s);
        QSignalSpy done(&runner, &NotifyRunner::scriptFinished);
        QElapsedTimer t;
        t.start();
        runner.notify(event(QStringLiteral("role-changed")));
        QTRY_COMPARE_WITH_TIMEOUT(done.size(), 1, 3000);
        QVERIFY2(t.elapsed() >= 190 && t.elapsed() < 2000, qPrintable(QString::number(t.elapsed())));
        QCOMPARE(done.at(0).at(2).toBool(), false);
        const QString why = done.at(0).at(3).toString();
        QVERIFY2(why.contains(QStringLiteral("killed after the 200 ms timeout")) && why.contains(QStringLiteral("stuck here")),
                 qPrintable(why));
        QCOMPARE(runner.timedOut(), 1u);
        QCOMPARE(runner.failed(), 1u);
        const QString child = read(QStringLiteral("child")).trimmed();
        QVERIFY(!child.isEmpty());
        QTRY_VERIFY2(!QFile::exists(QStringLiteral("/proc/%1").arg(child)), qPrintable(child));
    }

    void failuresNameTheCauseAndStderrTail_data()
    {
        QTest::addColumn<QByteArray>("body"); // empty: the script does not exist
        QTest::addColumn<QString>("why");
        QTest::newRow("non-zero exit") << QByteArray("echo first >&2\necho 'disk full' >&2\nexit 3\n")
                                       << "exit code 3; stderr: first | disk full";
        QTest::newRow("killed by a signal") << QByteArray("kill -9 $$\n") << "killed by a signal";
        QTest::newRow("missing") << QByteArray() << "cannot start";
    }
    void failuresNameTheCauseAndStderrTail()
    {
        QFETCH(QByteArray, body);
        QFETCH(QString, why);
        NotifySettings s;
        s.script = body.isEmpty() ? m_dir->filePath(QStringLiteral("gone.sh")) : script(QStringLiteral("fail.sh"), body);
        NotifyRunner runner(s);
        QSignalSpy done(&runner, &NotifyRunner::scriptFinished);
        runner.notify(event(QStringLiteral("health-changed")));
        QTRY_COMPARE(done.size(), 1);
        QCOMPARE(done.at(0).at(2).toBool(), false);
        QVERIFY2(done.at(0).at(3).toString().contains(why), qPrintable(done.at(0).at(3).toString()));
        QCOMPARE(runner.failed(), 1u);
        QCOMPARE(runner.timedOut(), 0u);
        QCOMPARE(runner.pending(), 0);
    }

    // At most `queue` scripts wait or run; more are dropped and counted, the others still run.
    void fullQueueDrops()
    {
        NotifySettings s;
        s.queue = 2;
        s.script = script(QStringLiteral("slow.sh"), "sleep 0.2\necho \"$2\" >> \"$(dirname \"$0\")/out\"\n");
        NotifyRunner runner(s);
        QSignalSpy done(&runner, &NotifyRunner::scriptFinished);
        int dropped = 0;
        for (int i = 1; i <= 5; ++i)
            dropped += runner.notify(event(QStringLiteral("member-joined"), QStringLiteral("10.0.0.%1").arg(i)));
        QCOMPARE(dropped, 3);
        QCOMPARE(runner.dropped(), 3u);
        QTRY_COMPARE(done.size(), 2);
        QCOMPARE(read(QStringLiteral("out")).split(QLatin1Char('\n'), Qt::SkipEmptyParts),
                 (QStringList{"10.0.0.1", "10.0.0.2"}));
        // Room again once they ran.
        QCOMPARE(runner.notify(event(QStringLiteral("member-joined"), QStringLiteral("10.0.0.9"))), 0);
        QTRY_COMPARE(done.size(), 3);
    }

    // Destroying the runner (sashad stopping) kills a running script at once.
    void destructionKillsARunningScript()
    {
        NotifySettings s;
        s.timeoutMs = 600000;
        s.script = script(QStringLiteral("hang.sh"), "echo $$ > \"$(dirname \"$0\")/pid\"\nsleep 1000\n");
        QElapsedTimer t;
        {
            NotifyRunner runner(s);
            runner.notify(event(QStringLiteral("role-changed")));
            QTRY_VERIFY(!read(QStringLiteral("pid")).isEmpty());
            t.start();
        }
        QVERIFY2(t.elapsed() < 1500, qPrintable(QString::number(t.elapsed())));
        const QString pid = read(QStringLiteral("pid")).trimmed();
        QTRY_VERIFY2(!QFile::exists(QStringLiteral("/proc/%1").arg(pid)), qPrintable(pid));
    }
};

QTEST_GUILESS_MAIN(TestNotifyRunner)
#include "tst_notifyrunner.moc"
