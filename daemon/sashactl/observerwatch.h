#pragma once
// `sashactl watch --key FILE --seed ADDR[:PORT]`: watch a ring from anywhere on the cluster's
// network by joining it as a TokenBeat observer (never on the token's path; when this process
// ends, the master drops it after the observer timeout and nothing purges). Without --key,
// `sashactl watch` streams the local sashad's events over its control socket instead.

#include "tokenbeat/types.h"

#include <QByteArray>
#include <QString>

#include <vector>

namespace sasha::ctl {

struct ObserverWatchOptions {
    QByteArray key;                  // decoded cluster key
    std::vector<tb::Endpoint> seeds; // ring nodes to send hellos to
    quint32 bindIp = 0;              // this observer's address (and ring address)
    bool json = false;               // one JSON object per line instead of text
    int seconds = 0;                 // stop after this long; 0 = until Ctrl-C
    int noRingSeconds = 3;           // say so when no view arrived by then
};

// Runs the Qt event loop until done; returns the process exit code (0, or 1 when the observer
// could not start or never saw a ring before --for ended).
int observerWatch(const ObserverWatchOptions &options);

}  // namespace sasha::ctl
