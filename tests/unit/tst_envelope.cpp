// Specification of the TokenBeat envelope (docs/tokenbeat.md "Envelope", "Replay protection"):
// what a sealed datagram looks like, and every way the opener rejects one.

#include "tokenbeat/envelope.h"

#include <QtEndian>
#include <QTest>

using namespace sasha::tb;

Q_DECLARE_METATYPE(sasha::tb::Endpoint)

namespace {

const QByteArray kKey = QByteArrayLiteral("0123456789abcdef0123456789abcdef");
const QByteArray kOtherKey = QByteArrayLiteral("fedcba9876543210fedcba9876543210");
constexpr NodeAddr kAlice = 0x0a000001;
// Where the datagrams of these tests are sent: the receiver's endpoint.
constexpr Endpoint kBobEp{0x0a000002, 7400};
constexpr std::size_t kMaxDatagram = 1400;
constexpr int kMaxBody = int(kMaxDatagram) - kEnvelopeOverhead;

QByteArray bodyOf(int size)
{
    QByteArray b(size, Qt::Uninitialized);
    for (int i = 0; i < size; ++i)
        b[i] = char(i * 7 + 3);
    return b;
}

// DropReason has no QTest printer here; compare the numbers, name the expectation in the message.
int reasonOf(const Opener::Result &r) { return int(r.reason); }

} // namespace

class TestEnvelope : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void roundTrip_data();
    void roundTrip();
    void wireLayout();
    void everyFlippedBitRejected();
    void wrongKeyRejected();
    void truncationAtEveryLengthRejected();
    void oversizedRejected();
    void unknownVersionRejected();
    void trailingBytesMalformed();
    void destination_data();
    void destination();
    void wrongDestinationLeavesReplayStateAlone();
    void shortKeyRefusesToSealAndOpen();
    void bodyTooLongForLengthFieldNotSealed();
    void replay_data();
    void replay();
    void staleAndNewerEpoch();
    void sendersBeyondMaxEvictedLru();
};

void TestEnvelope::roundTrip_data()
{
    QTest::addColumn<int>("bodySize");
    QTest::addColumn<int>("type");
    QTest::newRow("empty body") << 0 << 1;
    QTest::newRow("one byte") << 1 << 7;
    QTest::newRow("typical 100 bytes") << 100 << 200;
    QTest::newRow("largest body that fits maxDatagram") << kMaxBody << 255;
}

void TestEnvelope::roundTrip()
{
    QFETCH(int, bodySize);
    QFETCH(int, type);
    Sealer sealer(kKey, kAlice, 42);
    Opener opener(kKey, {kBobEp}, kMaxDatagram);
    const QByteArray body = bodyOf(bodySize);
    const QByteArray d = sealer.seal(quint8(type), kBobEp, body);
    QCOMPARE(d.size(), kEnvelopeOverhead + bodySize);
    QCOMPARE(sealer.lastSeq(), quint64(1));
    const auto r = opener.open(d);
    QVERIFY2(r.envelope.has_value(), qPrintable(QString("rejected, reason %1").arg(reasonOf(r))));
    QCOMPARE(r.envelope->type, quint8(type));
    QCOMPARE(r.envelope->sender, kAlice);
    QCOMPARE(r.envelope->destination, kBobEp);
    QCOMPARE(r.envelope->bootEpoch, quint64(42));
    QCOMPARE(r.envelope->seq, quint64(1));
    QCOMPARE(r.envelope->body, body);
}

