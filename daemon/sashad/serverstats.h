#pragma once
// The dispatcher's per-server figures, sent to each server once a second so that the server can
// put them in its token status (NodeStatus::activeConnections, connectionsPerSecond) and every
// node and observer sees them (issue 3: "per-server counters flow into the ring's status").
//
// Out-of-band channel kServerStatsChannel (0x12), unreliable: a lost one is replaced a second
// later. Payload (12 bytes, big-endian):
//   offset 0  size 1  version = 1
//   offset 1  size 3  reserved = 0
//   offset 4  size 4  activeFlows: the dispatcher's flows to this server that are not closing
//   offset 8  size 4  newPerSecond: new flows scheduled to this server in the last second
// Bytes after offset 12 are ignored (a later version may append fields); anything shorter, or
// another version, is dropped.

#include "tokenbeat/bytes.h"

#include <QByteArray>

#include <optional>

namespace sasha {

constexpr quint8 kServerStatsChannel = 0x12;

struct ServerStats {
    quint32 activeFlows = 0;
    quint32 newPerSecond = 0;
    friend bool operator==(const ServerStats &, const ServerStats &) = default;
};

inline QByteArray encodeServerStats(const ServerStats &s)
{
    ByteWriter w(12);
    w.u8(1); // version
    w.zeros(3); // reserved
    w.u32(s.activeFlows);
    w.u32(s.newPerSecond);
    return w.take();
}

inline std::optional<ServerStats> decodeServerStats(const QByteArray &b)
{
    ByteReader in(b);
    const quint8 version = in.u8();
    in.skip(3); // reserved
    ServerStats s;
    s.activeFlows = in.u32();
    s.newPerSecond = in.u32();
    if (!in.ok() || version != 1)
        return std::nullopt;
    return s;
}

} // namespace sasha
