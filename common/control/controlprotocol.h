#pragma once
// The control protocol between sashad and its clients (sashactl, the console, tests): JSON lines
// over a Unix socket. docs/sashactl.md lists every command and key; scripts rely on the keys, so
// a key is never renamed, only added.
//
// Request:  one JSON object per line, {"cmd": "<command>", ...arguments}
// Response: one JSON object per line; failures are {"error": "<message>"}. Every request line
//   gets an answer: an empty line, bad JSON, a missing or non-string "cmd" get an error.
//   "status"   -> the status object (ControlStatus::toJson, keys below)
//   "members"  -> {"members": [member...], "observers": [member...]}
//   "events"   -> {"events": [event...]} oldest first; argument "limit" (1..2000, default 100)
//   "counters" -> {"counters": {...}}
//   "watch"    -> a stream: {"event": {...}} per event and {"status": {...}} every second,
//                 until the client disconnects
//   "fault"    -> {"target":"a.b.c.d","action":"hang","durationMs":5000,"onlyIfDispatcher":false}:
//                 the daemon sends the fault command (faultcommand.h) to target (or acts itself)
//                 and answers {"result":"accepted","message":"...","node":...,"action":...} when
//                 the node's reply arrives, or {"error": "no reply from X within 2 s"}
//   "drain"    -> {"target":"a.b.c.d"}: the operator drains the node from service (admincommand.h;
//                 works with [faults] disabled): health draining, no new flows, existing flows
//                 finish, dispatch capability kept, persisted in the target's [node] state_file
//   "undrain"  -> {"target":"a.b.c.d"}: back in service
//   "weight"   -> {"target":"a.b.c.d","weight":W}: operator weight W (0..65535, 0 = no new flows),
//                 which wins over [dispatcher] weights on whichever node dispatches;
//                 {"target":"a.b.c.d","clear":true} instead of "weight" clears it (then the
//                 [dispatcher] weights apply again)
//                 The three answer like "fault": {"result":"accepted"|"wrong-target"|"failed",
//                 "message":"...","node":"a.b.c.d","action":"drain"} when the target replies (at
//                 once when the target is this node), or {"error": "no reply from X within 2 s"}.
//   "handover" -> {}: asked of the dispatcher itself, it hands the role to the ring's next choice
//                 without stopping (docs/dispatcher.md "Membership changes") and answers
//                 {"result":"handed-over","successor":"a.b.c.d","ms":N} once the successor has the
//                 VMAC, or {"error": "..."} (not the dispatcher, no other capable member, ...).
//   "reload"   -> {}: re-read the config file the daemon started with (as SIGHUP does); answers
//                 {"result":"reloaded"|"no-change","changes":["weight of a.b.c.d: 1 -> 3", ...]}
//                 or {"error": "..."} naming file, line and key (a bad file), or each key that
//                 cannot change without a restart with its old and new value; then nothing changed.
//
// Members (the "members" array of status and members) also carry, where this node knows them
// (its own state, and the admin reports every serving node sends, kAdminReportChannel):
//   "drained" (bool, null unknown), "weight" (operator weight, null when none is set or
//   unknown), "openFlows" (every flow the dispatcher holds for the node, closing ones included;
//   null unknown). "activeConnections" stays the flows that are not closing.
//
// The wire words (states, roles, event kinds, drop reasons) are defined here, not borrowed from
// the core's human-readable strings, so that log wording can change without breaking scripts.

#include "control/admincommand.h"
#include "control/faultcommand.h"
#include "tokenbeat/node.h"
#include "tokenbeat/types.h"

#include <QByteArray>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <optional>
#include <utility>
#include <vector>

