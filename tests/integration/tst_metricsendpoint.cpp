// Integration: the Prometheus endpoint of real sashad processes on loopback ([metrics] listen,
// docs/metrics.md). The page passes `promtool check metrics`, its key series match what
// `sashactl status` says before and after a node is killed, the HTTP edge cases answer as
// documented, and junk or slow clients at the endpoint cost the ring no purge.

#include "loopbackcluster.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonObject>
#include <QProcess>
#include <QStandardPaths>
#include <QTcpSocket>
#include <QTest>

#include <csignal>
#include <memory>

using namespace sasha::lab;

namespace {

// One raw request; what the server sent until it closed (or timeoutMs passed).
QByteArray http(const QString &hostPort, const QByteArray &raw, int timeoutMs = 3000)
{
    QTcpSocket s;
    s.connectToHost(hostPort.section(QLatin1Char(':'), 0, 0), quint16(hostPort.section(QLatin1Char(':'), 1).toUInt()));
    if (!s.waitForConnected(timeoutMs))
        return {};
    s.write(raw);
    QByteArray out;
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < timeoutMs && s.state() == QAbstractSocket::ConnectedState) {
        if (s.waitForReadyRead(50))
            out += s.readAll();
    }
    out += s.readAll();
    return out;
}

QByteArray body(const QByteArray &response)
{
    const qsizetype end = response.indexOf("\r\n\r\n");
    return end < 0 ? QByteArray() : response.mid(end + 4);
}

// "name{labels}" -> value of every sample line of a page.
QMap<QString, double> samples(const QByteArray &page)
{
    QMap<QString, double> out;
    for (const QByteArray &line : page.split('\n')) {
        if (line.isEmpty() || line.startsWith('#'))
            continue;
        const qsizetype sp = line.lastIndexOf(' ');
        out.insert(QString::fromUtf8(line.left(sp)), line.mid(sp + 1).toDouble());
    }
    return out;
}

} // namespace

