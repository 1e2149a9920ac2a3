#include "humanformat.h"

#include "tableprinter.h"

#include <QDateTime>
#include <QJsonArray>
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
    // ACTIVE: flows that are not closing (token status); OPEN: every flow the dispatcher holds
    // for the node, closing ones included (what `drain --wait` waits on). "-": not known here.
    TablePrinter t({"ADDRESS", "NAME", "ROLE", "HEALTH", "DRAINED", "WEIGHT", "CAPS", "ACTIVE", "OPEN", "CPS", "ENDPOINT"});
    for (const ControlMember &m : members)
        t.addRow({m.addr, orDash(m.name), m.role, m.health,
                  m.drained ? (*m.drained ? QStringLiteral("yes") : QStringLiteral("no")) : QStringLiteral("-"),
                  m.weight ? QString::number(*m.weight) : QStringLiteral("-"), orDash(m.caps),
                  QString::number(m.activeConnections), m.openFlows ? QString::number(*m.openFlows) : QStringLiteral("-"),
                  QString::number(m.cps), m.endpoint});
    return t.toString();
}

DrainProgress drainProgressOf(const QList<ControlMember> &members, const QString &addr)
{
    for (const ControlMember &m : members) {
        if (m.addr == addr && m.openFlows)
            return DrainProgress{std::min(m.activeConnections, *m.openFlows), m.openFlows};
    }
    return {};
}

QString formatDrainProgress(const QString &node, const DrainProgress &p, qint64 elapsedMs)
{
    const QString at = QStringLiteral("%1 s").arg(double(elapsedMs) / 1000.0, 0, 'f', 1);
    if (!p.active)
        return QStringLiteral("%1: %2 flows not known yet (waiting for its report)").arg(at, node);
    const quint32 closing = *p.open - *p.active;
    const QString tail = closing ? QStringLiteral(" (%1 closing)").arg(closing) : QString();
    if (p.drained())
        return QStringLiteral("%1: %2 drained: 0 active flows%3").arg(at, node, tail);
    return QStringLiteral("%1: %2 has %3 active flow%4%5").arg(at, node).arg(*p.active).arg(*p.active == 1 ? "" : "s").arg(tail);
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
    if (!s.transport.isEmpty())
        t.addRow({"ring thread", QStringLiteral("%1 ms behind at worst, %2 time(s) 50 ms or more")
                                     .arg(s.transport.value(QLatin1String("deliveryLagMaxMs")).toDouble(), 0, 'f', 1)
                                     .arg(s.transport.value(QLatin1String("lateDeliveries")).toInteger())});
    if (s.transport.contains(QLatin1String("receiveWaitMaxMs")))
        t.addRow({"ring receive", QStringLiteral("datagrams waited %1 ms at worst between arrival and read, %2 time(s) 20 ms or more")
                                      .arg(s.transport.value(QLatin1String("receiveWaitMaxMs")).toDouble(), 0, 'f', 1)
                                      .arg(s.transport.value(QLatin1String("receiveWaitLate")).toInteger())});
    if (!s.metrics.isEmpty())
        t.addRow({"metrics", QStringLiteral("http://%1/metrics (%2 scrapes, %3 refused)")
                                 .arg(s.metrics.value(QLatin1String("listen")).toString())
                                 .arg(s.metrics.value(QLatin1String("scrapes")).toInteger())
                                 .arg(s.metrics.value(QLatin1String("refused")).toInteger())});
    QString out = t.toString();
    if (!s.members.isEmpty())
        out += QLatin1Char('\n') + formatMembersTable(s.members);
    if (!s.observers.isEmpty())
        out += QStringLiteral("\nobservers:\n") + formatMembersTable(s.observers);
    if (!s.admin.isEmpty()) {
        const QJsonValue w = s.admin.value(QLatin1String("weight"));
        out += QStringLiteral("\nadmin: %1, weight %2, %3 open flows (state in %4)\n")
                   .arg(s.admin.value(QLatin1String("drained")).toBool() ? QStringLiteral("drained") : QStringLiteral("in service"),
                        w.isDouble() ? QString::number(w.toInteger()) : QStringLiteral("not set"))
                   .arg(s.admin.value(QLatin1String("openFlows")).toInteger())
                   .arg(s.admin.value(QLatin1String("stateFile")).toString());
    }
    if (!s.dispatcherStats.isEmpty())
        out += QStringLiteral("\ndispatcher:\n") + formatDispatcher(s.dispatcherStats);
    return out;
}

