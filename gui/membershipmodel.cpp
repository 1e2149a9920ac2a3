#include "membershipmodel.h"

#include "clusterfeed.h"

#include <QColor>
#include <QDateTime>

#include <algorithm>

namespace sasha::console {

QString nodeDisplayStateName(NodeDisplayState s)
{
    switch (s) {
    case NodeDisplayState::Alive: return QStringLiteral("alive");
    case NodeDisplayState::Suspect: return QStringLiteral("suspect");
    case NodeDisplayState::Dead: return QStringLiteral("dead");
    case NodeDisplayState::Left: return QStringLiteral("left");
    case NodeDisplayState::Draining: return QStringLiteral("draining");
    case NodeDisplayState::Unhealthy: return QStringLiteral("unhealthy");
    }
    return {};
}

QColor nodeStateColor(NodeDisplayState s)
{
    switch (s) {
    case NodeDisplayState::Alive: return QColor(0x2e, 0x9d, 0x4f);
    case NodeDisplayState::Suspect: return QColor(0xe0, 0xa1, 0x00);
    case NodeDisplayState::Dead: return QColor(0xc6, 0x28, 0x28);
    case NodeDisplayState::Left: return QColor(0x8a, 0x8a, 0x8a);
    case NodeDisplayState::Draining: return QColor(0x1e, 0x88, 0xe5);
    case NodeDisplayState::Unhealthy: return QColor(0xd8, 0x4f, 0x15);
    }
    return Qt::gray;
}

MembershipModel::MembershipModel(QObject *parent) : QAbstractTableModel(parent) {}

int MembershipModel::rowOf(tb::NodeAddr addr) const
{
    auto it = std::lower_bound(m_rows.begin(), m_rows.end(), addr,
                               [](const Row &r, tb::NodeAddr a) { return r.member.addr < a; });
    return it != m_rows.end() && it->member.addr == addr ? int(it - m_rows.begin()) : -1;
}

void MembershipModel::updateRow(int row, const Row &r)
{
    Row &old = m_rows[std::size_t(row)];
    if (old.member == r.member && old.state == r.state && old.observer == r.observer && old.admin == r.admin) {
        old.lastSeenMs = r.lastSeenMs;
        Q_EMIT dataChanged(index(row, LastSeen), index(row, LastSeen));
        return;
    }
    old = r;
    Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

void MembershipModel::setView(const tb::RingView &view, qint64 nowWallMs)
{
    m_dispatcher = view.dispatcher;
    m_master = view.master;
    m_ringEpoch = view.ringEpoch;
    std::vector<tb::NodeAddr> seen;
    auto apply = [&](const tb::Member &m, bool observer) {
        Row r{m, observer, NodeDisplayState::Alive, nowWallMs, {}};
        if (const int existing = rowOf(m.addr); existing >= 0)
            r.admin = m_rows[std::size_t(existing)].admin;
        if (observer)
            r.member.status.role = tb::Role::Observer;
        if (m.status.health == tb::Health::Draining)
            r.state = NodeDisplayState::Draining;
        else if (m.status.health == tb::Health::Unhealthy)
            r.state = NodeDisplayState::Unhealthy;
        seen.push_back(m.addr);
        std::erase(m_left, m.addr);
        const int row = rowOf(m.addr);
        if (row >= 0) {
            updateRow(row, r);
            return;
        }
        auto it = std::lower_bound(m_rows.begin(), m_rows.end(), m.addr,
                                   [](const Row &x, tb::NodeAddr a) { return x.member.addr < a; });
        const int at = int(it - m_rows.begin());
        beginInsertRows({}, at, at);
        m_rows.insert(it, r);
        endInsertRows();
    };
    for (const auto &m : view.members)
        apply(m, false);
    for (const auto &m : view.observers)
        apply(m, true);
    for (int row = 0; row < int(m_rows.size()); ++row) {
        Row &r = m_rows[std::size_t(row)];
        if (std::find(seen.begin(), seen.end(), r.member.addr) != seen.end())
            continue;
        const bool left = std::find(m_left.begin(), m_left.end(), r.member.addr) != m_left.end();
        const auto gone = left ? NodeDisplayState::Left : NodeDisplayState::Dead;
        if (r.state != gone || r.member.status.role != tb::Role::None) {
            r.state = gone;
            r.member.status.role = tb::Role::None;
            r.member.status.activeConnections = 0;
            r.member.status.connectionsPerSecond = 0;
            r.admin.reset(); // its report is gone with it; a rejoin brings a new one
            Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
        }
    }
    Q_EMIT membershipChanged();
}

void MembershipModel::setAdminReport(tb::NodeAddr addr, const AdminReport &report)
{
    const int row = rowOf(addr);
    if (row < 0)
        return;
    Row &r = m_rows[std::size_t(row)];
    if (r.admin == report)
        return;
    r.admin = report;
    Q_EMIT dataChanged(index(row, OpenFlows), index(row, Weight));
    Q_EMIT membershipChanged();
}

void MembershipModel::markRingBroken()
{
    for (int row = 0; row < int(m_rows.size()); ++row) {
        Row &r = m_rows[std::size_t(row)];
        if (r.state == NodeDisplayState::Alive && !r.observer) {
            r.state = NodeDisplayState::Suspect;
            Q_EMIT dataChanged(index(row, State), index(row, State));
        }
    }
    Q_EMIT membershipChanged();
}

void MembershipModel::markLeft(tb::NodeAddr addr)
{
    if (std::find(m_left.begin(), m_left.end(), addr) == m_left.end())
        m_left.push_back(addr);
}

int MembershipModel::rowCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : int(m_rows.size()); }

int MembershipModel::columnCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant MembershipModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row &r = m_rows[std::size_t(index.row())];
    const auto &m = r.member;
    if (role == AddrRole)
        return QVariant::fromValue(m.addr);
    if (role == Qt::ForegroundRole && index.column() == State)
        return nodeStateColor(r.state);
    if (role == Qt::ForegroundRole && (r.state == NodeDisplayState::Dead || r.state == NodeDisplayState::Left))
        return QColor(Qt::gray);
    if (role == Qt::TextAlignmentRole && index.column() >= Connections && index.column() <= Cps && index.column() != Drained)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole && role != SortRole)
        return {};
    switch (Column(index.column())) {
    case Node: return role == SortRole ? QVariant(m.addr) : QVariant(ipToString(m.addr));
    case Address: return m.endpoint.toString();
    case Role: return m.status.role == tb::Role::None ? QStringLiteral("—") : tb::roleToString(m.status.role);
    case State: return nodeDisplayStateName(r.state);
    case Capabilities: return tb::capabilitiesToString(m.caps);
    case Health: return tb::healthToString(m.status.health);
    case Connections: return m.status.activeConnections;
    case OpenFlows:
        return r.admin ? QVariant(r.admin->openFlows) : role == SortRole ? QVariant(-1) : QVariant(QStringLiteral("—"));
    case Drained:
        return r.admin ? QVariant(r.admin->drained ? QStringLiteral("yes") : QStringLiteral("no")) : QVariant(QStringLiteral("—"));
    case Weight:
        if (r.admin && r.admin->weight)
            return int(*r.admin->weight);
        return role == SortRole ? QVariant(-1) : QVariant(QStringLiteral("—"));
    case Cps: return m.status.connectionsPerSecond;
    case LastSeen:
        return role == SortRole ? QVariant(r.lastSeenMs)
                                : QVariant(QDateTime::fromMSecsSinceEpoch(r.lastSeenMs).toString(QStringLiteral("HH:mm:ss")));
    case ColumnCount: break;
    }
    return {};
}

QVariant MembershipModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *const names[] = {"Node", "Address", "Role", "State", "Capabilities", "Health",
                                        "Active", "Open", "Drained", "Weight", "CPS", "Last seen"};
    return section >= 0 && section < ColumnCount ? QString::fromLatin1(names[section]) : QVariant();
}

} // namespace sasha::console
