// Specification of the control protocol: the exact status/event keys scripts rely on, JSON
// round trips, request parsing and errors, and a server/client exchange on a real Unix socket.

#include "control/controlclient.h"
#include "control/controlprotocol.h"
#include "control/controlserver.h"
#include "control/eventlog.h"

#include <QFile>
#include <QJsonDocument>
#include <QLocalSocket>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

using namespace sasha;

namespace {

ControlStatus sampleStatus()
{
    ControlStatus s;
    s.node = QStringLiteral("127.0.0.2");
    s.name = QStringLiteral("node2");
    s.state = QStringLiteral("member");
    s.role = QStringLiteral("server");
    s.ringEpoch = 3;
    s.viewVersion = 2;
    s.master = QStringLiteral("127.0.0.1");
    s.dispatcher = QStringLiteral("127.0.0.1");
    s.uptimeMs = 1234;
    s.pid = 123;
    ControlMember m;
    m.addr = QStringLiteral("127.0.0.1");
    m.endpoint = QStringLiteral("127.0.0.1:7400");
    m.caps = QStringLiteral("dispatch,serve");
    m.role = QStringLiteral("dispatcher");
    m.health = QStringLiteral("unknown");
    s.members << m;
    m.addr = QStringLiteral("127.0.0.2");
    m.name = QStringLiteral("node2");
    m.endpoint = QStringLiteral("127.0.0.2:7400");
    m.role = QStringLiteral("server");
    m.activeConnections = 17;
    m.cps = 250;
    s.members << m;
    ControlMember o;
    o.addr = QStringLiteral("127.0.0.9");
    o.endpoint = QStringLiteral("127.0.0.9:7400");
    o.caps = QStringLiteral("observer");
    o.role = QStringLiteral("observer");
    o.health = QStringLiteral("unknown");
    s.observers << o;
    tb::Counters c;
    c.datagramsIn = 10;
    c.datagramsOut = 11;
    c.bytesIn = 1000;
    c.bytesOut = 1100;
    c.dropped[int(tb::DropReason::BadMac)] = 4;
    c.purges = 1;
    c.ringsFormed = 2;
    c.rotations = 300;
    c.tokensRelayed = 299;
    c.lateTokens = 3;
    c.selfStalls = 2;
    s.counters = ControlCounters::fromCore(c);
    return s;
}

} // namespace

