#pragma once
// Operator commands that are not fault injection (issue 8, item 3): drain a node from service,
// undrain it, set its weight. `sashactl drain|undrain|weight` asks the local sashad (control
// protocol "drain", "undrain", "weight"), which sends the command to the target node as a
// TokenBeat out-of-band message on kAdminChannel (authenticated with the cluster key, protected
// against replay by the envelope) and answers with the target's reply; sasha-console sends the
// same command from its observer. Unlike fault commands they work with [faults] disabled: they
// are how an operator runs the cluster. The target persists its admin state ([node] state_file)
// and tells every member and observer on kAdminReportChannel (AdminReport below), so that
// whichever node dispatches, now or after a failover, applies the weight. This codec is pure
// (bytes in, values out), like the TokenBeat message codecs. docs/sashactl.md describes the use.
//
// Wire layout, all integers big-endian.
//   Command (16 bytes), channel kAdminChannel:
//     version 1 (=1) | type 1 (=1 command) | action 1 | flags 1 (=0) | commandId 4 | target 4 |
//     weight 2 | reserved 2 (=0)
//       action: 1 drain, 2 undrain, 3 weight.
//       flags: bit0 kAdminClearWeight (action weight only, weight = 0): clear the operator
//               weight, so that [dispatcher] weights apply again; bits 1..7 = 0, and a receiver
//               ignores bits it does not know.
//       commandId: chosen by the sender, echoed in the reply.
//       target: the ring address the command is meant for; a node that is not target answers
//               WrongTarget (protects against a stale view sending to a reused address).
//       weight: the new operator weight for action weight (0..65535; 0 = no new flows);
//               0 for drain and undrain.
//   Reply (16 + n bytes), channel kAdminChannel:
//     version 1 (=1) | type 1 (=2 reply) | action 1 | result 1 | commandId 4 | target 4 |
//     reserved 2 (=0) | messageLength 2 (n <= kMaxAdminMessage) | message n (UTF-8)
//       result: 0 accepted, 1 wrong-target, 2 failed (carried out, but e.g. not persisted:
//               message says why and what to fix).
//   Report (8 bytes), channel kAdminReportChannel, unreliable, from each serving node to every
//   other member of its view and every observer, on change, when the view's dispatcher changes,
//   and every kAdminReportIntervalMs:
//     version 1 (=1) | flags 1 | weight 2 | openFlows 4
//       flags bit0 kReportDrained: drained by an operator; bit1 kReportWeightSet: weight holds
//               an operator weight (else none is set and the dispatcher's [dispatcher] weights
//               apply, weight = 0); bits 2..7 = 0, ignored.
//       openFlows: every flow the dispatcher holds for this node, closing ones included, as the
//               dispatcher last reported it (serverstats.h); what `sashactl drain --wait` waits on.
// Decoding: shorter than the fixed part, an unknown version/type/action/result, a weight on
// drain or undrain, a command without a target, or a message length beyond the bytes present is
// malformed. Bytes after the last known field are ignored so a later version may append fields;
// any other change bumps the version.

#include "tokenbeat/types.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

#include <optional>

namespace sasha {

// The TokenBeat out-of-band channels of admin commands/replies (operator tooling, 0xF0..0xFF)
// and of the nodes' admin reports (a cluster service, below 0x80; next to kServerStatsChannel).
constexpr quint8 kAdminChannel = 0xF1;
constexpr quint8 kAdminReportChannel = 0x13;
constexpr quint8 kAdminVersion = 1;
constexpr int kAdminCommandSize = 16;
constexpr int kAdminReplyFixedSize = 16;
constexpr int kAdminReportSize = 8;
constexpr int kMaxAdminMessage = 512;
constexpr int kAdminReportIntervalMs = 2000;
constexpr quint32 kMaxOperatorWeight = 65535;

enum class AdminAction : quint8 {
    Drain = 1,   // health Draining: no new flows, existing ones finish; dispatch capability kept
    Undrain = 2, // back in service
    Weight = 3,  // operator weight for new flows (0 = none)
};
QString adminActionName(AdminAction a); // "drain", "undrain", "weight"
std::optional<AdminAction> adminActionFromName(const QString &name);

struct AdminCommand {
    AdminAction action = AdminAction::Drain;
    quint32 commandId = 0;
    tb::NodeAddr target = tb::kNoNode;
    quint16 weight = 0; // Weight only
    bool clearWeight = false; // Weight only: no operator weight any more (kAdminClearWeight)
    friend bool operator==(const AdminCommand &, const AdminCommand &) = default;
};

enum class AdminResult : quint8 {
    Accepted = 0,
    WrongTarget = 1, // not the target
    Failed = 2,      // carried out only in part, or not at all; message says why
};
QString adminResultName(AdminResult r); // "accepted", "wrong-target", "failed"

struct AdminReply {
    AdminAction action = AdminAction::Drain;
    AdminResult result = AdminResult::Accepted;
    quint32 commandId = 0;
    tb::NodeAddr target = tb::kNoNode;
    QString message; // human text, truncated to kMaxAdminMessage bytes on encode
    friend bool operator==(const AdminReply &, const AdminReply &) = default;
};

constexpr quint8 kAdminClearWeight = 0x01; // command flags

constexpr quint8 kReportDrained = 0x01;
constexpr quint8 kReportWeightSet = 0x02;

// A node's admin state as it tells the others.
struct AdminReport {
    bool drained = false;
    std::optional<quint16> weight; // nullopt: no operator weight set
    quint32 openFlows = 0;
    friend bool operator==(const AdminReport &, const AdminReport &) = default;
};

QByteArray encodeAdminCommand(const AdminCommand &c);
QByteArray encodeAdminReply(const AdminReply &r);
QByteArray encodeAdminReport(const AdminReport &r);
// nullopt with *error set when the payload is malformed (error may be null).
std::optional<AdminCommand> decodeAdminCommand(QByteArrayView payload, QString *error = nullptr);
std::optional<AdminReply> decodeAdminReply(QByteArrayView payload, QString *error = nullptr);
std::optional<AdminReport> decodeAdminReport(QByteArrayView payload, QString *error = nullptr);
// The type byte of a kAdminChannel payload (1 command, 2 reply) or 0 when too short to tell.
quint8 adminMessageType(QByteArrayView payload);

} // namespace sasha
