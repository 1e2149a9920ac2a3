// sashad's AdminService (daemon/sashad/adminservice.h) with its I/O injected: two or three
// services joined by a fake network that delivers each out-of-band message on the next event-loop
// turn (or drops it), a fixed ring view, recorders for the agent's drain and the dispatcher's
// operator weights, and a state file in a temporary directory. No ring, no sockets.

#include "adminservice.h"

#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <map>
#include <memory>

using namespace sasha;

namespace {
constexpr quint32 kA = 0x0a000001; // 10.0.0.1, the view's dispatcher
constexpr quint32 kB = 0x0a000002; // 10.0.0.2
constexpr quint32 kC = 0x0a000003; // 10.0.0.3

struct Sent {
    tb::NodeAddr from, to;
    quint8 channel;
    QByteArray payload;
};

struct Node {
    NodeSettings settings;
    std::unique_ptr<AdminService> service;
    QList<bool> draining;                           // setDraining calls
    std::map<tb::NodeAddr, quint32> weights;        // setOperatorWeight, latest per server
    quint32 openFlows = 0;
};
} // namespace

class TestAdminService : public QObject {
    Q_OBJECT
private:
    std::unique_ptr<QTemporaryDir> m_dir;
    std::map<tb::NodeAddr, std::unique_ptr<Node>> m_nodes;
    QList<Sent> m_sent;
    tb::RingView m_view;
    bool m_deliver = true;
    qint64 m_nowMs = 1000;

    Node &add(tb::NodeAddr addr, const QString &stateFile = {})
    {
        auto n = std::make_unique<Node>();
        n->settings.address = addr;
        n->settings.name = QStringLiteral("node%1").arg(addr & 0xff);
        n->settings.faultsEnabled = false; // admin commands never need fault injection
        n->settings.stateFile = stateFile.isEmpty() ? m_dir->filePath(QStringLiteral("%1/state.json").arg(addr & 0xff)) : stateFile;
        Node *raw = n.get();
        AdminService::Io io;
        io.send = [this, addr](tb::NodeAddr to, quint8 channel, const QByteArray &payload, bool) {
            m_sent.append({addr, to, channel, payload});
            if (!m_deliver)
                return;
            QTimer::singleShot(0, this, [this, addr, to, channel, payload] {
                const auto it = m_nodes.find(to);
                if (it != m_nodes.end())
                    it->second->service->onOob(addr, channel, payload);
            });
        };
        io.view = [this] { return m_view; };
        io.setDraining = [raw](bool on) { raw->draining.append(on); };
        io.setOperatorWeight = [raw](tb::NodeAddr server, quint32 w) { raw->weights[server] = w; };
        io.clearOperatorWeight = [raw](tb::NodeAddr server) { raw->weights.erase(server); };
        io.openFlows = [raw] { return raw->openFlows; };
        io.nowMs = [this] { return m_nowMs; };
        n->service = std::make_unique<AdminService>(n->settings, io);
        Node &ref = *n;
        m_nodes[addr] = std::move(n);
        return ref;
    }

    static tb::Member member(tb::NodeAddr a)
    {
        tb::Member m;
        m.addr = a;
        m.caps = tb::kCanDispatch | tb::kCanServe;
        return m;
    }

    // One request through node `via`; the answer it got (empty when none within 3 s).
    QJsonObject ask(tb::NodeAddr via, ControlRequest::Command cmd, tb::NodeAddr target, quint32 weight = 0)
    {
        ControlRequest r;
        r.command = cmd;
        r.adminTarget = target;
        r.adminWeight = weight;
        QJsonObject answer;
        int answers = 0;
        m_nodes.at(via)->service->request(r, [&](const QJsonObject &o) {
            answer = o;
            ++answers;
        });
        for (int i = 0; i < 300 && answers == 0; ++i) // bounded: 3 s, beyond the reply timeout
            QTest::qWait(10);
        QTest::qWait(10); // a second answer would come now
        if (answers != 1)
            qWarning("answered %d times", answers);
        return answers == 1 ? answer : QJsonObject{};
    }

    QList<Sent> sentOn(quint8 channel) const
    {
        QList<Sent> out;
        for (const Sent &s : m_sent)
            if (s.channel == channel)
                out.append(s);
        return out;
    }

