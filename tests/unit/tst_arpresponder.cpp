// The dispatcher's ARP answers for the VIP (daemon/dispatcher/arpresponder.h), as a table:
// {description, frame in, verdict, frame out}. The expected replies are written byte by byte
// (testframes.h buildArpFrame), independently of libnet, which builds the responder's template.

#include "dispatcher/arpresponder.h"
#include "dispatcher/vmacannouncer.h"
#include "testframes.h"

#include <QTest>

using namespace sasha;
using namespace sasha::testframes;

Q_DECLARE_METATYPE(sasha::ArpResponder::Verdict)

namespace {

QByteArray bytes(const std::vector<std::uint8_t> &v)
{
    return QByteArray(reinterpret_cast<const char *>(v.data()), qsizetype(v.size()));
}

ArpSpec arp(void (*edit)(ArpSpec &))
{
    ArpSpec s;
    edit(s);
    return s;
}

// The reply the dispatcher must send to an asker: unicast, from the VMAC, 42 bytes.
QByteArray replyTo(const MacAddress &mac, std::uint32_t ip)
{
    ArpSpec r;
    r.ethDst = mac;
    r.ethSrc = kVmac;
    r.op = 2;
    r.sha = kVmac;
    r.spa = kVip;
    r.tha = mac;
    r.tpa = ip;
    r.padTo = 0;
    return bytes(buildArpFrame(r));
}

constexpr MacAddress kHostMac{0x02, 0x77, 0x00, 0x00, 0x00, 0x05};
constexpr std::uint32_t kHostIp = ip4(10, 0, 0, 5);

} // namespace

class TestArpResponder : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void frames_data();
    void frames();
    void templateIsAReplyFromTheVmac();
    void everyVipIsAnswered();
    void shortBufferWritesNothing();
    void questionIsAProbeThatIsAnswered();
};

void TestArpResponder::frames_data()
{
    QTest::addColumn<QByteArray>("in");
    QTest::addColumn<ArpResponder::Verdict>("verdict");
    QTest::addColumn<QByteArray>("out"); // the reply; empty when none is due

    using V = ArpResponder::Verdict;
    const QByteArray none;
    QTest::newRow("router's broadcast request for the VIP (padded to 60): answered to the router")
        << bytes(buildArpFrame(ArpSpec{})) << V::RequestForVip << replyTo(kRouterMac, kRouterIp);
    QTest::newRow("unpadded 42-byte request: answered")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.padTo = 0; }))) << V::RequestForVip
        << replyTo(kRouterMac, kRouterIp);
    QTest::newRow("unicast re-check to the VMAC (a stale entry probed): answered")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.ethDst = kVmac; s.tha = kVmac; }))) << V::RequestForVip
        << replyTo(kRouterMac, kRouterIp);
    QTest::newRow("another host asks: answered to its sender MAC, not the Ethernet source")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.sha = kHostMac; s.spa = kHostIp; }))) << V::RequestForVip
        << replyTo(kHostMac, kHostIp);
    QTest::newRow("RFC 5227 probe for the VIP (sender IP 0.0.0.0): answered to 0.0.0.0")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.spa = 0; }))) << V::RequestForVip << replyTo(kRouterMac, 0);

    QTest::newRow("request for another address: ignored")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.tpa = kHostIp; }))) << V::Ignored << none;
    QTest::newRow("reply about the VIP: ignored")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.op = 2; }))) << V::Ignored << none;
    QTest::newRow("RARP-style operation 3: ignored")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.op = 3; }))) << V::Ignored << none;
    QTest::newRow("gratuitous request (sender IP = VIP): an announcement, ignored")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.spa = kVip; }))) << V::Ignored << none;
    {
        std::string error;
        QTest::newRow("another dispatcher's VMAC announcement (libnet-built): ignored")
            << bytes(VmacAnnouncer::buildGratuitousArp(kVmac, kVip, error, {1, 2, 3, 4, 0, 5})) << V::Ignored << none;
    }

    QTest::newRow("IPv4 frame to the VMAC: not ARP")
        << bytes(buildFrame(FrameSpec{})) << V::NotArp << none;
    QTest::newRow("12 bytes, no EtherType: not ARP") << QByteArray(12, '\xff') << V::NotArp << none;
    QTest::newRow("ARP cut to 30 bytes: malformed")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.padTo = 0; s.truncateTo = 30; }))) << V::Malformed << none;
    QTest::newRow("ARP cut to 41 bytes (target IP incomplete): malformed")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.padTo = 0; s.truncateTo = 41; }))) << V::Malformed << none;
    QTest::newRow("hardware type 6 (IEEE 802): malformed")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.htype = 6; }))) << V::Malformed << none;
    QTest::newRow("protocol type IPv6: malformed")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.ptype = 0x86dd; }))) << V::Malformed << none;
    QTest::newRow("hardware length 8: malformed")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.hlen = 8; }))) << V::Malformed << none;
    QTest::newRow("protocol length 16: malformed")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.plen = 16; }))) << V::Malformed << none;
    QTest::newRow("sender MAC broadcast: malformed (the answer would be broadcast)")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.sha = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; })))
        << V::Malformed << none;
    QTest::newRow("sender MAC multicast: malformed")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.sha = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}; })))
        << V::Malformed << none;
    QTest::newRow("sender MAC zero: malformed")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.sha = {}; }))) << V::Malformed << none;
    QTest::newRow("Ethernet source multicast: malformed")
        << bytes(buildArpFrame(arp([](ArpSpec &s) { s.ethSrc = {0x03, 0, 0, 0, 0, 1}; }))) << V::Malformed << none;
}

