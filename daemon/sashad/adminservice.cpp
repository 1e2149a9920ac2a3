#include "adminservice.h"

#include "config/logcategories.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace sasha {
namespace {
// The state file's layout: {"version": 1, "drained": bool, "weight": 0..65535 (absent: none)}.
constexpr int kStateVersion = 1;

QString actionText(const AdminCommand &c)
{
    if (c.action == AdminAction::Weight && c.clearWeight)
        return QStringLiteral("weight clear");
    return c.action == AdminAction::Weight ? QStringLiteral("weight %1").arg(c.weight) : adminActionName(c.action);
}
} // namespace

AdminService::AdminService(const NodeSettings &settings, Io io, QObject *parent)
    : QObject(parent), m_settings(settings), m_io(std::move(io))
{
    m_reportTimer.setInterval(kAdminReportIntervalMs);
    connect(&m_reportTimer, &QTimer::timeout, this, &AdminService::sendReports);
}

qint64 AdminService::nowMs() const
{
    return m_io.nowMs ? m_io.nowMs() : QDeadlineTimer::current().deadline();
}

QString AdminService::selfName() const
{
    const QString addr = ipv4ToString(m_settings.address);
    return m_settings.name.isEmpty() ? addr : QStringLiteral("%1 (%2)").arg(m_settings.name, addr);
}

std::optional<QString> AdminService::loadState()
{
    const QString path = m_settings.stateFile;
    QFile f(path);
    if (!f.exists())
        return std::nullopt;
    const auto refuse = [&](const QString &why) {
        const QString text = QStringLiteral("state file %1 %2: starting undrained, without an operator weight "
                                            "(fix or remove the file; the next drain/undrain/weight rewrites it)")
                                 .arg(path, why);
        qCWarning(lcControl, "%s", qPrintable(text));
        return std::optional<QString>(text);
    };
    if (!f.open(QIODevice::ReadOnly))
        return refuse(QStringLiteral("is unreadable (%1)").arg(f.errorString()));
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(f.read(64 * 1024), &pe);
    if (pe.error != QJsonParseError::NoError || !doc.isObject())
        return refuse(QStringLiteral("is corrupt (%1)")
                          .arg(pe.error != QJsonParseError::NoError ? pe.errorString() : QStringLiteral("not a JSON object")));
    const QJsonObject o = doc.object();
    if (o.value(QLatin1String("version")).toInteger(-1) != kStateVersion)
        return refuse(QStringLiteral("has version %1, this sashad reads %2")
                          .arg(o.value(QLatin1String("version")).toVariant().toString()).arg(kStateVersion));
    State s;
    const QJsonValue drained = o.value(QLatin1String("drained"));
    if (!drained.isBool())
        return refuse(QStringLiteral("is corrupt (\"drained\" must be true or false)"));
    s.drained = drained.toBool();
    const QJsonValue w = o.value(QLatin1String("weight"));
    if (!w.isUndefined() && !w.isNull()) {
        const qint64 n = w.toInteger(-1);
        if (!w.isDouble() || n < 0 || n > qint64(kMaxOperatorWeight))
            return refuse(QStringLiteral("is corrupt (\"weight\" must be an integer in 0..%1)").arg(kMaxOperatorWeight));
        s.weight = quint16(n);
    }
    apply(s, false);
    qCInfo(lcControl, "admin state from %s: %s%s", qPrintable(path), s.drained ? "drained" : "in service",
           s.weight ? qPrintable(QStringLiteral(", weight %1").arg(*s.weight)) : "");
    return std::nullopt;
}

std::optional<QString> AdminService::saveState() const
{
    const QString path = m_settings.stateFile;
    const QString dir = QFileInfo(path).absolutePath();
    if (!QDir().mkpath(dir))
        return QStringLiteral("cannot create the directory %1 for [node] state_file; create it or point "
                              "state_file elsewhere").arg(dir);
    QJsonObject o{{QStringLiteral("version"), kStateVersion}, {QStringLiteral("drained"), m_state.drained}};
    if (m_state.weight)
        o.insert(QStringLiteral("weight"), int(*m_state.weight));
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return QStringLiteral("cannot write [node] state_file %1: %2").arg(path, f.errorString());
    f.write(QJsonDocument(o).toJson(QJsonDocument::Indented));
    if (!f.commit())
        return QStringLiteral("cannot write [node] state_file %1: %2").arg(path, f.errorString());
    return std::nullopt;
}

std::optional<QString> AdminService::apply(const State &s, bool persist)
{
    const State before = m_state;
    m_state = s;
    if (s.drained != before.drained && m_io.setDraining)
        m_io.setDraining(s.drained);
    if (s.weight && s.weight != before.weight && m_io.setOperatorWeight)
        m_io.setOperatorWeight(m_settings.address, *s.weight);
    if (!s.weight && before.weight && m_io.clearOperatorWeight)
        m_io.clearOperatorWeight(m_settings.address);
    std::optional<QString> err;
    if (persist) {
        err = saveState();
        if (err)
            qCWarning(lcControl, "%s", qPrintable(*err));
    }
    if (!(s == before))
        sendReports();
    return err;
}

