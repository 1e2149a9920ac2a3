#pragma once
// The dispatcher role inside sashad (issue 3, docs/dispatcher.md "In sashad"). When the ring
// elects this node (Role Dispatcher or Standalone) it:
//  1. opens the capture (VMAC filter), the injector and local delivery on lo and builds a
//     FastPath, or, with [dispatcher] prepare (the default), takes over the ones it built at
//     start-up (capture filtered to nothing until now: only the filter is switched);
//  2. announces the VMAC at once, publishes a ServerTable built from the ring view and starts
//     the DispatcherThread, which re-announces every announce_ms;
//  3. starts state reconstruction (paper §3.4): every server, itself included, is asked for its
//     connections; flows go to the fast path's reconstruction queue (a backlog here absorbs a
//     full queue); when the runner completes and the backlog is merged, a table with
//     reconstructionComplete is published;
//  4. republishes the table on every view change (members, health), and queries servers that
//     join; a server that leaves the ring is kept as departed (DepartedServers: no new flows, its
//     flows still forwarded) until the dispatcher's own probe shows it dead or it has drained;
//  5. once a second sends each server its active flows and new flows/s (serverstats.h).
// Through a ring purge and re-formation the role persists (docs/tokenbeat.md "Roles"), and so does
// the data path: the thread, capture, flow table and injector keep running on the last table, and
// the next View is published to them like any table change. When the node abdicates, leaves or
// loses the role it stops the thread and drops everything.
//
// Thread: the daemon's main thread; the packet work runs in the DispatcherThread it owns.

#include "agent/flowtransfer.h"
#include "agent/reconstructionrunner.h"
#include "departedservers.h"
#include "config/nodesettings.h"
#include "control/controlserver.h"
#include "control/flowfeed.h"
#include "flowmapprocessor.h"
#include "dispatcher/neighbourtable.h"
#include "transport/backgroundwork.h"

#include <QJsonObject>
#include <QObject>
#include <QTimer>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

namespace sasha {

class OobRouter;
class RingDriver;

class DispatcherService : public QObject {
    Q_OBJECT
public:
    DispatcherService(const NodeSettings &settings, RingDriver &driver, OobRouter &oob, QObject *parent = nullptr);
    ~DispatcherService() override;

    // Follows the ring: starts, republishes or stops as the view says.
    void onViewChanged();
    // Stops the thread (abdication, leave, shutdown). Idempotent. Joins the packet thread, which
    // notices within its poll timeout, or much later on a starved machine: a caller that can wait
    // asks requestStop() first and calls stop() once packetThreadEnded().
    void stop(const QString &why);
    void requestStop();
    bool packetThreadEnded() const;
    bool isRunning() const { return m_run != nullptr; }
    // Why this node cannot dispatch now (its data path failed), empty when it can.
    const QString &unableReason() const { return m_unable; }
    // Planned handover (SIGTERM of the dispatcher's sashad, docs/dispatcher.md "Membership
    // changes"): from now on the data path ignores the ring and stops announcing the VMAC, so the
    // successor the ring elects once this node has left can announce it, but it keeps forwarding
    // whatever still reaches it until stop(). False (nothing done) when not dispatching.
    bool beginHandover();
    bool isHandingOver() const { return m_handingOver; }
    // Handing over: send the flow table to the successor the ring elected (state transfer,
    // flowtransfer.h). The copy is taken off this thread; the parts go out reliable.
    void sendFlowTransfer(tb::NodeAddr successor);
    // Handing over, once the successor has announced: send it the flows this node saw close
    // since it copied its table (FINs it still forwarded meanwhile), so the successor does not
    // count them open until their idle timeout. `last`: the final list, once no frame reaches
    // this node any more: only the flows touched since the previous list's copy (FINs forwarded
    // while the switch moved the VMAC). `sent` runs on this thread with the reliable transfers'
    // ids once they are queued (empty when there was nothing to send).
    void sendClosedSince(tb::NodeAddr successor, bool last, std::function<void(std::vector<quint64>)> sent);
    // Frames the data path has handed to a server (over the wire or locally) since it started
    // (0 when not dispatching). Not every captured frame: a successor's VMAC announcements are
    // captured too, and must not keep a handing-over dispatcher from seeing its traffic end.
    quint64 framesForwarded() const;
    // When this run forwarded its first frame (steady µs), 0 before that or when not dispatching.
    qint64 firstForwardMonoUs() const;
    // Fault injection (unplug): while suspended the role is not run (capture and injection
    // stop with the thread); resuming follows the ring again.
    void setSuspended(bool on);
    bool isSuspended() const { return m_suspended; }

