// Specification of the sasha-console command line: what is accepted, and the one-line message
// for each thing that is not (option named, what is accepted).

#include "consolecommandline.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace sasha;
using namespace sasha::console;

class TestConsoleCommandLine : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void accepted_data();
    void accepted();
    void refused_data();
    void refused();
    void controlSockets();
    void helpExitsNow();
    void screenshotAndSize();
    void scriptingOptionsAreHidden();
    void failoverDumpText_data();
    void failoverDumpText();
    void defaultAddressNeverANodes();

private:
    QTemporaryDir m_dir;
    QString m_key, m_shortKey;
};

void TestConsoleCommandLine::initTestCase()
{
    m_key = m_dir.filePath(QStringLiteral("cluster.key"));
    QFile k(m_key);
    QVERIFY(k.open(QIODevice::WriteOnly));
    k.write(QByteArray(32, '\x5a').toHex() + '\n');
    k.close();
    m_shortKey = m_dir.filePath(QStringLiteral("short.key"));
    QFile s(m_shortKey);
    QVERIFY(s.open(QIODevice::WriteOnly));
    s.write("abc");
}

void TestConsoleCommandLine::accepted_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("seeds");
    QTest::addColumn<int>("firstSeedPort");
    QTest::addColumn<QString>("bind");
    QTest::addColumn<bool>("readOnly");
    QTest::addColumn<bool>("lab");
    QTest::newRow("one seed, default port") << QStringList{"--key", "KEY", "--seed", "127.0.0.1"} << 1 << 7400 << "" << false << false;
    QTest::newRow("two seeds, explicit ports") << QStringList{"--key", "KEY", "-s", "10.0.0.1:7500", "-s", "10.0.0.2"} << 2 << 7500 << "" << false << false;
    QTest::newRow("--port applies to seeds without one") << QStringList{"--key", "KEY", "--port", "9000", "--seed", "10.0.0.1"} << 1 << 9000 << "" << false << false;
    QTest::newRow("bind, read-only, lab") << QStringList{"--key", "KEY", "--seed", "10.0.0.1", "--bind", "10.0.0.9", "--read-only", "--lab"}
                                          << 1 << 7400 << "10.0.0.9" << true << true;
    QTest::newRow("broadcast only") << QStringList{"--key", "KEY", "--broadcast", "10.0.0.255"} << 0 << 0 << "" << false << false;
}

void TestConsoleCommandLine::accepted()
{
    QFETCH(QStringList, args);
    QFETCH(int, seeds);
    QFETCH(int, firstSeedPort);
    QFETCH(QString, bind);
    QFETCH(bool, readOnly);
    QFETCH(bool, lab);
    args.replaceInStrings(QStringLiteral("KEY"), m_key);
    args.prepend(QStringLiteral("sasha-console"));
    QString error;
    bool exitNow = true;
    const auto cl = parseCommandLine(args, &error, &exitNow);
    QVERIFY2(cl.has_value(), qPrintable(error));
    QVERIFY(!exitNow);
    QCOMPARE(cl->observer.key, QByteArray(32, '\x5a'));
    QCOMPARE(int(cl->observer.seeds.size()), seeds);
    if (seeds > 0)
        QCOMPARE(int(cl->observer.seeds.front().port), firstSeedPort);
    if (!bind.isEmpty())
        QCOMPARE(ipToString(cl->observer.bind.ip), bind);
    QCOMPARE(cl->observer.self, cl->observer.bind.ip);
    QCOMPARE(cl->observer.bind.port, quint16(0));
    QCOMPARE(cl->ui.readOnly, readOnly);
    QCOMPARE(cl->observer.readOnly, readOnly);
    QCOMPARE(cl->ui.lab, lab);
}

