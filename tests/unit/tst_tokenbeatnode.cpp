// Focused TokenBeatNode scenarios on 1..5 nodes: formation, election, purge rules, joins,
// merges, graceful leave, observers, timers, drops, status piggyback and out-of-band messages.
// The network is ringsim.h with fixed delays and no loss, so every scenario is deterministic.

#include "ringsim.h"
#include "tokenbeat/envelope.h"

#include <QTest>

#include <map>

using namespace sasha::tb;
using namespace sasha::tb::sim;

namespace {

SimOptions fixedNet(Timers t = Timers{})
{
    SimOptions o;
    o.timers = t;
    o.minDelay = o.maxDelay = 200us;
    return o;
}

// n nodes started together; runs `for` of simulated time.
void startAll(RingSim &sim, int n, Time runFor = 300ms, quint8 caps = kCanDispatch | kCanServe)
{
    for (int i = 0; i < n; ++i)
        sim.start(sim.addNode(caps));
    sim.runUntil(sim.now() + runFor);
}

int count(const RingSim &sim, Event::Kind k, Time since = Time{0})
{
    int n = 0;
    for (const EventRecord &r : sim.events())
        n += r.event.kind == k && r.event.at >= since;
    return n;
}

// A datagram as `from` would seal it for the node at `to` (a simulator node's endpoint).
QByteArray sealed(NodeAddr from, NodeAddr to, MessageType type, const QByteArray &body, quint64 boot = 1)
{
    Sealer s(QByteArray(32, 'k'), from, boot);
    return s.seal(quint8(type), Endpoint{to, kPort}, body);
}

} // namespace

class TestTokenBeatNode : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void singleNodeFormsStandaloneAfterReform();
    void threeNodesFormOneRingLowestIsMasterAndDispatcher();
    void nodeThatCannotDispatchIsNeverElected();
    void purgeFromNonMemberIsIgnored();
    void purgeOfOtherEpochIsIgnored();
    void lowerNodeJoiningDoesNotTakeDispatcher();
    void twoRingsMeetingLeaveOneDispatcher();
    void gracefulLeaveCausesNoPurge_data();
    void gracefulLeaveCausesNoPurge();
    void observerDroppedAfterTimeoutWithoutPurge();
    void observerFindsTheNewRingWhenItsSeedsAndMasterDie();
    void paperTimersAreSettable();
    void badDatagramsAreDroppedAndCounted_data();
    void badDatagramsAreDroppedAndCounted();
    void replayToAnotherNodeIsRejectedBeforeTheStateMachine();
    void statusReachesEveryMemberWithinOneRotation();
    void outOfBandReliableMessageIsDelivered();
    void idleTokenCarriesNoUpdates();
    void joiningNodeWaitsForLowerRingItLearnedOf();
    void eventDetailsPrintDottedQuads();
};

void TestTokenBeatNode::singleNodeFormsStandaloneAfterReform()
{
    RingSim sim(1, fixedNet());
    const int i = sim.addNode();
    sim.start(i);
    TokenBeatNode &n = *sim.nodes()[i].node;
    QCOMPARE(n.state(), NodeState::Joining);
    sim.runUntil(Timers{}.reformInterval - 1ms);
    QCOMPARE(n.state(), NodeState::Joining);
    sim.runUntil(Timers{}.reformInterval);
    QCOMPARE(n.state(), NodeState::Member);
    QCOMPARE(n.role(), Role::Standalone);
    QCOMPARE(n.view().members.size(), std::size_t(1));
    QCOMPARE(n.view().master, n.self());
    sim.runUntil(2s);
    QCOMPARE(n.counters().purges, quint64(0)); // a lone node's token timer never fires
    QCOMPARE(n.counters().tokensRelayed, quint64(0));
}

