#include "connectionmapmodel.h"

#include <QColor>

#include <algorithm>
#include <string_view>

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

bool ConnectionMapModel::setFlow(Row &row, const FlowRecord &f, qint64 now)
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
    count(row.flow, +1);
    if (!filtering() || (sameAddrs && sameState)) // the filter's answer changes only with the text
        return false;
    row.matches = matchesFilter(row.flow);
    return row.matches != (row.viewRow >= 0);
}

int ConnectionMapModel::applyPending()
{
    const qint64 now = m_clock();
    const int applied = int(m_pending.size());
    std::vector<int> changed; // model rows
    std::vector<Row> added;
    const int base = int(m_rows.size());
    for (const FlowRecord &f : std::as_const(m_pending)) {
        const auto it = m_index.constFind(f.key());
        if (it != m_index.cend()) {
            const int r = m_slotRow[std::size_t(*it)];
            if (r < base) {
                Row &row = m_rows[std::size_t(r)];
                m_refilterPending |= setFlow(row, f, now);
                if (const int shown = modelRow(r); shown >= 0)
                    changed.push_back(shown);
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
        // While filtering, only the matching new flows become rows (at the end: arrival order).
        const int shownBefore = rowCount();
        const int newlyShown = filtering() ? int(std::count_if(added.begin(), added.end(), [](const Row &r) { return r.matches; }))
                                           : int(added.size());
        if (newlyShown > 0)
            beginInsertRows({}, shownBefore, shownBefore + newlyShown - 1);
        for (Row &r : added) {
            if (filtering() && r.matches) {
                r.viewRow = int(m_visible.size());
                m_visible.push_back(int(m_rows.size()));
            }
            m_rows.push_back(std::move(r));
        }
        if (newlyShown > 0)
            endInsertRows();
    }
    if (m_reconfirmDeadlineUs && now >= m_reconfirmDeadlineUs)
        closeUnconfirmed(now);
    if ((m_closedRows > 0 || m_refilterPending) && now - m_lastCompactUs >= kCompactIntervalUs) {
        m_lastCompactUs = now;
        const bool expired = m_closedRows > 0 && hasExpired(now);
        if (expired || m_refilterPending)
            relayout(now, expired);
    }
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
            m_refilterPending |= setFlow(row, f, now);
            if (const int shown = modelRow(r); shown >= 0)
                changed.push_back(shown);
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

bool ConnectionMapModel::hasExpired(qint64 now) const
{
    return std::any_of(m_rows.begin(), m_rows.end(),
                       [now](const Row &r) { return r.closedUs != 0 && now - r.closedUs >= kClosedLingerUs; });
}

void ConnectionMapModel::dropExpired(qint64 now, std::vector<int> &newRow)
{
    newRow.assign(m_rows.size(), -1);
    std::size_t out = 0;
    for (std::size_t in = 0; in < m_rows.size(); ++in) {
        Row &r = m_rows[in];
        if (r.closedUs != 0 && now - r.closedUs >= kClosedLingerUs) {
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
}

void ConnectionMapModel::relayout(qint64 now, bool dropExpiredRows, const std::function<void()> &change)
{
    m_lastCompactUs = now; // every re-layout counts: the next is at least kCompactIntervalUs later
    Q_EMIT layoutAboutToBeChanged();
    // Persistent indexes (the selection, the current row) are model rows: note which flow each
    // points at before anything moves.
    const QModelIndexList from = persistentIndexList();
    std::vector<int> flowOf;
    flowOf.reserve(std::size_t(from.size()));
    for (const QModelIndex &i : from)
        flowOf.push_back(storageRow(i.row()));
    std::vector<int> newRow;
    if (dropExpiredRows) {
        dropExpired(now, newRow);
        for (int &r : flowOf)
            r = newRow[std::size_t(r)];
    }
    if (change)
        change();
    m_visible.clear();
    if (filtering()) {
        for (std::size_t r = 0; r < m_rows.size(); ++r) {
            Row &row = m_rows[r];
            row.viewRow = row.matches ? int(m_visible.size()) : -1;
            if (row.matches)
                m_visible.push_back(int(r));
        }
    }
    m_refilterPending = false;
    QModelIndexList to;
    to.reserve(from.size());
    for (qsizetype k = 0; k < from.size(); ++k) {
        const int r = flowOf[std::size_t(k)] < 0 ? -1 : modelRow(flowOf[std::size_t(k)]);
        to.append(r < 0 ? QModelIndex() : index(r, from[k].column()));
    }
    changePersistentIndexList(from, to);
    Q_EMIT layoutChanged();
}

void ConnectionMapModel::setFilter(const QString &text)
{
    const QString t = text.trimmed();
    if (t == m_filter)
        return;
    // One layout change, not rows removed and inserted in runs: a table's vertical header
    // handles every removed range on its own (seconds for 100k rows); a layout change is one pass.
    relayout(m_clock(), false, [this, &t] {
        m_filter = t;
        const QString folded = t.toCaseFolded();
        m_needleAscii = std::all_of(folded.cbegin(), folded.cend(), [](QChar c) { return c.unicode() < 0x80; });
        m_needle = m_needleAscii ? folded.toStdString() : std::string();
        if (!filtering())
            return;
        for (Row &row : m_rows)
            row.matches = matchesFilter(row.flow);
    });
}

namespace {

char *appendDecimal(char *out, unsigned v)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = char('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *out++ = digits[--n];
    return out;
}

char *appendIp(char *out, quint32 ip)
{
    for (int shift = 24; shift >= 0; shift -= 8) {
        out = appendDecimal(out, (ip >> shift) & 0xff);
        if (shift)
            *out++ = '.';
    }
    return out;
}

} // namespace

int ConnectionMapModel::formatSearchText(const FlowRecord &f, char (&buf)[kSearchTextMax])
{
    // The same words as the table's cells: ipToString(), the port, flowStateName().
    char *out = appendIp(buf, f.clientIp); // at most 15
    *out++ = ':';
    out = appendDecimal(out, f.clientPort); // 5
    *out++ = ' ';
    out = appendIp(out, f.server); // 15
    *out++ = ' ';
    const QString state = flowStateName(f.state); // "established" or "state(255)" at most
    char *const end = buf + kSearchTextMax;
    for (QChar c : state) {
        if (out == end)
            break;
        *out++ = char(c.toLower().unicode() < 0x80 ? c.toLower().unicode() : '?');
    }
    return int(out - buf);
}

bool ConnectionMapModel::matchesFilter(const FlowRecord &f) const
{
    if (!m_needleAscii)
        return false; // the search text is ASCII: no folded non-ASCII character occurs in it
    char buf[kSearchTextMax];
    const int n = formatSearchText(f, buf);
    return std::string_view(buf, std::size_t(n)).find(m_needle) != std::string_view::npos;
}

int ConnectionMapModel::rowCount(const QModelIndex &parent) const
{
    if (parent.isValid())
        return 0;
    return filtering() ? int(m_visible.size()) : int(m_rows.size());
}

int ConnectionMapModel::columnCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant ConnectionMapModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row &row = m_rows[std::size_t(storageRow(index.row()))];
    const FlowRecord &f = row.flow;
    if (role == SearchTextRole) {
        char buf[kSearchTextMax];
        return QString::fromLatin1(buf, formatSearchText(f, buf));
    }
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

FlowSortProxy::FlowSortProxy(QObject *parent) : QSortFilterProxyModel(parent)
{
    setDynamicSortFilter(false);
    setSortRole(ConnectionMapModel::SortRole);
}

} // namespace sasha::console