void TestConsoleCommandLine::refused_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("message");
    QTest::newRow("no key") << QStringList{"--seed", "10.0.0.1"} << "--key FILE is required";
    QTest::newRow("missing key file") << QStringList{"--key", "/nonexistent/k", "--seed", "10.0.0.1"} << "--key /nonexistent/k: cannot read";
    QTest::newRow("short key") << QStringList{"--key", "SHORT", "--seed", "10.0.0.1"} << "at least 16";
    QTest::newRow("no seed nor broadcast") << QStringList{"--key", "KEY"} << "give --seed";
    QTest::newRow("seed is a name") << QStringList{"--key", "KEY", "--seed", "node1"} << "--seed node1: expected an IPv4 address";
    QTest::newRow("port out of range") << QStringList{"--key", "KEY", "--seed", "10.0.0.1", "--port", "70000"} << "--port: expected 1..65535";
    QTest::newRow("bind not an address") << QStringList{"--key", "KEY", "--seed", "10.0.0.1", "--bind", "eth0"} << "--bind eth0";
    QTest::newRow("unknown option") << QStringList{"--key", "KEY", "--colour"} << "colour";
    QTest::newRow("stray argument") << QStringList{"--key", "KEY", "--seed", "10.0.0.1", "extra"} << "unexpected argument extra";
    QTest::newRow("snapshot without dump ticks") << QStringList{"--key", "KEY", "--seed", "10.0.0.1", "--snapshot", "/tmp/c.png"}
                                                 << "--snapshot FILE is written at every --dump-connections tick";
    QTest::newRow("size without x") << QStringList{"--demo", "--size", "1280"} << "--size 1280: expected WIDTHxHEIGHT";
    QTest::newRow("size too small") << QStringList{"--demo", "--size", "100x100"} << "320x240 to 7680x4320";
    QTest::newRow("screenshot-after without screenshot") << QStringList{"--demo", "--screenshot-after", "2"} << "--screenshot-after needs --screenshot FILE";
    QTest::newRow("screenshot-after zero") << QStringList{"--demo", "--screenshot", "/tmp/c.png", "--screenshot-after", "0"}
                                           << "--screenshot-after 0: seconds from 0.5 to 3600";
    QTest::newRow("timeout too small") << QStringList{"--key", "KEY", "--seed", "10.0.0.1", "--no-ring-timeout", "0"} << "--no-ring-timeout";
}

void TestConsoleCommandLine::refused()
{
    QFETCH(QStringList, args);
    QFETCH(QString, message);
    args.replaceInStrings(QStringLiteral("SHORT"), m_shortKey);
    args.replaceInStrings(QRegularExpression(QStringLiteral("^KEY$")), m_key);
    args.prepend(QStringLiteral("sasha-console"));
    QString error;
    bool exitNow = true;
    QVERIFY(!parseCommandLine(args, &error, &exitNow).has_value());
    QVERIFY(!exitNow);
    QVERIFY2(error.contains(message), qPrintable(error));
}

void TestConsoleCommandLine::controlSockets()
{
    QString error;
    bool exitNow = false;
    const auto cl = parseCommandLine({QStringLiteral("sasha-console"), QStringLiteral("--key"), m_key, QStringLiteral("--seed"),
                                      QStringLiteral("127.0.0.1"), QStringLiteral("--control-socket"), QStringLiteral("/run/a.sock"),
                                      QStringLiteral("--control-socket"), QStringLiteral("/run/b.sock")},
                                     &error, &exitNow);
    QVERIFY2(cl.has_value(), qPrintable(error));
    QCOMPARE(cl->observer.controlSockets, (QStringList{QStringLiteral("/run/a.sock"), QStringLiteral("/run/b.sock")}));
}

void TestConsoleCommandLine::helpExitsNow()
{
    QString text;
    bool exitNow = false;
    QVERIFY(!parseCommandLine({QStringLiteral("sasha-console"), QStringLiteral("--help")}, &text, &exitNow).has_value());
    QVERIFY(exitNow);
    QVERIFY(text.contains(QStringLiteral("--presentation")));
    const auto demo = parseCommandLine({QStringLiteral("sasha-console"), QStringLiteral("--demo")}, &text, &exitNow);
    QVERIFY(demo.has_value() && demo->demo); // --demo needs no key
}