void TestArpResponder::frames()
{
    QFETCH(QByteArray, in);
    QFETCH(ArpResponder::Verdict, verdict);
    QFETCH(QByteArray, out);

    ArpResponder responder(kVmac, kVip);
    QVERIFY2(responder.valid(), responder.error().c_str());
    const std::span<const std::uint8_t> frame(reinterpret_cast<const std::uint8_t *>(in.constData()),
                                              std::size_t(in.size()));
    ArpResponder::Asker asker;
    const ArpResponder::Verdict got = responder.classify(frame, asker);
    QCOMPARE(int(got), int(verdict));
    if (got != ArpResponder::Verdict::RequestForVip)
        return;
    // The buffer is dirty, as a TX ring slot reused from an earlier frame would be.
    std::vector<std::uint8_t> buffer(kMaxFrameBytes, 0xee);
    const std::size_t length = responder.writeReply(asker, buffer);
    QCOMPARE(length, ArpResponder::kReplyBytes);
    QCOMPARE(QByteArray(reinterpret_cast<const char *>(buffer.data()), qsizetype(length)).toHex(' '),
             out.toHex(' '));
}

void TestArpResponder::templateIsAReplyFromTheVmac()
{
    // Another VIP and VMAC: the template takes both from the constructor, not from constants.
    const MacAddress vmac{0x02, 0x5a, 0x5a, 0x00, 0x00, 0x09};
    const std::uint32_t vip = ip4(192, 0, 2, 80);
    ArpResponder responder(vmac, vip);
    QVERIFY2(responder.valid(), responder.error().c_str());
    QCOMPARE(responder.vip(), vip);
    ArpSpec request;
    request.tpa = vip;
    const auto in = buildArpFrame(request);
    ArpResponder::Asker asker;
    QCOMPARE(int(responder.classify(in, asker)), int(ArpResponder::Verdict::RequestForVip));
    QCOMPARE(int(ArpResponder::classify(in, kVip, asker)), int(ArpResponder::Verdict::Ignored)); // not our VIP
    std::vector<std::uint8_t> out(64);
    QCOMPARE(responder.writeReply(asker, out), ArpResponder::kReplyBytes);
    ArpSpec expected;
    expected.ethDst = kRouterMac;
    expected.ethSrc = vmac;
    expected.op = 2;
    expected.sha = vmac;
    expected.spa = vip;
    expected.tha = kRouterMac;
    expected.tpa = kRouterIp;
    expected.padTo = 0;
    const auto want = buildArpFrame(expected);
    QCOMPARE(bytes(std::vector<std::uint8_t>(out.begin(), out.begin() + 42)).toHex(' '), bytes(want).toHex(' '));
}

