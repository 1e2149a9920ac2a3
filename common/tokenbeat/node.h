#pragma once
// TokenBeatNode: the whole TokenBeat protocol for one node as a pure state machine
// (paper §3.2; docs/tokenbeat.md is the specification). It takes (now, input) and returns the
// datagrams to send and the events that happened. It owns no socket, no timer and reads no
// clock: the caller calls onTick() no later than nextDeadline(). One thread at a time.

#include "tokenbeat/types.h"

#include <QByteArray>
#include <QByteArrayView>

#include <memory>
#include <optional>
#include <vector>

namespace sasha::tb {

struct NodeConfig {
    NodeAddr self = kNoNode;
    Endpoint endpoint;                  // where this node receives datagrams
    quint8 caps = kCanDispatch | kCanServe;
    std::vector<Endpoint> seeds;        // unicast peers to announce to (networks without broadcast)
    std::optional<Endpoint> broadcast;  // e.g. 10.0.0.255:port where the network has broadcast
    QByteArray key;                     // pre-shared cluster key, >= 16 bytes (32 from keygen)
    quint64 bootEpoch = 0;              // strictly greater at every start (daemon: wall ms at start)
    Timers timers;
    std::size_t maxDatagram = 1400;     // no datagram built by the core is larger
};

struct Outgoing {
    Endpoint to;
    QByteArray datagram; // sealed: envelope + body + MAC
};

// Why a datagram was dropped. Every drop is counted (Counters::dropped) and reported as an event
// so the adapter can log it rate-limited.
enum class DropReason : quint8 {
    Truncated = 0,
    Oversized,
    BadMagic,
    UnknownVersion,
    BadMac,
    Replay,
    StaleEpoch,    // sender's boot epoch older than one already seen from it
    Malformed,     // authentic envelope, body does not decode
    UnknownType,
    StaleRing,     // authentic token/view of an older ring epoch
    NotForUs,      // authentic but irrelevant in our state (e.g. a token while Joining of no ring)
    WrongDestination, // authentic, but sealed for another endpoint: replayed from another link
    Count_
};
QString dropReasonToString(DropReason r);

struct Event {
    enum class Kind : quint8 {
        StateChanged,      // detail: old -> new state
        RingFormed,        // a new ring epoch with us in it; node = master
        MemberJoined,      // node joined the ring
        MemberLeft,        // node left gracefully
        MemberLost,        // node missing from a re-formed ring
        PurgeStarted,      // ring purge (token timeout here, or a peer's Purge); node = who declared it
        TokenTimeout,      // this node's own token timeout fired
        DispatcherElected, // node = new dispatcher (may be us)
        Abdicated,         // node = dispatcher that gave up the role (higher address met lower)
        RoleChanged,       // our own role changed; role = new role
        ObserverJoined,
        ObserverDropped,
        OobReceived,       // out-of-band message for the application: node, channel, payload
        OobDelivered,      // reliable send acknowledged: transfer id in value
        OobFailed,         // reliable send gave up: transfer id in value
        DatagramDropped,   // drop reason in dropReason, sender endpoint in from
        ViewChanged,       // new membership or statuses published by the master
    };
    Kind kind;
    Time at{0};
    NodeAddr node = kNoNode;
    Role role = Role::None;
    quint8 channel = 0;
    quint64 value = 0;
    DropReason dropReason = DropReason::Truncated;
    Endpoint from;
    QByteArray payload;
    QString detail; // human text for logs and the timeline
};

struct Actions {
    std::vector<Outgoing> send;
    std::vector<Event> events;
    void append(Actions &&other);
};

struct Counters {
    quint64 datagramsIn = 0, datagramsOut = 0, bytesIn = 0, bytesOut = 0;
    quint64 dropped[static_cast<int>(DropReason::Count_)] = {};
    quint64 tokensRelayed = 0, rotations = 0, purges = 0, ringsFormed = 0;
    // Master: tokens of its own earlier rotation back after it had regenerated them (a slow
    // ring, not a broken one): taken as the token for the timeout, not relayed.
    quint64 lateTokens = 0;
    // Token timeouts this node postponed because it had not run itself (called long after the
    // deadline it had given): it was stalled, not the ring.
    quint64 selfStalls = 0;
    quint64 oobSent = 0, oobReceived = 0, retransmits = 0;
    quint64 droppedTotal() const;
};

class TokenBeatNode {
public:
    explicit TokenBeatNode(NodeConfig config);
    ~TokenBeatNode();
    TokenBeatNode(const TokenBeatNode &) = delete;
    TokenBeatNode &operator=(const TokenBeatNode &) = delete;

    // Enter the ring: Joining (or Observing for an observer).
    Actions start(Time now);
    // One datagram as received from the network, unauthenticated.
    Actions onDatagram(Time now, const Endpoint &from, QByteArrayView datagram);
    // Timers. Call no later than nextDeadline(); calling earlier is harmless.
    Actions onTick(Time now);
    Time nextDeadline() const;
    // Graceful leave (SIGTERM): splices this node out without a purge. The caller keeps feeding
    // datagrams and ticks until state() == Stopped (at most Timers::leaveLinger).
    Actions leave(Time now);

    // Out-of-band message to one node, sent at once (no token wait). reliable = chunked,
    // acknowledged and retransmitted; payloads up to 1 MiB. Returns the transfer id in
    // *transferId when given. Unreliable messages must fit one datagram.
    Actions sendOob(Time now, NodeAddr to, quint8 channel, const QByteArray &payload,
                    bool reliable, quint64 *transferId = nullptr);

    // The status piggybacked on the next token this node relays. role is ignored (the ring
    // decides roles); health and counters are the agent's.
    void setLocalStatus(const NodeStatus &status);

    // Whether this node is willing to dispatch (a node may withdraw, e.g. when draining).
    void setCapabilities(quint8 caps);

    NodeAddr self() const;
    NodeState state() const;
    Role role() const;
    const RingView &view() const;
    const Counters &counters() const;
    const NodeConfig &config() const;

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

}  // namespace sasha::tb
