// sashad's FaultService on one real RingDriver (127.0.0.1, OS-chosen port), without dying:
// the process effects (crash, hang, the lab's link) are recorders, so the tests check what the
// service decides and asks for. Commands reach it the way they reach a daemon: through the
// OobRouter (to itself: delivered locally) or the control protocol's "fault" request.

#include "faultservice.h"
#include "oobrouter.h"
#include "transport/ringdriver.h"

#include <QHostAddress>
#include <QSignalSpy>
#include <QTest>
#include <QUdpSocket>

#include <memory>

using namespace sasha;

namespace {
constexpr quint32 kSelf = 0x7f000001; // 127.0.0.1

struct Recorder {
    int crashes = 0;
    QList<quint32> hangs;
    QList<bool> draining;
    QList<bool> paused;
    QStringList links; // "eth9 down", "eth9 up"
    std::optional<QString> linkUnusable = QStringLiteral("not in a lab namespace (test)");
};
} // namespace

class TestFaultService : public QObject {
    Q_OBJECT
private:
    NodeSettings m_settings;
    Recorder m_rec;
    std::unique_ptr<RingDriver> m_driver;
    std::unique_ptr<OobRouter> m_oob;
    std::unique_ptr<FaultService> m_service;

    void build(bool enabled)
    {
        m_settings = NodeSettings{};
        m_settings.address = kSelf;
        m_settings.port = 0;
        m_settings.name = QStringLiteral("unit");
        m_settings.interfaceName = QStringLiteral("eth9");
        m_settings.key = QByteArray(32, '\x42');
        m_settings.faultsEnabled = enabled;
        m_rec = Recorder{};
        m_service.reset();
        m_oob.reset();
        m_driver = std::make_unique<RingDriver>(m_settings.toNodeConfig(1));
        QVERIFY(!m_driver->start().has_value());
        m_oob = std::make_unique<OobRouter>(*m_driver, kSelf);
        FaultService::Effects e;
        e.crash = [this] { ++m_rec.crashes; };
        e.hang = [this](quint32 ms) -> std::optional<QString> { m_rec.hangs.append(ms); return std::nullopt; };
        e.setLink = [this](const QString &iface, bool up) -> std::optional<QString> {
            m_rec.links.append(iface + (up ? QStringLiteral(" up") : QStringLiteral(" down")));
            return std::nullopt;
        };
        e.linkUnusable = [this](const QString &) { return m_rec.linkUnusable; };
        e.setDraining = [this](bool on) { m_rec.draining.append(on); };
        e.pauseDataPath = [this](bool on) { m_rec.paused.append(on); };
        m_service = std::make_unique<FaultService>(m_settings, *m_driver, *m_oob, e);
    }

    // One "fault" control request to this node itself; the answer it got (empty on none).
    QJsonObject ask(FaultAction action, quint32 durationMs = 0, quint32 target = kSelf, bool onlyIfDispatcher = false)
    {
        ControlRequest r;
        r.command = ControlRequest::Command::Fault;
        r.faultTarget = target;
        r.faultAction = action;
        r.faultDurationMs = durationMs;
        r.faultOnlyIfDispatcher = onlyIfDispatcher;
        QJsonObject answer;
        int answers = 0;
        m_service->request(r, [&](const QJsonObject &o) {
            answer = o;
            ++answers;
        });
        for (int i = 0; i < 100 && answers == 0; ++i) // bounded: 2.5 s, beyond the reply timeout
            QTest::qWait(25);
        QTest::qWait(FaultService::kActDelayMs + 30); // the action follows the reply
        if (answers != 1)
            qWarning("answered %d times", answers);
        return answers == 1 ? answer : QJsonObject{};
    }

    static QString result(const QJsonObject &o) { return o.value(QStringLiteral("result")).toString(); }

private Q_SLOTS:
    void cleanup()
    {
        m_service.reset();
        m_oob.reset();
        m_driver.reset();
    }

