// Specification of sashad's /metrics page (docs/metrics.md): built from a status snapshot, every
// family has one HELP and one TYPE line before its samples, names follow the Prometheus
// conventions, the figures are the status's, dispatcher families appear only while
// dispatching; and the shipped Grafana dashboard and the docs' table name only metrics we export.

#include "metrics/metricsrender.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>
#include <QSet>
#include <QTest>

using namespace sasha;

namespace {

ControlMember member(const QString &addr, const QString &role, std::optional<bool> drained = {})
{
    ControlMember m;
    m.addr = addr;
    m.role = role;
    m.health = QStringLiteral("healthy");
    m.drained = drained;
    return m;
}

// A dispatcher of a 4-node ring (itself, 3 servers, one of them drained), after one failover.
MetricsInput dispatcherInput()
{
    MetricsInput in;
    in.version = QStringLiteral("1.2.3");
    ControlStatus &s = in.status;
    s.node = QStringLiteral("10.0.0.1");
    s.name = QStringLiteral("edge \"one\"\\a");
    s.state = QStringLiteral("member");
    s.role = QStringLiteral("dispatcher");
    s.ringEpoch = 7;
    s.viewVersion = 3;
    s.dispatcher = s.node;
    s.uptimeMs = 12500;
    s.members = {member(QStringLiteral("10.0.0.1"), QStringLiteral("dispatcher")),
                 member(QStringLiteral("10.0.0.2"), QStringLiteral("server")),
                 member(QStringLiteral("10.0.0.3"), QStringLiteral("server"), true),
                 member(QStringLiteral("10.0.0.4"), QStringLiteral("server"), false)};
    s.counters.purges = 2;
    s.counters.ringsFormed = 3;
    s.counters.dropped = {{QStringLiteral("bad-mac"), 5}, {QStringLiteral("replay"), 0}};
    s.admin = QJsonObject{{QStringLiteral("drained"), false}, {QStringLiteral("weight"), 3}};
    s.dispatch = QJsonObject{{QStringLiteral("capable"), true}};
    in.daemon.tokenTimeouts = 1;
    in.daemon.dispatcherStarts = 1;
    in.daemon.failover.observe(0.42);
    QJsonArray servers;
    for (int i = 2; i <= 4; ++i) {
        servers.append(QJsonObject{{QStringLiteral("addr"), QStringLiteral("10.0.0.%1").arg(i)},
                                   {QStringLiteral("newFlows"), 1000 * i},
                                   {QStringLiteral("cps"), 10 * i},
                                   {QStringLiteral("packets"), 9000 * i},
                                   {QStringLiteral("activeFlows"), i},
                                   {QStringLiteral("openFlows"), i + 1},
                                   {QStringLiteral("weight"), 1},
                                   {QStringLiteral("healthy"), i != 3},
                                   {QStringLiteral("departed"), false}});
    }
    const QJsonObject dropped{{QStringLiteral("noTable"), 1},
                              {QStringLiteral("notForVip"), 2},
                              {QStringLiteral("malformed"), QJsonObject{{QStringLiteral("truncated"), 3}}},
                              {QStringLiteral("bogus"), QJsonObject{{QStringLiteral("vlan-tagged"), 4},
                                                                    {QStringLiteral("bogus-source-vip"), 8}}},
                              {QStringLiteral("icmp"), QJsonObject{{QStringLiteral("icmp-truncated"), 9}}}};
    s.dispatcherStats = QJsonObject{
        {QStringLiteral("running"), true},
        {QStringLiteral("servers"), servers},
        {QStringLiteral("activeFlows"), 9},
        {QStringLiteral("openFlows"), 12},
        {QStringLiteral("maxFlows"), 1048576},
        {QStringLiteral("reconstruction"), QStringLiteral("complete")},
        {QStringLiteral("reconstructionMs"), 37},
        {QStringLiteral("fastPath"), QJsonObject{{QStringLiteral("forwarded"), 123456}, {QStringLiteral("dropped"), dropped}}},
        {QStringLiteral("thread"), QJsonObject{{QStringLiteral("captured"), 130000}, {QStringLiteral("injectErrors"), 6},
                                               {QStringLiteral("cpuMs"), 1500}, {QStringLiteral("arpAnswered"), 11},
                                               {QStringLiteral("arpIgnored"), 12}, {QStringLiteral("arpMalformed"), 13}}},
    };
    return in;
}

// "name{labels}" -> value, for every sample line.
QMap<QString, QString> samples(const QByteArray &text)
{
    QMap<QString, QString> out;
    for (const QByteArray &line : text.split('\n')) {
        if (line.isEmpty() || line.startsWith('#'))
            continue;
        const qsizetype sp = line.lastIndexOf(' ');
        out.insert(QString::fromUtf8(line.left(sp)), QString::fromUtf8(line.mid(sp + 1)));
    }
    return out;
}

QString sourceFile(const char *relative)
{
    return QStringLiteral(SASHA_SOURCE_DIR "/") + QLatin1String(relative);
}

} // namespace

