// The agent's two Qt adapters end to end, in one process, without TokenBeat: a
// ReconstructionRunner (dispatcher side) queries a ConnectionReporter (agent side) that dumps
// real connections on 127.0.0.1; a second server never answers and is given up. The
// "network" is a queued call, so the exchange runs on the event loop like the real one.

#include "agent/connectionreporter.h"
#include "agent/reconstructionrunner.h"

#include <QHostAddress>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <chrono>

using namespace sasha;

namespace {

tb::Time monotonicNow()
{
    return std::chrono::duration_cast<tb::Time>(std::chrono::steady_clock::now().time_since_epoch());
}

constexpr tb::NodeAddr kDispatcher = 1, kAgent = 101, kSilent = 102;

} // namespace

class TestAgentService : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void dispatcherRebuildsFromAgent();
    void malformedQueryIsCountedNotAnswered();
    void otherChannelsIgnored();
    void retryWaitingBehindADumpIsMerged();
};

void TestAgentService::initTestCase()
{
    qRegisterMetaType<sasha::tb::NodeAddr>("sasha::tb::NodeAddr");
}

void TestAgentService::dispatcherRebuildsFromAgent()
{
    QTcpServer service;
    QVERIFY(service.listen(QHostAddress::LocalHost, 0));
    std::vector<std::unique_ptr<QTcpSocket>> clients;
    std::vector<quint16> expectedPorts;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<QTcpSocket>());
        clients.back()->connectToHost(QHostAddress::LocalHost, service.serverPort());
        QVERIFY(clients.back()->waitForConnected(5000));
        expectedPorts.push_back(clients.back()->localPort());
    }
    std::sort(expectedPorts.begin(), expectedPorts.end());

    ReconstructionRunner *runnerPtr = nullptr;
    ConnectionReporter reporter(ConnectionDumper(), [&](tb::NodeAddr to, quint8 channel, const QByteArray &p) {
        QCOMPARE(to, kDispatcher);
        QMetaObject::invokeMethod(runnerPtr, [=] { runnerPtr->onOob(kAgent, channel, p); }, Qt::QueuedConnection);
    });
    reporter.setSelf(kAgent);
    std::vector<ReconstructionCoordinator::Flow> sunk;
    int queriesToSilent = 0;
    ReconstructionRunner runner(
        ReconstructionConfig{std::chrono::milliseconds(50), 2, std::chrono::seconds(5)},
        [&](tb::NodeAddr to, quint8 channel, const QByteArray &p) {
            if (to == kSilent) {
                ++queriesToSilent;
                return;
            }
            QMetaObject::invokeMethod(&reporter, [=, &reporter] { reporter.onOob(kDispatcher, channel, p); },
                                      Qt::QueuedConnection);
        },
        [&](const std::vector<ReconstructionCoordinator::Flow> &flows) { sunk.insert(sunk.end(), flows.begin(), flows.end()); },
        monotonicNow);
    runnerPtr = &runner;
    QSignalSpy completed(&runner, &ReconstructionRunner::completed);
    QSignalSpy answered(&reporter, &ConnectionReporter::answered);
    QSignalSpy events(&runner, &ReconstructionRunner::eventOccurred);

    runner.start(QHostAddress(QStringLiteral("127.0.0.1")).toIPv4Address(), {service.serverPort()}, {kAgent, kSilent});
    QTRY_COMPARE_WITH_TIMEOUT(completed.size(), 1, 10000);

    QCOMPARE(answered.size(), 1);
    QCOMPARE(answered.at(0).at(2).toInt(), 3);
    QCOMPARE(completed.at(0).at(0).toULongLong(), 3u); // flows
    QCOMPARE(completed.at(0).at(1).toUInt(), 1u);      // answered
    QCOMPARE(completed.at(0).at(2).toUInt(), 1u);      // missing: the silent one, given up
    QCOMPARE(queriesToSilent, 2);
    QVERIFY(events.size() >= 4); // started, answered, retried, gave up, completed
    std::vector<quint16> ports;
    for (const auto &f : sunk) {
        QCOMPARE(f.server, kAgent);
        QCOMPARE(f.vport, service.serverPort());
        ports.push_back(f.clientPort);
    }
    std::sort(ports.begin(), ports.end());
    QCOMPARE(ports, expectedPorts);
    QCOMPARE(reporter.queriesAnswered(), 1u);
}

