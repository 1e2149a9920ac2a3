// FlowFeedPublisher (daemon/sashad/flowfeedpublisher.h) with a fake flow source, a fake observer
// list and a recording sender: snapshots to new observers and after a takeover, changes as
// batches, removal marks, copies not ready yet, no work without observers, bounded copies.

#include "flowfeedpublisher.h"

#include <QTest>

using namespace sasha;

namespace {

constexpr tb::NodeAddr kSelf = 0x0a4d0001, kObsA = 0x0a4d0063, kObsB = 0x0a4d0064;
constexpr tb::NodeAddr kS2 = 0x0a4d0002, kS3 = 0x0a4d0003;

FlowFeedEntry flow(quint32 i, tb::NodeAddr server = kS2, FlowFeedState s = FlowFeedState::Established)
{
    FlowFeedEntry e;
    e.clientIp = 0x0a4d0100u + (i >> 16);
    e.clientPort = quint16(i);
    e.server = server;
    e.state = s;
    return e;
}

struct Sent {
    tb::NodeAddr to;
    FlowFeedMessage message;
    bool reliable;
};

struct Fixture {
    std::vector<FlowFeedEntry> table;
    std::vector<tb::NodeAddr> observers{kObsA};
    bool ready = true;       // the fast-path copy is ready
    int copiesAsked = 0;
    std::size_t lastLimit = 0;
    qint64 nowMs = 10'000;
    std::vector<Sent> sent;
    int undecodable = 0;
    FlowFeedPublisher publisher{
        kSelf,
        [this](std::size_t limit) -> std::optional<std::vector<FlowFeedEntry>> {
            ++copiesAsked;
            lastLimit = limit;
            if (!ready)
                return std::nullopt;
            return table;
        },
        [this](tb::NodeAddr to, const QByteArray &payload, bool reliable) {
            if (auto m = decodeFlowFeed(payload))
                sent.push_back({to, *m, reliable});
            else
                ++undecodable;
        },
        [this] { return nowMs; }};

    std::vector<Sent> take() { return std::exchange(sent, {}); }
    // Every observer in `observers` subscribes (as consoles do every second), then one tick.
    void tick(quint32 haveRun = 0)
    {
        for (tb::NodeAddr o : observers)
            publisher.onMessage(o, encodeFlowFeedSubscribe(kSelf, haveRun));
        publisher.tick();
    }
};

std::vector<FlowFeedEntry> snapshotEntries(const std::vector<Sent> &sent, tb::NodeAddr to)
{
    std::vector<FlowFeedEntry> out;
    for (const Sent &s : sent)
        if (s.to == to && s.message.type == FlowFeedMessage::Type::SnapshotPart)
            out.insert(out.end(), s.message.entries.begin(), s.message.entries.end());
    return out;
}

} // namespace

