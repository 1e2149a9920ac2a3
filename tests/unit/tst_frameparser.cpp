// Frame parser and L4/2 output, as a table: {description, frame in, verdict, frame out}.
// Every frame goes through parseFrame() and through a FastPath with one server, so each row
// also pins what the dispatcher emits (or that it emits nothing). ICMP errors have a table of
// their own: {description, frame in, ICMP verdict, frame out}; and frames that parse but that no
// client sends (bogus sources, 802.1Q tags) theirs: {description, frame in, bogus verdict, frame out}.

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

IcmpSpec icmpSpec(void (*edit)(IcmpSpec &))
{
    IcmpSpec s;
    edit(s);
    return s;
}

// One server in slot 0, reconstruction not complete: an ICMP error for an unknown flow follows
// the continuity hash, which with one server is that server.
struct OneServer {
    OneServer()
    {
        DispatchPolicy policy;
        policy.vip = kVip;
        policy.dispatcherMac = kDispatcherMac;
        tables.publish(ServerTable::build({{7, 0, kServerMac, ip4(10, 0, 0, 7), 1, true, false}}, policy, 1));
        FastPathConfig config;
        config.maxFlows = 64;
        fp = std::make_unique<FastPath>(config, tables);
    }
    ServerTableHandoff tables;
    std::unique_ptr<FastPath> fp;
};

// The value of a verdict enum whose name is `name`, -1 if none.
template <typename Verdict>
int verdictIndex(const QByteArray &name, std::size_t count, const char *(*nameOf)(Verdict) noexcept)
{
    for (std::size_t v = 0; v < count; ++v) {
        if (name == nameOf(Verdict(v)))
            return int(v);
    }
    return -1;
}

std::span<const std::uint8_t> asFrame(const QByteArray &in)
{
    return {reinterpret_cast<const std::uint8_t *>(in.constData()), std::size_t(in.size())};
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
    void icmp_data();
    void icmp();
    void icmpViewFields();
    void bogus_data();
    void bogus();
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
    ok("tcp ACK with 1400 bytes of data", spec([](FrameSpec &s) { s.tcpFlags = kTcpAck | kTcpPsh; s.payload = 1400; }));
    ok("tcp FIN+ACK", spec([](FrameSpec &s) { s.tcpFlags = kTcpFin | kTcpAck; }));
    ok("tcp with 12 bytes of TCP options", spec([](FrameSpec &s) { s.tcpDataOffset = 8; }));
    ok("tcp ACK padded to the 60-byte Ethernet minimum", spec([](FrameSpec &s) { s.tcpFlags = kTcpAck; s.padTo = 60; }));
    ok("udp datagram", spec([](FrameSpec &s) { s.proto = kIpProtoUdp; s.dstPort = 53; s.payload = 30; }));
    ok("udp empty payload, padded", spec([](FrameSpec &s) { s.proto = kIpProtoUdp; s.padTo = 60; }));

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
    bad("gre", spec([](FrameSpec &s) { s.proto = 47; }), ParseVerdict::UnsupportedL4);
    auto badIcmp = [](const char *name, const IcmpSpec &s, ParseVerdict v) {
        QTest::newRow(name) << bytes(buildIcmpFrame(s)) << QByteArray(parseVerdictName(v)) << QByteArray();
    };
    // An ICMP message passes the same IPv4 checks as any frame before its own.
    badIcmp("icmp error cut by the capture length", icmpSpec([](IcmpSpec &s) { s.truncateTo = 14 + 20 + 8 + 20; }),
            ParseVerdict::BadTotalLength);
    badIcmp("icmp error with IP options", icmpSpec([](IcmpSpec &s) { s.ihl = 6; }), ParseVerdict::IpOptions);
    badIcmp("icmp error, a fragment", icmpSpec([](IcmpSpec &s) { s.fragField = 0x2000; }), ParseVerdict::Fragment);
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

    const std::span<const std::uint8_t> frame = asFrame(in);
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
    // An ICMP error cut anywhere is never routable (the total length or the quote gives out).
    for (const bool vlan : {false, true}) {
        IcmpSpec s;
        s.vlan = vlan;
        const auto f = buildIcmpFrame(s);
        for (std::size_t n = 0; n < f.size(); ++n) {
            const ParseResult r = parseFrame(std::span<const std::uint8_t>(f.data(), n));
            QVERIFY2(r.verdict != ParseVerdict::Ok && !(r.verdict == ParseVerdict::Icmp && r.icmp == IcmpVerdict::Routable),
                     qPrintable(QStringLiteral("icmp prefix %1 accepted").arg(n)));
        }
        // And one whose total length is cut with it (a router that quotes less) stops being
        // routable exactly where the ports end.
        for (std::size_t cut = 0; cut <= 8 + 28; ++cut) {
            IcmpSpec shorter = s;
            shorter.icmpBytes = cut;
            const ParseResult r = parseFrame(buildIcmpFrame(shorter));
            QCOMPARE(int(r.verdict), int(ParseVerdict::Icmp));
            QCOMPARE(r.icmp == IcmpVerdict::Routable, cut == 8 + 28);
        }
        const ParseResult whole = parseFrame(f);
        QCOMPARE(int(whole.verdict), int(ParseVerdict::Icmp));
        QCOMPARE(int(whole.icmp), int(IcmpVerdict::Routable));
    }
}

