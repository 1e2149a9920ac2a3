#pragma once
// Plain value types shared by the TokenBeat core, its adapters, the daemon, the CLI and the
// console. No I/O, no clock, no QObject: everything here is copyable data.

#include <QByteArray>
#include <QString>
#include <QtGlobal>

#include <chrono>
#include <cstdint>
#include <vector>

namespace sasha::tb {

// Time as seen by the pure core: microseconds since an arbitrary origin chosen by the caller
// (the daemon uses a steady clock, the simulator its own counter). Never wall-clock time.
using Time = std::chrono::microseconds;
using namespace std::chrono_literals;

// A node's stable ring address. By default the node's IPv4 address on the cluster interface
// (host byte order), or a configured value. The ring is ordered by it; the master is the lowest.
using NodeAddr = quint32;
constexpr NodeAddr kNoNode = 0;

// Where a node receives TokenBeat datagrams. IPv4 in host byte order.
struct Endpoint {
    quint32 ip = 0;
    quint16 port = 0;
    friend bool operator==(const Endpoint &, const Endpoint &) = default;
    friend auto operator<=>(const Endpoint &, const Endpoint &) = default;
    bool isNull() const { return ip == 0 && port == 0; }
    QString toString() const; // "a.b.c.d:port"
};

// Capability bits a node declares (paper §3: some nodes may lack the ability to dispatch or
// to serve). An observer is never on the token's path.
enum Capability : quint8 {
    kCanDispatch = 0x01,
    kCanServe = 0x02,
    kObserver = 0x04,
};
QString capabilitiesToString(quint8 caps); // "dispatch,serve" / "observer"

enum class Role : quint8 {
    None = 0,       // not (yet) in a ring
    Server = 1,     // in the ring, serving
    Dispatcher = 2, // in the ring, elected dispatcher
    Standalone = 3, // the only live node: dispatches and serves
    Observer = 4,   // watches the ring, never on the token's path
};
QString roleToString(Role r);

// The health a node reports for its local service (the agent's check; paper §3.3).
enum class Health : quint8 {
    Unknown = 0,
    Healthy = 1,
    Unhealthy = 2,
    Draining = 3,
};
QString healthToString(Health h);

// The small per-node status piggybacked on the token (issue: "per-node status").
struct NodeStatus {
    Role role = Role::None;
    Health health = Health::Unknown;
    quint32 activeConnections = 0;
    quint32 connectionsPerSecond = 0;
    friend bool operator==(const NodeStatus &, const NodeStatus &) = default;
};

struct Member {
    NodeAddr addr = kNoNode;
    Endpoint endpoint;
    quint8 caps = 0;
    NodeStatus status;
    friend bool operator==(const Member &, const Member &) = default;
};

// One ring's membership as the master published it. members are sorted by address; the master
// is members.front(). Observers are listed apart and are never sent the token.
struct RingView {
    quint32 ringEpoch = 0;   // bumped at every ring formation; stale tokens carry a lower one
    quint32 viewVersion = 0; // bumped at every membership change inside one ring epoch
    NodeAddr master = kNoNode;
    NodeAddr dispatcher = kNoNode;
    std::vector<Member> members;
    std::vector<Member> observers;
    const Member *find(NodeAddr a) const;
};

// Where the local node is in the protocol (docs/tokenbeat.md has the state diagram).
enum class NodeState : quint8 {
    Stopped = 0,
    Joining = 1,      // collecting Join announcements until the reform interval ends
    AwaitingRing = 2, // reform over, not the lowest: waiting for the new master's View
    Member = 3,       // in a formed ring, relaying the token
    Leaving = 4,      // graceful leave sent, relaying until spliced out
    Observing = 5,    // observer: receives views, never the token
};
QString nodeStateToString(NodeState s);

// Timers. Defaults are sub-second for a LAN; the paper's (token timeout 2,000 ms, reform
// 2,500 ms) remain settable through the config file.
struct Timers {
    Time rotationInterval = 40ms;  // master starts a new rotation this long after the last one
    Time tokenTimeout = 140ms;     // no token for this long => ring purge
    Time reformInterval = 40ms;    // Joining lasts this long before the lowest node forms the ring
    Time joinRepeat = 15ms;        // Joining/AwaitingRing nodes repeat their Join this often
    Time beaconInterval = 1000ms;  // master announces its ring (discovery, partition healing)
    Time observerHello = 300ms;    // observers repeat their hello this often
    Time observerTimeout = 1500ms; // an observer not heard from for this long is dropped
    Time viewToObservers = 200ms;  // at most this often, master sends the view to observers
    Time leaveLinger = 300ms;      // a leaving node keeps relaying this long at most
    Time retransmit = 20ms;        // reliable exchange: first retransmission timeout
    int maxRetransmits = 8;        // reliable exchange: attempts before a transfer fails
};

}  // namespace sasha::tb
