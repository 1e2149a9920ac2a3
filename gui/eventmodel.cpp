#include "eventmodel.h"

#include "clusterfeed.h"

#include <QColor>
#include <QDateTime>
#include <QFile>
#include <QSaveFile>
#include <QTextStream>

namespace sasha::console {

QString csvField(const QString &s)
{
    if (!s.contains(QLatin1Char(',')) && !s.contains(QLatin1Char('"')) && !s.contains(QLatin1Char('\n')))
        return s;
    QString q = s;
    q.replace(QLatin1String("\""), QLatin1String("\"\""));
    return QLatin1Char('"') + q + QLatin1Char('"');
}

EventModel::EventModel(QObject *parent) : QAbstractTableModel(parent) {}

void EventModel::addEvent(const ControlEvent &e)
{
    const bool hadOpen = m_tracker.isOpen();
    const std::size_t before = m_tracker.failovers().size();
    const QString phase = m_tracker.onEvent(e);
    if (int(m_rows.size()) >= kMaxRows) {
        beginRemoveRows({}, 0, 0);
        m_rows.pop_front();
        endRemoveRows();
    }
    beginInsertRows({}, int(m_rows.size()), int(m_rows.size()));
    m_rows.push_back({e, phase});
    endInsertRows();
    if (!phase.isEmpty() || before != m_tracker.failovers().size() || hadOpen != m_tracker.isOpen())
        Q_EMIT failoversChanged();
}

void EventModel::tick(qint64 nowUs)
{
    if (m_tracker.closeStale(nowUs))
        Q_EMIT failoversChanged();
}

bool EventModel::exportCsv(const QString &path, QString *error) const
{
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Text)) {
        if (error)
            *error = QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
        return false;
    }
    QTextStream out(&f);
    out << "wall_time,mono_us,kind,node,role,detail,phase\n";
    for (const Row &r : m_rows) {
        const auto &e = r.event;
        out << QDateTime::fromMSecsSinceEpoch(e.wallMs).toString(Qt::ISODateWithMs) << ',' << e.monoUs << ','
            << csvField(e.kind) << ',' << csvField(e.node) << ',' << csvField(e.role) << ','
            << csvField(e.detail) << ',' << csvField(r.phase) << '\n';
    }
    out.flush();
    if (!f.commit()) {
        if (error)
            *error = QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
        return false;
    }
    return true;
}

int EventModel::rowCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : int(m_rows.size()); }

int EventModel::columnCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant EventModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row &r = m_rows[std::size_t(index.row())];
    const auto &e = r.event;
    if (role == Qt::ForegroundRole) {
        if (e.kind == kKindFaultInjected || e.kind == QLatin1String("member-lost"))
            return QColor(0xc6, 0x28, 0x28);
        if (e.kind == QLatin1String("purge-started") || e.kind == QLatin1String("token-timeout"))
            return QColor(0xb2, 0x6a, 0x00);
        if (e.kind == QLatin1String("dispatcher-elected"))
            return QColor(0x6a, 0x1b, 0x9a);
        return {};
    }
    if (role != Qt::DisplayRole)
        return {};
    switch (Column(index.column())) {
    case Time: return QDateTime::fromMSecsSinceEpoch(e.wallMs).toString(QStringLiteral("HH:mm:ss.zzz"));
    case Kind: return e.kind;
    case Node: return e.node;
    case Detail: return e.detail;
    case Phase: return r.phase;
    case ColumnCount: break;
    }
    return {};
}

QVariant EventModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *const names[] = {"Time", "Event", "Node", "Detail", "Phase"};
    return section >= 0 && section < ColumnCount ? QString::fromLatin1(names[section]) : QVariant();
}

FailoverModel::FailoverModel(const EventModel *events, QObject *parent) : QAbstractTableModel(parent), m_events(events)
{
    connect(events, &EventModel::failoversChanged, this, &FailoverModel::refresh);
    m_rows = int(events->tracker().failovers().size());
}

void FailoverModel::refresh()
{
    const int n = int(m_events->tracker().failovers().size());
    if (n > m_rows) {
        beginInsertRows({}, m_rows, n - 1);
        m_rows = n;
        endInsertRows();
    }
    if (m_rows > 0)
        Q_EMIT dataChanged(index(0, 0), index(m_rows - 1, ColumnCount - 1));
}

int FailoverModel::rowCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : m_rows; }

int FailoverModel::columnCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant FailoverModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    if (role == Qt::TextAlignmentRole && index.column() >= Detection)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole)
        return {};
    const Failover &f = m_events->tracker().failovers()[std::size_t(index.row())];
    switch (Column(index.column())) {
    case Started: {
        // Wall time of the event that opened it, found in the timeline.
        for (const auto &r : m_events->events())
            if (r.event.monoUs >= f.startUs())
                return QDateTime::fromMSecsSinceEpoch(r.event.wallMs).toString(QStringLiteral("HH:mm:ss.zzz"));
        return {};
    }
    case Cause: return f.newDispatcher.isEmpty() ? f.cause : QStringLiteral("%1 → dispatcher %2").arg(f.cause, f.newDispatcher);
    case Detection: return formatPhase(f.detectionUs());
    case Reformation: return formatPhase(f.reformationUs());
    case Election: return formatPhase(f.electionUs());
    case Reconstruction: return formatPhase(f.reconstructionUs());
    case FirstPacket: return formatPhase(f.firstPacketAfterUs());
    case Total: return formatPhase(f.totalUs()) + (f.closed ? QString() : QStringLiteral(" …"));
    case ColumnCount: break;
    }
    return {};
}

QVariant FailoverModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *const names[] = {"Started", "Cause", "Detection", "Re-formation", "Election",
                                        "Reconstruction", "First packet", "Total"};
    return section >= 0 && section < ColumnCount ? QString::fromLatin1(names[section]) : QVariant();
}

} // namespace sasha::console
