#pragma once
// EventModel: the timeline. One row per event (oldest first, at most kMaxRows; the oldest go
// first), with the failover phase an event completes in the Phase column. FailoverModel: one row
// per failover with every phase timed (failovertracker.h defines the phases). GUI thread only.

#include "failovertracker.h"

#include <QAbstractTableModel>

#include <deque>

namespace sasha::console {

class EventModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Time, Kind, Node, Detail, Phase, ColumnCount };
    static constexpr int kMaxRows = 5000;

    struct Row {
        ControlEvent event;
        QString phase;
    };

    explicit EventModel(QObject *parent = nullptr);

    void addEvent(const ControlEvent &e);
    void tick(qint64 nowUs); // closes stale failovers
    const FailoverTracker &tracker() const { return m_tracker; }
    const std::deque<Row> &events() const { return m_rows; }
    bool exportCsv(const QString &path, QString *error) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation o, int role) const override;

Q_SIGNALS:
    void failoversChanged();

private:
    std::deque<Row> m_rows;
    FailoverTracker m_tracker;
};

class FailoverModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Started, Cause, Detection, Reformation, Election, Reconstruction, FirstPacket, Total, ColumnCount };
    explicit FailoverModel(const EventModel *events, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation o, int role) const override;

private:
    void refresh();
    const EventModel *m_events;
    int m_rows = 0;
};

QString csvField(const QString &s);

} // namespace sasha::console