    void disabledNodeAnswersDisabledAndDoesNothing_data()
    {
        QTest::addColumn<int>("action");
        QTest::addColumn<quint32>("durationMs");
        QTest::newRow("crash") << int(FaultAction::Crash) << 0u;
        QTest::newRow("hang 500 ms") << int(FaultAction::Hang) << 500u;
        QTest::newRow("unplug 500 ms") << int(FaultAction::Unplug) << 500u;
        QTest::newRow("drain") << int(FaultAction::Drain) << 0u;
    }
    void disabledNodeAnswersDisabledAndDoesNothing()
    {
        QFETCH(int, action);
        QFETCH(quint32, durationMs);
        build(false);
        const QJsonObject a = ask(FaultAction(action), durationMs);
        QCOMPARE(result(a), QStringLiteral("disabled"));
        QVERIFY2(a.value(QStringLiteral("message")).toString().contains(QStringLiteral("[faults] enabled = true")),
                 qPrintable(a.value(QStringLiteral("message")).toString()));
        QCOMPARE(m_rec.crashes, 0);
        QVERIFY(m_rec.hangs.isEmpty());
        QVERIFY(m_rec.draining.isEmpty());
        QVERIFY(!m_service->isUnplugged());
        QCOMPARE(m_service->accepted(), 0u);
    }

    void commandForAnotherNodeIsWrongTarget()
    {
        build(true);
        QSignalSpy replies(m_oob.get(), &OobRouter::received);
        FaultCommand c;
        c.action = FaultAction::Crash;
        c.commandId = 77;
        c.target = kSelf + 1; // a stale view: the address belongs to someone else now
        m_oob->send(kSelf, kFaultChannel, encodeFaultCommand(c), true);
        QTRY_COMPARE(replies.size(), 2); // the command, then the reply, both delivered locally
        const auto reply = decodeFaultReply(replies.at(1).at(2).toByteArray());
        QVERIFY(reply.has_value());
        QCOMPARE(reply->result, FaultResult::WrongTarget);
        QCOMPARE(reply->commandId, 77u);
        QVERIFY2(reply->message.contains(QStringLiteral("not 127.0.0.2")), qPrintable(reply->message));
        QTest::qWait(FaultService::kActDelayMs + 30);
        QCOMPARE(m_rec.crashes, 0);
    }

    void onlyIfDispatcherRefusedWhenNotDispatcher()
    {
        build(true); // just started: still joining, no role
        const QJsonObject a = ask(FaultAction::Crash, 0, kSelf, true);
        QCOMPARE(result(a), QStringLiteral("wrong-target"));
        QVERIFY2(a.value(QStringLiteral("message")).toString().startsWith(QStringLiteral("not the dispatcher")),
                 qPrintable(a.value(QStringLiteral("message")).toString()));
        QCOMPARE(m_rec.crashes, 0);
    }

    void unknownTargetIsAnErrorWithoutSending()
    {
        build(true);
        const quint64 sent = m_driver->node().counters().oobSent;
        ControlRequest r;
        r.command = ControlRequest::Command::Fault;
        r.faultTarget = kSelf + 5;
        r.faultAction = FaultAction::Crash;
        QJsonObject answer;
        m_service->request(r, [&](const QJsonObject &o) { answer = o; });
        QVERIFY2(answer.value(QStringLiteral("error")).toString().contains(QStringLiteral("127.0.0.6 is not a member")),
                 qPrintable(answer.value(QStringLiteral("error")).toString()));
        QCOMPARE(m_driver->node().counters().oobSent, sent);
    }

    void crashAndHangUseTheProcessEffects()
    {
        build(true);
        QCOMPARE(result(ask(FaultAction::Hang, 1234)), QStringLiteral("accepted"));
        QCOMPARE(m_rec.hangs, QList<quint32>{1234});
        QCOMPARE(m_rec.crashes, 0);
        QCOMPARE(result(ask(FaultAction::Crash)), QStringLiteral("accepted"));
        QCOMPARE(m_rec.crashes, 1);
        QCOMPARE(m_service->accepted(), 2u);
    }

