#include "connectionmapmodel.h"

#include <QColor>

#include <algorithm>

namespace sasha::console {

ConnectionMapModel::ConnectionMapModel(Clock clock, QObject *parent)
    : QAbstractTableModel(parent), m_clock(std::move(clock))
{
    m_timer.setTimerType(Qt::CoarseTimer);
    connect(&m_timer, &QTimer::timeout, this, &ConnectionMapModel::applyPending);
    setRefreshInterval(200);
}

void ConnectionMapModel::setRefreshInterval(int ms)
{
    if (ms <= 0) {
        m_timer.stop();
        return;
    }
    m_timer.start(ms);
}

void ConnectionMapModel::enqueue(const QList<FlowRecord> &flows) { m_pending += flows; }

void ConnectionMapModel::resetMap(tb::NodeAddr dispatcher)
{
    if (dispatcher == m_dispatcher)
        return;
    if (m_dispatcher == tb::kNoNode) {
        m_dispatcher = dispatcher; // the first dispatcher seen: its flows need no reconfirming
        return;
    }
    applyPending(); // what the old dispatcher said stays attributed to it
    m_dispatcher = dispatcher;
    ++m_generation;
    m_reconfirmDeadlineUs = m_clock() + kReconfirmUs;
}

void ConnectionMapModel::count(const FlowRecord &f, int delta)
{
    if (f.state == FlowRecord::State::Closed)
        return;
    m_active += delta;
    int &n = m_perServer[f.server];
    n += delta;
    if (n <= 0)
        m_perServer.remove(f.server);
}

void ConnectionMapModel::setFlow(Row &row, const FlowRecord &f, qint64 now)
{
    count(row.flow, -1);
    if (f.state == FlowRecord::State::Closed && row.closedUs == 0) {
        row.closedUs = now;
        ++m_closedRows;
    } else if (f.state != FlowRecord::State::Closed && row.closedUs != 0) {
        row.closedUs = 0;
        --m_closedRows;
    }
    const bool sameAddrs = row.flow.key() == f.key() && row.flow.server == f.server;
    const bool sameState = row.flow.state == f.state;
    const qint64 start = row.flow.startUs && row.flow.key() == f.key() ? std::min(row.flow.startUs, f.startUs) : f.startUs;
    row.flow = f;
    if (start)
        row.flow.startUs = start;
    row.generation = m_generation;
    // The search text and the cached filter answer change only with the text: a state change
    // (thousands a second) swaps the last word instead of formatting both addresses again.
    if (!sameAddrs) {
        row.text.clear();
        row.matchEpoch = 0;
    } else if (!sameState) {
        if (!row.text.isEmpty()) {
            row.text.truncate(row.text.lastIndexOf(QLatin1Char(' ')) + 1);
            row.text += flowStateName(f.state);
        }
        row.matchEpoch = 0;
    }
    count(row.flow, +1);
}

int ConnectionMapModel::applyPending()
{
    const qint64 now = m_clock();
    const int applied = int(m_pending.size());
    std::vector<int> changed;
    std::vector<Row> added;
    const int base = int(m_rows.size());
    for (const FlowRecord &f : std::as_const(m_pending)) {
        const auto it = m_index.constFind(f.key());
        if (it != m_index.cend()) {
            const int r = m_slotRow[std::size_t(*it)];
            if (r < base) {
                setFlow(m_rows[std::size_t(r)], f, now);
                changed.push_back(r);
            } else {
                setFlow(added[std::size_t(r - base)], f, now);
            }
            continue;
        }
        if (f.state == FlowRecord::State::Closed)
            continue; // the end of a flow we never saw
        if (int(m_rows.size() + added.size()) >= kMaxFlows) {
            ++m_dropped;
            continue;
        }
        const int slot = takeSlot(base + int(added.size()));
        m_index.insert(f.key(), slot);
        added.emplace_back();
        added.back().slot = slot;
        added.back().flow.state = FlowRecord::State::Closed; // not counted yet
        setFlow(added.back(), f, now);
    }
    m_pending.clear();

    emitChanged(changed);
    if (!added.empty()) {
        beginInsertRows({}, base, base + int(added.size()) - 1);
        std::move(added.begin(), added.end(), std::back_inserter(m_rows));
        endInsertRows();
    }
    if (m_reconfirmDeadlineUs && now >= m_reconfirmDeadlineUs)
        closeUnconfirmed(now);
    if (m_closedRows > 0 && now - m_lastCompactUs >= kCompactIntervalUs)
        compact(now);
    Q_EMIT refreshed();
    return applied;
}

int ConnectionMapModel::takeSlot(int row)
{
    if (m_freeSlots.empty()) {
        m_slotRow.push_back(row);
        return int(m_slotRow.size()) - 1;
    }
    const int slot = m_freeSlots.back();
    m_freeSlots.pop_back();
    m_slotRow[std::size_t(slot)] = row;
    return slot;
}

void ConnectionMapModel::closeUnconfirmed(qint64 now)
{
    m_reconfirmDeadlineUs = 0;
    std::vector<int> changed;
    for (int r = 0; r < int(m_rows.size()); ++r) {
        Row &row = m_rows[std::size_t(r)];
        if (row.generation < m_generation && row.closedUs == 0) {
            FlowRecord f = row.flow;
            f.state = FlowRecord::State::Closed;
            setFlow(row, f, now);
            changed.push_back(r);
        }
    }
    emitChanged(changed);
}

void ConnectionMapModel::emitChanged(std::vector<int> &rows)
{
    if (rows.empty())
        return;
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    // A thousand scattered changes per refresh: one signal per run of rows would cost more in
    // the proxy and the view than re-checking the rows in between, so runs closer than
    // kMergeGap are merged and at most kMaxChangedSignals signals are sent (dataChanged may
    // cover rows that did not change; views repaint only what is visible).
    constexpr int kMergeGap = 256;
    constexpr std::size_t kMaxChangedSignals = 16;
    std::vector<std::pair<int, int>> runs;
    for (int r : rows) {
        if (!runs.empty() && r - runs.back().second <= kMergeGap)
            runs.back().second = r;
        else
            runs.emplace_back(r, r);
    }
    if (runs.size() > kMaxChangedSignals)
        runs = {{rows.front(), rows.back()}};
    for (const auto &[first, last] : runs)
        Q_EMIT dataChanged(index(first, 0), index(last, ColumnCount - 1));
}

void ConnectionMapModel::compact(qint64 now)
{
    m_lastCompactUs = now;
    const auto expired = [now](const Row &r) { return r.closedUs != 0 && now - r.closedUs >= kClosedLingerUs; };
    if (std::none_of(m_rows.begin(), m_rows.end(), expired))
        return;
    Q_EMIT layoutAboutToBeChanged();
    std::vector<int> newRow(m_rows.size(), -1);
    std::size_t out = 0;
    for (std::size_t in = 0; in < m_rows.size(); ++in) {
        Row &r = m_rows[in];
        if (expired(r)) {
            m_index.remove(r.flow.key());
            m_slotRow[std::size_t(r.slot)] = -1;
            m_freeSlots.push_back(r.slot);
            --m_closedRows;
            continue;
        }
        newRow[in] = int(out);
        if (out != in) {
            m_slotRow[std::size_t(r.slot)] = int(out); // an array store: re-hashing 100k keys took ~10 ms
            m_rows[out] = std::move(r);
        }
        ++out;
    }
    m_rows.resize(out);
    const QModelIndexList from = persistentIndexList();
    QModelIndexList to;
    to.reserve(from.size());
    for (const QModelIndex &i : from) {
        const int r = newRow[std::size_t(i.row())];
        to.append(r < 0 ? QModelIndex() : index(r, i.column()));
    }
    changePersistentIndexList(from, to);
    Q_EMIT layoutChanged();
}

const QString &ConnectionMapModel::searchText(const Row &row) const
{
    if (row.text.isEmpty()) {
        const FlowRecord &f = row.flow;
        row.text = ipToString(f.clientIp) + QLatin1Char(':') + QString::number(f.clientPort) + QLatin1Char(' ') +
                   ipToString(f.server) + QLatin1Char(' ') + flowStateName(f.state);
    }
    return row.text;
}

bool ConnectionMapModel::rowMatches(int row, const QStringMatcher &matcher, quint32 epoch) const
{
    const Row &r = m_rows[std::size_t(row)];
    if (r.matchEpoch != epoch) {
        r.matchResult = matcher.indexIn(searchText(r)) >= 0;
        r.matchEpoch = epoch;
    }
    return r.matchResult;
}

int ConnectionMapModel::rowCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : int(m_rows.size()); }

