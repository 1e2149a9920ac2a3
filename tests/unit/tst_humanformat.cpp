// sashactl's human renderings (daemon/sashactl/humanformat.*): what an operator reads in
// `sashactl status` / `counters` must carry the figures the JSON has.

#include "humanformat.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

using namespace sasha;

class TestHumanFormat : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void dispatcherFramesAndDrops_data();
    void dispatcherFramesAndDrops();
    void membersTable_data();
    void membersTable();
    void drainProgress_data();
    void drainProgress();
    void statusShowsRingThreadAndMetrics();
    void servicesTable();
};

namespace {
QJsonObject dispatcherStats(const char *fastPathJson)
{
    QJsonObject d{{QStringLiteral("running"), true},
                  {QStringLiteral("interface"), QStringLiteral("eth0")},
                  {QStringLiteral("vip"), QStringLiteral("10.77.0.200")},
                  {QStringLiteral("vmac"), QStringLiteral("02:5a:5a:00:00:01")},
                  {QStringLiteral("scheduler"), QStringLiteral("maglev")},
                  {QStringLiteral("injector"), QStringLiteral("tx-ring")}};
    d.insert(QStringLiteral("fastPath"), QJsonDocument::fromJson(fastPathJson).object());
    d.insert(QStringLiteral("thread"), QJsonObject{{QStringLiteral("captured"), 1200}, {QStringLiteral("injected"), 1100},
                                                   {QStringLiteral("injectErrors"), 2}, {QStringLiteral("kernelDropped"), 3},
                                                   {QStringLiteral("announcements"), 40}, {QStringLiteral("arpAnswered"), 5},
                                                   {QStringLiteral("arpIgnored"), 6}, {QStringLiteral("arpMalformed"), 1}});
    return d;
}
} // namespace

void TestHumanFormat::dispatcherFramesAndDrops_data()
{
    QTest::addColumn<QByteArray>("fastPath");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("frames line carries forwarded, local and the ICMP part")
        << QByteArray(R"({"framesIn":1200,"forwarded":1090,"deliveredLocal":10,"icmpForwarded":7,"dropped":{}})")
        << QStringList{QStringLiteral("1200 in, 1090 forwarded, 10 local (7 of them ICMP errors)"),
                       QStringLiteral("1200 captured, 1100 injected (2 errors), 3 kernel drops"),
                       QStringLiteral("injector tx-ring"), QStringLiteral("none"),
                       QStringLiteral("40 VMAC announcements sent, 5 requests for the VIP answered; 6 ARP frames ignored, 1 malformed")};
    QTest::newRow("nested drop reasons listed, zero ones left out")
        << QByteArray(R"({"framesIn":10,"forwarded":4,"deliveredLocal":0,"icmpForwarded":0,)"
                      R"("dropped":{"unknownFlow":3,"icmp":{"icmp-unhandled-type":2,"icmp-quote-not-vip":0},"malformed":{"truncated":1}}})")
        << QStringList{QStringLiteral("unknownFlow 3"), QStringLiteral("icmp-unhandled-type 2"), QStringLiteral("truncated 1")};
}

void TestHumanFormat::dispatcherFramesAndDrops()
{
    QFETCH(QByteArray, fastPath);
    QFETCH(QStringList, expected);
    const QString text = formatDispatcher(dispatcherStats(fastPath.constData()));
    for (const QString &e : expected)
        QVERIFY2(text.contains(e), qPrintable(QStringLiteral("missing '%1' in:\n%2").arg(e, text)));
    QVERIFY2(!text.contains(QStringLiteral("icmp-quote-not-vip")), qPrintable(text));
}

