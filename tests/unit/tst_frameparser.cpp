// Frame parser and L4/2 output, as a table: {description, frame in, verdict, frame out}.
// Every frame goes through parseFrame() and through a FastPath with one server, so each row
// also pins what the dispatcher emits (or that it emits nothing).

#include "fastpath/fastpath.h"
#include "testframes.h"

#include <QTest>

using namespace sasha;
using namespace sasha::testframes;

namespace {

constexpr MacAddress kServerMac{0x02, 0x5e, 0x00, 0x00, 0x00, 0x07};

QByteArray bytes(const std::vector<std::uint8_t> &v)
{
    return QByteArray(reinterpret_cast<const char *>(v.data()), qsizetype(v.size()));
}

QByteArray forwarded(const FrameSpec &s)
{
    return bytes(withMacs(buildFrame(s), kServerMac, kDispatcherMac));
}

FrameSpec spec(void (*edit)(FrameSpec &))
{
    FrameSpec s;
    edit(s);
    return s;
}

} // namespace

class TestFrameParser : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void table_data();
    void table();
    void viewFields_data();
    void viewFields();
    void everyPrefixOfAValidFrameIsHandled();
};

void TestFrameParser::table_data()
{
    QTest::addColumn<QByteArray>("in");
    QTest::addColumn<QByteArray>("verdict");
    QTest::addColumn<QByteArray>("out");

    auto ok = [](const char *name, const FrameSpec &s) {
        QTest::newRow(name) << bytes(buildFrame(s)) << QByteArray("ok") << forwarded(s);
    };
    auto bad = [](const char *name, const FrameSpec &s, ParseVerdict v) {
        QTest::newRow(name) << bytes(buildFrame(s)) << QByteArray(parseVerdictName(v)) << QByteArray();
    };

    ok("tcp SYN, untagged", FrameSpec{});
    ok("tcp SYN with 802.1Q tag", spec([](FrameSpec &s) { s.vlan = true; }));
    ok("tcp ACK with 1400 bytes of data", spec([](FrameSpec &s) { s.tcpFlags = kTcpAck | kTcpPsh; s.payload = 1400; }));
    ok("tcp FIN+ACK", spec([](FrameSpec &s) { s.tcpFlags = kTcpFin | kTcpAck; }));
    ok("tcp with 12 bytes of TCP options", spec([](FrameSpec &s) { s.tcpDataOffset = 8; }));
    ok("tcp ACK padded to the 60-byte Ethernet minimum", spec([](FrameSpec &s) { s.tcpFlags = kTcpAck; s.padTo = 60; }));
    ok("udp datagram", spec([](FrameSpec &s) { s.proto = kIpProtoUdp; s.dstPort = 53; s.payload = 30; }));
    ok("udp empty payload, padded", spec([](FrameSpec &s) { s.proto = kIpProtoUdp; s.padTo = 60; }));
    ok("udp with 802.1Q tag", spec([](FrameSpec &s) { s.proto = kIpProtoUdp; s.vlan = true; s.payload = 8; }));

    QTest::newRow("empty frame") << QByteArray() << QByteArray("truncated-ethernet") << QByteArray();
    bad("13 bytes: Ethernet header cut", spec([](FrameSpec &s) { s.truncateTo = 13; }), ParseVerdict::TruncatedEthernet);
    bad("802.1Q tag cut", spec([](FrameSpec &s) { s.vlan = true; s.truncateTo = 16; }), ParseVerdict::TruncatedEthernet);
    bad("arp", spec([](FrameSpec &s) { s.etherType = kEtherTypeArp; }), ParseVerdict::Arp);
    bad("arp behind 802.1Q tag", spec([](FrameSpec &s) { s.vlan = true; s.etherType = kEtherTypeArp; }), ParseVerdict::Arp);
    bad("ipv6 ethertype", spec([](FrameSpec &s) { s.etherType = 0x86DD; }), ParseVerdict::NotIpv4);
    bad("QinQ: a second 802.1Q tag", spec([](FrameSpec &s) { s.vlan = true; s.etherType = kEtherTypeVlan; }),
        ParseVerdict::NotIpv4);
    bad("ipv4 header cut at 19 bytes", spec([](FrameSpec &s) { s.truncateTo = 14 + 19; }), ParseVerdict::TruncatedIpv4);
    bad("version 6 under the IPv4 ethertype", spec([](FrameSpec &s) { s.ipVersion = 6; }), ParseVerdict::BadIpVersion);
    bad("IHL 4", spec([](FrameSpec &s) { s.ihl = 4; }), ParseVerdict::BadIhl);
    bad("IHL 0", spec([](FrameSpec &s) { s.ihl = 0; }), ParseVerdict::BadIhl);
    bad("IHL 6: IP options", spec([](FrameSpec &s) { s.ihl = 6; }), ParseVerdict::IpOptions);
    bad("IHL 15: IP options", spec([](FrameSpec &s) { s.ihl = 15; }), ParseVerdict::IpOptions);
    bad("total length one past the frame", spec([](FrameSpec &s) { s.totalLengthDelta = 1; }), ParseVerdict::BadTotalLength);
    bad("total length below the header", spec([](FrameSpec &s) { s.totalLengthDelta = -30; }), ParseVerdict::BadTotalLength);
    bad("data cut by the capture length", spec([](FrameSpec &s) { s.payload = 100; s.truncateTo = 100; }),
        ParseVerdict::BadTotalLength);
    bad("more-fragments flag", spec([](FrameSpec &s) { s.fragField = 0x2000; }), ParseVerdict::Fragment);
    bad("non-zero fragment offset", spec([](FrameSpec &s) { s.fragField = 0x0001; }), ParseVerdict::Fragment);
    bad("icmp", spec([](FrameSpec &s) { s.proto = 1; }), ParseVerdict::UnsupportedL4);
    bad("tcp header 10 bytes", spec([](FrameSpec &s) { s.l4HeaderOverride = 10; }), ParseVerdict::TruncatedL4);
    bad("udp header 4 bytes", spec([](FrameSpec &s) { s.proto = kIpProtoUdp; s.l4HeaderOverride = 4; }),
        ParseVerdict::TruncatedL4);
    bad("tcp data offset 4", spec([](FrameSpec &s) { s.tcpDataOffset = 4; }), ParseVerdict::BadL4Header);
    bad("tcp data offset past the segment", spec([](FrameSpec &s) { s.tcpDataOffset = 15; s.l4HeaderOverride = 20; }),
        ParseVerdict::BadL4Header);
    bad("udp length past the datagram", spec([](FrameSpec &s) { s.proto = kIpProtoUdp; s.udpLengthDelta = 1; }),
        ParseVerdict::BadL4Header);
    bad("udp length below 8", spec([](FrameSpec &s) { s.proto = kIpProtoUdp; s.udpLengthDelta = -1; }),
        ParseVerdict::BadL4Header);
}