void TestFrameParser::icmp_data()
{
    QTest::addColumn<QByteArray>("in");
    QTest::addColumn<QByteArray>("verdict");
    QTest::addColumn<QByteArray>("out");

    auto routed = [](const char *name, const IcmpSpec &s) {
        QTest::newRow(name) << bytes(buildIcmpFrame(s)) << QByteArray(icmpVerdictName(IcmpVerdict::Routable))
                            << bytes(withMacs(buildIcmpFrame(s), kServerMac, kDispatcherMac));
    };
    auto dropped = [](const char *name, const IcmpSpec &s, IcmpVerdict v) {
        QTest::newRow(name) << bytes(buildIcmpFrame(s)) << QByteArray(icmpVerdictName(v)) << QByteArray();
    };

    routed("frag-needed (3/4) quoting a TCP reply", IcmpSpec{});
    routed("frag-needed quoting the whole 1500-byte reply", icmpSpec([](IcmpSpec &s) { s.quoteBytes = SIZE_MAX; }));
    routed("frag-needed quoting a header with IP options (IHL 8)", icmpSpec([](IcmpSpec &s) { s.quoted.ihl = 8; }));
    routed("frag-needed quoting a header with IHL 15, 68 bytes quoted", icmpSpec([](IcmpSpec &s) { s.quoted.ihl = 15; }));
    routed("frag-needed quoting a UDP reply", icmpSpec([](IcmpSpec &s) {
               s.quoted.proto = kIpProtoUdp;
               s.quoted.srcPort = 53;
           }));
    routed("frag-needed quoting a first fragment (MF set, offset 0)", icmpSpec([](IcmpSpec &s) { s.quoted.fragField = 0x2000; }));
    routed("port unreachable (3/3)", icmpSpec([](IcmpSpec &s) { s.code = 3; }));
    routed("host unreachable (3/1)", icmpSpec([](IcmpSpec &s) { s.code = 1; }));
    routed("time exceeded in transit (11/0)", icmpSpec([](IcmpSpec &s) { s.type = 11; s.code = 0; }));
    routed("frag-needed padded with zeros after the total length", icmpSpec([](IcmpSpec &s) { s.padTo = 100; }));

    dropped("echo request", icmpSpec([](IcmpSpec &s) { s.type = 8; s.code = 0; }), IcmpVerdict::UnhandledType);
    dropped("echo reply", icmpSpec([](IcmpSpec &s) { s.type = 0; s.code = 0; }), IcmpVerdict::UnhandledType);
    dropped("redirect (5)", icmpSpec([](IcmpSpec &s) { s.type = 5; s.code = 1; }), IcmpVerdict::UnhandledType);
    dropped("source quench (4)", icmpSpec([](IcmpSpec &s) { s.type = 4; s.code = 0; }), IcmpVerdict::UnhandledType);
    dropped("parameter problem (12)", icmpSpec([](IcmpSpec &s) { s.type = 12; s.code = 0; }), IcmpVerdict::UnhandledType);
    dropped("icmp header 7 bytes", icmpSpec([](IcmpSpec &s) { s.icmpBytes = 7; }), IcmpVerdict::Truncated);
    dropped("icmp header 0 bytes", icmpSpec([](IcmpSpec &s) { s.icmpBytes = 0; }), IcmpVerdict::Truncated);
    dropped("nothing quoted", icmpSpec([](IcmpSpec &s) { s.icmpBytes = 8; }), IcmpVerdict::EmbeddedTruncated);
    dropped("quote 19 bytes: header cut", icmpSpec([](IcmpSpec &s) { s.quoteBytes = 19; }), IcmpVerdict::EmbeddedTruncated);
    dropped("quote 27 bytes: ports cut", icmpSpec([](IcmpSpec &s) { s.quoteBytes = 27; }), IcmpVerdict::EmbeddedTruncated);
    dropped("quoted IHL 6, 28 bytes quoted: ports cut", icmpSpec([](IcmpSpec &s) {
                s.quoted.ihl = 6;
                s.quoteBytes = 28;
            }),
            IcmpVerdict::EmbeddedTruncated);
    dropped("quoted IHL 4", icmpSpec([](IcmpSpec &s) { s.quoted.ihl = 4; }), IcmpVerdict::EmbeddedBadIhl);
    dropped("quoted IHL 0", icmpSpec([](IcmpSpec &s) { s.quotedVersionIhl = 0x40; }), IcmpVerdict::EmbeddedBadIhl);
    dropped("quoted IHL 15, 28 bytes quoted", icmpSpec([](IcmpSpec &s) {
                s.quoted.ihl = 15;
                s.quoteBytes = 28;
            }),
            IcmpVerdict::EmbeddedBadIhl);
    dropped("quoted IHL 15, 59 bytes quoted", icmpSpec([](IcmpSpec &s) {
                s.quoted.ihl = 15;
                s.quoteBytes = 59;
            }),
            IcmpVerdict::EmbeddedBadIhl);
    dropped("quoted version 6", icmpSpec([](IcmpSpec &s) { s.quotedVersionIhl = 0x65; }), IcmpVerdict::EmbeddedNotIpv4);
    dropped("quoted later fragment", icmpSpec([](IcmpSpec &s) { s.quoted.fragField = 0x00B9; }), IcmpVerdict::EmbeddedFragment);
    dropped("quoted ICMP echo", icmpSpec([](IcmpSpec &s) { s.quoted.proto = kIpProtoIcmp; }), IcmpVerdict::EmbeddedNotTcpUdp);
    dropped("quoted GRE", icmpSpec([](IcmpSpec &s) { s.quoted.proto = 47; }), IcmpVerdict::EmbeddedNotTcpUdp);
    dropped("quoted source not the VIP", icmpSpec([](IcmpSpec &s) { s.quoted.srcIp = ip4(10, 0, 0, 99); }),
            IcmpVerdict::EmbeddedNotFromVip);
    dropped("quoted packet from the client to the VIP", icmpSpec([](IcmpSpec &s) { s.quoted = FrameSpec{}; }),
            IcmpVerdict::EmbeddedNotFromVip);
}

