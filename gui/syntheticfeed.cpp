#include "syntheticfeed.h"

#include <QDateTime>
#include <QJsonArray>

namespace sasha::console {

namespace {
// LAN timers (tokenbeat/types.h): a crash is noticed after the token timeout, the ring re-forms
// after the reform interval, the dispatcher is elected right after, reconstruction follows.
constexpr qint64 kDetectUs = 140'000 + 9'000;
constexpr qint64 kReformUs = 40'000 + 6'000;
constexpr qint64 kElectUs = 1'500;
constexpr qint64 kFirstPacketUs = 4'000;
constexpr qint64 kReconstructUs = 38'000;
constexpr qint64 kStepUs = 10'000;
} // namespace

SyntheticFeed::SyntheticFeed(Options options, QObject *parent)
    : ClusterFeed(parent), m_options(options), m_rng(options.seed), m_alive(std::size_t(options.nodes), true),
      m_opened(std::size_t(options.nodes), 0), m_cps(std::size_t(options.nodes), 0)
{
    m_dispatcher = addrOf(0);
    m_secondStartUs = m_now;
    rebuildView();
    connect(&m_live, &QTimer::timeout, this, [this] {
        const qint64 ms = m_liveClock.elapsed();
        advance((ms - m_liveLastMs) * 1000);
        m_liveLastMs = ms;
    });
}

QString SyntheticFeed::describe() const
{
    return QStringLiteral("synthetic cluster of %1 nodes (demo)").arg(m_options.nodes);
}

void SyntheticFeed::startLive(int periodMs)
{
    m_liveClock.start();
    m_liveLastMs = 0;
    m_live.start(periodMs);
}

void SyntheticFeed::at(qint64 whenUs, std::function<void()> action) { m_schedule.emplace(whenUs, std::move(action)); }

void SyntheticFeed::emitEvent(const QString &kind, tb::NodeAddr node, const QString &detail)
{
    ControlEvent e;
    e.monoUs = m_now;
    e.wallMs = QDateTime::currentMSecsSinceEpoch();
    e.kind = kind;
    e.node = ipToString(node);
    e.detail = detail;
    Q_EMIT eventOccurred(e);
}

tb::NodeAddr SyntheticFeed::pickServer(quint64 key) const
{
    // Servers: alive nodes other than the dispatcher (the last node alive serves alone).
    std::vector<tb::NodeAddr> servers;
    for (int i = 0; i < m_options.nodes; ++i)
        if (m_alive[std::size_t(i)] && addrOf(i) != m_dispatcher)
            servers.push_back(addrOf(i));
    if (servers.empty())
        return m_dispatcher;
    return servers[std::size_t((key * 0x9E3779B97F4A7C15ull) >> 40) % servers.size()];
}

void SyntheticFeed::rebuildView()
{
    tb::RingView v = m_view;
    v.members.clear();
    v.dispatcher = m_dispatcher;
    QHash<tb::NodeAddr, quint32> conns;
    for (const auto &f : std::as_const(m_flows))
        ++conns[f.record.server];
    for (int i = 0; i < m_options.nodes; ++i) {
        if (!m_alive[std::size_t(i)])
            continue;
        tb::Member m;
        m.addr = addrOf(i);
        m.endpoint = {m.addr, 7400};
        m.caps = tb::kCanDispatch | tb::kCanServe;
        const bool disp = m.addr == m_dispatcher;
        m.status = {disp ? tb::Role::Dispatcher : tb::Role::Server, tb::Health::Healthy, conns.value(m.addr),
                    m_cps[std::size_t(i)]};
        v.members.push_back(m);
    }
    v.master = v.members.empty() ? tb::kNoNode : v.members.front().addr;
    tb::Member observer;
    observer.addr = 0x0a0000fe;
    observer.endpoint = {observer.addr, 7400};
    observer.caps = tb::kObserver;
    v.observers = {observer};
    m_view = v;
}

void SyntheticFeed::prefill(int flows)
{
    for (int i = 0; i < flows; ++i) {
        const quint32 c = m_nextClient++;
        FlowRecord r{0xc0a80000u | (c >> 16), quint16(c & 0xffff), tb::kNoNode, FlowRecord::State::Established, 0};
        r.server = pickServer(r.key());
        const double lifetime = m_options.meanLifetimeS * 2 * m_rng.generateDouble();
        const double age = lifetime * m_rng.generateDouble();
        r.startUs = m_now - qint64(age * 1e6);
        const qint64 end = r.startUs + qint64(lifetime * 1e6);
        m_flows.insert(r.key(), {r, end});
        m_endings.emplace(end, r.key());
        m_outgoing.append(r);
    }
    flushFlows();
}

void SyntheticFeed::openFlows(qint64 fromUs, qint64 toUs)
{
    if (!m_ringWhole && m_dispatcher == tb::kNoNode)
        return;
    m_carry += m_options.cps * double(toUs - fromUs) / 1e6;
    const int n = int(m_carry);
    m_carry -= n;
    for (int i = 0; i < n; ++i) {
        const quint32 c = m_nextClient++;
        FlowRecord r{0xc0a80000u | ((c >> 16) & 0xffff), quint16(c & 0xffff), tb::kNoNode, FlowRecord::State::Established, toUs};
        r.server = pickServer(r.key());
        const qint64 end = toUs + qint64(m_options.meanLifetimeS * 2 * m_rng.generateDouble() * 1e6);
        m_flows.insert(r.key(), {r, end});
        m_endings.emplace(end, r.key());
        m_outgoing.append(r);
        for (int k = 0; k < m_options.nodes; ++k)
            if (addrOf(k) == r.server)
                ++m_opened[std::size_t(k)];
    }
}

void SyntheticFeed::closeFlows()
{
    while (!m_endings.empty() && m_endings.begin()->first <= m_now) {
        const quint64 key = m_endings.begin()->second;
        m_endings.erase(m_endings.begin());
        auto it = m_flows.find(key);
        if (it == m_flows.end() || it->endUs > m_now)
            continue;
        FlowRecord r = it->record;
        r.state = FlowRecord::State::Closed;
        m_outgoing.append(r);
        m_flows.erase(it);
    }
}

void SyntheticFeed::flushFlows()
{
    if (m_outgoing.isEmpty())
        return;
    Q_EMIT flowsChanged(m_outgoing);
    m_outgoing.clear();
}

// The dispatcher's status as its control socket's watch stream sends it each second, reduced to
// what the Services tab reads: one TCP service on 10.0.0.200:80 in L4/2 with the cluster's rate.
void SyntheticFeed::emitDispatcherStatus()
{
    if (m_dispatcher == tb::kNoNode || !m_ringWhole)
        return;
    quint64 cps = 0;
    for (quint32 c : m_cps)
        cps += c;
    m_newFlowsTotal += cps;
    const QString self = ipToString(m_dispatcher);
    const QJsonObject service{
        {QStringLiteral("vip"), QStringLiteral("10.0.0.200")},
        {QStringLiteral("protocol"), QStringLiteral("tcp")},
        {QStringLiteral("ports"), QJsonArray{QStringLiteral("80")}},
        {QStringLiteral("mode"), QStringLiteral("dr")},
        {QStringLiteral("scheduler"), QStringLiteral("maglev")},
        {QStringLiteral("persistenceS"), 0},
        {QStringLiteral("legacy"), false},
        {QStringLiteral("newFlows"), qint64(m_newFlowsTotal)},
        {QStringLiteral("cps"), qint64(cps)},
    };
    Q_EMIT statusReported(QJsonObject{{QStringLiteral("node"), self},
                                      {QStringLiteral("dispatcher"), self},
                                      {QStringLiteral("services"), QJsonArray{service}}});
}

void SyntheticFeed::advance(qint64 us)
{
    const qint64 end = m_now + std::max<qint64>(0, us);
    while (m_now < end) {
        const qint64 next = std::min(end, m_now + kStepUs);
        while (!m_schedule.empty() && m_schedule.begin()->first <= next) {
            auto node = m_schedule.extract(m_schedule.begin());
            m_now = std::max(m_now, node.key());
            node.mapped()();
        }
        openFlows(m_now, next);
        m_now = next;
        closeFlows();
        if (m_now - m_secondStartUs >= 1'000'000) {
            m_cps = m_opened;
            std::fill(m_opened.begin(), m_opened.end(), 0);
            m_secondStartUs = m_now;
            emitDispatcherStatus();
        }
        if (m_ringWhole && m_now - m_lastViewUs >= m_options.viewIntervalUs) {
            m_lastViewUs = m_now;
            rebuildView();
            Q_EMIT viewChanged(m_view);
        }
    }
    flushFlows();
}

void SyntheticFeed::crash(tb::NodeAddr node)
{
    int idx = -1;
    for (int i = 0; i < m_options.nodes; ++i)
        if (addrOf(i) == node)
            idx = i;
    if (idx < 0 || !m_alive[std::size_t(idx)])
        return;
    m_alive[std::size_t(idx)] = false;
    const bool wasDispatcher = node == m_dispatcher;
    const qint64 t0 = m_now;
    // The flows of a dead server die with it (their clients see resets or time out).
    for (auto it = m_flows.begin(); it != m_flows.end();) {
        if (it->record.server == node) {
            FlowRecord r = it->record;
            r.state = FlowRecord::State::Closed;
            m_outgoing.append(r);
            it = m_flows.erase(it);
        } else {
            ++it;
        }
    }
    if (wasDispatcher)
        m_dispatcher = tb::kNoNode;
    // Who notices: the node after the dead one in the ring.
    tb::NodeAddr observerOfFault = tb::kNoNode;
    for (int k = 1; k <= m_options.nodes && observerOfFault == tb::kNoNode; ++k)
        if (m_alive[std::size_t((idx + k) % m_options.nodes)])
            observerOfFault = addrOf((idx + k) % m_options.nodes);
    if (observerOfFault == tb::kNoNode)
        return;
    at(t0 + kDetectUs, [this, observerOfFault] {
        m_ringWhole = false;
        emitEvent(QStringLiteral("token-timeout"), observerOfFault, QStringLiteral("no token for 140 ms"));
        emitEvent(QStringLiteral("purge-started"), observerOfFault);
    });
    at(t0 + kDetectUs + kReformUs, [this, node] {
        m_ringWhole = true;
        rebuildView();
        ++m_view.ringEpoch;
        emitEvent(QStringLiteral("ring-formed"), m_view.master, QStringLiteral("epoch %1").arg(m_view.ringEpoch));
        emitEvent(QStringLiteral("member-lost"), node);
        Q_EMIT viewChanged(m_view);
    });
    if (!wasDispatcher)
        return;
    const qint64 elect = t0 + kDetectUs + kReformUs + kElectUs;
    at(elect, [this] {
        for (int i = 0; i < m_options.nodes; ++i)
            if (m_alive[std::size_t(i)]) {
                m_dispatcher = addrOf(i);
                break;
            }
        rebuildView();
        emitEvent(QStringLiteral("dispatcher-elected"), m_dispatcher);
        Q_EMIT viewChanged(m_view);
        Q_EMIT flowMapReset(m_dispatcher);
    });
    at(elect + kFirstPacketUs, [this] { emitEvent(kKindFirstPacket, m_dispatcher); });
    at(elect + kReconstructUs, [this] {
        // The new dispatcher learnt every surviving flow from the servers; the flows it now
        // serves itself as dispatcher move to the other servers' view of the world unchanged.
        for (const auto &f : std::as_const(m_flows))
            m_outgoing.append(f.record);
        emitEvent(kKindReconstructionDone, m_dispatcher, QStringLiteral("%1 flows").arg(m_flows.size()));
    });
}

void SyntheticFeed::restore(tb::NodeAddr node)
{
    for (int i = 0; i < m_options.nodes; ++i)
        if (addrOf(i) == node && !m_alive[std::size_t(i)]) {
            m_alive[std::size_t(i)] = true;
            emitEvent(QStringLiteral("member-joined"), node);
            rebuildView();
            Q_EMIT viewChanged(m_view);
        }
}

bool SyntheticFeed::sendFault(const FaultCommand &cmd, QString *error)
{
    if ((cmd.flags & kOnlyIfDispatcher) && cmd.target != m_dispatcher) {
        if (error)
            *error = QStringLiteral("%1 is not the dispatcher").arg(ipToString(cmd.target));
        return false;
    }
    switch (cmd.action) {
    case FaultAction::Crash: crash(cmd.target); break;
    case FaultAction::Hang:
    case FaultAction::Unplug:
        crash(cmd.target);
        at(m_now + qint64(cmd.durationMs) * 1000, [this, t = cmd.target] { restore(t); });
        break;
    case FaultAction::Restore: restore(cmd.target); break;
    case FaultAction::Drain: break;
    }
    const FaultReply reply{cmd.action, FaultResult::Accepted, cmd.commandId, cmd.target, {}};
    QTimer::singleShot(0, this, [this, reply] { Q_EMIT faultReplied(reply.target, reply); });
    return true;
}

bool SyntheticFeed::sendAdmin(const AdminCommand &cmd, QString *)
{
    AdminReport &r = m_adminReports[cmd.target];
    switch (cmd.action) {
    case AdminAction::Drain: r.drained = true; break;
    case AdminAction::Undrain: r.drained = false; break;
    case AdminAction::Weight: r.weight = cmd.weight; break;
    }
    const AdminReply reply{cmd.action, AdminResult::Accepted, cmd.commandId, cmd.target, {}};
    QTimer::singleShot(0, this, [this, reply, report = r] {
        Q_EMIT adminReplied(reply.target, reply);
        Q_EMIT adminReported(reply.target, report);
    });
    return true;
}

} // namespace sasha::console