class tst_MetricsEndpoint : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<LoopbackCluster> m_cluster;

    LoopbackCluster &startCluster(int n)
    {
        LoopbackCluster::Options o;
        o.nodes = n;
        o.sashad = QStringLiteral(SASHAD_PATH);
        o.sashactl = QStringLiteral(SASHACTL_PATH);
        o.keepLogs = true;
        // Every node on its own OS-chosen port; the status JSON tells which.
        o.extraToml = {QStringLiteral("[metrics]"), QStringLiteral("listen = \"127.0.0.1:0\"")};
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

    QString endpoint(int i) const
    {
        return m_cluster->status(i).value(QStringLiteral("metrics")).toObject().value(QStringLiteral("listen")).toString();
    }

    QByteArray scrape(int i) const
    {
        const QByteArray r = http(endpoint(i), "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
        return r.startsWith("HTTP/1.1 200 ") ? body(r) : QByteArray();
    }

    qint64 purges(int i) const
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

    void pageFollowsTheRingThroughAKill()
    {
        auto &c = startCluster(3);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(3), &why); }, 10000), qPrintable(why));
        for (int i = 0; i < 3; ++i)
            QVERIFY2(endpoint(i).startsWith(QLatin1String("127.0.0.1:")), qPrintable(endpoint(i)));
        QVERIFY(endpoint(0) != endpoint(1));

        auto s = samples(scrape(0));
        QCOMPARE(s.value(QStringLiteral("sasha_node_state{state=\"member\"}"), -1), 1.0);
        QCOMPARE(s.value(QStringLiteral("sasha_node_role{role=\"dispatcher\"}"), -1), 1.0); // lowest address
        QCOMPARE(s.value(QStringLiteral("sasha_ring_members{role=\"server\"}"), -1), 2.0);
        QCOMPARE(s.value(QStringLiteral("sasha_ring_members{role=\"dispatcher\"}"), -1), 1.0);
        const double epoch = s.value(QStringLiteral("sasha_ring_epoch"), -1);
        QCOMPARE(epoch, double(c.status(0).value(QStringLiteral("ringEpoch")).toInteger()));
        QVERIFY(epoch > 0);
        QVERIFY(s.value(QStringLiteral("sasha_ring_formations_total"), -1) >= 1);
        QVERIFY(s.value(QStringLiteral("sasha_tokens_relayed_total"), -1) > 0);
        QCOMPARE(s.value(QStringLiteral("sasha_dispatcher_running"), -1), 0.0); // no [dispatcher] on loopback
        const QString name = c.status(0).value(QStringLiteral("name")).toString();
        QCOMPARE(s.value(QStringLiteral("sasha_node_info{node=\"%1\",name=\"%2\"}").arg(c.address(0), name), -1), 1.0);
        QVERIFY(s.contains(QStringLiteral("sasha_ring_datagrams_dropped_total{reason=\"bad-mac\"}")));
        QVERIFY(s.contains(QStringLiteral("sasha_failover_duration_seconds_count")));

        // A server is killed: the ring purges, re-forms without it, and the page says so.
        c.signal(2, SIGKILL);
        QVERIFY(c.waitExit(2, 3000) != 0);
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs({0, 1}, &why); }, 5000), qPrintable(why));
        QVERIFY2(LoopbackCluster::waitUntil([&] {
                     s = samples(scrape(0));
                     return s.value(QStringLiteral("sasha_ring_members{role=\"server\"}"), -1) == 1.0;
                 }, 2000), "the page still shows the killed server");
        QVERIFY(s.value(QStringLiteral("sasha_ring_purges_total"), -1) >= 1);
        QCOMPARE(s.value(QStringLiteral("sasha_ring_purges_total")), double(purges(0)));
        QVERIFY(s.value(QStringLiteral("sasha_ring_epoch"), -1) != epoch);
        QVERIFY(s.value(QStringLiteral("sasha_ring_formations_total"), -1) >= 2);
        // The purge was declared by whoever missed the token first: a token timeout on a survivor.
        const double timeouts = s.value(QStringLiteral("sasha_token_timeouts_total"))
                              + samples(scrape(1)).value(QStringLiteral("sasha_token_timeouts_total"));
        QVERIFY2(timeouts >= 1, qPrintable(QString::number(timeouts)));
        QVERIFY(c.status(0).value(QStringLiteral("metrics")).toObject().value(QStringLiteral("scrapes")).toInteger() >= 3);
    }

    void promtoolAcceptsThePage()
    {
        const QString promtool = QStandardPaths::findExecutable(QStringLiteral("promtool"));
        if (promtool.isEmpty())
            QSKIP("promtool not found (Debian package prometheus; packaging/install-deps.sh full installs it)");
        auto &c = startCluster(2);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(2), &why); }, 10000), qPrintable(why));
        for (int i = 0; i < 2; ++i) {
            const QByteArray page = scrape(i);
            QVERIFY(!page.isEmpty());
            QProcess p;
            p.start(promtool, {QStringLiteral("check"), QStringLiteral("metrics")});
            QVERIFY(p.waitForStarted(5000));
            p.write(page);
            p.closeWriteChannel();
            QVERIFY(p.waitForFinished(10000));
            const QByteArray out = p.readAllStandardOutput() + p.readAllStandardError();
            QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, out.constData());
        }
    }

    void httpEdgesAnswerAsDocumented()
    {
        auto &c = startCluster(1);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(1), &why); }, 10000), qPrintable(why));
        const QString ep = endpoint(0);
        const QByteArray head = http(ep, "HEAD /metrics HTTP/1.0\r\n\r\n");
        QVERIFY2(head.startsWith("HTTP/1.1 200 OK\r\n"), head.constData());
        QVERIFY(head.contains("Content-Type: text/plain; version=0.0.4"));
        QVERIFY(body(head).isEmpty());
        QVERIFY(!head.contains("Content-Length: 0\r\n"));
        QVERIFY(http(ep, "GET /metrics?x=1 HTTP/1.1\r\n\r\n").contains("# TYPE sasha_ring_epoch gauge"));
        QVERIFY(http(ep, "GET / HTTP/1.1\r\n\r\n").startsWith("HTTP/1.1 404 "));
        QVERIFY(http(ep, "GET /metricsx HTTP/1.1\r\n\r\n").startsWith("HTTP/1.1 404 "));
        const QByteArray post = http(ep, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        QVERIFY(post.startsWith("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD"));
        QVERIFY(http(ep, "\x16\x03\x01 junk\r\n\r\n").startsWith("HTTP/1.1 400 "));
        QVERIFY(http(ep, QByteArray(20000, 'a')).startsWith("HTTP/1.1 431 "));
    }

    // Clients that connect and stay silent, trickle bytes or send junk, beyond the endpoint's
    // client limit, for longer than its per-client deadline: no purge anywhere, the daemon
    // answers its control socket, and the endpoint serves again once they are gone.
    void junkAndSlowClientsCostNoPurge()
    {
        auto &c = startCluster(3);
        QString why;
        QVERIFY2(LoopbackCluster::waitUntil([&] { return c.ringIs(range(3), &why); }, 10000), qPrintable(why));
        QTest::qWait(500);
        std::vector<qint64> before;
        for (int i = 0; i < 3; ++i)
            before.push_back(purges(i));
        const QString ep = endpoint(0);
        const QString host = ep.section(QLatin1Char(':'), 0, 0);
        const quint16 port = quint16(ep.section(QLatin1Char(':'), 1).toUInt());
        std::vector<std::unique_ptr<QTcpSocket>> clients;
        QElapsedTimer t;
        t.start();
        int round = 0;
        while (t.elapsed() < 6500) { // beyond the 5 s per-client deadline
            if (clients.size() < 60) {
                for (int k = 0; k < 10; ++k) {
                    auto s = std::make_unique<QTcpSocket>();
                    s->connectToHost(host, port);
                    clients.push_back(std::move(s));
                }
            }
            for (std::size_t k = 0; k < clients.size(); ++k) {
                QTcpSocket &s = *clients[k];
                if (s.state() != QAbstractSocket::ConnectedState)
                    continue;
                if (k % 3 == 0)
                    s.write("G"); // a trickle that never ends a request
                else if (k % 3 == 1)
                    s.write(QByteArray(512, char('\x01' + round % 200))); // binary junk
                s.flush();
            }
            ++round;
            QTest::qWait(100);
            QVERIFY2(!c.status(0, 1000).isEmpty(), "the daemon's control socket stopped answering");
        }
        const auto stillOpen = std::count_if(clients.begin(), clients.end(), [](const auto &s) {
            s->waitForReadyRead(0);
            return s->state() == QAbstractSocket::ConnectedState;
        });
        clients.clear();
        for (int i = 0; i < 3; ++i)
            QCOMPARE(purges(i), before[size_t(i)]);
        QVERIFY2(c.ringIs(range(3), &why), qPrintable(why));
        QVERIFY2(LoopbackCluster::waitUntil([&] { return !scrape(0).isEmpty(); }, 6000), "the endpoint did not serve again");
        QVERIFY(c.status(0).value(QStringLiteral("metrics")).toObject().value(QStringLiteral("refused")).toInteger() > 0);
        qInfo("%lld of the junk clients were still connected at the end (the oldest are closed after 5 s)",
              static_cast<long long>(stillOpen));
    }
};

QTEST_GUILESS_MAIN(tst_MetricsEndpoint)
#include "tst_metricsendpoint.moc"
