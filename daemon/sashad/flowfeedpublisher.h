#pragma once
// FlowFeedPublisher: the dispatcher's flow table, streamed to every observer in the ring (the
// consoles' connection map) on kFlowFeedChannel (common/control/flowfeed.h has the wire format,
// docs/console.md "Connection map feed" the protocol).
//
// Observers subscribe with a message on the same channel every second (onMessage(); the ring's
// observer list is known to the master only). While this node dispatches, every tick (kTickMs):
//  1. it drops subscribers not heard from within kFlowFeedSubscriberTimeoutMs; one it has not
//     served in this run is owed a snapshot, and so is one that still says it holds no complete
//     snapshot of this run kResnapshotMs after it was sent one (the transfer failed);
//  2. it asks for a copy of the flow table (FlowSource: in sashad, FlowMapProcessor's
//     non-blocking pollSnapshot(), made by the fast-path thread between batches, like the
//     "connections" command's copy; the packet path itself is untouched); when the copy is not
//     ready yet the tick ends and the next one collects it;
//  3. it compares the copy with the previous one: new flows, flows whose state or server changed,
//     and flows gone (sent with state Closed, the removal mark);
//  4. observers owed a snapshot get the whole map (reliable transfers ≤ 1 MiB each); the others
//     get the changes as one reliable transfer. Changes too many for one transfer are sent as a
//     fresh snapshot instead.
// start() (this node just became the dispatcher) begins a new run: a new runId, and every
// observer is owed a snapshot, which makes the consoles replace the previous dispatcher's map.
// Work per tick is bounded by maxFlows (the copy is capped; the diff is linear in it).
//
// Thread: the daemon's main thread. Time and I/O are injected (tests use a fake flow source).

#include "control/flowfeed.h"
#include "tokenbeat/types.h"

#include <QHash>
#include <QObject>
#include <QTimer>

#include <functional>
#include <map>
#include <optional>
#include <vector>

namespace sasha {

class FlowFeedPublisher : public QObject {
    Q_OBJECT
public:
    static constexpr int kTickMs = 500; // each tick with observers costs the fast path one table scan
    static constexpr int kDefaultMaxFlows = 100'000;
    static constexpr int kResnapshotMs = 5000;

    // The current flows (ageMs ignored: the publisher computes it); nullopt = not ready yet.
    using FlowSource = std::function<std::optional<std::vector<FlowFeedEntry>>(std::size_t limit)>;
    using Sender = std::function<void(tb::NodeAddr to, const QByteArray &payload, bool reliable)>;
    using Clock = std::function<qint64()>; // monotonic ms

    struct Stats {
        quint64 snapshots = 0;     // snapshots sent (one per observer served)
        quint64 snapshotParts = 0; // transfers they took
        quint64 batches = 0;       // changes messages sent
        quint64 changes = 0;       // entries in them
        quint64 copies = 0;        // flow table copies diffed
        quint64 truncated = 0;     // copies cut at maxFlows
        quint64 rejected = 0;      // malformed messages, or subscriptions meant for another node
    };

    FlowFeedPublisher(tb::NodeAddr self, FlowSource flows, Sender send, Clock clock, QObject *parent = nullptr);

    // A message on kFlowFeedChannel (subscriptions; anything else is refused and counted).
    void onMessage(tb::NodeAddr from, const QByteArray &payload);
    int subscribers() const { return int(m_subscribers.size()); }

    // This node became the dispatcher: a new run (runId), snapshots for everyone; ticks start.
    void start(quint32 runId);
    // No longer the dispatcher: ticks stop, state dropped. Idempotent.
    void stop();
    bool isRunning() const { return m_running; }
    void setMaxFlows(int n) { m_maxFlows = std::max(1, n); }
    // One round (the timer's; tests call it directly).
    void tick();

    const Stats &stats() const { return m_stats; }
    quint32 runId() const { return m_runId; }

private:
    struct Known {
        FlowFeedEntry entry; // ageMs unused here
        qint64 firstSeenMs = 0;
    };
    FlowFeedEntry withAge(const Known &k, qint64 nowMs) const;
    void sendSnapshot(tb::NodeAddr to, qint64 nowMs);

    struct Subscriber {
        qint64 lastHeardMs = 0;
        quint32 haveRun = 0;      // the run of the last complete snapshot it says it holds
        quint32 servedRun = 0;    // the run we last sent it a snapshot of (0 = none)
        qint64 snapshotSentMs = 0;
    };

    FlowSource m_flows;
    Sender m_send;
    Clock m_clock;
    QTimer m_timer;
    bool m_running = false;
    tb::NodeAddr m_self = tb::kNoNode;
    quint32 m_runId = 0;
    quint32 m_seq = 0;         // changes batches sent in this run
    quint32 m_snapshotSeq = 0; // snapshots sent in this run
    int m_maxFlows = kDefaultMaxFlows;
    bool m_haveBase = false;   // m_known holds a copy to diff against
    QHash<quint64, Known> m_known; // the last copy, by FlowFeedEntry::key()
    std::map<tb::NodeAddr, Subscriber> m_subscribers;
    Stats m_stats;
};

} // namespace sasha