void AdminService::start()
{
    m_reportTimer.start();
    sendReports();
}

void AdminService::request(const ControlRequest &r, const ControlServer::AnswerFn &answer)
{
    AdminCommand c;
    c.action = r.adminAction();
    c.commandId = m_nextId++;
    c.target = r.adminTarget;
    c.weight = quint16(r.adminWeight);
    c.clearWeight = r.adminClearWeight;
    const QString targetText = ipv4ToString(c.target);
    if (c.target == m_settings.address) {
        answer(answerOf(execute(c, m_settings.address), m_settings.address));
        return;
    }
    const tb::RingView view = m_io.view();
    if (!view.find(c.target)) {
        QStringList members;
        for (const tb::Member &m : view.members)
            members << ipv4ToString(m.addr);
        answer(controlError(QStringLiteral("%1 is not a member of the ring this node sees (members: %2)")
                                .arg(targetText, members.isEmpty() ? QStringLiteral("none") : members.join(QStringLiteral(", ")))));
        return;
    }
    Pending p;
    p.target = c.target;
    p.action = c.action;
    p.answer = answer;
    p.timeout = std::make_unique<QTimer>();
    p.timeout->setSingleShot(true);
    const quint32 id = c.commandId;
    connect(p.timeout.get(), &QTimer::timeout, this, [this, id, targetText] {
        auto it = m_pending.find(id);
        if (it == m_pending.end())
            return;
        const ControlServer::AnswerFn a = it->second.answer;
        it->second.timeout.release()->deleteLater(); // not deleted inside its own signal
        m_pending.erase(it);
        a(controlError(QStringLiteral("no reply from %1 within %2 s").arg(targetText).arg(kReplyTimeoutMs / 1000)));
    });
    p.timeout->start(kReplyTimeoutMs);
    m_pending.emplace(id, std::move(p));
    qCInfo(lcControl, "admin command %u to %s: %s", id, qPrintable(targetText), qPrintable(actionText(c)));
    m_io.send(c.target, kAdminChannel, encodeAdminCommand(c), true);
}

void AdminService::onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload)
{
    QString error;
    if (channel == kAdminReportChannel) {
        if (const auto r = decodeAdminReport(payload, &error))
            onReport(from, *r);
        else
            ++m_malformed;
        return;
    }
    if (channel != kAdminChannel)
        return;
    switch (adminMessageType(payload)) {
    case 1:
        if (const auto c = decodeAdminCommand(payload, &error)) {
            onCommand(from, *c);
            return;
        }
        break;
    case 2:
        if (const auto r = decodeAdminReply(payload, &error)) {
            onReply(from, *r);
            return;
        }
        break;
    default:
        error = QStringLiteral("unknown admin message type (%1 bytes)").arg(payload.size());
        break;
    }
    ++m_malformed;
    qCWarning(lcControl, "malformed admin message from %s dropped: %s", qPrintable(ipv4ToString(from)), qPrintable(error));
}

void AdminService::onCommand(tb::NodeAddr from, const AdminCommand &c)
{
    m_io.send(from, kAdminChannel, encodeAdminReply(execute(c, from)), true);
}

AdminReply AdminService::execute(const AdminCommand &c, tb::NodeAddr from)
{
    AdminReply r;
    r.action = c.action;
    r.commandId = c.commandId;
    r.target = c.target;
    const QString sender = ipv4ToString(from);
    const QString self = ipv4ToString(m_settings.address);
    if (c.target != m_settings.address) {
        r.result = AdminResult::WrongTarget;
        r.message = QStringLiteral("this is %1, not %2").arg(selfName(), ipv4ToString(c.target));
        qCInfo(lcControl, "admin command from %s refused: %s: %s", qPrintable(sender), qPrintable(actionText(c)),
               qPrintable(r.message));
        Q_EMIT logEvent(QStringLiteral("admin-refused"), self,
                        QStringLiteral("%1 from %2: %3").arg(actionText(c), sender, adminResultName(r.result)));
        return r;
    }
    State next = m_state;
    QString kind;
    switch (c.action) {
    case AdminAction::Drain:
        next.drained = true;
        kind = QStringLiteral("node-drained");
        r.message = m_state.drained ? QStringLiteral("already drained")
                                    : QStringLiteral("draining: no new flows, existing flows finish");
        break;
    case AdminAction::Undrain:
        next.drained = false;
        kind = QStringLiteral("node-undrained");
        r.message = m_state.drained ? QStringLiteral("back in service") : QStringLiteral("was not drained");
        break;
    case AdminAction::Weight:
        kind = QStringLiteral("weight-changed");
        if (c.clearWeight) {
            next.weight.reset();
            r.message = m_state.weight ? QStringLiteral("operator weight %1 cleared: [dispatcher] weights apply").arg(*m_state.weight)
                                       : QStringLiteral("no operator weight was set: [dispatcher] weights apply");
            break;
        }
        next.weight = c.weight;
        r.message = c.weight == 0 ? QStringLiteral("weight 0: no new flows, existing flows finish")
                                  : QStringLiteral("weight %1").arg(c.weight);
        break;
    }
    const bool changed = !(next == m_state);
    if (const auto err = apply(next, true)) {
        r.result = AdminResult::Failed;
        r.message = QStringLiteral("%1 now, but not kept across a restart: %2").arg(r.message, *err);
    }
    qCWarning(lcControl, "admin command from %s: %s (%s)", qPrintable(sender), qPrintable(actionText(c)),
              qPrintable(r.message));
    if (changed)
        Q_EMIT logEvent(kind, self, QStringLiteral("%1 by %2").arg(actionText(c), sender));
    return r;
}