void TestFrameParser::icmp()
{
    QFETCH(QByteArray, in);
    QFETCH(QByteArray, verdict);
    QFETCH(QByteArray, out);
    const int expected = verdictIndex(verdict, kIcmpVerdictCount, icmpVerdictName);
    QVERIFY(expected >= 0);

    const std::span<const std::uint8_t> frame = asFrame(in);
    const ParseResult parsed = parseFrame(frame);
    QCOMPARE(QByteArray(parseVerdictName(parsed.verdict)), QByteArray("icmp"));
    // The parser decides up to EmbeddedNotTcpUdp; what needs the policy it leaves routable.
    const IcmpVerdict fromParser = expected <= int(IcmpVerdict::EmbeddedNotTcpUdp) ? IcmpVerdict(expected)
                                                                                    : IcmpVerdict::Routable;
    QCOMPARE(QByteArray(icmpVerdictName(parsed.icmp)), QByteArray(icmpVerdictName(fromParser)));

    OneServer engine;
    std::vector<std::uint8_t> buffer(2048, 0xEE);
    const ProcessResult r = engine.fp->process(frame, buffer, FastTime(1000));
    const FastPathCounters &c = engine.fp->counters();
    QCOMPARE(QByteArray(parseVerdictName(r.parse)), QByteArray("icmp"));
    if (out.isEmpty()) {
        QCOMPARE(int(r.verdict), int(Verdict::Drop));
        QCOMPARE(QByteArray(dropReasonName(r.reason)), QByteArray("icmp"));
        QCOMPARE(QByteArray(icmpVerdictName(r.icmp)), verdict);
        QCOMPARE(read(c.icmpDropped[std::size_t(expected)]), 1u);
        QCOMPARE(read(c.icmpForwarded), 0u);
        QCOMPARE(read(c.forwarded), 0u);
    } else {
        QCOMPARE(int(r.verdict), int(Verdict::Forward));
        QCOMPARE(QByteArray(reinterpret_cast<const char *>(buffer.data()), qsizetype(r.outLength)), out);
        QCOMPARE(read(c.icmpForwarded), 1u);
        QCOMPARE(read(c.forwarded), 1u);
    }
    QCOMPARE(read(c.malformed[std::size_t(ParseVerdict::Icmp)]), 0u);
    QCOMPARE(int(engine.fp->flows().size()), 0); // an ICMP error never creates a flow
}

