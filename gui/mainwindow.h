#pragma once
// MainWindow: the console. Wires one ClusterFeed (not owned) to the models and widgets:
// ring picture and cps chart on top; membership table, event timeline and failover table at the
// bottom left; the connection map with its filter and per-server counts at the bottom right; a
// Faults toolbar unless read-only. Destructive fault commands ask for confirmation unless the
// cluster is a lab (--lab). With ConsoleOptions::presentation the ring and chart sit above a
// FailoverPhasesPanel, and the tables share one tab strip below. GUI thread only.

#include "control/admincommand.h"
#include "control/faultcommand.h"
#include "tokenbeat/types.h"

#include <QHash>
#include <QMainWindow>
#include <QTimer>

#include <functional>

QT_BEGIN_NAMESPACE
class QAbstractItemModel;
class QLabel;
class QLineEdit;
class QSpinBox;
class QTableView;
class QTreeView;
class QTabWidget;
QT_END_NAMESPACE

namespace sasha {
struct ControlEvent;
}

namespace sasha::console {

class ClusterFeed;
class ConnectionMapModel;
class CpsChartView;
class CpsHistory;
class EventModel;
class FailoverModel;
class FailoverPhasesPanel;
class FlowSortProxy;
class MembershipModel;
class RingWidget;
class ServiceModel;

struct ConsoleOptions {
    // For a projector: the ring, the cps chart and the last failover's phases fill the window,
    // their text scaled with its height; the tables fold into one low tab strip.
    bool presentation = false;
    bool readOnly = false;     // no fault injection at all
    bool lab = false;          // the cluster is a lab: no confirmation for destructive actions
    int scenarioSpacingMs = 1000; // between the faults of a multi-fault scenario
    int flowRefreshMs = 200;      // connection map batch interval; 0 = manual (tests, benchmark)
};

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    MainWindow(ClusterFeed *feed, ConsoleOptions options, QWidget *parent = nullptr);
    ~MainWindow() override;

    MembershipModel *membership() const { return m_membership; }
    ConnectionMapModel *connectionMap() const { return m_flows; }
    // What the connection table shows: the map's filtered rows, sorted once a header is clicked.
    // The model the connection table shows: the map itself, or the sorting proxy once a header
    // was clicked.
    QAbstractItemModel *connectionRows() const;
    EventModel *events() const { return m_events; }
    FailoverModel *failovers() const { return m_failovers; }
    CpsHistory *history() const { return m_history; }
    RingWidget *ring() const { return m_ring; }
    CpsChartView *chart() const { return m_chart; }
    // The last failover's phases in large figures (presentation layout only; nullptr otherwise).
    FailoverPhasesPanel *failoverPhases() const { return m_phases; }
    QTableView *membershipView() const { return m_memberView; }
    QTableView *connectionView() const { return m_flowView; }
    QTableView *eventView() const { return m_eventView; }
    // The virtual services (the "Services" tab), from the daemons' statuses.
    ServiceModel *services() const { return m_services; }
    QTableView *serviceView() const { return m_serviceView; }
    QLabel *servicesHint() const { return m_servicesHint; }
    QString problem() const;

    // Replaces the confirmation dialog (tests); returns whether to go ahead.
    void setConfirmHandler(std::function<bool(const QString &question)> handler) { m_confirm = std::move(handler); }

    // Fault injection; false when refused (read-only, not confirmed, feed error in *error).
    bool injectFault(tb::NodeAddr target, FaultAction action, quint32 durationMs = 0, quint8 flags = 0,
                     QString *error = nullptr);
    bool killDispatcher(QString *error = nullptr);
    // Operator control (not fault injection, no confirmation): drain, undrain or set the weight
    // (0..65535) of target; the node's answer lands in the event log ("admin-reply").
    bool sendAdmin(tb::NodeAddr target, AdminAction action, quint16 weight = 0, QString *error = nullptr);
    // 1..4 server faults one after another, scenarioSpacingMs apart (paper §4).
    bool runScenario(int serverFaults, QString *error = nullptr);

    // Takes one cps sample from the membership (the 1 s timer calls it).
    void sampleNow();

    bool exportChartPng(const QString &path, QString *error);
    bool exportEventsCsv(const QString &path, QString *error);
    bool exportSamplesCsv(const QString &path, QString *error);

protected:
    void resizeEvent(QResizeEvent *event) override;

private:
    void buildUi();
    // Presentation: the ring, chart and phases panel get a font scaled to the window's height.
    void applyRoomFont();
    void buildMenus();
    void buildFaultToolbar();
    // Drain, Undrain, Set weight… for the selected node: a toolbar and the members' context menu.
    void buildAdminActions();
    void adminFromSelection(AdminAction action);
    void onAdminReply(tb::NodeAddr from, const AdminReply &reply);
    void onView(const tb::RingView &view);
    void onEvent(const ControlEvent &e);
    void onFaultReply(tb::NodeAddr from, const FaultReply &reply);
    void setProblem(const QString &message);
    void updateStatus();
    void updateServerCounts();
    void updateFailoverSummary();
    void updateServicesHint();
    tb::NodeAddr selectedNode() const;
    bool confirm(const QString &question);
    // Sends without asking (the caller confirmed); records the fault on the timeline and chart.
    bool sendFault(tb::NodeAddr target, FaultAction action, quint32 durationMs, quint8 flags, QString *error);
    void fromSelection(FaultAction action);

    ClusterFeed *m_feed;
    ConsoleOptions m_options;
    MembershipModel *m_membership;
    ConnectionMapModel *m_flows;
    FlowSortProxy *m_flowProxy; // sorting only: the map filters itself
    EventModel *m_events;
    FailoverModel *m_failovers;
    CpsHistory *m_history;
    RingWidget *m_ring = nullptr;
    CpsChartView *m_chart = nullptr;
    FailoverPhasesPanel *m_phases = nullptr;
    QTableView *m_memberView = nullptr;
    QTableView *m_flowView = nullptr;
    QTableView *m_eventView = nullptr;
    QTableView *m_failoverView = nullptr;
    ServiceModel *m_services;
    QTableView *m_serviceView = nullptr;
    QLabel *m_servicesHint = nullptr; // why the table is empty, or whose status it shows
    QLabel *m_banner = nullptr;
    QLabel *m_serverCounts = nullptr;
    QLabel *m_failoverSummary = nullptr;
    QLabel *m_statusLabel = nullptr;
    QLineEdit *m_filter = nullptr;
    QSpinBox *m_duration = nullptr;
    QTimer m_sampleTimer;
    QTimer m_secondTimer;
    quint32 m_nextCommandId = 1;
    QHash<quint32, tb::NodeAddr> m_pendingFaults; // command id -> target, until answered
    static constexpr int kFaultReplyTimeoutMs = 3000;
    std::function<bool(const QString &)> m_confirm;
};

} // namespace sasha::console