void AdminService::onReply(tb::NodeAddr from, const AdminReply &r)
{
    auto it = m_pending.find(r.commandId);
    if (it == m_pending.end() || it->second.target != from)
        return; // an answer to someone else's command id, or one that came too late
    const ControlServer::AnswerFn answer = it->second.answer;
    it->second.timeout->stop();
    m_pending.erase(it);
    qCInfo(lcControl, "admin command %u: %s answered %s%s", r.commandId, qPrintable(ipv4ToString(from)),
           qPrintable(adminResultName(r.result)), r.message.isEmpty() ? "" : qPrintable(QStringLiteral(": ") + r.message));
    answer(answerOf(r, from));
}

QJsonObject AdminService::answerOf(const AdminReply &r, tb::NodeAddr from)
{
    return QJsonObject{{QStringLiteral("result"), adminResultName(r.result)},
                       {QStringLiteral("message"), r.message},
                       {QStringLiteral("node"), ipv4ToString(from)},
                       {QStringLiteral("action"), adminActionName(r.action)}};
}

void AdminService::onReport(tb::NodeAddr from, const AdminReport &r)
{
    if (from == m_settings.address)
        return;
    m_reports[from] = Received{r, nowMs()};
    if (r.weight && m_io.setOperatorWeight)
        m_io.setOperatorWeight(from, *r.weight);
    else if (!r.weight && m_io.clearOperatorWeight)
        m_io.clearOperatorWeight(from);
}

AdminReport AdminService::ownReport() const
{
    AdminReport r;
    r.drained = m_state.drained;
    r.weight = m_state.weight;
    r.openFlows = m_io.openFlows ? m_io.openFlows() : 0;
    return r;
}

void AdminService::sendReports()
{
    if (!(m_settings.caps & tb::kCanServe))
        return;
    const tb::RingView view = m_io.view();
    const QByteArray payload = encodeAdminReport(ownReport());
    for (const tb::Member &m : view.members) {
        if (m.addr != m_settings.address)
            m_io.send(m.addr, kAdminReportChannel, payload, false);
    }
    for (const tb::Member &o : view.observers)
        m_io.send(o.addr, kAdminReportChannel, payload, false);
}

void AdminService::onViewChanged()
{
    const tb::NodeAddr d = m_io.view().dispatcher;
    if (d == m_lastDispatcher)
        return;
    m_lastDispatcher = d;
    if (d != tb::kNoNode)
        sendReports();
}

std::optional<AdminReport> AdminService::reportOf(tb::NodeAddr addr) const
{
    if (addr == m_settings.address)
        return ownReport();
    const auto it = m_reports.find(addr);
    if (it == m_reports.end() || nowMs() - it->second.atMs > kReportStaleMs)
        return std::nullopt;
    return it->second.report;
}

QJsonObject AdminService::statusJson() const
{
    const AdminReport own = ownReport();
    return QJsonObject{{QStringLiteral("drained"), own.drained},
                       {QStringLiteral("weight"), own.weight ? QJsonValue(int(*own.weight)) : QJsonValue(QJsonValue::Null)},
                       {QStringLiteral("openFlows"), qint64(own.openFlows)},
                       {QStringLiteral("stateFile"), m_settings.stateFile}};
}

void AdminService::annotate(QList<ControlMember> &members) const
{
    for (ControlMember &m : members) {
        const auto addr = parseIpv4(m.addr);
        const auto r = addr ? reportOf(*addr) : std::nullopt;
        if (!r)
            continue;
        m.drained = r->drained;
        if (r->weight)
            m.weight = *r->weight;
        m.openFlows = r->openFlows;
    }
}

} // namespace sasha