QString formatServices(const ControlStatus &s)
{
    if (s.services.isEmpty())
        return QStringLiteral("no services: this node has no [dispatcher] vmac with [[service]] tables or vip (docs/config.md)\n");
    TablePrinter t({"VIP", "PROTO", "PORTS", "MODE", "SCHEDULER", "PERSIST", "WEIGHTS", "NEW", "CPS", "CONFIG"});
    for (const QJsonValue &v : s.services) {
        const QJsonObject o = v.toObject();
        QStringList ports;
        for (const QJsonValue &p : o.value(QLatin1String("ports")).toArray())
            ports << p.toString();
        const qint64 persist = o.value(QLatin1String("persistenceS")).toInteger();
        const bool counted = o.contains(QLatin1String("newFlows"));
        const bool legacy = o.value(QLatin1String("legacy")).toBool();
        // The service's own weights ([[service]] weights); "-": every server has its cluster weight.
        QStringList weights;
        const QJsonObject w = o.value(QLatin1String("weights")).toObject();
        for (auto it = w.begin(); it != w.end(); ++it)
            weights << QStringLiteral("%1=%2").arg(it.key()).arg(it.value().toInteger());
        t.addRow({o.value(QLatin1String("vip")).toString(), o.value(QLatin1String("protocol")).toString(),
                  ports.join(QLatin1Char(',')), o.value(QLatin1String("mode")).toString(),
                  o.value(QLatin1String("scheduler")).toString(),
                  persist > 0 ? QStringLiteral("%1 s").arg(persist) : QStringLiteral("-"),
                  weights.isEmpty() ? QStringLiteral("-") : weights.join(QLatin1Char(',')),
                  counted ? QString::number(o.value(QLatin1String("newFlows")).toInteger()) : QStringLiteral("-"),
                  counted ? QString::number(o.value(QLatin1String("cps")).toInteger()) : QStringLiteral("-"),
                  legacy ? QStringLiteral("[dispatcher] vip/ports")
                         : QStringLiteral("line %1").arg(o.value(QLatin1String("line")).toInteger())});
    }
    QString out = t.toString();
    if (s.dispatcherStats.isEmpty())
        out += QStringLiteral("(NEW and CPS are counted by the dispatcher%1)\n")
                   .arg(s.dispatcher.isEmpty() ? QString() : QStringLiteral(": sashactl services on %1").arg(s.dispatcher));
    return out;
}

