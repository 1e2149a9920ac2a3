#include "mainwindow.h"

#include "clusterfeed.h"
#include "config/nodesettings.h"
#include "connectionmapmodel.h"
#include "cpschartview.h"
#include "cpshistory.h"
#include "eventmodel.h"
#include "failoverphasespanel.h"
#include "membershipmodel.h"
#include "ringwidget.h"
#include "servicemodel.h"

#include <QAction>
#include <QApplication>
#include <QDateTime>
#include <QFileDialog>
#include <QGroupBox>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QSpinBox>
#include <QSplitter>
#include <QStatusBar>
#include <QTabBar>
#include <QTabWidget>
#include <QTableView>
#include <QToolBar>
#include <QToolButton>
#include <QTreeView>
#include <QVBoxLayout>

namespace sasha::console {

namespace {

QTableView *makeTable(QAbstractItemModel *model, QWidget *parent)
{
    auto *v = new QTableView(parent);
    v->setModel(model);
    v->setSelectionBehavior(QAbstractItemView::SelectRows);
    v->setSelectionMode(QAbstractItemView::SingleSelection);
    v->setAlternatingRowColors(true);
    v->verticalHeader()->hide();
    v->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    v->verticalHeader()->setDefaultSectionSize(v->fontMetrics().height() + 8);
    v->horizontalHeader()->setStretchLastSection(true);
    v->horizontalHeader()->setHighlightSections(false);
    v->setWordWrap(false);
    return v;
}

QString shortAddr(tb::NodeAddr a) { return ipToString(a); }

} // namespace

MainWindow::MainWindow(ClusterFeed *feed, ConsoleOptions options, QWidget *parent)
    : QMainWindow(parent), m_feed(feed), m_options(options)
{
    if (m_options.presentation) {
        // Menus, toolbars, tables: large. The ring, the chart and the phases follow the window's
        // height instead (applyRoomFont). From the application's font, which main() leaves alone:
        // scaling it there too made 25.6 pt and collapsed the ring.
        QFont f = QApplication::font();
        f.setPointSizeF(std::max(16.0, f.pointSizeF() * 1.6));
        setFont(f);
    }
    m_membership = new MembershipModel(this);
    m_flows = new ConnectionMapModel([feed] { return feed->nowUs(); }, this);
    m_flows->setRefreshInterval(options.flowRefreshMs);
    // Sorting only (a header click): filtering 100k rows in a proxy at every compaction made
    // refreshes miss their budget, so the map filters itself (the filter box's setFilter).
    m_flowProxy = new FlowSortProxy(this);
    m_flowProxy->setSourceModel(m_flows);
    m_events = new EventModel(this);
    m_failovers = new FailoverModel(m_events, this);
    m_history = new CpsHistory(120'000'000, this);
    m_services = new ServiceModel(this);
    buildUi();
    buildMenus();
    if (!m_options.readOnly) {
        buildFaultToolbar();
        buildAdminActions();
    }

    connect(feed, &ClusterFeed::viewChanged, this, &MainWindow::onView);
    connect(feed, &ClusterFeed::eventOccurred, this, &MainWindow::onEvent);
    connect(feed, &ClusterFeed::flowsChanged, m_flows, &ConnectionMapModel::enqueue);
    connect(feed, &ClusterFeed::flowMapReset, m_flows, &ConnectionMapModel::resetMap);
    connect(feed, &ClusterFeed::faultReplied, this, &MainWindow::onFaultReply);
    connect(feed, &ClusterFeed::adminReplied, this, &MainWindow::onAdminReply);
    connect(feed, &ClusterFeed::adminReported, m_membership, &MembershipModel::setAdminReport);
    connect(feed, &ClusterFeed::problemChanged, this, &MainWindow::setProblem);
    connect(feed, &ClusterFeed::statusReported, m_services, &ServiceModel::setStatus);
    connect(m_services, &QAbstractItemModel::modelReset, this, &MainWindow::updateServicesHint);
    connect(m_services, &QAbstractItemModel::dataChanged, this, &MainWindow::updateServicesHint);
    connect(m_flows, &ConnectionMapModel::refreshed, this, &MainWindow::updateServerCounts);
    connect(m_events, &EventModel::failoversChanged, this, &MainWindow::updateFailoverSummary);

    m_sampleTimer.setTimerType(Qt::CoarseTimer);
    connect(&m_sampleTimer, &QTimer::timeout, this, &MainWindow::sampleNow);
    m_sampleTimer.start(1000);
    m_secondTimer.setTimerType(Qt::CoarseTimer);
    connect(&m_secondTimer, &QTimer::timeout, this, [this] {
        m_events->tick(m_feed->nowUs());
        m_flowView->viewport()->update(); // the Age column moves on
        updateStatus();
    });
    m_secondTimer.start(1000);
    m_ring->setRotationsPerSecond(feed->rotationsPerSecond());
    setWindowTitle(QStringLiteral("SASHA console — %1").arg(feed->describe()));
    updateStatus();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildUi()
{
    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    layout->setContentsMargins(6, 6, 6, 6);
    m_banner = new QLabel(central);
    m_banner->setWordWrap(true);
    m_banner->setStyleSheet(QStringLiteral("QLabel { background: #c62828; color: white; padding: 8px; font-weight: bold; }"));
    m_banner->hide();
    layout->addWidget(m_banner);

    auto *vertical = new QSplitter(Qt::Vertical, central);
    auto *top = new QSplitter(Qt::Horizontal, vertical);
    auto *ringBox = new QGroupBox(QStringLiteral("Ring"), top);
    auto *ringLayout = new QVBoxLayout(ringBox);
    m_ring = new RingWidget(m_membership, ringBox);
    ringLayout->addWidget(m_ring, 1);
    m_failoverSummary = new QLabel(QStringLiteral("No failover yet."), ringBox);
    m_failoverSummary->setWordWrap(true);
    ringLayout->addWidget(m_failoverSummary);
    m_chart = new CpsChartView(m_history, top);
    m_chart->setPresentation(m_options.presentation);
    top->addWidget(ringBox);
    top->addWidget(m_chart);
    top->setStretchFactor(0, 2);
    top->setStretchFactor(1, 3);
    top->setSizes({620, 980});

    auto *membersBox = new QGroupBox(QStringLiteral("Members"), central);
    auto *membersLayout = new QVBoxLayout(membersBox);
    m_memberView = makeTable(m_membership, membersBox);
    m_memberView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    membersLayout->addWidget(m_memberView);
    auto *tabs = new QTabWidget(central);
    m_eventView = makeTable(m_events, tabs);
    m_eventView->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    const int em = fontMetrics().horizontalAdvance(QLatin1Char('M'));
    const QFontMetrics fm = m_eventView->fontMetrics();
    const int ip = fm.horizontalAdvance(QStringLiteral("255.255.255.255")) + 16;
    m_eventView->setColumnWidth(EventModel::Time, fm.horizontalAdvance(QStringLiteral("00:00:00.000")) + 16);
    m_eventView->setColumnWidth(EventModel::Kind, fm.horizontalAdvance(QStringLiteral("reconstruction-completed")) + 16);
    m_eventView->setColumnWidth(EventModel::Node, ip);
    m_eventView->setColumnWidth(EventModel::Detail, em * 14);
    connect(m_events, &QAbstractItemModel::rowsInserted, m_eventView, &QTableView::scrollToBottom);
    tabs->addTab(m_eventView, QStringLiteral("Timeline"));
    m_failoverView = makeTable(m_failovers, tabs);
    m_failoverView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    tabs->addTab(m_failoverView, QStringLiteral("Failovers"));
    auto *servicesBox = new QWidget(tabs);
    auto *servicesLayout = new QVBoxLayout(servicesBox);
    servicesLayout->setContentsMargins(0, 0, 0, 0);
    m_servicesHint = new QLabel(servicesBox);
    m_servicesHint->setWordWrap(true);
    servicesLayout->addWidget(m_servicesHint);
    m_serviceView = makeTable(m_services, servicesBox);
    m_serviceView->setObjectName(QStringLiteral("services"));
    m_serviceView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    servicesLayout->addWidget(m_serviceView);
    tabs->addTab(servicesBox, QStringLiteral("Services"));
    updateServicesHint();

    auto *flowBox = new QGroupBox(QStringLiteral("Connection map"), central);
    auto *flowLayout = new QVBoxLayout(flowBox);
    m_filter = new QLineEdit(flowBox);
    m_filter->setPlaceholderText(QStringLiteral("Filter: client, server or state (e.g. 10.0.0.3, closed, :8080)"));
    m_filter->setClearButtonEnabled(true);
    m_filter->setObjectName(QStringLiteral("connectionFilter"));
    connect(m_filter, &QLineEdit::textChanged, m_flows, &ConnectionMapModel::setFilter);
    flowLayout->addWidget(m_filter);
    m_serverCounts = new QLabel(flowBox);
    m_serverCounts->setWordWrap(true);
    flowLayout->addWidget(m_serverCounts);
    // The table shows the map itself until a header is clicked: a proxy, even one that only
    // sorts, rebuilds its row mapping (100k rows) at every compaction of the map.
    m_flowView = makeTable(m_flows, flowBox);
    m_flowView->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    m_flowView->setColumnWidth(ConnectionMapModel::Client, m_flowView->fontMetrics().horizontalAdvance(QStringLiteral("255.255.255.255:65535")) + 16);
    m_flowView->setColumnWidth(ConnectionMapModel::Server, m_flowView->fontMetrics().horizontalAdvance(QStringLiteral("255.255.255.255")) + 16);
    m_flowView->setColumnWidth(ConnectionMapModel::State, m_flowView->fontMetrics().horizontalAdvance(QStringLiteral("established")) + 16);
    m_flowView->setSortingEnabled(false); // arrival order; a header click sorts (costly at 100k)
    m_flowView->horizontalHeader()->setSectionsClickable(true);
    m_flowView->horizontalHeader()->setSortIndicatorShown(false);
    connect(m_flowView->horizontalHeader(), &QHeaderView::sectionClicked, this, [this](int col) {
        if (m_flowView->model() != m_flowProxy) {
            // First sort: put the proxy in between, keeping the selected flow selected.
            const QModelIndex selected = m_flowView->currentIndex();
            m_flowView->setModel(m_flowProxy);
            if (selected.isValid())
                m_flowView->setCurrentIndex(m_flowProxy->mapFromSource(selected));
        }
        m_flowView->setSortingEnabled(true);
        m_flowView->sortByColumn(col, m_flowView->horizontalHeader()->sortIndicatorOrder());
    });
    flowLayout->addWidget(m_flowView);

    vertical->addWidget(top);
    if (m_options.presentation) {
        // What a room reads: the ring, the chart and the last failover's phases. The tables are
        // for the presenter: one tab strip at the bottom, kept low (drag the handle to see more).
        m_failoverSummary->hide();
        m_phases = new FailoverPhasesPanel(vertical);
        auto *details = new QTabWidget(vertical);
        details->setObjectName(QStringLiteral("details"));
        details->addTab(membersBox, QStringLiteral("Members"));
        details->addTab(m_eventView, QStringLiteral("Timeline"));
        details->addTab(m_failoverView, QStringLiteral("Failovers"));
        details->addTab(servicesBox, QStringLiteral("Services"));
        details->addTab(flowBox, QStringLiteral("Connection map"));
        delete tabs; // emptied by the tabs above
        membersBox->setTitle(QString());
        flowBox->setTitle(QString());
        ringBox->setTitle(QString());
        // The tab strip, a header and one row: enough to see that the tables are there.
        details->setMinimumHeight(details->tabBar()->sizeHint().height() + 3 * m_memberView->verticalHeader()->defaultSectionSize());
        top->setStretchFactor(0, 1); // the ring's labels need the width at 1920x1080
        top->setStretchFactor(1, 1);
        top->setSizes({800, 800});
        vertical->addWidget(m_phases);
        vertical->addWidget(details);
        vertical->setStretchFactor(0, 1);
        vertical->setStretchFactor(1, 0);
        vertical->setStretchFactor(2, 0);
        vertical->setCollapsible(0, false);
        vertical->setCollapsible(1, false);
        vertical->setSizes({10000, 1, 1}); // the phases and the tab strip at their minimum
    } else {
        auto *bottom = new QSplitter(Qt::Horizontal, vertical);
        auto *left = new QSplitter(Qt::Vertical, bottom);
        left->addWidget(membersBox);
        left->addWidget(tabs);
        bottom->addWidget(left);
        bottom->addWidget(flowBox);
        bottom->setStretchFactor(0, 3);
        bottom->setStretchFactor(1, 2);
        bottom->setSizes({900, 700});
        vertical->addWidget(bottom);
        vertical->setStretchFactor(0, 1);
        vertical->setStretchFactor(1, 1);
    }
    layout->addWidget(vertical, 1);
    setCentralWidget(central);

    m_statusLabel = new QLabel(this);
    statusBar()->addWidget(m_statusLabel, 1);
    resize(1600, 1000);
}

void MainWindow::buildMenus()
{
    QMenu *file = menuBar()->addMenu(QStringLiteral("&File"));
    auto exportWith = [this](const QString &title, const QString &filter, const QString &suffix,
                             bool (MainWindow::*fn)(const QString &, QString *)) {
        const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
        const QString path = QFileDialog::getSaveFileName(this, title, QStringLiteral("sasha-%1.%2").arg(stamp, suffix), filter);
        if (path.isEmpty())
            return;
        QString error;
        if (!(this->*fn)(path, &error))
            QMessageBox::warning(this, title, error);
    };
    file->addAction(QStringLiteral("Export chart as PNG…"), this, [=] {
        exportWith(QStringLiteral("Export chart"), QStringLiteral("PNG (*.png)"), QStringLiteral("png"), &MainWindow::exportChartPng);
    });
    file->addAction(QStringLiteral("Export events as CSV…"), this, [=] {
        exportWith(QStringLiteral("Export events"), QStringLiteral("CSV (*.csv)"), QStringLiteral("csv"), &MainWindow::exportEventsCsv);
    });
    file->addAction(QStringLiteral("Export cps samples as CSV…"), this, [=] {
        exportWith(QStringLiteral("Export samples"), QStringLiteral("CSV (*.csv)"), QStringLiteral("csv"), &MainWindow::exportSamplesCsv);
    });
    file->addSeparator();
    file->addAction(QStringLiteral("&Quit"), QKeySequence::Quit, this, &QWidget::close);
}

void MainWindow::buildFaultToolbar()
{
    QToolBar *bar = addToolBar(QStringLiteral("Faults"));
    bar->setObjectName(QStringLiteral("faults"));
    bar->setToolButtonStyle(Qt::ToolButtonTextOnly);
    bar->addWidget(new QLabel(QStringLiteral(" Selected node: "), bar));
    bar->addAction(QStringLiteral("Crash"), this, [this] { fromSelection(FaultAction::Crash); });
    bar->addAction(QStringLiteral("Hang"), this, [this] { fromSelection(FaultAction::Hang); });
    bar->addAction(QStringLiteral("Unplug"), this, [this] { fromSelection(FaultAction::Unplug); });
    m_duration = new QSpinBox(bar);
    m_duration->setRange(1, int(kMaxFaultDurationMs / 1000));
    m_duration->setValue(5);
    m_duration->setSuffix(QStringLiteral(" s"));
    m_duration->setToolTip(QStringLiteral("How long Hang and Unplug last"));
    bar->addWidget(m_duration);
    bar->addAction(QStringLiteral("Drain"), this, [this] { fromSelection(FaultAction::Drain); });
    bar->addAction(QStringLiteral("Restore"), this, [this] { fromSelection(FaultAction::Restore); });
    bar->addSeparator();
    QAction *kill = bar->addAction(QStringLiteral("Kill dispatcher"), this, [this] {
        QString error;
        if (!killDispatcher(&error) && !error.isEmpty())
            QMessageBox::warning(this, QStringLiteral("Kill dispatcher"), error);
    });
    kill->setToolTip(QStringLiteral("Crash whichever node is the dispatcher right now"));
    auto *scenarios = new QMenu(QStringLiteral("Scenario"), bar);
    for (int k = 1; k <= 4; ++k)
        scenarios->addAction(QStringLiteral("%1 server fault%2, %3 ms apart").arg(k).arg(k > 1 ? "s" : "").arg(m_options.scenarioSpacingMs),
                             this, [this, k] {
                                 QString error;
                                 if (!runScenario(k, &error) && !error.isEmpty())
                                     QMessageBox::warning(this, QStringLiteral("Scenario"), error);
                             });
    auto *button = new QToolButton(bar);
    button->setText(QStringLiteral("Scenario"));
    button->setMenu(scenarios);
    button->setPopupMode(QToolButton::InstantPopup);
    bar->addWidget(button);
    if (m_options.lab)
        bar->addWidget(new QLabel(QStringLiteral("  lab: no confirmations"), bar));
}

QString MainWindow::problem() const { return m_banner->isVisible() || !m_banner->isHidden() ? m_banner->text() : QString(); }

void MainWindow::setProblem(const QString &message)
{
    m_banner->setText(message);
    m_banner->setVisible(!message.isEmpty());
    if (message.isEmpty())
        m_banner->hide();
}

void MainWindow::onView(const tb::RingView &view)
{
    m_membership->setView(view, QDateTime::currentMSecsSinceEpoch());
    updateStatus();
    if (!view.members.empty())
        m_ring->setPhase(RingWidget::Phase::Whole);
    if (m_flows->dispatcher() == tb::kNoNode && view.dispatcher != tb::kNoNode)
        m_flows->resetMap(view.dispatcher);
}

void MainWindow::onEvent(const ControlEvent &e)
{
    m_events->addEvent(e);
    const QString &k = e.kind;
    if (k == QLatin1String("purge-started") || k == QLatin1String("token-timeout")) {
        m_ring->setPhase(RingWidget::Phase::Purging);
        m_membership->markRingBroken();
        m_history->addMarker(e.monoUs, QStringLiteral("purge-started"), QStringLiteral("purge"));
    } else if (k == QLatin1String("ring-formed")) {
        m_ring->setPhase(RingWidget::Phase::Forming);
    } else if (k == QLatin1String("dispatcher-elected")) {
        m_ring->flashElected(parseIpv4(e.node).value_or(tb::kNoNode));
        m_history->addMarker(e.monoUs, k, QStringLiteral("elected %1").arg(e.node));
    } else if (k == QLatin1String("member-left")) {
        m_membership->markLeft(parseIpv4(e.node).value_or(tb::kNoNode));
    } else if (k == kKindFaultInjected) {
        m_history->addMarker(e.monoUs, k, faultCause(e));
    }
}

void MainWindow::onFaultReply(tb::NodeAddr from, const FaultReply &reply)
{
    m_pendingFaults.remove(reply.commandId);
    ControlEvent e;
    e.monoUs = m_feed->nowUs();
    e.wallMs = QDateTime::currentMSecsSinceEpoch();
    e.kind = kKindFaultReply;
    e.node = shortAddr(from);
    e.detail = QStringLiteral("%1: %2%3").arg(faultActionName(reply.action), faultResultName(reply.result),
                                              reply.message.isEmpty() ? QString() : QStringLiteral(" (") + reply.message + QLatin1Char(')'));
    m_events->addEvent(e);
    if (reply.result == FaultResult::Disabled)
        statusBar()->showMessage(QStringLiteral("%1 refused: fault injection is off there ([faults] enabled = false)").arg(e.node), 10000);
}

void MainWindow::buildAdminActions()
{
    QToolBar *bar = addToolBar(QStringLiteral("Operator"));
    bar->setObjectName(QStringLiteral("operator"));
    bar->setToolButtonStyle(Qt::ToolButtonTextOnly);
    QAction *drain = bar->addAction(QStringLiteral("Take out of service"), this, [this] { adminFromSelection(AdminAction::Drain); });
    drain->setObjectName(QStringLiteral("adminDrain"));
    drain->setToolTip(QStringLiteral("Operator drain (sashactl drain): no new flows, existing flows finish; kept across restarts"));
    QAction *undrain = bar->addAction(QStringLiteral("Back in service"), this, [this] { adminFromSelection(AdminAction::Undrain); });
    undrain->setObjectName(QStringLiteral("adminUndrain"));
    QAction *weight = bar->addAction(QStringLiteral("Set weight…"), this, [this] { adminFromSelection(AdminAction::Weight); });
    weight->setObjectName(QStringLiteral("adminWeight"));
    m_memberView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_memberView->addActions({drain, undrain, weight});
}

void MainWindow::adminFromSelection(AdminAction action)
{
    const tb::NodeAddr node = selectedNode();
    if (node == tb::kNoNode) {
        statusBar()->showMessage(QStringLiteral("Select a node in the Members table first."), 5000);
        return;
    }
    int weight = 0;
    if (action == AdminAction::Weight) {
        const int row = m_membership->rowOf(node);
        const auto &admin = row >= 0 ? m_membership->rows()[std::size_t(row)].admin : std::nullopt;
        bool ok = false;
        weight = QInputDialog::getInt(this, QStringLiteral("Set weight"),
                                      QStringLiteral("Weight of %1 for new flows (0 = none, existing flows finish):").arg(shortAddr(node)),
                                      admin && admin->weight ? *admin->weight : 1, 0, int(kMaxOperatorWeight), 1, &ok);
        if (!ok)
            return;
    }
    QString error;
    if (!sendAdmin(node, action, quint16(weight), &error) && !error.isEmpty())
        QMessageBox::warning(this, QStringLiteral("Operator command"), error);
}

bool MainWindow::sendAdmin(tb::NodeAddr target, AdminAction action, quint16 weight, QString *error)
{
    const AdminCommand cmd{action, m_nextCommandId++, target, action == AdminAction::Weight ? weight : quint16(0)};
    const QString what = action == AdminAction::Weight ? QStringLiteral("weight %1").arg(weight) : adminActionName(action);
    QString why;
    if (m_options.readOnly || !m_feed->sendAdmin(cmd, &why)) {
        if (error)
            *error = QStringLiteral("%1 %2 not sent: %3").arg(what, shortAddr(target), m_options.readOnly ? QStringLiteral("read-only console") : why);
        return false;
    }
    statusBar()->showMessage(QStringLiteral("%1 sent to %2").arg(what, shortAddr(target)), 5000);
    return true;
}

void MainWindow::onAdminReply(tb::NodeAddr from, const AdminReply &reply)
{
    ControlEvent e;
    e.monoUs = m_feed->nowUs();
    e.wallMs = QDateTime::currentMSecsSinceEpoch();
    e.kind = kKindAdminReply;
    e.node = shortAddr(from);
    e.detail = QStringLiteral("%1: %2%3").arg(adminActionName(reply.action), adminResultName(reply.result),
                                              reply.message.isEmpty() ? QString() : QStringLiteral(" (") + reply.message + QLatin1Char(')'));
    m_events->addEvent(e);
    if (reply.result != AdminResult::Accepted)
        statusBar()->showMessage(QStringLiteral("%1: %2").arg(e.node, e.detail), 10000);
}

tb::NodeAddr MainWindow::selectedNode() const
{
    const QModelIndexList rows = m_memberView->selectionModel()->selectedRows();
    if (rows.isEmpty())
        return tb::kNoNode;
    return rows.first().data(MembershipModel::AddrRole).value<tb::NodeAddr>();
}

bool MainWindow::confirm(const QString &question)
{
    if (m_options.lab)
        return true;
    if (m_confirm)
        return m_confirm(question);
    return QMessageBox::question(this, QStringLiteral("Confirm fault injection"), question) == QMessageBox::Yes;
}

void MainWindow::fromSelection(FaultAction action)
{
    const tb::NodeAddr node = selectedNode();
    if (node == tb::kNoNode) {
        statusBar()->showMessage(QStringLiteral("Select a node in the Members table first."), 5000);
        return;
    }
    QString error;
    const quint32 ms = faultActionTakesDuration(action) ? quint32(m_duration->value()) * 1000 : 0;
    if (!injectFault(node, action, ms, 0, &error) && !error.isEmpty())
        QMessageBox::warning(this, QStringLiteral("Fault injection"), error);
}

bool MainWindow::injectFault(tb::NodeAddr target, FaultAction action, quint32 durationMs, quint8 flags, QString *error)
{
    if (m_options.readOnly) {
        if (error)
            *error = QStringLiteral("read-only console: fault injection is disabled");
        return false;
    }
    if (faultActionIsDestructive(action)) {
        const QString what = faultActionTakesDuration(action)
                                 ? QStringLiteral("%1 %2 for %3 s").arg(faultActionName(action), shortAddr(target)).arg(durationMs / 1000.0)
                                 : QStringLiteral("%1 %2").arg(faultActionName(action), shortAddr(target));
        if (!confirm(QStringLiteral("Really %1? This disturbs a running cluster.").arg(what)))
            return false;
    }
    return sendFault(target, action, durationMs, flags, error);
}

bool MainWindow::sendFault(tb::NodeAddr target, FaultAction action, quint32 durationMs, quint8 flags, QString *error)
{
    const FaultCommand cmd{action, flags, m_nextCommandId++, target, durationMs};
    QString why;
    if (!m_feed->sendFault(cmd, &why)) {
        if (error)
            *error = QStringLiteral("%1 %2 not sent: %3").arg(faultActionName(action), shortAddr(target), why);
        return false;
    }
    // A crash may kill the node before its reply leaves, but an answer is expected first; silence
    // usually means the node does not execute fault commands at all.
    m_pendingFaults.insert(cmd.commandId, target);
    QTimer::singleShot(kFaultReplyTimeoutMs, this, [this, id = cmd.commandId, action] {
        const auto it = m_pendingFaults.constFind(id);
        if (it == m_pendingFaults.cend())
            return;
        ControlEvent e;
        e.monoUs = m_feed->nowUs();
        e.wallMs = QDateTime::currentMSecsSinceEpoch();
        e.kind = kKindFaultReply;
        e.node = shortAddr(*it);
        e.detail = QStringLiteral("%1: no answer within %2 s (node unreachable, or its sashad does not execute fault commands)")
                       .arg(faultActionName(action)).arg(kFaultReplyTimeoutMs / 1000);
        m_pendingFaults.erase(it);
        m_events->addEvent(e);
    });
    ControlEvent e;
    e.monoUs = m_feed->nowUs();
    e.wallMs = QDateTime::currentMSecsSinceEpoch();
    e.kind = kKindFaultInjected;
    e.node = shortAddr(target);
    e.detail = QStringLiteral("%1 %2").arg(faultActionName(action), e.node);
    if (faultActionTakesDuration(action))
        e.detail += QStringLiteral(" %1 s").arg(durationMs / 1000.0);
    if (flags & kOnlyIfDispatcher)
        e.detail = QStringLiteral("kill dispatcher %1").arg(e.node);
    onEvent(e);
    return true;
}

bool MainWindow::killDispatcher(QString *error)
{
    const tb::NodeAddr d = m_membership->dispatcher();
    if (d == tb::kNoNode) {
        if (error)
            *error = QStringLiteral("no dispatcher in the current view");
        return false;
    }
    return injectFault(d, FaultAction::Crash, 0, kOnlyIfDispatcher, error);
}

bool MainWindow::runScenario(int serverFaults, QString *error)
{
    std::vector<tb::NodeAddr> servers;
    for (const auto &r : m_membership->rows())
        if (!r.observer && r.state == NodeDisplayState::Alive && r.member.addr != m_membership->dispatcher())
            servers.push_back(r.member.addr);
    if (m_options.readOnly || serverFaults < 1 || serverFaults > int(servers.size())) {
        if (error)
            *error = m_options.readOnly ? QStringLiteral("read-only console: fault injection is disabled")
                                        : QStringLiteral("%1 server faults asked, %2 servers alive").arg(serverFaults).arg(servers.size());
        return false;
    }
    // The highest addresses first: the ring master and the dispatcher stay, as in the paper.
    std::sort(servers.rbegin(), servers.rend());
    servers.resize(std::size_t(serverFaults));
    QStringList names;
    for (auto s : servers)
        names << shortAddr(s);
    if (!confirm(QStringLiteral("Crash %1 server(s) one after another (%2), %3 ms apart?")
                     .arg(serverFaults).arg(names.join(QStringLiteral(", "))).arg(m_options.scenarioSpacingMs)))
        return false;
    if (!sendFault(servers[0], FaultAction::Crash, 0, 0, error))
        return false;
    for (std::size_t i = 1; i < servers.size(); ++i)
        QTimer::singleShot(int(i) * m_options.scenarioSpacingMs, this,
                           [this, s = servers[i]] { sendFault(s, FaultAction::Crash, 0, 0, nullptr); });
    return true;
}

void MainWindow::sampleNow()
{
    QMap<tb::NodeAddr, quint32> per;
    for (const auto &r : m_membership->rows())
        if (!r.observer && r.state != NodeDisplayState::Dead && r.state != NodeDisplayState::Left &&
            r.member.status.role != tb::Role::Dispatcher)
            per.insert(r.member.addr, r.member.status.connectionsPerSecond);
    m_history->addSample(m_feed->nowUs(), per);
}

void MainWindow::updateStatus()
{
    int members = 0, observers = 0;
    for (const auto &r : m_membership->rows())
        if (r.state != NodeDisplayState::Dead && r.state != NodeDisplayState::Left)
            ++(r.observer ? observers : members);
    const tb::NodeAddr d = m_membership->dispatcher();
    m_statusLabel->setText(QStringLiteral("%1   ·   ring epoch %2   ·   %3 members, %4 observers   ·   dispatcher %5   ·   %6 flows")
                               .arg(m_feed->describe()).arg(m_membership->ringEpoch()).arg(members).arg(observers)
                               .arg(d ? shortAddr(d) : QStringLiteral("none"))
                               .arg(QLocale().toString(m_flows->activeFlows())));
}

void MainWindow::updateServerCounts()
{
    const auto &per = m_flows->activePerServer();
    QList<tb::NodeAddr> keys = per.keys();
    std::sort(keys.begin(), keys.end());
    QStringList parts;
    for (auto k : keys)
        parts << QStringLiteral("<b>%1</b> %2").arg(shortAddr(k), QLocale().toString(per.value(k)));
    m_serverCounts->setText(QStringLiteral("%1 open flows from dispatcher %2 — per server: %3")
                                .arg(QLocale().toString(m_flows->activeFlows()))
                                .arg(m_flows->dispatcher() ? shortAddr(m_flows->dispatcher()) : QStringLiteral("—"))
                                .arg(parts.isEmpty() ? QStringLiteral("none") : parts.join(QStringLiteral(" · "))));
}

void MainWindow::updateServicesHint()
{
    if (m_services->rowCount() == 0) {
        m_servicesHint->setText(QStringLiteral(
            "No daemon status yet: the services come from the sashad control sockets given with "
            "--control-socket (the dispatcher's for the per-service figures)."));
    } else if (!m_services->fromDispatcher()) {
        m_servicesHint->setText(QStringLiteral("From %1, which does not dispatch: new flows and CPS are "
                                               "known from the dispatcher's status only (its --control-socket).")
                                    .arg(m_services->sourceNode()));
    } else {
        m_servicesHint->setText(QStringLiteral("From the dispatcher %1: new flows since its data path "
                                               "started, connections per second per service.")
                                    .arg(m_services->sourceNode()));
    }
}

void MainWindow::updateFailoverSummary()
{
    const auto &all = m_events->tracker().failovers();
    QStringList lines;
    for (std::size_t i = all.size() > 2 ? all.size() - 2 : 0; i < all.size(); ++i) {
        const Failover &f = all[i];
        QString line = QStringLiteral("<b>%1</b>%2: detection %3 · re-formation %4")
                           .arg(f.cause.toHtmlEscaped(),
                                f.newDispatcher.isEmpty() ? QString() : QStringLiteral(" → dispatcher <b>%1</b>").arg(f.newDispatcher),
                                formatPhase(f.detectionUs()), formatPhase(f.reformationUs()));
        if (!f.newDispatcher.isEmpty())
            line += QStringLiteral(" · election %1 · reconstruction %2 · first packet %3")
                        .arg(formatPhase(f.electionUs()), formatPhase(f.reconstructionUs()), formatPhase(f.firstPacketAfterUs()));
        line += QStringLiteral(" · <b>total %1</b>%2").arg(formatPhase(f.totalUs()), f.closed ? QString() : QStringLiteral(" …"));
        lines << line;
    }
    if (!lines.isEmpty())
        m_failoverSummary->setText(lines.join(QStringLiteral("<br>")));
    if (m_phases)
        m_phases->showFailover(all.empty() ? nullptr : &all.back());
}

void MainWindow::resizeEvent(QResizeEvent *event)
{
    QMainWindow::resizeEvent(event);
    if (m_options.presentation)
        applyRoomFont();
}

void MainWindow::applyRoomFont()
{
    // Text about 1/36 of the window's height: 20 px at 720 lines, 30 px at 1080, readable from
    // the back of a room on a projector; the ring shrinks its labels again if they do not fit.
    const int px = std::clamp(height() / 36, 14, 48);
    for (QWidget *w : {static_cast<QWidget *>(m_ring), static_cast<QWidget *>(m_chart), static_cast<QWidget *>(m_phases)}) {
        if (w->font().pixelSize() == px)
            continue;
        QFont f = w->font();
        f.setPixelSize(px);
        w->setFont(f);
    }
}

bool MainWindow::exportChartPng(const QString &path, QString *error) { return m_chart->exportPng(path, error); }

bool MainWindow::exportEventsCsv(const QString &path, QString *error) { return m_events->exportCsv(path, error); }

bool MainWindow::exportSamplesCsv(const QString &path, QString *error) { return m_history->exportCsv(path, error); }

QAbstractItemModel *MainWindow::connectionRows() const { return m_flowView->model(); }

} // namespace sasha::console
