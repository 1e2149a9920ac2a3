// The event feed's wire codec and the observer's receiver (common/control/eventfeed.h): round
// trips, every malformed or truncated message refused with a reason and counted, and the clock
// mapping of events stamped on another host's monotonic clock.

#include "control/eventfeed.h"

#include <limits>

#include <QRandomGenerator>
#include <QTest>
#include <QtEndian>

using namespace sasha;

namespace {

constexpr quint32 kDaemon = 0x7f000002, kOther = 0x7f000003;

ControlEvent makeEvent(const QString &kind, qint64 monoUs, const QString &node = QStringLiteral("127.0.0.2"),
                   const QString &detail = {})
{
    ControlEvent e;
    e.monoUs = monoUs;
    e.wallMs = 1'700'000'000'000 + monoUs / 1000;
    e.kind = kind;
    e.node = node;
    e.role = QStringLiteral("server");
    e.detail = detail;
    return e;
}

EventFeedMessage batch(qint64 senderNowUs, QList<ControlEvent> events, quint32 seq = 1, quint32 clockId = 7,
                       quint32 dropped = 0)
{
    EventFeedMessage m;
    m.type = EventFeedMessage::Type::Events;
    m.seq = seq;
    m.senderNowUs = senderNowUs;
    m.clockId = clockId;
    m.dropped = dropped;
    m.events = std::move(events);
    return m;
}

// A valid header followed by `body`, with `count` in the header.
QByteArray withBody(quint16 count, const QByteArray &body, quint8 type = 1, quint8 version = kEventFeedVersion)
{
    QByteArray b = encodeEventFeed(batch(1000, {})).left(kEventFeedHeaderBytes);
    b[0] = char(version);
    b[1] = char(type);
    qToBigEndian(count, b.data() + 2);
    return b + body;
}

} // namespace

class TestEventFeed : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void roundTrip_data();
    void roundTrip();
    void subscribeRoundTrip();
    void encodeRefusesWhatDoesNotFit();
    void malformed_data();
    void malformed();
    void everyTruncationRefused();
    void randomBytesNeverCrash();
    void receiverMapsToItsOwnClock();
    void delayedMessageKeepsBestOffset();
    void newClockIdForgetsOffset();
    void extremeClocksSaturate_data();
    void extremeClocksSaturate();
    void receiverCountsAndFills();
    void receiverRefusesAndCounts();
};

void TestEventFeed::roundTrip_data()
{
    QTest::addColumn<int>("events");
    QTest::addColumn<QString>("detail");
    QTest::addColumn<qint64>("senderNowUs");
    QTest::newRow("clock sample, no events") << 0 << QString() << qint64(5'000'000);
    QTest::newRow("one purge-started") << 1 << QStringLiteral("token timeout: no token for 140 ms") << qint64(5'000'000);
    QTest::newRow("the most per message") << kEventFeedMaxEvents << QStringLiteral("x") << qint64(1);
    QTest::newRow("non-ASCII detail") << 3 << QStringLiteral("Übernahme → 10.0.0.2 ✓") << qint64(9'000'000'000'000);
    QTest::newRow("clock beyond 32 bits") << 2 << QString() << qint64(0x1234'5678'9abcLL);
}

void TestEventFeed::roundTrip()
{
    QFETCH(int, events);
    QFETCH(QString, detail);
    QFETCH(qint64, senderNowUs);
    QList<ControlEvent> list;
    for (int i = 0; i < events; ++i)
        list.append(makeEvent(i % 2 ? QStringLiteral("ring-formed") : QStringLiteral("purge-started"), senderNowUs - 1000 * i,
                          QStringLiteral("127.0.0.%1").arg(i % 250), detail));
    const EventFeedMessage m = batch(senderNowUs, list, 42, 0xdeadbeef, 3);
    const QByteArray bytes = encodeEventFeed(m);
    QVERIFY(!bytes.isEmpty());
    QString error;
    const auto back = decodeEventFeed(bytes, &error);
    QVERIFY2(back.has_value(), qPrintable(error));
    QCOMPARE(back->events.size(), qsizetype(events));
    QCOMPARE(back->seq, 42u);
    QCOMPARE(back->senderNowUs, senderNowUs);
    QCOMPARE(back->clockId, 0xdeadbeefu);
    QCOMPARE(back->dropped, 3u);
    QVERIFY(*back == m);
}

