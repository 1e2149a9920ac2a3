// Specification of a config reload's plan (common/config/configreload.h): which keys change
// live, the change lines `sashactl reload` prints, refusals naming the key with its old and new
// value, and all-or-nothing. Also the [notify] keys' checks (path, existence, executable).

#include "config/configreload.h"
#include "config/nodesettings.h"

#include <QFile>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

using namespace sasha;

class TestConfigReload : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

    static QString baseToml()
    {
        return QStringLiteral(
            "[node]\naddress = \"127.0.0.1\"\nport = 7400\nname = \"one\"\n\n"
            "[cluster]\nkey_file = \"KEY\"\nseeds = [\"127.0.0.2:7400\"]\n\n"
            "[log]\nrules = \"\"\n\n"
            "[dispatcher]\ninterface = \"lo\"\nvip = \"10.0.0.200\"\nvmac = \"02:5a:5a:00:00:01\"\n"
            "weights = { \"10.0.0.2\" = 2, \"10.0.0.4\" = 5 }\n\n"
            "[health]\nrise = 2\n\n"
            "[notify]\ntimeout_ms = 5000\n");
    }

    QString writeKey(const QString &name, char fill)
    {
        const QString path = m_dir.filePath(name);
        QFile key(path);
        if (!key.open(QIODevice::WriteOnly | QIODevice::Truncate))
            return {};
        key.write(QByteArray(32, fill).toHex() + '\n');
        key.close();
        QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner);
        return path;
    }

    // Parses toml (KEY = the key file's path) as the file m_dir/node.toml.
    NodeSettings parse(QString toml, const QString &keyPath)
    {
        toml.replace(QStringLiteral("KEY"), keyPath);
        const ConfigResult r = parseNodeSettings(toml.toUtf8(), m_dir.filePath(QStringLiteral("node.toml")));
        if (!r.ok())
            qFatal("test config does not parse: %s", qPrintable(r.error->toString()));
        return *r.settings;
    }

    static QString edited(QString toml, const QStringList &edits)
    {
        for (qsizetype i = 0; i + 1 < edits.size(); i += 2) {
            if (!toml.contains(edits[i]))
                qFatal("edit %s not in the base config", qPrintable(edits[i]));
            toml.replace(edits[i], edits[i + 1]);
        }
        return toml;
    }

    QString script(const QString &name, bool executable)
    {
        const QString path = m_dir.filePath(name);
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
            return {};
        f.write("#!/bin/sh\nexit 0\n");
        f.close();
        QFile::Permissions p = QFile::ReadOwner | QFile::WriteOwner;
        if (executable)
            p |= QFile::ExeOwner;
        QFile::setPermissions(path, p);
        return path;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void plan_data()
    {
        QTest::addColumn<QStringList>("edits"); // pairs: text in the base config, its replacement
        QTest::addColumn<QStringList>("changes");
        QTest::addColumn<QStringList>("refusals"); // each refusal's full text
        QTest::addColumn<QString>("part");        // the live part flagged: weights, health, log, notify, other, ""

        QTest::newRow("the same file: no change") << QStringList{} << QStringList{} << QStringList{} << "";
        QTest::newRow("a weight raised")
            << QStringList{"\"10.0.0.2\" = 2", "\"10.0.0.2\" = 3"} << QStringList{"weight of 10.0.0.2: 2 -> 3"}
            << QStringList{} << "weights";
        QTest::newRow("a weight added, one removed (absent = 1)")
            << QStringList{"\"10.0.0.4\" = 5", "\"10.0.0.3\" = 4"}
            << QStringList{"weight of 10.0.0.3: 1 -> 4", "weight of 10.0.0.4: 5 -> 1"} << QStringList{} << "weights";
        QTest::newRow("an explicit weight of 1 is no change")
            << QStringList{"\"10.0.0.4\" = 5", "\"10.0.0.4\" = 5, \"10.0.0.9\" = 1"} << QStringList{} << QStringList{}
            << "weights";
        QTest::newRow("[health] rise") << QStringList{"rise = 2", "rise = 4"} << QStringList{"[health] rise: 2 -> 4"}
                                       << QStringList{} << "health";
        QTest::newRow("[health] url added")
            << QStringList{"rise = 2", "rise = 2\nurl = \"http://127.0.0.1:8080/ok\""}
            << QStringList{"[health] url: \"http://127.0.0.1:80/health\" -> \"http://127.0.0.1:8080/ok\""} << QStringList{}
            << "health";
        QTest::newRow("[log] rules") << QStringList{"rules = \"\"", "rules = \"sasha.ring.debug=true\""}
                                     << QStringList{"[log] rules: \"\" -> \"sasha.ring.debug=true\""} << QStringList{} << "log";
        QTest::newRow("[notify] timeout_ms") << QStringList{"timeout_ms = 5000", "timeout_ms = 800"}
                                             << QStringList{"[notify] timeout_ms: 5000 -> 800"} << QStringList{} << "notify";
        QTest::newRow("[node] name") << QStringList{"name = \"one\"", "name = \"uno\""}
                                     << QStringList{"[node] name: \"one\" -> \"uno\""} << QStringList{} << "other";
        QTest::newRow("[node] address refused")
            << QStringList{"address = \"127.0.0.1\"", "address = \"127.0.0.9\""} << QStringList{}
            << QStringList{"[node] address cannot change without a restart: \"127.0.0.1\" -> \"127.0.0.9\""} << "";
        QTest::newRow("[node] port refused") << QStringList{"port = 7400", "port = 7401"} << QStringList{}
                                             << QStringList{"[node] port cannot change without a restart: 7400 -> 7401"} << "";
        QTest::newRow("[cluster] seeds refused")
            << QStringList{"seeds = [\"127.0.0.2:7400\"]", "seeds = [\"127.0.0.3:7400\"]"} << QStringList{}
            << QStringList{"[cluster] seeds cannot change without a restart: [\"127.0.0.2:7400\"] -> [\"127.0.0.3:7400\"]"} << "";
        QTest::newRow("[dispatcher] vip refused")
            << QStringList{"vip = \"10.0.0.200\"", "vip = \"10.0.0.201\""} << QStringList{}
            << QStringList{"[dispatcher] vip cannot change without a restart: \"10.0.0.200\" -> \"10.0.0.201\""} << "";
        QTest::newRow("[dispatcher] vmac refused")
            << QStringList{"02:5a:5a:00:00:01", "02:5a:5a:00:00:02"} << QStringList{}
            << QStringList{"[dispatcher] vmac cannot change without a restart: \"02:5a:5a:00:00:01\" -> \"02:5a:5a:00:00:02\""}
            << "";
        QTest::newRow("[node] capabilities refused")
            << QStringList{"name = \"one\"", "name = \"one\"\ncapabilities = [\"serve\"]"} << QStringList{}
            << QStringList{"[node] capabilities cannot change without a restart: [\"dispatch\", \"serve\"] -> [\"serve\"]"} << "";
        QTest::newRow("[timers] token_timeout_ms refused")
            << QStringList{"[log]", "[timers]\ntoken_timeout_ms = 300\n\n[log]"} << QStringList{}
            << QStringList{"[timers] token_timeout_ms cannot change without a restart: 140 -> 300"} << "";
        // All or nothing: the weight would change, but the port refuses the whole reload.
        QTest::newRow("a live change and a refused one")
            << QStringList{"\"10.0.0.2\" = 2", "\"10.0.0.2\" = 7", "port = 7400", "port = 7500"}
            << QStringList{"weight of 10.0.0.2: 2 -> 7"}
            << QStringList{"[node] port cannot change without a restart: 7400 -> 7500"} << "weights";
    }

    void plan()
    {
        QFETCH(QStringList, edits);
        QFETCH(QStringList, changes);
        QFETCH(QStringList, refusals);
        QFETCH(QString, part);
        const QString key = writeKey(QStringLiteral("a.key"), '\x01');
        const NodeSettings running = parse(baseToml(), key);
        const NodeSettings next = parse(edited(baseToml(), edits), key);
        const ReloadPlan p = planReload(running, next);
        QCOMPARE(p.changes, changes);
        QStringList got;
        for (const ReloadRefusal &r : p.refusals)
            got << r.toString();
        QCOMPARE(got, refusals);
        QCOMPARE(p.ok(), refusals.isEmpty());
        QCOMPARE(p.weights, part == QLatin1String("weights"));
        QCOMPARE(p.health, part == QLatin1String("health"));
        QCOMPARE(p.logRules, part == QLatin1String("log"));
        QCOMPARE(p.notify, part == QLatin1String("notify"));
        QCOMPARE(p.other, part == QLatin1String("other"));
    }

    // [[service]] weights change live, one line per server and service whose weight in the
    // service differs; a server the service does not list has its [dispatcher] weight.
    void serviceWeights_data()
    {
        QTest::addColumn<QStringList>("edits");
        QTest::addColumn<QStringList>("changes");
        QTest::addColumn<QStringList>("refusals");
        QTest::addColumn<bool>("weights");
        QTest::newRow("a service weight lowered to 0")
            << QStringList{"\"10.0.0.3\" = 4", "\"10.0.0.3\" = 0"}
            << QStringList{"service 2 (10.0.0.100 tcp 8080) weight of 10.0.0.3: 4 -> 0"} << QStringList{} << true;
        QTest::newRow("a service weight added: it was the [dispatcher] weight")
            << QStringList{"port = 80\n", "port = 80\nweights = { \"10.0.0.2\" = 0, \"10.0.0.9\" = 3 }\n"}
            << QStringList{"service 1 (10.0.0.100 tcp 80) weight of 10.0.0.2: 2 -> 0",
                           "service 1 (10.0.0.100 tcp 80) weight of 10.0.0.9: 1 -> 3"}
            << QStringList{} << true;
        QTest::newRow("a service weight removed: back to the [dispatcher] weight")
            << QStringList{"weights = { \"10.0.0.3\" = 4 }\n", ""}
            << QStringList{"service 2 (10.0.0.100 tcp 8080) weight of 10.0.0.3: 4 -> 1"} << QStringList{} << true;
        QTest::newRow("listing the [dispatcher] weight is no change")
            << QStringList{"port = 80\n", "port = 80\nweights = { \"10.0.0.2\" = 2 }\n"} << QStringList{} << QStringList{}
            << true;
        QTest::newRow("a [dispatcher] weight under a service's own: only the cluster line")
            << QStringList{"{ \"10.0.0.2\" = 2 }", "{ \"10.0.0.2\" = 2, \"10.0.0.3\" = 7 }"}
            << QStringList{"weight of 10.0.0.3: 1 -> 7"} << QStringList{} << true;
        QTest::newRow("a service's port still needs a restart")
            << QStringList{"port = 8080", "port = 8081", "\"10.0.0.3\" = 4", "\"10.0.0.3\" = 0"}
            << QStringList{"service 2 (10.0.0.100 tcp 8081) weight of 10.0.0.3: 4 -> 0"}
            << QStringList{"[[service]] cannot change without a restart: \"10.0.0.100 tcp 80 dr maglev 0s; 10.0.0.100 tcp "
                           "8080 dr maglev 0s\" -> \"10.0.0.100 tcp 80 dr maglev 0s; 10.0.0.100 tcp 8081 dr maglev 0s\""}
            << true;
    }

    void serviceWeights()
    {
        QFETCH(QStringList, edits);
        QFETCH(QStringList, changes);
        QFETCH(QStringList, refusals);
        QFETCH(bool, weights);
        const QString base = QStringLiteral(
            "[node]\naddress = \"127.0.0.1\"\n\n[cluster]\nkey_file = \"KEY\"\n\n"
            "[dispatcher]\ninterface = \"lo\"\nvmac = \"02:5a:5a:00:00:01\"\nweights = { \"10.0.0.2\" = 2 }\n\n"
            "[[service]]\nvip = \"10.0.0.100\"\nport = 80\n\n"
            "[[service]]\nvip = \"10.0.0.100\"\nport = 8080\nweights = { \"10.0.0.3\" = 4 }\n");
        const QString key = writeKey(QStringLiteral("s.key"), '\x01');
        NodeSettings running = parse(base, key);
        const NodeSettings next = parse(edited(base, edits), key);
        const ReloadPlan p = planReload(running, next);
        QCOMPARE(p.changes, changes);
        QStringList got;
        for (const ReloadRefusal &r : p.refusals)
            got << r.toString();
        QCOMPARE(got, refusals);
        QCOMPARE(p.weights, weights);
        if (!p.ok())
            return;
        applyReloadable(running, next);
        QVERIFY(planReload(running, next).empty());
        for (std::size_t i = 0; i < next.dispatcher.services.size(); ++i)
            QCOMPARE(running.dispatcher.services[i].weights, next.dispatcher.services[i].weights);
    }

    // Another key in the same file is refused, and the refusal never prints the key.
    void anotherKeyIsRefusedWithoutPrintingIt()
    {
        const QString key = writeKey(QStringLiteral("b.key"), '\x01');
        const NodeSettings running = parse(baseToml(), key);
        writeKey(QStringLiteral("b.key"), '\x02');
        const NodeSettings next = parse(baseToml(), key);
        const ReloadPlan p = planReload(running, next);
        QCOMPARE(p.refusals.size(), std::size_t(1));
        QCOMPARE(p.refusals[0].key, QStringLiteral("[cluster] key_file"));
        QCOMPARE(p.refusals[0].oldValue, QStringLiteral("\"%1\"").arg(key));
        QCOMPARE(p.refusals[0].newValue, QStringLiteral("\"%1\" (another key)").arg(key));
        const QString text = p.refusalText();
        QVERIFY2(!text.contains(QString::fromLatin1(QByteArray(32, '\x01').toHex())), qPrintable(text));
        QVERIFY2(!text.contains(QString::fromLatin1(QByteArray(32, '\x02').toHex())), qPrintable(text));
    }

    // applyReloadable takes the live keys and leaves the others as they run.
    void applyCopiesOnlyLiveKeys()
    {
        const QString key = writeKey(QStringLiteral("c.key"), '\x01');
        NodeSettings running = parse(baseToml(), key);
        const NodeSettings next = parse(edited(baseToml(), {"\"10.0.0.2\" = 2", "\"10.0.0.2\" = 9", "rise = 2", "rise = 5",
                                                            "port = 7400", "port = 7500"}),
                                        key);
        applyReloadable(running, next);
        QCOMPARE(running.dispatcher.weights.at(0x0a000002u), 9u);
        QCOMPARE(running.health.rise, 5);
        QCOMPARE(running.port, quint16(7400));
        // After applying, only the refused key still differs.
        const ReloadPlan p = planReload(running, next);
        QVERIFY(p.changes.isEmpty());
        QCOMPARE(p.refusals.size(), std::size_t(1));
        QCOMPARE(p.refusals[0].key, QStringLiteral("[node] port"));
    }

    // Every key appears once, and the ones docs/config.md marks reloadable are the live ones.
    void keyTable()
    {
        QSet<QString> seen;
        QStringList live;
        for (const ReloadKey &k : reloadKeys()) {
            QVERIFY2(!seen.contains(k.name), qPrintable(k.name));
            seen.insert(k.name);
            if (k.live)
                live << k.name;
        }
        QCOMPARE(live, (QStringList{"[node] name", "[log] rules", "[faults] enabled", "[dispatcher] weights",
                                    "[[service]] weights", "[health] enabled", "[health] url", "[health] interval_ms", "[health] timeout_ms",
                                    "[health] rise", "[health] fall", "[notify] role_change", "[notify] member_joined",
                                    "[notify] member_lost", "[notify] health_change", "[notify] script",
                                    "[notify] timeout_ms", "[notify] queue"}));
        QVERIFY(seen.contains(QStringLiteral("[node] address")));
        QVERIFY(seen.contains(QStringLiteral("[cluster] key_file")));
    }

    void notifyKeys_data()
    {
        QTest::addColumn<QString>("line"); // SCRIPT = an executable, NOEXEC = a non-executable file
        QTest::addColumn<QString>("error"); // empty: valid
        QTest::newRow("executable script") << "role_change = \"SCRIPT\"" << "";
        QTest::newRow("catch-all script") << "script = \"SCRIPT\"" << "";
        QTest::newRow("relative path") << "member_lost = \"notify.sh\""
                                       << "[notify] member_lost: must be an absolute path to an executable";
        QTest::newRow("missing script") << "health_change = \"/nonexistent/sasha-notify.sh\""
                                        << "[notify] health_change: /nonexistent/sasha-notify.sh does not exist";
        QTest::newRow("not executable") << "member_joined = \"NOEXEC\"" << "is not executable by this user: chmod +x";
        QTest::newRow("a directory") << "script = \"DIR\"" << "is not a regular file";
        QTest::newRow("timeout too short") << "timeout_ms = 10" << "[notify] timeout_ms: must be in 100..600000; got 10";
        QTest::newRow("queue zero") << "queue = 0" << "[notify] queue: must be in 1..1024; got 0";
        QTest::newRow("unknown key") << "notify_master = \"SCRIPT\"" << "[notify] notify_master: unknown key";
    }

    void notifyKeys()
    {
        QFETCH(QString, line);
        QFETCH(QString, error);
        line.replace(QStringLiteral("NOEXEC"), script(QStringLiteral("noexec.sh"), false));
        line.replace(QStringLiteral("SCRIPT"), script(QStringLiteral("notify.sh"), true));
        line.replace(QStringLiteral("DIR"), m_dir.path());
        const QString key = writeKey(QStringLiteral("d.key"), '\x01');
        QString toml = QStringLiteral("[node]\naddress = \"127.0.0.1\"\n[cluster]\nkey_file = \"%1\"\n[notify]\n%2\n").arg(key, line);
        const ConfigResult r = parseNodeSettings(toml.toUtf8(), m_dir.filePath(QStringLiteral("n.toml")));
        if (error.isEmpty()) {
            QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error->toString()));
            return;
        }
        QVERIFY(!r.ok());
        const QString text = r.error->toString();
        QVERIFY2(text.contains(error), qPrintable(text));
        QVERIFY2(text.contains(m_dir.filePath(QStringLiteral("n.toml")) + QStringLiteral(":6:")), qPrintable(text));
    }
};

QTEST_GUILESS_MAIN(TestConfigReload)
#include "tst_configreload.moc"