void TestTokenBeatNode::threeNodesFormOneRingLowestIsMasterAndDispatcher()
{
    RingSim sim(2, fixedNet());
    startAll(sim, 3);
    QVERIFY2(sim.converged(), qPrintable(sim.failure()));
    const RingView &v = sim.nodes()[2].node->view();
    QCOMPARE(v.master, sim.nodes()[0].addr);
    QCOMPARE(v.dispatcher, sim.nodes()[0].addr);
    QCOMPARE(sim.nodes()[0].node->role(), Role::Dispatcher);
    QCOMPARE(sim.nodes()[1].node->role(), Role::Server);
    QVERIFY(sim.nodes()[0].node->counters().rotations >= 5);
    QCOMPARE(count(sim, Event::Kind::PurgeStarted), 0);
}

void TestTokenBeatNode::nodeThatCannotDispatchIsNeverElected()
{
    RingSim sim(3, fixedNet());
    sim.start(sim.addNode(kCanServe)); // lowest, cannot dispatch
    sim.start(sim.addNode());
    sim.start(sim.addNode());
    sim.runUntil(300ms);
    QVERIFY(sim.converged());
    QCOMPARE(sim.nodes()[0].node->view().master, sim.nodes()[0].addr);
    QCOMPARE(sim.nodes()[0].node->view().dispatcher, sim.nodes()[1].addr);
    QCOMPARE(sim.nodes()[0].node->role(), Role::Server);
}

void TestTokenBeatNode::purgeFromNonMemberIsIgnored()
{
    RingSim sim(4, fixedNet());
    startAll(sim, 3);
    TokenBeatNode &n = *sim.nodes()[1].node;
    const quint32 epoch = n.view().ringEpoch;
    const NodeAddr outsider = 0x0A0000C8;
    const quint64 before = n.counters().dropped[int(DropReason::NotForUs)];
    sim.inject(1, Endpoint{outsider, kPort}, sealed(outsider, sim.nodes()[1].addr, MessageType::Purge, encodeBody(EpochMsg{epoch})));
    QCOMPARE(n.state(), NodeState::Member);
    QCOMPARE(n.counters().dropped[int(DropReason::NotForUs)], before + 1);
    sim.runUntil(sim.now() + 500ms);
    QCOMPARE(count(sim, Event::Kind::PurgeStarted), 0);
}

void TestTokenBeatNode::purgeOfOtherEpochIsIgnored()
{
    RingSim sim(5, fixedNet());
    startAll(sim, 3);
    TokenBeatNode &n = *sim.nodes()[1].node;
    const NodeAddr member = sim.nodes()[2].addr;
    sim.inject(1, Endpoint{member, kPort}, sealed(member, sim.nodes()[1].addr, MessageType::Purge, encodeBody(EpochMsg{n.view().ringEpoch - 1}), 99));
    QCOMPARE(n.state(), NodeState::Member);
    QCOMPARE(n.counters().dropped[int(DropReason::StaleRing)], quint64(1));
}

void TestTokenBeatNode::lowerNodeJoiningDoesNotTakeDispatcher()
{
    RingSim sim(6, fixedNet());
    const int low = sim.addNode(); // lowest address, started last
    for (int i = 0; i < 3; ++i)
        sim.start(sim.addNode());
    sim.runUntil(300ms);
    const NodeAddr dispatcher = sim.nodes()[1].addr;
    QCOMPARE(sim.nodes()[1].node->role(), Role::Dispatcher);
    sim.start(low);
    sim.runUntil(sim.now() + 500ms);
    QVERIFY(sim.converged());
    QCOMPARE(sim.nodes()[low].node->view().master, sim.nodes()[low].addr); // master: lowest
    QCOMPARE(sim.nodes()[low].node->view().dispatcher, dispatcher);       // dispatcher kept
    QCOMPARE(sim.nodes()[low].node->role(), Role::Server);
    QCOMPARE(count(sim, Event::Kind::PurgeStarted), 0);
}

void TestTokenBeatNode::twoRingsMeetingLeaveOneDispatcher()
{
    RingSim sim(7, fixedNet());
    for (int i = 0; i < 5; ++i)
        sim.addNode();
    sim.partition({0, 0, 1, 1, 1});
    for (int i = 0; i < 5; ++i)
        sim.start(i);
    sim.runUntil(300ms);
    QCOMPARE(sim.dispatchers().size(), std::size_t(2));
    sim.heal();
    sim.runUntil(sim.now() + Timers{}.beaconInterval + 300ms);
    QVERIFY(sim.converged());
    QCOMPARE(sim.dispatchers().size(), std::size_t(1));
    QCOMPARE(sim.dispatchers().front(), 0);
    QVERIFY(count(sim, Event::Kind::Abdicated) >= 1);
}