    // A server's operator weight (sashactl weight; AdminService relays every node's report): it
    // wins over [dispatcher] weights. Kept while not dispatching, so a new dispatcher has it.
    void setOperatorWeight(tb::NodeAddr server, quint32 weight);
    // Reload: [dispatcher] weights changed in the settings; republishes the table (operator
    // weights keep winning over them).
    void configWeightsChanged() { publish(); }
    // sashactl weight NODE clear: the server's [dispatcher] weight applies again.
    void clearOperatorWeight(tb::NodeAddr server)
    {
        if (m_operatorWeights.erase(server) != 0)
            publish();
    }

    // "dataPath" object of the status JSON; empty when not dispatching.
    // The configured services ("services" in the status JSON), with each one's new flows and
    // connections per second while this node dispatches.
    QJsonArray servicesJson() const;
    QJsonObject stats() const;
    // The answer to the control protocol's "connections" command, given later (see the .cpp).
    void connections(int limit, const ControlServer::LineAnswerFn &answer);
    // The observers' flow feed (FlowFeedPublisher): a copy of the flow table that never waits;
    // the first call asks the fast-path thread for it, a later one returns it (nullopt while
    // pending or not dispatching). ageMs is left 0.
    std::optional<std::vector<FlowFeedEntry>> pollFeedFlows(std::size_t limit);

Q_SIGNALS:
    void logEvent(const QString &kind, const QString &node, const QString &detail);
    // This node started dispatching (runId: new for each run) / stopped.
    void runStarted(quint32 runId);
    void runStopped();
    // Handing over: the successor says it has announced the VMAC and forwards.
    void successorAnnounced(sasha::tb::NodeAddr successor);
    // This node's data path cannot run (unable, with why) or runs again (docs/dispatcher.md "A
    // node that cannot dispatch"): the daemon withdraws or restores the dispatch capability.
    void ableChanged(bool able, const QString &why);
    // A dispatcher outside this node's ring with a lower address announces the VMAC on the data
    // network (docs/dispatcher.md "One dispatcher on the data network"): the daemon withdraws
    // the dispatch capability while it does (yielded = true), and restores it after.
    void dataNetworkConflict(bool yielded, const QString &why);
    // `sashactl handover NODE` on the dispatcher `from`: stand aside (withdraw the dispatch
    // capability) for holdMs so that the ring elects `successor`; holdMs 0: stand back.
    void standAsideRequested(sasha::tb::NodeAddr from, sasha::tb::NodeAddr successor, quint32 holdMs);

private:
    struct Running;
    struct Recycled;
    struct ServerRow {
        tb::NodeAddr addr = tb::kNoNode;
        std::uint16_t slot = 0;
        std::uint32_t weight = 1;
        bool healthy = true;
        bool self = false;
        bool departed = false; // left the ring; kept while DepartedServers says it may serve
        std::array<std::uint8_t, 6> mac{};
    };

    bool shouldRun() const;
    std::unique_ptr<Running> open(bool ahead, QString &failure, Recycled *recycled = nullptr);
    void recycle(Running &run);
    void prepareAhead();
    void buildOnWorker();
    void collectPrepared();
    void startFailed(const QString &error);
    void announceHandover(const QString &why);
    void becomeUnable(const QString &why);
    void probeRecovery();
    bool collectProbe(std::unique_ptr<Running> &prepared, const QString &error);
    std::optional<QString> interfaceProblem() const;
    std::optional<QString> runningProblem();
    void watchAnnouncements();
    bool ask();
    bool askedRecently() const;
    bool askBeforeTakeover();
    void pollAnswers();
    void updateAnnouncer();
    // This node dispatches and counts as established in the election rule: it has forwarded for
    // kEstablishedUs, or since before its ring last formed.
    bool established() const;
    // A dispatcher whose ring lost members, or one that has just taken over (takeover = true,
    // whatever the cause: the one it replaces may still forward across a ring partition, and the
    // elections on the way may have named others): the VMAC announced every kLossAnnounceStepMs
    // for a second. A handover's successor stays silent until it announces (setAnnouncing).
    void announceAfterLoss(bool takeover = false);
    void judgeAnnouncements();
    void onAnnouncement(const MacAddress &announcer, bool fresh);
    void expireConflict();
    void noteMembers();
    void onFlowTransfer(tb::NodeAddr from, const QByteArray &payload);
    void applyTransferPart(const FlowTransferTable &part);
    void applyClosedSince(tb::NodeAddr from, const FlowTransferTable &part);
    void maybeAnnounceTransferred();
    // Copies up to `limit` flows on a worker thread (waiting at most `wait` for the fast-path
    // thread) and runs `work` there with the copy (nullopt: no answer in time) and the slot ->
    // server map; the function `work` returns then runs on this thread (also after stop(), which
    // does not wait for the worker).
    using SnapshotWork = std::function<std::function<void()>(const std::optional<FlowMapProcessor::Snapshot> &,
                                                             const std::map<std::uint16_t, tb::NodeAddr> &owner)>;
    // label names the work in the log line of a result that held the ring's thread >= 20 ms.
    void snapshotOnWorker(const char *label, std::size_t limit, std::chrono::milliseconds wait, SnapshotWork work);
    void keepNeighboursResolved();
    std::optional<QString> start();
    void publish();
    void tearDownOnWorker(std::unique_ptr<Running> run);
    static QJsonObject connectionsJson(const std::optional<FlowMapProcessor::Snapshot> &snap,
                                       const std::map<std::uint16_t, tb::NodeAddr> &owner);
    std::uint32_t weightOf(tb::NodeAddr server) const;
    void syncReconstructionMembers();
    void onFlows(const std::vector<ReconstructionCoordinator::Flow> &flows);
    void drainBacklog();
    void maybePublishCompletion();
    void tickStats();
    bool healthDiffers() const;
    void rememberRing();
    void onDepartedGone(tb::NodeAddr server, const QString &kind, const QString &why);
    void logTakeoverTimes();

