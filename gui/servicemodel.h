#pragma once
// ServiceModel: the cluster's virtual services (docs/config.md "[[service]]"), one row each: VIP,
// protocol, ports, mode (dr = L4/2, nat = L4/3), scheduler, persistence, the service's own server
// weights ([[service]] weights), and from the dispatcher
// its new flows and connections per second per service. Fed from sashad status objects (the
// `status` JSON that `sashactl --json status` prints and the control socket's `watch` stream sends
// each second, whose "services" array `sashactl services` shows); ClusterFeed::statusReported.
//
// Which status counts: every node's status lists the configured services, but only the
// dispatching node's carries newFlows and cps. A dispatcher's status replaces the rows; another
// node's status is ignored while it names the node the rows come from as the dispatcher, so the
// 1 Hz statuses of several nodes do not make the figures flicker, and otherwise replaces them
// (figures "—"): the dispatcher's figures are stale once the ring has another one.
// Rows are updated in place when the services stay the same (a selection survives), reset when
// they change. Owned and used by the GUI thread.

#include <QAbstractTableModel>
#include <QJsonArray>
#include <QJsonObject>

#include <optional>
#include <vector>

namespace sasha::console {

class ServiceModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Vip, Protocol, Ports, Mode, Scheduler, Persistence, Weights, NewFlows, Cps, Source, ColumnCount };
    enum { SortRole = Qt::UserRole + 1 };

    struct Row {
        QString vip;
        QString protocol;    // "tcp", "udp"
        QStringList ports;   // "80", "8000-8010"
        QString mode;        // "dr", "nat"
        QString scheduler;   // "maglev", "wlc", "rr"
        qint64 persistenceS = 0;
        QStringList weights; // "10.77.0.3=0": the service's own; empty = every server's cluster weight
        bool legacy = false; // made from [dispatcher] vip/ports
        std::optional<quint64> newFlows; // only from the dispatcher
        std::optional<qint64> cps;       // only from the dispatcher
        bool sameService(const Row &o) const;
    };

    explicit ServiceModel(QObject *parent = nullptr);

    // One node's status object (ControlStatus::toJson()). Ignored without a "services" array
    // (an older sashad, or a node without services); see the header comment for which counts.
    void setStatus(const QJsonObject &status);

    const std::vector<Row> &rows() const { return m_rows; }
    // The node whose status the rows come from, and whether it was dispatching then.
    const QString &sourceNode() const { return m_sourceNode; }
    bool fromDispatcher() const { return m_fromDispatcher; }
    // Rows parsed from a "services" array (public for tests and sashactl-like tools).
    static std::vector<Row> parseServices(const QJsonArray &services, bool dispatching);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation o, int role) const override;

private:
    std::vector<Row> m_rows;
    QString m_sourceNode;
    bool m_fromDispatcher = false;
};

} // namespace sasha::console