void TestTokenBeatNode::gracefulLeaveCausesNoPurge_data()
{
    QTest::addColumn<int>("leaver");
    QTest::newRow("master and dispatcher leaves (hand-over)") << 0;
    QTest::newRow("middle member leaves") << 2;
    QTest::newRow("last member leaves") << 4;
}

void TestTokenBeatNode::gracefulLeaveCausesNoPurge()
{
    QFETCH(int, leaver);
    RingSim sim(8, fixedNet());
    startAll(sim, 5);
    const Time t0 = sim.now();
    sim.leave(leaver);
    sim.runUntil(sim.now() + Timers{}.leaveLinger);
    QCOMPARE(sim.nodes()[leaver].node->state(), NodeState::Stopped);
    sim.nodes()[leaver].alive = false;
    sim.runUntil(sim.now() + 1s);
    QVERIFY(sim.converged());
    QCOMPARE(count(sim, Event::Kind::PurgeStarted, t0), 0);
    const int other = leaver == 0 ? 1 : 0;
    QCOMPARE(sim.nodes()[other].node->view().members.size(), std::size_t(4));
    QCOMPARE(sim.dispatchers().size(), std::size_t(1));
}

void TestTokenBeatNode::observerDroppedAfterTimeoutWithoutPurge()
{
    RingSim sim(9, fixedNet());
    startAll(sim, 3);
    const int obs = sim.addNode(kObserver);
    sim.start(obs);
    sim.runUntil(sim.now() + 500ms);
    QCOMPARE(sim.nodes()[obs].node->state(), NodeState::Observing);
    QCOMPARE(sim.nodes()[obs].node->view().members.size(), std::size_t(3));
    QCOMPARE(count(sim, Event::Kind::ObserverJoined), 1);
    const Time t0 = sim.now();
    sim.crash(obs);
    // The timeout runs from the last hello heard, at most one hello period before the crash.
    sim.runUntil(t0 + Timers{}.observerTimeout - Timers{}.observerHello - 10ms);
    QCOMPARE(count(sim, Event::Kind::ObserverDropped), 0);
    sim.runUntil(t0 + Timers{}.observerTimeout + 10ms);
    QCOMPARE(count(sim, Event::Kind::ObserverDropped), 1);
    QCOMPARE(count(sim, Event::Kind::PurgeStarted), 0);
    QCOMPARE(sim.nodes()[0].node->view().viewVersion, quint32(1)); // members never re-viewed
}

// A console given one seed, the master and dispatcher, which then crashes (the lab's "watch it"
// command): it must find the re-formed ring through the other members of its last view.
void TestTokenBeatNode::observerFindsTheNewRingWhenItsSeedsAndMasterDie()
{
    SimOptions o = fixedNet();
    o.broadcast = false;
    o.seedsOnly = true; // everyone's seeds are nodes 0 and 1
    RingSim sim(12, o);
    startAll(sim, 4);
    const int obs = sim.addNode(kObserver);
    sim.start(obs);
    sim.runUntil(sim.now() + 500ms);
    QCOMPARE(sim.nodes()[obs].node->view().members.size(), std::size_t(4));
    const quint32 epoch = sim.nodes()[obs].node->view().ringEpoch;
    sim.crash(0);
    sim.crash(1);
    sim.runUntil(sim.now() + 3s);
    const RingView &v = sim.nodes()[obs].node->view();
    QCOMPARE(v.members.size(), std::size_t(2));
    QVERIFY(v.ringEpoch > epoch);
    QCOMPARE(v.dispatcher, sim.nodes()[2].addr);
    QCOMPARE(sim.nodes()[obs].node->state(), NodeState::Observing);
}

