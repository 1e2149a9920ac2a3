#include "clusterfeed.h"

namespace sasha::console {

QString flowStateName(FlowRecord::State s)
{
    switch (s) {
    case FlowRecord::State::SynSeen: return QStringLiteral("syn");
    case FlowRecord::State::Established: return QStringLiteral("established");
    case FlowRecord::State::Closing: return QStringLiteral("closing");
    case FlowRecord::State::Closed: return QStringLiteral("closed");
    }
    return QStringLiteral("state(%1)").arg(int(s));
}

QString ipToString(quint32 ip)
{
    return QStringLiteral("%1.%2.%3.%4").arg((ip >> 24) & 0xff).arg((ip >> 16) & 0xff).arg((ip >> 8) & 0xff).arg(ip & 0xff);
}

} // namespace sasha::console
