#include "control/controlprotocol.h"

#include "config/nodesettings.h" // ipv4ToString

#include <QJsonDocument>
#include <QJsonParseError>
#include <QStringList>

#include <iterator>

namespace sasha {
namespace {

using Kind = tb::Event::Kind;

QString addrName(tb::NodeAddr a) { return a == tb::kNoNode ? QString() : ipv4ToString(a); }

QString endpointName(const tb::Endpoint &e)
{
    return QStringLiteral("%1:%2").arg(ipv4ToString(e.ip)).arg(e.port);
}

// Every request's "cmd", in ControlRequest::Command order (toJson indexes it by command).
constexpr std::pair<const char *, ControlRequest::Command> kCommands[] = {
    {"status", ControlRequest::Command::Status},     {"members", ControlRequest::Command::Members},
    {"events", ControlRequest::Command::Events},     {"watch", ControlRequest::Command::Watch},
    {"counters", ControlRequest::Command::Counters}, {"connections", ControlRequest::Command::Connections},
    {"fault", ControlRequest::Command::Fault},       {"drain", ControlRequest::Command::Drain},
    {"undrain", ControlRequest::Command::Undrain},   {"weight", ControlRequest::Command::Weight},
    {"handover", ControlRequest::Command::Handover}, {"reload", ControlRequest::Command::Reload},
};

// "status, members, ...": what an error message lists as accepted.
QString commandList()
{
    QStringList names;
    for (const auto &c : kCommands)
        names << QLatin1String(c.first);
    return names.join(QStringLiteral(", "));
}

QString jsonTypeName(const QJsonValue &v)
{
    switch (v.type()) {
    case QJsonValue::Null: return QStringLiteral("null");
    case QJsonValue::Bool: return QStringLiteral("a boolean");
    case QJsonValue::Double: return QStringLiteral("a number");
    case QJsonValue::String: return QStringLiteral("a string");
    case QJsonValue::Array: return QStringLiteral("an array");
    case QJsonValue::Object: return QStringLiteral("an object");
    case QJsonValue::Undefined: break;
    }
    return QStringLiteral("nothing");
}

quint64 u64(const QJsonObject &o, const char *key)
{
    return quint64(o.value(QLatin1String(key)).toInteger());
}

ControlMember memberOf(const tb::Member &m, tb::NodeAddr self, const QString &selfName)
{
    ControlMember c;
    c.addr = addrName(m.addr);
    c.name = m.addr == self ? selfName : QString();
    c.endpoint = endpointName(m.endpoint);
    c.caps = controlCapsName(m.caps);
    c.role = controlRoleName(m.status.role);
    c.health = controlHealthName(m.status.health);
    c.activeConnections = m.status.activeConnections;
    c.cps = m.status.connectionsPerSecond;
    return c;
}

QJsonArray membersJson(const QList<ControlMember> &ms)
{
    QJsonArray a;
    for (const ControlMember &m : ms)
        a.append(m.toJson());
    return a;
}

QList<ControlMember> membersFromJson(const QJsonArray &a)
{
    QList<ControlMember> out;
    for (const QJsonValue &v : a)
        out.append(ControlMember::fromJson(v.toObject()));
    return out;
}

// The "fault" command's arguments into r; false with *error when one is missing or bad.
bool parseFaultArguments(const QJsonObject &o, ControlRequest &r, QString *error)
{
    const auto fail = [error](const QString &m) {
        if (error)
            *error = m;
        return false;
    };
    const auto target = parseIpv4(o.value(QLatin1String("target")).toString());
    if (!target)
        return fail(QStringLiteral("fault: \"target\" must be a node's IPv4 address like \"127.0.0.3\""));
    const auto action = faultActionFromName(o.value(QLatin1String("action")).toString());
    if (!action)
        return fail(QStringLiteral("fault: \"action\" must be one of crash, hang, unplug, drain, restore"));
    const QJsonValue d = o.value(QLatin1String("durationMs"));
    const qint64 ms = d.isUndefined() ? 0 : d.toInteger(-1);
    if (!d.isUndefined() && !d.isDouble())
        return fail(QStringLiteral("fault: \"durationMs\" must be an integer"));
    if (faultActionTakesDuration(*action)) {
        if (ms < 1 || ms > qint64(kMaxFaultDurationMs))
            return fail(QStringLiteral("fault: %1 needs \"durationMs\" in 1..%2")
                            .arg(faultActionName(*action)).arg(kMaxFaultDurationMs));
    } else if (ms != 0) {
        return fail(QStringLiteral("fault: %1 takes no duration").arg(faultActionName(*action)));
    }
    const QJsonValue only = o.value(QLatin1String("onlyIfDispatcher"));
    if (!only.isUndefined() && !only.isBool())
        return fail(QStringLiteral("fault: \"onlyIfDispatcher\" must be true or false"));
    r.faultTarget = *target;
    r.faultAction = *action;
    r.faultDurationMs = quint32(ms);
    r.faultOnlyIfDispatcher = only.toBool(false);
    return true;
}

// The admin commands' arguments into r; false with *error when one is missing or bad.
bool parseAdminArguments(const QJsonObject &o, ControlRequest &r, QString *error)
{
    const QString cmd = adminActionName(r.adminAction());
    const auto fail = [error](const QString &m) {
        if (error)
            *error = m;
        return false;
    };
    const auto target = parseIpv4(o.value(QLatin1String("target")).toString());
    if (!target)
        return fail(QStringLiteral("%1: \"target\" must be a node's IPv4 address like \"127.0.0.3\"").arg(cmd));
    r.adminTarget = *target;
    const QJsonValue w = o.value(QLatin1String("weight"));
    const QJsonValue clear = o.value(QLatin1String("clear"));
    if (r.command == ControlRequest::Command::Weight && !clear.isUndefined()) {
        if (clear != QJsonValue(true) || !w.isUndefined())
            return fail(QStringLiteral("weight: \"clear\" must be true, without \"weight\" (clears the operator weight)"));
        r.adminClearWeight = true;
        return true;
    }
    if (r.command != ControlRequest::Command::Weight) {
        if (!w.isUndefined())
            return fail(QStringLiteral("%1 takes no \"weight\" (use the weight command)").arg(cmd));
        return true;
    }
    const qint64 n = w.toInteger(-1);
    if (!w.isDouble() || n < 0 || n > qint64(kMaxOperatorWeight) || double(n) != w.toDouble())
        return fail(QStringLiteral("weight: \"weight\" must be an integer in 0..%1 (0 = no new flows)").arg(kMaxOperatorWeight));
    r.adminWeight = quint32(n);
    return true;
}

} // namespace

QString controlStateName(tb::NodeState s)
{
    switch (s) {
    case tb::NodeState::Stopped: return QStringLiteral("stopped");
    case tb::NodeState::Joining: return QStringLiteral("joining");
    case tb::NodeState::AwaitingRing: return QStringLiteral("awaiting-ring");
    case tb::NodeState::Member: return QStringLiteral("member");
    case tb::NodeState::Leaving: return QStringLiteral("leaving");
    case tb::NodeState::Observing: return QStringLiteral("observing");
    }
    return QStringLiteral("unknown");
}

QString controlRoleName(tb::Role r)
{
    switch (r) {
    case tb::Role::None: return QStringLiteral("none");
    case tb::Role::Server: return QStringLiteral("server");
    case tb::Role::Dispatcher: return QStringLiteral("dispatcher");
    case tb::Role::Standalone: return QStringLiteral("standalone");
    case tb::Role::Observer: return QStringLiteral("observer");
    }
    return QStringLiteral("none");
}

QString controlHealthName(tb::Health h)
{
    switch (h) {
    case tb::Health::Unknown: return QStringLiteral("unknown");
    case tb::Health::Healthy: return QStringLiteral("healthy");
    case tb::Health::Unhealthy: return QStringLiteral("unhealthy");
    case tb::Health::Draining: return QStringLiteral("draining");
    }
    return QStringLiteral("unknown");
}

QString controlCapsName(quint8 caps)
{
    QStringList words;
    if (caps & tb::kCanDispatch)
        words << QStringLiteral("dispatch");
    if (caps & tb::kCanServe)
        words << QStringLiteral("serve");
    if (caps & tb::kObserver)
        words << QStringLiteral("observer");
    return words.join(QLatin1Char(','));
}

QString controlEventKindName(Kind k)
{
    switch (k) {
    case Kind::StateChanged: return QStringLiteral("state-changed");
    case Kind::RingFormed: return QStringLiteral("ring-formed");
    case Kind::MemberJoined: return QStringLiteral("member-joined");
    case Kind::MemberLeft: return QStringLiteral("member-left");
    case Kind::MemberLost: return QStringLiteral("member-lost");
    case Kind::PurgeStarted: return QStringLiteral("purge-started");
    case Kind::TokenTimeout: return QStringLiteral("token-timeout");
    case Kind::DispatcherElected: return QStringLiteral("dispatcher-elected");
    case Kind::Abdicated: return QStringLiteral("abdicated");
    case Kind::RoleChanged: return QStringLiteral("role-changed");
    case Kind::ObserverJoined: return QStringLiteral("observer-joined");
    case Kind::ObserverDropped: return QStringLiteral("observer-dropped");
    case Kind::OobReceived: return QStringLiteral("oob-received");
    case Kind::OobDelivered: return QStringLiteral("oob-delivered");
    case Kind::OobFailed: return QStringLiteral("oob-failed");
    case Kind::DatagramDropped: return QStringLiteral("datagram-dropped");
    case Kind::ViewChanged: return QStringLiteral("view-changed");
    }
    return QStringLiteral("unknown");
}

QString controlDropReasonName(tb::DropReason r)
{
    using R = tb::DropReason;
    switch (r) {
    case R::Truncated: return QStringLiteral("truncated");
    case R::Oversized: return QStringLiteral("oversized");
    case R::BadMagic: return QStringLiteral("bad-magic");
    case R::UnknownVersion: return QStringLiteral("unknown-version");
    case R::BadMac: return QStringLiteral("bad-mac");
    case R::Replay: return QStringLiteral("replay");
    case R::StaleEpoch: return QStringLiteral("stale-epoch");
    case R::Malformed: return QStringLiteral("malformed");
    case R::UnknownType: return QStringLiteral("unknown-type");
    case R::StaleRing: return QStringLiteral("stale-ring");
    case R::NotForUs: return QStringLiteral("not-for-us");
    case R::WrongDestination: return QStringLiteral("wrong-destination");
    case R::Count_: break;
    }
    return QStringLiteral("unknown");
}

QJsonObject ControlMember::toJson() const
{
    return QJsonObject{
        {QStringLiteral("addr"), addr},
        {QStringLiteral("name"), name},
        {QStringLiteral("endpoint"), endpoint},
        {QStringLiteral("caps"), caps},
        {QStringLiteral("role"), role},
        {QStringLiteral("health"), health},
        {QStringLiteral("activeConnections"), qint64(activeConnections)},
        {QStringLiteral("cps"), qint64(cps)},
        {QStringLiteral("drained"), drained ? QJsonValue(*drained) : QJsonValue(QJsonValue::Null)},
        {QStringLiteral("weight"), weight ? QJsonValue(qint64(*weight)) : QJsonValue(QJsonValue::Null)},
        {QStringLiteral("openFlows"), openFlows ? QJsonValue(qint64(*openFlows)) : QJsonValue(QJsonValue::Null)},
    };
}

ControlMember ControlMember::fromJson(const QJsonObject &o)
{
    ControlMember m;
    m.addr = o.value(QLatin1String("addr")).toString();
    m.name = o.value(QLatin1String("name")).toString();
    m.endpoint = o.value(QLatin1String("endpoint")).toString();
    m.caps = o.value(QLatin1String("caps")).toString();
    m.role = o.value(QLatin1String("role")).toString();
    m.health = o.value(QLatin1String("health")).toString();
    m.activeConnections = quint32(u64(o, "activeConnections"));
    m.cps = quint32(u64(o, "cps"));
    if (const QJsonValue v = o.value(QLatin1String("drained")); v.isBool())
        m.drained = v.toBool();
    if (const QJsonValue v = o.value(QLatin1String("weight")); v.isDouble())
        m.weight = quint32(v.toInteger());
    if (const QJsonValue v = o.value(QLatin1String("openFlows")); v.isDouble())
        m.openFlows = quint32(v.toInteger());
    return m;
}

ControlCounters ControlCounters::fromCore(const tb::Counters &c)
{
    ControlCounters out;
    out.datagramsIn = c.datagramsIn;
    out.datagramsOut = c.datagramsOut;
    out.bytesIn = c.bytesIn;
    out.bytesOut = c.bytesOut;
    for (int i = 0; i < int(tb::DropReason::Count_); ++i)
        out.dropped.emplace_back(controlDropReasonName(tb::DropReason(i)), c.dropped[i]);
    out.purges = c.purges;
    out.ringsFormed = c.ringsFormed;
    out.rotations = c.rotations;
    out.tokensRelayed = c.tokensRelayed;
    out.lateTokens = c.lateTokens;
    out.selfStalls = c.selfStalls;
    out.oobSent = c.oobSent;
    out.oobReceived = c.oobReceived;
    out.retransmits = c.retransmits;
    return out;
}

quint64 ControlCounters::droppedTotal() const
{
    quint64 sum = 0;
    for (const auto &d : dropped)
        sum += d.second;
    return sum;
}

QJsonObject ControlCounters::toJson() const
{
    QJsonObject drops;
    for (const auto &[reason, n] : dropped)
        drops.insert(reason, qint64(n));
    return QJsonObject{
        {QStringLiteral("datagramsIn"), qint64(datagramsIn)},
        {QStringLiteral("datagramsOut"), qint64(datagramsOut)},
        {QStringLiteral("bytesIn"), qint64(bytesIn)},
        {QStringLiteral("bytesOut"), qint64(bytesOut)},
        {QStringLiteral("dropped"), drops},
        {QStringLiteral("purges"), qint64(purges)},
        {QStringLiteral("ringsFormed"), qint64(ringsFormed)},
        {QStringLiteral("rotations"), qint64(rotations)},
        {QStringLiteral("tokensRelayed"), qint64(tokensRelayed)},
        {QStringLiteral("lateTokens"), qint64(lateTokens)},
        {QStringLiteral("selfStalls"), qint64(selfStalls)},
        {QStringLiteral("oobSent"), qint64(oobSent)},
        {QStringLiteral("oobReceived"), qint64(oobReceived)},
        {QStringLiteral("retransmits"), qint64(retransmits)},
    };
}

ControlCounters ControlCounters::fromJson(const QJsonObject &o)
{
    ControlCounters c;
    c.datagramsIn = u64(o, "datagramsIn");
    c.datagramsOut = u64(o, "datagramsOut");
    c.bytesIn = u64(o, "bytesIn");
    c.bytesOut = u64(o, "bytesOut");
    // Keep the daemon's reason order where it is known, then anything newer in key order.
    const QJsonObject drops = o.value(QLatin1String("dropped")).toObject();
    for (int i = 0; i < int(tb::DropReason::Count_); ++i) {
        const QString name = controlDropReasonName(tb::DropReason(i));
        if (drops.contains(name))
            c.dropped.emplace_back(name, quint64(drops.value(name).toInteger()));
    }
    for (auto it = drops.begin(); it != drops.end(); ++it) {
        if (std::none_of(c.dropped.begin(), c.dropped.end(), [&](const auto &d) { return d.first == it.key(); }))
            c.dropped.emplace_back(it.key(), quint64(it.value().toInteger()));
    }
    c.purges = u64(o, "purges");
    c.ringsFormed = u64(o, "ringsFormed");
    c.rotations = u64(o, "rotations");
    c.tokensRelayed = u64(o, "tokensRelayed");
    c.lateTokens = u64(o, "lateTokens");
    c.selfStalls = u64(o, "selfStalls");
    c.oobSent = u64(o, "oobSent");
    c.oobReceived = u64(o, "oobReceived");
    c.retransmits = u64(o, "retransmits");
    return c;
}

ControlStatus ControlStatus::fromNode(const tb::TokenBeatNode &node, const QString &name, qint64 uptimeMs, qint64 pid)
{
    ControlStatus s;
    const tb::RingView &v = node.view();
    s.node = addrName(node.self());
    s.name = name;
    s.state = controlStateName(node.state());
    s.role = controlRoleName(node.role());
    s.ringEpoch = v.ringEpoch;
    s.viewVersion = v.viewVersion;
    s.master = addrName(v.master);
    s.dispatcher = addrName(v.dispatcher);
    s.uptimeMs = uptimeMs;
    s.pid = pid;
    for (const tb::Member &m : v.members)
        s.members.append(memberOf(m, node.self(), name));
    for (const tb::Member &m : v.observers)
        s.observers.append(memberOf(m, node.self(), name));
    s.counters = ControlCounters::fromCore(node.counters());
    return s;
}

QJsonObject ControlStatus::toJson() const
{
    QJsonObject o{
        {QStringLiteral("node"), node},
        {QStringLiteral("name"), name},
        {QStringLiteral("state"), state},
        {QStringLiteral("role"), role},
        {QStringLiteral("ringEpoch"), qint64(ringEpoch)},
        {QStringLiteral("viewVersion"), qint64(viewVersion)},
        {QStringLiteral("master"), master},
        {QStringLiteral("dispatcher"), dispatcher},
        {QStringLiteral("uptimeMs"), uptimeMs},
        {QStringLiteral("pid"), pid},
        {QStringLiteral("members"), membersJson(members)},
        {QStringLiteral("observers"), membersJson(observers)},
        {QStringLiteral("counters"), counters.toJson()},
    };
    if (!dispatcherStats.isEmpty())
        o.insert(QStringLiteral("dataPath"), dispatcherStats);
    if (!services.isEmpty())
        o.insert(QStringLiteral("services"), services);
    if (!admin.isEmpty())
        o.insert(QStringLiteral("admin"), admin);
    if (!transport.isEmpty())
        o.insert(QStringLiteral("transport"), transport);
    if (!dispatch.isEmpty())
        o.insert(QStringLiteral("dispatch"), dispatch);
    if (!reload.isEmpty())
        o.insert(QStringLiteral("reload"), reload);
    if (!notify.isEmpty())
        o.insert(QStringLiteral("notify"), notify);
    if (!metrics.isEmpty())
        o.insert(QStringLiteral("metrics"), metrics);
    return o;
}

ControlStatus ControlStatus::fromJson(const QJsonObject &o)
{
    ControlStatus s;
    s.node = o.value(QLatin1String("node")).toString();
    s.name = o.value(QLatin1String("name")).toString();
    s.state = o.value(QLatin1String("state")).toString();
    s.role = o.value(QLatin1String("role")).toString();
    s.ringEpoch = quint32(u64(o, "ringEpoch"));
    s.viewVersion = quint32(u64(o, "viewVersion"));
    s.master = o.value(QLatin1String("master")).toString();
    s.dispatcher = o.value(QLatin1String("dispatcher")).toString();
    s.uptimeMs = o.value(QLatin1String("uptimeMs")).toInteger();
    s.pid = o.value(QLatin1String("pid")).toInteger();
    s.members = membersFromJson(o.value(QLatin1String("members")).toArray());
    s.observers = membersFromJson(o.value(QLatin1String("observers")).toArray());
    s.counters = ControlCounters::fromJson(o.value(QLatin1String("counters")).toObject());
    s.dispatcherStats = o.value(QLatin1String("dataPath")).toObject();
    s.services = o.value(QLatin1String("services")).toArray();
    s.admin = o.value(QLatin1String("admin")).toObject();
    s.transport = o.value(QLatin1String("transport")).toObject();
    s.dispatch = o.value(QLatin1String("dispatch")).toObject();
    s.reload = o.value(QLatin1String("reload")).toObject();
    s.notify = o.value(QLatin1String("notify")).toObject();
    s.metrics = o.value(QLatin1String("metrics")).toObject();
    return s;
}

ControlEvent ControlEvent::fromCore(const tb::Event &e, qint64 wallMs)
{
    ControlEvent c;
    c.monoUs = e.at.count();
    c.wallMs = wallMs;
    c.kind = controlEventKindName(e.kind);
    c.node = addrName(e.node);
    c.role = controlRoleName(e.role);
    c.detail = e.detail;
    if (c.detail.isEmpty() && e.kind == Kind::DatagramDropped)
        c.detail = QStringLiteral("%1 from %2").arg(controlDropReasonName(e.dropReason), endpointName(e.from));
    return c;
}

QJsonObject ControlEvent::toJson() const
{
    return QJsonObject{
        {QStringLiteral("monoUs"), monoUs},
        {QStringLiteral("wallMs"), wallMs},
        {QStringLiteral("kind"), kind},
        {QStringLiteral("node"), node},
        {QStringLiteral("role"), role},
        {QStringLiteral("detail"), detail},
    };
}

ControlEvent ControlEvent::fromJson(const QJsonObject &o)
{
    ControlEvent e;
    e.monoUs = o.value(QLatin1String("monoUs")).toInteger();
    e.wallMs = o.value(QLatin1String("wallMs")).toInteger();
    e.kind = o.value(QLatin1String("kind")).toString();
    e.node = o.value(QLatin1String("node")).toString();
    e.role = o.value(QLatin1String("role")).toString();
    e.detail = o.value(QLatin1String("detail")).toString();
    return e;
}

QJsonObject ControlRequest::toJson() const
{
    static_assert(std::size(kCommands) == std::size_t(Command::Reload) + 1);
    Q_ASSERT(kCommands[int(command)].second == command);
    QJsonObject o{{QStringLiteral("cmd"), QLatin1String(kCommands[int(command)].first)}};
    if (command == Command::Events || command == Command::Connections)
        o.insert(QStringLiteral("limit"), limit);
    if (command == Command::Fault) {
        o.insert(QStringLiteral("target"), ipv4ToString(faultTarget));
        o.insert(QStringLiteral("action"), faultActionName(faultAction));
        o.insert(QStringLiteral("durationMs"), qint64(faultDurationMs));
        o.insert(QStringLiteral("onlyIfDispatcher"), faultOnlyIfDispatcher);
    }
    if (isAdmin())
        o.insert(QStringLiteral("target"), ipv4ToString(adminTarget));
    if (command == Command::Weight && adminClearWeight)
        o.insert(QStringLiteral("clear"), true);
    else if (command == Command::Weight)
        o.insert(QStringLiteral("weight"), qint64(adminWeight));
    if (command == Command::Handover && handoverTarget != 0)
        o.insert(QStringLiteral("target"), ipv4ToString(handoverTarget));
    return o;
}

AdminAction ControlRequest::adminAction() const
{
    return command == Command::Undrain ? AdminAction::Undrain
         : command == Command::Weight  ? AdminAction::Weight
                                       : AdminAction::Drain;
}

std::optional<ControlRequest> parseControlRequest(const QByteArray &line, QString *error)
{
    const auto fail = [error](const QString &m) {
        if (error)
            *error = m;
        return std::nullopt;
    };
    if (line.size() > kMaxRequestLine)
        return fail(QStringLiteral("request longer than %1 bytes").arg(kMaxRequestLine));
    if (line.trimmed().isEmpty())
        return fail(QStringLiteral("empty request; send one JSON object per line, like {\"cmd\":\"status\"}"));
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(line, &pe);
    if (pe.error != QJsonParseError::NoError)
        return fail(QStringLiteral("bad JSON at offset %1: %2").arg(pe.offset).arg(pe.errorString()));
    if (!doc.isObject())
        return fail(QStringLiteral("request must be a JSON object like {\"cmd\":\"status\"}"));
    const QJsonObject o = doc.object();
    const QJsonValue cmdValue = o.value(QLatin1String("cmd"));
    if (cmdValue.isUndefined())
        return fail(QStringLiteral("missing \"cmd\"; send {\"cmd\":\"status\"} or another command: %1").arg(commandList()));
    if (!cmdValue.isString())
        return fail(QStringLiteral("\"cmd\" must be a string; got %1; accepted: %2").arg(jsonTypeName(cmdValue), commandList()));
    const QString cmd = cmdValue.toString();
    ControlRequest r;
    bool found = false;
    for (const auto &[name, c] : kCommands) {
        if (cmd == QLatin1String(name)) {
            r.command = c;
            found = true;
        }
    }
    if (!found)
        return fail(QStringLiteral("unknown command \"%1\"; accepted: %2").arg(cmd, commandList()));
    if (o.contains(QLatin1String("limit"))) {
        const QJsonValue v = o.value(QLatin1String("limit"));
        const qint64 n = v.toInteger(-1);
        const int max = r.command == ControlRequest::Command::Connections ? kMaxConnectionLimit : kMaxEventLimit;
        if (!v.isDouble() || n < 1 || n > max)
            return fail(QStringLiteral("limit must be an integer in 1..%1").arg(max));
        r.limit = int(n);
    }
    if (r.command == ControlRequest::Command::Fault && !parseFaultArguments(o, r, error))
        return std::nullopt;
    if (r.command == ControlRequest::Command::Handover && o.contains(QLatin1String("target"))) {
        const auto target = parseIpv4(o.value(QLatin1String("target")).toString());
        if (!target)
            return fail(QStringLiteral("handover: \"target\" must be a node's IPv4 address like \"127.0.0.3\" (or left out: the ring's next choice)"));
        r.handoverTarget = *target;
    }
    if (r.isAdmin() && !parseAdminArguments(o, r, error))
        return std::nullopt;
    return r;
}

QByteArray controlLine(const QJsonObject &o)
{
    return QJsonDocument(o).toJson(QJsonDocument::Compact) + '\n';
}

QJsonObject controlError(const QString &message)
{
    return QJsonObject{{QStringLiteral("error"), message}};
}

} // namespace sasha
