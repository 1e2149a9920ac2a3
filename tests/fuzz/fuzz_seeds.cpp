// Writes a few valid inputs for each fuzz target into DIR/<target>/, built with the encoders
// under test so that the seeds follow the wire formats as they change. CMake runs it at build
// time (tests/fuzz/CMakeLists.txt); nothing here is fuzzed.
// Usage: fuzz_seeds DIR

#include "../unit/testframes.h"
#include "agent/connmessages.h"
#include "agent/flowtransfer.h"
#include "control/admincommand.h"
#include "control/controlprotocol.h"
#include "control/eventfeed.h"
#include "control/faultcommand.h"
#include "control/flowfeed.h"
#include "tokenbeat/envelope.h"
#include "tokenbeat/messages.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>

#include <cstdio>
#include <functional>

using namespace sasha;
using namespace sasha::tb;

namespace {

class SeedWriter {
public:
    SeedWriter(const QString &root, const char *target) : m_dir(root + QLatin1Char('/') + QLatin1String(target))
    {
        QDir().mkpath(m_dir);
    }
    // mode: the target's first byte (what the rest is), or -1 for none.
    void write(const char *name, QByteArrayView bytes, int mode = -1)
    {
        QFile f(m_dir + QLatin1Char('/') + QLatin1String(name));
        QByteArray content;
        if (mode >= 0)
            content.append(char(mode));
        content.append(bytes);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(content) != content.size()) {
            std::fprintf(stderr, "fuzz_seeds: cannot write %s\n", qPrintable(f.fileName()));
            std::exit(1);
        }
    }

private:
    QString m_dir;
};

QByteArray bytesOf(const std::vector<std::uint8_t> &v)
{
    return QByteArray(reinterpret_cast<const char *>(v.data()), qsizetype(v.size()));
}

void frameparserSeeds(SeedWriter w)
{
    using namespace sasha::testframes;
    FrameSpec syn;
    w.write("tcp-syn", bytesOf(buildFrame(syn)));
    FrameSpec ack = syn;
    ack.tcpFlags = kTcpAck;
    w.write("tcp-ack", bytesOf(buildFrame(ack)));
    FrameSpec udp = syn;
    udp.proto = kIpProtoUdp;
    w.write("udp", bytesOf(buildFrame(udp)));
    w.write("icmp-unreachable", bytesOf(buildIcmpFrame(IcmpSpec{})));
}

const QByteArray kEnvelopeKey("fuzz-cluster-key-0123456789abcdef"); // fuzz_envelope's key

void envelopeSeeds(SeedWriter w)
{
    Sealer sealer(kEnvelopeKey, 0x0A000001, 7);
    const QByteArray token = encodeBody(TokenMsg{1, 1, 1, 0x0A000001, 0x0A000001, {}});
    w.write("raw-token", sealer.seal(quint8(MessageType::Token), Endpoint{0x7F000001, 7400}, token), 0);
    // Script records: type, sender, epoch, seq (2 bytes when the first is < 0x80), body length, body.
    const QByteArray script = QByteArray::fromHex("04 01 00 0001 04 00000001"
                                                  "04 01 00 0002 04 00000001"
                                                  "04 01 00 0001 00"   // replay
                                                  "04 02 01 0005 00"
                                                  "84 03 00 0001 00"); // other destination
    w.write("script-replays", script, 1);
}

void messagesSeeds(SeedWriter w)
{
    const Endpoint ep{0x0A000001, 7400};
    w.write("join", encodeBody(JoinMsg{0x0A000001, ep, kCanDispatch | kCanServe, Role::None, 3, 0}), 0);
    ViewMsg view;
    view.view.ringEpoch = 4;
    view.view.viewVersion = 2;
    view.view.dispatcher = 0x0A000001;
    view.view.members = {Member{0x0A000001, ep, kCanDispatch, {Role::Dispatcher, Health::Healthy, 3, 1}},
                         Member{0x0A000002, {0x0A000002, 7400}, kCanServe, {Role::Server, Health::Healthy, 9, 2}}};
    view.view.observers = {Member{0x0A000009, {0x0A000009, 7400}, kObserver, {}}};
    w.write("view", encodeBody(view), 1);
    w.write("view-ack", encodeBody(ViewAckMsg{4, 2}), 2);
    TokenMsg token{4, 2, 17, 0x0A000001, 0x0A000001, {}};
    token.updates.push_back({0x0A000002, kCanServe, {Role::Server, Health::Draining, 5, 0}});
    w.write("token", encodeBody(token), 3);
    w.write("purge", encodeBody(EpochMsg{4}), 4);
    w.write("observer-hello", encodeBody(ObserverHelloMsg{0x0A000009, {0x0A000009, 7400}}), 5);
    w.write("beacon", encodeBody(BeaconMsg{4, 0x0A000001, ep, 0x0A000001, 2}), 6);
}

