#pragma once
// Private state of TokenBeatNode, shared by node.cpp (entry points, joining, forming, purge,
// timers), nodering.cpp (token, views, election, leave) and nodeoutside.cpp (observers,
// beacons and partition healing, out-of-band).
// Not installed, not included outside common/tokenbeat. One thread at a time, like the node.

#include "tokenbeat/envelope.h"
#include "tokenbeat/messages.h"
#include "tokenbeat/node.h"
#include "tokenbeat/reliable.h"

#include <map>
#include <optional>
#include <set>

namespace sasha::tb {

constexpr Time kNever = Time::max();

// "a.b.c.d" for a node address in event details and logs (addresses are IPv4, host order).
inline QString addrText(NodeAddr a)
{
    return QStringLiteral("%1.%2.%3.%4").arg(a >> 24).arg((a >> 16) & 0xff).arg((a >> 8) & 0xff).arg(a & 0xff);
}

struct TokenBeatNode::Impl {
    explicit Impl(NodeConfig c);

    // A Join heard while Joining/AwaitingRing (the candidate members of the next ring).
    struct Heard {
        Endpoint endpoint;
        quint8 caps = 0;
        Role claim = Role::None;
        quint32 lastRingEpoch = 0;
        Time at{0}; // when we last heard it (kept across an AwaitingRing timeout while recent)
        Time answeredAt = kNever; // when we last answered it with our own Join
    };
    // A View not yet acknowledged by one member (master) or, on handover, by the new ring.
    struct PendingAck {
        Endpoint to;
        int attempts = 0;
        Time next{0};
    };
    struct ObserverEntry {
        Member member;
        Time lastSeen{0};
    };

    NodeConfig cfg;
    Sealer sealer;
    Opener opener;
    ReliableExchange oob;

    NodeState state = NodeState::Stopped;
    Role role = Role::None;
    RingView view;                 // the ring we are in, or the last one we were in
    NodeAddr lastDispatcher = kNoNode; // for DispatcherElected: the last dispatcher we knew
    NodeAddr prevMaster = kNoNode;     // master before the last handover in this ring epoch
    Counters counters;

    // Context of the call being handled: where actions go and what time it is.
    Actions *out = nullptr;
    Time now{0};

    // Endpoints learned from authenticated traffic (OOB destinations, replies). Bounded.
    std::map<NodeAddr, Endpoint> peers;
    // Masters of other rings learned from Beacons: joined too, and Joins forwarded to them.
    std::map<NodeAddr, Endpoint> foreignMasters;
    // Rate limit of Beacons sent in answer to a foreign ring, per foreign master.
    std::map<NodeAddr, Time> foreignAnswered;

    // Joining / AwaitingRing.
    std::map<NodeAddr, Heard> heard;
    std::vector<Endpoint> lastViewEndpoints; // members of the ring we left
    Time reformDeadline = kNever, nextJoinAt = kNever, awaitDeadline = kNever;
    quint32 maxEpochSeen = 0;
    // The ring we abandoned (purge, exclusion): a View of it is accepted again only with a
    // newer viewVersion, so a dead ring's late View cannot pull us back in.
    quint32 abandonedEpoch = 0, abandonedVersion = 0;
    bool isAbandoned(quint32 epoch, quint32 version) const
    {
        return epoch < abandonedEpoch || (epoch == abandonedEpoch && version <= abandonedVersion);
    }