void TestFrameParser::table()
{
    QFETCH(QByteArray, in);
    QFETCH(QByteArray, verdict);
    QFETCH(QByteArray, out);

    const std::span<const std::uint8_t> frame(reinterpret_cast<const std::uint8_t *>(in.constData()),
                                              std::size_t(in.size()));
    const ParseResult parsed = parseFrame(frame);
    QCOMPARE(QByteArray(parseVerdictName(parsed.verdict)), verdict);

    ServerTableHandoff tables;
    DispatchPolicy policy;
    policy.vip = kVip;
    policy.dispatcherMac = kDispatcherMac;
    QVERIFY(tables.publish(ServerTable::build({{7, 0, kServerMac, ip4(10, 0, 0, 7), 1, true, false}}, policy, 1)));
    FastPathConfig config;
    config.maxFlows = 64;
    FastPath fp(config, tables);
    std::vector<std::uint8_t> buffer(2048, 0xEE);
    const ProcessResult r = fp.process(frame, buffer, FastTime(1000));
    if (out.isEmpty()) {
        QCOMPARE(int(r.verdict), int(Verdict::Drop));
        QCOMPARE(QByteArray(dropReasonName(r.reason)), QByteArray("malformed"));
        QCOMPARE(read(fp.counters().malformed[std::size_t(parsed.verdict)]), 1u);
    } else {
        QCOMPARE(int(r.verdict), int(Verdict::Forward));
        QCOMPARE(QByteArray(reinterpret_cast<const char *>(buffer.data()), qsizetype(r.outLength)), out);
        QCOMPARE(read(fp.counters().forwarded), 1u);
    }
}