void TestHumanFormat::membersTable_data()
{
    QTest::addColumn<QJsonObject>("member");
    QTest::addColumn<QString>("expectedRow"); // the row's cells, single-space separated
    const QJsonObject base{{QStringLiteral("addr"), QStringLiteral("10.0.0.3")}, {QStringLiteral("name"), QStringLiteral("")},
                           {QStringLiteral("endpoint"), QStringLiteral("10.0.0.3:7400")}, {QStringLiteral("caps"), QStringLiteral("dispatch,serve")},
                           {QStringLiteral("role"), QStringLiteral("server")}, {QStringLiteral("health"), QStringLiteral("healthy")},
                           {QStringLiteral("activeConnections"), 7}, {QStringLiteral("cps"), 3}};
    QTest::newRow("an older sashad: no admin keys, dashes")
        << base << "10.0.0.3 - server healthy - - dispatch,serve 7 - 3 10.0.0.3:7400";
    QJsonObject unknown = base;
    unknown.insert(QStringLiteral("drained"), QJsonValue::Null);
    unknown.insert(QStringLiteral("weight"), QJsonValue::Null);
    unknown.insert(QStringLiteral("openFlows"), QJsonValue::Null);
    QTest::newRow("not known here: dashes") << unknown << "10.0.0.3 - server healthy - - dispatch,serve 7 - 3 10.0.0.3:7400";
    QJsonObject drained = base;
    drained.insert(QStringLiteral("health"), QStringLiteral("draining"));
    drained.insert(QStringLiteral("drained"), true);
    drained.insert(QStringLiteral("weight"), QJsonValue::Null);
    drained.insert(QStringLiteral("openFlows"), 9);
    QTest::newRow("drained, 9 open of which 7 not closing")
        << drained << "10.0.0.3 - server draining yes - dispatch,serve 7 9 3 10.0.0.3:7400";
    QJsonObject weighted = base;
    weighted.insert(QStringLiteral("drained"), false);
    weighted.insert(QStringLiteral("weight"), 0);
    weighted.insert(QStringLiteral("openFlows"), 7);
    QTest::newRow("weight 0, in service") << weighted << "10.0.0.3 - server healthy no 0 dispatch,serve 7 7 3 10.0.0.3:7400";
}

void TestHumanFormat::membersTable()
{
    QFETCH(QJsonObject, member);
    QFETCH(QString, expectedRow);
    const QString text = formatMembersTable({ControlMember::fromJson(member)});
    const QStringList lines = text.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 2);
    QCOMPARE(lines[0].simplified(), QStringLiteral("ADDRESS NAME ROLE HEALTH DRAINED WEIGHT CAPS ACTIVE OPEN CPS ENDPOINT"));
    QCOMPARE(lines[1].simplified(), expectedRow);
}

void TestHumanFormat::drainProgress_data()
{
    QTest::addColumn<int>("active"); // -1: no admin report (open flows unknown)
    QTest::addColumn<int>("open");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<bool>("drained");
    QTest::newRow("unknown") << 0 << -1 << "1.5 s: 10.0.0.3 flows not known yet (waiting for its report)" << false;
    QTest::newRow("one") << 1 << 1 << "1.5 s: 10.0.0.3 has 1 active flow" << false;
    QTest::newRow("many, some closing") << 12 << 15 << "1.5 s: 10.0.0.3 has 12 active flows (3 closing)" << false;
    QTest::newRow("only closing ones left: drained") << 0 << 4 << "1.5 s: 10.0.0.3 drained: 0 active flows (4 closing)" << true;
    QTest::newRow("done") << 0 << 0 << "1.5 s: 10.0.0.3 drained: 0 active flows" << true;
}

void TestHumanFormat::drainProgress()
{
    QFETCH(int, active);
    QFETCH(int, open);
    QFETCH(QString, expected);
    QFETCH(bool, drained);
    ControlMember m;
    m.addr = QStringLiteral("10.0.0.3");
    m.activeConnections = quint32(active);
    m.openFlows = open < 0 ? std::nullopt : std::optional<quint32>(quint32(open));
    const DrainProgress p = drainProgressOf({m}, QStringLiteral("10.0.0.3"));
    QCOMPARE(formatDrainProgress(QStringLiteral("10.0.0.3"), p, 1500), expected);
    QCOMPARE(p.drained(), drained);
    QVERIFY(!drainProgressOf({m}, QStringLiteral("10.0.0.4")).active);
}

