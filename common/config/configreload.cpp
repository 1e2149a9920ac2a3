#include "config/configreload.h"

#include <chrono>
#include <functional>
#include <set>

namespace sasha {
namespace {

enum class Part { None, LogRules, Health, Weights, Notify, Other };

struct Row {
    const char *name;
    Part live; // Part::None: cannot change without a restart
    std::function<QString(const NodeSettings &)> print;
    // Live rows only: copy the key's value from `from` into `to`.
    std::function<void(NodeSettings &to, const NodeSettings &from)> copy;
};

QString q(const QString &s) { return QLatin1Char('"') + s + QLatin1Char('"'); }
QString num(qint64 v) { return QString::number(v); }
QString yesNo(bool b) { return b ? QStringLiteral("true") : QStringLiteral("false"); }
QString path(const QString &p) { return p.isEmpty() ? QStringLiteral("none") : q(p); }
QString ms(tb::Time t) { return num(std::chrono::duration_cast<std::chrono::milliseconds>(t).count()); }
QString endpoint(const tb::Endpoint &e) { return QStringLiteral("%1:%2").arg(ipv4ToString(e.ip)).arg(e.port); }

QString caps(quint8 c)
{
    QStringList out;
    if (c & tb::kCanDispatch)
        out << q(QStringLiteral("dispatch"));
    if (c & tb::kCanServe)
        out << q(QStringLiteral("serve"));
    if (c & tb::kObserver)
        out << q(QStringLiteral("observer"));
    return QLatin1Char('[') + out.join(QStringLiteral(", ")) + QLatin1Char(']');
}

QString seeds(const std::vector<tb::Endpoint> &v)
{
    QStringList out;
    for (const tb::Endpoint &e : v)
        out << q(endpoint(e));
    return QLatin1Char('[') + out.join(QStringLiteral(", ")) + QLatin1Char(']');
}

QString ports(const std::vector<quint16> &v)
{
    QStringList out;
    for (quint16 p : v)
        out << num(p);
    return QLatin1Char('[') + out.join(QStringLiteral(", ")) + QLatin1Char(']');
}

QString scheduler(SchedulerKind k)
{
    switch (k) {
    case SchedulerKind::Maglev: return q(QStringLiteral("maglev"));
    case SchedulerKind::WeightedLeastConnections: return q(QStringLiteral("wlc"));
    case SchedulerKind::RoundRobin: return q(QStringLiteral("rr"));
    }
    return {};
}

QString injector(DispatcherSettings::Injector i)
{
    switch (i) {
    case DispatcherSettings::Injector::AfPacket: return q(QStringLiteral("afpacket"));
    case DispatcherSettings::Injector::TxRing: return q(QStringLiteral("tx-ring"));
    case DispatcherSettings::Injector::Pcap: return q(QStringLiteral("pcap"));
    }
    return {};
}

QString logTarget(LogTarget t)
{
    switch (t) {
    case LogTarget::Auto: return q(QStringLiteral("auto"));
    case LogTarget::Journal: return q(QStringLiteral("journal"));
    case LogTarget::Stderr: return q(QStringLiteral("stderr"));
    }
    return {};
}

QString weights(const std::map<quint32, quint32> &w)
{
    QStringList out;
    for (const auto &[addr, weight] : w)
        out << QStringLiteral("%1 = %2").arg(q(ipv4ToString(addr))).arg(weight);
    return QStringLiteral("{ ") + out.join(QStringLiteral(", ")) + QStringLiteral(" }");
}

// The key file's path, and whether the key in it is the running one: the key itself is never
// printed, not even in a refusal.
QString keyFile(const NodeSettings &s, const NodeSettings *other)
{
    if (other && other->keyFile == s.keyFile && other->key != s.key)
        return QStringLiteral("%1 (another key)").arg(q(s.keyFile));
    return q(s.keyFile);
}

template <typename T>
std::function<void(NodeSettings &, const NodeSettings &)> field(T NodeSettings::*m)
{
    return [m](NodeSettings &to, const NodeSettings &from) { to.*m = from.*m; };
}
template <typename S, typename T>
std::function<void(NodeSettings &, const NodeSettings &)> field(S NodeSettings::*section, T S::*m)
{
    return [section, m](NodeSettings &to, const NodeSettings &from) { (to.*section).*m = (from.*section).*m; };
}

// "10.77.0.200 tcp 80, 8000-8010 dr maglev 0s; ..." (the [[service]] tables, with their mode), or "none".
QString services(const std::vector<ServiceSettings> &list)
{
    QStringList out;
    for (const ServiceSettings &svc : list)
        if (!svc.fromLegacyKeys) // those have their own rows: [dispatcher] vip, ports, scheduler
            out << QStringLiteral("%1 %2 %3 %4 %5 %6s").arg(ipv4ToString(svc.vip), svc.protocolName(), svc.portsText(),
                                                           svc.modeName(), schedulerText(svc.scheduler)).arg(svc.persistenceS);
    return out.isEmpty() ? QStringLiteral("none") : q(out.join(QStringLiteral("; ")));
}

// "service 1: { "10.77.0.3" = 0 }; service 2: { }" over the [[service]] tables that have weights.
QString serviceWeights(const std::vector<ServiceSettings> &list)
{
    QStringList out;
    for (std::size_t i = 0; i < list.size(); ++i)
        if (!list[i].weights.empty())
            out << QStringLiteral("service %1: %2").arg(i + 1).arg(weights(list[i].weights));
    return out.isEmpty() ? QStringLiteral("none") : out.join(QStringLiteral("; "));
}

// Only called when no row refused, so both lists hold the same services in the same order.
// Writes only each service's `weights` (the list is not resized): the data-path worker
// (DispatcherService::open) reads the services' other members meanwhile, and publish() reads the
// weights on this same thread.
void copyServiceWeights(NodeSettings &to, const NodeSettings &from)
{
    std::vector<ServiceSettings> &a = to.dispatcher.services;
    const std::vector<ServiceSettings> &b = from.dispatcher.services;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
        a[i].weights = b[i].weights;
}

const std::vector<Row> &rows()
{
    using N = NodeSettings;
    using D = DispatcherSettings;
    using H = HealthSettings;
    using F = NotifySettings;
    static const std::vector<Row> r = {
        {"[node] address", Part::None, [](const N &s) { return q(ipv4ToString(s.address)); }, {}},
        {"[node] interface", Part::None, [](const N &s) { return q(s.interfaceName); }, {}},
        {"[node] port", Part::None, [](const N &s) { return num(s.port); }, {}},
        {"[node] capabilities", Part::None, [](const N &s) { return caps(s.caps); }, {}},
        {"[node] control_socket", Part::None, [](const N &s) { return q(s.controlSocket); }, {}},
        {"[node] state_file", Part::None, [](const N &s) { return q(s.stateFile); }, {}},
        {"[node] receive_buffer_kb", Part::None, [](const N &s) { return num(s.receiveBufferKb); }, {}},
        {"[node] nice", Part::None, [](const N &s) { return num(s.nice); }, {}},
        {"[node] name", Part::Other, [](const N &s) { return q(s.name); }, field(&N::name)},
        {"[cluster] key_file", Part::None, [](const N &s) { return keyFile(s, nullptr); }, {}},
        {"[cluster] seeds", Part::None, [](const N &s) { return seeds(s.seeds); }, {}},
        {"[cluster] broadcast", Part::None,
         [](const N &s) { return s.broadcast ? q(endpoint(*s.broadcast)) : QStringLiteral("none"); }, {}},
        {"[timers] preset", Part::None, [](const N &s) { return q(s.preset); }, {}},
        {"[timers] rotation_ms", Part::None, [](const N &s) { return ms(s.timers.rotationInterval); }, {}},
        {"[timers] token_timeout_ms", Part::None, [](const N &s) { return ms(s.timers.tokenTimeout); }, {}},
        {"[timers] reform_ms", Part::None, [](const N &s) { return ms(s.timers.reformInterval); }, {}},
        {"[timers] join_repeat_ms", Part::None, [](const N &s) { return ms(s.timers.joinRepeat); }, {}},
        {"[timers] beacon_ms", Part::None, [](const N &s) { return ms(s.timers.beaconInterval); }, {}},
        {"[timers] observer_timeout_ms", Part::None, [](const N &s) { return ms(s.timers.observerTimeout); }, {}},
        {"[log] rules", Part::LogRules, [](const N &s) { return q(s.logRules); }, field(&N::logRules)},
        {"[log] target", Part::None, [](const N &s) { return logTarget(s.logTarget); }, {}},
        {"[faults] enabled", Part::Other, [](const N &s) { return yesNo(s.faultsEnabled); }, field(&N::faultsEnabled)},
        {"[dispatcher] interface", Part::None, [](const N &s) { return q(s.dispatcher.interfaceName); }, {}},
        {"[dispatcher] vip", Part::None,
         [](const N &s) { return s.dispatcher.vip ? q(ipv4ToString(s.dispatcher.vip)) : QStringLiteral("none"); }, {}},
        {"[dispatcher] vmac", Part::None,
         [](const N &s) { return s.dispatcher.configured || s.dispatcher.vmac != std::array<quint8, 6>{}
                                     ? q(macToString(s.dispatcher.vmac)) : QStringLiteral("none"); }, {}},
        {"[dispatcher] ports", Part::None, [](const N &s) { return ports(s.dispatcher.ports); }, {}},
        {"[dispatcher] gateway", Part::None,
         [](const N &s) { return s.dispatcher.gateway ? q(ipv4ToString(s.dispatcher.gateway)) : QStringLiteral("none"); }, {}},
        {"[dispatcher] scheduler", Part::None, [](const N &s) { return scheduler(s.dispatcher.scheduler); }, {}},
        {"[dispatcher] injector", Part::None, [](const N &s) { return injector(s.dispatcher.injector); }, {}},
        {"[dispatcher] weights", Part::Weights, [](const N &s) { return weights(s.dispatcher.weights); },
         field(&N::dispatcher, &D::weights)},
        {"[dispatcher] announce_ms", Part::None, [](const N &s) { return num(s.dispatcher.announceMs); }, {}},
        {"[dispatcher] capture_buffer_mb", Part::None, [](const N &s) { return num(s.dispatcher.captureBufferMb); }, {}},
        {"[dispatcher] serve_while_dispatching", Part::None,
         [](const N &s) { return yesNo(s.dispatcher.serveWhileDispatching); }, {}},
        {"[dispatcher] max_flows", Part::None, [](const N &s) { return num(s.dispatcher.maxFlows); }, {}},
        {"[dispatcher] prepare", Part::None, [](const N &s) { return yesNo(s.dispatcher.prepare); }, {}},
        {"[dispatcher] batch_us", Part::None, [](const N &s) { return num(s.dispatcher.batchUs); }, {}},
        {"[dispatcher] cpu", Part::None, [](const N &s) { return num(s.dispatcher.cpu); }, {}},
        // Every service, one text: a changed, added or removed service needs a restart.
        {"[[service]]", Part::None, [](const N &s) { return services(s.dispatcher.services); }, {}},
        // ... except its weights, which are live like [dispatcher] weights.
        {"[[service]] weights", Part::Weights, [](const N &s) { return serviceWeights(s.dispatcher.services); },
         copyServiceWeights},
        {"[health] enabled", Part::Health, [](const N &s) { return yesNo(s.health.enabled); }, field(&N::health, &H::enabled)},
        {"[health] url", Part::Health, [](const N &s) { return q(s.health.url); }, field(&N::health, &H::url)},
        {"[health] interval_ms", Part::Health, [](const N &s) { return num(s.health.intervalMs); },
         field(&N::health, &H::intervalMs)},
        {"[health] timeout_ms", Part::Health, [](const N &s) { return num(s.health.timeoutMs); },
         field(&N::health, &H::timeoutMs)},
        {"[health] rise", Part::Health, [](const N &s) { return num(s.health.rise); }, field(&N::health, &H::rise)},
        {"[health] fall", Part::Health, [](const N &s) { return num(s.health.fall); }, field(&N::health, &H::fall)},
        {"[agent] dead_unacked_silence_ms", Part::None, [](const N &s) { return num(s.agent.deadUnackedSilenceMs); }, {}},
        {"[agent] dead_max_backoff", Part::None, [](const N &s) { return num(s.agent.deadMaxBackoff); }, {}},
        {"[agent] dead_max_probes", Part::None, [](const N &s) { return num(s.agent.deadMaxProbes); }, {}},
        {"[agent] dead_max_idle_ms", Part::None, [](const N &s) { return num(s.agent.deadMaxIdleMs); }, {}},
        {"[notify] role_change", Part::Notify, [](const N &s) { return path(s.notify.roleChange); },
         field(&N::notify, &F::roleChange)},
        {"[notify] member_joined", Part::Notify, [](const N &s) { return path(s.notify.memberJoined); },
         field(&N::notify, &F::memberJoined)},
        {"[notify] member_lost", Part::Notify, [](const N &s) { return path(s.notify.memberLost); },
         field(&N::notify, &F::memberLost)},
        {"[notify] health_change", Part::Notify, [](const N &s) { return path(s.notify.healthChange); },
         field(&N::notify, &F::healthChange)},
        {"[notify] script", Part::Notify, [](const N &s) { return path(s.notify.script); }, field(&N::notify, &F::script)},
        {"[notify] timeout_ms", Part::Notify, [](const N &s) { return num(s.notify.timeoutMs); },
         field(&N::notify, &F::timeoutMs)},
        {"[notify] queue", Part::Notify, [](const N &s) { return num(s.notify.queue); }, field(&N::notify, &F::queue)},
        // Not live yet: making it live means restarting the metrics listener where
        // SashaDaemon::applyReload says so.
        {"[metrics] listen", Part::None,
         [](const N &s) { return s.metrics.enabled ? q(endpoint({s.metrics.address, s.metrics.port})) : QStringLiteral("none"); },
         {}},
    };
    return r;
}

// "weight of 10.77.0.3: 1 -> 3" for every server whose configured weight differs (absent = 1).
void weightChanges(const std::map<quint32, quint32> &before, const std::map<quint32, quint32> &after, QStringList &out)
{
    std::map<quint32, std::pair<quint32, quint32>> diff;
    for (const auto &[addr, w] : before)
        diff[addr] = {w, 1};
    for (const auto &[addr, w] : after) {
        auto [it, inserted] = diff.try_emplace(addr, 1u, w);
        if (!inserted)
            it->second.second = w;
    }
    for (const auto &[addr, ws] : diff) {
        if (ws.first != ws.second)
            out << QStringLiteral("weight of %1: %2 -> %3").arg(ipv4ToString(addr)).arg(ws.first).arg(ws.second);
    }
}

// "service 2 (10.77.0.100 tcp 8080) weight of 10.77.0.3: 1 -> 0" for every server listed in a
// service's weights before or after whose weight in that service differs; an unlisted server has
// its cluster weight ([dispatcher] weights, absent = 1), so listing it with that weight is no change.
void serviceWeightChanges(const DispatcherSettings &before, const DispatcherSettings &after, QStringList &out)
{
    const std::map<quint32, quint32> noOperator;
    for (std::size_t i = 0; i < before.services.size() && i < after.services.size(); ++i) {
        const ServiceSettings &a = before.services[i];
        const ServiceSettings &b = after.services[i];
        std::set<quint32> servers;
        for (const auto &[addr, w] : a.weights)
            servers.insert(addr);
        for (const auto &[addr, w] : b.weights)
            servers.insert(addr);
        for (const quint32 addr : servers) {
            const auto wa = a.weights.find(addr);
            const auto wb = b.weights.find(addr);
            const quint32 from = wa != a.weights.end() ? wa->second : clusterWeight(before, noOperator, addr);
            const quint32 to = wb != b.weights.end() ? wb->second : clusterWeight(after, noOperator, addr);
            if (from != to)
                out << QStringLiteral("service %1 (%2 %3 %4) weight of %5: %6 -> %7")
                           .arg(i + 1)
                           .arg(ipv4ToString(b.vip), b.protocolName(), b.portsText(), ipv4ToString(addr))
                           .arg(from)
                           .arg(to);
        }
    }
}

} // namespace

const std::vector<ReloadKey> &reloadKeys()
{
    static const std::vector<ReloadKey> keys = [] {
        std::vector<ReloadKey> out;
        for (const Row &r : rows())
            out.push_back({QString::fromLatin1(r.name), r.live != Part::None});
        return out;
    }();
    return keys;
}

QString ReloadRefusal::toString() const
{
    return QStringLiteral("%1 cannot change without a restart: %2 -> %3").arg(key, oldValue, newValue);
}

QString ReloadPlan::refusalText() const
{
    QStringList lines;
    for (const ReloadRefusal &r : refusals)
        lines << r.toString();
    return lines.join(QStringLiteral("; "));
}

ReloadPlan planReload(const NodeSettings &running, const NodeSettings &next)
{
    ReloadPlan plan;
    for (const Row &r : rows()) {
        QString before = r.print(running);
        QString after = r.print(next);
        // The same key file with another key in it: a change, named without printing the key.
        if (QLatin1String(r.name) == QLatin1String("[cluster] key_file") && running.key != next.key)
            after = keyFile(next, &running);
        if (before == after)
            continue;
        if (r.live == Part::None) {
            plan.refusals.push_back({QString::fromLatin1(r.name), before, after});
            continue;
        }
        switch (r.live) {
        case Part::LogRules: plan.logRules = true; break;
        case Part::Health: plan.health = true; break;
        case Part::Weights: plan.weights = true; break;
        case Part::Notify: plan.notify = true; break;
        case Part::Other:
        case Part::None: plan.other = true; break;
        }
        if (QLatin1String(r.name) == QLatin1String("[dispatcher] weights"))
            weightChanges(running.dispatcher.weights, next.dispatcher.weights, plan.changes);
        else if (QLatin1String(r.name) == QLatin1String("[[service]] weights"))
            serviceWeightChanges(running.dispatcher, next.dispatcher, plan.changes);
        else
            plan.changes << QStringLiteral("%1: %2 -> %3").arg(QLatin1String(r.name), before, after);
    }
    return plan;
}

void applyReloadable(NodeSettings &running, const NodeSettings &next)
{
    for (const Row &r : rows()) {
        if (r.live != Part::None && r.copy)
            r.copy(running, next);
    }
}

} // namespace sasha