void TestEventFeed::subscribeRoundTrip()
{
    const QByteArray b = encodeEventFeedSubscribe();
    QCOMPARE(b.size(), kEventFeedHeaderBytes);
    const auto m = decodeEventFeed(b);
    QVERIFY(m.has_value());
    QCOMPARE(int(m->type), int(EventFeedMessage::Type::Subscribe));
    QVERIFY(m->events.isEmpty());
}

void TestEventFeed::encodeRefusesWhatDoesNotFit()
{
    QList<ControlEvent> many;
    for (int i = 0; i <= kEventFeedMaxEvents; ++i)
        many.append(makeEvent(QStringLiteral("member-joined"), i));
    QVERIFY(encodeEventFeed(batch(1, many)).isEmpty());
    const QList<ControlEvent> huge{makeEvent(QStringLiteral("fault-failed"), 1, {}, QString(kEventFeedMaxBytes, QLatin1Char('x')))};
    QVERIFY(encodeEventFeed(batch(1, huge)).isEmpty());
}

void TestEventFeed::malformed_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("reason");
    const QByteArray good = R"([{"kind":"purge-started","monoUs":5}])";
    QTest::newRow("empty") << QByteArray() << QStringLiteral("truncated");
    QTest::newRow("header one byte short") << encodeEventFeed(batch(1, {})).left(kEventFeedHeaderBytes - 1) << QStringLiteral("truncated");
    QTest::newRow("unknown version") << withBody(1, good, 1, 2) << QStringLiteral("unknown version 2");
    QTest::newRow("type 0") << withBody(1, good, 0) << QStringLiteral("unknown type 0");
    QTest::newRow("type 3") << withBody(1, good, 3) << QStringLiteral("unknown type 3");
    QTest::newRow("subscribe with a body") << withBody(0, good, 2) << QStringLiteral("subscribe with");
    QTest::newRow("subscribe with a count") << withBody(1, {}, 2) << QStringLiteral("subscribe with");
    QTest::newRow("count above the limit") << withBody(kEventFeedMaxEvents + 1, good) << QStringLiteral("at most");
    QTest::newRow("count says 2, body holds 1") << withBody(2, good) << QStringLiteral("body holds 1");
    QTest::newRow("count says 1, no body") << withBody(1, {}) << QStringLiteral("not JSON");
    QTest::newRow("body not JSON") << withBody(1, "[{kind:") << QStringLiteral("not JSON");
    QTest::newRow("body an object") << withBody(1, R"({"kind":"x","monoUs":1})") << QStringLiteral("not a JSON array");
    QTest::newRow("event not an object") << withBody(1, "[5]") << QStringLiteral("event 0");
    QTest::newRow("event without kind") << withBody(1, R"([{"monoUs":5}])") << QStringLiteral("event 0");
    QTest::newRow("event with empty kind") << withBody(1, R"([{"kind":"","monoUs":5}])") << QStringLiteral("event 0");
    QTest::newRow("second event monoUs a string")
        << withBody(2, R"([{"kind":"a","monoUs":5},{"kind":"b","monoUs":"5"}])") << QStringLiteral("event 1");
    QTest::newRow("oversized") << withBody(1, good + QByteArray(kEventFeedMaxBytes, ' ')) << QStringLiteral("oversized");
}

void TestEventFeed::malformed()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, reason);
    QString error;
    QVERIFY(!decodeEventFeed(bytes, &error).has_value());
    QVERIFY2(error.contains(reason), qPrintable(error));
}

void TestEventFeed::everyTruncationRefused()
{
    const QByteArray full = encodeEventFeed(batch(77, {makeEvent(QStringLiteral("token-timeout"), 70), makeEvent(QStringLiteral("purge-started"), 71)}));
    QVERIFY(decodeEventFeed(full).has_value());
    for (qsizetype n = 0; n < full.size(); ++n) {
        QString error;
        QVERIFY2(!decodeEventFeed(full.left(n), &error).has_value(), qPrintable(QStringLiteral("prefix %1 accepted").arg(n)));
        QVERIFY(!error.isEmpty());
    }
}

