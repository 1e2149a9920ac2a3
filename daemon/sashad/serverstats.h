#pragma once
// The dispatcher's per-server figures, sent to each server once a second so that the server can
// put them in its token status (NodeStatus::activeConnections, connectionsPerSecond) and every
// node and observer sees them (issue 3: "per-server counters flow into the ring's status").
//
// Out-of-band channel kServerStatsChannel (0x12), unreliable: a lost one is replaced a second
// later. Payload (16 bytes, big-endian):
//   offset 0  size 1  version = 1
//   offset 1  size 3  reserved = 0
//   offset 4  size 4  activeFlows: the dispatcher's flows to this server that are not closing
//                     (FlowTable::activeFlows; the token status's activeConnections)
//   offset 8  size 4  newPerSecond: new flows scheduled to this server in the last second
//   offset 12 size 4  openFlows: every flow the dispatcher holds for this server, closing ones
//                     included (FlowTable::openFlows; what a drain waits on). Appended later: a
//                     12-byte payload from an older dispatcher decodes with openFlows = activeFlows.
// Bytes after offset 16 are ignored (a later version may append fields); anything shorter than
// 12, or another version, is dropped. The token status has no room for openFlows (a fixed
// 15-byte entry), so the servers pass it on in their admin report (control/admincommand.h,
// kAdminReportChannel 0x13, the channel after this one).

#include "tokenbeat/bytes.h"

#include <QByteArray>

#include <optional>

namespace sasha {

constexpr quint8 kServerStatsChannel = 0x12;

struct ServerStats {
    quint32 activeFlows = 0;
    quint32 newPerSecond = 0;
    quint32 openFlows = 0;
    friend bool operator==(const ServerStats &, const ServerStats &) = default;
};

inline QByteArray encodeServerStats(const ServerStats &s)
{
    ByteWriter w(16);
    w.u8(1); // version
    w.zeros(3); // reserved
    w.u32(s.activeFlows);
    w.u32(s.newPerSecond);
    w.u32(s.openFlows);
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
    s.openFlows = in.need(4) ? in.u32() : s.activeFlows;
    return s;
}

} // namespace sasha
