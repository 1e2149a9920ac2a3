#pragma once
// AdminService: sashad's end of operator control that is not fault injection (issue 8, item 3;
// docs/sashactl.md "drain, undrain, weight"). It
//  - sends the control protocol's "drain", "undrain" and "weight" requests to their target node
//    as AdminCommands on kAdminChannel (admincommand.h) and answers each request when the
//    target's reply arrives, or after kReplyTimeoutMs; a request for this node acts at once;
//  - carries out the commands it receives, whatever [faults] says: drain = the agent's Operator
//    drain reason (health Draining: no new flows, existing flows finish; unlike the fault drain
//    the dispatch capability is kept), weight = the operator weight of this node;
//  - keeps that admin state in [node] state_file (JSON, written atomically), so that a drained
//    node stays drained across a restart until undrained;
//  - tells every other member and observer its state in an AdminReport on kAdminReportChannel
//    when it changes, when the view's dispatcher changes and every kAdminReportIntervalMs
//    (unreliable), and hands every report it receives, and its own weight, to the dispatcher
//    role (setOperatorWeight), so that whichever node dispatches, also after a failover, applies
//    the weights; the reports also fill the members' drained/weight/openFlows (annotate()).
// All I/O is injected (Io), so that tests run it without a ring.
// Thread: the daemon's main thread.

#include "config/nodesettings.h"
#include "control/admincommand.h"
#include "control/controlserver.h"
#include "tokenbeat/types.h"

#include <QObject>
#include <QTimer>

#include <functional>
#include <map>
#include <memory>
#include <optional>

namespace sasha {

class AdminService : public QObject {
    Q_OBJECT
public:
    // How long a request waits for the target's reply.
    static constexpr int kReplyTimeoutMs = 2000;
    // A member's report older than this is forgotten (three missed reports).
    static constexpr qint64 kReportStaleMs = 3 * kAdminReportIntervalMs;

    struct Io {
        // An out-of-band message (OobRouter::send). Required.
        std::function<void(tb::NodeAddr to, quint8 channel, const QByteArray &payload, bool reliable)> send;
        // The ring as this node sees it now (an empty view when not in one). Required.
        std::function<tb::RingView()> view;
        // The agent's Operator drain reason (AgentService::setDraining). May be empty.
        std::function<void(bool on)> setDraining;
        // A server's operator weight, for the dispatcher role (DispatcherService). May be empty.
        std::function<void(tb::NodeAddr server, quint32 weight)> setOperatorWeight;
        // A server has no operator weight any more (sashactl weight NODE clear). May be empty.
        std::function<void(tb::NodeAddr server)> clearOperatorWeight;
        // This node's open flows as the dispatcher last reported them (AgentService). May be empty.
        std::function<quint32()> openFlows;
        // A steady clock in ms, for report ageing. Empty: QDeadlineTimer's steady clock.
        std::function<qint64()> nowMs;
    };

    struct State {
        bool drained = false;
        std::optional<quint16> weight; // nullopt: no operator weight ([dispatcher] weights apply)
        friend bool operator==(const State &, const State &) = default;
    };

    AdminService(const NodeSettings &settings, Io io, QObject *parent = nullptr);

    // Reads [node] state_file and applies it (drain, weight). A missing file is a first start:
    // nothing to apply. An unreadable or corrupt one: the node starts undrained without an
    // operator weight, and the returned warning (also logged) names the file and the fix.
    std::optional<QString> loadState();
    // Starts the periodic reports.
    void start();

    // The control protocol's "drain", "undrain" and "weight" (r.isAdmin()): answer is called once.
    void request(const ControlRequest &r, const ControlServer::AnswerFn &answer);
    // Every out-of-band message (OobRouter::received); other channels are ignored.
    void onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload);
    // The view or the node's state changed: a new dispatcher gets this node's report at once.
    void onViewChanged();

    const State &state() const { return m_state; }
    // The admin report this node holds for addr: its own, or a member's fresh one.
    std::optional<AdminReport> reportOf(tb::NodeAddr addr) const;
    // The status JSON's "admin" object: {"drained", "weight" (null: none), "openFlows", "stateFile"}.
    QJsonObject statusJson() const;
    // Fills drained, weight and openFlows of the members this node has a report for.
    void annotate(QList<ControlMember> &members) const;
    quint64 malformed() const { return m_malformed; }

Q_SIGNALS:
    // For the event log: "node-drained", "node-undrained", "weight-changed", "admin-refused".
    void logEvent(const QString &kind, const QString &node, const QString &detail);

private:
    struct Pending {
        tb::NodeAddr target = tb::kNoNode;
        AdminAction action = AdminAction::Drain;
        ControlServer::AnswerFn answer;
        std::unique_ptr<QTimer> timeout;
    };
    struct Received {
        AdminReport report;
        qint64 atMs = 0;
    };

    void onCommand(tb::NodeAddr from, const AdminCommand &c);
    void onReply(tb::NodeAddr from, const AdminReply &r);
    void onReport(tb::NodeAddr from, const AdminReport &r);
    // Carries out c on this node; the reply to send (or to answer with, for a local request).
    AdminReply execute(const AdminCommand &c, tb::NodeAddr from);
    // Applies s to the agent and the dispatcher role; persists it when persist is set (the
    // error text when that failed).
    std::optional<QString> apply(const State &s, bool persist);
    std::optional<QString> saveState() const;
    AdminReport ownReport() const;
    void sendReports();
    static QJsonObject answerOf(const AdminReply &r, tb::NodeAddr from);
    qint64 nowMs() const;
    QString selfName() const;

    const NodeSettings &m_settings;
    Io m_io;
    State m_state;
    std::map<quint32, Pending> m_pending; // by commandId
    quint32 m_nextId = 1;
    std::map<tb::NodeAddr, Received> m_reports; // members' reports, by sender
    tb::NodeAddr m_lastDispatcher = tb::kNoNode;
    QTimer m_reportTimer;
    quint64 m_malformed = 0;
};

} // namespace sasha