void TestEventFeed::randomBytesNeverCrash()
{
    QRandomGenerator rng(20240601);
    EventFeedReceiver r;
    const QByteArray good = encodeEventFeed(batch(77, {makeEvent(QStringLiteral("ring-formed"), 70)}));
    int refused = 0;
    for (int i = 0; i < 2000; ++i) {
        QByteArray b = good;
        // Flip 1..4 bytes anywhere, or cut at a random length.
        if (i % 3 == 0) {
            b.truncate(rng.bounded(int(b.size())));
        } else {
            for (int k = 0, n = 1 + rng.bounded(4); k < n; ++k)
                b[rng.bounded(int(b.size()))] = char(rng.bounded(256));
        }
        refused += !r.onMessage(kDaemon, b, 1'000'000 + i).error.isEmpty();
    }
    QCOMPARE(r.stats().rejected, quint64(refused));
    QVERIFY(refused > 500); // most corruptions are caught (header flips of seq/clock are not errors)
}

void TestEventFeed::receiverMapsToItsOwnClock()
{
    // The daemon's host booted long before the console's: its clock reads 5,000 s more.
    constexpr qint64 kSkew = 5'000'000'000;
    constexpr qint64 kLatency = 300;
    EventFeedReceiver r;
    const qint64 consoleNow = 2'000'000;
    const qint64 senderNow = consoleNow + kSkew - kLatency;
    const auto res = r.onMessage(kDaemon, encodeEventFeed(batch(senderNow, {makeEvent(QStringLiteral("token-timeout"), senderNow - 40'000),
                                                                            makeEvent(QStringLiteral("purge-started"), senderNow - 39'000)})),
                                 consoleNow);
    QVERIFY2(res.error.isEmpty(), qPrintable(res.error));
    QCOMPARE(res.events.size(), 2);
    // receive time - (senderNow - stamp): 40 ms and 39 ms before it arrived
    QCOMPARE(res.events[0].monoUs, consoleNow - 40'000);
    QCOMPARE(res.events[1].monoUs, consoleNow - 39'000);
    QCOMPARE(*r.offsetUs(kDaemon), -kSkew + kLatency);
    QCOMPARE(r.lastHeardUs(), consoleNow);
}

void TestEventFeed::delayedMessageKeepsBestOffset()
{
    constexpr qint64 kSkew = -123'456'789;
    EventFeedReceiver r;
    // A clock sample that took 200 µs, then an events message retransmitted 20 ms late.
    qint64 t = 10'000'000;
    r.onMessage(kDaemon, encodeEventFeed(batch(t + kSkew - 200, {}, 0)), t);
    t += 500'000;
    const qint64 stamp = t + kSkew - 1'000; // the event happened 1 ms before it was encoded
    const auto res = r.onMessage(kDaemon, encodeEventFeed(batch(t + kSkew, {makeEvent(QStringLiteral("ring-formed"), stamp)})), t + 20'200);
    QCOMPARE(res.events.size(), 1);
    // Mapped with the best offset (200 µs of delay), not this message's (20.2 ms).
    QCOMPARE(res.events[0].monoUs, stamp - kSkew + 200);
    // Samples older than the window no longer count: after 11 s only the slow one would be left.
    const qint64 later = t + kEventFeedOffsetWindowUs + 1'000'000;
    r.onMessage(kDaemon, encodeEventFeed(batch(later + kSkew - 5'000, {}, 0)), later);
    QCOMPARE(*r.offsetUs(kDaemon), -kSkew + 5'000);
}

void TestEventFeed::newClockIdForgetsOffset()
{
    EventFeedReceiver r;
    r.onMessage(kDaemon, encodeEventFeed(batch(1'000'000 - 100, {}, 0, 1)), 1'000'000);
    QCOMPARE(*r.offsetUs(kDaemon), 100);
    // Restarted on a host whose clock is 7 s behind: the old, smaller offset must not stay.
    r.onMessage(kDaemon, encodeEventFeed(batch(2'000'000 - 7'000'000, {}, 0, 2)), 2'000'000);
    QCOMPARE(*r.offsetUs(kDaemon), 7'000'000);
    QVERIFY(!r.offsetUs(kOther).has_value());
}

void TestEventFeed::extremeClocksSaturate_data()
{
    QTest::addColumn<qint64>("senderNowUs");
    QTest::addColumn<qint64>("stampUs");
    QTest::addColumn<qint64>("expectedUs");
    constexpr qint64 kMin = std::numeric_limits<qint64>::min();
    constexpr qint64 kMax = std::numeric_limits<qint64>::max();
    // Found by fuzz_feeds: receive time minus the sender's clock overflowed (undefined behaviour;
    // in practice an offset of the wrong sign). Saturated, the stamp lands at the receive time.
    QTest::newRow("sender clock at the minimum") << kMin << qint64(0) << qint64(1'000'000);
    // The offset is about -kMax; a stamp far below zero plus it overflowed to a large positive time.
    QTest::newRow("sender clock at the maximum, stamp far below zero") << kMax << qint64(-4'000'000'000'000'000'000) << kMin;
}

void TestEventFeed::extremeClocksSaturate()
{
    QFETCH(qint64, senderNowUs);
    QFETCH(qint64, stampUs);
    QFETCH(qint64, expectedUs);
    EventFeedReceiver r;
    const auto res = r.onMessage(kDaemon, encodeEventFeed(batch(senderNowUs, {makeEvent(QStringLiteral("ring-formed"), stampUs)})),
                                 1'000'000);
    QVERIFY2(res.error.isEmpty(), qPrintable(res.error));
    QCOMPARE(res.events.size(), 1);
    QCOMPARE(res.events[0].monoUs, expectedUs);
}

void TestEventFeed::receiverCountsAndFills()
{
    EventFeedReceiver r;
    auto e = makeEvent(QStringLiteral("first-forward"), 900'000, QString());
    auto res = r.onMessage(kDaemon, encodeEventFeed(batch(1'000'000, {e}, 1, 7, 0)), 1'000'000);
    QCOMPARE(res.events.size(), 1);
    QCOMPARE(res.events[0].node, QStringLiteral("127.0.0.2")); // the daemon's own service: its address
    QCOMPARE(res.events[0].kind, QStringLiteral("first-forward"));
    QCOMPARE(res.events[0].detail, e.detail);
    // seq 2 and 3 never came; the sender says it dropped 5 events by now.
    r.onMessage(kDaemon, encodeEventFeed(batch(1'100'000, {makeEvent(QStringLiteral("ring-formed"), 1'050'000)}, 4, 7, 5)), 1'100'000);
    QCOMPARE(r.stats().gaps, quint64(2));
    QCOMPARE(r.stats().senderDropped, quint64(5));
    QCOMPARE(r.stats().messages, quint64(2));
    QCOMPARE(r.stats().events, quint64(2));
    // A clock sample (seq 0) is no gap.
    r.onMessage(kDaemon, encodeEventFeed(batch(1'200'000, {}, 0, 7, 5)), 1'200'000);
    QCOMPARE(r.stats().gaps, quint64(2));
}

void TestEventFeed::receiverRefusesAndCounts()
{
    EventFeedReceiver r;
    QVERIFY(!r.onMessage(kDaemon, QByteArray("garbage"), 1).error.isEmpty());
    QVERIFY(!r.onMessage(kDaemon, encodeEventFeedSubscribe(), 2).error.isEmpty());
    QCOMPARE(r.stats().rejected, quint64(2));
    QCOMPARE(r.stats().messages, quint64(0));
    QCOMPARE(r.lastHeardUs(), qint64(0));
    QVERIFY(r.lastError().contains(QStringLiteral("127.0.0.2")));
}

QTEST_GUILESS_MAIN(TestEventFeed)
#include "tst_eventfeed.moc"
