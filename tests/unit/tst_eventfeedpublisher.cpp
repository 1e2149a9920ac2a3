// EventFeedPublisher (daemon/sashad/eventfeedpublisher.h) with a fake clock and a recording
// sender: subscriptions answered with a clock sample, events queued per subscriber and sent as
// one reliable transfer at a time, bookkeeping kinds not forwarded, the queue bounded (oldest
// dropped and counted, the count sent along), failed transfers and refused sends counted,
// subscribers that go quiet forgotten, bad messages refused and counted.

#include "eventfeedpublisher.h"

#include <QTest>

using namespace sasha;

namespace {

constexpr tb::NodeAddr kSelf = 0x7f000001, kObsA = 0x7f0000c8, kObsB = 0x7f0000c9;

struct Sent {
    tb::NodeAddr to;
    EventFeedMessage message;
    bool reliable;
    quint64 id;
};

ControlEvent makeEvent(const QString &kind, qint64 monoUs)
{
    ControlEvent e;
    e.monoUs = monoUs;
    e.kind = kind;
    e.node = QStringLiteral("127.0.0.1");
    return e;
}

struct Fixture {
    qint64 nowUs = 50'000'000;
    quint64 nextId = 100;
    bool refuse = false; // the ring driver is not running
    std::vector<Sent> sent;
    int undecodable = 0;
    EventFeedPublisher publisher{kSelf, 0xabcd,
                                 [this](tb::NodeAddr to, const QByteArray &payload, bool reliable) -> quint64 {
                                     if (refuse)
                                         return 0;
                                     const quint64 id = reliable ? nextId++ : 0;
                                     if (auto m = decodeEventFeed(payload))
                                         sent.push_back({to, *m, reliable, id});
                                     else
                                         ++undecodable;
                                     return id;
                                 },
                                 [this] { return nowUs; }};

    std::vector<Sent> take() { return std::exchange(sent, {}); }
    void subscribe(tb::NodeAddr from) { publisher.onMessage(from, encodeEventFeedSubscribe()); }
};

} // namespace

class TestEventFeedPublisher : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void subscribeAnswersWithClockSample();
    void eventsGoToEverySubscriber();
    void forwardedKinds_data();
    void forwardedKinds();
    void oneTransferInFlightPerSubscriber();
    void overflowDropsOldestAndCounts();
    void failedTransferCounted();
    void refusedSendCounted();
    void quietSubscriberForgotten();
    void badMessagesRefused_data();
    void badMessagesRefused();
    void flushRunsOnTheNextLoopTurn();
};

void TestEventFeedPublisher::subscribeAnswersWithClockSample()
{
    Fixture f;
    f.subscribe(kObsA);
    QCOMPARE(f.publisher.subscribers(), 1);
    const auto sent = f.take();
    QCOMPARE(sent.size(), std::size_t(1));
    QCOMPARE(sent[0].to, kObsA);
    QVERIFY(!sent[0].reliable); // a retransmission would be a worse clock sample
    QCOMPARE(int(sent[0].message.type), int(EventFeedMessage::Type::Events));
    QVERIFY(sent[0].message.events.isEmpty());
    QCOMPARE(sent[0].message.senderNowUs, f.nowUs);
    QCOMPARE(sent[0].message.clockId, 0xabcdu);
    QCOMPARE(sent[0].message.seq, 0u);
}

void TestEventFeedPublisher::eventsGoToEverySubscriber()
{
    Fixture f;
    f.publisher.publish(makeEvent(QStringLiteral("ring-formed"), 1)); // nobody subscribed: nothing kept
    f.subscribe(kObsA);
    f.subscribe(kObsB);
    f.take();
    f.publisher.publish(makeEvent(QStringLiteral("token-timeout"), f.nowUs - 10));
    f.publisher.publish(makeEvent(QStringLiteral("purge-started"), f.nowUs - 5));
    f.nowUs += 100;
    f.publisher.flush();
    const auto sent = f.take();
    QCOMPARE(sent.size(), std::size_t(2));
    for (const Sent &s : sent) {
        QVERIFY(s.to == kObsA || s.to == kObsB);
        QVERIFY(s.reliable);
        QCOMPARE(s.message.seq, 1u);
        QCOMPARE(s.message.senderNowUs, f.nowUs); // the clock when encoded, not when queued
        QCOMPARE(s.message.events.size(), 2);
        QCOMPARE(s.message.events[0].kind, QStringLiteral("token-timeout"));
        QCOMPARE(s.message.events[1].monoUs, f.nowUs - 105);
    }
    QCOMPARE(f.publisher.stats().messages, quint64(2));
    QCOMPARE(f.publisher.stats().events, quint64(4));
    QCOMPARE(f.undecodable, 0);
}

