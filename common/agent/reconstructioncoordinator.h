#pragma once
// The dispatcher's side of state reconstruction (paper §3.4): when a node becomes dispatcher it
// asks every server's agent for its established connections to the VIP, merges the answers and
// hands the flows to the flow table; a server that joins (or rejoins) later is asked too.
// Reconstruction runs beside forwarding: flows are handed out as each report arrives, not only at
// the end (the fast path's insertReconstructed corrects a flow adopted by hash meanwhile).
//
// Pure state machine, like TokenBeat: every call takes the time and returns what to send and
// what happened. No socket, no timer, no clock. The daemon sends `send` as reliable out-of-band
// messages on kConnQueryChannel, feeds reports from kConnReportChannel to onReport(), calls
// onTick() at nextDeadline(), and maps Flow::server to a fast-path slot.
//
// Timing: a server that has not answered within queryRetry is asked again (a new query id; the
// answer to any of its queries counts), at most maxAttempts times in all; the run completes when
// every server answered, gave up or left, or at overallTimeout, whichever comes first.
//
// Two servers claiming one flow (a stale connection the dead-client filter could not see, next
// to the client's new one with the same port): the claim with the smaller idle code (the server
// that heard from the client more recently) wins; equal codes go to the lower server address so
// the outcome does not depend on arrival order. Every conflict is counted; a claim that wins over
// an earlier one is handed out again (the flow table's "agent wins" correction).

#include "agent/connmessages.h"
#include "tokenbeat/types.h"

#include <QByteArray>
#include <QString>

#include <deque>
#include <map>
#include <unordered_map>
#include <vector>

namespace sasha {

struct ReconstructionConfig {
    tb::Time queryRetry = std::chrono::milliseconds(250); // ask a silent server again after this
    int maxAttempts = 4;                                   // queries per server, first included
    tb::Time overallTimeout = std::chrono::milliseconds(1500); // completion even if some are silent
};

class ReconstructionCoordinator {
public:
    struct Query {
        tb::NodeAddr to = tb::kNoNode;
        QByteArray payload; // send reliable on kConnQueryChannel
    };
    // One flow for the flow table: client -> vip:vport is served by `server`.
    struct Flow {
        quint32 clientIp = 0;
        quint16 clientPort = 0;
        quint32 vip = 0;
        quint16 vport = 0;
        tb::NodeAddr server = tb::kNoNode;
        bool udp = false; // a connected UDP socket's flow (else TCP)
        friend bool operator==(const Flow &, const Flow &) = default;
    };
    struct Event {
        enum class Kind {
            Started,         // count = servers queried
            QueryRetried,    // server, count = attempt number (2..)
            ServerAnswered,  // server, count = flows it reported, skipped = dead ones it left out,
                             // elapsed = since its first query
            ServerGaveUp,    // server did not answer maxAttempts queries
            ServerLeft,      // server left before answering
            Completed,       // count = flows merged, conflicts, answered/missing, elapsed = run time
            LateServerQueried, // a server joined after the start (or rejoined); count = attempt 1
        };
        Kind kind = Kind::Started;
        tb::Time at{0};
        tb::NodeAddr server = tb::kNoNode;
        quint64 count = 0;
        quint64 skipped = 0;
        quint64 conflicts = 0;
        quint32 answered = 0;
        quint32 missing = 0;
        tb::Time elapsed{0};
        QString detail; // one line for the timeline and the log
    };
    struct Output {
        std::vector<Query> send;
        std::vector<Flow> flows;   // insert (or correct) in the flow table now
        std::vector<Event> events;
        bool malformed = false;    // an input did not decode or did not belong (counted, dropped)
        QString error;             // why, when malformed
    };
    struct Stats {
        quint64 reportsAccepted = 0, reportsMalformed = 0, reportsUnexpected = 0, reportsDuplicate = 0;
        quint64 queriesSent = 0, conflicts = 0;
    };

    explicit ReconstructionCoordinator(ReconstructionConfig config = {});

