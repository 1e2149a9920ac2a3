#pragma once
// FlowFeedReceiver: the console's end of the dispatcher's flow feed (kFlowFeedChannel,
// common/control/flowfeed.h). ClusterObserver hands it every message on that channel; it returns
// what the connection map must do: a reset (a new dispatcher or run) and the flows to apply.
//   - A snapshot part of a (dispatcher, runId, seq) not seen before starts a new map: its flows
//     are applied, and once every part of that snapshot arrived, every flow the console still
//     shows but the snapshot did not list is closed: the snapshot replaces the whole map.
//   - Changes of the current (dispatcher, runId) are applied; changes of any other run (one that
//     sent no snapshot yet, or a previous dispatcher still talking) are dropped and counted.
// Pure: no socket, no timer; time (the feed's monotonic µs) is passed in. GUI thread.

#include "clusterfeed.h"
#include "control/flowfeed.h"

#include <QHash>
#include <QSet>

namespace sasha::console {

class FlowFeedReceiver {
public:
    struct Result {
        bool reset = false;                  // the map now follows `dispatcher`
        tb::NodeAddr dispatcher = tb::kNoNode;
        QList<FlowRecord> flows;             // to apply (Closed = ended)
        QString error;                       // non-empty: the message was refused
    };

    Result onMessage(tb::NodeAddr from, QByteArrayView payload, qint64 nowUs);
    // The subscription to send `dispatcher` (every kFlowFeedSubscribeMs, and at once when the
    // view names a new dispatcher): it says which run's complete snapshot we hold.
    QByteArray subscription(tb::NodeAddr dispatcher) const;

    tb::NodeAddr dispatcher() const { return m_dispatcher; }
    int openFlows() const { return int(m_open.size()); }
    quint64 rejected() const { return m_rejected; } // malformed or not from the dispatcher it names
    quint64 staleBatches() const { return m_stale; } // changes of another run, dropped
    quint64 snapshots() const { return m_snapshots; } // complete snapshots received

private:
    static FlowRecord toRecord(const FlowFeedEntry &e, qint64 nowUs);

    tb::NodeAddr m_dispatcher = tb::kNoNode;
    quint32 m_runId = 0;
    quint32 m_snapshotSeq = 0;
    bool m_haveRun = false;
    quint32 m_completeRun = 0;     // run of the last complete snapshot (0 = none)
    QSet<quint16> m_partsSeen;     // of the snapshot being received
    quint16 m_parts = 0;
    QSet<quint64> m_snapshotKeys;  // flows the snapshot being received listed
    QHash<quint64, FlowRecord> m_open; // what the console shows as open, by FlowRecord::key()
    quint64 m_rejected = 0;
    quint64 m_stale = 0;
    quint64 m_snapshots = 0;
};

} // namespace sasha::console
