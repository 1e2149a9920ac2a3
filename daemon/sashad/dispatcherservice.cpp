#include "dispatcherservice.h"
#include "dispatcherrunning.h"

#include "config/logcategories.h"
#include "control/controlprotocol.h"
#include "dispatcher/afpacketsink.h"
#include "dispatcher/dispatcherthread.h"
#include "dispatcher/localdeliverysink.h"
#include "dispatcher/pcapinjectsink.h"
#include "dispatcher/pcapsource.h"
#include "dispatcher/vmacannouncer.h"
#include "fastpath/fastpath.h"
#include "flowmapprocessor.h"
#include "oobrouter.h"
#include "serverstats.h"
#include "transport/ringdriver.h"

#include <QElapsedTimer>
#include <QScopeGuard>
#include <QJsonArray>
#include <QNetworkInterface>

#include <net/if.h>

namespace sasha {
namespace {
constexpr int kStatsIntervalMs = 1000;
constexpr int kBacklogDrainMs = 5;
constexpr int kResolveRetryMs = 100;
// Planned handover (docs/dispatcher.md "Membership changes"): the successor announces the VMAC
// once the previous dispatcher's table is in (state transfer; or, when that one did not give up
// its dispatch capability and so sends none, once the agents' reports are), at the latest this
// long after its takeover, and lets unknown flows follow the continuity hash for
// kHandoverGraceMs after announcing.
constexpr int kHandoverAnnounceMaxMs = 500;
constexpr int kHandoverGraceMs = 500;
constexpr int kHealthPollMs = 50;
constexpr int kPrepareAgainMs = 500;    // after a run: prepare for the next election once the ring settled
constexpr int kNeighbourCheckMs = 5000; // while prepared: members' MACs still known?
constexpr int kAnnouncementPollMs = 50; // other nodes' VMAC announcements (dispatcherability.cpp)
constexpr int kFirstForwardPollMs = 5; // the event's own monoUs is at most this late; its detail is exact

// The cluster subnet of the node's address, for the neighbour table's solicitations.
std::pair<quint32, int> clusterSubnet(const NodeSettings &s)
{
    for (const QNetworkInterface &i : QNetworkInterface::allInterfaces()) {
        for (const QNetworkAddressEntry &e : i.addressEntries()) {
            if (e.ip().protocol() == QAbstractSocket::IPv4Protocol && e.ip().toIPv4Address() == s.address)
                return {s.address & (e.prefixLength() == 0 ? 0u : ~0u << (32 - e.prefixLength())), e.prefixLength()};
        }
    }
    return {s.address, 32};
}

qint64 nowMs() { return RingDriver::steadyNow().count() / 1000; }

// The dispatcher's probe of a server that left the ring: the agent's [health] check sent to the
// server's address. None when health checks are off: then only its flows decide (drained).
DepartedServers::ProbeFactory departedProbes(const HealthSettings &h)
{
    if (!h.enabled)
        return {};
    HealthCheckConfig local;
    local.url = QUrl(h.url);
    local.intervalMs = h.intervalMs;
    local.timeoutMs = h.timeoutMs;
    local.rise = h.rise;
    local.fall = h.fall;
    return [local](tb::NodeAddr server) {
        return std::make_unique<HealthChecker>(DepartedServers::probeConfigFor(local, server));
    };
}

// A View can be published to the data path only while this node is a Member of a ring: during a
// purge (Joining, AwaitingRing) it keeps the previous ring's view, which still says who serves.
bool ringSettled(const RingDriver &driver)
{
    return driver.isRunning() && driver.node().state() == tb::NodeState::Member;
}
} // namespace


DispatcherService::DispatcherService(const NodeSettings &settings, RingDriver &driver, OobRouter &oob, QObject *parent)
    : QObject(parent),
      m_settings(settings),
      m_driver(driver),
      m_oob(oob),
      m_neighbours(clusterSubnet(settings).first, clusterSubnet(settings).second,
                   settings.dispatcher.interfaceName.toStdString()),
      m_runner(ReconstructionConfig{},
               [&oob](tb::NodeAddr to, quint8 channel, const QByteArray &payload) { oob.send(to, channel, payload, true); },
               [this](const std::vector<ReconstructionCoordinator::Flow> &flows) { onFlows(flows); },
               &RingDriver::steadyNow),
      m_departed(departedProbes(settings.health))
{
    connect(&m_departed, &DepartedServers::serverDead, this, [this](tb::NodeAddr server, const QString &why) {
        onDepartedGone(server, QStringLiteral("server-dead"), why);
    });
    connect(&m_departed, &DepartedServers::serverDrained, this, [this](tb::NodeAddr server) {
        onDepartedGone(server, QStringLiteral("server-drained"),
                       QStringLiteral("no active flow for %1 ms since it left the ring").arg(DepartedServers::kDrainedMs));
    });
    if (const auto m = parseMac(QNetworkInterface::interfaceFromName(settings.dispatcher.interfaceName).hardwareAddress()))
        m_ownMac = *m;
    connect(&oob, &OobRouter::received, &m_runner, &ReconstructionRunner::onOob);
    connect(&oob, &OobRouter::received, this, [this](tb::NodeAddr from, quint8 channel, const QByteArray &payload) {
        if (channel == kFlowTransferChannel)
            onFlowTransfer(from, payload);
    });
    connect(&m_runner, &ReconstructionRunner::eventOccurred, this, [this](const ReconstructionCoordinator::Event &e) {
        Q_EMIT logEvent(QStringLiteral("reconstruction"), e.server ? ipv4ToString(e.server) : QString(), e.detail);
    });
    connect(&m_runner, &ReconstructionRunner::completed, this,
            [this](quint64 flows, quint32 answered, quint32 missing, qint64 elapsedMs) {
                m_reconstructionSummary = QStringLiteral("%1 flow(s) from %2 server(s), %3 missing, %4 ms")
                                              .arg(flows).arg(answered).arg(missing).arg(elapsedMs);
                qCInfo(lcRing, "reconstruction completed: %s", qPrintable(m_reconstructionSummary));
                m_reconstructionDone = true;
                maybePublishCompletion();
            });
    connect(&m_runner, &ReconstructionRunner::reportRejected, this, [](tb::NodeAddr from, const QString &error) {
        qCWarning(lcRing, "connection report from %s rejected: %s", qPrintable(ipv4ToString(from)), qPrintable(error));
    });
    m_statsTimer.setInterval(kStatsIntervalMs);
    connect(&m_statsTimer, &QTimer::timeout, this, &DispatcherService::tickStats);
    m_backlogTimer.setInterval(kBacklogDrainMs);
    connect(&m_backlogTimer, &QTimer::timeout, this, &DispatcherService::drainBacklog);
    m_resolveTimer.setSingleShot(true);
    m_resolveTimer.setInterval(kResolveRetryMs);
    connect(&m_resolveTimer, &QTimer::timeout, this, [this] {
        if (m_run)
            publish();
    });
    m_healthPoll.setInterval(kHealthPollMs);
    connect(&m_healthPoll, &QTimer::timeout, this, [this] {
        logTakeoverTimes();
        if (m_run && ringSettled(m_driver) && healthDiffers())
            publish();
    });
    m_firstForwardPoll.setInterval(kFirstForwardPollMs);
    connect(&m_firstForwardPoll, &QTimer::timeout, this, [this] {
        const qint64 at = m_run ? m_run->processor->firstForwardMonoUs() : 0;
        if (!m_run) {
            m_firstForwardPoll.stop();
        } else if (at != 0) {
            m_firstForwardPoll.stop();
            Q_EMIT logEvent(QStringLiteral("first-forward"), QString(),
                            QStringLiteral("first frame forwarded %1 ms after the dispatcher started (monoUs %2)")
                                .arg(double(at - m_run->startedMonoUs) / 1000.0, 0, 'f', 1)
                                .arg(at));
        }
    });
    m_prepareTimer.setSingleShot(true);
    m_prepareTimer.setInterval(kPrepareAgainMs);
    connect(&m_prepareTimer, &QTimer::timeout, this, &DispatcherService::prepareAhead);
    m_neighbourTimer.setInterval(kNeighbourCheckMs);
    connect(&m_neighbourTimer, &QTimer::timeout, this, &DispatcherService::keepNeighboursResolved);
    if (settings.dispatcher.configured && settings.dispatcher.prepare && (settings.caps & tb::kCanDispatch)) {
        // Not at once: building the data path takes 40-160 ms of CPU (on the worker thread, but
        // on a 2-core machine still competing with the ring's thread), so prepareAhead() waits
        // until the node is a ring member.
        m_prepareTimer.start();
        m_neighbourTimer.start();
    }
    m_announceDeadline.setSingleShot(true);
    m_announceDeadline.setInterval(kHandoverAnnounceMaxMs);
    connect(&m_announceDeadline, &QTimer::timeout, this,
            [this] { announceHandover(QStringLiteral("the table was not complete within %1 ms").arg(kHandoverAnnounceMaxMs)); });
    m_completionGrace.setSingleShot(true);
    m_completionGrace.setInterval(kHandoverGraceMs);
    connect(&m_completionGrace, &QTimer::timeout, this, &DispatcherService::maybePublishCompletion);
    m_recoverTimer.setSingleShot(true);
    connect(&m_recoverTimer, &QTimer::timeout, this, &DispatcherService::probeRecovery);
    connect(&m_announcementPoll, &QTimer::timeout, this, &DispatcherService::watchAnnouncements);
    connect(&m_answerPoll, &QTimer::timeout, this, &DispatcherService::pollAnswers);
    if (settings.dispatcher.configured && (settings.caps & tb::kCanDispatch))
        m_announcementPoll.start(kAnnouncementPollMs);
}

DispatcherService::~DispatcherService()
{
    stop(QStringLiteral("daemon exiting"));
    m_prepareTimer.stop();
    m_background.waitForDone(); // their queued answers die with this object
    m_workerResult.reset();
    m_prepared.reset();
}

void DispatcherService::setSuspended(bool on)
{
    if (m_suspended == on)
        return;
    m_suspended = on;
    if (on)
        stop(QStringLiteral("data path paused (unplug fault)"));
    onViewChanged();
}

bool DispatcherService::shouldRun() const
{
    if (m_suspended || !m_unable.isEmpty() || !m_conflict.isEmpty() || !m_settings.dispatcher.configured
        || !m_driver.isRunning())
        return false;
    const tb::TokenBeatNode &node = m_driver.node();
    switch (node.state()) {
    case tb::NodeState::Member:
        break;
    case tb::NodeState::Joining:
    case tb::NodeState::AwaitingRing:
        // A purge: the role persists until the next ring says otherwise, and so does a data
        // path already running (a purge must cost no connection). None is started meanwhile.
        if (!m_run)
            return false;
        break;
    default:
        return false;
    }
    return node.role() == tb::Role::Dispatcher || node.role() == tb::Role::Standalone;
}

// The data path is closed on a worker: closing the capture and the injector's packet sockets
// waits for the kernel (synchronize_net: an RCU grace period each, tens of ms on a busy 2-core
// machine) and the flow table is unmapped; on this thread, which relays the token, a handover's
// stop() took more than the 140 ms token timeout (lab_bigtables). The packet thread is stopped
// already; nothing in `run` belongs to this thread.
void DispatcherService::tearDownOnWorker(std::unique_ptr<Running> run)
{
    m_background.run([this, run = std::shared_ptr<Running>(std::move(run))]() mutable {
        QElapsedTimer clock;
        clock.start();
        run.reset();
        const double ms = double(clock.nsecsElapsed()) / 1e6;
        QMetaObject::invokeMethod(this, [ms] { qCInfo(lcRing, "dispatcher: data path closed in %.1f ms on a worker thread", ms); },
                                  Qt::QueuedConnection);
    });
}

// Keeps a stopped run's capture and injector for the next preparation (dispatcherrunning.h,
// Recycled): the packet thread is stopped, nothing else uses them.
void DispatcherService::recycle(Running &run)
{
    if (!run.capture || !run.source || !run.sink)
        return;
    auto kept = std::make_unique<Recycled>();
    kept->ifindex = if_nametoindex(m_settings.dispatcher.interfaceName.toStdString().c_str());
    if (kept->ifindex == 0)
        return;
    kept->capture = run.capture;
    kept->source = std::move(run.source);
    kept->sink = std::move(run.sink);
    run.capture = nullptr;
    if (m_recycled) // an older one (not taken by a preparation): closed on a worker
        m_background.run([old = std::shared_ptr<Recycled>(std::move(m_recycled))]() mutable { old.reset(); });
    m_recycled = std::move(kept);
}

quint64 DispatcherService::framesForwarded() const
{
    if (!m_run)
        return 0;
    const FastPathCounters &c = m_run->fastPath->counters();
    return read(c.forwarded) + read(c.deliveredLocal);
}

// What start() needs to know of the ring before it: who dispatched, who served. Kept at every view
// of a settled ring, except once this node is elected and its data path not yet built.
void DispatcherService::rememberRing()
{
    if (!ringSettled(m_driver) || (shouldRun() && !m_run))
        return;
    m_lastRingServers.clear();
    m_lastRingDispatcher = m_driver.node().view().dispatcher;
    m_ringDispatcherKnown = m_lastRingDispatcher != tb::kNoNode && m_lastRingDispatcher != m_driver.node().self();
    for (const tb::Member &m : m_driver.node().view().members) {
        if (m.caps & tb::kCanServe)
            m_lastRingServers.insert(m.addr);
    }
}

void DispatcherService::onViewChanged()
{
    noteMembers();
    const auto remember = qScopeGuard([this] { rememberRing(); });
    if (m_handingOver)
        return; // the ring's next dispatcher is elected without us; keep forwarding meanwhile
    if (!shouldRun()) {
        keepNeighboursResolved();
        if (m_run)
            stop(m_driver.isRunning() && m_driver.node().state() == tb::NodeState::Member
                     ? QStringLiteral("no longer the dispatcher")
                     : QStringLiteral("left the ring"));
        return;
    }
    if (!m_run) {
        if (!m_prepared) {
            // Not prepared (prepare = false, or elected before preparing): built on the worker
            // like a preparation, never on this thread, which relays the token; collectPrepared()
            // comes back here.
            if (!m_electedUs)
                m_electedUs = RingDriver::steadyNow().count();
            buildOnWorker();
            return;
        }
        // What the prepared capture holds is judged first (as an idle node's): a lower dispatcher
        // outside this ring may be announcing the VMAC, and then this node yields instead.
        watchAnnouncements();
        if (!shouldRun())
            return;
        if (askBeforeTakeover())
            return; // pollAnswers() comes back here if nobody answers
        m_announcedTo.clear();
        if (const auto err = start())
            startFailed(*err);
        else
            announceAfterLoss(true); // a takeover: the series; remembers the members it announces to
        return;
    }
    if (!ringSettled(m_driver))
        return; // the last ring's table stays until the next ring is formed
    announceAfterLoss();
    publish();
    syncReconstructionMembers();
}

void DispatcherService::onDepartedGone(tb::NodeAddr server, const QString &kind, const QString &why)
{
    if (!m_run)
        return;
    std::uint32_t flows = 0;
    for (const ServerRow &row : m_published) {
        if (row.addr == server)
            flows = m_run->fastPath->flows().activeFlows(row.slot);
    }
    qCInfo(lcRing, "departed server %s let go (%s): %s; %u active flow(s) now dropped", qPrintable(ipv4ToString(server)),
           qPrintable(kind), qPrintable(why), flows);
    Q_EMIT logEvent(kind, ipv4ToString(server), QStringLiteral("%1; %2 active flow(s) dropped").arg(why).arg(flows));
    if (ringSettled(m_driver))
        publish();
}

// Everything the data path needs, built and opened; nothing published, no thread running.
// `ahead` (prepare = true, before any election): the capture is opened non-promiscuous with a
// filter that matches nothing, so it takes in no frame until start() switches it.
std::unique_ptr<DispatcherService::Running> DispatcherService::open(bool ahead, QString &failure, Recycled *recycled)
{
    const DispatcherSettings &d = m_settings.dispatcher;
    const std::string iface = d.interfaceName.toStdString();
    auto run = std::make_unique<Running>();
    std::string error;
    auto fail = [&](QString why) {
        failure = std::move(why);
        return nullptr;
    };
    // A capture opens on a down interface and then sees nothing: refuse it here (runs on the
    // worker; QNetworkInterface reads the kernel, no member state).
    if (auto problem = interfaceProblem())
        return fail(*problem);

    // The last run's capture and injector (recycle()), if still bound to this interface: back to
    // an idle node's filter, promiscuous off, the old run's frames thrown away.
    if (ahead && recycled && recycled->capture && recycled->sink && recycled->ifindex == if_nametoindex(iface.c_str())) {
        std::string err;
        if (recycled->capture->setFilter(vmacAnnouncementFilter(d.vmac), err) && recycled->capture->disablePromiscuous(err)) {
            recycled->capture->discardPending(std::size_t(1) << 20);
            run->capture = recycled->capture;
            run->source = std::move(recycled->source);
            run->sink = std::move(recycled->sink);
            run->reused = true;
        } else {
            qCWarning(lcRing, "the last run's capture cannot be reused, opening a new one: %s", err.c_str());
        }
    }

    LiveCaptureOptions capture;
    capture.interface = iface;
    // Ahead of an election the capture takes only other nodes' VMAC announcements (an idle node
    // watches for a second dispatcher: dispatcherability.cpp); dispatching, the VMAC's frames too.
    capture.filter = ahead ? vmacAnnouncementFilter(d.vmac) : dispatcherFilter(d.vmac, d.announcedAddresses());
    // NAT: also this node's own replies to the gateway (connections it still serves).
    // Idle, only incoming announcements: this server's own replies go to the VMAC too.
    capture.outgoing = d.hasNat();
    if (capture.outgoing)
        capture.filter = ahead ? "inbound and (" + capture.filter + ")" : withOwnNatReplies(capture.filter, d.vmac);
    capture.promiscuous = !ahead;
    capture.bufferBytes = d.captureBufferMb << 20;
    if (!run->source) {
        auto source = PcapLiveSource::open(capture, error);
        if (!source)
            return fail(QString::fromStdString(error));
        run->capture = source.get();
        run->source = std::move(source);
    }
    if (run->sink) {
        // reused with the capture
    } else if (d.injector == DispatcherSettings::Injector::Pcap) {
        run->sink = PcapInjectSink::open(iface, error);
    } else {
        AfPacketSink::Options o;
        o.interface = iface;
        if (d.injector == DispatcherSettings::Injector::TxRing)
            o.mode = AfPacketSink::Mode::TxRing;
        run->sink = AfPacketSink::open(o, error);
    }
    if (!run->sink)
        return fail(QString::fromStdString(error));
    run->local = LocalDeliverySink::open(error);
    if (!run->local)
        qCWarning(lcRing, "no local delivery (flows this node serves will stall): %s", error.c_str());
    const std::string problem = localDeliveryProblem();
    if (!problem.empty())
        qCWarning(lcRing, "local delivery: %s", problem.c_str());
    run->announcer = std::make_unique<VmacAnnouncer>(d.vmac, d.announcedAddresses(), std::chrono::milliseconds(d.announceMs));
    if (!run->announcer->valid())
        return fail(QStringLiteral("VMAC announcement: %1").arg(QString::fromStdString(run->announcer->error())));
    run->arp = std::make_unique<ArpResponder>(d.vmac, d.announcedAddresses());
    if (!run->arp->valid())
        return fail(QStringLiteral("ARP reply for the VIP: %1").arg(QString::fromStdString(run->arp->error())));

    FastPathConfig fc;
    fc.maxFlows = std::size_t(d.maxFlows);
    const bool persistence = std::any_of(d.services.begin(), d.services.end(),
                                         [](const ServiceSettings &svc) { return svc.persistenceS > 0; });
    fc.persistenceEntries = persistence ? std::size_t(1) << 16 : 0;
    run->fastPath = std::make_unique<FastPath>(fc, run->tables);
    run->processor = std::make_shared<FlowMapProcessor>(*run->fastPath, std::size_t(kMaxConnectionLimit), d.vmac);
    DispatcherThreadConfig tc;
    tc.batchWait = std::chrono::microseconds(d.batchUs);
    tc.cpu = d.cpu;
    run->thread = std::make_unique<DispatcherThread>(*run->source, *run->processor, *run->sink, run->local.get(),
                                                     run->announcer.get(), run->arp.get(), tc);
    return run;
}

// prepare = true: build the data path while this node is not dispatching (at start-up and again
// after every run), so that a takeover only switches the capture filter and starts the thread.
void DispatcherService::prepareAhead()
{
    if (m_run || m_prepared || !m_unable.isEmpty() || !m_settings.dispatcher.configured || !m_settings.dispatcher.prepare ||
        !(m_settings.caps & tb::kCanDispatch))
        return;
    if (!m_driver.isRunning() || m_driver.node().state() != tb::NodeState::Member) {
        m_prepareTimer.start(); // joining or re-forming: try again once the ring has settled
        return;
    }
    buildOnWorker();
}

// The data path did not open for an election: give the role away (dispatcherability.cpp).
void DispatcherService::startFailed(const QString &err)
{
    m_lastStartError = err;
    Q_EMIT logEvent(QStringLiteral("dispatcher-failed"), QString(), err);
    becomeUnable(QStringLiteral("cannot start the data path: %1").arg(err));
}

void DispatcherService::buildOnWorker()
{
    if (m_preparing)
        return; // already under way
    // Built on a worker thread: it takes 40-160 ms (the flow table is zeroed, the capture ring
    // mapped), far beyond the ring's 140 ms token timeout if this thread, which relays the token,
    // did it. open() touches no member of this object but the const settings.
    m_preparing = true;
    m_background.run([this, recycled = std::shared_ptr<Recycled>(std::move(m_recycled))] {
        QElapsedTimer clock;
        clock.start();
        m_workerResult = open(true, m_workerError, recycled.get());
        m_workerMs = clock.nsecsElapsed() / 1e6;
        QMetaObject::invokeMethod(this, &DispatcherService::collectPrepared, Qt::QueuedConnection);
    });
}

// Main thread: takes the worker's data path (posted by the job once it is built).
void DispatcherService::collectPrepared()
{
    if (!m_preparing)
        return;
    m_preparing = false;
    std::unique_ptr<Running> prepared = std::move(m_workerResult);
    if (collectProbe(prepared, m_workerError))
        return;
    const bool elected = shouldRun() && !m_run;
    if (!prepared) {
        if (elected)
            startFailed(m_workerError);
        else
            qCWarning(lcRing, "cannot prepare the dispatcher ahead of an election (a takeover will try again "
                              "then): %s", qPrintable(m_workerError));
        return;
    }
    if (m_run || m_prepared || (!elected && !m_settings.dispatcher.prepare)) {
        tearDownOnWorker(std::move(prepared)); // not needed any more
        return;
    }
    m_prepared = std::move(prepared);
    qCInfo(lcRing, "dispatcher %s in %.1f ms on a worker thread (flow table %.1f MiB, %s)",
           elected ? "data path built for the election" : "prepared ahead of an election", m_workerMs,
           m_prepared->fastPath->flows().memoryBytes() / 1048576.0,
           m_prepared->reused ? "the last run's capture and injector reused"
                              : qPrintable(QStringLiteral("capture buffer %1 MiB").arg(m_settings.dispatcher.captureBufferMb)));
    keepNeighboursResolved();
    if (elected)
        onViewChanged();
}

// While prepared: members whose MAC the kernel does not know yet (TokenBeat only talks to ring
// neighbours, so most members are never resolved by its traffic) are solicited now, so the
// first table after a takeover has every server. One netlink dump; nothing when all are known.
void DispatcherService::keepNeighboursResolved()
{
    if (!m_prepared || !m_driver.isRunning())
        return;
    const tb::TokenBeatNode &node = m_driver.node();
    std::map<std::uint32_t, MacAddress> known;
    bool dumped = false;
    for (const tb::Member &m : node.view().members) {
        if (!(m.caps & tb::kCanServe) || m.addr == node.self())
            continue;
        if (!dumped) {
            known = m_neighbours.resolved();
            dumped = true;
        }
        if (!known.count(m.addr))
            m_neighbours.solicit(m.addr);
    }
}

std::optional<QString> DispatcherService::start()
{
    const DispatcherSettings &d = m_settings.dispatcher;
    // When the ring elected this node (the data path may have been built since, on the worker).
    const QString askInfo = std::exchange(m_askInfo, QString());
    const bool builtOnElection = m_electedUs != 0 && askInfo.isEmpty();
    m_askedMs = 0;
    const qint64 electedUs = m_electedUs != 0 ? m_electedUs : RingDriver::steadyNow().count();
    m_electedUs = 0;
    QElapsedTimer clock;
    clock.start();
    QStringList steps;
    auto step = [&](const char *name) {
        steps << QStringLiteral("%1 %2").arg(QLatin1String(name)).arg(clock.nsecsElapsed() / 1e6, 0, 'f', 2);
    };

    // The prepared capture starts taking VMAC frames (onViewChanged() had it built first); a
    // capture that refuses the switch is opened anew here.
    std::unique_ptr<Running> run = std::move(m_prepared);
    m_foreignSeen = 0;
    if (run) {
        std::string error;
        std::string filter = dispatcherFilter(d.vmac, d.announcedAddresses());
        if (d.hasNat())
            filter = withOwnNatReplies(filter, d.vmac);
        if (!run->capture->setFilter(filter, error) || !run->capture->enablePromiscuous(error)) {
            qCWarning(lcRing, "prepared capture unusable, opening a new one: %s", error.c_str());
            run.reset();
        }
    }
    const bool warm = run != nullptr;
    if (!run) {
        QString error;
        run = open(false, error);
        if (!run)
            return error;
    }
    step(warm ? "capture-switched" : "opened");
    if (d.hasNat()) {
        // This node's own stack cannot resolve the gateway by ARP (only its own capture would
        // answer, and it takes no frame its stack sends): a permanent entry, right for as long
        // as the gateway floats on this VMAC (docs/dispatcher.md "NAT mode").
        std::string error;
        if (!KernelNeighbourTable::setPermanent(d.interfaceName.toStdString(), d.gateway, d.vmac, error))
            qCWarning(lcRing, "NAT gateway %s -> VMAC on %s: %s (the connections this node still serves stall)",
                      qPrintable(ipv4ToString(d.gateway)), qPrintable(d.interfaceName), error.c_str());
    }
    // A planned handover: the previous dispatcher gave the role up but is still in the ring, and
    // forwards until this node announces the VMAC. Then the table is completed first (every
    // agent, the previous dispatcher's included, reports its connections) and announced after,
    // so no packet of an established flow meets a table that does not know it.
    const tb::TokenBeatNode &self = m_driver.node();
    m_handoverFrom = m_lastRingDispatcher != self.self() && self.view().find(m_lastRingDispatcher)
                         ? m_lastRingDispatcher : tb::kNoNode;
    m_announcePending = m_handoverFrom != tb::kNoNode;
    m_tookOverFrom = m_handoverFrom;
    m_transferId = 0;
    m_transferParts.clear();
    m_transferPartCount = 0;
    m_transferFlows = 0;
    m_transferComplete = false;
    {
        const tb::Member *from = self.view().find(m_handoverFrom);
        m_expectTransfer = from && !(from->caps & tb::kCanDispatch);
    }
    if (m_announcePending) {
        run->thread->setAnnouncing(false);
        m_announceDeadline.start();
        step("announcement-deferred");
    } else {
        // Before anything else: no VIP frame reaches this node until the switch has learnt the
        // VMAC's new port, and frames that arrive before the thread runs wait in the capture ring.
        if (!run->thread->announceBeforeStart())
            qCWarning(lcRing, "the takeover announcement did not go out at once; the thread retries");
        step("announced");
    }
    run->startedMonoUs = RingDriver::steadyNow().count();
    run->electedMonoUs = electedUs;
    m_runEpoch = self.view().ringEpoch;

    m_run = std::move(run);
    m_lastStartError.clear();
    m_reconstructionDone = false;
    m_completionPublished = false;
    m_reconstructionMs = -1;
    m_reconstructionSummary.clear();
    m_backlog.clear();
    m_prevNewFlows.clear();
    m_prevServiceNewFlows.fill(0);
    m_serviceCps.fill(0);
    m_cps.clear();
    m_prevFramesIn = m_prevNewTotal = 0;
    m_prevInjected = m_prevInjectErrors = 0;
    m_published.clear();
    m_departed.clear();
    {
        // Servers of the last ring that did not come along: their flows are not reported by any
        // agent, so keep them theirs while they may still serve.
        const tb::TokenBeatNode &node = m_driver.node();
        const std::map<std::uint32_t, MacAddress> macs = m_neighbours.resolved();
        for (tb::NodeAddr a : m_lastRingServers) {
            const tb::Member *m = node.view().find(a);
            const auto mac = macs.find(a);
            if (a == node.self() || (m && (m->caps & tb::kCanServe)) || mac == macs.end())
                continue;
            const std::uint16_t slot = m_slots.slotFor(a);
            if (slot != kNoServerSlot)
                m_departed.add(a, slot, mac->second, nowMs());
        }
    }
    publish(); // before the thread starts, so its first frame already has a table
    step("table");
    if (m_handoverFrom != tb::kNoNode) {
        // The previous dispatcher's table may have come before our data path was built.
        std::vector<std::pair<tb::NodeAddr, FlowTransferTable>> early;
        early.swap(m_earlyTransfer);
        for (const auto &[from, part] : early) {
            if (from == m_handoverFrom)
                applyTransferPart(part);
        }
    }
    m_earlyTransfer.clear();
    m_run->thread->start();
    if (d.cpu >= 0 && !m_run->thread->pinned())
        qCWarning(lcRing, "[dispatcher] cpu = %d: the packet thread could not be pinned there (no such CPU, or not allowed); it runs unpinned",
                  d.cpu);
    step("thread");

    // Reconstruction: every server, this node included (it may still hold connections).
    m_reconstructionMembers.clear();
    std::vector<tb::NodeAddr> servers;
    for (const tb::Member &m : m_driver.node().view().members) {
        if (m.caps & tb::kCanServe) {
            servers.push_back(m.addr);
            m_reconstructionMembers.insert(m.addr);
        }
    }
    // Every TCP port of every service (docs/agent.md), not only [dispatcher] ports.
    m_runner.start(d.reportedPorts(), d.reportedUdpPorts(), servers);
    m_statsTimer.start();
    m_healthPoll.start();
    m_firstForwardPoll.start();
    const QString detail = QStringLiteral("on %1, VIP %2, VMAC %3, %4, %5 server(s)")
                               .arg(d.interfaceName, ipv4ToString(d.vip), macToString(d.vmac),
                                    QLatin1String(schedulerName(d.scheduler)))
                               .arg(m_published.size());
    step("reconstruction");
    const QString kind = !askInfo.isEmpty() ? QStringLiteral("prepared; %1").arg(askInfo)
                         : !warm       ? QStringLiteral("cold")
                         : builtOnElection ? QStringLiteral("built on the worker after the election")
                                           : QStringLiteral("prepared");
    qCInfo(lcRing, "dispatcher takeover (%s) steps, ms since elected: %s", qPrintable(kind),
           qPrintable(steps.join(QStringLiteral(", "))));
    qCInfo(lcRing, "dispatcher started %s", qPrintable(detail));
    Q_EMIT logEvent(QStringLiteral("dispatcher-started"), QString(), detail);
    Q_EMIT runStarted(quint32(m_run->startedMonoUs));
    return std::nullopt;
}

void DispatcherService::stop(const QString &why)
{
    m_handingOver = false;
    m_announcePending = false;
    m_announceDeadline.stop();
    m_completionGrace.stop();
    m_handoverFrom = tb::kNoNode;
    m_transferComplete = false;
    m_transferParts.clear();
    m_transferCopyMs.reset();
    m_closedSinceCopyMs.reset();
    if (!m_run)
        return;
    m_statsTimer.stop();
    m_healthPoll.stop();
    m_firstForwardPoll.stop();
    m_backlogTimer.stop();
    m_resolveTimer.stop();
    m_runner.stop();
    // The "connections" workers are not waited for: each holds the run's processor (a 100k-flow
    // answer is built in seconds on a busy machine, and this thread relays the token: waiting
    // here made the ring purge in lab_bigtables). A copy asked of a stopped thread times out.
    QElapsedTimer joining;
    joining.start();
    m_run->thread->stop();
    if (const qint64 ms = joining.elapsed(); ms >= 10)
        qCInfo(lcRing, "dispatcher: the packet thread took %lld ms to stop (on the ring's thread)", ms);
    const DispatcherCounters &c = m_run->thread->counters();
    const QString detail = QStringLiteral("%1; %2 frame(s) captured, %3 injected, %4 delivered locally")
                               .arg(why).arg(read(c.captured)).arg(read(c.injected)).arg(read(c.deliveredLocal));
    m_run->tables.reclaimStopped();
    if (m_settings.dispatcher.prepare && m_run->thread->error().empty())
        recycle(*m_run);
    tearDownOnWorker(std::move(m_run));
    m_published.clear();
    m_departed.clear();
    m_backlog.clear();
    if (m_settings.dispatcher.prepare)
        m_prepareTimer.start();
    rememberRing(); // the ring as it is now, not as it was before this run (a handover, say)
    qCInfo(lcRing, "dispatcher stopped: %s", qPrintable(detail));
    Q_EMIT runStopped();
    Q_EMIT logEvent(QStringLiteral("dispatcher-stopped"), QString(), detail);
}

void DispatcherService::requestStop()
{
    if (m_run)
        m_run->thread->requestStop();
}

bool DispatcherService::packetThreadEnded() const
{
    return !m_run || m_run->thread->finished();
}

void DispatcherService::setOperatorWeight(tb::NodeAddr server, quint32 weight)
{
    const auto [it, inserted] = m_operatorWeights.try_emplace(server, weight);
    if (!inserted && it->second == weight)
        return;
    it->second = weight;
    publish();
}

// An operator weight (sashactl weight, AdminService) wins over [dispatcher] weights; default 1.
std::uint32_t DispatcherService::weightOf(tb::NodeAddr server) const
{
    return clusterWeight(m_settings.dispatcher, m_operatorWeights, server);
}

void DispatcherService::publish()
{
    if (!m_run)
        return;
    const DispatcherSettings &d = m_settings.dispatcher;
    const tb::TokenBeatNode &node = m_driver.node();
    // Who announces the VMAC, for other rings' dispatchers on the data network (dispatcherability.cpp).
    updateAnnouncer();
    std::vector<ServerInfo> servers;
    std::vector<ServerRow> rows;
    bool unresolved = false;
    const std::map<std::uint32_t, MacAddress> macs = m_neighbours.resolved(); // one dump for all members
    auto addRow = [&servers, &rows](const ServerRow &row) {
        ServerInfo info;
        info.id = row.addr;
        info.slot = row.slot;
        info.mac = row.mac;
        info.ipv4 = row.addr;
        info.weight = row.weight;
        info.healthy = row.healthy;
        info.isSelf = row.self;
        servers.push_back(info);
        rows.push_back(row);
    };
    std::set<tb::NodeAddr> serving;
    for (const tb::Member &m : node.view().members) {
        if (!(m.caps & tb::kCanServe))
            continue;
        serving.insert(m.addr);
        m_departed.forget(m.addr); // back in the ring: its agent speaks for it again
        ServerRow row;
        row.addr = m.addr;
        row.self = m.addr == node.self();
        row.slot = m_slots.slotFor(m.addr);
        if (row.slot == kNoServerSlot)
            continue;
        row.weight = weightOf(m.addr);
        // Unhealthy or draining servers stay in the table (their flows drain) but take no new ones;
        // nor does a dispatcher handing over to us (it took none: leaving it out of the
        // continuity hash makes that hash its new-flow table).
        row.healthy = m.status.health != tb::Health::Unhealthy && m.status.health != tb::Health::Draining
                      && m.addr != m_handoverFrom;
        if (row.self) {
            row.mac = m_ownMac;
        } else if (const auto mac = macs.find(m.addr); mac != macs.end()) {
            row.mac = mac->second;
        } else {
            m_neighbours.solicit(m.addr);
            unresolved = true;
            continue;
        }
        addRow(row);
    }
    if (!serving.count(m_handoverFrom))
        m_handoverFrom = tb::kNoNode; // it has left; should it come back, it is a server like any
    // Servers of the last table that are no longer in the ring: drained, not cut (no new flows,
    // existing flows still theirs) while DepartedServers does not show them dead.
    for (const ServerRow &prev : m_published) {
        if (!prev.self && !prev.departed && !serving.count(prev.addr))
            m_departed.add(prev.addr, prev.slot, prev.mac, nowMs());
    }
    for (const auto &[addr, gone] : m_departed.servers()) {
        ServerRow row;
        row.addr = addr;
        row.slot = gone.slot;
        row.mac = gone.mac;
        row.weight = weightOf(addr);
        row.healthy = false;
        row.departed = true;
        addRow(row);
    }
    if (unresolved)
        m_resolveTimer.start();
    DispatchPolicy policy;
    policy.vip = d.vip;
    policy.dispatcherMac = m_ownMac;
    policy.scheduler = d.scheduler;
    policy.reconstructionComplete = m_completionPublished;
    policy.selfTakesNewFlows = d.serveWhileDispatching;
    policy.keepServerOnReuse = m_handingOver;
    fillServicePolicy(d, policy);
    // [[service]] weights, except for servers with an operator weight (it wins in every service).
    const std::vector<ServiceWeight> serviceWeights = serviceWeightOverrides(d, m_operatorWeights);
    auto table = ServerTable::build(std::move(servers), policy, ++m_generation, serviceWeights);
    if (!table) {
        qCWarning(lcRing, "server table %llu refused (duplicate slot)", static_cast<unsigned long long>(m_generation));
        return;
    }
    m_run->tables.publish(std::move(table));
    m_run->tables.reclaim();
    m_published = std::move(rows);
    // A server's new-flow count is measured from when it entered the table, so the first stats
    // tick after a takeover already reports the connections of that second: without a baseline it
    // reported 0, and every console drew the failover as a drop to 0 connections/s.
    const FastPathCounters &c = m_run->fastPath->counters();
    for (const ServerRow &row : m_published)
        m_prevNewFlows.try_emplace(row.slot, read(c.serverNewFlows[row.slot]));
}

// Once the thread has sent its first announcement and its first forwarded frame: how long after
// the election each went out (docs/dispatcher.md "Takeover").
void DispatcherService::logTakeoverTimes()
{
    if (!m_run || m_run->takeoverLogged)
        return;
    const qint64 announced = m_run->thread->firstAnnounced().count();
    const qint64 injected = m_run->processor->firstForwardMonoUs();
    if (announced == 0 || injected == 0)
        return;
    m_run->takeoverLogged = true;
    qCInfo(lcRing, "takeover: first announcement %.2f ms, first forwarded frame %.2f ms after elected",
           (announced - m_run->electedMonoUs) / 1000.0, (injected - m_run->electedMonoUs) / 1000.0);
}

bool DispatcherService::healthDiffers() const
{
    for (const ServerRow &row : m_published) {
        const tb::Member *m = m_driver.node().view().find(row.addr);
        if (row.departed) {
            if (m)
                return true; // it rejoined
            continue;
        }
        if (!m)
            return true;
        const bool healthy = m->status.health != tb::Health::Unhealthy && m->status.health != tb::Health::Draining;
        if (healthy != row.healthy)
            return true;
    }
    return false;
}

void DispatcherService::syncReconstructionMembers()
{
    std::set<tb::NodeAddr> now;
    for (const tb::Member &m : m_driver.node().view().members) {
        if (m.caps & tb::kCanServe)
            now.insert(m.addr);
    }
    for (tb::NodeAddr a : now) {
        if (!m_reconstructionMembers.count(a))
            m_runner.serverJoined(a); // a (re)joining server may hold connections (paper §3.4)
    }
    for (tb::NodeAddr a : m_reconstructionMembers) {
        if (!now.count(a))
            m_runner.serverLeft(a);
    }
    m_reconstructionMembers = std::move(now);
}

void DispatcherService::onFlows(const std::vector<ReconstructionCoordinator::Flow> &flows)
{
    if (!m_run)
        return;
    for (const auto &f : flows) {
        const std::uint16_t slot = m_slots.slotFor(f.server);
        if (slot == kNoServerSlot)
            continue;
        m_backlog.push_back(ReconstructedFlow{FlowKey{f.clientIp, f.vip, f.clientPort, f.vport, f.udp ? kIpProtoUdp : kIpProtoTcp}, slot});
    }
    drainBacklog();
}

void DispatcherService::drainBacklog()
{
    if (!m_run)
        return;
    auto &queue = m_run->fastPath->reconstructionQueue();
    while (!m_backlog.empty()) {
        if (!queue.push(m_backlog.front()))
            break;
        m_backlog.pop_front();
    }
    const bool waiting = !m_backlog.empty() || (m_reconstructionDone && !m_completionPublished)
                         || (m_announcePending && m_transferComplete);
    if (waiting && !m_backlogTimer.isActive())
        m_backlogTimer.start();
    else if (!waiting)
        m_backlogTimer.stop();
    maybeAnnounceTransferred();
    maybePublishCompletion();
}

// Completion is published only once every reported flow is in the flow table: from then on the
// fast path drops non-SYN packets of unknown flows, so a flow still queued would be refused.
void DispatcherService::maybePublishCompletion()
{
    if (!m_run || !m_reconstructionDone || m_completionPublished)
        return;
    if (!m_backlog.empty() || !m_run->fastPath->reconstructionQueue().drainedForProducer()) {
        if (!m_backlogTimer.isActive())
            m_backlogTimer.start();
        return;
    }
    m_backlogTimer.stop();
    if (m_announcePending && m_expectTransfer && !m_transferComplete)
        return; // the previous dispatcher's table is the better witness: wait for it (or the deadline)
    if (m_announcePending) {
        // Handover: the table is complete, take the VMAC now. Unknown flows keep following the
        // continuity hash a little longer: connections the previous dispatcher made after its
        // agents' reports were scheduled by the same Maglev over the same servers.
        announceHandover(QStringLiteral("the table is complete"));
        return;
    }
    if (m_completionGrace.isActive())
        return;
    m_completionPublished = true;
    // The handover is over: a previous dispatcher that stays in the ring (`sashactl handover`)
    // serves from now on like any member.
    m_handoverFrom = tb::kNoNode;
    publish();
    const qint64 ms = (RingDriver::steadyNow().count() - m_run->startedMonoUs) / 1000;
    m_reconstructionMs = ms;
    Q_EMIT logEvent(QStringLiteral("reconstruction-completed"), QString(),
                    QStringLiteral("%1; merged, %2 ms after takeover").arg(m_reconstructionSummary).arg(ms));
}

void DispatcherService::tickStats()
{
    if (!m_run)
        return;
    if (const auto problem = runningProblem()) {
        becomeUnable(*problem);
        return;
    }
    updateAnnouncer(); // established after a second
    const FastPathCounters &c = m_run->fastPath->counters();
    const FlowTable &flows = m_run->fastPath->flows();
    for (std::size_t i = 0; i < kMaxServices; ++i) {
        const std::uint64_t total = read(c.serviceNewFlows[i]);
        m_serviceCps[i] = quint32(total - m_prevServiceNewFlows[i]);
        m_prevServiceNewFlows[i] = total;
    }
    m_totalCps = 0;
    for (const ServerRow &row : m_published) {
        const std::uint64_t total = read(c.serverNewFlows[row.slot]);
        const auto prev = m_prevNewFlows.find(row.slot);
        const quint32 cps = prev == m_prevNewFlows.end() ? 0 : quint32(total - prev->second);
        m_prevNewFlows[row.slot] = total;
        m_cps[row.slot] = cps;
        m_totalCps += cps;
        if (!row.departed) // no agent listens there any more
            m_oob.send(row.addr, kServerStatsChannel,
                       encodeServerStats({flows.activeFlows(row.slot), cps, flows.openFlows(row.slot)}), false);
    }
    m_departed.tick(nowMs(), [&flows](std::uint16_t slot) { return flows.activeFlows(slot); });
    const std::uint64_t framesIn = read(c.framesIn);
    m_packetsPerSecond = framesIn - m_prevFramesIn;
    m_prevFramesIn = framesIn;
}

} // namespace sasha