void TestEventFeedPublisher::forwardedKinds_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<bool>("forwarded");
    for (const char *k : {"purge-started", "token-timeout", "ring-formed", "dispatcher-elected", "abdicated", "member-joined",
                          "member-lost", "member-left", "reconstruction-completed", "first-forward", "dispatcher-started",
                          "fault-injected", "fault-ended", "role-changed", "health-changed"})
        QTest::newRow(k) << QString::fromLatin1(k) << true;
    for (const char *k : {"view-changed", "oob-received", "oob-delivered", "oob-failed", "datagram-dropped"})
        QTest::newRow(k) << QString::fromLatin1(k) << false;
    QTest::newRow("empty kind") << QString() << false;
}

void TestEventFeedPublisher::forwardedKinds()
{
    QFETCH(QString, kind);
    QFETCH(bool, forwarded);
    QCOMPARE(EventFeedPublisher::isForwardedKind(kind), forwarded);
    Fixture f;
    f.subscribe(kObsA);
    f.take();
    f.publisher.publish(makeEvent(kind, 1));
    QCOMPARE(f.publisher.queued(kObsA), std::size_t(forwarded ? 1 : 0));
}

void TestEventFeedPublisher::oneTransferInFlightPerSubscriber()
{
    Fixture f;
    f.subscribe(kObsA);
    f.take();
    f.publisher.publish(makeEvent(QStringLiteral("token-timeout"), 1));
    f.publisher.flush();
    auto sent = f.take();
    QCOMPARE(sent.size(), std::size_t(1));
    const quint64 first = sent[0].id;
    f.publisher.publish(makeEvent(QStringLiteral("purge-started"), 2));
    f.publisher.publish(makeEvent(QStringLiteral("ring-formed"), 3));
    f.publisher.flush();
    QVERIFY(f.take().empty()); // waits for the first transfer's outcome
    QCOMPARE(f.publisher.queued(kObsA), std::size_t(2));
    f.publisher.transferEnded(first + 1000, true); // not ours: ignored
    f.publisher.flush();
    QVERIFY(f.take().empty());
    f.publisher.transferEnded(first, true);
    f.publisher.flush();
    sent = f.take();
    QCOMPARE(sent.size(), std::size_t(1));
    QCOMPARE(sent[0].message.seq, 2u);
    QCOMPARE(sent[0].message.events.size(), 2);
    QCOMPARE(sent[0].message.dropped, 0u);
}

void TestEventFeedPublisher::overflowDropsOldestAndCounts()
{
    Fixture f;
    f.subscribe(kObsA);
    f.take();
    f.publisher.publish(makeEvent(QStringLiteral("token-timeout"), 0));
    f.publisher.flush();
    const quint64 inFlight = f.take().at(0).id;
    const int extra = 6;
    for (int i = 1; i <= int(EventFeedPublisher::kQueueLimit) + extra; ++i)
        f.publisher.publish(makeEvent(QStringLiteral("member-joined"), i));
    QCOMPARE(f.publisher.queued(kObsA), EventFeedPublisher::kQueueLimit);
    QCOMPARE(f.publisher.stats().dropped, quint64(extra));
    f.publisher.transferEnded(inFlight, true);
    f.publisher.flush();
    const auto sent = f.take();
    QCOMPARE(sent.size(), std::size_t(1));
    QCOMPARE(sent[0].message.dropped, quint32(extra));   // the observer learns it
    QCOMPARE(sent[0].message.events.first().monoUs, extra + 1); // the oldest went
    QCOMPARE(sent[0].message.events.size(), kEventFeedMaxEvents);
}