void TestFrameParser::icmpViewFields()
{
    for (const bool vlan : {false, true}) {
        IcmpSpec s;
        s.vlan = vlan;
        s.quoted.ihl = 7;
        s.quoted.srcPort = 443;
        s.quoted.dstIp = ip4(192, 168, 9, 8);
        s.quoted.dstPort = 54321;
        const auto f = buildIcmpFrame(s);
        const ParseResult r = parseFrame(f);
        QCOMPARE(QByteArray(icmpVerdictName(r.icmp)), QByteArray("icmp-routable"));
        QCOMPARE(int(r.view.l3Offset), vlan ? 18 : 14);
        QCOMPARE(int(r.view.l4Offset), vlan ? 38 : 34);
        QCOMPARE(int(r.view.ipTotalLength), 20 + 8 + 28 + 8);
        QCOMPARE(r.view.size, std::uint32_t(f.size()));
        QCOMPARE(r.view.data, f.data());
        QCOMPARE(int(r.view.tcpFlags), 0);
        // The quoted packet reversed: client 192.168.9.8:54321 -> VIP:443.
        const FlowKey expected{ip4(192, 168, 9, 8), kVip, 54321, 443, kIpProtoTcp};
        QVERIFY(r.view.key == expected);
        QVERIFY(r.view.key == flowKeyOf(s));
    }
}

