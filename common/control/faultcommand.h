#pragma once
// Fault-injection commands (issue 4): what sasha-console and `sashactl fault` ask a node to do
// to itself, and the node's answer. They travel as TokenBeat out-of-band messages on channel
// kFaultChannel, so they are authenticated with the cluster key and protected against replay by
// the envelope; this codec is pure (bytes in, values out), like the TokenBeat message codecs.
// A node executes a command only when its config says [faults] enabled = true (off by default,
// on in sasha-lab); otherwise it answers Disabled. docs/console.md describes the behaviour.
//
// Wire layout, all integers big-endian.
//   Command (16 bytes):
//     version 1 (=1) | type 1 (=1 command) | action 1 | flags 1 | commandId 4 | target 4 |
//     durationMs 4
//       target: the ring address the command is meant for; a node that is not target answers
//               WrongTarget (protects against a stale console view sending to a reused address).
//       flags bit0 kOnlyIfDispatcher: execute only if the node is the dispatcher right now
//               ("kill dispatcher" must not kill a node that was just demoted); else WrongTarget.
//       durationMs: Hang and Unplug only, 1..kMaxFaultDurationMs; 0 for every other action.
//   Reply (16 + n bytes):
//     version 1 (=1) | type 1 (=2 reply) | action 1 | result 1 | commandId 4 | target 4 |
//     reserved 2 (=0) | messageLength 2 (n <= kMaxFaultMessage) | message n (UTF-8)
// Decoding: shorter than the fixed part, an unknown version/type/action/result, a duration out
// of range for the action, or a message length beyond the bytes present is malformed. Bytes after
// the last known field are ignored so a later version may append fields; any other change bumps
// the version.

#include "tokenbeat/types.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

#include <optional>

namespace sasha {

// The TokenBeat out-of-band channel of fault commands and replies. Channels below 0x80 belong to
// the cluster's own services (dispatcher, agents); 0xF0..0xFF are operator tooling.
constexpr quint8 kFaultChannel = 0xF0;
constexpr quint8 kFaultVersion = 1;
constexpr int kFaultCommandSize = 16;
constexpr int kFaultReplyFixedSize = 16;
constexpr int kMaxFaultMessage = 512;
constexpr quint32 kMaxFaultDurationMs = 600000; // 10 minutes

enum class FaultAction : quint8 {
    Crash = 1,   // die at once, no graceful leave (SIGKILL-like)
    Hang = 2,    // stop processing anything for durationMs, then resume (SIGSTOP-like)
    Unplug = 3,  // drop every datagram in and out for durationMs (cable pulled)
    Drain = 4,   // health Draining: no new connections, no dispatching; existing flows finish
    Restore = 5, // undo Drain / end Hang or Unplug early
};
QString faultActionName(FaultAction a); // "crash", "hang", "unplug", "drain", "restore"
std::optional<FaultAction> faultActionFromName(const QString &name);
bool faultActionTakesDuration(FaultAction a);
bool faultActionIsDestructive(FaultAction a); // asks for confirmation outside a lab

constexpr quint8 kOnlyIfDispatcher = 0x01;

struct FaultCommand {
    FaultAction action = FaultAction::Restore;
    quint8 flags = 0;
    quint32 commandId = 0; // chosen by the sender, echoed in the reply
    tb::NodeAddr target = tb::kNoNode;
    quint32 durationMs = 0;
    friend bool operator==(const FaultCommand &, const FaultCommand &) = default;
};

enum class FaultResult : quint8 {
    Accepted = 0,
    Disabled = 1,    // [faults] enabled = false on that node
    WrongTarget = 2, // not the target, or kOnlyIfDispatcher and not the dispatcher
    Unsupported = 3, // this node cannot do that action (e.g. unplug without a link to pull)
    Failed = 4,      // tried and failed; message says why
};
QString faultResultName(FaultResult r); // "accepted", "disabled", "wrong-target", ...

struct FaultReply {
    FaultAction action = FaultAction::Restore;
    FaultResult result = FaultResult::Accepted;
    quint32 commandId = 0;
    tb::NodeAddr target = tb::kNoNode;
    QString message; // human text, truncated to kMaxFaultMessage bytes on encode
    friend bool operator==(const FaultReply &, const FaultReply &) = default;
};

QByteArray encodeFaultCommand(const FaultCommand &c);
QByteArray encodeFaultReply(const FaultReply &r);
// nullopt with *error set when the payload is malformed (error may be null).
std::optional<FaultCommand> decodeFaultCommand(QByteArrayView payload, QString *error = nullptr);
std::optional<FaultReply> decodeFaultReply(QByteArrayView payload, QString *error = nullptr);
// The type byte (1 command, 2 reply) or 0 when too short to tell.
quint8 faultMessageType(QByteArrayView payload);

} // namespace sasha