void TestEnvelope::wireLayout()
{
    Sealer sealer(kKey, 0x01020304, 0x1122334455667788ull);
    sealer.seal(1, kBobEp, "x");
    const QByteArray d = sealer.seal(9, kBobEp, "abc");
    const auto *p = reinterpret_cast<const uchar *>(d.constData());
    QCOMPARE(d.left(2), QByteArray("SB"));
    QCOMPARE(int(p[2]), int(kEnvelopeVersion));
    QCOMPARE(int(p[3]), 9);
    QCOMPARE(int(kEnvelopeVersion), 2);
    QCOMPARE(qFromBigEndian<quint32>(p + 4), quint32(0x01020304));
    QCOMPARE(qFromBigEndian<quint32>(p + 8), kBobEp.ip);
    QCOMPARE(qFromBigEndian<quint16>(p + 12), kBobEp.port);
    QCOMPARE(qFromBigEndian<quint64>(p + 14), quint64(0x1122334455667788ull));
    QCOMPARE(qFromBigEndian<quint64>(p + 22), quint64(2));
    QCOMPARE(qFromBigEndian<quint16>(p + 30), quint16(3));
    QCOMPARE(d.mid(32, 3), QByteArray("abc"));
    QCOMPARE(d.size(), 32 + 3 + 16);
}

void TestEnvelope::everyFlippedBitRejected()
{
    Sealer sealer(kKey, kAlice, 1);
    const QByteArray good = sealer.seal(3, kBobEp, bodyOf(20));
    for (int byte = 0; byte < good.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            Opener opener(kKey, {kBobEp}, kMaxDatagram); // fresh, so only the flip can cause a rejection
            QByteArray bad = good;
            bad[byte] = char(bad[byte] ^ (1 << bit));
            const auto r = opener.open(bad);
            const QByteArray where = QByteArray("byte ") + QByteArray::number(byte) + " bit "
                                     + QByteArray::number(bit);
            QVERIFY2(!r.envelope, where.constData());
            DropReason expected = DropReason::BadMac;
            if (byte < 2)
                expected = DropReason::BadMagic;
            else if (byte == 2)
                expected = DropReason::UnknownVersion;
            else if (byte == 30 || byte == 31) // body length now disagrees with the size
                expected = bad.size() < kEnvelopeOverhead + qFromBigEndian<quint16>(bad.constData() + 30)
                               ? DropReason::Truncated
                               : DropReason::Malformed;
            QVERIFY2(reasonOf(r) == int(expected), where.constData());
        }
    }
    Opener opener(kKey, {kBobEp}, kMaxDatagram);
    QVERIFY(opener.open(good).envelope.has_value()); // the original still opens
}

void TestEnvelope::wrongKeyRejected()
{
    Sealer sealer(kOtherKey, kAlice, 1);
    Opener opener(kKey, {kBobEp}, kMaxDatagram);
    const auto r = opener.open(sealer.seal(1, kBobEp, "hello"));
    QVERIFY(!r.envelope);
    QCOMPARE(reasonOf(r), int(DropReason::BadMac));
}

void TestEnvelope::truncationAtEveryLengthRejected()
{
    Sealer sealer(kKey, kAlice, 1);
    const QByteArray good = sealer.seal(1, kBobEp, bodyOf(50));
    Opener opener(kKey, {kBobEp}, kMaxDatagram);
    for (int len = 0; len < good.size(); ++len) {
        const auto r = opener.open(QByteArrayView(good.constData(), len));
        QVERIFY2(!r.envelope, qPrintable(QString("length %1").arg(len)));
        QVERIFY2(reasonOf(r) == int(DropReason::Truncated), qPrintable(QString("length %1").arg(len)));
    }
    QVERIFY(opener.open(good).envelope.has_value());
}

void TestEnvelope::oversizedRejected()
{
    Sealer sealer(kKey, kAlice, 1);
    Opener opener(kKey, {kBobEp}, kMaxDatagram);
    const auto r = opener.open(sealer.seal(1, kBobEp, bodyOf(kMaxBody + 1)));
    QVERIFY(!r.envelope);
    QCOMPARE(reasonOf(r), int(DropReason::Oversized));
}