void TestConsoleCommandLine::screenshotAndSize()
{
    QString text;
    bool exitNow = false;
    QVERIFY(!parseCommandLine({QStringLiteral("sasha-console"), QStringLiteral("--help")}, &text, &exitNow).has_value());
    QVERIFY(text.contains(QStringLiteral("--screenshot <FILE>")) && text.contains(QStringLiteral("--size <WxH>")));
    auto cl = parseCommandLine({QStringLiteral("sasha-console"), QStringLiteral("--demo"), QStringLiteral("--size"), QStringLiteral("1280x720"),
                                QStringLiteral("--screenshot"), QStringLiteral("/tmp/c.png"), QStringLiteral("--screenshot-after"), QStringLiteral("2.5")},
                               &text, &exitNow);
    QVERIFY2(cl.has_value(), qPrintable(text));
    QCOMPARE(cl->windowSize, QSize(1280, 720));
    QCOMPARE(cl->screenshotPath, QStringLiteral("/tmp/c.png"));
    QCOMPARE(cl->screenshotAfterMs, 2500);
    cl = parseCommandLine({QStringLiteral("sasha-console"), QStringLiteral("--demo"), QStringLiteral("--screenshot"), QStringLiteral("/tmp/c.png")}, &text, &exitNow);
    QVERIFY2(cl.has_value(), qPrintable(text));
    QCOMPARE(cl->screenshotAfterMs, 5000);
    QVERIFY(!cl->windowSize.isValid());
}

void TestConsoleCommandLine::scriptingOptionsAreHidden()
{
    QString text;
    bool exitNow = false;
    QVERIFY(!parseCommandLine({QStringLiteral("sasha-console"), QStringLiteral("--help")}, &text, &exitNow).has_value());
    QVERIFY(!text.contains(QStringLiteral("--dump-connections")));
    QVERIFY(!text.contains(QStringLiteral("--snapshot")));
    const auto cl = parseCommandLine({QStringLiteral("sasha-console"), QStringLiteral("--demo"), QStringLiteral("--dump-connections"),
                                      QStringLiteral("0.5"), QStringLiteral("--snapshot"), QStringLiteral("/tmp/c.png")},
                                     &text, &exitNow);
    QVERIFY2(cl.has_value(), qPrintable(text));
    QCOMPARE(cl->dumpConnectionsMs, 500);
    QCOMPARE(cl->snapshotPath, QStringLiteral("/tmp/c.png"));
}

void TestConsoleCommandLine::failoverDumpText_data()
{
    QTest::addColumn<QList<ControlEvent>>("events");
    QTest::addColumn<QString>("text");
    auto ev = [](qint64 us, const char *kind, const char *node = "10.0.0.1") {
        ControlEvent e;
        e.monoUs = us;
        e.kind = QString::fromLatin1(kind);
        e.node = QString::fromLatin1(node);
        return e;
    };
    QTest::newRow("no failover yet") << QList<ControlEvent>{} << "failovers=0 last=[]";
    QTest::newRow("every phase, closed")
        << QList<ControlEvent>{ev(1'000'000, "fault-injected"), ev(1'167'300, "purge-started", "10.0.0.2"),
                               ev(1'208'000, "ring-formed", "10.0.0.2"), ev(1'208'300, "dispatcher-elected", "10.0.0.2"),
                               ev(1'220'000, "reconstruction-completed", "10.0.0.2"), ev(1'215'000, "first-forward", "10.0.0.2")}
        << "failovers=1 last=[detection=167.3 reformation=40.7 election=0.3 reconstruction=11.7 firstForward=6.7 closed=1]";
    QTest::newRow("crash nobody announced: no detection, no election yet")
        << QList<ControlEvent>{ev(5'000'000, "token-timeout", "10.0.0.3"), ev(5'040'000, "ring-formed", "10.0.0.2")}
        << "failovers=1 last=[detection=- reformation=40.0 election=- reconstruction=- firstForward=- closed=0]";
}

void TestConsoleCommandLine::failoverDumpText()
{
    QFETCH(QList<ControlEvent>, events);
    QFETCH(QString, text);
    FailoverTracker tracker;
    for (const ControlEvent &e : events)
        tracker.onEvent(e);
    QCOMPARE(sasha::console::failoverDumpText(tracker), text);
}

void TestConsoleCommandLine::defaultAddressNeverANodes()
{
    // Loopback seeds: a 127.255.x.y address of its own, not 127.0.0.1 where a node may run.
    const quint32 a = defaultObserverAddress({{0x7f000001, 7400}}, 4242);
    QCOMPARE(a >> 16, 0x7fffu);
    QVERIFY(a != 0x7f000001);
    QCOMPARE(defaultObserverAddress({}, 0x10000), 0x7fff0001u); // never the network address
    QCOMPARE(defaultObserverAddress({}, 0x1ffff), 0x7fff0001u); // nor the broadcast address
}

QTEST_APPLESS_MAIN(TestConsoleCommandLine)
#include "tst_consolecommandline.moc"
