#include "humanformat.h"

#include "tableprinter.h"

#include <QDateTime>
#include <QJsonObject>

namespace sasha {
namespace {
QString orDash(const QString &s) { return s.isEmpty() ? QStringLiteral("-") : s; }

QString localTime(qint64 wallMs)
{
    return QDateTime::fromMSecsSinceEpoch(wallMs).toString(QStringLiteral("HH:mm:ss.zzz"));
}
} // namespace

QString formatMembersTable(const QList<ControlMember> &members)
{
    TablePrinter t({"ADDRESS", "NAME", "ROLE", "HEALTH", "CAPS", "CONNS", "CPS", "ENDPOINT"});
    for (const ControlMember &m : members)
        t.addRow({m.addr, orDash(m.name), m.role, m.health, orDash(m.caps), QString::number(m.activeConnections),
                  QString::number(m.cps), m.endpoint});
    return t.toString();
}

QString formatStatus(const ControlStatus &s)
{
    TablePrinter t({"node", s.name.isEmpty() ? s.node : QStringLiteral("%1 (%2)").arg(s.node, s.name)});
    t.addRow({"state", s.state});
    t.addRow({"role", s.role});
    t.addRow({"ring epoch", QStringLiteral("%1 (view %2)").arg(s.ringEpoch).arg(s.viewVersion)});
    t.addRow({"master", orDash(s.master)});
    t.addRow({"dispatcher", orDash(s.dispatcher)});
    t.addRow({"members", QStringLiteral("%1 (+%2 observers)").arg(s.members.size()).arg(s.observers.size())});
    t.addRow({"uptime", QStringLiteral("%1 s").arg(double(s.uptimeMs) / 1000.0, 0, 'f', 1)});
    t.addRow({"pid", QString::number(s.pid)});
    QString out = t.toString();
    if (!s.members.isEmpty())
        out += QLatin1Char('\n') + formatMembersTable(s.members);
    if (!s.observers.isEmpty())
        out += QStringLiteral("\nobservers:\n") + formatMembersTable(s.observers);
    return out;
}

QString formatEventLine(const ControlEvent &e)
{
    return QStringLiteral("%1  %2  %3  %4  %5")
        .arg(localTime(e.wallMs), e.kind.leftJustified(18), orDash(e.node).leftJustified(15), e.role.leftJustified(10), e.detail)
        .trimmed();
}

QString formatEvents(const QList<ControlEvent> &events)
{
    TablePrinter t({"TIME", "EVENT", "NODE", "ROLE", "DETAIL"});
    for (const ControlEvent &e : events)
        t.addRow({localTime(e.wallMs), e.kind, orDash(e.node), e.role, e.detail});
    return t.toString();
}

QString formatCounters(const QJsonObject &counters)
{
    TablePrinter t({"COUNTER", "VALUE"});
    for (auto it = counters.begin(); it != counters.end(); ++it) {
        if (it.value().isObject()) {
            const QJsonObject sub = it.value().toObject();
            for (auto s = sub.begin(); s != sub.end(); ++s)
                t.addRow({it.key() + QLatin1Char('.') + s.key(), QString::number(s.value().toInteger())});
        } else {
            t.addRow({it.key(), QString::number(it.value().toInteger())});
        }
    }
    return t.toString();
}

QString formatStatusChange(const ControlStatus &before, const ControlStatus &now)
{
    if (before.state == now.state && before.role == now.role && before.ringEpoch == now.ringEpoch
        && before.members.size() == now.members.size() && before.dispatcher == now.dispatcher)
        return {};
    return QStringLiteral("%1  status: %2, %3, ring epoch %4, %5 members, dispatcher %6")
        .arg(QDateTime::currentDateTime().toString(QStringLiteral("HH:mm:ss.zzz")), now.state, now.role)
        .arg(now.ringEpoch)
        .arg(now.members.size())
        .arg(orDash(now.dispatcher));
}

} // namespace sasha
