#pragma once
// Human-readable renderings of control-protocol answers for sashactl (scripts use --json).

#include "control/controlprotocol.h"

#include <QString>

namespace sasha {

QString formatMembersTable(const QList<ControlMember> &members);
// `drain --wait`: the open flows of the member at addr (nullopt: not listed, or not known here),
// and the progress line printed while waiting ("1.4 s: 10.0.0.3 has 12 open flows").
std::optional<quint32> openFlowsOf(const QList<ControlMember> &members, const QString &addr);
QString formatDrainProgress(const QString &node, std::optional<quint32> openFlows, qint64 elapsedMs);
QString formatStatus(const ControlStatus &s);
QString formatEventLine(const ControlEvent &e); // "13:02:11.482  purge-started  127.0.0.1  ..."
QString formatEvents(const QList<ControlEvent> &events);
QString formatCounters(const QJsonObject &counters);
// The "dataPath" object of status: summary, per-server table, fast-path drops by reason.
QString formatDispatcher(const QJsonObject &d);
// The answer to "connections": one row per flow, then "N of M flows".
QString formatConnections(const QJsonObject &answer);
// The answer to "fault": "127.0.0.3: hang accepted" plus the node's message, if any.
QString formatFaultAnswer(const QJsonObject &answer);
// One line when a watched status differs from the previous one in state, role, ring or members.
QString formatStatusChange(const ControlStatus &before, const ControlStatus &now);

} // namespace sasha