void TestEventFeedPublisher::failedTransferCounted()
{
    Fixture f;
    f.subscribe(kObsA);
    f.take();
    f.publisher.publish(makeEvent(QStringLiteral("token-timeout"), 1));
    f.publisher.publish(makeEvent(QStringLiteral("purge-started"), 2));
    f.publisher.flush();
    const quint64 id = f.take().at(0).id;
    f.publisher.publish(makeEvent(QStringLiteral("ring-formed"), 3));
    f.publisher.transferEnded(id, false);
    QCOMPARE(f.publisher.stats().dropped, quint64(2));
    f.publisher.flush();
    const auto sent = f.take();
    QCOMPARE(sent.size(), std::size_t(1));
    QCOMPARE(sent[0].message.dropped, 2u);
    QCOMPARE(sent[0].message.events.size(), 1);
    // An outcome that never comes does not stall the subscriber for ever.
    f.publisher.publish(makeEvent(QStringLiteral("dispatcher-elected"), 4));
    for (qint64 waited = 0; waited <= EventFeedPublisher::kInFlightTimeoutUs; waited += 1'000'000) {
        f.nowUs += 1'000'000;
        f.subscribe(kObsA); // the console keeps subscribing every second
    }
    f.take();
    f.publisher.flush();
    const auto late = f.take();
    QCOMPARE(late.size(), std::size_t(1));
    QCOMPARE(late[0].message.dropped, 3u);
}

void TestEventFeedPublisher::refusedSendCounted()
{
    Fixture f;
    f.subscribe(kObsA);
    f.take();
    f.refuse = true;
    f.publisher.publish(makeEvent(QStringLiteral("purge-started"), 1));
    f.publisher.flush();
    QCOMPARE(f.publisher.stats().dropped, quint64(1));
    QCOMPARE(f.publisher.queued(kObsA), std::size_t(0));
    f.refuse = false;
    f.publisher.publish(makeEvent(QStringLiteral("ring-formed"), 2));
    f.publisher.flush(); // nothing in flight: the refused send left none
    const auto sent = f.take();
    QCOMPARE(sent.size(), std::size_t(1));
    QCOMPARE(sent[0].message.dropped, 1u);
}

void TestEventFeedPublisher::quietSubscriberForgotten()
{
    Fixture f;
    f.subscribe(kObsA);
    f.nowUs += qint64(kEventFeedSubscriberTimeoutMs) * 1000 - 1;
    f.subscribe(kObsB);
    f.take();
    f.nowUs += 2;
    f.publisher.publish(makeEvent(QStringLiteral("purge-started"), 1));
    QCOMPARE(f.publisher.subscribers(), 1);
    QCOMPARE(f.publisher.queued(kObsA), std::size_t(0));
    QCOMPARE(f.publisher.queued(kObsB), std::size_t(1));
}

void TestEventFeedPublisher::badMessagesRefused_data()
{
    QTest::addColumn<QByteArray>("payload");
    QTest::addColumn<quint32>("from");
    QTest::newRow("garbage") << QByteArray("not a feed message") << kObsA;
    QTest::newRow("empty") << QByteArray() << kObsA;
    QTest::newRow("an events message") << encodeEventFeed(EventFeedMessage{}) << kObsA;
    QTest::newRow("subscribe from ourselves") << encodeEventFeedSubscribe() << kSelf;
    QTest::newRow("subscribe from no node") << encodeEventFeedSubscribe() << tb::kNoNode;
}

void TestEventFeedPublisher::badMessagesRefused()
{
    QFETCH(QByteArray, payload);
    QFETCH(quint32, from);
    Fixture f;
    f.publisher.onMessage(from, payload);
    QCOMPARE(f.publisher.stats().rejected, quint64(1));
    QCOMPARE(f.publisher.subscribers(), 0);
    QVERIFY(f.take().empty());
}

void TestEventFeedPublisher::flushRunsOnTheNextLoopTurn()
{
    Fixture f;
    f.subscribe(kObsA);
    f.take();
    f.publisher.publish(makeEvent(QStringLiteral("token-timeout"), 1));
    QVERIFY(f.sent.empty()); // never from inside publish()
    QTRY_COMPARE_WITH_TIMEOUT(f.sent.size(), std::size_t(1), 1000);
}

QTEST_GUILESS_MAIN(TestEventFeedPublisher)
#include "tst_eventfeedpublisher.moc"
