#pragma once
// ConnectionMapModel: the current dispatcher's flows, client address:port -> server. Built for
// 100k flows at 5k new connections/s: updates from the feed are queued and applied in one batch
// per refresh (every 200 ms by default), so the view sees one rowsInserted per batch, a few
// dataChanged runs, and no reset. Ended flows stay visible as "closed" for kClosedLingerUs, then
// a compaction removes them all at once (one layout change, persistent indexes and therefore the
// selection kept) at most every kCompactIntervalUs.
// The filter lives here, not in a proxy: the model's rows are the flows that match it. A flow's
// match is decided once, when it is added or its text changes (a few thousand a second), never
// by walking all 100k rows per batch. New matching flows are appended as rows at once; a held
// flow whose match flipped shows or hides at the next re-layout (with the compaction, at most
// every kCompactIntervalUs). Changing the filter text re-matches every flow once (one layout change).
// A new dispatcher (resetMap) does not clear the map: flows it reports again through state
// reconstruction are confirmed in place; those it has not confirmed after kReconfirmUs are closed.
// Counts (activeFlows, activePerServer) are over every flow, whatever the filter.
// Owned and used by the GUI thread. Time is the feed's monotonic clock, injected.

#include "clusterfeed.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QSortFilterProxyModel>
#include <QTimer>

#include <functional>
#include <string>
#include <vector>

namespace sasha::console {

class ConnectionMapModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Client, Server, State, Age, ColumnCount };
    enum { SortRole = Qt::UserRole + 1, SearchTextRole }; // SearchTextRole: what the filter searches
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
    // Every flow held (open, and closed ones still lingering), shown by the filter or not;
    // rowCount() is the rows the filter shows.
    int totalFlows() const { return int(m_rows.size()); }

    // Shows only the flows whose "client server state" contains text (trimmed, case-insensitive);
    // empty shows every flow. The console's filter box calls it on every keystroke.
    void setFilter(const QString &text);
    const QString &filter() const { return m_filter; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation o, int role) const override;

Q_SIGNALS:
    // After each applied batch: counts may have changed.
    void refreshed();

private:
    // A flow held by the model. Its index in m_rows is its "storage row" (arrival order, moved
    // only by a compaction); the model row a view sees is the same while no filter is set, and
    // viewRow while one is.
    struct Row {
        FlowRecord flow;
        qint64 closedUs = 0;  // when it was seen closed; 0 while open
        quint32 generation = 0; // dispatcher generation that last reported it
        int slot = -1;          // index into m_slotRow, fixed for the row's life
        int viewRow = -1;       // while filtering: its index in m_visible, -1 = hidden
        bool matches = false;   // while filtering: the filter's answer for its current text
    };
    // "client:port server state" of f, the text the filter searches (lower-case ASCII), written
    // into buf without allocating; returns its length.
    static constexpr int kSearchTextMax = 64;
    static int formatSearchText(const FlowRecord &f, char (&buf)[kSearchTextMax]);
    bool matchesFilter(const FlowRecord &f) const;
    bool filtering() const { return !m_filter.isEmpty(); }
    int storageRow(int modelRow) const { return filtering() ? m_visible[std::size_t(modelRow)] : modelRow; }
    int modelRow(int storageRow) const { return filtering() ? m_rows[std::size_t(storageRow)].viewRow : storageRow; }
    // Updates row to f; while filtering, decides its match again when its text changed and
    // returns whether the match now differs from whether the row is shown (~0.2 µs per flow:
    // formatting a QString per flow instead cost a few ms per batch).
    bool setFlow(Row &row, const FlowRecord &f, qint64 now);
    void count(const FlowRecord &f, int delta);
    bool hasExpired(qint64 now) const;
    // One layout change: drops expired closed rows when dropExpired, lets change() alter the
    // filter, then shows exactly the matching rows and moves persistent indexes along.
    void relayout(qint64 now, bool dropExpired, const std::function<void()> &change = {});
    void dropExpired(qint64 now, std::vector<int> &newRow); // old storage row -> new, -1 = dropped
    int takeSlot(int row); // a free slot pointing at row
    void closeUnconfirmed(qint64 now);
    void emitChanged(std::vector<int> &rows); // model rows; sorted, deduplicated, merged into few signals

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
    QString m_filter;          // trimmed; empty = every flow is a row
    // m_filter case-folded, as the search text is lower-case ASCII; a filter with other
    // characters matches no flow.
    std::string m_needle;
    bool m_needleAscii = true;
    std::vector<int> m_visible; // while filtering: storage rows of the model's rows, ascending
    bool m_refilterPending = false; // a held flow's match flipped since the last re-layout
    qint64 m_reconfirmDeadlineUs = 0; // 0 = none pending
    tb::NodeAddr m_dispatcher = tb::kNoNode;
};

// The connection table's sort order after a header click (not dynamic: rows are not re-sorted as
// they change, new rows go last). It accepts every row without looking: the map filters itself,
// and QSortFilterProxyModel's own filter test per row at each compaction's mapping rebuild cost
// ~0.5-0.9 ms at 100k rows.
class FlowSortProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit FlowSortProxy(QObject *parent = nullptr);

protected:
    bool filterAcceptsRow(int, const QModelIndex &) const override { return true; }
};

} // namespace sasha::console