void TestAgentService::malformedQueryIsCountedNotAnswered()
{
    int sent = 0;
    ConnectionReporter reporter(ConnectionDumper(), [&](tb::NodeAddr, quint8, const QByteArray &) { ++sent; });
    QSignalSpy failed(&reporter, &ConnectionReporter::queryFailed);
    reporter.onOob(kDispatcher, kConnQueryChannel, QByteArray("\x01\x01garbage", 9));
    QCOMPARE(failed.size(), 1);
    QVERIFY(!failed.at(0).at(1).toString().isEmpty());
    QCOMPARE(sent, 0);
    QCOMPARE(reporter.queriesRejected(), 1u);
}

// A dispatcher's retries that arrive while a dump runs: the one still waiting is replaced by the
// newest (answered with the newest id), so three queries cost two dumps; another dispatcher's
// identical query is not merged with them.
void TestAgentService::retryWaitingBehindADumpIsMerged()
{
    ConnectionReporter reporter(ConnectionDumper(), [](tb::NodeAddr, quint8, const QByteArray &) {});
    reporter.setSelf(kAgent);
    QSignalSpy answered(&reporter, &ConnectionReporter::answered);
    const quint32 vip = QHostAddress(QStringLiteral("127.0.0.1")).toIPv4Address();
    // No event loop between them: the first dump is still running, and answers the retries of the
    // same dispatcher too (its reconstruction takes an answer to any of its queries).
    reporter.onOob(kDispatcher, kConnQueryChannel, encodeConnQuery(ConnQuery{1, vip, {80}}));
    reporter.onOob(kSilent, kConnQueryChannel, encodeConnQuery(ConnQuery{7, vip, {80}}));
    for (quint32 id = 2; id <= 3; ++id)
        reporter.onOob(kDispatcher, kConnQueryChannel, encodeConnQuery(ConnQuery{id, vip, {80}}));
    reporter.onOob(kSilent, kConnQueryChannel, encodeConnQuery(ConnQuery{8, vip, {80}})); // replaces 7, waiting
    QTRY_COMPARE_WITH_TIMEOUT(answered.size(), 2, 10000);
    QCOMPARE(answered.at(0).at(1).toUInt(), 1u);
    QCOMPARE(answered.at(0).at(0).value<tb::NodeAddr>(), kDispatcher);
    QCOMPARE(answered.at(1).at(1).toUInt(), 8u);
    QCOMPARE(answered.at(1).at(0).value<tb::NodeAddr>(), kSilent);
    QCOMPARE(reporter.queriesCoalesced(), 3u);
    // Once that dump is done, a query gets a dump of its own.
    reporter.onOob(kDispatcher, kConnQueryChannel, encodeConnQuery(ConnQuery{4, vip, {80}}));
    QTRY_COMPARE_WITH_TIMEOUT(answered.size(), 3, 10000);
    QCOMPARE(answered.at(2).at(1).toUInt(), 4u);
    QCOMPARE(reporter.queriesAnswered(), 3u);
}

void TestAgentService::otherChannelsIgnored()
{
    int sent = 0;
    ConnectionReporter reporter(ConnectionDumper(), [&](tb::NodeAddr, quint8, const QByteArray &) { ++sent; });
    QSignalSpy failed(&reporter, &ConnectionReporter::queryFailed);
    reporter.onOob(kDispatcher, kConnReportChannel, QByteArray("whatever"));
    reporter.onOob(kDispatcher, 0xF0, QByteArray("whatever"));
    QCOMPARE(failed.size(), 0);
    QCOMPARE(sent, 0);
}

QTEST_GUILESS_MAIN(TestAgentService)
#include "tst_agentservice.moc"
