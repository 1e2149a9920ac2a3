#include "tokenbeat/node.h"
#include "tokenbeat/nodeimpl.h"

#include <algorithm>

// Entry points, datagram dispatch, joining, ring formation, purge and timers. The ring itself
// (token, views, election, leave, observers, partition healing) is in nodering.cpp.
// docs/tokenbeat.md is the specification this file implements.

namespace sasha::tb {

namespace {

constexpr std::size_t kMaxPeers = 4096;
// OobData header (reliable.h): transferId 8 | channel 1 | flags 1 | index 2 | count 2 | total 4.
constexpr std::size_t kOobDataHeader = 18;

bool isDispatchRole(Role r) { return r == Role::Dispatcher || r == Role::Standalone; }

// The endpoints a datagram for this node is addressed to: its own, and the broadcast endpoint
// its Joins go to (the network delivers those to every node listening there).
std::vector<Endpoint> receivedAt(const NodeConfig &c)
{
    std::vector<Endpoint> at{c.endpoint};
    if (c.broadcast)
        at.push_back(*c.broadcast);
    return at;
}

} // namespace

TokenBeatNode::Impl::Impl(NodeConfig c)
    : cfg(std::move(c)),
      sealer(cfg.key, cfg.self, cfg.bootEpoch),
      opener(cfg.key, receivedAt(cfg), cfg.maxDatagram),
      oob(cfg.timers, cfg.maxDatagram - kEnvelopeOverhead - kOobDataHeader,
          quint8(MessageType::OobData), quint8(MessageType::OobAck))
{
}

void TokenBeatNode::Impl::send(const Endpoint &to, MessageType type, const QByteArray &body)
{
    if (to.isNull())
        return;
    QByteArray datagram = sealer.seal(quint8(type), to, body);
    if (datagram.isEmpty())
        return; // key too short: nothing we could authenticate (reported at start)
    Q_ASSERT(std::size_t(datagram.size()) <= cfg.maxDatagram);
    if (std::size_t(datagram.size()) > cfg.maxDatagram)
        return;
    ++counters.datagramsOut;
    counters.bytesOut += datagram.size();
    out->send.push_back(Outgoing{to, std::move(datagram)});
}

void TokenBeatNode::Impl::sendMany(const std::set<Endpoint> &to, MessageType type, const QByteArray &body)
{
    for (const Endpoint &e : to)
        send(e, type, body);
}

void TokenBeatNode::Impl::emitEvent(Event::Kind kind, NodeAddr node, const QString &detail)
{
    Event e{kind};
    e.at = now;
    e.node = node;
    e.role = role;
    e.detail = detail;
    out->events.push_back(std::move(e));
}

void TokenBeatNode::Impl::drop(DropReason reason, const Endpoint &from, const QString &detail)
{
    ++counters.dropped[int(reason)];
    Event e{Event::Kind::DatagramDropped};
    e.at = now;
    e.dropReason = reason;
    e.from = from;
    e.detail = detail.isEmpty() ? dropReasonToString(reason) : detail;
    out->events.push_back(std::move(e));
}

void TokenBeatNode::Impl::setState(NodeState s)
{
    if (s == state)
        return;
    const QString detail = nodeStateToString(state) + QStringLiteral(" -> ") + nodeStateToString(s);
    state = s;
    emitEvent(Event::Kind::StateChanged, cfg.self, detail);
}

void TokenBeatNode::Impl::setRole(Role r)
{
    if (r == role)
        return;
    role = r;
    emitEvent(Event::Kind::RoleChanged, cfg.self, roleToString(r));
}

void TokenBeatNode::Impl::rememberPeer(NodeAddr addr, const Endpoint &e)
{
    if (addr == kNoNode || e.isNull())
        return;
    if (peers.size() >= kMaxPeers && !peers.contains(addr))
        peers.erase(peers.begin());
    peers[addr] = e;
}

std::optional<Endpoint> TokenBeatNode::Impl::endpointOf(NodeAddr addr) const
{
    if (const Member *m = view.find(addr))
        return m->endpoint;
    if (auto it = observers.find(addr); it != observers.end())
        return it->second.member.endpoint;
    if (auto it = heard.find(addr); it != heard.end())
        return it->second.endpoint;
    if (auto it = peers.find(addr); it != peers.end())
        return it->second;
    return std::nullopt;
}

bool TokenBeatNode::Impl::isMaster() const
{
    return state == NodeState::Member && !view.members.empty() && view.members.front().addr == cfg.self;
}

void TokenBeatNode::Impl::handleDatagram(const Endpoint &from, QByteArrayView datagram)
{
    ++counters.datagramsIn;
    counters.bytesIn += datagram.size();
    Opener::Result opened = opener.open(datagram);
    if (!opened.envelope) {
        drop(opened.reason, from);
        return;
    }
    const Envelope &env = *opened.envelope;
    if (env.sender == cfg.self)
        return; // our own broadcast looping back
    if (state == NodeState::Stopped) {
        drop(DropReason::NotForUs, from, QStringLiteral("node stopped"));
        return;
    }
    rememberPeer(env.sender, from);
    const auto malformed = [&] {
        drop(DropReason::Malformed, from,
             QStringLiteral("malformed %1 body (%2 bytes)").arg(messageTypeToString(env.type)).arg(env.body.size()));
    };
    switch (MessageType(env.type)) {
    case MessageType::Join: {
        JoinMsg m;
        decodeBody(env.body, m) ? handleJoin(env, m) : malformed();
        return;
    }
    case MessageType::View: {
        ViewMsg m;
        (decodeBody(env.body, m) && !m.view.members.empty()) ? handleView(env, from, m) : malformed();
        return;
    }
    case MessageType::ViewAck: {
        ViewAckMsg m;
        decodeBody(env.body, m) ? handleViewAck(env, m) : malformed();
        return;
    }
    case MessageType::Token: {
        TokenMsg m;
        decodeBody(env.body, m) ? handleToken(env, from, m) : malformed();
        return;
    }
    case MessageType::Purge: {
        EpochMsg m;
        decodeBody(env.body, m) ? handlePurge(env, m) : malformed();
        return;
    }
    case MessageType::Leave: {
        EpochMsg m;
        decodeBody(env.body, m) ? handleLeave(env, m) : malformed();
        return;
    }
    case MessageType::ObserverHello: {
        ObserverHelloMsg m;
        decodeBody(env.body, m) ? handleObserverHello(m) : malformed();
        return;
    }
    case MessageType::Beacon: {
        BeaconMsg m;
        decodeBody(env.body, m) ? handleBeacon(m) : malformed();
        return;
    }
    case MessageType::ViewRequest: {
        EpochMsg m;
        decodeBody(env.body, m) ? handleViewRequest(from, m) : malformed();
        return;
    }
    case MessageType::OobData:
    case MessageType::OobAck:
        handleOob(env, from);
        return;
    }
    drop(DropReason::UnknownType, from, QStringLiteral("unknown message type %1").arg(env.type));
}

JoinMsg TokenBeatNode::Impl::ownJoin() const
{
    JoinMsg j;
    j.addr = cfg.self;
    j.endpoint = cfg.endpoint;
    j.caps = cfg.caps;
    j.claim = role;
    j.lastRingEpoch = std::max(abandonedEpoch, view.ringEpoch);
    return j;
}

void TokenBeatNode::Impl::handleJoin(const Envelope &env, const JoinMsg &j)
{
    if (j.addr == cfg.self || (j.caps & kObserver))
        return;
    maxEpochSeen = std::max(maxEpochSeen, j.lastRingEpoch);
    rememberPeer(j.addr, j.endpoint);
    const bool forwarded = j.flags & kJoinForwarded;
    switch (state) {
    case NodeState::Joining:
    case NodeState::AwaitingRing: {
        const bool fresh = !heard.contains(j.addr);
        Heard &h = heard[j.addr];
        const Time answeredAt = fresh ? kNever : h.answeredAt;
        h = Heard{j.endpoint, j.caps, j.claim, j.lastRingEpoch, now, answeredAt};
        // Tell a higher joiner that a lower node exists (it may only know seeds, and must not
        // form a ring without us): at once, and again at most every reformInterval while it
        // keeps sending us Joins (our answer may have been lost). A lower joiner is in our
        // heard set now, so our periodic Join reaches it anyway.
        if (!forwarded && cfg.self < j.addr && (answeredAt == kNever || now - answeredAt >= cfg.timers.reformInterval)) {
            send(j.endpoint, MessageType::Join, encodeBody(ownJoin()));
            h.answeredAt = now;
        }
        if (forwarded || !fresh)
            return;
        // Pass the Join to the node that will form the ring (the lowest we heard) or to a lower
        // ring's master. Only one node relays to the lowest heard: the second lowest. With every
        // node relaying, the forming node got N^2 Joins at each purge, overflowed its socket's
        // receive buffer and formed a ring without the nodes whose Joins it lost.
        const auto lowestHeard = heard.begin();
        NodeAddr target = lowestHeard->first;
        Endpoint targetEp = lowestHeard->second.endpoint;
        bool relay = false;
        for (auto it = std::next(lowestHeard); it != heard.end(); ++it)
            if (it->first != j.addr) {
                relay = it->first == cfg.self;
                break;
            }
        if (!foreignMasters.empty() && foreignMasters.begin()->first < target) {
            target = foreignMasters.begin()->first;
            targetEp = foreignMasters.begin()->second;
            relay = true;
        }
        if (relay && target != cfg.self && target != j.addr && target != env.sender) {
            JoinMsg fwd = j;
            fwd.flags |= kJoinForwarded;
            send(targetEp, MessageType::Join, encodeBody(fwd));
        }
        return;
    }
    case NodeState::Member:
        if (isMaster()) {
            admit(j);
        } else if (!forwarded) {
            JoinMsg fwd = j;
            fwd.flags |= kJoinForwarded;
            send(view.members.front().endpoint, MessageType::Join, encodeBody(fwd));
        }
        return;
    case NodeState::Leaving:
        if (!forwarded && !handingOver && !view.members.empty())
            send(view.members.front().endpoint, MessageType::Join,
                 encodeBody(JoinMsg{j.addr, j.endpoint, j.caps, j.claim, j.lastRingEpoch, kJoinForwarded}));
        return;
    case NodeState::Stopped:
    case NodeState::Observing:
        return;
    }
}

void TokenBeatNode::Impl::handlePurge(const Envelope &env, const EpochMsg &p)
{
    maxEpochSeen = std::max(maxEpochSeen, p.ringEpoch);
    if (state != NodeState::Member && state != NodeState::Leaving)
        return; // already re-forming (or not in a ring): nothing to purge
    if (p.ringEpoch != view.ringEpoch) {
        if (p.ringEpoch < view.ringEpoch)
            drop(DropReason::StaleRing, endpointOf(env.sender).value_or(Endpoint{}),
                 QStringLiteral("purge of old ring %1").arg(p.ringEpoch));
        return;
    }
    const Member *m = view.find(env.sender);
    if (!m || m->caps & kObserver || std::none_of(view.members.begin(), view.members.end(),
                                                  [&](const Member &x) { return x.addr == env.sender; })) {
        drop(DropReason::NotForUs, endpointOf(env.sender).value_or(Endpoint{}),
             QStringLiteral("purge from non-member %1 ignored").arg(addrText(env.sender)));
        return;
    }
    ++counters.purges;
    emitEvent(Event::Kind::PurgeStarted, env.sender,
              QStringLiteral("ring %1 purged by %2").arg(view.ringEpoch).arg(addrText(env.sender)));
    if (state == NodeState::Leaving) {
        stop();
        return;
    }
    enterJoining();
}

void TokenBeatNode::Impl::declarePurge(const QString &why)
{
    ++counters.purges;
    std::set<Endpoint> targets;
    for (const Member &m : view.members)
        if (m.addr != cfg.self)
            targets.insert(m.endpoint);
    sendMany(targets, MessageType::Purge, encodeBody(EpochMsg{view.ringEpoch}));
    emitEvent(Event::Kind::PurgeStarted, cfg.self, why);
    enterJoining();
}

void TokenBeatNode::Impl::enterJoining(Time keepHeardSince)
{
    if (state == NodeState::Member || state == NodeState::Leaving) {
        abandonedEpoch = std::max(abandonedEpoch, view.ringEpoch);
        abandonedVersion = view.viewVersion;
        lastViewEndpoints.clear();
        for (const Member &m : view.members)
            if (m.addr != cfg.self)
                lastViewEndpoints.push_back(m.endpoint);
    }
    maxEpochSeen = std::max(maxEpochSeen, view.ringEpoch);
    setState(NodeState::Joining);
    std::erase_if(heard, [&](const auto &h) { return keepHeardSince == kNever || h.second.at < keepHeardSince; });
    heard[cfg.self] = Heard{cfg.endpoint, cfg.caps, role, abandonedEpoch, now};
    reformDeadline = now + cfg.timers.reformInterval;
    awaitDeadline = kNever;
    tokenDeadline = kNever;
    rotationInFlight = false;
    nextRotationAt = kNever;
    nextBeaconAt = kNever;
    pendingAcks.clear();
    finalViewTo.clear();
    offer.reset();
    heldToken.reset();
    holdDeadline = nextViewRequestAt = kNever;
    sendJoins(true);
}

void TokenBeatNode::Impl::sendJoins(bool all)
{
    // With a broadcast endpoint the members of the last view and the nodes heard are reached
    // by it; without one they are told one by one.
    //
    // The repeats (every joinRepeat) go only where they are still needed: to the two lowest
    // nodes heard (the one that forms the ring must hear us; the second in case the first is
    // gone), to seeds not heard from yet (not started, or members of a ring that admits us),
    // and to other rings' masters. Higher nodes heard already know a lower node exists. With
    // every node repeating to every seed, a 20-node purge cost 25,000 datagrams a second and
    // overloaded a shared host (receive buffers overflowed, Joins and Views were lost).
    std::set<Endpoint> targets;
    if (cfg.broadcast) {
        targets.insert(cfg.seeds.begin(), cfg.seeds.end());
        targets.insert(*cfg.broadcast);
    } else if (all) {
        targets.insert(cfg.seeds.begin(), cfg.seeds.end());
        targets.insert(lastViewEndpoints.begin(), lastViewEndpoints.end());
        for (const auto &[addr, h] : heard)
            if (addr != cfg.self)
                targets.insert(h.endpoint);
    } else {
        std::set<Endpoint> heardEndpoints;
        for (const auto &[addr, h] : heard)
            heardEndpoints.insert(h.endpoint);
        for (const Endpoint &s : cfg.seeds)
            if (!heardEndpoints.contains(s))
                targets.insert(s);
        for (const Endpoint &e : lastViewEndpoints)
            if (!heardEndpoints.contains(e))
                targets.insert(e);
        int lower = 0;
        for (const auto &[addr, h] : heard) {
            if (addr == cfg.self || lower == 2)
                break;
            targets.insert(h.endpoint);
            ++lower;
        }
    }
    for (const auto &[addr, ep] : foreignMasters)
        targets.insert(ep);
    targets.erase(cfg.endpoint);
    sendMany(targets, MessageType::Join, encodeBody(ownJoin()));
    nextJoinAt = now + cfg.timers.joinRepeat;
}

void TokenBeatNode::Impl::formRing()
{
    RingView v;
    v.ringEpoch = nextEpoch(std::max({maxEpochSeen, abandonedEpoch, view.ringEpoch}), cfg.self);
    const Role claimBefore = role; // Dispatcher or Standalone: how strong our claim is
    v.viewVersion = 0; // publishView makes it 1
    std::map<NodeAddr, Role> heardClaims;
    for (const auto &[addr, h] : heard) {
        if (v.members.size() >= std::size_t(kMaxMembers))
            break; // heard is sorted: the lowest kMaxMembers form the ring, the rest rejoin
        Member m;
        m.addr = addr;
        m.endpoint = h.endpoint;
        m.caps = addr == cfg.self ? cfg.caps : h.caps;
        v.members.push_back(m);
        if (isDispatchRole(h.claim))
            heardClaims[addr] = h.claim;
    }
    v.master = cfg.self;
    v.dispatcher = role == Role::Dispatcher || role == Role::Standalone ? cfg.self : kNoNode;
    ++counters.ringsFormed;
    enterRing(v);
    becomeMaster();
    claims.insert(heardClaims.begin(), heardClaims.end());
    if (v.dispatcher == cfg.self)
        claims[cfg.self] = claimBefore;
    publishView(QStringLiteral("ring %1 formed with %2 members").arg(v.ringEpoch).arg(v.members.size()));
}

void TokenBeatNode::Impl::stop()
{
    setState(NodeState::Stopped);
    setRole(Role::None);
    tokenDeadline = reformDeadline = nextJoinAt = awaitDeadline = kNever;
    nextRotationAt = nextBeaconAt = leaveDeadline = nextLeaveAt = nextHelloAt = kNever;
    holdDeadline = nextViewRequestAt = kNever;
    rotationInFlight = false;
    handingOver = false;
    pendingAcks.clear();
    finalViewTo.clear();
    offer.reset();
    heldToken.reset();
}

void TokenBeatNode::Impl::tick()
{
    switch (state) {
    case NodeState::Stopped:
        break;
    case NodeState::Joining:
        if (now >= reformDeadline) {
            reformDeadline = kNever;
            NodeAddr lowest = kNoNode;
            for (const auto &[addr, h] : heard)
                if (!(h.caps & kObserver)) {
                    lowest = addr;
                    break;
                }
            // A lower ring's master we are joining (healing) admits us: forming our own ring
            // would only split the cluster again at every beacon.
            const bool lowerRing = !foreignMasters.empty() && foreignMasters.begin()->first < cfg.self;
            if (lowest == cfg.self && !lowerRing) {
                formRing();
                break;
            }
            setState(NodeState::AwaitingRing);
            awaitDeadline = now + cfg.timers.tokenTimeout;
        }
        if (now >= nextJoinAt)
            sendJoins(false);
        break;
    case NodeState::AwaitingRing:
        if (now >= awaitDeadline) {
            // The node we expected to form the ring (or the lower ring's master) did not include
            // us: start over, but remember the nodes heard lately. A fresh heard set made a node
            // whose View was lost form a ring alone while the others had just formed one with it.
            awaitDeadline = kNever;
            foreignMasters.clear();
            enterJoining(now - cfg.timers.tokenTimeout - cfg.timers.reformInterval);
            break;
        }
        if (now >= nextJoinAt)
            sendJoins(false);
        break;
    case NodeState::Member:
    case NodeState::Leaving:
    case NodeState::Observing:
        tickRing();
        break;
    }
    if (state == NodeState::Joining || state == NodeState::AwaitingRing) {
        // A token held for a ring we have not been told about yet expires.
        if (heldToken && now >= holdDeadline) {
            heldToken.reset();
            holdDeadline = nextViewRequestAt = kNever;
        } else if (heldToken && now >= nextViewRequestAt) {
            send(heldAsk, MessageType::ViewRequest, encodeBody(EpochMsg{heldToken->ringEpoch}));
            nextViewRequestAt = now + cfg.timers.retransmit;
        }
    }
    ReliableExchange::Result r;
    oob.onTick(now, r);
    applyOobResult(r);
}

void TokenBeatNode::Impl::endCall()
{
    // Only while a token deadline runs: a Standalone node (no token) is not woken for nothing.
    stallCheckAt = state == NodeState::Member && tokenDeadline != kNever ? now + cfg.timers.tokenTimeout / 8 : kNever;
    promisedWake = std::max(nextDeadline(), now);
}

Time TokenBeatNode::Impl::nextDeadline() const
{
    // Mirrors tick(): only the timers the current state acts on, so a stale timer of another
    // state can never make the caller spin.
    Time t = oob.nextDeadline();
    const auto at = [&t](Time x) { t = std::min(t, x); };
    switch (state) {
    case NodeState::Stopped:
        break;
    case NodeState::Joining:
        at(reformDeadline);
        at(nextJoinAt);
        at(holdDeadline);
        at(nextViewRequestAt);
        break;
    case NodeState::AwaitingRing:
        at(awaitDeadline);
        at(nextJoinAt);
        at(holdDeadline);
        at(nextViewRequestAt);
        break;
    case NodeState::Member:
        at(tokenDeadline);
        at(stallCheckAt);
        at(holdDeadline);
        at(nextViewRequestAt);
        for (const auto &[addr, p] : pendingAcks)
            at(p.next);
        if (isMaster()) {
            if (view.members.size() > 1)
                at(nextRotationAt);
            at(nextBeaconAt);
            if (offer)
                at(offer->next);
            for (const auto &[addr, o] : observers)
                at(o.lastSeen + cfg.timers.observerTimeout);
            if (observersDirty && !observers.empty())
                at(lastObserverViewAt + cfg.timers.viewToObservers);
        }
        break;
    case NodeState::Leaving:
        at(leaveDeadline);
        at(holdDeadline);
        if (handingOver) {
            for (const auto &[addr, p] : pendingAcks)
                at(p.next);
        } else {
            at(nextLeaveAt);
        }
        break;
    case NodeState::Observing:
        at(nextHelloAt);
        break;
    }
    return t;
}

TokenBeatNode::TokenBeatNode(NodeConfig config) : d(std::make_unique<Impl>(std::move(config))) {}

TokenBeatNode::~TokenBeatNode() = default;

Actions TokenBeatNode::start(Time now)
{
    Actions acts;
    d->out = &acts;
    d->now = now;
    d->promisedWake = kNever; // a node started again: its time stopped is no stall
    if (d->cfg.key.size() < kMinKeySize) {
        d->emitEvent(Event::Kind::StateChanged, d->cfg.self,
                     QStringLiteral("cluster key shorter than %1 bytes: not starting (generate one with "
                                    "'sashactl keygen')").arg(kMinKeySize));
    } else if (d->cfg.caps & kObserver) {
        d->setState(NodeState::Observing);
        d->setRole(Role::Observer);
        d->nextHelloAt = now;
        d->tickRing();
    } else if (d->state == NodeState::Stopped) {
        d->enterJoining();
    }
    d->out = nullptr;
    d->endCall();
    return acts;
}

Actions TokenBeatNode::onDatagram(Time now, const Endpoint &from, QByteArrayView datagram)
{
    Actions acts;
    d->out = &acts;
    d->now = now;
    d->noteCall();
    d->handleDatagram(from, datagram);
    d->out = nullptr;
    d->endCall();
    return acts;
}

Actions TokenBeatNode::onTick(Time now)
{
    Actions acts;
    d->out = &acts;
    d->now = now;
    d->noteCall();
    d->tick();
    d->out = nullptr;
    d->endCall();
    return acts;
}

Time TokenBeatNode::nextDeadline() const { return d->nextDeadline(); }

Actions TokenBeatNode::leave(Time now)
{
    Actions acts;
    d->out = &acts;
    d->now = now;
    d->noteCall();
    d->beginLeave();
    d->out = nullptr;
    d->endCall();
    return acts;
}

Actions TokenBeatNode::sendOob(Time now, NodeAddr to, quint8 channel, const QByteArray &payload,
                               bool reliable, quint64 *transferId)
{
    Actions acts;
    d->out = &acts;
    d->now = now;
    d->noteCall();
    ReliableExchange::Result r;
    const quint64 id = d->oob.send(now, to, channel, payload, reliable, r);
    if (id != 0)
        ++d->counters.oobSent;
    if (transferId)
        *transferId = id;
    d->applyOobResult(r);
    d->out = nullptr;
    d->endCall();
    return acts;
}

void TokenBeatNode::setLocalStatus(const NodeStatus &status)
{
    d->localStatus = status;
    d->localStatus.role = Role::None; // the ring decides roles; filled in when reported
}

void TokenBeatNode::setCapabilities(quint8 caps)
{
    // The observer bit is fixed at start: an observer is never on the token's path.
    d->cfg.caps = quint8((caps & ~kObserver) | (d->cfg.caps & kObserver));
}

NodeAddr TokenBeatNode::self() const { return d->cfg.self; }
NodeState TokenBeatNode::state() const { return d->state; }
Role TokenBeatNode::role() const { return d->role; }
const RingView &TokenBeatNode::view() const { return d->view; }
const Counters &TokenBeatNode::counters() const { return d->counters; }
const NodeConfig &TokenBeatNode::config() const { return d->cfg; }

} // namespace sasha::tb