int ConnectionMapModel::columnCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant ConnectionMapModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row &row = m_rows[std::size_t(index.row())];
    const FlowRecord &f = row.flow;
    if (role == SearchTextRole)
        return searchText(row);
    if (role == Qt::ForegroundRole)
        return row.closedUs ? QVariant(QColor(Qt::gray)) : QVariant();
    if (role == Qt::TextAlignmentRole && index.column() == Age)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole && role != SortRole)
        return {};
    const bool sort = role == SortRole;
    switch (Column(index.column())) {
    case Client:
        return sort ? QVariant(f.key())
                    : QVariant(ipToString(f.clientIp) + QLatin1Char(':') + QString::number(f.clientPort));
    case Server: {
        if (sort)
            return f.server;
        QString &name = m_serverNames[f.server];
        if (name.isEmpty())
            name = ipToString(f.server);
        return name;
    }
    case State: return sort ? QVariant(int(f.state)) : QVariant(flowStateName(f.state));
    case Age: {
        const qint64 end = row.closedUs ? row.closedUs : m_clock();
        const qint64 ageUs = std::max<qint64>(0, end - f.startUs);
        return sort ? QVariant(ageUs) : QVariant(QString::number(double(ageUs) / 1e6, 'f', 1) + QStringLiteral(" s"));
    }
    case ColumnCount: break;
    }
    return {};
}

QVariant ConnectionMapModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *const names[] = {"Client", "Server", "State", "Age"};
    return section >= 0 && section < ColumnCount ? QString::fromLatin1(names[section]) : QVariant();
}

void FlowFilterProxy::setSearch(const QString &text)
{
    const QString t = text.trimmed();
    if (t == m_search)
        return;
    m_search = t;
    m_matcher = QStringMatcher(t, Qt::CaseInsensitive);
    m_flows = qobject_cast<ConnectionMapModel *>(sourceModel());
    if (m_flows)
        m_epoch = m_flows->newFilterEpoch();
    // invalidate() (one layout change) rather than invalidateRowsFilter(): the latter removes
    // the rows that no longer match in many rowsRemoved signals, which a table's vertical header
    // handles row by row (seconds for 100k rows); a layout change is one pass.
    invalidate();
}

bool FlowFilterProxy::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    if (m_search.isEmpty())
        return true;
    if (m_flows && !sourceParent.isValid()) // direct: no QModelIndex, no QVariant per row
        return m_flows->rowMatches(sourceRow, m_matcher, m_epoch);
    const QModelIndex i = sourceModel()->index(sourceRow, 0, sourceParent);
    return sourceModel()->data(i, ConnectionMapModel::SearchTextRole).toString().contains(m_search, Qt::CaseInsensitive);
}

} // namespace sasha::console
