#pragma once
// Human-readable renderings of control-protocol answers for sashactl (scripts use --json).

#include "control/controlprotocol.h"

#include <QString>

namespace sasha {

QString formatMembersTable(const QList<ControlMember> &members);
// `drain --wait`: the open flows of the member at addr (nullopt: not listed, or not known here),
// and the progress line printed while waiting ("1.4 s: 10.0.0.3 has 12 open flows").
// `drain --wait`: a node's flows at the dispatcher, as far as the members list knows them. The
// wait ends when active (not closing) flows reach 0: closing flows are finished for the client
// and only linger for late ACKs (30 s), so waiting on them would hold the operator for nothing.
struct DrainProgress {
    std::optional<quint32> active; // unknown until the node's admin report arrived
    std::optional<quint32> open;   // active + closing
    bool drained() const { return active && *active == 0; }
    friend bool operator==(const DrainProgress &, const DrainProgress &) = default;
};
DrainProgress drainProgressOf(const QList<ControlMember> &members, const QString &addr);
QString formatDrainProgress(const QString &node, const DrainProgress &p, qint64 elapsedMs);
QString formatStatus(const ControlStatus &s);
QString formatEventLine(const ControlEvent &e); // "13:02:11.482  purge-started  127.0.0.1  ..."
QString formatEvents(const QList<ControlEvent> &events);
QString formatCounters(const QJsonObject &counters);
// The "dataPath" object of status: summary, per-server table, fast-path drops by reason.
QString formatDispatcher(const QJsonObject &d);
// sashactl services: the configured virtual services, with each one's new flows and connections
// per second when the node asked is the dispatcher ("-" otherwise).
QString formatServices(const ControlStatus &s);
// The answer to "connections": one row per flow, then "N of M flows".
QString formatConnections(const QJsonObject &answer);
// The answer to "fault": "127.0.0.3: hang accepted" plus the node's message, if any.
QString formatFaultAnswer(const QJsonObject &answer);
// One line when a watched status differs from the previous one in state, role, ring or members.
QString formatStatusChange(const ControlStatus &before, const ControlStatus &now);

} // namespace sasha