void TestEnvelope::unknownVersionRejected()
{
    Sealer sealer(kKey, kAlice, 1);
    QByteArray d = sealer.seal(1, kBobEp, "abc");
    d[2] = char(kEnvelopeVersion + 1);
    Opener opener(kKey, {kBobEp}, kMaxDatagram);
    const auto r = opener.open(d);
    QVERIFY(!r.envelope);
    QCOMPARE(reasonOf(r), int(DropReason::UnknownVersion));
}

void TestEnvelope::trailingBytesMalformed()
{
    Sealer sealer(kKey, kAlice, 1);
    const QByteArray d = sealer.seal(1, kBobEp, "abc") + QByteArray("!");
    Opener opener(kKey, {kBobEp}, kMaxDatagram);
    const auto r = opener.open(d);
    QVERIFY(!r.envelope);
    QCOMPARE(reasonOf(r), int(DropReason::Malformed));
}

// A datagram is bound to the endpoint it was sealed for: the opener of any other endpoint
// rejects it as WrongDestination (after the MAC, so it is known to be authentic).
void TestEnvelope::destination_data()
{
    QTest::addColumn<Endpoint>("sealedFor");
    QTest::addColumn<QList<Endpoint>>("receiverAccepts");
    QTest::addColumn<bool>("accepted");
    const Endpoint carol{0x0a000003, 7400};
    const Endpoint broadcast{0x0a0000ff, 7400};
    QTest::newRow("sent to the receiver") << kBobEp << QList<Endpoint>{kBobEp} << true;
    QTest::newRow("sent to another node, replayed here") << carol << QList<Endpoint>{kBobEp} << false;
    QTest::newRow("same address, another port (a second process)")
        << Endpoint{kBobEp.ip, 7401} << QList<Endpoint>{kBobEp} << false;
    QTest::newRow("same port, another address") << Endpoint{0x0a000063, kBobEp.port} << QList<Endpoint>{kBobEp} << false;
    QTest::newRow("sent to the broadcast endpoint the receiver listens on")
        << broadcast << QList<Endpoint>{kBobEp, broadcast} << true;
    QTest::newRow("sent to a broadcast endpoint the receiver does not listen on")
        << broadcast << QList<Endpoint>{kBobEp} << false;
    QTest::newRow("receiver bound to the wildcard address, its port") << carol << QList<Endpoint>{{0, 7400}} << true;
    QTest::newRow("receiver bound to the wildcard address, another port")
        << Endpoint{carol.ip, 7401} << QList<Endpoint>{{0, 7400}} << false;
    QTest::newRow("receiver that accepts nothing") << kBobEp << QList<Endpoint>{} << false;
}

void TestEnvelope::destination()
{
    QFETCH(Endpoint, sealedFor);
    QFETCH(QList<Endpoint>, receiverAccepts);
    QFETCH(bool, accepted);
    Sealer sealer(kKey, kAlice, 1);
    Opener opener(kKey, std::vector<Endpoint>(receiverAccepts.begin(), receiverAccepts.end()), kMaxDatagram);
    const auto r = opener.open(sealer.seal(4, sealedFor, "token"));
    QCOMPARE(r.envelope.has_value(), accepted);
    if (accepted)
        QCOMPARE(r.envelope->destination, sealedFor);
    else
        QCOMPARE(reasonOf(r), int(DropReason::WrongDestination));
}

// A datagram for another node must not move this node's replay window: had Carol's datagram
// (sequence 71) slid Bob's window forward, Bob's own sequence 1 would now be too old (Replay).
void TestEnvelope::wrongDestinationLeavesReplayStateAlone()
{
    const Endpoint carol{0x0a000003, 7400};
    Sealer sealer(kKey, kAlice, 1);
    Opener bob(kKey, {kBobEp}, kMaxDatagram);
    const QByteArray forBob = sealer.seal(1, kBobEp, "b"); // seq 1
    QByteArray forCarol;
    for (int i = 0; i < 70; ++i)
        forCarol = sealer.seal(1, carol, "c"); // seqs 2..71
    QCOMPARE(reasonOf(bob.open(forCarol)), int(DropReason::WrongDestination));
    QCOMPARE(reasonOf(bob.open(forCarol)), int(DropReason::WrongDestination)); // again: never Replay
    QVERIFY(bob.open(forBob).envelope.has_value());
    Opener carolOpener(kKey, {carol}, kMaxDatagram);
    QVERIFY(carolOpener.open(forCarol).envelope.has_value());
}

