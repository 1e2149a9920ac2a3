#pragma once
// Times one dispatcher failover on a LoopbackCluster from the daemons' own events: the killer
// stamps the kill on CLOCK_MONOTONIC, and every sashad stamps its events on the same clock
// (monoUs), so phases can be measured across processes without any clock skew.

#include "loopbackcluster.h"

#include <QJsonArray>
#include <QString>

#include <vector>

namespace sasha::lab {

struct FailoverTiming {
    bool ok = false;
    QString error;
    int killed = -1;              // node index that was killed
    QString oldDispatcher, newDispatcher;
    double detectMs = -1;         // kill -> first token timeout on any survivor
    double purgeMs = -1;          // kill -> every survivor left the old ring (last purge-started)
    double reformMs = -1;         // kill -> new ring formed (ring-formed at its master)
    double electMs = -1;          // kill -> new dispatcher knows it is dispatcher
    double settledMs = -1;        // kill -> every survivor reports the same new ring (polled)
    QJsonArray timeline;          // survivors' events after the kill, sorted, with "tMs" added
};

// Finds the current dispatcher among `live`, SIGKILLs it, waits (bounded by timeoutMs) until the
// survivors agree on a ring without it, and reads their events to time each phase.
FailoverTiming killDispatcherAndTime(LoopbackCluster &cluster, std::vector<int> &live, int timeoutMs = 10000);

// The index of the node `live` members agree is dispatcher, or -1.
int currentDispatcher(const LoopbackCluster &cluster, const std::vector<int> &live);

// Percentile (0..100) of a sample set; NaN when empty.
double percentile(std::vector<double> values, double p);

}  // namespace sasha::lab