void TestTokenBeatNode::paperTimersAreSettable()
{
    Timers paper;
    paper.tokenTimeout = 2000ms;
    paper.reformInterval = 2500ms;
    paper.rotationInterval = 500ms;
    RingSim sim(10, fixedNet(paper));
    sim.setQuietWindow(10s);
    startAll(sim, 3, 3s);
    QVERIFY(sim.converged());
    const Time crashAt = sim.now();
    sim.crash(0);
    sim.runUntil(crashAt + 1400ms);
    QCOMPARE(count(sim, Event::Kind::TokenTimeout, crashAt), 0);
    sim.runUntil(crashAt + paper.tokenTimeout + paper.reformInterval + 100ms);
    QVERIFY(count(sim, Event::Kind::TokenTimeout, crashAt) >= 1);
    QVERIFY(sim.converged());
    QCOMPARE(sim.dispatchers().size(), std::size_t(1));
}

void TestTokenBeatNode::badDatagramsAreDroppedAndCounted_data()
{
    QTest::addColumn<QByteArray>("datagram");
    QTest::addColumn<int>("reason");
    const NodeAddr member = 0x0A000003;
    const NodeAddr receiver = 0x0A000002; // node 1, where the rows are injected
    QByteArray badMac = sealed(member, receiver, MessageType::Beacon, encodeBody(BeaconMsg{}), 50);
    badMac[badMac.size() - 1] = char(badMac[badMac.size() - 1] ^ 1);
    Sealer other(QByteArray(32, 'x'), member, 51);
    QTest::newRow("flipped MAC bit") << badMac << int(DropReason::BadMac);
    QTest::newRow("wrong cluster key") << other.seal(quint8(MessageType::Beacon), Endpoint{receiver, kPort}, encodeBody(BeaconMsg{})) << int(DropReason::BadMac);
    QTest::newRow("three bytes") << QByteArray("SB\x01") << int(DropReason::Truncated);
    QTest::newRow("token body cut short") << sealed(member, receiver, MessageType::Token, QByteArray(10, '\0'), 52) << int(DropReason::Malformed);
    QTest::newRow("view body cut short") << sealed(member, receiver, MessageType::View, QByteArray(13, '\0'), 53) << int(DropReason::Malformed);
    QTest::newRow("token sealed for node 2, replayed to node 1")
        << sealed(member, 0x0A000001, MessageType::Token, encodeBody(TokenMsg{}), 55) << int(DropReason::WrongDestination);
    QTest::newRow("unknown type 200") << sealed(member, receiver, MessageType(200), QByteArray(4, '\0'), 54) << int(DropReason::UnknownType);
}

void TestTokenBeatNode::badDatagramsAreDroppedAndCounted()
{
    QFETCH(QByteArray, datagram);
    QFETCH(int, reason);
    RingSim sim(11, fixedNet());
    startAll(sim, 3);
    TokenBeatNode &n = *sim.nodes()[1].node;
    const quint64 before = n.counters().dropped[reason];
    const std::size_t events = sim.events().size();
    sim.inject(1, Endpoint{0x0A000003, kPort}, datagram);
    QCOMPARE(n.counters().dropped[reason], before + 1);
    QVERIFY(sim.events().size() > events);
    QCOMPARE(sim.events().back().event.kind, Event::Kind::DatagramDropped);
    QCOMPARE(int(sim.events().back().event.dropReason), reason);
    QCOMPARE(n.state(), NodeState::Member);
}

