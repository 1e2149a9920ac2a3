// DepartedServers: a server that left the ring is kept (its flows still forwarded) until the
// dispatcher's own probe of its service fails `fall` times, or it has had no active flow for
// kDrainedMs; it is forgotten when it rejoins. The probe is the [health] check aimed at the
// server's address; here the "server" is an HTTP listener of this process on 127.0.0.1.

#include "departedservers.h"

#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

using namespace sasha;
using sasha::tb::Health;

namespace {

constexpr tb::NodeAddr kLocalhost = 0x7f000001; // 127.0.0.1: where the test's web server listens
constexpr tb::NodeAddr kOther = 0x0a4d0003;     // 10.77.0.3: never probed (no probe factory)

// Answers every GET with 200 until closed.
class OkServer : public QObject {
public:
    OkServer()
    {
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *s = m_server.nextPendingConnection()) {
                s->setParent(this);
                connect(s, &QTcpSocket::readyRead, s, [s] {
                    if (!s->readAll().contains("\r\n\r\n"))
                        return;
                    s->write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                    s->disconnectFromHost();
                });
            }
        });
    }
    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    quint16 port() const { return m_server.serverPort(); }
    void close() { m_server.close(); }

private:
    QTcpServer m_server;
};

HealthCheckConfig fastCheck(quint16 port)
{
    HealthCheckConfig c;
    c.url = QUrl(QStringLiteral("http://127.0.0.1:%1/health").arg(port));
    c.intervalMs = 30;
    c.timeoutMs = 200;
    c.rise = 1;
    c.fall = 2;
    return c;
}

} // namespace

class TestDepartedServers : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void probeTargetsTheServerAddress_data();
    void probeTargetsTheServerAddress();
    void keptWhileTheProbeSucceedsDeadWhenItFails();
    void drainedAfterNoActiveFlowForTheGrace();
    void rejoiningServerIsForgotten();
};

void TestDepartedServers::probeTargetsTheServerAddress_data()
{
    QTest::addColumn<QString>("local");
    QTest::addColumn<quint32>("server");
    QTest::addColumn<QString>("expected");
    QTest::newRow("agent's default check") << "http://127.0.0.1:80/health" << quint32(0x0a4d0003)
                                           << "http://10.77.0.3:80/health";
    QTest::newRow("port and path kept") << "http://localhost:8080/status?full=1" << quint32(0xc0a80102)
                                        << "http://192.168.1.2:8080/status?full=1";
}

void TestDepartedServers::probeTargetsTheServerAddress()
{
    QFETCH(QString, local);
    QFETCH(quint32, server);
    QFETCH(QString, expected);
    HealthCheckConfig c;
    c.url = QUrl(local);
    c.fall = 7;
    const HealthCheckConfig probe = DepartedServers::probeConfigFor(c, server);
    QCOMPARE(probe.url.toString(), expected);
    QCOMPARE(probe.fall, 7);
}

void TestDepartedServers::keptWhileTheProbeSucceedsDeadWhenItFails()
{
    OkServer web;
    QVERIFY(web.listen());
    const HealthCheckConfig check = fastCheck(web.port());
    DepartedServers departed([check](tb::NodeAddr server) {
        return std::make_unique<HealthChecker>(DepartedServers::probeConfigFor(check, server));
    });
    QSignalSpy dead(&departed, &DepartedServers::serverDead);
    departed.add(kLocalhost, 3, MacAddress{2, 0, 0, 0, 0, 3}, 1000);
    QVERIFY(departed.contains(kLocalhost));
    QCOMPARE(departed.servers().at(kLocalhost).slot, std::uint16_t(3));
    QTRY_COMPARE_WITH_TIMEOUT(departed.probeHealth(kLocalhost), Health::Healthy, 3000);
    QTest::qWait(150); // several more checks, all answered: still kept
    QVERIFY(departed.contains(kLocalhost));
    QCOMPARE(dead.count(), 0);

    const quint16 port = web.port();
    web.close(); // the web server is gone: connections refused
    QTRY_COMPARE_WITH_TIMEOUT(dead.count(), 1, 3000);
    QCOMPARE(dead.at(0).at(0).value<tb::NodeAddr>(), kLocalhost);
    QVERIFY(dead.at(0).at(1).toString().contains(QStringLiteral("127.0.0.1:%1").arg(port)));
    QVERIFY(!departed.contains(kLocalhost));
    QCOMPARE(departed.probeHealth(kLocalhost), Health::Unknown);
}

void TestDepartedServers::drainedAfterNoActiveFlowForTheGrace()
{
    DepartedServers departed({}); // health checks off: only the flows decide
    QSignalSpy drained(&departed, &DepartedServers::serverDrained);
    departed.add(kOther, 5, MacAddress{}, 0);
    departed.add(kOther, 9, MacAddress{}, 10); // already known: nothing changes
    QCOMPARE(departed.servers().at(kOther).slot, std::uint16_t(5));
    std::uint32_t active = 2;
    auto flows = [&active](std::uint16_t slot) { return slot == 5 ? active : 0u; };
    departed.tick(1000, flows);
    active = 0;
    departed.tick(2000, flows); // idle from here
    departed.tick(2000 + DepartedServers::kDrainedMs - 1, flows);
    QCOMPARE(drained.count(), 0);
    active = 1; // a flow woke up: the grace starts again
    departed.tick(2000 + DepartedServers::kDrainedMs, flows);
    active = 0;
    departed.tick(6000, flows);
    departed.tick(6000 + DepartedServers::kDrainedMs - 1, flows);
    QCOMPARE(drained.count(), 0);
    QVERIFY(departed.contains(kOther));
    departed.tick(6000 + DepartedServers::kDrainedMs, flows);
    QCOMPARE(drained.count(), 1);
    QCOMPARE(drained.at(0).at(0).value<tb::NodeAddr>(), kOther);
    QVERIFY(departed.empty());
}

void TestDepartedServers::rejoiningServerIsForgotten()
{
    DepartedServers departed({});
    QSignalSpy dead(&departed, &DepartedServers::serverDead);
    QSignalSpy drained(&departed, &DepartedServers::serverDrained);
    departed.add(kOther, 1, MacAddress{}, 0);
    departed.forget(kOther);
    QVERIFY(departed.empty());
    departed.tick(100000, [](std::uint16_t) { return 0u; });
    QCOMPARE(drained.count(), 0);
    QCOMPARE(dead.count(), 0);
}

QTEST_MAIN(TestDepartedServers)
#include "tst_departedservers.moc"