    void drainWithdrawsDispatchAndRestoreGivesItBack()
    {
        build(true);
        QVERIFY(m_driver->node().config().caps & tb::kCanDispatch);
        QCOMPARE(result(ask(FaultAction::Drain)), QStringLiteral("accepted"));
        QVERIFY(m_service->isDraining());
        QCOMPARE(m_rec.draining, QList<bool>{true});
        QVERIFY(!(m_driver->node().config().caps & tb::kCanDispatch));
        QVERIFY(m_driver->node().config().caps & tb::kCanServe);
        QCOMPARE(result(ask(FaultAction::Restore)), QStringLiteral("accepted"));
        QVERIFY(!m_service->isDraining());
        QCOMPARE(m_rec.draining, (QList<bool>{true, false}));
        QCOMPARE(m_driver->node().config().caps, m_settings.caps);
        // Nothing left to undo: accepted, and it says so.
        const QJsonObject again = ask(FaultAction::Restore);
        QCOMPARE(again.value(QStringLiteral("message")).toString(), QStringLiteral("nothing to restore"));
        QCOMPARE(m_rec.draining.size(), 2);
    }

    void unplugDropsDatagramsUntilTheDurationEnds()
    {
        build(true);
        const QJsonObject a = ask(FaultAction::Unplug, 300);
        QCOMPARE(result(a), QStringLiteral("accepted"));
        QVERIFY2(a.value(QStringLiteral("message")).toString().contains(QStringLiteral("link untouched")),
                 qPrintable(a.value(QStringLiteral("message")).toString()));
        QVERIFY(m_service->isUnplugged());
        QVERIFY(m_driver->isUnplugged());
        QCOMPARE(m_rec.paused, QList<bool>{true});
        QVERIFY(m_rec.links.isEmpty()); // link unusable here: never touched
        const quint64 before = m_driver->node().counters().datagramsIn;
        QUdpSocket peer;
        QVERIFY(peer.bind(QHostAddress::LocalHost, 0));
        peer.writeDatagram(QByteArray("not a token"), QHostAddress(m_driver->localEndpoint().ip), m_driver->localEndpoint().port);
        QTRY_VERIFY(m_driver->unpluggedDrops() >= 1);
        QCOMPARE(m_driver->node().counters().datagramsIn, before);
        QTRY_VERIFY_WITH_TIMEOUT(!m_service->isUnplugged(), 1000);
        QVERIFY(!m_driver->isUnplugged());
        QCOMPARE(m_rec.paused, (QList<bool>{true, false}));
    }

    void unplugSetsTheLabLinkDownAndRestoreBringsItUp()
    {
        build(true);
        m_rec.linkUnusable.reset(); // as in a sasha-lab namespace with CAP_NET_ADMIN
        const QJsonObject a = ask(FaultAction::Unplug, 60000);
        QCOMPARE(result(a), QStringLiteral("accepted"));
        QVERIFY2(a.value(QStringLiteral("message")).toString().contains(QStringLiteral("eth9 down")),
                 qPrintable(a.value(QStringLiteral("message")).toString()));
        QCOMPARE(m_rec.links, QStringList{QStringLiteral("eth9 down")});
        // Restore reaches an unplugged node only locally (its own sashactl), as here.
        QCOMPARE(result(ask(FaultAction::Restore)), QStringLiteral("accepted"));
        QVERIFY(!m_service->isUnplugged());
        QCOMPARE(m_rec.links, (QStringList{QStringLiteral("eth9 down"), QStringLiteral("eth9 up")}));
    }

    void malformedCommandIsDroppedAndCounted_data()
    {
        QTest::addColumn<QByteArray>("payload");
        QTest::newRow("two bytes") << QByteArray("\x01\x01", 2);
        QTest::newRow("unknown type") << QByteArray(16, '\x01').replace(1, 1, "\x09");
        QTest::newRow("hang without duration") << encodeFaultCommand({FaultAction::Crash, 0, 1, kSelf, 0}).replace(2, 1, "\x02");
    }
    void malformedCommandIsDroppedAndCounted()
    {
        QFETCH(QByteArray, payload);
        build(true);
        QSignalSpy received(m_oob.get(), &OobRouter::received);
        m_oob->send(kSelf, kFaultChannel, payload, true);
        QTRY_COMPARE(received.size(), 1);
        QTest::qWait(FaultService::kActDelayMs + 30);
        QCOMPARE(received.size(), 1); // no reply
        QCOMPARE(m_service->malformed(), 1u);
        QCOMPARE(m_rec.crashes + int(m_rec.hangs.size()), 0);
    }
};

QTEST_GUILESS_MAIN(TestFaultService)
#include "tst_faultservice.moc"