class TestControlProtocol : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void statusHasTheDocumentedKeys()
    {
        const QJsonObject o = sampleStatus().toJson();
        const QStringList keys{"node", "name", "state", "role", "ringEpoch", "viewVersion", "master", "dispatcher",
                               "uptimeMs", "pid", "members", "observers", "counters"};
        for (const QString &k : keys)
            QVERIFY2(o.contains(k), qPrintable(k));
        QCOMPARE(o.value("ringEpoch").toInteger(), 3);
        const QJsonObject m = o.value("members").toArray().at(0).toObject();
        for (const char *k : {"addr", "endpoint", "caps", "role", "health", "activeConnections", "cps"})
            QVERIFY2(m.contains(QLatin1String(k)), k);
        QCOMPARE(m.value("caps").toString(), QStringLiteral("dispatch,serve"));
        const QJsonObject c = o.value("counters").toObject();
        for (const char *k : {"datagramsIn", "datagramsOut", "bytesIn", "bytesOut", "dropped", "purges",
                                 "ringsFormed", "rotations", "tokensRelayed", "lateTokens", "selfStalls"})
            QVERIFY2(c.contains(QLatin1String(k)), k);
        QCOMPARE(c.value("lateTokens").toInteger(), 3);
        QCOMPARE(c.value("selfStalls").toInteger(), 2);
        QCOMPARE(c.value("dropped").toObject().value("bad-mac").toInteger(), 4);
        QCOMPARE(c.value("dropped").toObject().size(), int(tb::DropReason::Count_));
    }

    void statusRoundTrip()
    {
        const ControlStatus s = sampleStatus();
        const QByteArray line = controlLine(s.toJson());
        QVERIFY(line.endsWith('\n'));
        QCOMPARE(line.count('\n'), 1);
        const ControlStatus back = ControlStatus::fromJson(QJsonDocument::fromJson(line).object());
        QCOMPARE(back.toJson(), s.toJson());
        QVERIFY(back == s);
        QCOMPARE(back.counters.droppedTotal(), quint64(4));
    }

    void eventRoundTrip_data()
    {
        QTest::addColumn<int>("kind");
        QTest::addColumn<QString>("kindName");
        QTest::addColumn<QString>("detail");
        QTest::newRow("purge started") << int(tb::Event::Kind::PurgeStarted) << "purge-started" << "token timeout";
        QTest::newRow("dispatcher elected") << int(tb::Event::Kind::DispatcherElected) << "dispatcher-elected" << "";
        QTest::newRow("ring formed") << int(tb::Event::Kind::RingFormed) << "ring-formed" << "epoch 4, 3 members";
        QTest::newRow("dropped datagram gets a reason detail")
            << int(tb::Event::Kind::DatagramDropped) << "datagram-dropped" << "bad-mac from 127.0.0.7:9";
    }

    void eventRoundTrip()
    {
        QFETCH(int, kind);
        QFETCH(QString, kindName);
        QFETCH(QString, detail);
        tb::Event e{tb::Event::Kind(kind)};
        e.at = tb::Time(123456789);
        e.node = 0x7f000001u;
        e.role = tb::Role::Dispatcher;
        e.dropReason = tb::DropReason::BadMac;
        e.from = {0x7f000007u, 9};
        if (e.kind != tb::Event::Kind::DatagramDropped)
            e.detail = detail;
        const ControlEvent c = ControlEvent::fromCore(e, 1700000000000);
        const QJsonObject o = c.toJson();
        QCOMPARE(o.value("monoUs").toInteger(), 123456789);
        QCOMPARE(o.value("wallMs").toInteger(), 1700000000000);
        QCOMPARE(o.value("kind").toString(), kindName);
        QCOMPARE(o.value("node").toString(), QStringLiteral("127.0.0.1"));
        QCOMPARE(o.value("role").toString(), QStringLiteral("dispatcher"));
        QCOMPARE(o.value("detail").toString(), detail);
        QVERIFY(ControlEvent::fromJson(QJsonDocument::fromJson(controlLine(o)).object()) == c);
    }

    void wireWords()
    {
        QCOMPARE(controlStateName(tb::NodeState::AwaitingRing), QStringLiteral("awaiting-ring"));
        QCOMPARE(controlStateName(tb::NodeState::Member), QStringLiteral("member"));
        QCOMPARE(controlRoleName(tb::Role::Standalone), QStringLiteral("standalone"));
        QCOMPARE(controlRoleName(tb::Role::None), QStringLiteral("none"));
        QCOMPARE(controlCapsName(tb::kCanDispatch | tb::kCanServe), QStringLiteral("dispatch,serve"));
        QCOMPARE(controlDropReasonName(tb::DropReason::NotForUs), QStringLiteral("not-for-us"));
        QCOMPARE(controlEventKindName(tb::Event::Kind::ViewChanged), QStringLiteral("view-changed"));
    }

    void requests_data()
    {
        QTest::addColumn<QByteArray>("line");
        QTest::addColumn<bool>("valid");
        QTest::addColumn<int>("command");
        QTest::addColumn<int>("limit");
        QTest::addColumn<QString>("errorPart");
        QTest::newRow("status") << QByteArray(R"({"cmd":"status"})") << true << int(ControlRequest::Command::Status) << 100 << "";
        QTest::newRow("events with limit") << QByteArray(R"({"cmd":"events","limit":5})") << true
                                           << int(ControlRequest::Command::Events) << 5 << "";
        QTest::newRow("watch") << QByteArray(R"({"cmd":"watch"})") << true << int(ControlRequest::Command::Watch) << 100 << "";
        QTest::newRow("handover") << QByteArray(R"({"cmd":"handover"})") << true << int(ControlRequest::Command::Handover) << 100 << "";
        QTest::newRow("reload") << QByteArray(R"({"cmd":"reload"})") << true << int(ControlRequest::Command::Reload) << 100 << "";
        QTest::newRow("unknown command lists reload") << QByteArray(R"({"cmd":"reread"})") << false << 0 << 0 << "handover, reload";
        QTest::newRow("handover to a named node") << QByteArray(R"({"cmd":"handover","target":"10.0.0.4"})") << true
                                                  << int(ControlRequest::Command::Handover) << 100 << "";
        QTest::newRow("handover to a bad target") << QByteArray(R"({"cmd":"handover","target":"node4"})") << false << 0 << 0
                                                  << "handover: \"target\" must be a node's IPv4 address";
        QTest::newRow("unknown command lists handover") << QByteArray(R"({"cmd":"hand-over"})") << false << 0 << 0
                                                        << "weight, handover";
        QTest::newRow("unknown command") << QByteArray(R"({"cmd":"reboot"})") << false << 0 << 0
                                         << "unknown command \"reboot\"; accepted: status, members, events, watch, counters";
        QTest::newRow("missing cmd") << QByteArray(R"({"limit":3})") << false << 0 << 0
                                     << "missing \"cmd\"; send {\"cmd\":\"status\"} or another command: status, members";
        QTest::newRow("cmd is a number") << QByteArray(R"({"cmd":5})") << false << 0 << 0
                                         << "\"cmd\" must be a string; got a number; accepted: status, members";
        QTest::newRow("cmd is null") << QByteArray(R"({"cmd":null})") << false << 0 << 0 << "\"cmd\" must be a string; got null";
        QTest::newRow("cmd is an array") << QByteArray(R"({"cmd":["status"]})") << false << 0 << 0
                                         << "\"cmd\" must be a string; got an array";
        QTest::newRow("cmd is an empty string") << QByteArray(R"({"cmd":""})") << false << 0 << 0 << "unknown command \"\"";
        QTest::newRow("empty line") << QByteArray() << false << 0 << 0 << "empty request; send one JSON object per line";
        QTest::newRow("line of whitespace") << QByteArray(" \t\r") << false << 0 << 0 << "empty request";
        QTest::newRow("not JSON") << QByteArray("status") << false << 0 << 0 << "bad JSON";
        QTest::newRow("array instead of object") << QByteArray("[1,2]") << false << 0 << 0 << "JSON object";
        QTest::newRow("limit zero") << QByteArray(R"({"cmd":"events","limit":0})") << false << 0 << 0 << "1..2000";
        QTest::newRow("limit too large") << QByteArray(R"({"cmd":"events","limit":2001})") << false << 0 << 0 << "1..2000";
        QTest::newRow("limit as string") << QByteArray(R"({"cmd":"events","limit":"5"})") << false << 0 << 0 << "1..2000";
        QTest::newRow("over-long line") << QByteArray(kMaxRequestLine + 1, ' ') << false << 0 << 0 << "longer than";
    }

    void handoverTargetRoundTrip()
    {
        const auto r = parseControlRequest(R"({"cmd":"handover","target":"10.0.0.4"})", nullptr);
        QVERIFY(r);
        QCOMPARE(r->handoverTarget, 0x0a000004u);
        QCOMPARE(r->toJson().value(QStringLiteral("target")).toString(), QStringLiteral("10.0.0.4"));
        const auto plain = parseControlRequest(R"({"cmd":"handover"})", nullptr);
        QVERIFY(plain);
        QCOMPARE(plain->handoverTarget, 0u);
        QVERIFY(!plain->toJson().contains(QStringLiteral("target")));
    }

    void adminRequests_data()
    {
        QTest::addColumn<QByteArray>("line");
        QTest::addColumn<bool>("valid");
        QTest::addColumn<int>("command");
        QTest::addColumn<quint32>("target");
        QTest::addColumn<quint32>("weight");
        QTest::addColumn<QString>("errorPart");
        using C = ControlRequest::Command;
        QTest::newRow("drain") << QByteArray(R"({"cmd":"drain","target":"10.0.0.3"})") << true << int(C::Drain)
                               << 0x0a000003u << 0u << "";
        QTest::newRow("undrain") << QByteArray(R"({"cmd":"undrain","target":"10.0.0.4"})") << true << int(C::Undrain)
                                 << 0x0a000004u << 0u << "";
        QTest::newRow("weight 0 (no new flows)") << QByteArray(R"({"cmd":"weight","target":"10.0.0.3","weight":0})") << true
                                                 << int(C::Weight) << 0x0a000003u << 0u << "";
        QTest::newRow("weight 65535 (largest)") << QByteArray(R"({"cmd":"weight","target":"10.0.0.3","weight":65535})")
                                                << true << int(C::Weight) << 0x0a000003u << 65535u << "";
        QTest::newRow("drain without target") << QByteArray(R"({"cmd":"drain"})") << false << 0 << 0u << 0u
                                              << "drain: \"target\" must be a node's IPv4 address";
        QTest::newRow("undrain with a bad target") << QByteArray(R"({"cmd":"undrain","target":"node3"})") << false << 0
                                                   << 0u << 0u << "undrain: \"target\" must be";
        QTest::newRow("drain with a weight") << QByteArray(R"({"cmd":"drain","target":"10.0.0.3","weight":3})") << false
                                             << 0 << 0u << 0u << "drain takes no \"weight\"";
        QTest::newRow("weight missing") << QByteArray(R"({"cmd":"weight","target":"10.0.0.3"})") << false << 0 << 0u << 0u
                                        << "must be an integer in 0..65535";
        QTest::newRow("weight negative") << QByteArray(R"({"cmd":"weight","target":"10.0.0.3","weight":-1})") << false << 0
                                         << 0u << 0u << "0..65535";
        QTest::newRow("weight too large") << QByteArray(R"({"cmd":"weight","target":"10.0.0.3","weight":65536})") << false
                                          << 0 << 0u << 0u << "0..65535";
        QTest::newRow("weight fractional") << QByteArray(R"({"cmd":"weight","target":"10.0.0.3","weight":1.5})") << false
                                           << 0 << 0u << 0u << "integer";
        QTest::newRow("weight as string") << QByteArray(R"({"cmd":"weight","target":"10.0.0.3","weight":"2"})") << false
                                          << 0 << 0u << 0u << "integer";
    }

    void adminRequests()
    {
        QFETCH(QByteArray, line);
        QFETCH(bool, valid);
        QFETCH(int, command);
        QFETCH(quint32, target);
        QFETCH(quint32, weight);
        QFETCH(QString, errorPart);
        QString error;
        const auto r = parseControlRequest(line, &error);
        QCOMPARE(r.has_value(), valid);
        if (!valid) {
            QVERIFY2(error.contains(errorPart), qPrintable(error));
            return;
        }
        QCOMPARE(int(r->command), command);
        QVERIFY(r->isAdmin());
        QCOMPARE(r->adminTarget, target);
        QCOMPARE(r->adminWeight, weight);
        const auto again = parseControlRequest(QJsonDocument(r->toJson()).toJson(), &error);
        QVERIFY2(again.has_value(), qPrintable(error));
        QCOMPARE(again->adminTarget, target);
        QCOMPARE(again->adminWeight, weight);
        QCOMPARE(int(again->adminAction()), int(r->adminAction()));
    }

    // {"cmd":"weight","target":...,"clear":true} clears the operator weight; "clear" takes only
    // true and not with "weight".
    void weightClear_data()
    {
        QTest::addColumn<QByteArray>("line");
        QTest::addColumn<bool>("valid");
        QTest::addColumn<QString>("errorPart");
        QTest::newRow("clear") << QByteArray(R"({"cmd":"weight","target":"10.0.0.3","clear":true})") << true << "";
        QTest::newRow("clear false") << QByteArray(R"({"cmd":"weight","target":"10.0.0.3","clear":false})") << false
                                     << "\"clear\" must be true, without \"weight\"";
        QTest::newRow("clear with a weight") << QByteArray(R"({"cmd":"weight","target":"10.0.0.3","clear":true,"weight":2})")
                                             << false << "\"clear\" must be true, without \"weight\"";
    }
    void weightClear()
    {
        QFETCH(QByteArray, line);
        QFETCH(bool, valid);
        QFETCH(QString, errorPart);
        QString error;
        const auto r = parseControlRequest(line, &error);
        QCOMPARE(r.has_value(), valid);
        if (!valid) {
            QVERIFY2(error.contains(errorPart), qPrintable(error));
            return;
        }
        QVERIFY(r->adminClearWeight);
        const auto again = parseControlRequest(QJsonDocument(r->toJson()).toJson(), &error);
        QVERIFY2(again.has_value(), qPrintable(error));
        QVERIFY(again->adminClearWeight);
        QCOMPARE(again->adminTarget, r->adminTarget);
    }

    void memberAdminKeys()
    {
        ControlMember m;
        m.addr = QStringLiteral("10.0.0.3");
        QJsonObject o = m.toJson();
        for (const char *k : {"drained", "weight", "openFlows"})
            QVERIFY2(o.value(QLatin1String(k)).isNull(), k); // unknown: present, null
        QVERIFY(ControlMember::fromJson(o) == m);
        m.drained = true;
        m.weight = 0;
        m.openFlows = 12;
        o = m.toJson();
        QCOMPARE(o.value("drained").toBool(), true);
        QCOMPARE(o.value("weight").toInteger(-1), 0);
        QCOMPARE(o.value("openFlows").toInteger(), 12);
        QVERIFY(ControlMember::fromJson(o) == m);
    }

    void requests()
    {
        QFETCH(QByteArray, line);
        QFETCH(bool, valid);
        QFETCH(int, command);
        QFETCH(int, limit);
        QFETCH(QString, errorPart);
        QString error;
        const auto r = parseControlRequest(line, &error);
        QCOMPARE(r.has_value(), valid);
        if (valid) {
            QCOMPARE(int(r->command), command);
            QCOMPARE(r->limit, limit);
            QCOMPARE(parseControlRequest(QJsonDocument(r->toJson()).toJson(), &error)->limit, limit);
        } else {
            QVERIFY2(error.contains(errorPart), qPrintable(error));
        }
    }

    void eventLogKeepsTheNewest()
    {
        EventLog log(3);
        for (int i = 0; i < 5; ++i) {
            ControlEvent e;
            e.monoUs = i;
            log.add(e);
        }
        log.countDroppedDatagram();
        QCOMPARE(log.size(), std::size_t(3));
        QCOMPARE(log.totalAdded(), quint64(5));
        QCOMPARE(log.droppedDatagrams(), quint64(1));
        const auto last2 = log.last(2);
        QCOMPARE(last2.size(), 2);
        QCOMPARE(last2.at(0).monoUs, 3);
        QCOMPARE(last2.at(1).monoUs, 4);
        QCOMPARE(log.last(100).size(), 3);
    }

    void serverAnswersOnARealSocket()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString path = dir.filePath(QStringLiteral("sub/ctl.sock"));
        EventLog log;
        ControlEvent e;
        e.kind = QStringLiteral("ring-formed");
        log.add(e);
        ControlServer server([] { return sampleStatus(); }, &log);
        QCOMPARE(server.listen(path), std::optional<QString>());
        QCOMPARE(QFile::permissions(dir.filePath(QStringLiteral("sub"))) & 0x0077, QFile::Permissions());
        struct stat st {};
        QCOMPARE(::stat(QFile::encodeName(path).constData(), &st), 0);
        QCOMPARE(st.st_mode & 0077, 0u);

        // A second server on the same path refuses: someone answers there.
        ControlServer second([] { return sampleStatus(); }, &log);
        const auto err = second.listen(path);
        QVERIFY(err.has_value());
        QVERIFY2(err->contains(QStringLiteral("another sashad is running on")), qPrintable(*err));

        // The server runs in this thread: the client must not block, so it polls the event loop.
        QLocalSocket sock;
        sock.connectToServer(path);
        QVERIFY(sock.waitForConnected(1000));
        auto ask = [&](const QByteArray &req) {
            sock.write(req + '\n');
            for (int i = 0; i < 200 && !sock.canReadLine(); ++i)
                QTest::qWait(10);
            return QJsonDocument::fromJson(sock.readLine()).object(); // empty on timeout: fails below
        };
        QCOMPARE(ask(R"({"cmd":"status"})").value("node").toString(), QStringLiteral("127.0.0.2"));
        QCOMPARE(ask(R"({"cmd":"members"})").value("members").toArray().size(), 2);
        QCOMPARE(ask(R"({"cmd":"events","limit":10})").value("events").toArray().size(), 1);
        QCOMPARE(ask(R"({"cmd":"counters"})").value("counters").toObject().value("purges").toInteger(), 1);
        QVERIFY(ask(R"({"cmd":"nope"})").value("error").toString().contains(QStringLiteral("unknown command")));
        // Every line is answered, an empty one and a non-string cmd included (issue 11).
        QVERIFY(ask("").value("error").toString().contains(QStringLiteral("empty request")));
        QVERIFY(ask(R"({"cmd":5})").value("error").toString().contains(QStringLiteral("\"cmd\" must be a string")));
        QCOMPARE(ask(R"({"cmd":"status"})").value("node").toString(), QStringLiteral("127.0.0.2")); // still in step
        QCOMPARE(server.badRequests(), quint64(3));
        const QJsonObject first = ask(R"({"cmd":"watch"})");
        QVERIFY(first.contains("status"));
        e.kind = QStringLiteral("purge-started");
        server.publish(e);
        QTRY_VERIFY_WITH_TIMEOUT(sock.canReadLine(), 2000);
        QCOMPARE(QJsonDocument::fromJson(sock.readLine()).object().value("event").toObject().value("kind").toString(),
                 QStringLiteral("purge-started"));
        QTRY_VERIFY_WITH_TIMEOUT(sock.canReadLine(), 3000); // the 1 s status tick
        QVERIFY(QJsonDocument::fromJson(sock.readLine()).object().contains("status"));

        server.close();
        QVERIFY(!QFile::exists(path));
    }

    // A long "connections" answer (100k flows: 18 MB) is written a slice at a time (the next once
    // the socket took the last) and arrives whole and in order, 12 slices here.
    void longAnswerArrivesWholeInSlices()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString path = dir.filePath(QStringLiteral("ctl.sock"));
        ControlServer server([] { return sampleStatus(); }, nullptr);
        QCOMPARE(server.listen(path), std::optional<QString>());
        QByteArray line;
        for (int i = 0; line.size() < 3 * 1024 * 1024; ++i)
            line += QByteArray::number(i) + ',';
        line.back() = '\n';
        server.setConnectionsFn([line](int, const ControlServer::LineAnswerFn &answer) { answer(line); });
        QLocalSocket sock;
        sock.connectToServer(path);
        QVERIFY(sock.waitForConnected(1000));
        sock.write(R"({"cmd":"connections","limit":100000})" "\n");
        QByteArray got;
        for (int i = 0; i < 1000 && !got.endsWith('\n'); ++i) {
            QTest::qWait(2);
            got += sock.readAll();
        }
        QCOMPARE(got.size(), line.size());
        QVERIFY(got == line);
    }

    void staleSocketIsReplaced()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("ctl.sock"));
        // What a crashed daemon leaves: a socket file that nobody listens on.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        QVERIFY(fd >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const QByteArray native = QFile::encodeName(path);
        QVERIFY(size_t(native.size()) < sizeof(addr.sun_path));
        std::memcpy(addr.sun_path, native.constData(), size_t(native.size()));
        QCOMPARE(::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
        ::close(fd);
        QVERIFY(QFile::exists(path));
        ControlServer fresh([] { return sampleStatus(); }, nullptr);
        QCOMPARE(fresh.listen(path), std::optional<QString>());
        QLocalSocket sock;
        sock.connectToServer(path);
        QVERIFY(sock.waitForConnected(1000));
    }

    void pathThatIsNotASocketIsRefused()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("file"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.close();
        ControlServer server([] { return sampleStatus(); }, nullptr);
        const auto err = server.listen(path);
        QVERIFY(err.has_value());
        QVERIFY2(err->contains(QStringLiteral("is not a socket")), qPrintable(*err));
        QVERIFY(QFile::exists(path)); // never deleted
    }

    void clientNamesTheFix()
    {
        QTemporaryDir dir;
        ControlClient c(dir.filePath(QStringLiteral("absent.sock")));
        const auto err = c.connectToDaemon(500);
        QVERIFY(err.has_value());
        QVERIFY2(err->contains(QStringLiteral("is sashad running? no socket at")), qPrintable(*err));
    }
};

QTEST_GUILESS_MAIN(TestControlProtocol)
#include "tst_controlprotocol.moc"
