#include "servicemodel.h"

namespace sasha::console {

namespace {

const QString kUnknown = QStringLiteral("—");

} // namespace

bool ServiceModel::Row::sameService(const Row &o) const
{
    return vip == o.vip && protocol == o.protocol && ports == o.ports;
}

ServiceModel::ServiceModel(QObject *parent) : QAbstractTableModel(parent) {}

std::vector<ServiceModel::Row> ServiceModel::parseServices(const QJsonArray &services, bool dispatching)
{
    std::vector<Row> rows;
    rows.reserve(std::size_t(services.size()));
    for (const QJsonValue &v : services) {
        const QJsonObject o = v.toObject();
        Row r;
        r.vip = o.value(QLatin1String("vip")).toString();
        r.protocol = o.value(QLatin1String("protocol")).toString();
        for (const QJsonValue &p : o.value(QLatin1String("ports")).toArray())
            r.ports.append(p.isString() ? p.toString() : QString::number(p.toInteger()));
        r.mode = o.value(QLatin1String("mode")).toString();
        r.scheduler = o.value(QLatin1String("scheduler")).toString();
        r.persistenceS = o.value(QLatin1String("persistenceS")).toInteger();
        r.legacy = o.value(QLatin1String("legacy")).toBool();
        const QJsonObject weights = o.value(QLatin1String("weights")).toObject(); // absent from an older sashad
        for (auto it = weights.begin(); it != weights.end(); ++it)
            r.weights.append(QStringLiteral("%1=%2").arg(it.key()).arg(it.value().toInteger()));
        if (dispatching && o.contains(QLatin1String("newFlows")))
            r.newFlows = quint64(o.value(QLatin1String("newFlows")).toInteger());
        if (dispatching && o.contains(QLatin1String("cps")))
            r.cps = o.value(QLatin1String("cps")).toInteger();
        if (r.vip.isEmpty())
            continue; // not a service object
        rows.push_back(std::move(r));
    }
    return rows;
}

void ServiceModel::setStatus(const QJsonObject &status)
{
    const QJsonValue services = status.value(QLatin1String("services"));
    if (!services.isArray())
        return;
    const QString node = status.value(QLatin1String("node")).toString();
    const QString dispatcher = status.value(QLatin1String("dispatcher")).toString();
    const bool dispatching = !node.isEmpty() && node == dispatcher;
    // The dispatcher's figures stay while the other nodes agree that it dispatches; once one names
    // another dispatcher (or none), they are stale, and the configuration alone is shown until
    // the new dispatcher's status arrives (never, without its control socket).
    if (!dispatching && m_fromDispatcher && dispatcher == m_sourceNode)
        return;
    std::vector<Row> rows = parseServices(services.toArray(), dispatching);
    m_sourceNode = node;
    m_fromDispatcher = dispatching;
    const bool same = rows.size() == m_rows.size()
        && std::equal(rows.begin(), rows.end(), m_rows.begin(), [](const Row &a, const Row &b) { return a.sameService(b); });
    if (!same) {
        beginResetModel();
        m_rows = std::move(rows);
        endResetModel();
        return;
    }
    m_rows = std::move(rows);
    if (!m_rows.empty())
        Q_EMIT dataChanged(index(0, 0), index(int(m_rows.size()) - 1, ColumnCount - 1));
}

int ServiceModel::rowCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : int(m_rows.size()); }

int ServiceModel::columnCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant ServiceModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(m_rows.size()) || index.column() >= ColumnCount)
        return {};
    const Row &r = m_rows[std::size_t(index.row())];
    if (role == Qt::DisplayRole) {
        switch (Column(index.column())) {
        case Vip: return r.vip;
        case Protocol: return r.protocol;
        case Ports: return r.ports.join(QLatin1Char(','));
        case Mode:
            if (r.mode == QLatin1String("dr"))
                return QStringLiteral("dr (L4/2)");
            if (r.mode == QLatin1String("nat"))
                return QStringLiteral("nat (L4/3)");
            return r.mode;
        case Scheduler: return r.scheduler;
        case Persistence: return r.persistenceS > 0 ? QStringLiteral("%1 s").arg(r.persistenceS) : QStringLiteral("-");
        case Weights: return r.weights.isEmpty() ? QStringLiteral("-") : r.weights.join(QLatin1Char(','));
        case NewFlows: return r.newFlows ? QString::number(*r.newFlows) : kUnknown;
        case Cps: return r.cps ? QString::number(*r.cps) : kUnknown;
        case Source: return r.legacy ? QStringLiteral("[dispatcher] vip/ports") : QStringLiteral("[[service]]");
        case ColumnCount: break;
        }
        return {};
    }
    if (role == SortRole) {
        switch (Column(index.column())) {
        case NewFlows: return r.newFlows ? QVariant(qulonglong(*r.newFlows)) : QVariant(-1);
        case Cps: return r.cps ? QVariant(qlonglong(*r.cps)) : QVariant(-1);
        case Persistence: return qlonglong(r.persistenceS);
        default: return data(index, Qt::DisplayRole);
        }
    }
    if (role == Qt::TextAlignmentRole && (index.column() == NewFlows || index.column() == Cps))
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::ToolTipRole && index.column() == Weights)
        return QStringLiteral("Servers weighted apart in this service ([[service]] weights); the others have their "
                              "cluster weight, and an operator weight (sashactl weight) wins over both");
    if (role == Qt::ToolTipRole && (index.column() == NewFlows || index.column() == Cps) && !r.cps)
        return QStringLiteral("Known from the dispatching node's status only (--control-socket of the dispatcher's sashad)");
    return {};
}

QVariant ServiceModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (Column(section)) {
    case Vip: return QStringLiteral("VIP");
    case Protocol: return QStringLiteral("Protocol");
    case Ports: return QStringLiteral("Ports");
    case Mode: return QStringLiteral("Mode");
    case Scheduler: return QStringLiteral("Scheduler");
    case Persistence: return QStringLiteral("Persistence");
    case Weights: return QStringLiteral("Weights");
    case NewFlows: return QStringLiteral("New flows");
    case Cps: return QStringLiteral("CPS");
    case Source: return QStringLiteral("Config");
    case ColumnCount: break;
    }
    return {};
}

} // namespace sasha::console