    const NodeSettings &m_settings;
    RingDriver &m_driver;
    OobRouter &m_oob;
    KernelNeighbourTable m_neighbours;
    std::array<std::uint8_t, 6> m_ownMac{};
    ServerSlotAllocator m_slots; // kept across runs: a server keeps its slot while known
    ReconstructionRunner m_runner;
    DepartedServers m_departed; // servers that left the ring while this node dispatched
    std::unique_ptr<Running> m_run;
    // [dispatcher] prepare: the data path built and opened ahead of an election (capture
    // filtered to nothing), taken over by start(); rebuilt after each run. Null otherwise.
    std::unique_ptr<Running> m_prepared;
    // The last run's capture and injector, kept for the next preparation (recycle()).
    std::unique_ptr<Recycled> m_recycled;
    // prepareAhead() builds it on m_background; the job writes m_workerResult, m_workerError and
    // m_workerMs before it posts collectPrepared(), which reads them (m_preparing: under way).
    bool m_preparing = false;
    std::unique_ptr<Running> m_workerResult;
    QString m_workerError;
    double m_workerMs = 0;
    qint64 m_electedUs = 0; // steady µs at which the election was seen while no data path was ready

    std::vector<ServerRow> m_published; // the servers of the last published table
    // The serving members of the last ring this node was a settled Member of: at a takeover,
    // those missing from the new ring (the old dispatcher handing over, a server lost with it)
    // start as departed, so their flows are not hashed elsewhere while they may still serve.
    std::set<tb::NodeAddr> m_lastRingServers;
    bool m_handingOver = false;
    tb::NodeAddr m_lastRingDispatcher = tb::kNoNode; // the last settled ring's dispatcher
    // Taking over from a dispatcher that is handing over (still in the ring at our takeover):
    // it takes no new flows in our table, and the VMAC is announced once the table is complete.
    tb::NodeAddr m_handoverFrom = tb::kNoNode;
    tb::NodeAddr m_tookOverFrom = tb::kNoNode; // m_handoverFrom of this run, kept after the handover ends
    // Handing over: the fast path's clock (ms) when the table sent to the successor was copied;
    // flows touched since then go in the closed-since list. Unset until that copy is taken.
    std::optional<std::uint32_t> m_transferCopyMs;
    // ... and when the latest closed-since list was copied: the last list holds what came after.
    std::optional<std::uint32_t> m_closedSinceCopyMs;
    bool m_announcePending = false;
    QTimer m_announceDeadline; // announce anyway after kHandoverAnnounceMaxMs
    QTimer m_completionGrace;  // after a handover's announcement: continuity hash a little longer
    // The previous dispatcher's table (state transfer): parts received from m_handoverFrom in
    // this run, by its transferId; complete when every part is in. Parts that arrive before this
    // node's data path runs wait in m_earlyTransfer (from any sender, latest transfer only).
    quint32 m_transferId = 0;
    std::set<quint16> m_transferParts;
    quint16 m_transferPartCount = 0;
    quint64 m_transferFlows = 0;
    bool m_transferComplete = false;
    bool m_expectTransfer = false; // m_handoverFrom gave up kCanDispatch: it hands over and sends its table
    std::vector<std::pair<tb::NodeAddr, FlowTransferTable>> m_earlyTransfer;
    quint64 m_transferRejected = 0; // parts from a node we are not taking over from, or malformed
    std::set<tb::NodeAddr> m_reconstructionMembers;
    std::deque<ReconstructedFlow> m_backlog; // reconstructed or transferred flows waiting for queue room
    bool m_reconstructionDone = false;
    bool m_completionPublished = false;
    quint64 m_generation = 0;
    QString m_reconstructionSummary;
    qint64 m_reconstructionMs = -1; // takeover to merged table in this run; -1 until then