void TestEnvelope::shortKeyRefusesToSealAndOpen()
{
    const QByteArray shortKey(kMinKeySize - 1, 'k');
    Sealer weak(shortKey, kAlice, 1);
    QVERIFY(weak.seal(1, kBobEp, "abc").isEmpty());
    QCOMPARE(weak.lastSeq(), quint64(0));
    // A datagram that a proper sealer with the same bytes as key would accept is still refused.
    Opener opener(shortKey, {kBobEp}, kMaxDatagram);
    Sealer good(kKey, kAlice, 1);
    const auto r = opener.open(good.seal(1, kBobEp, "abc"));
    QVERIFY(!r.envelope);
    QCOMPARE(reasonOf(r), int(DropReason::BadMac));
    Opener empty(QByteArray(), {kBobEp}, kMaxDatagram);
    QCOMPARE(reasonOf(empty.open(good.seal(1, kBobEp, "abc"))), int(DropReason::BadMac));
}

void TestEnvelope::bodyTooLongForLengthFieldNotSealed()
{
    Sealer sealer(kKey, kAlice, 1);
    QVERIFY(sealer.seal(1, kBobEp, QByteArray(65536, 'x')).isEmpty());
    QCOMPARE(sealer.lastSeq(), quint64(0));
    const QByteArray largest = sealer.seal(1, kBobEp, QByteArray(65535, 'x'));
    QCOMPARE(largest.size(), kEnvelopeOverhead + 65535);
    Opener opener(kKey, {kBobEp}, 70000);
    QVERIFY(opener.open(largest).envelope.has_value());
}

// Each row seals sequences 1..sealCount, delivers them in `order` (1-based), and lists which
// deliveries are accepted.
void TestEnvelope::replay_data()
{
    QTest::addColumn<int>("sealCount");
    QTest::addColumn<QList<int>>("order");
    QTest::addColumn<QList<bool>>("accepted");
    QTest::newRow("in order") << 3 << QList<int>{1, 2, 3} << QList<bool>{true, true, true};
    QTest::newRow("immediate replay") << 2 << QList<int>{1, 1, 2, 2} << QList<bool>{true, false, true, false};
    QTest::newRow("replay of an older one") << 3 << QList<int>{1, 2, 3, 1} << QList<bool>{true, true, true, false};
    QTest::newRow("out of order within window, once")
        << 5 << QList<int>{5, 2, 4, 1, 3, 2, 4} << QList<bool>{true, true, true, true, true, false, false};
    QTest::newRow("edge of window: highest-63 accepted")
        << 64 << QList<int>{64, 1, 1} << QList<bool>{true, true, false};
    QTest::newRow("older than window rejected") << 65 << QList<int>{65, 1, 2} << QList<bool>{true, false, true};
    QTest::newRow("jump far ahead then old one")
        << 200 << QList<int>{1, 200, 2, 137, 136} << QList<bool>{true, true, false, true, false};
}

void TestEnvelope::replay()
{
    QFETCH(int, sealCount);
    QFETCH(QList<int>, order);
    QFETCH(QList<bool>, accepted);
    Sealer sealer(kKey, kAlice, 7);
    QList<QByteArray> sealed;
    for (int i = 0; i < sealCount; ++i)
        sealed.append(sealer.seal(1, kBobEp, QByteArray::number(i + 1)));
    Opener opener(kKey, {kBobEp}, kMaxDatagram);
    for (int i = 0; i < order.size(); ++i) {
        const auto r = opener.open(sealed[order[i] - 1]);
        const QByteArray what = "delivery " + QByteArray::number(i) + " (seq " + QByteArray::number(order[i]) + ")";
        QVERIFY2(r.envelope.has_value() == accepted[i], what.constData());
        if (r.envelope)
            QCOMPARE(r.envelope->seq, quint64(order[i]));
        else
            QVERIFY2(reasonOf(r) == int(DropReason::Replay), what.constData());
    }
}

