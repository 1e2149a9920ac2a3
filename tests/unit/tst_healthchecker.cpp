// HealthChecker against a scripted HTTP server in this process (127.0.0.1, OS-chosen port):
// the health changes only after `rise` successes or `fall` failures in a row, 2xx only is a
// success, and timeouts, closed connections and refused connections are failures.

#include "agent/healthchecker.h"

#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

using namespace sasha;
using sasha::tb::Health;

namespace {

constexpr int kHang = 0;   // accept, read, never answer (the checker's timeout fires)
constexpr int kCut = -1;   // headers promise 100 bytes, 2 arrive, then the connection closes

// Answers the n-th request with script[n] (HTTP status, or kHang / kCut); hangs past the end.
class ScriptedServer : public QObject {
public:
    explicit ScriptedServer(QList<int> script) : m_script(std::move(script))
    {
        connect(&m_server, &QTcpServer::newConnection, this, &ScriptedServer::onConnection);
    }
    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    quint16 port() const { return m_server.serverPort(); }
    int requests() const { return m_requests; }

private:
    void onConnection()
    {
        while (QTcpSocket *s = m_server.nextPendingConnection()) {
            s->setParent(this);
            connect(s, &QTcpSocket::readyRead, this, [this, s] { onReadable(s); });
        }
    }
    void onReadable(QTcpSocket *s)
    {
        QByteArray &buffer = m_buffers[s];
        buffer += s->readAll();
        while (buffer.contains("\r\n\r\n")) { // one request (GET: no body)
            buffer.remove(0, buffer.indexOf("\r\n\r\n") + 4);
            const int action = m_requests < m_script.size() ? m_script[m_requests] : kHang;
            ++m_requests;
            if (action == kHang)
                return;
            if (action == kCut) {
                s->write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok");
                s->disconnectFromHost();
                return;
            }
            s->write(QStringLiteral("HTTP/1.1 %1 Scripted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                         .arg(action).toLatin1());
            s->disconnectFromHost();
            return;
        }
    }

    QTcpServer m_server;
    QList<int> m_script;
    QHash<QTcpSocket *, QByteArray> m_buffers;
    int m_requests = 0;
};

struct Transition {
    int afterCheck;
    Health health;
};

} // namespace

Q_DECLARE_METATYPE(QList<Transition>)

class TestHealthChecker : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void transitions_data();
    void transitions();
    void refusedIsFailure();
    void stopAbortsQuietly();
};

void TestHealthChecker::initTestCase()
{
    qRegisterMetaType<sasha::tb::Health>("sasha::tb::Health");
}

void TestHealthChecker::transitions_data()
{
    QTest::addColumn<QList<int>>("script");
    QTest::addColumn<int>("rise");
    QTest::addColumn<int>("fall");
    QTest::addColumn<QList<Transition>>("expected");
    QTest::newRow("200 then 500 then 200 with rise 2 fall 3")
        << QList<int>{200, 200, 200, 500, 500, 500, 500, 200, 200} << 2 << 3
        << QList<Transition>{{2, Health::Healthy}, {6, Health::Unhealthy}, {9, Health::Healthy}};
    QTest::newRow("fewer failures in a row than fall stay healthy")
        << QList<int>{200, 200, 500, 500, 200, 500, 500} << 2 << 3 << QList<Transition>{{2, Health::Healthy}};
    QTest::newRow("one success between failures resets the fall count")
        << QList<int>{500, 500, 200, 500, 500, 500} << 2 << 3 << QList<Transition>{{6, Health::Unhealthy}};
    QTest::newRow("one success between failures does not rise")
        << QList<int>{500, 500, 500, 200, 500, 204, 200} << 2 << 3
        << QList<Transition>{{3, Health::Unhealthy}, {7, Health::Healthy}};
    QTest::newRow("rise 1 fall 1 follows every check")
        << QList<int>{200, 500, 201, 503} << 1 << 1
        << QList<Transition>{{1, Health::Healthy}, {2, Health::Unhealthy}, {3, Health::Healthy}, {4, Health::Unhealthy}};
    QTest::newRow("3xx and 4xx are failures")
        << QList<int>{302, 404, 301} << 1 << 3 << QList<Transition>{{3, Health::Unhealthy}};
    QTest::newRow("no answer within the timeout is a failure")
        << QList<int>{kHang, kHang, 200, 200} << 2 << 2
        << QList<Transition>{{2, Health::Unhealthy}, {4, Health::Healthy}};
    QTest::newRow("an answer cut short is a failure, even with status 200")
        << QList<int>{kCut, kCut, 200} << 1 << 2
        << QList<Transition>{{2, Health::Unhealthy}, {3, Health::Healthy}};
}

void TestHealthChecker::transitions()
{
    QFETCH(QList<int>, script);
    QFETCH(int, rise);
    QFETCH(int, fall);
    QFETCH(QList<Transition>, expected);

    ScriptedServer server(script);
    QVERIFY(server.listen());
    HealthCheckConfig config;
    config.url = QUrl(QStringLiteral("http://127.0.0.1:%1/health").arg(server.port()));
    config.intervalMs = 10;
    config.timeoutMs = 300;
    config.rise = rise;
    config.fall = fall;
    HealthChecker checker(config);
    QList<Transition> seen;
    QList<bool> results;
    connect(&checker, &HealthChecker::checkFinished, this,
            [&](bool ok, int, const QString &error, qint64) {
                results << ok;
                QCOMPARE(error.isEmpty(), ok);
                if (results.size() == script.size())
                    checker.stop(); // the script is over: no verdict past it
            });
    connect(&checker, &HealthChecker::healthChanged, this,
            [&](Health h) { seen << Transition{int(checker.checks()), h}; });
    QCOMPARE(checker.health(), Health::Unknown);
    checker.start();
    QTRY_VERIFY_WITH_TIMEOUT(!checker.isRunning(), 20000);
    QTest::qWait(30); // nothing more happens once stopped

    QCOMPARE(checker.checks(), quint64(script.size()));
    QCOMPARE(server.requests(), script.size());
    for (qsizetype i = 0; i < script.size(); ++i)
        QCOMPARE(results[i], script[i] >= 200 && script[i] < 300);
    QCOMPARE(seen.size(), expected.size());
    for (qsizetype i = 0; i < expected.size(); ++i) {
        QCOMPARE(seen[i].afterCheck, expected[i].afterCheck);
        QCOMPARE(seen[i].health, expected[i].health);
    }
    QCOMPARE(checker.health(), expected.isEmpty() ? Health::Unknown : expected.last().health);
}

void TestHealthChecker::refusedIsFailure()
{
    quint16 port = 0;
    {
        QTcpServer gone;
        QVERIFY(gone.listen(QHostAddress::LocalHost, 0));
        port = gone.serverPort();
    } // closed: connections to it are refused
    HealthCheckConfig config;
    config.url = QUrl(QStringLiteral("http://127.0.0.1:%1/").arg(port));
    config.intervalMs = 10;
    config.fall = 2;
    HealthChecker checker(config);
    QSignalSpy changed(&checker, &HealthChecker::healthChanged);
    QSignalSpy finished(&checker, &HealthChecker::checkFinished);
    quint64 checksAtChange = 0;
    connect(&checker, &HealthChecker::healthChanged, this, [&] {
        checksAtChange = checker.checks();
        checker.stop();
    });
    checker.start();
    QTRY_COMPARE_WITH_TIMEOUT(changed.size(), 1, 10000);
    QCOMPARE(changed.at(0).at(0).value<Health>(), Health::Unhealthy);
    QCOMPARE(checksAtChange, 2u);
    QCOMPARE(finished.at(0).at(1).toInt(), 0); // no HTTP status
    QVERIFY(!finished.at(0).at(2).toString().isEmpty());
}

void TestHealthChecker::stopAbortsQuietly()
{
    ScriptedServer server({kHang});
    QVERIFY(server.listen());
    HealthCheckConfig config;
    config.url = QUrl(QStringLiteral("http://127.0.0.1:%1/").arg(server.port()));
    config.timeoutMs = 5000;
    HealthChecker checker(config);
    QSignalSpy finished(&checker, &HealthChecker::checkFinished);
    checker.start();
    QTRY_COMPARE_WITH_TIMEOUT(server.requests(), 1, 10000);
    QVERIFY(checker.isRunning());
    checker.stop();
    QVERIFY(!checker.isRunning());
    QTest::qWait(50);
    QCOMPARE(finished.size(), 0); // an aborted check is not a verdict
    QCOMPARE(checker.health(), Health::Unknown);
}

QTEST_GUILESS_MAIN(TestHealthChecker)
#include "tst_healthchecker.moc"
