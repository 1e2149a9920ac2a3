#include "tokenbeat/nodeimpl.h"

#include <algorithm>

// Everything off the token's path: observers, other rings (Beacons, partition healing) and
// out-of-band messages. docs/tokenbeat.md "Observers", "Partition healing", "Out-of-band".

namespace sasha::tb {

namespace {

constexpr std::size_t kMaxForeign = 16; // masters of other rings remembered while Joining

bool hasMember(const RingView &v, NodeAddr a)
{
    return std::any_of(v.members.begin(), v.members.end(), [&](const Member &m) { return m.addr == a; });
}

} // namespace

void TokenBeatNode::Impl::handleObserverHello(const ObserverHelloMsg &h)
{
    if (isMaster()) {
        auto [it, fresh] = observers.try_emplace(h.addr);
        ObserverEntry &o = it->second;
        const Time prevSeen = o.lastSeen;
        o.member.addr = h.addr;
        o.member.endpoint = h.endpoint;
        o.member.caps = kObserver;
        o.member.status.role = Role::Observer;
        o.lastSeen = now;
        if (fresh) {
            emitEvent(Event::Kind::ObserverJoined, h.addr);
            observersDirty = true;
        }
        // Also after a hello: a re-formed ring's view starts without observers.
        syncObserversIntoView();
        // Non-master members forward hellos too: answer each observer at most twice a period.
        if (fresh || now - prevSeen >= cfg.timers.observerHello / 2)
            sendView(h.endpoint);
    } else if (state == NodeState::Member) {
        send(view.members.front().endpoint, MessageType::ObserverHello, encodeBody(h));
    }
}

void TokenBeatNode::Impl::observerApplyView(const RingView &v)
{
    const bool stale = view.members.empty() || now - lastViewAt > cfg.timers.observerTimeout;
    const bool newer = v.ringEpoch > view.ringEpoch
        || (v.ringEpoch == view.ringEpoch && v.viewVersion >= view.viewVersion);
    if (!stale && !newer)
        return;
    const RingView prev = view;
    const bool newRing = v.ringEpoch != prev.ringEpoch || v.master != prev.master;
    view = v;
    lastViewAt = now;
    if (newRing)
        emitEvent(Event::Kind::RingFormed, v.master, QStringLiteral("ring %1, master %2").arg(v.ringEpoch).arg(addrText(v.master)));
    for (const Member &m : v.members)
        if (!hasMember(prev, m.addr))
            emitEvent(Event::Kind::MemberJoined, m.addr);
    for (const Member &m : prev.members)
        if (!hasMember(v, m.addr))
            emitEvent(newRing ? Event::Kind::MemberLost : Event::Kind::MemberLeft, m.addr);
    if (v.dispatcher != kNoNode && v.dispatcher != lastDispatcher) {
        lastDispatcher = v.dispatcher;
        emitEvent(Event::Kind::DispatcherElected, v.dispatcher);
    }
    if (newRing || v.viewVersion != prev.viewVersion)
        emitEvent(Event::Kind::ViewChanged, v.master, QStringLiteral("view %1.%2").arg(v.ringEpoch).arg(v.viewVersion));
}

void TokenBeatNode::Impl::syncObserversIntoView()
{
    view.observers.clear();
    for (const auto &[addr, o] : observers)
        view.observers.push_back(o.member);
}

void TokenBeatNode::Impl::sendObserverViews()
{
    std::set<Endpoint> targets;
    for (const auto &[addr, o] : observers)
        targets.insert(o.member.endpoint);
    sendMany(targets, MessageType::View, viewBody());
    lastObserverViewAt = now;
    observersDirty = false;
}

BeaconMsg TokenBeatNode::Impl::ownBeacon() const
{
    BeaconMsg b;
    b.ringEpoch = view.ringEpoch;
    b.master = view.master;
    b.masterEndpoint = view.members.empty() ? cfg.endpoint : view.members.front().endpoint;
    b.dispatcher = view.dispatcher;
    b.nMembers = quint8(std::min<std::size_t>(view.members.size(), 255));
    return b;
}

void TokenBeatNode::Impl::handleBeacon(const BeaconMsg &b)
{
    if (b.master == cfg.self || b.master == kNoNode)
        return;
    // A ring formed later must have a higher epoch than every ring we know of, so that rings
    // are never confused (and so that (epoch, master) names one ring).
    maxEpochSeen = std::max(maxEpochSeen, b.ringEpoch);
    switch (state) {
    case NodeState::Joining:
    case NodeState::AwaitingRing:
        if (foreignMasters.size() < kMaxForeign || foreignMasters.contains(b.master))
            foreignMasters[b.master] = b.masterEndpoint;
        return;
    case NodeState::Member:
        // (A beacon of the master that handed this ring over is stale, not foreign.)
        if (b.master != view.master && !(b.master == prevMaster && b.ringEpoch == view.ringEpoch))
            answerForeign(b.master, b.masterEndpoint, b.ringEpoch);
        return;
    default:
        return;
    }
}

// Partition healing (docs/tokenbeat.md): the ring with the lower master survives. Its master
// is told by any member that meets the other ring; the higher master dissolves its ring.
void TokenBeatNode::Impl::answerForeign(NodeAddr master, const Endpoint &masterEndpoint, quint32 epoch)
{
    if (isMaster() && master < cfg.self) {
        dissolveInto(master, masterEndpoint);
        return;
    }
    if (foreignAnswered.size() > 64)
        foreignAnswered.clear();
    auto [it, fresh] = foreignAnswered.try_emplace(master, now);
    if (!fresh && now - it->second < cfg.timers.rotationInterval)
        return;
    it->second = now;
    if (master < view.master) {
        BeaconMsg b = ownBeacon();
        b.master = master;
        b.masterEndpoint = masterEndpoint;
        b.ringEpoch = epoch;
        send(view.members.front().endpoint, MessageType::Beacon, encodeBody(b));
    } else {
        send(masterEndpoint, MessageType::Beacon, encodeBody(ownBeacon()));
    }
}

void TokenBeatNode::Impl::dissolveInto(NodeAddr master, const Endpoint &masterEndpoint)
{
    foreignMasters[master] = masterEndpoint;
    declarePurge(QStringLiteral("ring %1 dissolved into the ring of lower master %2").arg(view.ringEpoch).arg(addrText(master)));
}

void TokenBeatNode::Impl::handleOob(const Envelope &env, const Endpoint &from)
{
    ReliableExchange::Result r;
    if (MessageType(env.type) == MessageType::OobData)
        oob.onData(now, env.sender, env.body, r);
    else
        oob.onAck(now, env.sender, env.body, r);
    if (r.malformed)
        drop(DropReason::Malformed, from, QStringLiteral("malformed %1 body").arg(messageTypeToString(env.type)));
    applyOobResult(r);
}

void TokenBeatNode::Impl::applyOobResult(ReliableExchange::Result &r)
{
    for (ReliableExchange::Out &o : r.send)
        if (const std::optional<Endpoint> ep = endpointOf(o.to))
            send(*ep, MessageType(o.type), o.body);
    for (ReliableExchange::Delivered &dl : r.delivered) {
        ++counters.oobReceived;
        Event e{Event::Kind::OobReceived};
        e.at = now;
        e.node = dl.from;
        e.channel = dl.channel;
        e.payload = std::move(dl.payload);
        e.role = role;
        out->events.push_back(std::move(e));
    }
    for (quint64 id : r.completed) {
        Event e{Event::Kind::OobDelivered};
        e.at = now;
        e.value = id;
        out->events.push_back(std::move(e));
    }
    for (quint64 id : r.failed) {
        Event e{Event::Kind::OobFailed};
        e.at = now;
        e.value = id;
        out->events.push_back(std::move(e));
    }
    counters.retransmits += r.retransmits;
}

} // namespace sasha::tb
