#pragma once
// ConnectionMapModel: the current dispatcher's flows, client address:port -> server. Built for
// 100k flows at 5k new connections/s: updates from the feed are queued and applied in one batch
// per refresh (every 200 ms by default), so the view sees one rowsInserted per batch, a few
// dataChanged runs, and no reset. Ended flows stay visible as "closed" for kClosedLingerUs, then
// a compaction removes them all at once (one layout change, persistent indexes and therefore the
// selection kept) at most every kCompactIntervalUs.
// A new dispatcher (resetMap) does not clear the map: flows it reports again through state
// reconstruction are confirmed in place; those it has not confirmed after kReconfirmUs are closed.
// Owned and used by the GUI thread. Time is the feed's monotonic clock, injected.

#include "clusterfeed.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QSortFilterProxyModel>
#include <QStringMatcher>
#include <QTimer>

#include <functional>
#include <vector>

namespace sasha::console {

class ConnectionMapModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Client, Server, State, Age, ColumnCount };
    enum { SortRole = Qt::UserRole + 1, SearchTextRole };
    using Clock = std::function<qint64()>; // monotonic µs, the feed's clock

    static constexpr qint64 kClosedLingerUs = 2'000'000;
    static constexpr qint64 kCompactIntervalUs = 1'000'000;
    static constexpr qint64 kReconfirmUs = 5'000'000;
    static constexpr int kMaxFlows = 1'000'000; // beyond: new flows dropped and counted

    explicit ConnectionMapModel(Clock clock, QObject *parent = nullptr);

    // Queue updates; applied at the next refresh.
    void enqueue(const QList<FlowRecord> &flows);
    void resetMap(tb::NodeAddr dispatcher);
    // 0 disables the timer (tests and the benchmark call applyPending() themselves).
    void setRefreshInterval(int ms);
    // Applies everything queued; returns the number of updates applied.
    int applyPending();

    int activeFlows() const { return m_active; }
    const QHash<tb::NodeAddr, int> &activePerServer() const { return m_perServer; }
    tb::NodeAddr dispatcher() const { return m_dispatcher; }
    quint64 droppedFlows() const { return m_dropped; }
    int pendingCount() const { return int(m_pending.size()); }
    // "client server state" of a row, for the filter (built on first use, kept until it changes).
    const QString &searchTextAt(int row) const { return searchText(m_rows[std::size_t(row)]); }
    // Whether row's search text contains matcher's pattern, cached per row for one filter: the
    // proxy re-filters every row at each compaction, and 100k string searches took ~40 ms there.
    // A filter takes a new epoch (newFilterEpoch()) whenever its text changes; a row's cached
    // answer is dropped when the row changes.
    bool rowMatches(int row, const QStringMatcher &matcher, quint32 epoch) const;
    quint32 newFilterEpoch() { return ++m_filterEpoch; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation o, int role) const override;

Q_SIGNALS:
    // After each applied batch: counts may have changed.
    void refreshed();

private:
    struct Row {
        FlowRecord flow;
        qint64 closedUs = 0;  // when it was seen closed; 0 while open
        quint32 generation = 0; // dispatcher generation that last reported it
        int slot = -1;          // index into m_slotRow, fixed for the row's life
        mutable QString text; // "client server state" for the filter; built when first asked, cleared on change
        mutable quint32 matchEpoch = 0; // filter epoch that matchResult answers; 0 = none
        mutable bool matchResult = false;
    };
    void setFlow(Row &row, const FlowRecord &f, qint64 now);
    void count(const FlowRecord &f, int delta);
    void compact(qint64 now);
    int takeSlot(int row); // a free slot pointing at row
    void closeUnconfirmed(qint64 now);
    void emitChanged(std::vector<int> &rows); // sorted, deduplicated, merged into few signals
    const QString &searchText(const Row &row) const;

    Clock m_clock;
    QTimer m_timer;
    std::vector<Row> m_rows;
    // flow key -> slot -> row. The slot of a flow never changes, so a compaction that moves
    // 100k rows rewrites m_slotRow (plain ints) instead of re-hashing every key.
    QHash<quint64, int> m_index;
    std::vector<int> m_slotRow; // -1 = free
    std::vector<int> m_freeSlots;
    QList<FlowRecord> m_pending;
    QHash<tb::NodeAddr, int> m_perServer; // open flows per server
    mutable QHash<tb::NodeAddr, QString> m_serverNames;
    int m_active = 0;
    int m_closedRows = 0;
    quint64 m_dropped = 0;
    qint64 m_lastCompactUs = 0;
    quint32 m_generation = 0;
    quint32 m_filterEpoch = 0;
    qint64 m_reconfirmDeadlineUs = 0; // 0 = none pending
    tb::NodeAddr m_dispatcher = tb::kNoNode;
};

// Filter/search over the map: a case-insensitive substring of "client server state". Uses the
// text the model keeps per row, so a keystroke over 100k rows formats nothing. Not dynamic: a
// changed row is not re-filtered on dataChanged (the model reports changes in a few wide ranges,
// and re-filtering 100k rows five times a second is what made refreshes slow); new rows are
// filtered as they arrive and every row again at each compaction (at most once a second).
class FlowFilterProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit FlowFilterProxy(QObject *parent = nullptr) : QSortFilterProxyModel(parent) { setDynamicSortFilter(false); }
    void setSearch(const QString &text);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QString m_search;
    QStringMatcher m_matcher; // case-insensitive, built once per search text
    quint32 m_epoch = 0; // the source's filter epoch for m_search (cached per-row answers)
    ConnectionMapModel *m_flows = nullptr; // the source when it is a ConnectionMapModel
};

} // namespace sasha::console