class TestMetricsRender : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void everyFamilyHasHelpAndTypeOnceBeforeItsSamples()
    {
        const QByteArray text = renderMetrics(dispatcherInput());
        QSet<QString> typed;
        QString current;
        for (const QByteArray &raw : text.split('\n')) {
            const QString line = QString::fromUtf8(raw);
            if (line.isEmpty())
                continue;
            if (line.startsWith(QLatin1String("# HELP "))) {
                current = line.section(QLatin1Char(' '), 2, 2);
                QVERIFY2(!typed.contains(current), qPrintable(QStringLiteral("HELP twice: ") + current));
                QVERIFY2(line.section(QLatin1Char(' '), 3).size() > 3, qPrintable(QStringLiteral("no help text: ") + line));
                continue;
            }
            if (line.startsWith(QLatin1String("# TYPE "))) {
                QCOMPARE(line.section(QLatin1Char(' '), 2, 2), current);
                const QString type = line.section(QLatin1Char(' '), 3, 3);
                QVERIFY2(current.endsWith(QLatin1String("_total")) == (type == QLatin1String("counter")),
                         qPrintable(QStringLiteral("_total iff counter: ") + line));
                typed.insert(current);
                continue;
            }
            const QString name = line.section(QRegularExpression(QStringLiteral("[{ ]")), 0, 0);
            QVERIFY2(name.startsWith(QLatin1String("sasha_")), qPrintable(line));
            QVERIFY2(name == current || name == current + QLatin1String("_bucket") || name == current + QLatin1String("_sum")
                         || name == current + QLatin1String("_count"),
                     qPrintable(QStringLiteral("sample outside its family %1: %2").arg(current, line)));
        }
        QVERIFY(typed.size() > 40);
    }

    void figuresComeFromTheStatus()
    {
        const auto s = samples(renderMetrics(dispatcherInput()));
        const auto expect = [&](const char *series, const char *value) {
            QVERIFY2(s.contains(QLatin1String(series)), series);
            QCOMPARE(s.value(QLatin1String(series)), QLatin1String(value));
        };
        expect("sasha_build_info{version=\"1.2.3\"}", "1");
        expect("sasha_node_info{node=\"10.0.0.1\",name=\"edge \\\"one\\\"\\\\a\"}", "1");
        expect("sasha_node_state{state=\"member\"}", "1");
        expect("sasha_node_state{state=\"joining\"}", "0");
        expect("sasha_node_role{role=\"dispatcher\"}", "1");
        expect("sasha_ring_epoch", "7");
        expect("sasha_ring_members{role=\"server\"}", "3");
        expect("sasha_ring_members{role=\"dispatcher\"}", "1");
        expect("sasha_ring_purges_total", "2");
        expect("sasha_ring_formations_total", "3");
        expect("sasha_token_timeouts_total", "1");
        expect("sasha_ring_datagrams_dropped_total{reason=\"bad-mac\"}", "5");
        expect("sasha_failover_duration_seconds_bucket{le=\"0.3\"}", "0");
        expect("sasha_failover_duration_seconds_bucket{le=\"0.5\"}", "1");
        expect("sasha_failover_duration_seconds_count", "1");
        expect("sasha_node_operator_weight", "3");
        expect("sasha_dispatcher_running", "1");
        expect("sasha_server_connections_total{server=\"10.0.0.4\"}", "4000");
        expect("sasha_server_connections_per_second{server=\"10.0.0.2\"}", "20");
        expect("sasha_server_active_flows{server=\"10.0.0.3\"}", "3");
        expect("sasha_server_healthy{server=\"10.0.0.3\"}", "0");
        expect("sasha_server_drained{server=\"10.0.0.3\"}", "1");
        expect("sasha_server_drained{server=\"10.0.0.4\"}", "0");
        expect("sasha_dispatcher_frames_forwarded_total", "123456");
        expect("sasha_dispatcher_frames_dropped_total{reason=\"not-for-vip\"}", "2");
        expect("sasha_dispatcher_frames_dropped_total{reason=\"malformed-truncated\"}", "3");
        expect("sasha_dispatcher_frames_dropped_total{reason=\"bogus-vlan-tagged\"}", "4");
        expect("sasha_dispatcher_frames_dropped_total{reason=\"bogus-source-vip\"}", "8");
        expect("sasha_dispatcher_frames_dropped_total{reason=\"icmp-truncated\"}", "9");
        expect("sasha_dispatcher_inject_errors_total", "6");
        expect("sasha_dispatcher_arp_frames_total{result=\"answered\"}", "11");
        expect("sasha_dispatcher_arp_frames_total{result=\"ignored\"}", "12");
        expect("sasha_dispatcher_arp_frames_total{result=\"malformed\"}", "13");
        expect("sasha_dispatcher_thread_cpu_seconds_total", "1.5");
        expect("sasha_dispatcher_reconstruction_complete", "1");
        expect("sasha_dispatcher_reconstruction_duration_seconds", "0.037");
    }

    void dispatcherFamiliesOnlyWhileDispatching()
    {
        MetricsInput in = dispatcherInput();
        in.status.dispatcherStats = {};
        in.status.role = QStringLiteral("server");
        const QByteArray text = renderMetrics(in);
        const auto s = samples(text);
        QCOMPARE(s.value(QStringLiteral("sasha_dispatcher_running")), QStringLiteral("0"));
        QVERIFY(!text.contains("sasha_server_"));
        QVERIFY(!text.contains("sasha_dispatcher_frames"));
        QVERIFY(s.contains(QStringLiteral("sasha_ring_epoch")));
    }

    // Every metric the example dashboard queries is one we export (a renamed metric breaks it).
    void grafanaDashboardQueriesOnlyExportedMetrics()
    {
        QFile f(sourceFile("resources/grafana-sasha.json"));
        QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(f.fileName()));
        QJsonParseError err;
        const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &err);
        QVERIFY2(err.error == QJsonParseError::NoError, qPrintable(err.errorString()));
        QVERIFY(doc.isObject());
        std::vector<QString> exprs;
        const std::function<void(const QJsonValue &)> walk = [&](const QJsonValue &v) {
            if (v.isObject()) {
                const QJsonObject o = v.toObject();
                for (auto it = o.begin(); it != o.end(); ++it) {
                    if ((it.key() == QLatin1String("expr") || it.key() == QLatin1String("query")) && it.value().isString())
                        exprs.push_back(it.value().toString());
                    else
                        walk(it.value());
                }
            } else if (v.isArray()) {
                for (const QJsonValue &e : v.toArray())
                    walk(e);
            }
        };
        walk(doc.object());
        QVERIFY(exprs.size() >= 8);
        QSet<QString> exported;
        for (const QString &n : buildMetrics(dispatcherInput()).familyNames())
            exported.insert(n);
        const QRegularExpression name(QStringLiteral("\\bsasha_[a-z0-9_]+"));
        int names = 0;
        for (const QString &e : exprs) {
            for (auto it = name.globalMatch(e); it.hasNext();) {
                QString n = it.next().captured();
                for (const char *suffix : {"_bucket", "_sum", "_count"}) {
                    if (!exported.contains(n) && n.endsWith(QLatin1String(suffix)))
                        n.chop(qsizetype(qstrlen(suffix)));
                }
                ++names;
                QVERIFY2(exported.contains(n), qPrintable(QStringLiteral("%1 (in %2) is not exported").arg(n, e)));
            }
        }
        QVERIFY(names >= 8);
    }

    // docs/metrics.md has a row for every family.
    void docsListEveryFamily()
    {
        QFile f(sourceFile("docs/metrics.md"));
        QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(f.fileName()));
        const QString doc = QString::fromUtf8(f.readAll());
        for (const QString &n : buildMetrics(dispatcherInput()).familyNames())
            QVERIFY2(doc.contains(QStringLiteral("`%1`").arg(n)), qPrintable(n + QStringLiteral(" is not in docs/metrics.md")));
    }
};

QTEST_APPLESS_MAIN(TestMetricsRender)
#include "tst_metricsrender.moc"