// Services on several VIPs: a request for any of them is answered, the reply's sender address
// the VIP asked for; other addresses stay ignored.
void TestArpResponder::everyVipIsAnswered()
{
    const std::uint32_t vip2 = ip4(10, 0, 0, 101), other = ip4(10, 0, 0, 102);
    ArpResponder responder(kVmac, std::vector<std::uint32_t>{kVip, vip2});
    QVERIFY2(responder.valid(), responder.error().c_str());
    for (const std::uint32_t target : {kVip, vip2, other}) {
        ArpSpec request;
        request.tpa = target;
        ArpResponder::Asker asker;
        const auto verdict = responder.classify(buildArpFrame(request), asker);
        if (target == other) {
            QCOMPARE(int(verdict), int(ArpResponder::Verdict::Ignored));
            continue;
        }
        QCOMPARE(int(verdict), int(ArpResponder::Verdict::RequestForVip));
        std::vector<std::uint8_t> out(64);
        QCOMPARE(responder.writeReply(asker, out), ArpResponder::kReplyBytes);
        ArpSpec expected;
        expected.ethDst = kRouterMac;
        expected.ethSrc = kVmac;
        expected.op = 2;
        expected.sha = kVmac;
        expected.spa = target;
        expected.tha = kRouterMac;
        expected.tpa = kRouterIp;
        expected.padTo = 0;
        QCOMPARE(bytes(std::vector<std::uint8_t>(out.begin(), out.begin() + 42)).toHex(' '),
                 bytes(buildArpFrame(expected)).toHex(' '));
    }
}

void TestArpResponder::shortBufferWritesNothing()
{
    ArpResponder responder(kVmac, kVip);
    QVERIFY(responder.valid());
    ArpResponder::Asker asker{kRouterMac, kRouterIp};
    std::vector<std::uint8_t> small(41, 0xee);
    QCOMPARE(responder.writeReply(asker, small), std::size_t(0));
    QVERIFY(std::all_of(small.begin(), small.end(), [](std::uint8_t b) { return b == 0xee; }));
}

// The question a node asks before a takeover (DispatcherService::askBeforeTakeover): an RFC 5227
// probe for the VIP from the node's MAC, byte for byte, and one the responder answers.
void TestArpResponder::questionIsAProbeThatIsAnswered()
{
    const MacAddress node{0x02, 0x00, 0x0a, 0x4d, 0x00, 0x03};
    std::string error;
    const std::vector<std::uint8_t> question = ArpResponder::buildQuestion(node, kVip, error);
    QVERIFY2(!question.empty(), error.c_str());
    ArpSpec probe;
    probe.ethSrc = node;
    probe.sha = node;
    probe.spa = 0;
    probe.tpa = kVip;
    probe.padTo = 0;
    QCOMPARE(bytes(question).toHex(' '), bytes(buildArpFrame(probe)).toHex(' '));
    ArpResponder responder(kVmac, kVip);
    QVERIFY(responder.valid());
    ArpResponder::Asker asker;
    QCOMPARE(int(responder.classify(question, asker)), int(ArpResponder::Verdict::RequestForVip));
    QCOMPARE(asker.mac, node);
    QCOMPARE(asker.ip, std::uint32_t(0));
    // Another VIP is not this responder's question.
    const auto other = ArpResponder::buildQuestion(node, kVip + 1, error);
    QCOMPARE(int(responder.classify(other, asker)), int(ArpResponder::Verdict::Ignored));
}

QTEST_APPLESS_MAIN(TestArpResponder)
#include "tst_arpresponder.moc"
