#pragma once
// Planned handover's state transfer (issue 8 item 4, docs/dispatcher.md "Membership changes"):
// the dispatcher that hands over sends its whole flow table to the successor the ring elected,
// so the successor knows every flow, half-open and closing ones included, before it takes the
// VMAC, without waiting for the agents. The successor then tells the old dispatcher that it
// forwards (FlowTransferAnnounced), and the old one stops once no frame reaches it any more.
// Both travel as TokenBeat out-of-band payloads on kFlowTransferChannel, the table reliable
// (chunked, acknowledged: tokenbeat/reliable.h), so they are authenticated and replay-protected
// by the envelope. This codec is pure: bytes in, values out.
//
// Wire layout, all integers big-endian.
//   FlowTransferTable (24 + 14e bytes):
//     version 1 (=1) | type 1 (=1 table) | flags 2 | transferId 4 (the sender's; the same in
//     every part) | vip 4 | part 2 | partCount 2 (part < partCount) | totalEntries 4 (over all
//     parts) | entryCount 4 (e) | entry 14 × e
//   entry (14 bytes): clientIp 4 | clientPort 2 | vport 2 | server 4 (the ring address of the
//     server the flow goes to) | proto 1 (6 tcp, 17 udp) | state 1 (FlowTransferState)
//   flags bit 0 (kFlowTransferClosedSince): not a table but the sender's later word, sent when
//     the successor has announced: every flow it holds as closing and every flow a packet touched
//     after it copied its table (a FIN it still forwarded, a SYN that reused a closing flow's
//     port and was scheduled afresh, a connection made after the copy), with server and state;
//     the successor adopts them (FlowTable::adoptPrevious).
//   flags bit 1 (kFlowTransferOtherVips): the other VIPs' flows follow the entries (services on
//     several VIPs, docs/config.md "[[service]]"), appended so that a successor that predates
//     them (which ignores unknown flag bits and the bytes after the entries) applies exactly
//     the first VIP's flows, as before, and leaves the others to the agents:
//       otherCount 4 (f) | f × (vip 4 | entry 14)
//     A part holds at most kMaxEntriesPerTransferPart entries of both fields together, at most
//     kMaxOtherEntriesPerTransferPart when some are other VIPs' (so that it fits 1 MiB).
//     totalEntries counts both fields. Other flag bits are 0 and ignored.
//   FlowTransferAnnounced (8 bytes):
//     version 1 (=1) | type 1 (=2 announced) | flags 2 (=0) | transferId 4 (the table it applied,
//     0 when none arrived before it announced)
//   FlowTransferStandAside (12 bytes), `sashactl handover NODE`: the dispatcher asks every other
//   dispatch-capable member to withdraw its dispatch capability for holdMs, so that the ring
//   elects NODE when the dispatcher gives the role up:
//     version 1 (=1) | type 1 (=3 stand aside) | flags 2 (=0) | successor 4 | holdMs 4
//   FlowTransferStandBack (8 bytes): the handover is over, take the capability back:
//     version 1 (=1) | type 1 (=4 stand back) | flags 2 (=0) | successor 4
// Decoding: shorter than the fixed part, an unknown version or type, part >= partCount,
// partCount 0, an entry with a protocol other than tcp/udp or an unknown state, or fewer bytes
// than entryCount (or, with flags bit 1, otherCount) announces is malformed. Bytes after the last entry are ignored so a later
// version may append fields; any other change bumps the version.
// 100k flows are 1.4 MB: more than one reliable transfer (1 MiB), so a table is cut into parts of
// at most kMaxEntriesPerTransferPart entries; the receiver applies each part as it arrives.

#include "tokenbeat/reliable.h"
#include "tokenbeat/types.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

#include <optional>
#include <span>
#include <variant>
#include <vector>

namespace sasha {

constexpr quint8 kFlowTransferChannel = 0x14;
constexpr quint8 kFlowTransferVersion = 1;
constexpr int kFlowTransferTableFixedSize = 24;
constexpr int kFlowTransferAnnouncedSize = 8;
constexpr int kFlowTransferStandAsideSize = 12;
constexpr int kFlowTransferEntrySize = 14;
constexpr quint16 kFlowTransferClosedSince = 0x0001; // FlowTransferTable flags
constexpr quint16 kFlowTransferOtherVips = 0x0002;   // FlowTransferTable flags
constexpr int kFlowTransferOtherEntrySize = 4 + kFlowTransferEntrySize;
constexpr int kMaxEntriesPerTransferPart =
    int((tb::kMaxOobPayload - kFlowTransferTableFixedSize) / kFlowTransferEntrySize);
constexpr int kMaxOtherEntriesPerTransferPart =
    int((tb::kMaxOobPayload - kFlowTransferTableFixedSize - 4) / kFlowTransferOtherEntrySize);

// The flow's state in the sender's table (fastpath FlowState without Empty).
enum class FlowTransferState : quint8 { SynSeen = 1, Established = 2, Closing = 3, Udp = 4 };

struct FlowTransferEntry {
    quint32 clientIp = 0; // host byte order
    quint16 clientPort = 0;
    quint16 vport = 0;
    tb::NodeAddr server = tb::kNoNode;
    quint8 proto = 6;
    FlowTransferState state = FlowTransferState::Established;
    quint32 vip = 0; // 0 = the table's vip (the first field); else another VIP's (flags bit 1)
    friend bool operator==(const FlowTransferEntry &, const FlowTransferEntry &) = default;
};

struct FlowTransferTable {
    quint32 transferId = 0;
    quint32 vip = 0;
    quint16 part = 0;
    quint16 partCount = 1;
    quint32 totalEntries = 0;
    bool closedSince = false; // flags bit 0: see the wire layout above
    std::vector<FlowTransferEntry> entries;
    friend bool operator==(const FlowTransferTable &, const FlowTransferTable &) = default;
};

struct FlowTransferAnnounced {
    quint32 transferId = 0;
    friend bool operator==(const FlowTransferAnnounced &, const FlowTransferAnnounced &) = default;
};

struct FlowTransferStandAside {
    tb::NodeAddr successor = tb::kNoNode;
    quint32 holdMs = 0; // 0 = stand back (FlowTransferStandBack)
    friend bool operator==(const FlowTransferStandAside &, const FlowTransferStandAside &) = default;
};

using FlowTransferMessage = std::variant<FlowTransferTable, FlowTransferAnnounced, FlowTransferStandAside>;

// The whole table, cut into parts of at most maxEntriesPerPart entries (clamped to
// 1..kMaxEntriesPerTransferPart, or 1..kMaxOtherEntriesPerTransferPart when some entries are of
// another VIP); at least one part, even for an empty table. Entries whose vip is 0 or `vip` go
// to the first field, the others to the appended one, in their order. closedSince: the flows
// closed since the table was copied (flags bit 0), not a table. Decoded entries of the first
// field have vip 0.
std::vector<QByteArray> encodeFlowTransferTable(quint32 transferId, quint32 vip,
                                                std::span<const FlowTransferEntry> entries,
                                                int maxEntriesPerPart = kMaxEntriesPerTransferPart,
                                                bool closedSince = false);
QByteArray encodeFlowTransferAnnounced(const FlowTransferAnnounced &a);
// holdMs 0 encodes a stand back.
QByteArray encodeFlowTransferStandAside(const FlowTransferStandAside &a);
// nullopt with *error set when malformed (error may be null).
std::optional<FlowTransferMessage> decodeFlowTransfer(QByteArrayView payload, QString *error = nullptr);

} // namespace sasha