// The plain status names the metrics endpoint and how late the ring's thread has been.
void TestHumanFormat::statusShowsRingThreadAndMetrics()
{
    ControlStatus s;
    s.node = QStringLiteral("10.77.0.1");
    s.state = QStringLiteral("member");
    s.transport = QJsonObject{{QStringLiteral("deliveryLagMaxMs"), 71.46}, {QStringLiteral("lateDeliveries"), 2}};
    s.metrics = QJsonObject{{QStringLiteral("listen"), QStringLiteral("127.0.0.1:9477")},
                            {QStringLiteral("scrapes"), 12}, {QStringLiteral("refused"), 0}};
    const QString out = formatStatus(s);
    QVERIFY2(out.contains(QStringLiteral("71.5 ms behind at worst, 2 time(s) 50 ms or more")), qPrintable(out));
    QVERIFY2(out.contains(QStringLiteral("http://127.0.0.1:9477/metrics (12 scrapes, 0 refused)")), qPrintable(out));
    s.metrics = {};
    QVERIFY(!formatStatus(s).contains(QStringLiteral("/metrics")));
}

// sashactl services: one row per service; NEW and CPS only where the node dispatches.
void TestHumanFormat::servicesTable()
{
    const QJsonArray services = QJsonDocument::fromJson(R"([
        {"vip": "10.77.0.200", "protocol": "tcp", "ports": ["80", "8000-8010"], "mode": "dr", "scheduler": "maglev",
         "persistenceS": 0, "legacy": false, "line": 9, "newFlows": 1032, "cps": 41,
         "weights": {"10.77.0.3": 0, "10.77.0.4": 5}},
        {"vip": "10.77.0.201", "protocol": "udp", "ports": ["53"], "mode": "dr", "scheduler": "rr",
         "persistenceS": 300, "legacy": true, "line": 0, "newFlows": 7, "cps": 0}])").array();
    ControlStatus s;
    s.services = services;
    s.dispatcherStats = QJsonObject{{QStringLiteral("running"), true}};
    const QString text = formatServices(s);
    const QStringList lines = text.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 3);
    QVERIFY2(lines[0].startsWith(QStringLiteral("VIP")) && lines[0].contains(QStringLiteral("PERSIST")), qPrintable(text));
    QVERIFY2(lines[0].contains(QStringLiteral("WEIGHTS")), qPrintable(text));
    // WEIGHTS: the service's own ([[service]] weights); "-": the cluster's (also for an older
    // sashad without the field).
    QCOMPARE(lines[1].simplified(), QStringLiteral("10.77.0.200 tcp 80,8000-8010 dr maglev - 10.77.0.3=0,10.77.0.4=5 1032 41 line 9"));
    QCOMPARE(lines[2].simplified(), QStringLiteral("10.77.0.201 udp 53 dr rr 300 s - 7 0 [dispatcher] vip/ports"));
    // Not dispatching: no counts, and a hint where to ask.
    QJsonArray uncounted;
    for (const QJsonValue &v : services) {
        QJsonObject o = v.toObject();
        o.remove(QStringLiteral("newFlows"));
        o.remove(QStringLiteral("cps"));
        uncounted.append(o);
    }
    ControlStatus other;
    other.services = uncounted;
    other.dispatcher = QStringLiteral("10.77.0.1");
    const QString elsewhere = formatServices(other);
    QVERIFY2(elsewhere.split(QLatin1Char('\n'))[1].simplified().endsWith(QStringLiteral("maglev - 10.77.0.3=0,10.77.0.4=5 - - line 9")), qPrintable(elsewhere));
    QVERIFY2(elsewhere.contains(QStringLiteral("sashactl services on 10.77.0.1")), qPrintable(elsewhere));
    QVERIFY(formatServices(ControlStatus{}).startsWith(QStringLiteral("no services")));
}

QTEST_GUILESS_MAIN(TestHumanFormat)
#include "tst_humanformat.moc"