void reliableSeeds(SeedWriter w)
{
    // Steps (fuzz_reliable.cpp): 0 send(length, flags), 1 deliver to B, 2 deliver to A, 5 tick.
    QByteArray lossless = QByteArray::fromHex("00 64 00"); // a reliable 104-byte payload: 5 chunks
    for (int i = 0; i < 5; ++i)
        lossless.append(QByteArray::fromHex("01 00 02 00"));
    w.write("reliable-lossless", lossless);
    // One chunk lost and retransmitted after ticks, a duplicate, an unreliable send.
    w.write("reliable-retransmit", QByteArray::fromHex("00 30 00 03 01 00 01 01 02 00 05 03 00 01 00 02 00 00 08 01 01 00"));
    // Fuzzed bodies from a stranger: an OobData header with one byte of data, an ack.
    w.write("reliable-stranger", QByteArray::fromHex("06 13 0000000000000001 00 01 0000 0001 00000001 aa"
                                                     "07 8a 0000000000000001 0000"));
}

void agentCodecsSeeds(SeedWriter w)
{
    // First byte: the decoder (0 query, 1 report, 2 flow transfer) and, in its high nibble, the
    // entries per part of the re-encoding.
    const ConnQuery query{7, 0x0A000064, {80, 443}};
    w.write("conn-query", encodeConnQuery(query), 0);
    const std::vector<ConnEntry> conns{{0x0A000101, 40000, 80, 3}, {0x0A000102, 40001, 443, 0}, {0x0A000103, 40002, 80, 9}};
    w.write("conn-report", encodeConnReports(query, 0x0A000002, {2, 0, 0, 0, 0, 2}, conns, 1).front(), 0x11);
    const std::vector<FlowTransferEntry> flows{{0x0A000101, 40000, 80, 0x0A000002, 6, FlowTransferState::Established},
                                               {0x0A000102, 53000, 53, 0x0A000003, 17, FlowTransferState::Udp}};
    w.write("flow-table", encodeFlowTransferTable(9, 0x0A000064, flows).front(), 0x12);
    w.write("flow-announced", encodeFlowTransferAnnounced({9}), 2);
    // The appended fields: a query and a report with a UDP service and a second VIP, and a
    // transfer table with another VIP's flows (flags bit 1 in each).
    const ConnQuery udpQuery = connQueryFor(8, {{0x0A000064, 80}, {0x0A000065, 8080}}, {{0x0A000065, 53}});
    w.write("conn-query-udp", encodeConnQuery(udpQuery), 0);
    const std::vector<ConnEntry> mixed{{0x0A000101, 40000, 80, 3},
                                       {0x0A000102, 40001, 8080, 0, 0x0A000065},
                                       {0x0A000103, 40002, 53, 1, 0x0A000065, true}};
    w.write("conn-report-udp", encodeConnReports(udpQuery, 0x0A000002, {2, 0, 0, 0, 0, 2}, mixed, 0).front(), 0x21);
    const std::vector<FlowTransferEntry> twoVips{{0x0A000101, 40000, 80, 0x0A000002, 6, FlowTransferState::Established},
                                                 {0x0A000104, 40003, 8080, 0x0A000003, 6, FlowTransferState::Closing, 0x0A000065}};
    w.write("flow-table-vips", encodeFlowTransferTable(10, 0x0A000064, twoVips).front(), 0x12);
}

