#include "tokenbeat/nodeimpl.h"

#include <algorithm>
#include <utility>

// The formed ring: token circulation and status piggyback, views and their acknowledgement,
// election and graceful leave. Observers, other rings and out-of-band: nodeoutside.cpp.

namespace sasha::tb {

namespace {

bool isDispatchRole(Role r) { return r == Role::Dispatcher || r == Role::Standalone; }

bool hasMember(const RingView &v, NodeAddr a)
{
    return std::any_of(v.members.begin(), v.members.end(), [&](const Member &m) { return m.addr == a; });
}

Member *findMember(RingView &v, NodeAddr a)
{
    for (Member &m : v.members)
        if (m.addr == a)
            return &m;
    return nullptr;
}

QString ms(Time t) { return QString::number(double(t.count()) / 1000.0, 'f', 1) + QStringLiteral(" ms"); }

} // namespace

void TokenBeatNode::Impl::enterRing(const RingView &v)
{
    const RingView prev = view;
    const bool hadRing = !prev.members.empty();
    view = v;
    setState(NodeState::Member);
    heard.clear();
    heldViews.clear();
    noteView(v);
    foreignMasters.clear();
    reformDeadline = awaitDeadline = nextJoinAt = kNever;
    tokenDeadline = v.members.size() > 1 ? now + cfg.timers.tokenTimeout : kNever;
    lastRotation = 0;
    rotation = 0;
    lastReturned = 0;
    lateUpdates.clear();
    prevMaster = kNoNode;
    lastReported.reset();
    tokenUpdates.clear();
    emitEvent(Event::Kind::RingFormed, v.master,
              QStringLiteral("ring %1, master %2, %3 members").arg(v.ringEpoch).arg(addrText(v.master)).arg(v.members.size()));
    for (const Member &m : prev.members)
        if (m.addr != cfg.self && !hasMember(v, m.addr))
            emitEvent(Event::Kind::MemberLost, m.addr, QStringLiteral("not in ring %1").arg(v.ringEpoch));
    for (const Member &m : v.members)
        if (m.addr != cfg.self && hadRing && !hasMember(prev, m.addr))
            emitEvent(Event::Kind::MemberJoined, m.addr);
}

void TokenBeatNode::Impl::adoptView(const RingView &v)
{
    const RingView prev = view;
    view = v;
    noteView(v);
    for (const Member &m : v.members)
        if (m.addr != cfg.self && !hasMember(prev, m.addr))
            emitEvent(Event::Kind::MemberJoined, m.addr);
    for (const Member &m : prev.members)
        if (m.addr != cfg.self && !hasMember(v, m.addr))
            emitEvent(Event::Kind::MemberLeft, m.addr);
    emitEvent(Event::Kind::ViewChanged, v.master, QStringLiteral("view %1.%2").arg(v.ringEpoch).arg(v.viewVersion));
    applyDispatcher(v.dispatcher);
    if (v.members.size() <= 1)
        tokenDeadline = kNever;
    else if (tokenDeadline == kNever)
        tokenDeadline = now + cfg.timers.tokenTimeout;
    if (v.master != prev.master) {
        prevMaster = prev.master;
        lastRotation = 0; // the new master numbers its rotations afresh
    }
    if (v.master == cfg.self && prev.master != cfg.self)
        becomeMaster(); // the previous master handed the ring over (graceful leave)
    if (heldToken && heldToken->ringEpoch == view.ringEpoch && heldToken->viewVersion <= view.viewVersion) {
        TokenMsg t = std::move(*heldToken);
        heldToken.reset();
        holdDeadline = nextViewRequestAt = kNever;
        if (t.rotation > lastRotation)
            processToken(std::move(t));
    }
}

void TokenBeatNode::Impl::becomeMaster()
{
    rotation = lastRotation;
    rotationInFlight = false;
    lastReturned = 0;
    lateUpdates.clear();
    nextRotationAt = view.members.size() > 1 ? now : kNever;
    nextBeaconAt = now;
    pendingAcks.clear();
    offer.reset();
    ackedAt.clear();
    claims.clear();
    if (view.dispatcher != kNoNode)
        claims[view.dispatcher] = claimOfRing(view);
    observersDirty = true;
}

// Election (docs/tokenbeat.md "Election"): the lowest capable member that claims the role
// (the ring's current dispatcher, or a node whose Join claimed it) keeps it; with no claim, the
// lowest capable member gets it. So a rejoining node never takes the role from a working one.
// A claim is strong (Dispatcher: it dispatched a ring of several) or weak (Standalone: it was
// alone, a node cut off by a link flap or a partition of one), and a strong claim wins over a
// weak one whatever the addresses: a node that comes back never takes the role from the
// dispatcher that served the others meanwhile (docs/tokenbeat.md "Who dispatches after a node
// comes back"). Among claims of one strength, the lowest address.
NodeAddr TokenBeatNode::Impl::elect(const RingView &view, const std::map<NodeAddr, Role> &claims)
{
    auto claimOf = [&](NodeAddr a) {
        const auto c = claims.find(a);
        return c != claims.end() ? c->second : a == view.dispatcher ? Role::Dispatcher : Role::None;
    };
    for (const Role strength : {Role::Dispatcher, Role::Standalone}) {
        for (const Member &m : view.members)
            if ((m.caps & kCanDispatch) && claimOf(m.addr) == strength)
                return m.addr;
    }
    for (const Member &m : view.members)
        if (m.caps & kCanDispatch)
            return m.addr;
    return kNoNode;
}

Role TokenBeatNode::Impl::roleFor(NodeAddr addr, const RingView &v) const
{
    const Member *m = v.find(addr);
    const quint8 caps = addr == cfg.self ? cfg.caps : (m ? m->caps : 0);
    if (addr == v.dispatcher && addr != kNoNode)
        return v.members.size() == 1 ? Role::Standalone : Role::Dispatcher;
    return (caps & kCanServe) ? Role::Server : Role::None;
}

void TokenBeatNode::Impl::applyDispatcher(NodeAddr dispatcher)
{
    if (dispatcher != kNoNode && dispatcher != lastDispatcher)
        emitEvent(Event::Kind::DispatcherElected, dispatcher);
    if (isDispatchRole(role) && dispatcher != kNoNode && dispatcher != cfg.self)
        emitEvent(Event::Kind::Abdicated, cfg.self,
                  QStringLiteral("%1 is the ring's dispatcher").arg(addrText(dispatcher)));
    if (dispatcher != kNoNode)
        lastDispatcher = dispatcher;
    if (state == NodeState::Member)
        setRole(roleFor(cfg.self, view));
}

// The next version of the view after its members changed: the lowest member is the master, and
// a new master (a lower node admitted, or the old master left) numbers rotations afresh.
void TokenBeatNode::Impl::advanceView()
{
    ++view.viewVersion;
    const NodeAddr oldMaster = view.master;
    view.master = view.members.front().addr;
    if (view.master != oldMaster && oldMaster != kNoNode) {
        prevMaster = oldMaster;
        lastRotation = 0;
        rotationInFlight = false;
    }
    view.dispatcher = elect();
}

void TokenBeatNode::Impl::publishView(const QString &why)
{
    advanceView();
    // A weak claim stays weak through the views of a merge (the dissolved ring's members join
    // one by one, the claimer among them): it becomes strong once a token has gone round the
    // larger ring (the rotation below).
    const auto held = claims.find(view.dispatcher);
    const bool weak = held != claims.end() && held->second == Role::Standalone;
    claims.clear();
    if (view.dispatcher != kNoNode)
        claims[view.dispatcher] = weak ? Role::Standalone : claimOfRing(view);
    for (Member &m : view.members) {
        if (m.addr == cfg.self) {
            m.caps = cfg.caps;
            m.endpoint = cfg.endpoint;
            const Role r = m.status.role;
            m.status = localStatus;
            m.status.role = r;
        }
        m.status.role = roleFor(m.addr, view);
    }
    noteView(view);
    pendingAcks.clear();
    std::set<Endpoint> targets;
    for (const Member &m : view.members) {
        if (m.addr == cfg.self)
            continue;
        pendingAcks[m.addr] = PendingAck{m.endpoint, 1, now + cfg.timers.retransmit};
        targets.insert(m.endpoint);
    }
    sendMany(targets, MessageType::View, viewBody());
    emitEvent(Event::Kind::ViewChanged, cfg.self,
              QStringLiteral("view %1.%2: %3").arg(view.ringEpoch).arg(view.viewVersion).arg(why));
    applyDispatcher(view.dispatcher);
    observersDirty = true;
    if (view.members.size() <= 1) {
        tokenDeadline = nextRotationAt = kNever;
        rotationInFlight = false;
    } else {
        if (tokenDeadline == kNever)
            tokenDeadline = now + cfg.timers.tokenTimeout;
        if (!rotationInFlight && nextRotationAt == kNever)
            nextRotationAt = now;
    }
    if (pendingAcks.empty()) {
        for (const auto &[addr, ep] : finalViewTo)
            sendView(ep);
        finalViewTo.clear();
    }
}

void TokenBeatNode::Impl::sendView(const Endpoint &to)
{
    send(to, MessageType::View, viewBody());
}

QByteArray TokenBeatNode::Impl::viewBody() const
{
    ViewMsg m{view};
    m.view.observers.clear();
    if (isMaster()) {
        for (const auto &[addr, o] : observers) {
            if (m.view.observers.size() >= std::size_t(kMaxViewObservers))
                break;
            m.view.observers.push_back(o.member);
        }
    } else if (m.view.observers.size() > std::size_t(kMaxViewObservers)) {
        m.view.observers.resize(kMaxViewObservers);
    }
    return encodeBody(m);
}

void TokenBeatNode::Impl::admit(const JoinMsg &j)
{
    if (auto it = ackedAt.find(j.addr); it != ackedAt.end() && now - it->second < cfg.timers.tokenTimeout
        && hasMember(view, j.addr) && !pendingAcks.contains(j.addr)) {
        drop(DropReason::StaleRing, j.endpoint,
             QStringLiteral("stale join of %1 (it acked view %2.%3)").arg(addrText(j.addr)).arg(view.ringEpoch).arg(view.viewVersion));
        return;
    }
    if (Member *m = findMember(view, j.addr)) {
        m->endpoint = j.endpoint;
        m->caps = j.caps;
        const bool newClaim = isDispatchRole(j.claim) && j.addr != view.dispatcher && !claims.contains(j.addr);
        if (pendingAcks.contains(j.addr) && !newClaim)
            return; // the View is already being resent to it
        if (newClaim)
            claims[j.addr] = j.claim;
        if (newClaim || j.lastRingEpoch == view.ringEpoch) {
            // It abandoned this very ring (its token timer fired, or it was excluded): a newer
            // viewVersion lets it back in.
            publishView(QStringLiteral("%1 readmitted").arg(addrText(j.addr)));
        } else {
            pendingAcks[j.addr] = PendingAck{j.endpoint, 1, now + cfg.timers.retransmit};
            sendView(j.endpoint);
        }
        return;
    }
    if (view.members.size() >= std::size_t(kMaxMembers)) {
        drop(DropReason::NotForUs, j.endpoint,
             QStringLiteral("ring full (%1 members): join of %2 refused").arg(kMaxMembers).arg(addrText(j.addr)));
        return;
    }
    if (j.addr < view.members.front().addr) {
        offerMastership(j);
        return;
    }
    Member m;
    m.addr = j.addr;
    m.endpoint = j.endpoint;
    m.caps = j.caps;
    view.members.insert(std::upper_bound(view.members.begin(), view.members.end(), m,
                                         [](const Member &a, const Member &b) { return a.addr < b.addr; }),
                        m);
    if (isDispatchRole(j.claim))
        claims[j.addr] = j.claim;
    emitEvent(Event::Kind::MemberJoined, j.addr);
    publishView(QStringLiteral("%1 joined").arg(addrText(j.addr)));
}

void TokenBeatNode::Impl::offerMastership(const JoinMsg &j)
{
    if (offer)
        return; // one at a time: the next lower joiner's Joins repeat
    RingView v = view;
    Member m;
    m.addr = j.addr;
    m.endpoint = j.endpoint;
    m.caps = j.caps;
    v.members.insert(v.members.begin(), m); // lower than every member: the new master
    ++v.viewVersion;
    v.master = j.addr;
    std::map<NodeAddr, Role> c = claims;
    if (isDispatchRole(j.claim))
        c[j.addr] = j.claim;
    v.dispatcher = elect(v, c);
    for (Member &x : v.members)
        x.status.role = roleFor(x.addr, v);
    ViewMsg msg{v};
    msg.view.observers.clear();
    offer = MastershipOffer{j, v.viewVersion, encodeBody(msg), 1, now + cfg.timers.retransmit};
    send(j.endpoint, MessageType::View, offer->body);
}

void TokenBeatNode::Impl::tickOffer()
{
    if (!offer || now < offer->next)
        return;
    if (offer->attempts >= cfg.timers.maxRetransmits) {
        offer.reset(); // it did not take the ring: it rejoins (or its ring heals with ours)
        return;
    }
    ++offer->attempts;
    offer->next = now + cfg.timers.retransmit;
    ++counters.retransmits;
    send(offer->join.endpoint, MessageType::View, offer->body);
}

void TokenBeatNode::Impl::handleView(const Envelope &env, const Endpoint &from, const ViewMsg &m)
{
    const RingView &v = m.view;
    maxEpochSeen = std::max(maxEpochSeen, v.ringEpoch);
    if (state == NodeState::Observing) {
        observerApplyView(v);
        return;
    }
    const bool inView = hasMember(v, cfg.self);
    const ViewAckMsg ack{v.ringEpoch, v.viewVersion};
    switch (state) {
    case NodeState::Joining:
    case NodeState::AwaitingRing:
        if (!inView) {
            drop(DropReason::NotForUs, from, QStringLiteral("view of ring %1 without us").arg(v.ringEpoch));
            return;
        }
        if (!isAbandoned(v.ringEpoch, v.viewVersion)) {
            send(from, MessageType::ViewAck, encodeBody(ack));
            enterRing(v);
            applyDispatcher(v.dispatcher);
            if (v.master == cfg.self)
                becomeMaster();
            if (heldToken && heldToken->ringEpoch == v.ringEpoch) {
                TokenMsg t = std::move(*heldToken);
                heldToken.reset();
                holdDeadline = nextViewRequestAt = kNever;
                if (t.viewVersion <= view.viewVersion)
                    processToken(std::move(t));
            }
        } else {
            drop(DropReason::StaleRing, from, QStringLiteral("view of abandoned ring %1").arg(v.ringEpoch));
        }
        return;
    case NodeState::Member:
    case NodeState::Leaving: {
        if (isNamesake(v)) {
            mergeNamesake(from, v);
            return;
        }
        // Same ring: same epoch and master, sent by a member of it. Two rings formed at once can
        // share an epoch; a View of the other one (e.g. after its master admitted our master
        // from a late Join) must not be adopted as ours.
        const bool sameRing = v.ringEpoch == view.ringEpoch && (v.master == view.master || env.sender == view.master)
            && (hasMember(view, env.sender) || env.sender == prevMaster);
        if (sameRing) {
            send(from, MessageType::ViewAck, encodeBody(ack));
            if (v.viewVersion <= view.viewVersion || handingOver)
                return;
            if (inView) {
                adoptView(v);
            } else if (state == NodeState::Leaving) {
                stop(); // spliced out: the graceful leave is complete
            } else {
                // Excluded (e.g. missed too many retransmissions): rejoin, never purge.
                emitEvent(Event::Kind::MemberLost, cfg.self, QStringLiteral("excluded from view %1.%2")
                                                                 .arg(v.ringEpoch).arg(v.viewVersion));
                enterJoining();
                abandonedVersion = std::max(abandonedVersion, v.viewVersion);
            }
            return;
        }
        if ((v.master == view.master && v.ringEpoch < view.ringEpoch)
            || (v.ringEpoch == view.ringEpoch && v.master == prevMaster && v.viewVersion < view.viewVersion)) {
            drop(DropReason::StaleRing, from, QStringLiteral("view of old ring %1").arg(v.ringEpoch));
            return;
        }
        if (state == NodeState::Member)
            answerForeign(v.master == cfg.self ? env.sender : v.master,
                          v.master == cfg.self ? from : v.members.front().endpoint, v.ringEpoch);
        drop(DropReason::NotForUs, from, QStringLiteral("view of foreign ring %1 (master %2)").arg(v.ringEpoch).arg(addrText(v.master)));
        return;
    }
    case NodeState::Stopped:
    case NodeState::Observing:
        return;
    }
}

quint64 TokenBeatNode::Impl::viewDigest(const RingView &v)
{
    // FNV-1a over the dispatcher and the member addresses: what two Views of one version of
    // one ring always share (statuses and endpoints may differ between copies).
    quint64 h = 14695981039346656037ull;
    const auto mix = [&h](quint32 x) {
        for (int i = 0; i < 4; ++i) {
            h ^= (x >> (8 * i)) & 0xff;
            h *= 1099511628211ull;
        }
    };
    mix(v.dispatcher);
    for (const Member &m : v.members)
        mix(m.addr);
    return h;
}

void TokenBeatNode::Impl::noteView(const RingView &v)
{
    constexpr std::size_t kMaxHeldViews = 256;
    if (heldViews.size() >= kMaxHeldViews)
        heldViews.erase(heldViews.begin()); // the oldest version
    heldViews.insert({v.viewVersion, viewDigest(v)});
}

// A View naming us the master of our ring epoch that we never held: another ring, formed at the
// same moment as ours with the same epoch, admitted us from a Join we sent before forming ours
// (or a Join delivered late), and its members now take us for their master. Both rings are
// named (epoch, us): each one's members would accept the other's Views and tokens, and two
// dispatchers could each see a settled ring. Only the master writes Views naming it master,
// so the master tells them apart by what it has held.
bool TokenBeatNode::Impl::isNamesake(const RingView &v) const
{
    return isMaster() && v.ringEpoch == view.ringEpoch && v.master == cfg.self
        && !heldViews.contains({v.viewVersion, viewDigest(v)});
}

// We are the master that ring names: take its members into ours under a viewVersion newer than
// both, so every node of either ring adopts one View (ours: from their master, newer). Its
// dispatcher counts as a claim, so the election keeps one of the two dispatchers, the lower.
void TokenBeatNode::Impl::mergeNamesake(const Endpoint &from, const RingView &v)
{
    noteView(v); // its resends are known from now on: one merge per View
    send(from, MessageType::ViewAck, encodeBody(ViewAckMsg{v.ringEpoch, v.viewVersion}));
    int added = 0;
    for (const Member &m : v.members) {
        if (hasMember(view, m.addr) || (m.caps & kObserver))
            continue;
        if (view.members.size() >= std::size_t(kMaxMembers))
            break;
        view.members.insert(std::upper_bound(view.members.begin(), view.members.end(), m,
                                             [](const Member &a, const Member &b) { return a.addr < b.addr; }),
                            m);
        emitEvent(Event::Kind::MemberJoined, m.addr);
        ++added;
    }
    if (v.dispatcher != kNoNode && hasMember(view, v.dispatcher))
        claims[v.dispatcher] = claimOfRing(v);
    view.viewVersion = std::max(view.viewVersion, v.viewVersion);
    publishView(QStringLiteral("merged view %1.%2 of a ring that named us master (%3 members added)")
                    .arg(v.ringEpoch).arg(v.viewVersion).arg(added));
}

void TokenBeatNode::Impl::handleViewAck(const Envelope &env, const ViewAckMsg &a)
{
    if (offer && isMaster() && env.sender == offer->join.addr && a.ringEpoch == view.ringEpoch
        && a.viewVersion == offer->version) {
        // The lower joiner took the offered View: now the whole ring gets it (and the joiner
        // a copy, known to it, or newer if our view changed meanwhile).
        const JoinMsg j = offer->join;
        offer.reset();
        if (!hasMember(view, j.addr) && view.members.size() < std::size_t(kMaxMembers)) {
            Member m;
            m.addr = j.addr;
            m.endpoint = j.endpoint;
            m.caps = j.caps;
            view.members.insert(std::upper_bound(view.members.begin(), view.members.end(), m,
                                                 [](const Member &x, const Member &y) { return x.addr < y.addr; }),
                                m);
            if (isDispatchRole(j.claim))
                claims[j.addr] = j.claim;
            emitEvent(Event::Kind::MemberJoined, j.addr);
            publishView(QStringLiteral("%1 joined (the new master)").arg(addrText(j.addr)));
        }
        return;
    }
    if (!isMaster() && pendingAcks.empty())
        return;
    if (a.ringEpoch != view.ringEpoch || a.viewVersion < view.viewVersion)
        return; // an ack of an older version: the newer View is still being resent
    ackedAt[env.sender] = now;
    pendingAcks.erase(env.sender);
    if (!pendingAcks.empty())
        return;
    if (handingOver) {
        stop();
        return;
    }
    for (const auto &[addr, ep] : finalViewTo)
        sendView(ep);
    finalViewTo.clear();
}

void TokenBeatNode::Impl::handleViewRequest(const Endpoint &from, const EpochMsg &r)
{
    if ((state == NodeState::Member || state == NodeState::Leaving) && r.ringEpoch == view.ringEpoch)
        sendView(from);
}

void TokenBeatNode::Impl::handleToken(const Envelope &env, const Endpoint &from, const TokenMsg &t)
{
    Q_UNUSED(env);
    maxEpochSeen = std::max(maxEpochSeen, t.ringEpoch);
    switch (state) {
    case NodeState::Stopped:
    case NodeState::Observing:
        drop(DropReason::NotForUs, from, QStringLiteral("token while %1").arg(nodeStateToString(state)));
        return;
    case NodeState::Joining:
    case NodeState::AwaitingRing:
        if (!isAbandoned(t.ringEpoch, t.viewVersion))
            holdToken(t, from); // probably the ring we are joining; its View is on its way
        else
            drop(DropReason::StaleRing, from, QStringLiteral("token of abandoned ring %1").arg(t.ringEpoch));
        return;
    case NodeState::Member:
    case NodeState::Leaving:
        break;
    }
    const RingView &rv = handingOver ? leavingView : view;
    // Same ring: our master's token, or that of a newer view's master (whose View we have not
    // seen yet). A token of a previous master (hand-over, or a lower node admitted as master)
    // is stale: the new master started its own rotations at once.
    const bool sameEpoch = t.ringEpoch == rv.ringEpoch;
    const bool sameRing = sameEpoch
        && (t.master == rv.master || (t.viewVersion > rv.viewVersion && hasMember(rv, t.master)));
    if (t.ringEpoch < rv.ringEpoch
        || (sameEpoch && !sameRing && t.viewVersion <= rv.viewVersion
            && (hasMember(rv, t.master) || t.master == prevMaster))) {
        drop(DropReason::StaleRing, from, QStringLiteral("stale token of ring %1 master %2").arg(t.ringEpoch).arg(addrText(t.master)));
        return;
    }
    if (!sameRing) {
        drop(DropReason::NotForUs, from, QStringLiteral("token of foreign ring %1 (master %2)").arg(t.ringEpoch).arg(addrText(t.master)));
        // Tell that ring about ours; whichever master is higher dissolves into the other.
        if (state == NodeState::Member && (foreignAnswered[t.master] + cfg.timers.rotationInterval <= now
                                           || foreignAnswered[t.master] == Time{0})) {
            foreignAnswered[t.master] = now;
            send(from, MessageType::Beacon, encodeBody(ownBeacon()));
        }
        return;
    }
    const bool ownReturn = isMaster() && t.master == cfg.self && t.rotation == rotation && rotationInFlight;
    // Our own earlier rotation, back after startRotation() regenerated it (tokenTimeout/2 without
    // its return): the ring is slow, not broken. Every member of this view relayed it, so it
    // stands for a returned token in the timeout (without this, a ring whose round trip stays
    // above tokenTimeout/2 purged itself although every token came back). Not relayed: the
    // regenerated one is in flight. Its status updates are applied and go on the next rotation
    // (in a ring that stays slow no rotation returns in time: they would reach only the master).
    if (isMaster() && t.master == cfg.self && sameEpoch && rotationInFlight && t.rotation < rotation
        && t.rotation > lastReturned && t.viewVersion == view.viewVersion) {
        lastReturned = t.rotation;
        ++counters.lateTokens;
        tokenDeadline = now + cfg.timers.tokenTimeout;
        const bool capsChanged = applyStatusUpdates(t.updates) | std::exchange(ownCapsChanged, false);
        tokenUpdates = t.updates;
        lateUpdates = std::move(t.updates);
        if (capsChanged && elect() != view.dispatcher)
            publishView(QStringLiteral("capabilities changed"));
        return;
    }
    if (t.rotation <= lastRotation && !ownReturn) {
        drop(DropReason::NotForUs, from, QStringLiteral("duplicate token rotation %1").arg(t.rotation));
        return;
    }
    if (t.viewVersion > view.viewVersion && !isMaster() && !handingOver) {
        holdToken(t, view.members.front().endpoint);
        return;
    }
    processToken(t);
}

void TokenBeatNode::Impl::holdToken(const TokenMsg &t, const Endpoint &ask)
{
    if (heldToken && heldToken->ringEpoch == t.ringEpoch && heldToken->rotation >= t.rotation)
        return;
    heldToken = t;
    heldAsk = ask;
    holdDeadline = now + cfg.timers.tokenTimeout / 4;
    send(ask, MessageType::ViewRequest, encodeBody(EpochMsg{t.ringEpoch}));
    nextViewRequestAt = now + cfg.timers.retransmit;
    if (state == NodeState::Member)
        tokenDeadline = now + cfg.timers.tokenTimeout; // the ring is alive
}

void TokenBeatNode::Impl::piggyback(TokenMsg &t)
{
    std::erase_if(t.updates, [&](const StatusUpdate &u) { return u.addr == cfg.self; });
    StatusUpdate mine{cfg.self, cfg.caps, localStatus};
    mine.status.role = role;
    if (Member *m = findMember(view, cfg.self)) {
        ownCapsChanged |= m->caps != cfg.caps;
        m->caps = cfg.caps;
        m->status = mine.status;
    }
    if ((!lastReported || !(*lastReported == mine)) && t.updates.size() < std::size_t(kMaxMembers)) {
        t.updates.push_back(mine);
        lastReported = mine;
    }
}

bool TokenBeatNode::Impl::applyStatusUpdates(const std::vector<StatusUpdate> &updates)
{
    bool capsChanged = false;
    for (const StatusUpdate &u : updates) {
        if (u.addr == cfg.self)
            continue;
        if (Member *m = findMember(view, u.addr)) {
            capsChanged |= m->caps != u.caps;
            m->caps = u.caps;
            const Role r = m->status.role;
            m->status = u.status;
            m->status.role = r;
            observersDirty = true;
        }
    }
    return capsChanged;
}

void TokenBeatNode::Impl::processToken(TokenMsg t)
{
    lastRotation = std::max(lastRotation, t.rotation);
    tokenDeadline = view.members.size() > 1 ? now + cfg.timers.tokenTimeout : kNever;
    bool capsChanged = applyStatusUpdates(t.updates);
    if (isMaster()) {
        ++counters.rotations;
        if (view.dispatcher != kNoNode && view.members.size() > 1)
            claims[view.dispatcher] = Role::Dispatcher; // it dispatches for several now
        if (t.rotation == rotation) {
            lastReturned = t.rotation;
            // Updates of a late token (above) this one did not carry: round once more.
            for (StatusUpdate &u : lateUpdates)
                if (u.addr != cfg.self && hasMember(view, u.addr) && t.updates.size() < std::size_t(kMaxMembers)
                    && std::none_of(t.updates.begin(), t.updates.end(), [&](const StatusUpdate &n) { return n.addr == u.addr; }))
                    t.updates.push_back(std::move(u));
            lateUpdates.clear();
        }
        tokenUpdates = std::move(t.updates);
        if (t.rotation == rotation) {
            rotationInFlight = false;
            nextRotationAt = std::max(now, rotationStartedAt + cfg.timers.rotationInterval);
        }
        capsChanged |= std::exchange(ownCapsChanged, false);
        if (capsChanged && elect() != view.dispatcher)
            publishView(QStringLiteral("capabilities changed"));
        return;
    }
    if (t.viewVersion == view.viewVersion && t.dispatcher != view.dispatcher && state == NodeState::Member) {
        view.dispatcher = t.dispatcher;
        noteView(view);
        applyDispatcher(t.dispatcher);
    }
    piggyback(t);
    relay(t);
}

void TokenBeatNode::Impl::relay(const TokenMsg &t)
{
    const RingView &rv = handingOver ? leavingView : view;
    const auto it = std::find_if(rv.members.begin(), rv.members.end(),
                                 [&](const Member &m) { return m.addr == cfg.self; });
    if (it == rv.members.end() || rv.members.size() < 2)
        return;
    const auto next = std::next(it) == rv.members.end() ? rv.members.begin() : std::next(it);
    ++counters.tokensRelayed;
    send(next->endpoint, MessageType::Token, encodeBody(t));
}

void TokenBeatNode::Impl::startRotation()
{
    rotation = std::max(rotation, lastRotation) + 1;
    lastRotation = rotation;
    TokenMsg t{view.ringEpoch, view.viewVersion, rotation, cfg.self, view.dispatcher, tokenUpdates};
    piggyback(t);
    tokenUpdates = t.updates;
    rotationInFlight = true;
    rotationStartedAt = now;
    // A token lost on the way is regenerated once before anyone's token timer can fire, so a
    // single lost datagram does not purge the ring; a dead node still does.
    nextRotationAt = now + cfg.timers.tokenTimeout / 2;
    relay(t);
}

void TokenBeatNode::Impl::handleLeave(const Envelope &env, const EpochMsg &l)
{
    if (!isMaster() || l.ringEpoch != view.ringEpoch) {
        drop(DropReason::NotForUs, endpointOf(env.sender).value_or(Endpoint{}),
             QStringLiteral("leave of %1 not for us").arg(addrText(env.sender)));
        return;
    }
    const std::optional<Endpoint> ep = endpointOf(env.sender);
    if (!hasMember(view, env.sender)) {
        if (ep && pendingAcks.empty())
            sendView(*ep); // already spliced out: tell it again
        else if (ep)
            finalViewTo[env.sender] = *ep;
        return;
    }
    std::erase_if(view.members, [&](const Member &m) { return m.addr == env.sender; });
    claims.erase(env.sender);
    if (ep)
        finalViewTo[env.sender] = *ep;
    emitEvent(Event::Kind::MemberLeft, env.sender);
    publishView(QStringLiteral("%1 left").arg(addrText(env.sender)));
}

void TokenBeatNode::Impl::beginLeave()
{
    switch (state) {
    case NodeState::Stopped:
    case NodeState::Leaving:
        return;
    case NodeState::Observing:
    case NodeState::Joining:
    case NodeState::AwaitingRing:
        stop();
        return;
    case NodeState::Member:
        break;
    }
    if (view.members.size() <= 1) {
        stop();
        return;
    }
    leaveDeadline = now + cfg.timers.leaveLinger;
    if (!isMaster()) {
        setState(NodeState::Leaving);
        send(view.members.front().endpoint, MessageType::Leave, encodeBody(EpochMsg{view.ringEpoch}));
        nextLeaveAt = now + cfg.timers.retransmit;
        return;
    }
    // Master: hand the ring to the next member by publishing the view without us.
    leavingView = view;
    handingOver = true;
    lastRotation = 0; // the next master numbers its rotations afresh
    std::erase_if(view.members, [&](const Member &m) { return m.addr == cfg.self; });
    claims.erase(cfg.self);
    if (view.dispatcher == cfg.self)
        view.dispatcher = kNoNode;
    advanceView();
    for (Member &m : view.members)
        m.status.role = roleFor(m.addr, view);
    pendingAcks.clear();
    std::set<Endpoint> targets;
    for (const Member &m : view.members) {
        pendingAcks[m.addr] = PendingAck{m.endpoint, 1, now + cfg.timers.retransmit};
        targets.insert(m.endpoint);
    }
    sendMany(targets, MessageType::View, viewBody());
    rotationInFlight = false;
    nextRotationAt = nextBeaconAt = kNever;
    setState(NodeState::Leaving);
    emitEvent(Event::Kind::MemberLeft, cfg.self, QStringLiteral("handing the ring to %1").arg(addrText(view.master)));
}

void TokenBeatNode::Impl::tickMasterAcks()
{
    std::vector<NodeAddr> gaveUp;
    for (auto &[addr, p] : pendingAcks) {
        if (now < p.next)
            continue;
        if (p.attempts >= cfg.timers.maxRetransmits) {
            gaveUp.push_back(addr);
            continue;
        }
        ++p.attempts;
        p.next = now + cfg.timers.retransmit;
        ++counters.retransmits;
        sendView(p.to);
    }
    for (NodeAddr a : gaveUp)
        pendingAcks.erase(a);
    if (handingOver) {
        if (pendingAcks.empty())
            stop();
        return;
    }
    if (!isMaster())
        return; // a lower node was admitted and became master: it owns the view now
    bool removed = false;
    for (NodeAddr a : gaveUp) {
        if (hasMember(view, a) && a != cfg.self) {
            std::erase_if(view.members, [&](const Member &m) { return m.addr == a; });
            claims.erase(a);
            emitEvent(Event::Kind::MemberLost, a, QStringLiteral("no ViewAck after %1 attempts").arg(cfg.timers.maxRetransmits));
            removed = true;
        }
    }
    if (removed)
        publishView(QStringLiteral("non-ackers dropped"));
    else if (pendingAcks.empty() && !finalViewTo.empty()) {
        for (const auto &[addr, ep] : finalViewTo)
            sendView(ep);
        finalViewTo.clear();
    }
}

void TokenBeatNode::Impl::tickRing()
{
    if (state == NodeState::Observing) {
        if (now >= nextHelloAt) {
            std::set<Endpoint> targets(cfg.seeds.begin(), cfg.seeds.end());
            if (cfg.broadcast)
                targets.insert(*cfg.broadcast);
            if (!view.members.empty() && now - lastViewAt <= 2 * cfg.timers.observerHello) {
                targets.insert(view.members.front().endpoint);
            } else {
                // No View for two hello periods: the master may be gone, and the seeds with it
                // (a console given one seed that was the dispatcher). Every member of the last
                // view forwards a hello to its current master (handleObserverHello), so ask them all.
                for (const Member &m : view.members)
                    if (!(m.caps & kObserver))
                        targets.insert(m.endpoint);
                targets.erase(cfg.endpoint);
            }
            sendMany(targets, MessageType::ObserverHello, encodeBody(ObserverHelloMsg{cfg.self, cfg.endpoint}));
            nextHelloAt = now + cfg.timers.observerHello;
        }
        return;
    }
    if (state == NodeState::Leaving) {
        if (now >= leaveDeadline) {
            stop();
            return;
        }
        if (handingOver) {
            tickMasterAcks();
        } else if (now >= nextLeaveAt) {
            send(view.members.front().endpoint, MessageType::Leave, encodeBody(EpochMsg{view.ringEpoch}));
            nextLeaveAt = now + cfg.timers.retransmit;
        }
        if (state == NodeState::Leaving && heldToken && now >= holdDeadline) {
            TokenMsg t = std::move(*heldToken);
            heldToken.reset();
            holdDeadline = nextViewRequestAt = kNever;
            processToken(std::move(t));
        }
        return;
    }
    if (state != NodeState::Member)
        return;
    if (heldToken && now >= holdDeadline) {
        // The View never came: relay by the view we have, so the ring does not break.
        TokenMsg t = std::move(*heldToken);
        heldToken.reset();
        holdDeadline = nextViewRequestAt = kNever;
        processToken(std::move(t));
    } else if (heldToken && now >= nextViewRequestAt) {
        send(heldAsk, MessageType::ViewRequest, encodeBody(EpochMsg{heldToken->ringEpoch}));
        nextViewRequestAt = now + cfg.timers.retransmit;
    }
    if (now >= tokenDeadline) {
        // Called long after the deadline this node gave its caller: it did not run itself (its
        // process, or its machine, was stalled), and a token that came meanwhile may not have
        // been read, or may still be on its way from a peer that stalled with it. So the
        // deadline is postponed once, by that stall (at most tokenTimeout); a ring that is
        // really broken is purged then.
        // (The call that showed the stall may have been a datagram read just before this tick.)
        const bool stalled = stallSeenAt != kNever && now - stallSeenAt <= cfg.timers.tokenTimeout / 4;
        if (stalled && tokenDeadline != stallPostponed) {
            ++counters.selfStalls;
            tokenDeadline = stallPostponed = now + std::min(stallLength, cfg.timers.tokenTimeout);
        } else {
            emitEvent(Event::Kind::TokenTimeout, cfg.self, QStringLiteral("no token of ring %1 for %2")
                                                               .arg(view.ringEpoch).arg(ms(cfg.timers.tokenTimeout)));
            declarePurge(QStringLiteral("token timeout in ring %1").arg(view.ringEpoch));
            return;
        }
    }
    if (!isMaster()) {
        if (!pendingAcks.empty())
            tickMasterAcks(); // finish delivering the View that made a lower node master
        return;
    }
    if (now >= nextRotationAt) {
        if (view.members.size() > 1)
            startRotation();
        else
            nextRotationAt = kNever;
    }
    tickMasterAcks();
    if (!isMaster())
        return;
    tickOffer();
    if (now >= nextBeaconAt) {
        // Seeds outside our ring only: our members know us, and other rings and lone nodes are
        // what healing is for. (Beaconing every seed was most of a 20-node master's traffic.)
        std::set<Endpoint> targets(cfg.seeds.begin(), cfg.seeds.end());
        for (const Member &m : view.members)
            targets.erase(m.endpoint);
        if (cfg.broadcast)
            targets.insert(*cfg.broadcast);
        targets.erase(cfg.endpoint);
        sendMany(targets, MessageType::Beacon, encodeBody(ownBeacon()));
        nextBeaconAt = now + cfg.timers.beaconInterval;
    }
    for (auto it = observers.begin(); it != observers.end();) {
        if (now >= it->second.lastSeen + cfg.timers.observerTimeout) {
            emitEvent(Event::Kind::ObserverDropped, it->first);
            it = observers.erase(it);
            observersDirty = true;
            syncObserversIntoView();
        } else {
            ++it;
        }
    }
    if (observers.empty())
        observersDirty = false;
    else if (observersDirty && now >= lastObserverViewAt + cfg.timers.viewToObservers)
        sendObserverViews();
}

} // namespace sasha::tb
