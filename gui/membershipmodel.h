#pragma once
// MembershipModel: one row per node the console has seen, fed from RingView snapshots. A new view
// is diffed against the rows (insert, update, mark dead), never reset, so a selection and the
// scroll position survive the ~5 views per second a ring sends. Nodes missing from a view are not
// removed: they stay as "dead" (or "left" after a graceful leave) so the operator sees what went
// away; they become alive again when they rejoin. Owned and used by the GUI thread.

#include "control/admincommand.h"
#include "tokenbeat/types.h"

#include <QAbstractTableModel>

#include <optional>
#include <vector>

namespace sasha::console {

enum class NodeDisplayState : quint8 { Alive, Suspect, Dead, Left, Draining, Unhealthy };
QString nodeDisplayStateName(NodeDisplayState s);

class MembershipModel : public QAbstractTableModel {
    Q_OBJECT
public:
    // Active: flows not closing (token status); Open: every flow the dispatcher holds for the node,
    // closing ones included (its admin report; the connection map's count). Drained, Weight: the
    // operator's state (sashactl drain/weight), from the node's admin report; "—" when unknown.
    enum Column { Node, Address, Role, State, Capabilities, Health, Connections, OpenFlows, Drained, Weight, Cps, LastSeen, ColumnCount };
    enum { SortRole = Qt::UserRole + 1, AddrRole };

    struct Row {
        tb::Member member;
        bool observer = false;
        NodeDisplayState state = NodeDisplayState::Alive;
        qint64 lastSeenMs = 0; // wall clock ms of the last view that listed it
        std::optional<AdminReport> admin; // the node's latest admin report, none yet: nullopt
    };

    explicit MembershipModel(QObject *parent = nullptr);

    // Applies a snapshot; nowWallMs stamps "last seen".
    void setView(const tb::RingView &view, qint64 nowWallMs);
    // A node's admin report (ClusterFeed::adminReported); ignored for nodes without a row.
    void setAdminReport(tb::NodeAddr addr, const AdminReport &report);
    // Purge in progress: every alive member becomes suspect until the next view.
    void markRingBroken();
    // A graceful leave: the node shows "left" instead of "dead" once it is gone.
    void markLeft(tb::NodeAddr addr);

    const std::vector<Row> &rows() const { return m_rows; }
    tb::NodeAddr dispatcher() const { return m_dispatcher; }
    tb::NodeAddr master() const { return m_master; }
    quint32 ringEpoch() const { return m_ringEpoch; }
    int rowOf(tb::NodeAddr addr) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation o, int role) const override;

Q_SIGNALS:
    // Any change the ring picture cares about (rows, states, roles).
    void membershipChanged();

private:
    void updateRow(int row, const Row &r);
    std::vector<Row> m_rows; // sorted by address, members and observers mixed
    tb::NodeAddr m_dispatcher = tb::kNoNode;
    tb::NodeAddr m_master = tb::kNoNode;
    quint32 m_ringEpoch = 0;
    std::vector<tb::NodeAddr> m_left;
};

QColor nodeStateColor(NodeDisplayState s);

} // namespace sasha::console