// Issue 11 item 6: a datagram captured on its way to one node and replayed to any other is
// rejected by the envelope (WrongDestination), before the protocol sees it, whatever its type.
// Traffic of a real run is captured: formation (Join, View, ViewAck, Token), an observer
// (ObserverHello), a reliable out-of-band message (OobData, OobAck), a graceful leave (Leave)
// and the master's crash (Purge); then each type's first datagram is replayed to every other
// live node.
void TestTokenBeatNode::replayToAnotherNodeIsRejectedBeforeTheStateMachine()
{
    SimOptions o = fixedNet();
    o.broadcast = false;
    o.allSeeds = true; // Joins go to each seed's endpoint, not to a broadcast address
    RingSim sim(21, o);
    const auto indexOf = [&](const Endpoint &e) {
        for (const auto &n : sim.nodes())
            if (n.addr == e.ip && e.port == kPort)
                return n.index;
        return -1;
    };
    struct Captured {
        int to = -1;
        NodeAddr sender = kNoNode;
        QByteArray datagram;
    };
    std::map<MessageType, Captured> first;
    sim.setTap([&](int sender, const Outgoing &out) {
        const auto type = MessageType(quint8(out.datagram.at(3)));
        if (!first.contains(type) && indexOf(out.to) >= 0)
            first[type] = Captured{indexOf(out.to), sim.nodes()[sender].addr, out.datagram};
    });
    for (int i = 0; i < 5; ++i)
        sim.start(sim.addNode());
    sim.start(sim.addNode(kObserver));
    sim.runUntil(sim.now() + 500ms);
    QVERIFY2(sim.converged(), qPrintable(sim.failure()));
    sim.act(2, sim.nodes()[2].node->sendOob(sim.now(), sim.nodes()[1].addr, 3, QByteArray("are you there?"), true));
    sim.runUntil(sim.now() + 50ms);
    sim.leave(4);
    sim.runUntil(sim.now() + 200ms);
    sim.crash(0);
    sim.runUntil(sim.now() + 500ms);
    sim.setTap({});

    for (MessageType t : {MessageType::Join, MessageType::View, MessageType::ViewAck, MessageType::Token, MessageType::Purge,
                          MessageType::Leave, MessageType::ObserverHello, MessageType::OobData, MessageType::OobAck})
        QVERIFY2(first.contains(t), qPrintable(QStringLiteral("no %1 was sent").arg(messageTypeToString(quint8(t)))));

    int replays = 0;
    for (const auto &[type, c] : first) {
        const QString what = messageTypeToString(quint8(type));
        // Authentic for its own destination: only the destination can make the others refuse it.
        Opener original(QByteArray(32, 'k'), {Endpoint{sim.nodes()[c.to].addr, kPort}});
        QVERIFY2(original.open(c.datagram).envelope.has_value(), qPrintable(what));
        for (auto &n : sim.nodes()) {
            if (n.index == c.to || !n.alive)
                continue;
            const TokenBeatNode &node = *n.node;
            const NodeState state = node.state();
            const Role role = node.role();
            const RingView view = node.view();
            const quint64 wrong = node.counters().dropped[int(DropReason::WrongDestination)];
            const quint64 dropped = node.counters().droppedTotal();
            const std::size_t events = sim.events().size();
            const quint64 sent = sim.datagramsSent();
            sim.inject(n.index, Endpoint{c.sender, kPort}, c.datagram);
            const QString where = QStringLiteral("%1 sent to node %2, replayed to node %3").arg(what).arg(c.to).arg(n.index);
            QVERIFY2(node.counters().dropped[int(DropReason::WrongDestination)] == wrong + 1, qPrintable(where));
            QVERIFY2(node.counters().droppedTotal() == dropped + 1, qPrintable(where));
            QVERIFY2(sim.events().size() == events + 1, qPrintable(where));
            QVERIFY2(sim.events().back().event.kind == Event::Kind::DatagramDropped, qPrintable(where));
            QVERIFY2(sim.events().back().event.dropReason == DropReason::WrongDestination, qPrintable(where));
            QVERIFY2(sim.datagramsSent() == sent, qPrintable(where)); // nothing answered it
            QVERIFY2(node.state() == state && node.role() == role, qPrintable(where));
            QVERIFY2(node.view().ringEpoch == view.ringEpoch && node.view().viewVersion == view.viewVersion
                         && node.view().members == view.members,
                     qPrintable(where));
            ++replays;
        }
    }
    QVERIFY(replays >= 2 * int(first.size()));
}

void TestTokenBeatNode::statusReachesEveryMemberWithinOneRotation()
{
    RingSim sim(12, fixedNet());
    startAll(sim, 4);
    sim.nodes()[2].node->setLocalStatus(NodeStatus{Role::None, Health::Draining, 42, 7});
    sim.runUntil(sim.now() + 2 * Timers{}.rotationInterval + 5ms);
    for (int i = 0; i < 4; ++i) {
        const Member *m = sim.nodes()[i].node->view().find(sim.nodes()[2].addr);
        QVERIFY(m);
        QCOMPARE(m->status.activeConnections, quint32(42));
        QCOMPARE(m->status.health, Health::Draining);
    }
}

