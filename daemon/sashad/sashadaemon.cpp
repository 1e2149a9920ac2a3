#include "sashadaemon.h"
#include "timedapplication.h"

#include "agent/flowtransfer.h"

#include "config/hostnetwork.h"
#include "config/logcategories.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QLoggingCategory>
#include <QJsonArray>

#include <memory>

namespace sasha {
namespace {
constexpr int kLeaveBudgetMs = 1000;
// Planned handover: once the successor has our flows, keep forwarding what still arrives until the
// switch has moved the VMAC to the successor (no frame forwarded for kHandoverQuietMs: the
// successor's own announcements, captured too, do not count), at most kHandoverMaxMs; a stopping
// node leaves the ring after that.
constexpr int kHandoverPollMs = 20;
// Before leaving: how long to wait for the ring to elect the successor once this node gave up the
// dispatch capability, and then for the successor to say it has announced the VMAC (it has our
// flow table then; it announces at the latest 500 ms after its takeover).
constexpr int kHandoverElectMs = 1500;
constexpr int kHandoverAnnouncedMs = 1500;
constexpr int kHandoverQuietMs = 200;
constexpr int kHandoverMaxMs = 2000;
// Then the packet thread is asked to end, and joined once it has (polled every kHandoverPollMs),
// or after this long anyway.
constexpr int kPacketThreadEndMaxMs = 1000;
// Each closed-since list (the first and the last), copied, sent and acknowledged (a few ms;
// bounded for a busy machine).
constexpr int kClosedSinceMaxMs = 500;
// `sashactl handover NODE`: how long the other capable members stand aside at most, and how long
// the dispatcher waits for the view to show them without the capability.
constexpr quint32 kStandAsideHoldMs = 8000;
constexpr int kStandAsideWaitMs = 1500;
constexpr qint64 kDropLogEveryMs = 5000;

FaultService::Effects daemonFaultEffects(AgentService &agent, DispatcherService &dispatcher)
{
    FaultService::Effects e = FaultService::processEffects();
    e.setDraining = [&agent](bool on) { agent.setDraining(AgentService::DrainReason::Fault, on); };
    e.pauseDataPath = [&dispatcher](bool on) { dispatcher.setSuspended(on); };
    return e;
}
AdminService::Io daemonAdminIo(RingDriver &driver, OobRouter &oob, AgentService &agent, DispatcherService &dispatcher)
{
    AdminService::Io io;
    io.send = [&oob](tb::NodeAddr to, quint8 channel, const QByteArray &payload, bool reliable) {
        oob.send(to, channel, payload, reliable);
    };
    io.view = [&driver] { return driver.isRunning() ? driver.node().view() : tb::RingView{}; };
    io.setDraining = [&agent](bool on) { agent.setDraining(AgentService::DrainReason::Operator, on); };
    io.setOperatorWeight = [&dispatcher](tb::NodeAddr server, quint32 weight) { dispatcher.setOperatorWeight(server, weight); };
    io.clearOperatorWeight = [&dispatcher](tb::NodeAddr server) { dispatcher.clearOperatorWeight(server); };
    io.openFlows = [&agent] { return agent.openFlows(); };
    return io;
}
} // namespace

SashaDaemon::SashaDaemon(NodeSettings settings, quint64 bootEpoch, QObject *parent)
    : QObject(parent),
      m_settings(std::move(settings)),
      m_driver(m_settings.toNodeConfig(bootEpoch)),
      m_control([this] { return status(); }, &m_log),
      m_oob(m_driver, m_settings.address),
      m_agent(m_settings, m_driver, m_oob),
      m_dispatcher(m_settings, m_driver, m_oob),
      m_faults(m_settings, m_driver, m_oob, daemonFaultEffects(m_agent, m_dispatcher)),
      m_admin(m_settings, daemonAdminIo(m_driver, m_oob, m_agent, m_dispatcher)),
      m_flowFeed(m_settings.address, [this](std::size_t limit) { return m_dispatcher.pollFeedFlows(limit); },
                 [this](tb::NodeAddr to, const QByteArray &payload, bool reliable) {
                     m_oob.send(to, kFlowFeedChannel, payload, reliable);
                 },
                 [] { return qint64(RingDriver::steadyNow().count() / 1000); }),
      m_eventFeed(m_settings.address, quint32(bootEpoch),
                  [this](tb::NodeAddr to, const QByteArray &payload, bool reliable) {
                      return m_oob.send(to, kEventFeedChannel, payload, reliable);
                  },
                  [] { return qint64(RingDriver::steadyNow().count()); }),
      m_notify(m_settings.notify),
      m_metricsServer([this] { return metricsSnapshot(); })
{
    m_control.setReloadFn([this](const ControlRequest &, const ControlServer::AnswerFn &answer) {
        reload(QStringLiteral("sashactl reload"), answer);
    });
    connect(&m_agent, &AgentService::healthChanged, this, [this](tb::Health h) {
        notify(QStringLiteral("health-changed"), m_settings.address,
               QStringLiteral("%1 (%2)").arg(tb::healthToString(h), m_settings.health.url), controlHealthName(h));
    });
    m_control.setConnectionsFn([this](int limit, const ControlServer::LineAnswerFn &answer) {
        m_dispatcher.connections(limit, answer);
    });
    m_control.setHandoverFn([this](const ControlRequest &r, const ControlServer::AnswerFn &answer) { handover(r, answer); });
    m_control.setFaultFn([this](const ControlRequest &r, const ControlServer::AnswerFn &answer) {
        m_faults.request(r, answer);
    });
    connect(&m_faults, &FaultService::logEvent, this, &SashaDaemon::logLocal);
    m_control.setAdminFn([this](const ControlRequest &r, const ControlServer::AnswerFn &answer) {
        m_admin.request(r, answer);
    });
    connect(&m_admin, &AdminService::logEvent, this, &SashaDaemon::logLocal);
    connect(&m_oob, &OobRouter::received, &m_admin, &AdminService::onOob);
    connect(&m_driver, &RingDriver::viewChanged, &m_admin, &AdminService::onViewChanged);
    connect(&m_driver, &RingDriver::stateChanged, &m_admin, &AdminService::onViewChanged);
    connect(&m_driver, &RingDriver::viewChanged, &m_dispatcher, &DispatcherService::onViewChanged);
    connect(&m_driver, &RingDriver::stateChanged, &m_dispatcher, &DispatcherService::onViewChanged);
    connect(&m_agent, &AgentService::logEvent, this,
            [this](const QString &kind, const QString &detail) { logLocal(kind, QString(), detail); });
    connect(&m_dispatcher, &DispatcherService::logEvent, this, &SashaDaemon::logLocal);
    connect(&m_dispatcher, &DispatcherService::runStarted, &m_flowFeed,
            [this](quint32 runId) { m_flowFeed.start(runId); });
    connect(&m_oob, &OobRouter::received, &m_flowFeed, [this](tb::NodeAddr from, quint8 channel, const QByteArray &payload) {
        if (channel == kFlowFeedChannel)
            m_flowFeed.onMessage(from, payload);
    });
    connect(&m_oob, &OobRouter::received, &m_eventFeed, [this](tb::NodeAddr from, quint8 channel, const QByteArray &payload) {
        if (channel == kEventFeedChannel)
            m_eventFeed.onMessage(from, payload);
    });
    connect(&m_dispatcher, &DispatcherService::runStopped, &m_flowFeed, &FlowFeedPublisher::stop);
    m_uptime.start();
    m_leaveDeadline.setSingleShot(true);
    connect(&m_leaveDeadline, &QTimer::timeout, this, [this] {
        qCWarning(lcRing, "leave did not complete within %d ms; exiting anyway", kLeaveBudgetMs);
        if (m_dispatcher.isHandingOver())
            finishHandover();
        else
            Q_EMIT finished(0);
    });
    connect(&m_driver, &RingDriver::eventOccurred, this, &SashaDaemon::onEvent);
    m_handoverStep.setSingleShot(true);
    connect(&m_handoverStep, &QTimer::timeout, this, [this] {
        qCInfo(lcRing, "%s", m_successor == tb::kNoNode ? "no successor elected in time; going on anyway"
                                                         : "the successor did not announce the VMAC in time; going on");
        successorHasOurFlows();
    });
    connect(&m_driver, &RingDriver::viewChanged, this, &SashaDaemon::onHandoverView);
    connect(&m_dispatcher, &DispatcherService::ableChanged, this, [this](bool able, const QString &) {
        m_driver.withdrawCapabilities(QStringLiteral("data path"), tb::kCanDispatch, !able);
    });
    connect(&m_dispatcher, &DispatcherService::dataNetworkConflict, this, [this](bool yielded, const QString &why) {
        m_driver.withdrawCapabilities(QStringLiteral("data network conflict"), tb::kCanDispatch, yielded);
        m_conflictReason = why;
    });
    connect(&m_dispatcher, &DispatcherService::standAsideRequested, this, &SashaDaemon::onStandAside);
    m_standAsideEnd.setSingleShot(true);
    connect(&m_standAsideEnd, &QTimer::timeout, this, [this] {
        m_driver.withdrawCapabilities(QStringLiteral("handover elsewhere"), tb::kCanDispatch, false);
    });
    m_closedSinceWait.setSingleShot(true);
    connect(&m_closedSinceWait, &QTimer::timeout, this, [this] {
        qCWarning(lcRing, "handover: the closed-since list was not delivered within %d ms; going on without it",
                  kClosedSinceMaxMs);
        afterClosedSince();
    });
        connect(&m_dispatcher, &DispatcherService::successorAnnounced, this, [this](tb::NodeAddr from) {
        if (m_successor != tb::kNoNode && from == m_successor && m_handoverStep.isActive())
            successorHasOurFlows();
    });
    connect(&m_driver, &RingDriver::stateChanged, this, &SashaDaemon::notifySystemd);
    connect(&m_driver, &RingDriver::viewChanged, this, &SashaDaemon::notifySystemd);
    connect(&m_driver, &RingDriver::stopped, this, [this] {
        if (m_shuttingDown) {
            qCInfo(lcRing, "left the ring");
            m_leaveDeadline.stop();
            if (m_dispatcher.isHandingOver())
                finishHandover();
            else
                Q_EMIT finished(0);
        }
    });
}

SashaDaemon::~SashaDaemon()
{
    m_reloadWorker.waitForDone(); // reading a file: short; its queued answer dies with this object
}

void SashaDaemon::notifySystemd()
{
    if (!m_driver.isRunning() || m_shuttingDown)
        return;
    const tb::TokenBeatNode &node = m_driver.node();
    const tb::NodeState state = node.state();
    const bool inRing = state == tb::NodeState::Member || state == tb::NodeState::Observing;
    QString line;
    if (inRing) {
        const tb::RingView &v = node.view();
        line = QStringLiteral("%1 in a ring of %2 (epoch %3), dispatcher %4")
                   .arg(controlRoleName(node.role()))
                   .arg(v.members.size())
                   .arg(v.ringEpoch)
                   .arg(v.dispatcher == tb::kNoNode ? QStringLiteral("none") : ipv4ToString(v.dispatcher));
    } else {
        line = QStringLiteral("%1 (no ring yet)").arg(tb::nodeStateToString(state));
    }
    if (inRing && !m_systemd.isReady())
        m_systemd.ready(line);
    else
        m_systemd.status(line);
}

std::optional<QString> SashaDaemon::start()
{
    m_driver.setReceiveBufferBytes(m_settings.receiveBufferKb * 1024);
    if (auto err = m_driver.bind())
        return err->message;
    if (auto err = m_control.listen(m_settings.controlSocket))
        return *err;
    if (auto err = applyMetricsSettings(m_settings.metrics))
        return *err;
    m_admin.loadState(); // a corrupt file is a warning: the node starts undrained
    if (m_systemd.beatEvery().count() > 0) {
        m_driver.setHeartbeat([this](tb::Time now) { m_systemd.beat(now); }, m_systemd.beatEvery());
        qCInfo(lcRing, "systemd watchdog: %lld ms, fed every %lld ms from the ring's thread",
               qint64(m_systemd.watchdogInterval().count() / 1000), qint64(m_systemd.beatEvery().count() / 1000));
    }
    if (auto err = m_driver.start())
        return err->message;
    m_agent.start();
    m_admin.start();
    if (m_settings.faultsEnabled)
        qCWarning(lcControl, "fault injection is enabled ([faults] enabled = true): lab use only");
    if (!m_settings.dispatcher.configured && (m_settings.caps & tb::kCanDispatch))
        qCWarning(lcRing, "no [dispatcher] vip/vmac configured: this node will not dispatch if elected");
    qCInfo(lcRing, "node %s%s started on %s, caps %s, %zu seeds",
           qPrintable(ipv4ToString(m_settings.address)),
           m_settings.name.isEmpty() ? "" : qPrintable(QStringLiteral(" (%1)").arg(m_settings.name)),
           qPrintable(QStringLiteral("%1:%2").arg(ipv4ToString(m_driver.localEndpoint().ip)).arg(m_driver.localEndpoint().port)),
           qPrintable(controlCapsName(m_settings.caps)), m_settings.seeds.size());
    return std::nullopt;
}

void SashaDaemon::shutdown()
{
    if (m_shuttingDown) {
        qCInfo(lcRing, "second stop request: exiting without waiting for the leave");
        Q_EMIT finished(0);
        return;
    }
    m_shuttingDown = true;
    m_systemd.stopping();
    // The dispatcher hands over instead of going dark when another member can take the role
    // (docs/dispatcher.md "Membership changes"): it gives up the dispatch capability but stays in
    // the ring, so the ring elects the successor while this node's agent can still report the
    // connections it serves itself; it forwards until the VMAC's frames stop coming here, sends
    // the successor the flows that closed meanwhile, and then leaves. Alone, or the only capable
    // node, it simply stops.
    bool successor = false;
    if (m_driver.isRunning() && m_driver.node().state() == tb::NodeState::Member) {
        for (const tb::Member &m : m_driver.node().view().members)
            successor = successor || (m.addr != m_settings.address && (m.caps & tb::kCanDispatch));
    }
    if (successor && startHandover()) {
        qCInfo(lcRing, "handing the dispatcher role over before leaving the ring");
        return;
    }
    m_dispatcher.stop(QStringLiteral("shutting down"));
    leaveRing();
}

bool SashaDaemon::startHandover()
{
    if (m_dispatcher.isHandingOver() || !m_dispatcher.beginHandover())
        return false;
    m_successor = tb::kNoNode;
    m_handoverFinishing = false;
    m_driver.withdrawCapabilities(QStringLiteral("handover"), tb::kCanDispatch, true);
    m_handoverStep.start(kHandoverElectMs);
    return true;
}

// `sashactl handover [NODE]`: the same handover as a stop, but the daemon stays, as a server.
void SashaDaemon::handover(const ControlRequest &request, const ControlServer::AnswerFn &answer)
{
    auto error = [&answer](const QString &why) { answer(QJsonObject{{QStringLiteral("error"), why}}); };
    if (m_shuttingDown)
        return error(QStringLiteral("this node is shutting down"));
    if (!m_driver.isRunning() || m_driver.node().state() != tb::NodeState::Member)
        return error(QStringLiteral("this node is not a ring member"));
    const tb::RingView &view = m_driver.node().view();
    if (!m_dispatcher.isRunning()) {
        return error(QStringLiteral("this node is not dispatching; run handover on the dispatcher (%1)")
                         .arg(view.dispatcher ? ipv4ToString(view.dispatcher) : QStringLiteral("none")));
    }
    if (m_handoverAnswer)
        return error(QStringLiteral("a handover is already under way"));
    bool successor = false;
    for (const tb::Member &m : view.members)
        successor = successor || (m.addr != m_settings.address && (m.caps & tb::kCanDispatch));
    if (!successor)
        return error(QStringLiteral("no other member can dispatch"));
    if (request.handoverTarget != 0) {
        const tb::Member *t = view.find(request.handoverTarget);
        if (request.handoverTarget == m_settings.address)
            return error(QStringLiteral("%1 is this node").arg(ipv4ToString(request.handoverTarget)));
        if (!t)
            return error(QStringLiteral("%1 is not a member of the ring").arg(ipv4ToString(request.handoverTarget)));
        if (!(t->caps & tb::kCanDispatch))
            return error(QStringLiteral("%1 cannot dispatch now (capability not configured or withdrawn)")
                             .arg(ipv4ToString(request.handoverTarget)));
        return holdOthersBack(request.handoverTarget, answer);
    }
    if (!startHandover())
        return error(QStringLiteral("the data path cannot hand over now"));
    m_handoverAnswer = answer;
    logLocal(QStringLiteral("handover-requested"), QString(), QStringLiteral("sashactl handover"));
}

// `sashactl handover NODE`: the election would pick the lowest capable member, so every other
// capable member is first asked to stand aside (withdraw its dispatch capability, for
// kStandAsideHoldMs at most) over the ring; once the view shows them without it, the handover
// goes as usual and elects NODE; they stand back when it is over.
void SashaDaemon::holdOthersBack(tb::NodeAddr successor, const ControlServer::AnswerFn &answer)
{
    m_held.clear();
    for (const tb::Member &m : m_driver.node().view().members) {
        if (m.addr != m_settings.address && m.addr != successor && (m.caps & tb::kCanDispatch))
            m_held.push_back(m.addr);
    }
    for (tb::NodeAddr a : m_held)
        m_oob.send(a, kFlowTransferChannel, encodeFlowTransferStandAside({successor, kStandAsideHoldMs}), true);
    m_handoverAnswer = answer;
    logLocal(QStringLiteral("handover-requested"), ipv4ToString(successor),
             QStringLiteral("sashactl handover %1: %2 other member(s) asked to stand aside")
                 .arg(ipv4ToString(successor)).arg(m_held.size()));
    auto *wait = new QTimer(this);
    auto since = std::make_shared<QElapsedTimer>();
    since->start();
    connect(wait, &QTimer::timeout, this, [this, wait, since, successor] {
        bool clear = m_driver.isRunning();
        for (tb::NodeAddr a : m_held) {
            const tb::Member *m = clear ? m_driver.node().view().find(a) : nullptr;
            clear = clear && (!m || !(m->caps & tb::kCanDispatch));
        }
        if (!clear && since->elapsed() < kStandAsideWaitMs)
            return;
        wait->stop();
        wait->deleteLater();
        if (!clear || !startHandover()) {
            releaseHeld();
            if (m_handoverAnswer) {
                m_handoverAnswer(QJsonObject{{QStringLiteral("error"),
                                              clear ? QStringLiteral("the data path cannot hand over now")
                                                    : QStringLiteral("the other members did not stand aside within %1 ms; nothing changed")
                                                          .arg(kStandAsideWaitMs)}});
                m_handoverAnswer = nullptr;
            }
            return;
        }
        qCInfo(lcRing, "handover to %s: the other capable members stood aside", qPrintable(ipv4ToString(successor)));
    });
    wait->start(kHandoverPollMs);
}

void SashaDaemon::releaseHeld()
{
    for (tb::NodeAddr a : m_held)
        m_oob.send(a, kFlowTransferChannel, encodeFlowTransferStandAside({tb::kNoNode, 0}), true);
    m_held.clear();
}

// Another node's `sashactl handover NODE` asks this one to stand aside (or back).
void SashaDaemon::onStandAside(tb::NodeAddr from, tb::NodeAddr successor, quint32 holdMs)
{
    const bool aside = holdMs != 0;
    m_driver.withdrawCapabilities(QStringLiteral("handover elsewhere"), tb::kCanDispatch, aside);
    if (aside)
        m_standAsideEnd.start(int(std::min<quint32>(holdMs, kStandAsideHoldMs)));
    else
        m_standAsideEnd.stop();
    logLocal(aside ? QStringLiteral("stood-aside") : QStringLiteral("stood-back"), ipv4ToString(from),
             aside ? QStringLiteral("%1 hands the dispatcher role to %2").arg(ipv4ToString(from), ipv4ToString(successor))
                   : QStringLiteral("the handover of %1 is over").arg(ipv4ToString(from)));
}

// The successor has our flow table and the VMAC (or did not say so in time): send it the flows
// that closed meanwhile, then forward until the VMAC's frames stop coming here (finishHandover).
// A stop leaves the ring after that; `sashactl handover` stays.
void SashaDaemon::successorHasOurFlows()
{
    m_handoverStep.stop();
    if (m_closedSincePending || m_handoverFinishing)
        return;
    // First the flows that closed while the successor took over (their FINs came here), so it
    // does not count them open for the idle timeout (drain --wait, least-connections).
    sendClosedSinceList(false, [this] { finishHandover(); });
}

// Sends a closed-since list and runs `then` once it is delivered, or after kClosedSinceMaxMs.
void SashaDaemon::sendClosedSinceList(bool last, std::function<void()> then)
{
    m_closedSincePending = true;
    m_closedSinceThen = std::move(then);
    m_closedSinceIds.clear();
    m_closedSinceWait.start(kClosedSinceMaxMs);
    m_dispatcher.sendClosedSince(m_successor, last, [this](std::vector<quint64> ids) {
        if (!m_closedSincePending)
            return; // too late: the handover went on without it
        m_closedSinceIds.insert(ids.begin(), ids.end());
        m_closedSinceIds.erase(0); // a send refused (never delivered)
        if (m_closedSinceIds.empty())
            afterClosedSince();
    });
}

void SashaDaemon::afterClosedSince()
{
    if (!m_closedSincePending)
        return;
    m_closedSincePending = false;
    m_closedSinceWait.stop();
    m_closedSinceIds.clear();
    if (auto then = std::exchange(m_closedSinceThen, nullptr))
        then();
}

// The handover's successor is known when the ring's view names another dispatcher; then this
// node sends it the flow table (state transfer) and waits for its "announced".
void SashaDaemon::onHandoverView()
{
    if (!m_dispatcher.isHandingOver() || m_successor != tb::kNoNode || !m_driver.isRunning())
        return;
    const tb::NodeAddr d = m_driver.node().view().dispatcher;
    if (d == tb::kNoNode || d == m_settings.address)
        return;
    m_successor = d;
    qCInfo(lcRing, "%s elected in our place; sending it our flow table, going on once it has announced the VMAC",
           qPrintable(ipv4ToString(d)));
    m_dispatcher.sendFlowTransfer(d);
    m_handoverStep.start(kHandoverAnnouncedMs);
}

void SashaDaemon::leaveRing()
{
    m_handoverStep.stop();
    m_agent.stop();
    if (!m_driver.isRunning() || m_driver.node().state() == tb::NodeState::Stopped) {
        Q_EMIT finished(0);
        return;
    }
    qCInfo(lcRing, "leaving the ring");
    m_leaveDeadline.start(kLeaveBudgetMs);
    m_driver.leave();
}

// The successor has our flows and the closed-since list: forward until the VMAC's frames stop
// coming here, send the last closed-since list (FINs forwarded meanwhile), stop the data path,
// and then leave the ring when stopping.
void SashaDaemon::finishHandover()
{
    if (m_handoverFinishing)
        return;
    m_handoverFinishing = true;
    enum class Step { Forwarding, LastList, Stopping };
    auto *poll = new QTimer(this);
    auto quietSince = std::make_shared<QElapsedTimer>();
    auto since = std::make_shared<QElapsedTimer>();
    auto lastForwarded = std::make_shared<quint64>(m_dispatcher.framesForwarded());
    auto step = std::make_shared<Step>(Step::Forwarding);
    auto askedAt = std::make_shared<QElapsedTimer>();
    quietSince->start();
    since->start();
    connect(poll, &QTimer::timeout, this, [this, poll, quietSince, since, lastForwarded, step, askedAt] {
        const quint64 forwarded = m_dispatcher.framesForwarded();
        if (forwarded != *lastForwarded) {
            *lastForwarded = forwarded;
            quietSince->start();
        }
        if (*step == Step::Forwarding) {
            if (quietSince->elapsed() < kHandoverQuietMs && since->elapsed() < kHandoverMaxMs)
                return;
            // No frame comes here any more: what this node forwarded since the closed-since
            // list (a FIN that was in flight while the switch moved the VMAC) goes to the
            // successor too, or it counts those flows open until their idle timeout.
            *step = Step::LastList;
            sendClosedSinceList(true, [step] {
                if (*step == Step::LastList)
                    *step = Step::Stopping;
            });
        }
        if (*step == Step::LastList)
            return; // bounded by kClosedSinceMaxMs
        if (!askedAt->isValid()) {
            // The packet thread ends at its next turn, which on a starved machine can be long
            // after (a 136.6 ms wait in one of the handover's timers once purged lab_bigtables'
            // ring), and this thread relays the token. So ask, and join once it has ended
            // (bounded: a thread that does not end is joined anyway).
            m_dispatcher.requestStop();
            askedAt->start();
        }
        if (!m_dispatcher.packetThreadEnded() && askedAt->elapsed() < kPacketThreadEndMaxMs)
            return;
        poll->stop();
        poll->deleteLater();
        m_dispatcher.stop(QStringLiteral("handed over to %1 (%2 ms after the successor had our connections)")
                              .arg(m_successor ? ipv4ToString(m_successor) : QStringLiteral("?"))
                              .arg(since->elapsed()));
        m_handoverFinishing = false;
        if (m_shuttingDown) {
            leaveRing();
            return;
        }
        // Dispatch-capable again: the successor keeps the role (a working dispatcher's claim wins).
        m_driver.withdrawCapabilities(QStringLiteral("handover"), tb::kCanDispatch, false);
        releaseHeld();
        if (m_handoverAnswer) {
            m_handoverAnswer(QJsonObject{{QStringLiteral("result"), QStringLiteral("handed-over")},
                                         {QStringLiteral("successor"), ipv4ToString(m_successor)},
                                         {QStringLiteral("ms"), since->elapsed()}});
            m_handoverAnswer = nullptr;
        }
    });
    poll->start(kHandoverPollMs);
}

std::optional<QString> SashaDaemon::applyMetricsSettings(const MetricsSettings &metrics)
{
    return m_metricsServer.configure(metrics);
}

MetricsInput SashaDaemon::metricsSnapshot() const
{
    return MetricsInput{status(), m_metrics, QStringLiteral(SASHA_VERSION)};
}

ControlStatus SashaDaemon::status() const
{
    if (!m_driver.isRunning()) {
        ControlStatus s;
        s.node = ipv4ToString(m_settings.address);
        s.name = m_settings.name;
        s.state = controlStateName(tb::NodeState::Stopped);
        s.role = controlRoleName(tb::Role::None);
        s.pid = QCoreApplication::applicationPid();
        s.uptimeMs = m_uptime.elapsed();
        s.admin = m_admin.statusJson();
        s.metrics = m_metricsServer.statusJson();
        return s;
    }
    ControlStatus s = ControlStatus::fromNode(m_driver.node(), m_settings.name, m_uptime.elapsed(),
                                              QCoreApplication::applicationPid());
    s.dispatcherStats = m_dispatcher.stats();
    s.services = m_dispatcher.servicesJson();
    m_admin.annotate(s.members);
    s.admin = m_admin.statusJson();
    s.counters = ControlCounters::fromCore(m_driver.counters());
    s.dispatch = dispatchJson();
    s.transport = m_driver.transportStats();
    // How long each channel's messages held the ring's thread (docs/dispatcher.md "The ring's thread").
    s.transport.insert(QStringLiteral("oobHandling"), m_oob.stats());
    // The slowest event this thread handled (timedapplication.h); absent in tests without it.
    if (const auto *app = dynamic_cast<const TimedApplication *>(QCoreApplication::instance()))
        s.transport.insert(QStringLiteral("slowestEvent"), app->stats());
    s.reload = QJsonObject{{QStringLiteral("ok"), qint64(m_reloadsOk)},
                           {QStringLiteral("refused"), qint64(m_reloadsRefused)},
                           {QStringLiteral("last"), m_lastReload},
                           {QStringLiteral("lastMessage"), m_lastReloadMessage},
                           {QStringLiteral("lastMs"), m_lastReloadMs}};
    s.notify = m_notify.statusJson();
    s.metrics = m_metricsServer.statusJson();
    return s;
}

// "dispatch" in the status JSON: whether this node may be elected, and why not.
QJsonObject SashaDaemon::dispatchJson() const
{
    QJsonObject withdrawn;
    for (const auto &[reason, bits] : m_driver.withdrawnCapabilities()) {
        if (bits & tb::kCanDispatch)
            withdrawn.insert(reason, reason == QLatin1String("data path")               ? m_dispatcher.unableReason()
                                     : reason == QLatin1String("data network conflict") ? m_conflictReason
                                                                                         : QString());
    }
    const bool configured = (m_settings.caps & tb::kCanDispatch) && m_settings.dispatcher.configured;
    return QJsonObject{{QStringLiteral("configured"), configured},
                       {QStringLiteral("capable"), configured && withdrawn.isEmpty()},
                       {QStringLiteral("withdrawn"), withdrawn}};
}

void SashaDaemon::logLocal(const QString &kind, const QString &node, const QString &detail)
{
    ControlEvent c;
    c.monoUs = RingDriver::steadyNow().count();
    c.wallMs = QDateTime::currentMSecsSinceEpoch();
    c.kind = kind;
    c.node = node;
    c.role = m_driver.isRunning() ? controlRoleName(m_driver.node().role()) : controlRoleName(tb::Role::None);
    c.detail = detail;
    if (kind == QLatin1String("dispatcher-started")) {
        ++m_metrics.dispatcherStarts;
    } else if (kind == QLatin1String("first-forward")) {
        if (const auto seconds = m_failover.onFirstForward(m_dispatcher.firstForwardMonoUs())) {
            m_metrics.failover.observe(*seconds);
            qCInfo(lcRing, "failover: first frame forwarded %.1f ms after this node saw the ring break", *seconds * 1000);
        }
    }
    m_log.add(c);
    m_control.publish(c);
    m_eventFeed.publish(c);
    if (m_journal)
        m_journal->sendEvent(kind, QStringLiteral("%1%2%3").arg(kind, node.isEmpty() ? QString() : QLatin1Char(' ') + node,
                                                                detail.isEmpty() ? QString() : QStringLiteral(": ") + detail));
}

// Hands an event to the [notify] scripts (NotifyRunner runs them on its own thread). Called on
// the ring's thread: builds the event and queues it, nothing more.
void SashaDaemon::notify(const QString &event, tb::NodeAddr node, const QString &detail, const QString &health)
{
    const bool running = m_driver.isRunning();
    const tb::Role role = running ? m_driver.node().role() : tb::Role::None;
    NotifyEvent n;
    n.event = event;
    n.node = node == tb::kNoNode ? QString() : ipv4ToString(node);
    n.role = controlRoleName(role);
    if (event == QLatin1String("role-changed")) {
        n.oldRole = controlRoleName(m_lastRole);
        m_lastRole = role;
    }
    n.health = health;
    n.epoch = running ? m_driver.node().view().ringEpoch : 0;
    n.self = ipv4ToString(m_settings.address);
    n.name = m_settings.name;
    n.detail = detail;
    n.wallMs = QDateTime::currentMSecsSinceEpoch();
    m_notify.notify(n);
}

void SashaDaemon::reload(const QString &trigger, ControlServer::AnswerFn answer)
{
    if (m_reloading) {
        const QString why = QStringLiteral("a reload is already under way; try again when it has finished");
        qCWarning(lcConfig, "reload (%s) refused: %s", qPrintable(trigger), qPrintable(why));
        if (answer)
            answer(controlError(why));
        return;
    }
    m_reloading = true;
    qCInfo(lcConfig, "reload (%s): reading %s", qPrintable(trigger), qPrintable(m_settings.configFile));
    // Reading the file and the key, and the host's checks, off the ring's thread.
    const QString path = m_settings.configFile;
    m_reloadWorker.run([this, path, trigger, answer] {
        const SystemHostNetwork host;
        ConfigResult next = loadNodeSettings(path, &host);
        QMetaObject::invokeMethod(
            this, [this, trigger, answer, next = std::move(next)] { finishReload(trigger, next, answer); },
            Qt::QueuedConnection);
    });
}

// Back on the ring's thread: all or nothing.
void SashaDaemon::finishReload(const QString &trigger, const ConfigResult &next, const ControlServer::AnswerFn &answer)
{
    m_reloading = false;
    m_lastReloadMs = QDateTime::currentMSecsSinceEpoch();
    const auto refuse = [&](const QString &why) {
        ++m_reloadsRefused;
        m_lastReload = QStringLiteral("refused");
        m_lastReloadMessage = why;
        qCWarning(lcConfig, "reload (%s) refused, the running config stays: %s", qPrintable(trigger), qPrintable(why));
        logLocal(QStringLiteral("config-reload-refused"), QString(), why);
        if (answer)
            answer(controlError(QStringLiteral("reload refused, the running config stays: %1").arg(why)));
    };
    if (!next.ok())
        return refuse(next.error->toString());
    const ReloadPlan plan = planReload(m_settings, *next.settings);
    if (!plan.ok())
        return refuse(QStringLiteral("%1: %2").arg(m_settings.configFile, plan.refusalText()));
    applyReload(*next.settings, plan);
    ++m_reloadsOk;
    m_lastReload = QStringLiteral("ok");
    m_lastReloadMessage = plan.changes.isEmpty() ? QStringLiteral("no change") : plan.changes.join(QStringLiteral("; "));
    qCInfo(lcConfig, "reload (%s): %s", qPrintable(trigger), qPrintable(m_lastReloadMessage));
    logLocal(QStringLiteral("config-reloaded"), QString(), m_lastReloadMessage);
    if (answer) {
        QJsonArray changes;
        for (const QString &c : plan.changes)
            changes.append(c);
        answer(QJsonObject{{QStringLiteral("result"), plan.changes.isEmpty() ? QStringLiteral("no-change")
                                                                             : QStringLiteral("reloaded")},
                           {QStringLiteral("changes"), changes}});
    }
}

// The one short step on the ring's thread: copy the live keys, then tell whoever reads them.
void SashaDaemon::applyReload(const NodeSettings &next, const ReloadPlan &plan)
{
    applyReloadable(m_settings, next);
    if (plan.logRules) {
        QString rules = m_settings.logRules;
        QLoggingCategory::setFilterRules(rules.replace(QLatin1Char(';'), QLatin1Char('\n')));
    }
    if (plan.health)
        m_agent.restartHealthChecks();
    if (plan.weights)
        m_dispatcher.configWeightsChanged();
    if (plan.notify)
        m_notify.setSettings(m_settings.notify);
    // [metrics] listen is not live yet (configreload.cpp refuses a change): to make it live,
    // restart m_metricsServer here when its key changed.
}

void SashaDaemon::onEvent(const tb::Event &e)
{
    if (e.kind == tb::Event::Kind::DatagramDropped) {
        m_log.countDroppedDatagram();
        logDrop(e);
        return;
    }
    if (e.kind == tb::Event::Kind::OobDelivered || e.kind == tb::Event::Kind::OobFailed) {
        m_eventFeed.transferEnded(e.value, e.kind == tb::Event::Kind::OobDelivered);
        if (m_closedSinceIds.erase(e.value) && m_closedSinceIds.empty())
            afterClosedSince();
    }
    if (e.kind == tb::Event::Kind::TokenTimeout)
        ++m_metrics.tokenTimeouts;
    if (e.kind == tb::Event::Kind::TokenTimeout || e.kind == tb::Event::Kind::PurgeStarted)
        m_failover.onRingBroken(e.at.count());
    if (e.kind == tb::Event::Kind::DispatcherElected)
        m_failover.onDispatcherElected(e.node == m_settings.address, m_dispatcher.isRunning());
    const ControlEvent c = ControlEvent::fromCore(e, QDateTime::currentMSecsSinceEpoch());
    switch (e.kind) {
    case tb::Event::Kind::RoleChanged:
    case tb::Event::Kind::MemberJoined:
    case tb::Event::Kind::MemberLeft:
    case tb::Event::Kind::MemberLost:
        notify(c.kind, e.kind == tb::Event::Kind::RoleChanged ? m_settings.address : e.node, c.detail);
        break;
    default:
        break;
    }
    if (m_journal && m_driver.isRunning())
        m_journal->setEpoch(m_driver.node().view().ringEpoch);
    const JournalLog::EventScope journalEvent(c.kind); // the line below reports this event
    m_log.add(c);
    m_control.publish(c);
    m_eventFeed.publish(c);
    const QString line = QStringLiteral("%1 %2%3%4")
                             .arg(c.kind, c.node.isEmpty() ? QString() : c.node,
                                  c.role == QLatin1String("none") ? QString() : QStringLiteral(" (%1)").arg(c.role),
                                  c.detail.isEmpty() ? QString() : QStringLiteral(": ") + c.detail);
    switch (e.kind) {
    case tb::Event::Kind::ViewChanged:
    case tb::Event::Kind::OobReceived:
    case tb::Event::Kind::OobDelivered:
        qCDebug(lcRing, "%s", qPrintable(line));
        break;
    case tb::Event::Kind::PurgeStarted:
    case tb::Event::Kind::TokenTimeout:
    case tb::Event::Kind::MemberLost:
    case tb::Event::Kind::OobFailed:
        qCWarning(lcRing, "%s", qPrintable(line));
        break;
    default:
        qCInfo(lcRing, "%s", qPrintable(line));
        break;
    }
}

void SashaDaemon::logDrop(const tb::Event &e)
{
    const int idx = int(e.dropReason);
    if (idx < 0 || idx >= int(m_drops.size()))
        return;
    DropLog &d = m_drops[size_t(idx)];
    d.count += e.value ? e.value : 1; // the receive thread's notices stand for value datagrams
    const qint64 now = m_uptime.elapsed();
    if (d.lastLogMs >= 0 && now - d.lastLogMs < kDropLogEveryMs)
        return;
    qCWarning(lcTransport, "dropped %llu datagram(s) (%s) since %s, latest from %s:%u: %s",
              static_cast<unsigned long long>(d.count), qPrintable(controlDropReasonName(e.dropReason)),
              d.lastLogMs < 0 ? "start" : qPrintable(QStringLiteral("%1 s ago").arg((now - d.lastLogMs) / 1000)),
              qPrintable(ipv4ToString(e.from.ip)), unsigned(e.from.port), qPrintable(e.detail));
    d.count = 0;
    d.lastLogMs = now;
}

} // namespace sasha
