#pragma once
// SashaDaemon: what one sashad process is. It wires the ring (RingDriver), the control socket
// (ControlServer) and the event log together, logs ring events, and leaves the ring gracefully
// on SIGTERM/SIGINT. Every node runs the agent (AgentService); the dispatcher role
// (DispatcherService) runs while the ring elects this node. FaultService answers and carries out
// fault-injection commands ([faults] enabled) and sends the control socket's "fault" requests;
// AdminService does the same for the operator's drain, undrain and weight (always enabled).
// SystemdNotifier tells systemd when the node is ready, its role, that it stops, and feeds the
// watchdog from the ring's thread (Type=notify, WatchdogSec=: packaging/sashad.service.in).

#include "adminservice.h"
#include "agentservice.h"
#include "config/configreload.h"
#include "config/nodesettings.h"
#include "control/controlserver.h"
#include "control/eventlog.h"
#include "dispatcherservice.h"
#include "eventfeedpublisher.h"
#include "faultservice.h"
#include "flowfeedpublisher.h"
#include "notifyrunner.h"
#include "journallog.h"
#include "metrics/failoverclock.h"
#include "metrics/metricsrender.h"
#include "metricsserver.h"
#include "oobrouter.h"
#include "systemdnotifier.h"
#include "transport/backgroundwork.h"
#include "transport/ringdriver.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <array>
#include <functional>
#include <optional>
#include <set>
#include <thread>

namespace sasha {

class SashaDaemon : public QObject {
    Q_OBJECT
public:
    SashaDaemon(NodeSettings settings, quint64 bootEpoch, QObject *parent = nullptr);

    // Binds the ring socket, opens the control socket and joins the ring. On failure returns
    // the one-line error sashad prints before exiting with code 2.
    std::optional<QString> start();
    // Graceful leave, then finished(0); at most kLeaveBudget. A second call exits at once.
    void shutdown();

    ControlStatus status() const;
    // Starts, moves or stops the Prometheus endpoint ([metrics]); a reload calls it again. On
    // failure the endpoint stays as it was and the error says why (MetricsServer::configure).
    std::optional<QString> applyMetricsSettings(const MetricsSettings &metrics);
    // Lines and events also go to the journal (main() decides; null: stderr only). Not owned.
    void setJournal(JournalLog *journal) { m_journal = journal; }
    // What /metrics shows now (taken on this thread; rendered on the metrics thread).
    MetricsInput metricsSnapshot() const;

    // Re-reads the config file the daemon started with (SIGHUP, `sashactl reload`; docs/config.md
    // "Reload"): read and checked on a worker thread as --check does, then, back on this thread
    // in one step, the keys that can change live are applied, or, when the file is bad or a key
    // that cannot change live differs, nothing is. answer (may be empty) gets the result; one
    // reload at a time (another one meanwhile is refused).
    void reload(const QString &trigger, ControlServer::AnswerFn answer = {});
    ~SashaDaemon() override;

Q_SIGNALS:
    void finished(int exitCode);

private:
    bool startHandover();
    void handover(const ControlRequest &request, const ControlServer::AnswerFn &answer);
    void holdOthersBack(tb::NodeAddr successor, const ControlServer::AnswerFn &answer);
    void releaseHeld();
    void onStandAside(tb::NodeAddr from, tb::NodeAddr successor, quint32 holdMs);
    void successorHasOurFlows();
    void sendClosedSinceList(bool last, std::function<void()> then);
    void afterClosedSince();
    void onHandoverView();
    void leaveRing();
    void finishHandover();
    void onEvent(const tb::Event &e);
    void logDrop(const tb::Event &e);
    // An event of the daemon's own services (agent, dispatcher) for the log and watchers.
    QJsonObject dispatchJson() const;
    void logLocal(const QString &kind, const QString &node, const QString &detail);
    void finishReload(const QString &trigger, const ConfigResult &next, const ControlServer::AnswerFn &answer);
    void applyReload(const NodeSettings &next, const ReloadPlan &plan);
    void notify(const QString &event, tb::NodeAddr node, const QString &detail, const QString &health = {});
    // READY=1 once in a ring (or observing one), then STATUS= on every role or ring change.
    void notifySystemd();

    NodeSettings m_settings;
    RingDriver m_driver;
    EventLog m_log;
    ControlServer m_control;
    OobRouter m_oob;
    AgentService m_agent;
    DispatcherService m_dispatcher;
    FaultService m_faults;
    AdminService m_admin;
    FlowFeedPublisher m_flowFeed; // the dispatcher's flows to observers (consoles)
    EventFeedPublisher m_eventFeed; // this node's events to observers that subscribed
    NotifyRunner m_notify;          // [notify] scripts, on its own thread
    tb::Role m_lastRole = tb::Role::None; // for the role-changed hook's old role
    // Reload: the file is read and checked on m_reloadWorker, which hands the result back to
    // this thread (finishReload); m_reloading while one runs.
    bool m_reloading = false;
    quint64 m_reloadsOk = 0, m_reloadsRefused = 0;
    QString m_lastReload;        // "ok", "refused", "" before the first
    QString m_lastReloadMessage; // what changed, or why it was refused
    qint64 m_lastReloadMs = 0;
    SystemdNotifier m_systemd;
    QElapsedTimer m_uptime;
    QTimer m_leaveDeadline;
    bool m_shuttingDown = false;
    bool m_handoverFinishing = false;
    QTimer m_handoverStep;                 // handover: bounds each wait before leaving the ring
    // Handover: a closed-since list (DispatcherService::sendClosedSince) is on its way; the node
    // goes on (m_closedSinceThen) once its transfers are delivered or the timer ends.
    bool m_closedSincePending = false;
    std::set<quint64> m_closedSinceIds;
    QTimer m_closedSinceWait;
    std::function<void()> m_closedSinceThen;
    QString m_conflictReason; // DispatcherService::dataNetworkConflict's, while it holds
    tb::NodeAddr m_successor = tb::kNoNode; // handover: the dispatcher elected in our place
    ControlServer::AnswerFn m_handoverAnswer; // `sashactl handover` waiting for its answer
    // `sashactl handover NODE`: the members asked to stand aside (this node is the dispatcher),
    // and, on a member asked by another, when its own stand-aside ends.
    std::vector<tb::NodeAddr> m_held;
    QTimer m_standAsideEnd;

    // Rate-limited drop log: per reason, one line per kDropLogEveryMs with the count since.
    struct DropLog {
        quint64 count = 0;
        qint64 lastLogMs = -1;
    };
    std::array<DropLog, size_t(tb::DropReason::Count_)> m_drops{};

    JournalLog *m_journal = nullptr;
    // Counted from ring and service events for /metrics (onEvent, logLocal).
    DaemonMetrics m_metrics;
    FailoverClock m_failover;
    // Last member: destroyed first, so its thread never asks a half-destroyed daemon for a snapshot.
    MetricsServer m_metricsServer;
    // Declared last: destroyed, and waited for, before the members its job's answer uses.
    BackgroundWork m_reloadWorker{1};
};

} // namespace sasha
