#include "agent/connmessages.h"

#include "tokenbeat/bytes.h"

#include <algorithm>
#include <bit>

namespace sasha {

namespace {

constexpr quint8 kTypeQuery = 1;
constexpr quint8 kTypeReport = 2;
constexpr quint16 kQueryMoreVips = 0x0001; // query flags: the more-VIPs field follows the ports
constexpr quint16 kQueryUdp = 0x0002;      // query flags: the UDP field follows (after more VIPs)
constexpr quint8 kReportVipTable = 0x01;   // report flags: the VIP table follows the entries
constexpr quint8 kReportProtoTable = 0x02; // report flags: the protocol table follows (after VIPs)
constexpr quint8 kProtoTcp = 6;
constexpr quint8 kProtoUdp = 17;

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

namespace {
void addPairs(ServicePorts &out, quint32 v, const std::vector<quint16> &ps)
{
    for (quint16 p : ps)
        if (std::find(out.begin(), out.end(), std::pair{v, p}) == out.end() && out.size() < std::size_t(kMaxServicePorts))
            out.emplace_back(v, p);
}

// (vip, port) pairs grouped by VIP, first-seen order.
std::vector<ConnQueryVip> groupByVip(const ServicePorts &pairs)
{
    std::vector<ConnQueryVip> out;
    for (const auto &[v, p] : pairs) {
        auto it = std::find_if(out.begin(), out.end(), [v = v](const ConnQueryVip &m) { return m.vip == v; });
        if (it == out.end())
            it = out.insert(out.end(), ConnQueryVip{v, {}});
        it->ports.push_back(p);
    }
    return out;
}

// A VIP field (more VIPs, UDP) as it travels: count 2 | per VIP: vip 4 | k 2 | ports 2 × k, with
// at most `budget` ports over all VIPs (duplicates removed first).
QByteArray encodeVipField(const std::vector<ConnQueryVip> &vips, std::size_t budget)
{
    std::vector<std::pair<quint32, std::vector<quint16>>> kept;
    for (const ConnQueryVip &m : vips) {
        std::vector<quint16> mp = portTable(m.ports);
        if (mp.size() > budget)
            mp.resize(budget);
        budget -= mp.size();
        if (!mp.empty())
            kept.emplace_back(m.vip, std::move(mp));
    }
    qsizetype size = 2;
    for (const auto &[v, mp] : kept)
        size += 6 + 2 * qsizetype(mp.size());
    ByteWriter w(size);
    w.u16(quint16(kept.size()));
    for (const auto &[v, mp] : kept) {
        w.u32(v);
        w.u16(quint16(mp.size()));
        for (quint16 port : mp)
            w.u16(port);
    }
    return w.take();
}

// Reads a VIP field; `total` counts the ports read so far against kMaxServicePorts.
bool decodeVipField(ByteReader &in, QByteArrayView payload, const char *what, int total,
                    std::vector<ConnQueryVip> &out, QString *error)
{
    if (!in.need(2))
        return fail(error, QStringLiteral("connection query truncated: %1 announced, %2 bytes present")
                               .arg(QLatin1String(what)).arg(payload.size()));
    const quint16 m = in.u16();
    for (int i = 0; i < m; ++i) {
        if (!in.need(6))
            return fail(error, QStringLiteral("connection query truncated: %1: VIP %2 of %3 announced, %4 bytes present")
                                   .arg(QLatin1String(what)).arg(i + 1).arg(m).arg(payload.size()));
        ConnQueryVip more;
        more.vip = in.u32();
        const quint16 k = in.u16();
        total += k;
        if (k == 0 || total > kMaxServicePorts)
            return fail(error, QStringLiteral("connection query: %1: %2 ports over all VIPs, accepted 1..%3")
                                   .arg(QLatin1String(what)).arg(k == 0 ? 0 : total).arg(kMaxServicePorts));
        if (!in.need(2 * qsizetype(k)))
            return fail(error, QStringLiteral("connection query truncated: %1: %2 ports announced for VIP %3, %4 bytes present")
                                   .arg(QLatin1String(what)).arg(k).arg(i + 1).arg(payload.size()));
        for (int j = 0; j < k; ++j)
            more.ports.push_back(in.u16());
        out.push_back(std::move(more));
    }
    return true;
}
} // namespace

std::vector<std::pair<quint32, quint16>> ConnQuery::services() const
{
    ServicePorts out;
    addPairs(out, vip, ports);
    for (const ConnQueryVip &m : moreVips)
        addPairs(out, m.vip, m.ports);
    return out;
}

std::vector<std::pair<quint32, quint16>> ConnQuery::udpServices() const
{
    ServicePorts out;
    for (const ConnQueryVip &m : udp)
        addPairs(out, m.vip, m.ports);
    return out;
}

ConnQuery connQueryFor(quint32 queryId, const ServicePorts &services, const ServicePorts &udpServices)
{
    ConnQuery q;
    q.queryId = queryId;
    std::vector<ConnQueryVip> tcp = groupByVip(services);
    if (!tcp.empty()) {
        q.vip = tcp.front().vip;
        q.ports = std::move(tcp.front().ports);
        q.moreVips.assign(std::make_move_iterator(tcp.begin() + 1), std::make_move_iterator(tcp.end()));
    }
    q.udp = groupByVip(udpServices);
    if (tcp.empty() && !q.udp.empty())
        q.vip = q.udp.front().vip;
    return q;
}

quint8 idleCodeFromMs(quint32 idleMs)
{
    if (idleMs == 0)
        return 0;
    return quint8(std::bit_width(idleMs)); // 1 ms -> 1, 2..3 -> 2, 4..7 -> 3, ... (max 32)
}

QByteArray encodeConnQuery(const ConnQuery &q)
{
    const std::vector<quint16> ports = portTable(q.ports);
    ByteWriter w(kConnQueryFixedSize + 2 * qsizetype(ports.size()));
    w.u8(kConnMessageVersion);
    w.u8(kTypeQuery);
    w.u16(quint16((q.moreVips.empty() ? 0 : kQueryMoreVips) | (q.udp.empty() ? 0 : kQueryUdp))); // flags
    w.u32(q.queryId);
    w.u32(q.vip);
    w.u16(quint16(ports.size()));
    for (quint16 port : ports)
        w.u16(port);
    QByteArray out = w.take();
    if (!q.moreVips.empty())
        out += encodeVipField(q.moreVips, kMaxServicePorts - ports.size());
    if (!q.udp.empty())
        out += encodeVipField(q.udp, kMaxServicePorts);
    return out;
}

std::optional<ConnQuery> decodeConnQuery(QByteArrayView payload, QString *error)
{
    if (!checkHead(payload, kConnQueryFixedSize, kTypeQuery, "connection query", error))
        return std::nullopt;
    ByteReader in(payload);
    in.skip(2); // version and type (checked above)
    const quint16 flags = in.u16();
    ConnQuery q;
    q.queryId = in.u32();
    q.vip = in.u32();
    const quint16 n = in.u16();
    // Without TCP ports a query must ask UDP services (flags bit 1).
    if ((n == 0 && !(flags & kQueryUdp)) || n > kMaxServicePorts) {
        fail(error, QStringLiteral("connection query: %1 ports, accepted 1..%2").arg(n).arg(kMaxServicePorts));
        return std::nullopt;
    }
    if (!in.need(2 * qsizetype(n))) {
        fail(error, QStringLiteral("connection query truncated: %1 ports announced, %2 bytes present")
                        .arg(n).arg(payload.size()));
        return std::nullopt;
    }
    q.ports.reserve(n);
    for (int i = 0; i < n; ++i)
        q.ports.push_back(in.u16());
    // The appended fields, when the flags say so: more VIPs, then UDP services. Truncated or
    // over the port limit is malformed; other flags are a later version's and ignored.
    if ((flags & kQueryMoreVips) && !decodeVipField(in, payload, "more VIPs", n, q.moreVips, error))
        return std::nullopt;
    if ((flags & kQueryUdp) && !decodeVipField(in, payload, "UDP services", 0, q.udp, error))
        return std::nullopt;
    if (n == 0 && q.udp.empty()) {
        fail(error, QStringLiteral("connection query: no TCP port and no UDP service"));
        return std::nullopt;
    }
    return q;
}

std::vector<QByteArray> encodeConnReports(const ConnQuery &query, tb::NodeAddr server,
                                          const std::array<quint8, 6> &mac,
                                          std::span<const ConnEntry> entries, quint32 skippedDead,
                                          int maxEntriesPerPart)
{
    // The port table: the TCP (vip, port) pairs, then the UDP ones. The VIPs travel only when
    // one differs from the query's vip, the protocols only when UDP was asked.
    const ServicePorts tcp = query.services();
    const ServicePorts udp = query.udpServices();
    ServicePorts table = tcp;
    table.insert(table.end(), udp.begin(), udp.end());
    const bool sendVips = std::any_of(table.begin(), table.end(), [&](const auto &t) { return t.first != query.vip; });
    const bool sendProtos = !udp.empty();
    const std::size_t perPart = std::size_t(std::clamp(maxEntriesPerPart, 1, kMaxEntriesPerReport));

    // Keep only what was asked; remember each entry's port index.
    std::vector<std::pair<const ConnEntry *, quint8>> kept;
    kept.reserve(entries.size());
    for (const ConnEntry &e : entries) {
        const std::pair key{e.vip ? e.vip : query.vip, e.vport};
        const auto first = e.udp ? table.begin() + qsizetype(tcp.size()) : table.begin();
        const auto last = e.udp ? table.end() : table.begin() + qsizetype(tcp.size());
        const auto it = std::find(first, last, key);
        if (it != last)
            kept.emplace_back(&e, quint8(it - table.begin()));
    }
    const std::size_t partCount = std::max<std::size_t>(1, (kept.size() + perPart - 1) / perPart);
    // partCount fits u16: kMaxEntriesPerReport * 65535 is far above what a host holds.
    std::vector<QByteArray> out;
    out.reserve(partCount);
    for (std::size_t part = 0; part < partCount; ++part) {
        const std::size_t first = part * perPart;
        const std::size_t count = std::min(perPart, kept.size() - std::min(kept.size(), first));
        const qsizetype entriesAt = kConnReportFixedSize + 2 * qsizetype(table.size());
        ByteWriter w(entriesAt + kConnEntrySize * qsizetype(count) + (sendVips ? 4 * qsizetype(table.size()) : 0)
                     + (sendProtos ? qsizetype(table.size()) : 0));
        w.u8(kConnMessageVersion);
        w.u8(kTypeReport);
        w.u8(quint8((sendVips ? kReportVipTable : 0) | (sendProtos ? kReportProtoTable : 0))); // flags
        w.u8(quint8(table.size()));
        w.u32(query.queryId);
        w.u32(server);
        w.u32(query.vip);
        w.bytes(QByteArrayView(mac.data(), qsizetype(mac.size())));
        w.u16(quint16(part));
        w.u16(quint16(partCount));
        w.u32(quint32(kept.size()));
        w.u32(skippedDead);
        w.u32(quint32(count));
        for (const auto &[v, port] : table)
            w.u16(port);
        for (std::size_t i = 0; i < count; ++i) {
            const auto &[entry, index] = kept[first + i];
            w.u32(entry->clientIp);
            w.u16(entry->clientPort);
            w.u8(index);
            w.u8(entry->idleCode);
        }
        if (sendVips)
            for (const auto &[v, port] : table)
                w.u32(v);
        if (sendProtos)
            for (std::size_t i = 0; i < table.size(); ++i)
                w.u8(i < tcp.size() ? kProtoTcp : kProtoUdp);
        out.push_back(w.take());
    }
    return out;
}

std::optional<ConnReport> decodeConnReport(QByteArrayView payload, QString *error)
{
    if (!checkHead(payload, kConnReportFixedSize, kTypeReport, "connection report", error))
        return std::nullopt;
    ByteReader in(payload);
    in.skip(2); // version and type (checked above)
    const quint8 flags = in.u8();
    const int portCount = in.u8();
    // With the protocol table the port table holds TCP and UDP pairs, each up to the limit.
    const int maxPorts = (flags & kReportProtoTable) ? 2 * kMaxServicePorts : kMaxServicePorts;
    if (portCount > maxPorts) {
        fail(error, QStringLiteral("connection report: %1 ports, accepted 0..%2").arg(portCount).arg(maxPorts));
        return std::nullopt;
    }
    ConnReport r;
    r.queryId = in.u32();
    r.server = in.u32();
    r.vip = in.u32();
    const QByteArrayView mac = in.bytes(qsizetype(r.mac.size()));
    std::copy(mac.begin(), mac.end(), r.mac.begin());
    r.part = in.u16();
    r.partCount = in.u16();
    r.totalEntries = in.u32();
    r.skippedDead = in.u32();
    const quint32 count = in.u32();
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
        ports[std::size_t(i)] = in.u16();
    r.entries.resize(count);
    // The appended VIP of each port-table entry, after the entries; else all are to r.vip.
    std::vector<quint32> vips(static_cast<std::size_t>(portCount), r.vip);
    const qsizetype vipsAt = entriesAt + qsizetype(count) * kConnEntrySize;
    if (flags & kReportVipTable) {
        if (payload.size() < vipsAt + 4 * qsizetype(portCount)) {
            fail(error, QStringLiteral("connection report truncated: a VIP table of %1 entries announced, %2 bytes present")
                            .arg(portCount).arg(payload.size()));
            return std::nullopt;
        }
        ByteReader tail(payload.sliced(vipsAt));
        for (int i = 0; i < portCount; ++i)
            vips[std::size_t(i)] = tail.u32();
    }
    // The appended protocol of each port-table entry, after the VIP table; else all are TCP.
    std::vector<bool> udp(static_cast<std::size_t>(portCount), false);
    if (flags & kReportProtoTable) {
        const qsizetype protosAt = vipsAt + ((flags & kReportVipTable) ? 4 * qsizetype(portCount) : 0);
        if (payload.size() < protosAt + qsizetype(portCount)) {
            fail(error, QStringLiteral("connection report truncated: a protocol table of %1 entries announced, %2 bytes present")
                            .arg(portCount).arg(payload.size()));
            return std::nullopt;
        }
        for (int i = 0; i < portCount; ++i) {
            const quint8 proto = quint8(payload[protosAt + i]);
            if (proto != kProtoTcp && proto != kProtoUdp) {
                fail(error, QStringLiteral("connection report: port %1 has protocol %2, accepted 6 (tcp) or 17 (udp)")
                                .arg(i).arg(proto));
                return std::nullopt;
            }
            udp[std::size_t(i)] = proto == kProtoUdp;
        }
    }
    for (quint32 &v : vips) {
        if (v == r.vip)
            v = 0; // the report's own VIP: 0, as an encoder writes it
    }
    for (quint32 i = 0; i < count; ++i) {
        ConnEntry &c = r.entries[i];
        c.clientIp = in.u32();
        c.clientPort = in.u16();
        const quint8 index = in.u8();
        c.idleCode = in.u8();
        if (index >= portCount) {
            fail(error, QStringLiteral("connection report: entry %1 names port %2 of a %3-port table")
                            .arg(i).arg(index).arg(portCount));
            return std::nullopt;
        }
        c.vport = ports[index];
        c.vip = vips[index];
        c.udp = udp[index];
    }
    return r;
}

} // namespace sasha
