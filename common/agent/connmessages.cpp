#include "agent/connmessages.h"

#include <QtEndian>

#include <algorithm>
#include <bit>

namespace sasha {

namespace {

constexpr quint8 kTypeQuery = 1;
constexpr quint8 kTypeReport = 2;

void put32(char *p, quint32 v) { qToBigEndian(v, p); }
void put16(char *p, quint16 v) { qToBigEndian(v, p); }
quint32 get32(const char *p) { return qFromBigEndian<quint32>(p); }
quint16 get16(const char *p) { return qFromBigEndian<quint16>(p); }

bool fail(QString *error, const QString &why)
{
    if (error)
        *error = why;
    return false;
}

bool checkHead(QByteArrayView p, int fixed, quint8 type, const char *what, QString *error)
{
    if (p.size() < fixed)
        return fail(error, QStringLiteral("%1 truncated: %2 bytes, need at least %3")
                               .arg(QLatin1String(what)).arg(p.size()).arg(fixed));
    if (quint8(p[0]) != kConnMessageVersion)
        return fail(error, QStringLiteral("unknown %1 version %2 (this build speaks %3)")
                               .arg(QLatin1String(what)).arg(quint8(p[0])).arg(kConnMessageVersion));
    if (quint8(p[1]) != type)
        return fail(error, QStringLiteral("%1: message type %2, expected %3")
                               .arg(QLatin1String(what)).arg(quint8(p[1])).arg(type));
    return true;
}

// The query's ports without duplicates, order kept (the report's port table).
std::vector<quint16> portTable(const std::vector<quint16> &ports)
{
    std::vector<quint16> out;
    for (quint16 p : ports)
        if (std::find(out.begin(), out.end(), p) == out.end() && out.size() < std::size_t(kMaxServicePorts))
            out.push_back(p);
    return out;
}

} // namespace

quint8 idleCodeFromMs(quint32 idleMs)
{
    if (idleMs == 0)
        return 0;
    return quint8(std::bit_width(idleMs)); // 1 ms -> 1, 2..3 -> 2, 4..7 -> 3, ... (max 32)
}

QByteArray encodeConnQuery(const ConnQuery &q)
{
    const std::vector<quint16> ports = portTable(q.ports);
    QByteArray out(kConnQueryFixedSize + 2 * qsizetype(ports.size()), '\0');
    char *p = out.data();
    p[0] = char(kConnMessageVersion);
    p[1] = char(kTypeQuery);
    put32(p + 4, q.queryId);
    put32(p + 8, q.vip);
    put16(p + 12, quint16(ports.size()));
    for (std::size_t i = 0; i < ports.size(); ++i)
        put16(p + 14 + 2 * i, ports[i]);
    return out;
}

std::optional<ConnQuery> decodeConnQuery(QByteArrayView payload, QString *error)
{
    if (!checkHead(payload, kConnQueryFixedSize, kTypeQuery, "connection query", error))
        return std::nullopt;
    const char *p = payload.data();
    const quint16 n = get16(p + 12);
    if (n == 0 || n > kMaxServicePorts) {
        fail(error, QStringLiteral("connection query: %1 ports, accepted 1..%2").arg(n).arg(kMaxServicePorts));
        return std::nullopt;
    }
    if (payload.size() < 14 + 2 * qsizetype(n)) {
        fail(error, QStringLiteral("connection query truncated: %1 ports announced, %2 bytes present")
                        .arg(n).arg(payload.size()));
        return std::nullopt;
    }
    ConnQuery q;
    q.queryId = get32(p + 4);
    q.vip = get32(p + 8);
    q.ports.reserve(n);
    for (int i = 0; i < n; ++i)
        q.ports.push_back(get16(p + 14 + 2 * i));
    return q;
}

std::vector<QByteArray> encodeConnReports(const ConnQuery &query, tb::NodeAddr server,
                                          const std::array<quint8, 6> &mac,
                                          std::span<const ConnEntry> entries, quint32 skippedDead,
                                          int maxEntriesPerPart)
{
    const std::vector<quint16> ports = portTable(query.ports);
    const std::size_t perPart = std::size_t(std::clamp(maxEntriesPerPart, 1, kMaxEntriesPerReport));

    // Keep only what was asked; remember each entry's port index.
    std::vector<std::pair<const ConnEntry *, quint8>> kept;
    kept.reserve(entries.size());
    for (const ConnEntry &e : entries) {
        const auto it = std::find(ports.begin(), ports.end(), e.vport);
        if (it != ports.end())
            kept.emplace_back(&e, quint8(it - ports.begin()));
    }
    const std::size_t partCount = std::max<std::size_t>(1, (kept.size() + perPart - 1) / perPart);
    // partCount fits u16: kMaxEntriesPerReport * 65535 is far above what a host holds.
    std::vector<QByteArray> out;
    out.reserve(partCount);
    for (std::size_t part = 0; part < partCount; ++part) {
        const std::size_t first = part * perPart;
        const std::size_t count = std::min(perPart, kept.size() - std::min(kept.size(), first));
        const qsizetype portsAt = kConnReportFixedSize;
        const qsizetype entriesAt = portsAt + 2 * qsizetype(ports.size());
        QByteArray msg(entriesAt + kConnEntrySize * qsizetype(count), '\0');
        char *p = msg.data();
        p[0] = char(kConnMessageVersion);
        p[1] = char(kTypeReport);
        p[2] = 0;
        p[3] = char(ports.size());
        put32(p + 4, query.queryId);
        put32(p + 8, server);
        put32(p + 12, query.vip);
        std::copy(mac.begin(), mac.end(), p + 16);
        put16(p + 22, quint16(part));
        put16(p + 24, quint16(partCount));
        put32(p + 26, quint32(kept.size()));
        put32(p + 30, skippedDead);
        put32(p + 34, quint32(count));
        for (std::size_t i = 0; i < ports.size(); ++i)
            put16(p + portsAt + 2 * i, ports[i]);
        char *e = p + entriesAt;
        for (std::size_t i = 0; i < count; ++i, e += kConnEntrySize) {
            const auto &[entry, index] = kept[first + i];
            put32(e, entry->clientIp);
            put16(e + 4, entry->clientPort);
            e[6] = char(index);
            e[7] = char(entry->idleCode);
        }
        out.push_back(std::move(msg));
    }
    return out;
}

std::optional<ConnReport> decodeConnReport(QByteArrayView payload, QString *error)
{
    if (!checkHead(payload, kConnReportFixedSize, kTypeReport, "connection report", error))
        return std::nullopt;
    const char *p = payload.data();
    const int portCount = quint8(p[3]);
    if (portCount > kMaxServicePorts) {
        fail(error, QStringLiteral("connection report: %1 ports, accepted 0..%2").arg(portCount).arg(kMaxServicePorts));
        return std::nullopt;
    }
    ConnReport r;
    r.queryId = get32(p + 4);
    r.server = get32(p + 8);
    r.vip = get32(p + 12);
    std::copy(p + 16, p + 22, r.mac.begin());
    r.part = get16(p + 22);
    r.partCount = get16(p + 24);
    r.totalEntries = get32(p + 26);
    r.skippedDead = get32(p + 30);
    const quint32 count = get32(p + 34);
    if (r.partCount == 0 || r.part >= r.partCount) {
        fail(error, QStringLiteral("connection report: part %1 of %2").arg(r.part).arg(r.partCount));
        return std::nullopt;
    }
    const qsizetype entriesAt = kConnReportFixedSize + 2 * qsizetype(portCount);
    // Compare in 64 bits: count * 8 may overflow 32.
    if (payload.size() < entriesAt || quint64(payload.size() - entriesAt) < quint64(count) * kConnEntrySize) {
        fail(error, QStringLiteral("connection report truncated: %1 entries announced, %2 bytes present")
                        .arg(count).arg(payload.size()));
        return std::nullopt;
    }
    if (count > r.totalEntries) {
        fail(error, QStringLiteral("connection report: %1 entries in a part of a %2-entry report")
                        .arg(count).arg(r.totalEntries));
        return std::nullopt;
    }
    std::vector<quint16> ports(static_cast<std::size_t>(portCount));
    for (int i = 0; i < portCount; ++i)
        ports[std::size_t(i)] = get16(p + kConnReportFixedSize + 2 * i);
    r.entries.resize(count);
    const char *e = p + entriesAt;
    for (quint32 i = 0; i < count; ++i, e += kConnEntrySize) {
        const quint8 index = quint8(e[6]);
        if (index >= portCount) {
            fail(error, QStringLiteral("connection report: entry %1 names port %2 of a %3-port table")
                            .arg(i).arg(index).arg(portCount));
            return std::nullopt;
        }
        ConnEntry &c = r.entries[i];
        c.clientIp = get32(e);
        c.clientPort = get16(e + 4);
        c.vport = ports[index];
        c.idleCode = quint8(e[7]);
    }
    return r;
}

} // namespace sasha
