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

#include <QByteArray>
#include <QtEndian>

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
    QByteArray b(12, '\0');
    b[0] = 1;
    qToBigEndian<quint32>(s.activeFlows, b.data() + 4);
    qToBigEndian<quint32>(s.newPerSecond, b.data() + 8);
    return b;
}

inline std::optional<ServerStats> decodeServerStats(const QByteArray &b)
{
    if (b.size() < 12 || quint8(b[0]) != 1)
        return std::nullopt;
    return ServerStats{qFromBigEndian<quint32>(b.constData() + 4), qFromBigEndian<quint32>(b.constData() + 8)};
}

} // namespace sasha