    // Member.
    Time tokenDeadline = kNever;
    // This node's own stall (docs/tokenbeat.md "A node that did not run"): a member of a ring of
    // two or more asks to be called every tokenTimeout/8 (stallCheckAt), so that a stall of its
    // process or machine shows as a late call; the earliest deadline it gave its caller at the
    // end of its latest call (onTick no later than that), the latest call that came a quarter of
    // the token timeout or more after it (when, and how late), and the token deadline it
    // postponed once because of such a stall.
    Time stallCheckAt = kNever;
    Time promisedWake = kNever;
    Time stallSeenAt = kNever, stallLength{0};
    Time stallPostponed = kNever;
    void noteCall()
    {
        if (promisedWake != kNever && now - promisedWake >= cfg.timers.tokenTimeout / 4) {
            stallSeenAt = now;
            stallLength = now - promisedWake;
        }
    }
    quint32 lastRotation = 0; // highest rotation relayed in this ring epoch (drops duplicates)
    // Every View of the current ring epoch this node has held: (viewVersion, viewDigest). A ring
    // is named by (epoch, master) on the wire, and two rings formed at once share an epoch; when
    // the other ring admits us from a late Join it names us its master. As master we tell a late
    // copy of our own ring's View (known here) from that ring's View (unknown): see
    // mergeNamesake(). Cleared on entering a ring, bounded by kMaxHeldViews.
    std::set<std::pair<quint32, quint64>> heldViews;
    std::optional<TokenMsg> heldToken; // newer viewVersion than ours: waiting for the View
    Endpoint heldAsk;
    Time holdDeadline = kNever, nextViewRequestAt = kNever;
    NodeStatus localStatus;
    std::optional<StatusUpdate> lastReported;
    // The master's own capabilities changed (setCapabilities, e.g. a drained dispatcher that is
    // also the master): the next returning token re-runs the election like another's change.
    bool ownCapsChanged = false;

    // Master.
    quint32 rotation = 0;
    bool rotationInFlight = false;
    Time rotationStartedAt{0};
    Time nextRotationAt = kNever;
    std::vector<StatusUpdate> tokenUpdates; // updates on the token when it last returned
    // The highest rotation of ours that came back (in time, or late: after it was regenerated),
    // and the status updates of the latest late one, for the in-flight rotation's return: that
    // one passed their senders after they had reported, so it does not carry them.
    quint32 lastReturned = 0;
    std::vector<StatusUpdate> lateUpdates;
    std::map<NodeAddr, PendingAck> pendingAcks;
    std::map<NodeAddr, Role> claims;        // dispatcher claims from Joins
    std::map<NodeAddr, Endpoint> finalViewTo; // leavers told once the new view is acked
    // A joiner lower than us would become the master. It is offered the View first and admitted
    // (View to all) only once it acks: a joiner that formed a ring of its own meanwhile, with
    // our epoch, must not be made the master of ours too (two rings named (epoch, it)).
    struct MastershipOffer {
        JoinMsg join;
        quint32 version = 0; // viewVersion of the offered View
        QByteArray body;     // the offered View
        int attempts = 1;
        Time next{0};
    };
    std::optional<MastershipOffer> offer;
    // Per member, when it last acked our current view. A Join of a member that acked it less
    // than tokenTimeout ago is stale (sent while joining, queued behind a busy socket, or
    // forwarded late), not a rejoin: it cannot have abandoned the ring since. Such Joins carry
    // an old claim, or the epoch of a ring it left that shared ours, and each one re-published
    // the view ("readmitted"): dozens of views in a row under load.
    std::map<NodeAddr, Time> ackedAt;
    Time nextBeaconAt = kNever;
    std::map<NodeAddr, ObserverEntry> observers;
    bool observersDirty = false;
    Time lastObserverViewAt{0};

    // Leaving.
    Time leaveDeadline = kNever, nextLeaveAt = kNever;
    bool handingOver = false; // we were master: waiting for the new ring to ack
    RingView leavingView;     // the view we relay tokens by while leaving

    // Observer.
    Time nextHelloAt = kNever;
    Time lastViewAt{0};