void TestEnvelope::staleAndNewerEpoch()
{
    Opener opener(kKey, {kBobEp}, kMaxDatagram);
    Sealer boot5(kKey, kAlice, 5);
    for (int i = 0; i < 10; ++i)
        QVERIFY(opener.open(boot5.seal(1, kBobEp, "x")).envelope.has_value());

    Sealer boot4(kKey, kAlice, 4); // an old incarnation, e.g. replayed from a capture
    const auto stale = opener.open(boot4.seal(1, kBobEp, "x"));
    QVERIFY(!stale.envelope);
    QCOMPARE(reasonOf(stale), int(DropReason::StaleEpoch));

    const QByteArray lateFrom5 = boot5.seal(1, kBobEp, "late");
    Sealer boot6(kKey, kAlice, 6); // restart: sequence numbers begin at 1 again
    const QByteArray first6 = boot6.seal(1, kBobEp, "x");
    const auto r = opener.open(first6);
    QVERIFY(r.envelope.has_value());
    QCOMPARE(r.envelope->seq, quint64(1));
    QCOMPARE(reasonOf(opener.open(first6)), int(DropReason::Replay));
    QVERIFY(opener.open(boot6.seal(1, kBobEp, "y")).envelope.has_value());
    QCOMPARE(reasonOf(opener.open(lateFrom5)), int(DropReason::StaleEpoch));
    // The epoch is per sender: another sender at a low epoch is unaffected.
    Sealer bob(kKey, kAlice + 1, 1);
    QVERIFY(opener.open(bob.seal(1, kBobEp, "x")).envelope.has_value());
}

void TestEnvelope::sendersBeyondMaxEvictedLru()
{
    constexpr int kMaxSenders = 4;
    Opener opener(kKey, {kBobEp}, kMaxDatagram, kMaxSenders);
    std::vector<Sealer> sealers;
    std::vector<QByteArray> firsts;
    for (int i = 0; i < 10; ++i) {
        sealers.emplace_back(kKey, NodeAddr(100 + i), 1);
        firsts.push_back(sealers.back().seal(1, kBobEp, "x"));
        QVERIFY(opener.open(firsts.back()).envelope.has_value());
        if (i > 0) // keep sender 100 recently heard, so it survives the evictions
            QVERIFY(opener.open(sealers[0].seal(1, kBobEp, "x")).envelope.has_value());
    }
    // Remembered (sender 100 refreshed, 107..109 most recent): their replays are still caught.
    QCOMPARE(reasonOf(opener.open(firsts[0])), int(DropReason::Replay));
    QCOMPARE(reasonOf(opener.open(firsts[9])), int(DropReason::Replay));
    QCOMPARE(reasonOf(opener.open(firsts[8])), int(DropReason::Replay));
    QCOMPARE(reasonOf(opener.open(firsts[7])), int(DropReason::Replay));
    // Evicted: its window is gone, so the opener treats it as new (the documented cost of
    // bounding memory; a ring has far fewer members than maxSenders).
    QVERIFY(opener.open(firsts[1]).envelope.has_value());
    // A flood of distinct senders never grows beyond the bound or crashes.
    for (int i = 0; i < 1000; ++i) {
        Sealer s(kKey, NodeAddr(5000 + i), 1);
        QVERIFY(opener.open(s.seal(1, kBobEp, "x")).envelope.has_value());
    }
}

QTEST_GUILESS_MAIN(TestEnvelope)
#include "tst_envelope.moc"