void feedsSeeds(SeedWriter w)
{
    // First byte: the decoder (0 flow feed, 1 event feed, 2-4 admin command/reply/report, 5-6
    // fault command/reply); for the flow feed, entries per part in its high nibble.
    FlowFeedMessage changes;
    changes.dispatcher = 0x0A000001;
    changes.runId = 3;
    changes.seq = 8;
    changes.entries = {{0x0A000101, 40000, 0x0A000002, FlowFeedState::Established, 0, 1200},
                       {0x0A000102, 40001, 0x0A000003, FlowFeedState::SynSeen, kFlowFeedHashed, 5}};
    w.write("flow-changes", encodeFlowFeed(changes), 0x10);
    w.write("flow-subscribe", encodeFlowFeedSubscribe(0x0A000001, 3), 0);
    EventFeedMessage events;
    events.seq = 4;
    events.senderNowUs = 5'000'000;
    events.clockId = 77;
    events.events = {ControlEvent{4'900'000, 1700000000000, QStringLiteral("purge-started"), QStringLiteral("10.0.0.1"),
                                  QStringLiteral("server"), QStringLiteral("token timeout")}};
    w.write("events", encodeEventFeed(events), 1);
    w.write("events-subscribe", encodeEventFeedSubscribe(), 1);
    w.write("admin-command", encodeAdminCommand({AdminAction::Weight, 5, 0x0A000002, 300}), 2);
    w.write("admin-reply", encodeAdminReply({AdminAction::Drain, AdminResult::Failed, 5, 0x0A000002, QStringLiteral("busy")}), 3);
    w.write("admin-report", encodeAdminReport({true, 40, 12}), 4);
    w.write("fault-command", encodeFaultCommand({FaultAction::Hang, kOnlyIfDispatcher, 6, 0x0A000001, 2000}), 5);
    w.write("fault-reply", encodeFaultReply({FaultAction::Unplug, FaultResult::Unsupported, 6, 0x0A000001, QStringLiteral("no link")}), 6);
}

void controlSeeds(SeedWriter w)
{
    // First byte: 0 a request line, 1 status JSON, 2 event JSON.
    w.write("status", "{\"cmd\":\"status\"}\n", 0);
    w.write("events", "{\"cmd\":\"events\",\"limit\":50}", 0);
    w.write("fault", "{\"cmd\":\"fault\",\"target\":\"10.0.0.2\",\"action\":\"hang\",\"durationMs\":2000}", 0);
    w.write("weight", "{\"cmd\":\"weight\",\"target\":\"10.0.0.2\",\"weight\":30}", 0);
    ControlStatus status;
    status.node = QStringLiteral("10.0.0.1");
    status.state = QStringLiteral("member");
    status.role = QStringLiteral("dispatcher");
    status.ringEpoch = 4;
    status.master = status.dispatcher = status.node;
    ControlMember m;
    m.addr = status.node;
    m.endpoint = QStringLiteral("10.0.0.1:7400");
    m.caps = QStringLiteral("dispatch,serve");
    m.role = status.role;
    m.health = QStringLiteral("healthy");
    m.weight = 10;
    status.members = {m};
    status.counters.dropped = {{QStringLiteral("bad-mac"), 3}};
    w.write("status-json", QJsonDocument(status.toJson()).toJson(QJsonDocument::Compact), 1);
    const ControlEvent e{4'900'000, 1700000000000, QStringLiteral("ring-formed"), QStringLiteral("10.0.0.1"),
                         QStringLiteral("dispatcher"), QStringLiteral("epoch 4")};
    w.write("event-json", QJsonDocument(e.toJson()).toJson(QJsonDocument::Compact), 2);
}

void configSeeds(SeedWriter w)
{
    // fuzz_config's directory holds cluster.key; its fake host has lo, eth0 and 10.0.0.1/24.
    const QByteArray node = "[node]\nname = \"node1\"\naddress = \"10.0.0.1\"\ninterface = \"eth0\"\nport = 7400\n"
                            "capabilities = [\"dispatch\", \"serve\"]\n\n"
                            "[cluster]\nkey_file = \"cluster.key\"\nseeds = [\"10.0.0.2:7400\"]\nbroadcast = \"10.0.0.255\"\n";
    w.write("minimal", node);
    w.write("dispatcher", node + "\n[faults]\nenabled = true\n\n[dispatcher]\ninterface = \"eth0\"\nvip = \"10.0.0.100\"\n"
                                 "vmac = \"02:5a:5a:00:00:01\"\nports = [80]\nscheduler = \"maglev\"\nannounce_ms = 1000\n\n"
                                 "[health]\nurl = \"http://127.0.0.1:80/health\"\ninterval_ms = 500\ntimeout_ms = 400\nrise = 2\nfall = 3\n\n"
                                 "[timers]\npreset = \"lan\"\n");
    w.write("hex-key", "00112233445566778899aabbccddeeff\n");
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_seeds DIR\n");
        return 2;
    }
    const QString root = QString::fromLocal8Bit(argv[1]);
    frameparserSeeds({root, "fuzz_frameparser"});
    envelopeSeeds({root, "fuzz_envelope"});
    messagesSeeds({root, "fuzz_messages"});
    reliableSeeds({root, "fuzz_reliable"});
    agentCodecsSeeds({root, "fuzz_agentcodecs"});
    feedsSeeds({root, "fuzz_feeds"});
    controlSeeds({root, "fuzz_control"});
    configSeeds({root, "fuzz_config"});
    return 0;
}