class TestFlowFeedPublisher : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void subscriptionsForOthersOrMalformedRefused()
    {
        Fixture f;
        f.publisher.onMessage(kObsA, encodeFlowFeedSubscribe(kS2, 0)); // meant for another node
        f.publisher.onMessage(kObsA, QByteArray("junk"));
        FlowFeedMessage notSub;
        notSub.dispatcher = kSelf;
        f.publisher.onMessage(kObsA, encodeFlowFeed(notSub));
        QCOMPARE(f.publisher.stats().rejected, 3ull);
        QCOMPARE(f.publisher.subscribers(), 0);
    }

    void lostSnapshotIsResentAfterAWhile()
    {
        Fixture f;
        f.table = {flow(1)};
        f.publisher.start(3);
        f.tick();
        QCOMPARE(int(f.take().size()), 1);
        f.nowMs += 1000;
        f.tick(0); // still says it holds no snapshot of run 3: in flight, not resent yet
        QVERIFY(f.take().empty());
        f.nowMs += FlowFeedPublisher::kResnapshotMs;
        f.tick(0); // the transfer must have failed
        const auto sent = f.take();
        QCOMPARE(int(sent.size()), 1);
        QCOMPARE(sent[0].message.type, FlowFeedMessage::Type::SnapshotPart);
        f.nowMs += FlowFeedPublisher::kResnapshotMs;
        f.tick(3); // now it has it
        QVERIFY(f.take().empty());
    }

    void nothingBeforeStart()
    {
        Fixture f;
        f.table = {flow(1)};
        f.tick();
        QCOMPARE(f.copiesAsked, 0);
        QVERIFY(f.sent.empty());
    }

    void firstTickSendsSnapshotToEveryObserver()
    {
        Fixture f;
        f.observers = {kObsA, kObsB};
        f.table = {flow(1), flow(2, kS3), flow(3, kS2, FlowFeedState::SynSeen)};
        f.publisher.start(77);
        f.tick();
        const auto sent = f.take();
        QCOMPARE(int(sent.size()), 2);
        for (tb::NodeAddr o : {kObsA, kObsB}) {
            auto got = snapshotEntries(sent, o);
            QCOMPARE(int(got.size()), 3);
            std::sort(got.begin(), got.end(), [](auto &a, auto &b) { return a.key() < b.key(); });
            QCOMPARE(got[1].server, kS3);
            QCOMPARE(got[2].state, FlowFeedState::SynSeen);
        }
        QCOMPARE(sent[0].message.dispatcher, kSelf);
        QCOMPARE(sent[0].message.runId, 77u);
        QVERIFY(sent[0].reliable);
        QCOMPARE(f.undecodable, 0);
    }

    void changesCarryNewChangedAndClosedFlows()
    {
        Fixture f;
        f.table = {flow(1), flow(2), flow(3, kS2, FlowFeedState::SynSeen)};
        f.publisher.start(1);
        f.tick();
        f.take();
        // flow 1 ends, flow 3 is established, flow 4 is new, flow 2 unchanged.
        f.table = {flow(2), flow(3), flow(4, kS3)};
        f.nowMs += 250;
        f.tick();
        const auto sent = f.take();
        QCOMPARE(int(sent.size()), 1);
        const FlowFeedMessage &m = sent[0].message;
        QCOMPARE(m.type, FlowFeedMessage::Type::Changes);
        QCOMPARE(m.seq, 1u);
        QCOMPARE(int(m.entries.size()), 3);
        QHash<quint64, FlowFeedEntry> byKey;
        for (const auto &e : m.entries)
            byKey.insert(e.key(), e);
        QCOMPARE(byKey.value(flow(1).key()).state, FlowFeedState::Closed);
        QCOMPARE(byKey.value(flow(3).key()).state, FlowFeedState::Established);
        QCOMPARE(byKey.value(flow(3).key()).ageMs, 250u); // the fake clock advanced 250 ms // listed since the first copy
        QCOMPARE(byKey.value(flow(4).key()).server, kS3);
        QCOMPARE(byKey.value(flow(4).key()).ageMs, 0u);
        QVERIFY(!byKey.contains(flow(2).key()));
    }

    void serverChangeIsAChange()
    {
        Fixture f;
        f.table = {flow(1, kS2)};
        f.publisher.start(1);
        f.tick();
        f.take();
        f.table = {flow(1, kS3)}; // reconstruction corrected it
        f.tick();
        const auto sent = f.take();
        QCOMPARE(int(sent.size()), 1);
        QCOMPARE(sent[0].message.entries.at(0).server, kS3);
    }

    void quietTickSendsNothing()
    {
        Fixture f;
        f.table = {flow(1)};
        f.publisher.start(1);
        f.tick();
        f.take();
        f.tick();
        QVERIFY(f.sent.empty());
        QCOMPARE(f.copiesAsked, 2);
    }

    void newObserverGetsSnapshotOthersGetChanges()
    {
        Fixture f;
        f.table = {flow(1)};
        f.publisher.start(1);
        f.tick();
        f.take();
        f.observers = {kObsA, kObsB};
        f.table = {flow(1), flow(2)};
        f.tick();
        const auto sent = f.take();
        QCOMPARE(int(sent.size()), 2);
        for (const Sent &s : sent) {
            if (s.to == kObsA) {
                QCOMPARE(s.message.type, FlowFeedMessage::Type::Changes);
                QCOMPARE(int(s.message.entries.size()), 1);
            } else {
                QCOMPARE(s.to, kObsB);
                QCOMPARE(s.message.type, FlowFeedMessage::Type::SnapshotPart);
                QCOMPARE(int(s.message.entries.size()), 2);
            }
        }
    }

    void observerThatLeftAndCameBackGetsSnapshotAgain()
    {
        Fixture f;
        f.table = {flow(1)};
        f.publisher.start(1);
        f.tick();
        f.observers = {};
        f.nowMs += kFlowFeedSubscriberTimeoutMs + 1; // went quiet
        f.tick();
        const int asked = f.copiesAsked;
        f.tick();
        QCOMPARE(f.copiesAsked, asked); // nobody watches: the fast path is not asked for copies
        QCOMPARE(f.publisher.subscribers(), 0);
        f.take();
        f.observers = {kObsA};
        f.tick();
        const auto sent = f.take();
        QCOMPARE(int(sent.size()), 1);
        QCOMPARE(sent[0].message.type, FlowFeedMessage::Type::SnapshotPart);
        QCOMPARE(sent[0].message.seq, 2u); // the run's second snapshot
    }

    void copyNotReadyWaitsForNextTick()
    {
        Fixture f;
        f.table = {flow(1)};
        f.ready = false;
        f.publisher.start(1);
        f.tick();
        QVERIFY(f.sent.empty());
        f.ready = true;
        f.tick();
        QCOMPARE(int(f.sent.size()), 1);
    }

    void takeoverStartsNewRunWithSnapshots()
    {
        Fixture f;
        f.table = {flow(1)};
        f.publisher.start(1);
        f.tick();
        f.publisher.stop();
        f.take();
        f.tick();
        QVERIFY(f.sent.empty()); // stopped: silent
        f.publisher.start(2);
        f.tick();
        const auto sent = f.take();
        QCOMPARE(int(sent.size()), 1);
        QCOMPARE(sent[0].message.type, FlowFeedMessage::Type::SnapshotPart);
        QCOMPARE(sent[0].message.runId, 2u);
        QCOMPARE(sent[0].message.seq, 1u);
    }

    void largeSnapshotSplitIntoTransfersOfAtMostOneMiB()
    {
        Fixture f;
        for (quint32 i = 0; i < 100'000; ++i)
            f.table.push_back(flow(i));
        f.publisher.start(1);
        f.tick();
        const auto sent = f.take();
        QCOMPARE(int(sent.size()), 2);
        QCOMPARE(sent[0].message.parts, quint16(2));
        QCOMPARE(int(snapshotEntries(sent, kObsA).size()), 100'000);
        QCOMPARE(f.publisher.stats().snapshotParts, 2ull);
    }

    void copyCappedAtMaxFlows()
    {
        Fixture f;
        for (quint32 i = 0; i < 50; ++i)
            f.table.push_back(flow(i));
        f.publisher.setMaxFlows(20);
        f.publisher.start(1);
        f.tick();
        QCOMPARE(f.lastLimit, std::size_t(20));
        QCOMPARE(int(snapshotEntries(f.take(), kObsA).size()), 20); // the source ignored the limit
        QCOMPARE(f.publisher.stats().truncated, 1ull);
    }

    void tooManyChangesBecomeASnapshot()
    {
        Fixture f;
        f.publisher.start(1);
        f.tick(); // empty map
        f.take();
        for (quint32 i = 0; i < quint32(kFlowFeedMaxEntries) + 1; ++i)
            f.table.push_back(flow(i));
        f.publisher.setMaxFlows(kFlowFeedMaxEntries + 10);
        f.tick();
        const auto sent = f.take();
        QVERIFY(!sent.empty());
        for (const Sent &s : sent)
            QCOMPARE(s.message.type, FlowFeedMessage::Type::SnapshotPart);
        QCOMPARE(int(snapshotEntries(sent, kObsA).size()), kFlowFeedMaxEntries + 1);
    }
};

QTEST_GUILESS_MAIN(TestFlowFeedPublisher)
#include "tst_flowfeedpublisher.moc"