void TestTokenBeatNode::outOfBandReliableMessageIsDelivered()
{
    RingSim sim(13, fixedNet());
    startAll(sim, 3);
    const QByteArray payload(5000, 'p'); // several chunks
    quint64 id = 0;
    sim.act(1, sim.nodes()[1].node->sendOob(sim.now(), sim.nodes()[2].addr, 3, payload, true, &id));
    QVERIFY(id != 0);
    sim.runUntil(sim.now() + 200ms);
    bool received = false, delivered = false;
    for (const EventRecord &r : sim.events()) {
        if (r.node == 2 && r.event.kind == Event::Kind::OobReceived) {
            received = r.event.payload == payload && r.event.channel == 3 && r.event.node == sim.nodes()[1].addr;
        }
        if (r.node == 1 && r.event.kind == Event::Kind::OobDelivered)
            delivered = r.event.value == id;
    }
    QVERIFY(received);
    QVERIFY(delivered);
}

void TestTokenBeatNode::idleTokenCarriesNoUpdates()
{
    RingSim sim(14, fixedNet());
    startAll(sim, 3, 1s);
    // At idle, traffic is one token hop per member per rotation plus nothing else.
    const quint64 sent0 = sim.datagramsSent();
    sim.runUntil(sim.now() + 400ms);
    const quint64 perRotation = (sim.datagramsSent() - sent0) / 10;
    QCOMPARE(perRotation, quint64(3));
}

// Healing: a node that learnt of a lower ring's master (Beacon) while Joining waits for that
// master's View instead of forming a ring of its own; if none comes within tokenTimeout it
// forgets that master and forms. The epoch it then uses is above the Beacon's.
void TestTokenBeatNode::joiningNodeWaitsForLowerRingItLearnedOf()
{
    RingSim sim(1, fixedNet());
    const int lower = sim.addNode(); // 10.0.0.1, never started: its ring is "elsewhere"
    const int me = sim.addNode();    // 10.0.0.2
    sim.start(me);
    BeaconMsg b;
    b.ringEpoch = 7;
    b.master = sim.nodes()[lower].addr;
    b.masterEndpoint = Endpoint{sim.nodes()[lower].addr, kPort};
    b.dispatcher = b.master;
    b.nMembers = 3;
    sim.inject(me, b.masterEndpoint, sealed(b.master, sim.nodes()[me].addr, MessageType::Beacon, encodeBody(b)));
    const Timers t;
    sim.runUntil(t.reformInterval + 1ms);
    TokenBeatNode &n = *sim.nodes()[me].node;
    QCOMPARE(n.state(), NodeState::AwaitingRing);
    sim.runUntil(t.reformInterval + t.tokenTimeout - 1ms);
    QCOMPARE(n.state(), NodeState::AwaitingRing);
    sim.runUntil(t.reformInterval * 2 + t.tokenTimeout + 1ms);
    QCOMPARE(n.state(), NodeState::Member);
    QCOMPARE(n.role(), Role::Standalone);
    // Above the lower ring's 7, its low byte 255 minus our own address's (10.0.0.2): 1 << 8 | 253.
    QCOMPARE(n.view().ringEpoch, 509u);
}

void TestTokenBeatNode::eventDetailsPrintDottedQuads()
{
    RingSim sim(1, fixedNet());
    startAll(sim, 3);
    bool seen = false;
    for (const EventRecord &r : sim.events()) {
        if (r.event.kind != Event::Kind::RingFormed)
            continue;
        QVERIFY2(r.event.detail.contains(QStringLiteral("master 10.0.0.1")), qPrintable(r.event.detail));
        seen = true;
    }
    QVERIFY(seen);
}

QTEST_GUILESS_MAIN(TestTokenBeatNode)
#include "tst_tokenbeatnode.moc"
