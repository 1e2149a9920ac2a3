#pragma once
// What a reload (SIGHUP, `sashactl reload`) may change in a running sashad, and what it would
// change: the running NodeSettings against the ones just read from the same file. Pure: no file,
// no clock, no daemon; sashad reads and checks the file off the ring's thread, then plans here
// and applies on the ring's thread in one step (docs/config.md "Reload").
//
// Every key of the config file is one row of reloadKeys(): whether it can change live and how
// its value prints. A key that cannot change live (the ring address, the key, the VIP, ...) and
// differs refuses the whole reload: all or nothing, the running config stays.
//
// Thread contract: sashad's services hold its NodeSettings by reference; applyReloadable writes
// the live keys on the ring's thread. Work on other threads (the data path built on a worker,
// NotifyRunner's thread) may read only keys that are not live, or a copy taken on the ring's
// thread. Making a key live means checking who reads it.

#include "config/nodesettings.h"

#include <QString>
#include <QStringList>

#include <vector>

namespace sasha {

struct ReloadKey {
    QString name;  // "[dispatcher] weights", as in ConfigError::key
    bool live = false;
};
// Every key sashad reads, in docs/config.md order, with whether a reload applies it.
const std::vector<ReloadKey> &reloadKeys();

struct ReloadRefusal {
    QString key;      // "[node] address"
    QString oldValue; // printed as in the file; a key's content is never printed
    QString newValue;
    // "[node] address cannot change without a restart: \"127.0.0.1\" -> \"127.0.0.9\""
    QString toString() const;
};

struct ReloadPlan {
    // Human lines, one per change: "weight of 10.77.0.3: 1 -> 3", "[health] rise: 2 -> 3".
    QStringList changes;
    std::vector<ReloadRefusal> refusals;
    // Which live parts change: what the daemon has to tell its services.
    bool logRules = false, health = false, weights = false, notify = false, other = false;
    bool ok() const { return refusals.empty(); }
    bool empty() const { return changes.isEmpty() && refusals.empty(); }
    // All refusals on one line each, for the log and `sashactl reload`'s error.
    QString refusalText() const;
};

// What replacing `running` by `next` would change and refuse.
ReloadPlan planReload(const NodeSettings &running, const NodeSettings &next);
// Copies every live key's value from next into running (call only when planReload(...).ok()).
// Keys that are not live keep running's values.
void applyReloadable(NodeSettings &running, const NodeSettings &next);

} // namespace sasha
