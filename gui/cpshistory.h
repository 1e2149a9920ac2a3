#pragma once
// CpsHistory: connections/s samples (total and per server) over a rolling window, and the event
// markers (faults, purges, elections) drawn on the chart's time axis. Samples come from the
// per-node status the ring piggybacks on the token (NodeStatus::connectionsPerSecond), one per
// second. Times are the feed's monotonic µs. GUI thread only.

#include "tokenbeat/types.h"

#include <QColor>
#include <QMap>
#include <QObject>
#include <QString>

#include <deque>

namespace sasha::console {

class CpsHistory : public QObject {
    Q_OBJECT
public:
    struct Sample {
        qint64 atUs = 0;
        quint64 total = 0;
        QMap<tb::NodeAddr, quint32> perServer; // servers that reported this second
    };
    struct Marker {
        qint64 atUs = 0;
        QString kind;  // event kind: fault-injected, purge-started, dispatcher-elected, ...
        QString label; // short text on the chart: "crash .3", "purge", "elected .2"
        QColor color;
    };

    explicit CpsHistory(qint64 windowUs = 120'000'000, QObject *parent = nullptr);

    void addSample(qint64 atUs, const QMap<tb::NodeAddr, quint32> &perServer);
    void addMarker(qint64 atUs, const QString &kind, const QString &label);
    // Markers closer than this to one of the same kind are merged (five nodes reporting one purge).
    static constexpr qint64 kMarkerMergeUs = 500'000;

    qint64 windowUs() const { return m_windowUs; }
    const std::deque<Sample> &samples() const { return m_samples; }
    const std::deque<Marker> &markers() const { return m_markers; }
    // Every server that appears in the window, sorted.
    QList<tb::NodeAddr> servers() const;
    bool exportCsv(const QString &path, QString *error) const;

    static QColor markerColor(const QString &kind);

Q_SIGNALS:
    void changed();

private:
    void trim(qint64 nowUs);
    qint64 m_windowUs;
    std::deque<Sample> m_samples; // oldest first
    std::deque<Marker> m_markers;
};

} // namespace sasha::console