QString formatDispatcher(const QJsonObject &d)
{
    const auto n = [](const QJsonObject &o, const char *key) { return QString::number(o.value(QLatin1String(key)).toInteger()); };
    const QJsonObject fp = d.value(QLatin1String("fastPath")).toObject();
    const QJsonObject th = d.value(QLatin1String("thread")).toObject();
    QStringList vips;
    for (const QJsonValue &v : d.value(QLatin1String("vips")).toArray())
        vips << v.toString();
    if (vips.isEmpty()) // an older sashad
        vips << d.value(QLatin1String("vip")).toString();
    TablePrinter t({"interface", QStringLiteral("%1 (VIP%2 %3, VMAC %4)").arg(d.value(QLatin1String("interface")).toString(),
                                                                            vips.size() > 1 ? QStringLiteral("s") : QString(),
                                                                            vips.join(QStringLiteral(", ")),
                                                                            d.value(QLatin1String("vmac")).toString())});
    t.addRow({"scheduler", QStringLiteral("%1, injector %2, table generation %3")
                               .arg(d.value(QLatin1String("scheduler")).toString(), d.value(QLatin1String("injector")).toString(),
                                    n(d, "tableGeneration"))});
    QString recon = d.value(QLatin1String("reconstruction")).toString();
    const QString summary = d.value(QLatin1String("reconstructionSummary")).toString();
    if (!summary.isEmpty())
        recon += QStringLiteral(" (%1)").arg(summary);
    t.addRow({"reconstruction", recon});
    t.addRow({"flows", QStringLiteral("%1 open, %2 active, %3 new/s, %4 packets/s; %5 syn-seen%6")
                           .arg(n(d, "openFlows"), n(d, "activeFlows"), n(d, "cps"), n(d, "packetsPerSecond"),
                                n(d, "synSeenFlows"),
                                d.value(QLatin1String("synPressure")).toBool() ? QStringLiteral(" (SYN-flood pressure)")
                                                                               : QString())});
    t.addRow({"frames", QStringLiteral("%1 in, %2 forwarded, %3 local (%4 of them ICMP errors); %5 captured, %6 injected "
                                       "(%7 errors), %8 kernel drops")
                            .arg(n(fp, "framesIn"), n(fp, "forwarded"), n(fp, "deliveredLocal"), n(fp, "icmpForwarded"),
                                 n(th, "captured"), n(th, "injected"), n(th, "injectErrors"), n(th, "kernelDropped"))});
    t.addRow({"arp", QStringLiteral("%1 VMAC announcements sent, %2 requests for the VIP answered; %3 ARP frames ignored, %4 malformed")
                         .arg(n(th, "announcements"), n(th, "arpAnswered"), n(th, "arpIgnored"), n(th, "arpMalformed"))});
    t.addRow({"flow events", QStringLiteral("%1 scheduled, %2 hashed, %3 reconstructed (%4 corrected), %5 expired, "
                                            "%6 syn-seen evicted (%7 readmitted)")
                                 .arg(n(fp, "newFlows"), n(fp, "hashedFlows"), n(fp, "reconstructedInserted"),
                                      n(fp, "reconstructedCorrected"), n(fp, "expiredFlows"), n(fp, "synSeenEvicted"),
                                      n(fp, "readmittedFlows"))});
    QStringList drops;
    const QJsonObject dropped = fp.value(QLatin1String("dropped")).toObject();
    for (auto it = dropped.begin(); it != dropped.end(); ++it) {
        if (it.value().isObject()) {
            const QJsonObject m = it.value().toObject();
            for (auto jt = m.begin(); jt != m.end(); ++jt) {
                if (jt.value().toInteger() > 0)
                    drops << QStringLiteral("%1 %2").arg(jt.key()).arg(jt.value().toInteger());
            }
        } else if (it.value().toInteger() > 0) {
            drops << QStringLiteral("%1 %2").arg(it.key()).arg(it.value().toInteger());
        }
    }
    t.addRow({"drops", drops.isEmpty() ? QStringLiteral("none") : drops.join(QStringLiteral(", "))});
    QString out = t.toString();
    TablePrinter servers({"SERVER", "SLOT", "MAC", "WEIGHT", "HEALTHY", "PACKETS", "NEW", "CPS", "ACTIVE", "OPEN"});
    for (const QJsonValue &v : d.value(QLatin1String("servers")).toArray()) {
        const QJsonObject o = v.toObject();
        QString addr = o.value(QLatin1String("addr")).toString();
        if (o.value(QLatin1String("self")).toBool())
            addr += QStringLiteral(" (self)");
        servers.addRow({addr, n(o, "slot"), o.value(QLatin1String("mac")).toString(), n(o, "weight"),
                        o.value(QLatin1String("healthy")).toBool() ? QStringLiteral("yes") : QStringLiteral("no"),
                        n(o, "packets"), n(o, "newFlows"), n(o, "cps"), n(o, "activeFlows"), n(o, "openFlows")});
    }
    return out + QLatin1Char('\n') + servers.toString();
}

QString formatConnections(const QJsonObject &answer)
{
    TablePrinter t({"CLIENT", "SERVICE", "PROTO", "SERVER", "STATE", "ORIGIN", "IDLE"});
    const QJsonArray list = answer.value(QLatin1String("connections")).toArray();
    for (const QJsonValue &v : list) {
        const QJsonObject o = v.toObject();
        t.addRow({o.value(QLatin1String("client")).toString(), o.value(QLatin1String("service")).toString(),
                  o.value(QLatin1String("proto")).toString(), o.value(QLatin1String("server")).toString(),
                  o.value(QLatin1String("state")).toString(), o.value(QLatin1String("origin")).toString(),
                  QStringLiteral("%1 ms").arg(o.value(QLatin1String("idleMs")).toInteger())});
    }
    return t.toString() + QStringLiteral("%1 of %2 flows\n").arg(list.size()).arg(answer.value(QLatin1String("total")).toInteger());
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

QString formatFaultAnswer(const QJsonObject &answer)
{
    const QString message = answer.value(QLatin1String("message")).toString();
    return QStringLiteral("%1: %2 %3%4")
        .arg(answer.value(QLatin1String("node")).toString(), answer.value(QLatin1String("action")).toString(),
             answer.value(QLatin1String("result")).toString(), message.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(message));
}

} // namespace sasha
