#pragma once
// The dispatcher's flow feed to observers (the console's connection map), carried as TokenBeat
// out-of-band messages on kFlowFeedChannel. Pure codec: bytes in, values out; no socket.
//
// The dispatcher sends each observer a snapshot of its flow table when the observer appears or
// when this node has just become the dispatcher (one or more "snapshot part" messages, each one
// reliable transfer ≤ 1 MiB), then, every feed interval, the changes since the previous batch
// (one "changes" message, one reliable transfer). docs/console.md "Connection map feed".
//
// Observers subscribe: only the master of the ring knows its observers, and the dispatcher is
// often not the master, so each observer sends the dispatcher of its view a "subscribe" message
// (header only) every kFlowFeedSubscribeMs; the dispatcher serves those it heard from within
// kFlowFeedSubscriberTimeoutMs (and learns their endpoints from these very datagrams).
//
// Message (big-endian), header 24 bytes:
//   version u8 (kFlowFeedVersion = 1) | type u8 (1 snapshot part, 2 changes, 3 subscribe) |
//   entryBytes u16 (16 today) | part u16 | parts u16 (snapshot: index and number of parts of
//   this snapshot, part < parts; changes: 0 and 1) |
//   dispatcher u32 (the sender's ring address) | runId u32 (new every time a node starts
//   dispatching: a snapshot with a new (dispatcher, runId, seq) replaces the whole map) |
//   seq u32 (snapshot: the snapshot's number; changes: the batch number, both within one run) |
//   (subscribe: dispatcher = the node asked, runId = the run whose complete snapshot the
//   observer holds, 0 = none, seq 0, count 0)
//   count u32 (entries that follow)
// then count entries of entryBytes each:
//   clientIp u32 | clientPort u16 | server u32 (ring address; 0 = the flow's server left) |
//   state u8 (FlowFeedState; 3 = closed: the removal mark, the flow is gone) |
//   flags u8 (kFlowFeedReconstructed, kFlowFeedHashed, kFlowFeedUdp; others 0, ignored) |
//   ageMs u32 (ms since this dispatcher run first listed the flow)
// Extending: new entry fields go after ageMs with a larger entryBytes (old readers skip the rest
// of each entry); anything else bumps the version, and readers refuse versions they do not know.
// A message must be exactly 24 + count * entryBytes bytes long; anything else is refused.

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace sasha {

constexpr quint8 kFlowFeedChannel = 0x20;
constexpr quint8 kFlowFeedVersion = 1;
constexpr int kFlowFeedHeaderBytes = 24;
constexpr int kFlowFeedEntryBytes = 16;
constexpr int kFlowFeedSubscribeMs = 1000;
constexpr int kFlowFeedSubscriberTimeoutMs = 3500;
// Entries per message so that one fits one reliable transfer (tb::kMaxOobPayload, 1 MiB).
constexpr int kFlowFeedMaxEntries = ((1 << 20) - kFlowFeedHeaderBytes) / kFlowFeedEntryBytes;

enum class FlowFeedState : quint8 { SynSeen = 0, Established = 1, Closing = 2, Closed = 3 };
constexpr quint8 kFlowFeedReconstructed = 0x01; // the flow came from state reconstruction
constexpr quint8 kFlowFeedHashed = 0x02;        // a non-SYN packet of an unknown flow, placed by hash
constexpr quint8 kFlowFeedUdp = 0x04;

struct FlowFeedEntry {
    quint32 clientIp = 0; // IPv4, host byte order
    quint16 clientPort = 0;
    quint32 server = 0;
    FlowFeedState state = FlowFeedState::SynSeen;
    quint8 flags = 0;
    quint32 ageMs = 0;
    // The console's key: one cluster has one service, so client address and port name a flow.
    quint64 key() const { return (quint64(clientIp) << 16) | clientPort; }
    friend bool operator==(const FlowFeedEntry &, const FlowFeedEntry &) = default;
};

struct FlowFeedMessage {
    enum class Type : quint8 { SnapshotPart = 1, Changes = 2, Subscribe = 3 };
    Type type = Type::Changes;
    quint16 part = 0;
    quint16 parts = 1;
    quint32 dispatcher = 0;
    quint32 runId = 0;
    quint32 seq = 0;
    std::vector<FlowFeedEntry> entries;
    friend bool operator==(const FlowFeedMessage &, const FlowFeedMessage &) = default;
};

// Encodes at most kFlowFeedMaxEntries entries (the caller splits; more is a programming error
// and yields an empty array).
QByteArray encodeFlowFeed(const FlowFeedMessage &m);
// An observer's subscription to `dispatcher`, holding a complete snapshot of run `haveRun`.
QByteArray encodeFlowFeedSubscribe(quint32 dispatcher, quint32 haveRun);
// Splits `entries` into ceil(n / maxEntries) snapshot parts (at least one, possibly empty).
// maxEntries is clamped to 1..kFlowFeedMaxEntries.
std::vector<QByteArray> encodeFlowFeedSnapshot(quint32 dispatcher, quint32 runId, quint32 seq,
                                               std::span<const FlowFeedEntry> entries,
                                               int maxEntries = kFlowFeedMaxEntries);
// nullopt with *error (what is wrong, with the offending value) on anything malformed.
std::optional<FlowFeedMessage> decodeFlowFeed(QByteArrayView bytes, QString *error = nullptr);

} // namespace sasha