    // node.cpp
    void send(const Endpoint &to, MessageType type, const QByteArray &body);
    // One body to several endpoints, sealed for each (the envelope authenticates the destination).
    void sendMany(const std::set<Endpoint> &to, MessageType type, const QByteArray &body);
    void emitEvent(Event::Kind kind, NodeAddr node, const QString &detail = {});
    void drop(DropReason reason, const Endpoint &from, const QString &detail = {});
    void setState(NodeState s);
    void setRole(Role r);
    void rememberPeer(NodeAddr addr, const Endpoint &e);
    std::optional<Endpoint> endpointOf(NodeAddr addr) const;
    bool isMaster() const;
    void handleDatagram(const Endpoint &from, QByteArrayView datagram);
    void handleJoin(const Envelope &env, const JoinMsg &j);
    void handlePurge(const Envelope &env, const EpochMsg &p);
    // keepHeardSince: Joins heard at or after it stay in the heard set (kNever: a fresh set).
    void enterJoining(Time keepHeardSince = kNever);
    // all: every known peer (entering Joining); else the repeat: only who still needs it.
    void sendJoins(bool all);
    JoinMsg ownJoin() const;
    void formRing();
    void declarePurge(const QString &why);
    void tick();
    Time nextDeadline() const;
    void endCall(); // after every call from outside: the stall check's next call, promisedWake
    void stop();

    // nodering.cpp, nodeoutside.cpp
    void enterRing(const RingView &v);
    void adoptView(const RingView &v);
    void becomeMaster();
    void advanceView();
    void publishView(const QString &why);
    void sendView(const Endpoint &to);
    QByteArray viewBody() const;
    NodeAddr elect() const { return elect(view, claims); }
    static NodeAddr elect(const RingView &v, const std::map<NodeAddr, Role> &claims);
    // The claim a ring's dispatcher holds for the next election: strong when it dispatches for
    // several members, weak when alone.
    static Role claimOfRing(const RingView &v) { return v.members.size() > 1 ? Role::Dispatcher : Role::Standalone; }
    // A new ring's epoch: above every epoch in `above`, its low byte 255 minus the master's
    // address's, so rings formed at once on two sides of a partition never share one, and the
    // lower master's (the one that survives the heal) is the newer (docs/tokenbeat.md).
    static quint32 nextEpoch(quint32 above, NodeAddr master)
    {
        return (((above >> 8) + 1) << 8) | (0xFFu - (master & 0xFFu));
    }
    void offerMastership(const JoinMsg &j);
    void tickOffer();
    Role roleFor(NodeAddr addr, const RingView &v) const;
    void applyDispatcher(NodeAddr dispatcher);
    void admit(const JoinMsg &j);
    void handleView(const Envelope &env, const Endpoint &from, const ViewMsg &m);
    static quint64 viewDigest(const RingView &v);
    void noteView(const RingView &v);
    bool isNamesake(const RingView &v) const;
    void mergeNamesake(const Endpoint &from, const RingView &v);
    void handleViewAck(const Envelope &env, const ViewAckMsg &a);
    void handleViewRequest(const Endpoint &from, const EpochMsg &r);
    void handleToken(const Envelope &env, const Endpoint &from, const TokenMsg &t);
    void processToken(TokenMsg t);
    bool applyStatusUpdates(const std::vector<StatusUpdate> &updates); // true: a member's caps changed
    void startRotation();
    void piggyback(TokenMsg &t);
    void relay(const TokenMsg &t);
    void holdToken(const TokenMsg &t, const Endpoint &ask);
    void handleLeave(const Envelope &env, const EpochMsg &l);
    void beginLeave();
    void handleObserverHello(const ObserverHelloMsg &h);
    void observerApplyView(const RingView &v);
    void sendObserverViews();
    // The master's own view lists its current observers (for status and sashactl members).
    void syncObserversIntoView();
    void handleBeacon(const BeaconMsg &b);
    BeaconMsg ownBeacon() const;
    void answerForeign(NodeAddr master, const Endpoint &masterEndpoint, quint32 epoch);
    void dissolveInto(NodeAddr master, const Endpoint &masterEndpoint);
    void handleOob(const Envelope &env, const Endpoint &from);
    void applyOobResult(ReliableExchange::Result &r);
    void tickRing();
    void tickMasterAcks();
};

} // namespace sasha::tb
