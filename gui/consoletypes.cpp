#include "clusterfeed.h"

#include <cstdio>

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
    // Hot: the connection map formats addresses for every painted and filtered row.
    char buf[16];
    const int n = std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", (ip >> 24) & 0xff, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
    return QString::fromLatin1(buf, n);
}

} // namespace sasha::console
