#pragma once
// The /metrics page of sashad (docs/metrics.md lists every family). Built from what the control
// socket's status already reports (ControlStatus, with the dispatcher's "dataPath" object while
// this node dispatches) plus the few figures only the daemon's event handling counts
// (DaemonMetrics), so that nothing is counted twice and nothing new runs in a hot path.
// Pure: the caller takes the snapshot on the daemon's thread and renders it anywhere.

#include "control/controlprotocol.h"
#include "metrics/histogram.h"
#include "metrics/prometheustext.h"

namespace sasha {

// Failover durations (FailoverClock), seconds: the paper's 1.5-6 s and our sub-second goal.
inline std::vector<double> failoverBuckets()
{
    return {0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 6, 10};
}

// Counted by sashad from ring and service events (SashaDaemon), on its main thread.
struct DaemonMetrics {
    quint64 tokenTimeouts = 0;      // this node's own token timeouts
    quint64 dispatcherStarts = 0;   // runs of the dispatcher role on this node
    Histogram failover{failoverBuckets()}; // FailoverClock's durations
};

struct MetricsInput {
    ControlStatus status;
    DaemonMetrics daemon;
    QString version; // sashad's
};

PrometheusText buildMetrics(const MetricsInput &in);
inline QByteArray renderMetrics(const MetricsInput &in) { return buildMetrics(in).text(); }

// The Content-Type of the page (text format 0.0.4).
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

} // namespace sasha