    QTimer m_statsTimer;      // 1 s: per-server figures to the ring, health of the thread
    QTimer m_backlogTimer;    // drains m_backlog into the queue
    QTimer m_resolveTimer;    // a server's MAC was unknown: look again soon
    // The data path failed (start, thread, interface, injection): the capability is withdrawn
    // and the data path is rebuilt on the worker every kRecoverMs until it opens again.
    QString m_unable;
    QTimer m_recoverTimer;
    bool m_probing = false;           // the worker's build is a recovery probe
    quint64 m_prevInjected = 0, m_prevInjectErrors = 0;
    // Other nodes' VMAC announcements (dispatcherability.cpp): seen by the running data path
    // (FlowMapProcessor counts them) or, idle, by polling the prepared capture every
    // kAnnouncementPollMs. A lower dispatcher outside the ring makes this node yield.
    QTimer m_announcementPoll;
    quint64 m_foreignSeen = 0;                     // the processor's count last read
    std::map<tb::NodeAddr, qint64> m_lastMemberMs; // steady ms each address was last a member
    bool m_wasMember = false;                      // this node was a member at the last noteMembers()
    struct HeardAnnouncement {
        qint64 readMs = 0; // steady ms it was read
        int members = 0;   // the size of the announcer's ring
        bool established = false; // it dispatched before its ring last formed, or for a second
        bool fresh = false;       // read after this node asked (askBeforeTakeover): sent just now
    };
    std::map<tb::NodeAddr, HeardAnnouncement> m_heardAnnouncers; // foreign VMAC announcements not judged yet
    std::set<tb::NodeAddr> m_announcedTo;          // the ring's members at the last view while dispatching
    QString m_conflict;                            // why this node yields; empty when it does not
    qint64 m_conflictSeenMs = 0;                   // last counted announcement of that dispatcher
    tb::NodeAddr m_conflictWith = tb::kNoNode;     // that dispatcher
    // ask(): the data network was asked who dispatches (at a purge, or by askBeforeTakeover());
    // an elected node awaits answers until m_askedMs + kAskWaitMs (m_answerPoll).
    qint64 m_askedMs = 0;                          // steady ms of the last question; 0 = none
    qint64 m_askWaitStartMs = 0;                   // askBeforeTakeover() started waiting
    bool m_ringDispatcherKnown = false;            // the last settled ring had a dispatcher (not us)
    QString m_askInfo;                             // for the next start()'s takeover steps
    QTimer m_answerPoll;
    quint32 m_runEpoch = 0;                        // the ring epoch in which this run started
    // Member health travels in token statuses, which change without a new view (RingDriver
    // emits viewChanged only for membership): compare them to the published table this often.
    QTimer m_healthPoll;
    // Until the thread forwards its first frame (then the "first-forward" event is logged):
    // the failover benchmark's end point. Runs only in the first moments of a run.
    QTimer m_firstForwardPoll;
    QTimer m_prepareTimer;    // after a run: prepare again
    QTimer m_neighbourTimer;  // while prepared: keep the members' MACs resolved
    QString m_lastStartError;
    bool m_suspended = false;
    std::map<tb::NodeAddr, quint32> m_operatorWeights; // setOperatorWeight


    // Per-second rates, from the previous tick's cumulative counters.
    std::map<std::uint16_t, std::uint64_t> m_prevNewFlows;
    // Per configured service (index = DispatchPolicy service): new flows at the last stats tick
    // and in the second before it. Reset with the run (a new FastPath counts from 0).
    std::array<std::uint64_t, kMaxServices> m_prevServiceNewFlows{};
    std::array<quint32, kMaxServices> m_serviceCps{};
    std::uint64_t m_prevFramesIn = 0, m_prevNewTotal = 0;
    std::map<std::uint16_t, quint32> m_cps;
    quint32 m_totalCps = 0;
    quint64 m_packetsPerSecond = 0;
    // "connections" copies, handover copies, data paths being built or closed: off this thread,
    // never joined from it (transport/backgroundwork.h). Last: destroyed (and waited for) first.
    BackgroundWork m_background{4};
};

} // namespace sasha