    // A new dispatcher starts: every server in `servers` is queried (the dispatcher itself may be
    // among them: it may still hold connections it served). Restarting resets everything.
    Output start(tb::Time now, quint32 vip, std::vector<quint16> ports, const std::vector<tb::NodeAddr> &servers);
    // Same for services on several VIPs: every (vip, port) of `services` is asked (the first
    // pair's VIP is the queries' vip; docs/agent.md "Several VIPs").
    Output start(tb::Time now, const std::vector<std::pair<quint32, quint16>> &services,
                 const std::vector<tb::NodeAddr> &servers);
    // And UDP services: their connected sockets are asked too (docs/agent.md "UDP").
    Output start(tb::Time now, const ServicePorts &services, const ServicePorts &udpServices,
                 const std::vector<tb::NodeAddr> &servers);
    // A report from the out-of-band channel. from = the ring address the datagram came from
    // (authenticated by the envelope); a report naming another server is rejected. Decodes and
    // merges the whole report at once.
    Output onReport(tb::Time now, tb::NodeAddr from, QByteArrayView payload);
    // The same in steps, for the thread that relays the token (a 100k-connection report takes
    // tens of milliseconds to merge): decode off that thread (decodeConnReport), hand the report
    // here, which checks it and merges at most `budget` entries, then call mergeMore() on later
    // event-loop turns while hasPendingMerge(). A server counts as answered, and the run as
    // complete, only once its entries are all merged; a server whose answer is in but not merged
    // yet is not asked again. A report that did not decode: onUndecodable() (counted).
    Output onDecodedReport(tb::Time now, tb::NodeAddr from, ConnReport report, std::size_t budget);
    Output mergeMore(tb::Time now, std::size_t budget);
    Output onUndecodable(const QString &error);
    bool hasPendingMerge() const { return !m_pending.empty(); }
    // A server joined or rejoined (paper §3.4): query it, also after completion.
    Output onServerJoined(tb::Time now, tb::NodeAddr server);
    // A server left the ring: stop waiting for it. Its flows stay in the merge (the dispatcher
    // removes a dead server's flows by slot).
    Output onServerLeft(tb::Time now, tb::NodeAddr server);
    Output onTick(tb::Time now);
    tb::Time nextDeadline() const; // Time::max() when nothing is pending

    bool isRunning() const { return m_running; }
    bool isComplete() const { return m_started && !m_running; }
    // Every flow merged so far, winners only. O(flows).
    std::vector<Flow> mergedFlows() const;
    std::size_t mergedCount() const { return m_claims.size(); }
    const Stats &stats() const { return m_stats; }

private:
    enum class ServerState { Waiting, Answered, GaveUp, Left };
    struct ServerRun {
        ServerState state = ServerState::Waiting;
        int attempts = 0;
        tb::Time firstQueryAt{0};
        tb::Time nextRetryAt{0};
        std::vector<quint32> queryIds;       // every query sent to it in this run
        quint32 answeringQuery = 0;          // query id whose parts are being collected
        std::vector<bool> partsSeen;
        quint64 flowsReported = 0;
        quint64 skippedDead = 0;
        bool late = false;                   // queried after completion: does not hold up the run
        quint32 serial = 0;                  // which run of this server a pending part belongs to
        quint32 partsMerging = 0;            // parts received, entries not all merged yet
        bool allReceived() const;
    };
    // A report part received and checked, its entries merged from `next` on.
    struct PendingPart {
        tb::NodeAddr from = tb::kNoNode;
        quint32 serial = 0;
        ConnReport report;
        std::size_t next = 0;
    };
    struct Claim {
        tb::NodeAddr server = tb::kNoNode;
        quint8 idleCode = 0;
    };

    void query(tb::Time now, tb::NodeAddr server, ServerRun &run, Output &out);
    void checkCompletion(tb::Time now, Output &out);
    void mergeSome(tb::Time now, std::size_t budget, Output &out);
    void maybeAnswered(tb::Time now, tb::NodeAddr server, ServerRun &run, Output &out);
    // (clientIp, clientPort, vport), the VIP and the protocol: a claim's key.
    struct ClaimKey {
        quint64 flow = 0;
        quint32 vip = 0;
        bool udp = false;
        friend bool operator==(const ClaimKey &, const ClaimKey &) = default;
    };
    struct ClaimKeyHash {
        std::size_t operator()(const ClaimKey &k) const noexcept
        {
            return std::hash<quint64>()(k.flow ^ ((quint64(k.vip) << 1 | quint64(k.udp)) * 0x9E3779B97F4A7C15ull));
        }
    };
    static ClaimKey flowKey(quint32 clientIp, quint16 clientPort, quint32 vip, quint16 vport, bool udp);
    bool reject(Output &out, quint64 &counter, const QString &why);

    ReconstructionConfig m_config;
    bool m_started = false, m_running = false;
    tb::Time m_startedAt{0};
    quint32 m_vip = 0;
    std::vector<std::pair<quint32, quint16>> m_services; // every TCP (vip, port) asked
    ServicePorts m_udpServices;                          // every UDP (vip, port) asked
    quint32 m_nextQueryId = 1;
    std::map<tb::NodeAddr, ServerRun> m_servers;
    // (clientIp, clientPort, vip, vport) -> winning claim.
    std::unordered_map<ClaimKey, Claim, ClaimKeyHash> m_claims;
    quint64 m_runConflicts = 0;
    std::deque<PendingPart> m_pending;
    quint32 m_nextSerial = 1;
    Stats m_stats;
};

QString reconstructionEventKindName(ReconstructionCoordinator::Event::Kind k);

} // namespace sasha