    static QString result(const QJsonObject &o) { return o.value(QStringLiteral("result")).toString(); }
    static QString message(const QJsonObject &o) { return o.value(QStringLiteral("message")).toString(); }

private Q_SLOTS:
    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        m_nodes.clear();
        m_sent.clear();
        m_deliver = true;
        m_view = tb::RingView{};
        m_view.ringEpoch = 1;
        m_view.members = {member(kA), member(kB)};
        m_view.master = kA;
        m_view.dispatcher = kA;
    }

    void acceptedWithFaultsDisabled_data()
    {
        QTest::addColumn<int>("command");
        QTest::addColumn<quint32>("weight");
        QTest::addColumn<bool>("remote");
        QTest::addColumn<bool>("drained");
        QTest::addColumn<int>("expectWeight"); // -1: none set
        using C = ControlRequest::Command;
        QTest::newRow("drain itself") << int(C::Drain) << 0u << false << true << -1;
        QTest::newRow("drain another node") << int(C::Drain) << 0u << true << true << -1;
        QTest::newRow("undrain another node") << int(C::Undrain) << 0u << true << false << -1;
        QTest::newRow("weight 0 on another node") << int(C::Weight) << 0u << true << false << 0;
        QTest::newRow("weight 65535 on itself") << int(C::Weight) << 65535u << false << false << 65535;
    }
    void acceptedWithFaultsDisabled()
    {
        QFETCH(int, command);
        QFETCH(quint32, weight);
        QFETCH(bool, remote);
        QFETCH(bool, drained);
        QFETCH(int, expectWeight);
        add(kA);
        Node &b = add(kB);
        const QJsonObject a = ask(remote ? kA : kB, ControlRequest::Command(command), kB, weight);
        QCOMPARE(result(a), QStringLiteral("accepted"));
        QCOMPARE(a.value(QStringLiteral("node")).toString(), QStringLiteral("10.0.0.2"));
        QCOMPARE(b.service->state().drained, drained);
        QCOMPARE(b.service->state().weight.has_value(), expectWeight >= 0);
        if (expectWeight >= 0)
            QCOMPARE(int(*b.service->state().weight), expectWeight);
        QCOMPARE(b.draining, drained ? QList<bool>{true} : QList<bool>{});
        // Travelled as an admin command and reply when remote; nothing sent when local.
        QCOMPARE(sentOn(kAdminChannel).size(), remote ? 2 : 0);
    }

    void repeatedDrainSaysSoAndUndrainGivesItBack()
    {
        Node &b = add(kB);
        QCOMPARE(result(ask(kB, ControlRequest::Command::Drain, kB)), QStringLiteral("accepted"));
        QCOMPARE(message(ask(kB, ControlRequest::Command::Drain, kB)), QStringLiteral("already drained"));
        QCOMPARE(b.draining, QList<bool>{true});
        QCOMPARE(message(ask(kB, ControlRequest::Command::Undrain, kB)), QStringLiteral("back in service"));
        QCOMPARE(b.draining, (QList<bool>{true, false}));
        QCOMPARE(message(ask(kB, ControlRequest::Command::Undrain, kB)), QStringLiteral("was not drained"));
    }

    void commandForAnotherNodeIsWrongTarget()
    {
        add(kA);
        Node &b = add(kB);
        // A stale view: A believes 10.0.0.3 lives where B now is.
        AdminCommand c{AdminAction::Drain, 77, kC, 0};
        b.service->onOob(kA, kAdminChannel, encodeAdminCommand(c));
        const QList<Sent> replies = sentOn(kAdminChannel);
        QCOMPARE(replies.size(), 1);
        QCOMPARE(replies[0].to, kA);
        const auto reply = decodeAdminReply(replies[0].payload);
        QVERIFY(reply.has_value());
        QCOMPARE(reply->result, AdminResult::WrongTarget);
        QCOMPARE(reply->commandId, 77u);
        QVERIFY2(reply->message.contains(QStringLiteral("not 10.0.0.3")), qPrintable(reply->message));
        QVERIFY(!b.service->state().drained);
        QVERIFY(b.draining.isEmpty());
    }

    void unknownTargetIsAnErrorWithoutSending()
    {
        add(kA);
        const QJsonObject a = ask(kA, ControlRequest::Command::Drain, kC);
        QVERIFY2(message(a).isEmpty() && a.value(QStringLiteral("error")).toString().contains(
                     QStringLiteral("10.0.0.3 is not a member of the ring this node sees (members: 10.0.0.1, 10.0.0.2)")),
                 qPrintable(a.value(QStringLiteral("error")).toString()));
        QVERIFY(sentOn(kAdminChannel).isEmpty());
    }

    void silentTargetIsNoReplyWithinTwoSeconds()
    {
        add(kA);
        add(kB);
        m_deliver = false;
        const QJsonObject a = ask(kA, ControlRequest::Command::Undrain, kB);
        QCOMPARE(a.value(QStringLiteral("error")).toString(), QStringLiteral("no reply from 10.0.0.2 within 2 s"));
    }

    void persistsAndReloadsTheDrainAndWeight()
    {
        const QString file = m_dir->filePath(QStringLiteral("missing/dir/state.json")); // created on write
        {
            Node &b = add(kB, file);
            QCOMPARE(b.service->loadState(), std::optional<QString>()); // no file yet: first start
            QCOMPARE(result(ask(kB, ControlRequest::Command::Drain, kB)), QStringLiteral("accepted"));
            QCOMPARE(result(ask(kB, ControlRequest::Command::Weight, kB, 5)), QStringLiteral("accepted"));
            QVERIFY(QFile::exists(file));
        }
        m_nodes.clear(); // the daemon restarts
        Node &again = add(kB, file);
        QCOMPARE(again.service->loadState(), std::optional<QString>());
        QVERIFY(again.service->state().drained);
        QCOMPARE(again.service->state().weight, std::optional<quint16>(5));
        QCOMPARE(again.draining, QList<bool>{true});
        QCOMPARE(again.weights.at(kB), 5u); // its own weight, for when it dispatches
        // Undrained, it stays undrained after the next restart.
        QCOMPARE(result(ask(kB, ControlRequest::Command::Undrain, kB)), QStringLiteral("accepted"));
        m_nodes.clear();
        Node &third = add(kB, file);
        QCOMPARE(third.service->loadState(), std::optional<QString>());
        QVERIFY(!third.service->state().drained);
        QCOMPARE(third.service->state().weight, std::optional<quint16>(5));
    }

    void corruptStateFileStartsUndrained_data()
    {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("why");
        QTest::newRow("not JSON") << QByteArray("{\"drained\": tr") << "is corrupt";
        QTest::newRow("an array") << QByteArray("[true]") << "not a JSON object";
        QTest::newRow("another version") << QByteArray(R"({"version":2,"drained":true})") << "has version 2";
        QTest::newRow("drained not a boolean") << QByteArray(R"({"version":1,"drained":"yes"})") << "\"drained\" must be true or false";
        QTest::newRow("weight out of range") << QByteArray(R"({"version":1,"drained":true,"weight":70000})") << "0..65535";
    }
    void corruptStateFileStartsUndrained()
    {
        QFETCH(QByteArray, content);
        QFETCH(QString, why);
        const QString file = m_dir->filePath(QStringLiteral("state.json"));
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(content);
        f.close();
        Node &b = add(kB, file);
        const auto warning = b.service->loadState();
        QVERIFY(warning.has_value());
        QVERIFY2(warning->contains(file) && warning->contains(why) && warning->contains(QStringLiteral("starting undrained")),
                 qPrintable(*warning));
        QVERIFY(!b.service->state().drained);
        QVERIFY(!b.service->state().weight.has_value());
        QVERIFY(b.draining.isEmpty());
    }

    void stateThatCannotBeSavedIsFailedNamingTheFix()
    {
        const QString blocker = m_dir->filePath(QStringLiteral("afile"));
        QFile f(blocker);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.close();
        Node &b = add(kB, blocker + QStringLiteral("/state.json")); // its "directory" is a file
        const QJsonObject a = ask(kB, ControlRequest::Command::Drain, kB);
        QCOMPARE(result(a), QStringLiteral("failed"));
        QVERIFY2(message(a).contains(QStringLiteral("not kept across a restart")) && message(a).contains(QStringLiteral("state_file")),
                 qPrintable(message(a)));
        QVERIFY(b.service->state().drained); // drained all the same
        QCOMPARE(b.draining, QList<bool>{true});
    }

    void weightIsRelayedToTheDispatcher()
    {
        Node &a = add(kA);
        Node &b = add(kB);
        QCOMPARE(result(ask(kB, ControlRequest::Command::Weight, kB, 3)), QStringLiteral("accepted"));
        const QList<Sent> reports = sentOn(kAdminReportChannel);
        QVERIFY(!reports.isEmpty());
        QCOMPARE(reports.last().to, kA); // the view's dispatcher (and every other member)
        const auto r = decodeAdminReport(reports.last().payload);
        QVERIFY(r.has_value());
        QCOMPARE(r->weight, std::optional<quint16>(3));
        QTRY_COMPARE(a.weights.size(), std::size_t(1));
        QCOMPARE(a.weights.at(kB), 3u);
        QCOMPARE(b.weights.at(kB), 3u); // B holds its own too, should it be elected

        // A failover: C dispatches now and gets B's report at once, not after the 2 s period.
        Node &c = add(kC);
        m_view.members.push_back(member(kC));
        m_view.dispatcher = kC;
        b.service->onViewChanged();
        QTRY_COMPARE(c.weights.size(), std::size_t(1));
        QCOMPARE(c.weights.at(kB), 3u);
    }

    // sashactl weight NODE clear: the node, its state file and the dispatcher forget the weight.
    void clearedWeightIsForgottenEverywhere()
    {
        Node &a = add(kA);
        Node &b = add(kB);
        QCOMPARE(result(ask(kB, ControlRequest::Command::Weight, kB, 3)), QStringLiteral("accepted"));
        QTRY_COMPARE(a.weights.size(), std::size_t(1));
        ControlRequest r;
        r.command = ControlRequest::Command::Weight;
        r.adminTarget = kB;
        r.adminClearWeight = true;
        QJsonObject answer;
        a.service->request(r, [&](const QJsonObject &o) { answer = o; });
        QTRY_VERIFY(!answer.isEmpty());
        QCOMPARE(result(answer), QStringLiteral("accepted"));
        QVERIFY2(message(answer).contains(QStringLiteral("operator weight 3 cleared")), qPrintable(message(answer)));
        QVERIFY(!b.service->state().weight.has_value());
        QVERIFY(b.weights.empty());
        QTRY_VERIFY(a.weights.empty()); // B's report without a weight clears it on the dispatcher
        // Kept across a restart: the state file has no weight any more.
        Node &b2 = add(kC, b.settings.stateFile);
        QVERIFY(!b2.service->loadState().has_value());
        QVERIFY(!b2.service->state().weight.has_value());
    }

    void reportsAnnotateTheMembersUntilStale()
    {
        Node &a = add(kA);
        Node &b = add(kB);
        b.openFlows = 42;
        QCOMPARE(result(ask(kB, ControlRequest::Command::Drain, kB)), QStringLiteral("accepted"));
        QTRY_VERIFY(a.service->reportOf(kB).has_value());
        b.service->start(); // the periodic report carries the open flows of now
        QTRY_COMPARE(a.service->reportOf(kB)->openFlows, 42u);
        QList<ControlMember> members(2);
        members[0].addr = QStringLiteral("10.0.0.1");
        members[1].addr = QStringLiteral("10.0.0.2");
        a.service->annotate(members);
        QCOMPARE(members[0].drained, std::optional<bool>(false)); // A's own state
        QCOMPARE(members[1].drained, std::optional<bool>(true));
        QCOMPARE(members[1].openFlows, std::optional<quint32>(42));
        QVERIFY(!members[1].weight.has_value());
        m_nowMs += AdminService::kReportStaleMs + 1;
        QVERIFY(!a.service->reportOf(kB).has_value());
    }

    void malformedMessagesAreCounted_data()
    {
        QTest::addColumn<int>("channel");
        QTest::addColumn<QByteArray>("payload");
        QTest::newRow("command, two bytes") << int(kAdminChannel) << QByteArray("\x01\x01", 2);
        QTest::newRow("unknown type") << int(kAdminChannel) << QByteArray(16, '\x01').replace(1, 1, "\x09");
        QTest::newRow("drain with a weight")
            << int(kAdminChannel) << encodeAdminCommand({AdminAction::Weight, 1, kB, 9}).replace(2, 1, "\x01");
        QTest::newRow("short report") << int(kAdminReportChannel) << QByteArray("\x01\x00", 2);
    }
    void malformedMessagesAreCounted()
    {
        QFETCH(int, channel);
        QFETCH(QByteArray, payload);
        Node &b = add(kB);
        b.service->onOob(kA, quint8(channel), payload);
        QCOMPARE(b.service->malformed(), 1u);
        QVERIFY(m_sent.isEmpty()); // no reply
        QVERIFY(!b.service->state().drained);
    }
};

QTEST_GUILESS_MAIN(TestAdminService)
#include "tst_adminservice.moc"