void TestFrameParser::bogus_data()
{
    QTest::addColumn<QByteArray>("in");
    QTest::addColumn<QByteArray>("verdict");
    QTest::addColumn<QByteArray>("out");

    auto from = [](std::uint32_t srcIp, bool vlan = false, std::uint8_t proto = kIpProtoTcp) {
        FrameSpec s;
        s.srcIp = srcIp;
        s.vlan = vlan;
        s.proto = proto;
        s.payload = proto == kIpProtoUdp ? 8 : 0;
        return s;
    };
    auto dropped = [](const char *name, const FrameSpec &s, BogusVerdict v) {
        QTest::newRow(name) << bytes(buildFrame(s)) << QByteArray(bogusVerdictName(v)) << QByteArray();
    };
    auto passed = [](const char *name, const FrameSpec &s) {
        QTest::newRow(name) << bytes(buildFrame(s)) << QByteArray(bogusVerdictName(BogusVerdict::None)) << forwarded(s);
    };

    dropped("SYN from the VIP itself (LAND)", from(kVip), BogusVerdict::SourceVip);
    dropped("SYN from 0.0.0.0", from(ip4(0, 0, 0, 0)), BogusVerdict::SourceThisNetwork);
    dropped("SYN from 0.255.255.255, top of 0/8", from(ip4(0, 255, 255, 255)), BogusVerdict::SourceThisNetwork);
    dropped("SYN from 127.0.0.1", from(ip4(127, 0, 0, 1)), BogusVerdict::SourceLoopback);
    dropped("SYN from 127.255.255.254", from(ip4(127, 255, 255, 254)), BogusVerdict::SourceLoopback);
    dropped("SYN from 224.0.0.1, bottom of 224/4", from(ip4(224, 0, 0, 1)), BogusVerdict::SourceMulticast);
    dropped("SYN from 239.255.255.250, top of 224/4", from(ip4(239, 255, 255, 250)), BogusVerdict::SourceMulticast);
    dropped("SYN from 240.0.0.0, bottom of 240/4", from(ip4(240, 0, 0, 0)), BogusVerdict::SourceReserved);
    dropped("SYN from 255.255.255.254", from(ip4(255, 255, 255, 254)), BogusVerdict::SourceReserved);
    dropped("SYN from 255.255.255.255", from(ip4(255, 255, 255, 255)), BogusVerdict::SourceBroadcast);
    dropped("udp from 255.255.255.255", from(ip4(255, 255, 255, 255), false, kIpProtoUdp), BogusVerdict::SourceBroadcast);
    dropped("udp from 127.0.0.1", from(ip4(127, 0, 0, 1), false, kIpProtoUdp), BogusVerdict::SourceLoopback);
    dropped("tcp SYN with 802.1Q tag", from(kClientIp, true), BogusVerdict::VlanTagged);
    dropped("udp with 802.1Q tag", from(kClientIp, true, kIpProtoUdp), BogusVerdict::VlanTagged);
    dropped("802.1Q tag and a loopback source: the tag is named", from(ip4(127, 0, 0, 1), true), BogusVerdict::VlanTagged);
    // The edges of the ranges are ordinary clients.
    passed("SYN from 1.0.0.0, above 0/8", from(ip4(1, 0, 0, 0)));
    passed("SYN from 126.255.255.255, below 127/8", from(ip4(126, 255, 255, 255)));
    passed("SYN from 128.0.0.0, above 127/8", from(ip4(128, 0, 0, 0)));
    passed("SYN from 223.255.255.255, below 224/4", from(ip4(223, 255, 255, 255)));
    passed("SYN from the VIP's neighbour", from(kVip + 1));
    passed("udp from a client", from(kClientIp, false, kIpProtoUdp));
}

// Bogus frames are valid frames: the parser takes them; the fast path drops and counts them
// before they reach the flow table.
void TestFrameParser::bogus()
{
    QFETCH(QByteArray, in);
    QFETCH(QByteArray, verdict);
    QFETCH(QByteArray, out);
    const int expected = verdictIndex(verdict, kBogusVerdictCount, bogusVerdictName);
    QVERIFY(expected >= 0);

    const std::span<const std::uint8_t> frame = asFrame(in);
    const ParseResult parsed = parseFrame(frame);
    QCOMPARE(QByteArray(parseVerdictName(parsed.verdict)), QByteArray("ok"));
    QCOMPARE(QByteArray(bogusVerdictName(checkBogus(parsed.view.key.srcIp, parsed.view.hasVlan, kVip))), verdict);

    OneServer engine;
    std::vector<std::uint8_t> buffer(2048, 0xEE);
    const ProcessResult r = engine.fp->process(frame, buffer, FastTime(1000));
    const FastPathCounters &c = engine.fp->counters();
    if (out.isEmpty()) {
        QCOMPARE(int(r.verdict), int(Verdict::Drop));
        QCOMPARE(QByteArray(dropReasonName(r.reason)), QByteArray("bogus"));
        QCOMPARE(QByteArray(bogusVerdictName(r.bogus)), verdict);
        QCOMPARE(read(c.bogusDropped[std::size_t(expected)]), 1u);
        QCOMPARE(int(engine.fp->flows().size()), 0);
    } else {
        QCOMPARE(int(r.verdict), int(Verdict::Forward));
        QCOMPARE(QByteArray(reinterpret_cast<const char *>(buffer.data()), qsizetype(r.outLength)), out);
        QCOMPARE(int(engine.fp->flows().size()), 1);
    }
    QCOMPARE(framesAccounted(c), read(c.framesIn));
}

QTEST_GUILESS_MAIN(TestFrameParser)
#include "tst_frameparser.moc"