namespace sasha {

QString controlStateName(tb::NodeState s);       // member, joining, awaiting-ring, leaving, observing, stopped
QString controlRoleName(tb::Role r);             // dispatcher, server, standalone, observer, none
QString controlHealthName(tb::Health h);         // unknown, healthy, unhealthy, draining
QString controlCapsName(quint8 caps);            // "dispatch,serve", "observer", "" for none
QString controlEventKindName(tb::Event::Kind k); // kebab-case of the enumerator: purge-started
QString controlDropReasonName(tb::DropReason r); // kebab-case of the enumerator: bad-mac

struct ControlMember {
    QString addr;     // "127.0.0.1"
    QString name;     // display name where known (the local node), else empty
    QString endpoint; // "127.0.0.1:7400"
    QString caps;
    QString role;
    QString health;
    quint32 activeConnections = 0; // flows to it that are not closing (token status)
    quint32 cps = 0;
    // From the admin reports (nullopt: unknown; weight also when no operator weight is set).
    std::optional<bool> drained;
    std::optional<quint32> weight;
    std::optional<quint32> openFlows; // every flow in the dispatcher's table for it
    QJsonObject toJson() const;
    static ControlMember fromJson(const QJsonObject &o);
    friend bool operator==(const ControlMember &, const ControlMember &) = default;
};

struct ControlCounters {
    quint64 datagramsIn = 0, datagramsOut = 0, bytesIn = 0, bytesOut = 0;
    std::vector<std::pair<QString, quint64>> dropped; // every reason, in DropReason order
    quint64 purges = 0, ringsFormed = 0, rotations = 0, tokensRelayed = 0, lateTokens = 0, selfStalls = 0;
    quint64 oobSent = 0, oobReceived = 0, retransmits = 0;
    static ControlCounters fromCore(const tb::Counters &c);
    QJsonObject toJson() const;
    static ControlCounters fromJson(const QJsonObject &o);
    quint64 droppedTotal() const;
    friend bool operator==(const ControlCounters &, const ControlCounters &) = default;
};

struct ControlStatus {
    QString node;
    QString name;
    QString state;
    QString role;
    quint32 ringEpoch = 0;
    quint32 viewVersion = 0;
    QString master;     // "" when no ring
    QString dispatcher; // "" when none
    qint64 uptimeMs = 0;
    qint64 pid = 0;
    QList<ControlMember> members;
    QList<ControlMember> observers;
    ControlCounters counters;
    // The dispatcher's figures while this node dispatches (docs/sashactl.md, "dataPath"):
    // empty otherwise, and then left out of the JSON.
    QJsonObject dispatcherStats;
    // The configured virtual services (docs/sashactl.md "services"): one object each, with
    // "newFlows" while this node dispatches. Left out of the JSON when empty.
    QJsonArray services;
    // This node's operator state (docs/sashactl.md, "admin"): drained, weight, openFlows,
    // stateFile. Left out of the JSON when empty.
    QJsonObject admin;
    // The ring socket's receive path (docs/sashactl.md, "transport": receive buffer, datagrams
    // admitted and rejected by reason and by source, kernel queue overflows). Left out when empty.
    QJsonObject transport;
    // Whether this node may be elected dispatcher (docs/sashactl.md, "dispatch": configured,
    // capable, withdrawn {reason: detail}). Left out when empty.
    QJsonObject dispatch;
    // Config reloads (docs/sashactl.md "reload"): {"ok", "refused", "last": "ok"|"refused"|"",
    // "lastMessage", "lastMs" (wall ms)}. Left out when empty.
    QJsonObject reload;
    // The [notify] scripts (docs/config.md "[notify]"): {"started", "ok", "failed", "timedOut",
    // "dropped", "pending"}. Left out when empty.
    QJsonObject notify;
    // The Prometheus endpoint (docs/metrics.md): {"listen": "a.b.c.d:port" as bound, "scrapes",
    // "refused"}. Left out when [metrics] is off.
    QJsonObject metrics;

    // Snapshot of a running node; name is the local display name.
    static ControlStatus fromNode(const tb::TokenBeatNode &node, const QString &name, qint64 uptimeMs, qint64 pid);
    QJsonObject toJson() const;
    static ControlStatus fromJson(const QJsonObject &o);
    friend bool operator==(const ControlStatus &, const ControlStatus &) = default;
};

struct ControlEvent {
    qint64 monoUs = 0; // steady clock µs: the same clock the core runs on, across processes
    qint64 wallMs = 0; // wall clock ms since the epoch, for humans
    QString kind;
    QString node;
    QString role;
    QString detail;
    static ControlEvent fromCore(const tb::Event &e, qint64 wallMs);
    QJsonObject toJson() const;
    static ControlEvent fromJson(const QJsonObject &o);
    friend bool operator==(const ControlEvent &, const ControlEvent &) = default;
};

struct ControlRequest {
    enum class Command { Status, Members, Events, Watch, Counters, Connections, Fault, Drain, Undrain, Weight, Handover, Reload };
    Command command = Command::Status;
    int limit = 100; // events (1..kMaxEventLimit) and connections (1..kMaxConnectionLimit)
    // fault: validated by the parser (IPv4 target, known action, duration only and always for
    // hang/unplug, 1..kMaxFaultDurationMs).
    quint32 faultTarget = 0; // IPv4, host byte order
    FaultAction faultAction = FaultAction::Restore;
    quint32 faultDurationMs = 0;
    bool faultOnlyIfDispatcher = false;
    // drain, undrain, weight: validated by the parser (IPv4 target; weight 0..kMaxOperatorWeight).
    quint32 adminTarget = 0; // IPv4, host byte order
    quint32 adminWeight = 0;
    bool adminClearWeight = false; // weight: {"clear": true} instead of "weight"
    // handover: the successor asked for (IPv4, host byte order); 0 = the ring's next choice.
    quint32 handoverTarget = 0;
    bool isAdmin() const { return command == Command::Drain || command == Command::Undrain || command == Command::Weight; }
    AdminAction adminAction() const;
    QJsonObject toJson() const;
};

constexpr int kMaxEventLimit = 2000;
constexpr int kMaxConnectionLimit = 100000;
constexpr qsizetype kMaxRequestLine = 64 * 1024; // longer request lines are refused

// Parses one request line; on failure returns nullopt and a message for {"error": ...}.
std::optional<ControlRequest> parseControlRequest(const QByteArray &line, QString *error);
// One object as a compact JSON line with its trailing '\n'.
QByteArray controlLine(const QJsonObject &o);
QJsonObject controlError(const QString &message);

} // namespace sasha
