#include "tokenbeat/node.h"
#include "tokenbeat/types.h"

#include <QStringList>

namespace sasha::tb {

QString Endpoint::toString() const
{
    return QStringLiteral("%1.%2.%3.%4:%5")
        .arg((ip >> 24) & 0xff)
        .arg((ip >> 16) & 0xff)
        .arg((ip >> 8) & 0xff)
        .arg(ip & 0xff)
        .arg(port);
}

QString capabilitiesToString(quint8 caps)
{
    QStringList parts;
    if (caps & kCanDispatch)
        parts << QStringLiteral("dispatch");
    if (caps & kCanServe)
        parts << QStringLiteral("serve");
    if (caps & kObserver)
        parts << QStringLiteral("observer");
    return parts.isEmpty() ? QStringLiteral("none") : parts.join(QLatin1Char(','));
}

QString roleToString(Role r)
{
    switch (r) {
    case Role::None: return QStringLiteral("none");
    case Role::Server: return QStringLiteral("server");
    case Role::Dispatcher: return QStringLiteral("dispatcher");
    case Role::Standalone: return QStringLiteral("standalone");
    case Role::Observer: return QStringLiteral("observer");
    }
    return QStringLiteral("role(%1)").arg(int(r));
}

QString healthToString(Health h)
{
    switch (h) {
    case Health::Unknown: return QStringLiteral("unknown");
    case Health::Healthy: return QStringLiteral("healthy");
    case Health::Unhealthy: return QStringLiteral("unhealthy");
    case Health::Draining: return QStringLiteral("draining");
    }
    return QStringLiteral("health(%1)").arg(int(h));
}

QString nodeStateToString(NodeState s)
{
    switch (s) {
    case NodeState::Stopped: return QStringLiteral("stopped");
    case NodeState::Joining: return QStringLiteral("joining");
    case NodeState::AwaitingRing: return QStringLiteral("awaiting-ring");
    case NodeState::Member: return QStringLiteral("member");
    case NodeState::Leaving: return QStringLiteral("leaving");
    case NodeState::Observing: return QStringLiteral("observing");
    }
    return QStringLiteral("state(%1)").arg(int(s));
}

QString dropReasonToString(DropReason r)
{
    switch (r) {
    case DropReason::Truncated: return QStringLiteral("truncated");
    case DropReason::Oversized: return QStringLiteral("oversized");
    case DropReason::BadMagic: return QStringLiteral("bad-magic");
    case DropReason::UnknownVersion: return QStringLiteral("unknown-version");
    case DropReason::BadMac: return QStringLiteral("bad-mac");
    case DropReason::Replay: return QStringLiteral("replay");
    case DropReason::StaleEpoch: return QStringLiteral("stale-epoch");
    case DropReason::Malformed: return QStringLiteral("malformed");
    case DropReason::UnknownType: return QStringLiteral("unknown-type");
    case DropReason::StaleRing: return QStringLiteral("stale-ring");
    case DropReason::NotForUs: return QStringLiteral("not-for-us");
    case DropReason::WrongDestination: return QStringLiteral("wrong-destination");
    case DropReason::Count_: break;
    }
    return QStringLiteral("drop(%1)").arg(int(r));
}

const Member *RingView::find(NodeAddr a) const
{
    for (const Member &m : members)
        if (m.addr == a)
            return &m;
    for (const Member &m : observers)
        if (m.addr == a)
            return &m;
    return nullptr;
}

void Actions::append(Actions &&other)
{
    send.insert(send.end(), std::make_move_iterator(other.send.begin()),
                std::make_move_iterator(other.send.end()));
    events.insert(events.end(), std::make_move_iterator(other.events.begin()),
                  std::make_move_iterator(other.events.end()));
}

quint64 Counters::droppedTotal() const
{
    quint64 total = 0;
    for (quint64 n : dropped)
        total += n;
    return total;
}

} // namespace sasha::tb