void TestFrameParser::viewFields_data()
{
    QTest::addColumn<bool>("vlan");
    QTest::addColumn<int>("proto");
    QTest::addColumn<int>("l3Offset");
    QTest::addColumn<int>("l4Offset");
    QTest::newRow("tcp untagged") << false << int(kIpProtoTcp) << 14 << 34;
    QTest::newRow("tcp tagged") << true << int(kIpProtoTcp) << 18 << 38;
    QTest::newRow("udp untagged") << false << int(kIpProtoUdp) << 14 << 34;
    QTest::newRow("udp tagged") << true << int(kIpProtoUdp) << 18 << 38;
}

void TestFrameParser::viewFields()
{
    QFETCH(bool, vlan);
    QFETCH(int, proto);
    QFETCH(int, l3Offset);
    QFETCH(int, l4Offset);
    FrameSpec s;
    s.vlan = vlan;
    s.vlanId = 0x123;
    s.proto = std::uint8_t(proto);
    s.srcIp = ip4(192, 168, 9, 8);
    s.srcPort = 54321;
    s.dstPort = 443;
    s.tcpFlags = kTcpSyn | 0x40; // ECE: an extra flag bit must not hide the SYN
    s.payload = 10;
    s.padTo = 100;
    const auto f = buildFrame(s);
    const ParseResult r = parseFrame(f);
    QCOMPARE(QByteArray(parseVerdictName(r.verdict)), QByteArray("ok"));
    QCOMPARE(int(r.view.l3Offset), l3Offset);
    QCOMPARE(int(r.view.l4Offset), l4Offset);
    QCOMPARE(r.view.hasVlan, vlan);
    QCOMPARE(int(r.view.vlanId), vlan ? 0x123 : 0);
    QCOMPARE(r.view.size, std::uint32_t(f.size()));
    QCOMPARE(int(r.view.ipTotalLength), 20 + (proto == kIpProtoTcp ? 20 : 8) + 10);
    QVERIFY(r.view.key == keyOf(s));
    QCOMPARE(r.view.data, f.data());
    QCOMPARE(r.view.isSyn(), proto == kIpProtoTcp);
    QCOMPARE(int(r.view.tcpFlags), proto == kIpProtoTcp ? int(s.tcpFlags) : 0);
}

void TestFrameParser::everyPrefixOfAValidFrameIsHandled()
{
    // Cutting a good frame anywhere must give a refusal, never a read past the end (run under
    // ASan/the fuzzer for the "never" part) and never "ok" before the L4 header is complete.
    for (const bool vlan : {false, true}) {
        FrameSpec s;
        s.vlan = vlan;
        s.tcpFlags = kTcpAck;
        const auto f = buildFrame(s);
        for (std::size_t n = 0; n < f.size(); ++n) {
            const ParseResult r = parseFrame(std::span<const std::uint8_t>(f.data(), n));
            QVERIFY2(r.verdict != ParseVerdict::Ok, qPrintable(QStringLiteral("prefix %1 accepted").arg(n)));
        }
        QCOMPARE(int(parseFrame(f).verdict), int(ParseVerdict::Ok));
    }
}

QTEST_GUILESS_MAIN(TestFrameParser)
#include "tst_frameparser.moc"
