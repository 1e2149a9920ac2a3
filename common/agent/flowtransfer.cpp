#include "agent/flowtransfer.h"

#include "tokenbeat/bytes.h"

#include <algorithm>

namespace sasha {

namespace {

constexpr quint8 kTypeTable = 1;
constexpr quint8 kTypeAnnounced = 2;
constexpr quint8 kTypeStandAside = 3;
constexpr quint8 kTypeStandBack = 4;

std::nullopt_t fail(QString *error, const QString &why)
{
    if (error)
        *error = why;
    return std::nullopt;
}

bool validState(quint8 s)
{
    return s >= quint8(FlowTransferState::SynSeen) && s <= quint8(FlowTransferState::Udp);
}

} // namespace

std::vector<QByteArray> encodeFlowTransferTable(quint32 transferId, quint32 vip,
                                                std::span<const FlowTransferEntry> entries,
                                                int maxEntriesPerPart, bool closedSince)
{
    // The first VIP's entries, then the others', in one sequence cut into parts.
    std::vector<const FlowTransferEntry *> order;
    order.reserve(entries.size());
    for (const FlowTransferEntry &e : entries)
        if (e.vip == 0 || e.vip == vip)
            order.push_back(&e);
    const std::size_t firstCount = order.size();
    for (const FlowTransferEntry &e : entries)
        if (e.vip != 0 && e.vip != vip)
            order.push_back(&e);
    const bool others = order.size() > firstCount;
    const std::size_t perPart = std::size_t(std::clamp(
        maxEntriesPerPart, 1, others ? kMaxOtherEntriesPerTransferPart : kMaxEntriesPerTransferPart));
    const std::size_t partCount = std::max<std::size_t>(1, (order.size() + perPart - 1) / perPart);
    std::vector<QByteArray> out;
    out.reserve(partCount);
    auto writeEntry = [](ByteWriter &w, const FlowTransferEntry &e) {
        w.u32(e.clientIp);
        w.u16(e.clientPort);
        w.u16(e.vport);
        w.u32(e.server);
        w.u8(e.proto);
        w.u8(quint8(e.state));
    };
    for (std::size_t part = 0; part < partCount; ++part) {
        const std::size_t first = std::min(order.size(), part * perPart);
        const std::size_t end = std::min(order.size(), first + perPart);
        const std::size_t mainEnd = std::clamp(firstCount, first, end);
        const std::size_t mainCount = mainEnd - first, otherCount = end - mainEnd;
        ByteWriter w(kFlowTransferTableFixedSize + kFlowTransferEntrySize * qsizetype(mainCount)
                     + (others ? 4 + kFlowTransferOtherEntrySize * qsizetype(otherCount) : 0));
        w.u8(kFlowTransferVersion);
        w.u8(kTypeTable);
        w.u16(quint16((closedSince ? kFlowTransferClosedSince : 0) | (others ? kFlowTransferOtherVips : 0)));
        w.u32(transferId);
        w.u32(vip);
        w.u16(quint16(part));
        w.u16(quint16(partCount));
        w.u32(quint32(order.size()));
        w.u32(quint32(mainCount));
        for (std::size_t i = first; i < mainEnd; ++i)
            writeEntry(w, *order[i]);
        if (others) {
            w.u32(quint32(otherCount));
            for (std::size_t i = mainEnd; i < end; ++i) {
                w.u32(order[i]->vip);
                writeEntry(w, *order[i]);
            }
        }
        out.push_back(w.take());
    }
    return out;
}

QByteArray encodeFlowTransferAnnounced(const FlowTransferAnnounced &a)
{
    ByteWriter w(kFlowTransferAnnouncedSize);
    w.u8(kFlowTransferVersion);
    w.u8(kTypeAnnounced);
    w.zeros(2); // flags
    w.u32(a.transferId);
    return w.take();
}

QByteArray encodeFlowTransferStandAside(const FlowTransferStandAside &a)
{
    ByteWriter w(kFlowTransferStandAsideSize);
    w.u8(kFlowTransferVersion);
    w.u8(a.holdMs ? kTypeStandAside : kTypeStandBack);
    w.zeros(2); // flags
    w.u32(a.successor);
    if (a.holdMs)
        w.u32(a.holdMs);
    return w.take();
}

std::optional<FlowTransferMessage> decodeFlowTransfer(QByteArrayView p, QString *error)
{
    if (p.size() < 2)
        return fail(error, QStringLiteral("flow transfer truncated: %1 bytes").arg(p.size()));
    if (quint8(p[0]) != kFlowTransferVersion)
        return fail(error, QStringLiteral("unknown flow transfer version %1 (this build speaks %2)")
                               .arg(quint8(p[0])).arg(kFlowTransferVersion));
    const quint8 type = quint8(p[1]);
    if (type < kTypeTable || type > kTypeStandBack)
        return fail(error, QStringLiteral("unknown flow transfer message type %1").arg(type));
    static const char *const names[] = {"", "table", "announcement", "stand-aside", "stand-back"};
    const int fixed = type == kTypeTable ? kFlowTransferTableFixedSize
                    : type == kTypeStandAside ? kFlowTransferStandAsideSize : kFlowTransferAnnouncedSize;
    if (p.size() < fixed)
        return fail(error, QStringLiteral("flow transfer %1 truncated: %2 bytes, need at least %3")
                               .arg(QLatin1String(names[type])).arg(p.size()).arg(fixed));
    ByteReader in(p);
    in.skip(2); // version, type (checked above)
    const quint16 flags = in.u16();
    if (type == kTypeAnnounced)
        return FlowTransferAnnounced{in.u32()};
    if (type == kTypeStandBack)
        return FlowTransferStandAside{in.u32(), 0};
    if (type == kTypeStandAside) {
        FlowTransferStandAside a{in.u32(), in.u32()};
        if (a.holdMs == 0)
            return fail(error, QStringLiteral("flow transfer stand-aside: holdMs 0 (a stand back is type 4)"));
        return a;
    }

    FlowTransferTable t;
    t.closedSince = flags & kFlowTransferClosedSince;
    t.transferId = in.u32();
    t.vip = in.u32();
    t.part = in.u16();
    t.partCount = in.u16();
    t.totalEntries = in.u32();
    const quint32 n = in.u32();
    if (t.partCount == 0 || t.part >= t.partCount)
        return fail(error, QStringLiteral("flow transfer table: part %1 of %2").arg(t.part).arg(t.partCount));
    if (n > quint32(kMaxEntriesPerTransferPart) || !in.need(qsizetype(n) * kFlowTransferEntrySize))
        return fail(error, QStringLiteral("flow transfer table truncated: %1 entries announced, %2 bytes present")
                               .arg(n).arg(p.size()));
    t.entries.reserve(n);
    // An entry of either field; `vip` is read first for the appended one.
    auto readEntry = [&](quint32 i, bool other) -> std::optional<FlowTransferEntry> {
        FlowTransferEntry e;
        if (other) {
            e.vip = in.u32();
            // An encoder writes the table's own VIP's flows in the first field, never here: a
            // flow here under that VIP (or none) would be read back out of order, so it is refused.
            if (e.vip == 0 || e.vip == t.vip)
                return fail(error, QStringLiteral("flow transfer entry %1: another VIP's flow under the table's own VIP %2")
                                       .arg(i).arg(e.vip));
        }
        e.clientIp = in.u32();
        e.clientPort = in.u16();
        e.vport = in.u16();
        e.server = in.u32();
        e.proto = in.u8();
        const quint8 state = in.u8();
        if (e.proto != 6 && e.proto != 17)
            return fail(error, QStringLiteral("flow transfer entry %1: protocol %2, accepted 6 (tcp) or 17 (udp)").arg(i).arg(e.proto));
        if (!validState(state))
            return fail(error, QStringLiteral("flow transfer entry %1: unknown state %2").arg(i).arg(state));
        e.state = FlowTransferState(state);
        return e;
    };
    for (quint32 i = 0; i < n; ++i) {
        const std::optional<FlowTransferEntry> e = readEntry(i, false);
        if (!e)
            return std::nullopt;
        t.entries.push_back(*e);
    }
    // The appended field: the other VIPs' flows, when the flag says so.
    if (!(flags & kFlowTransferOtherVips))
        return t;
    if (!in.need(4))
        return fail(error, QStringLiteral("flow transfer table truncated: other VIPs' flows announced, %1 bytes present").arg(p.size()));
    const quint32 f = in.u32();
    if (f > quint32(kMaxOtherEntriesPerTransferPart) || !in.need(qsizetype(f) * kFlowTransferOtherEntrySize))
        return fail(error, QStringLiteral("flow transfer table truncated: %1 other VIPs' entries announced, %2 bytes present")
                               .arg(f).arg(p.size()));
    t.entries.reserve(n + f);
    for (quint32 i = 0; i < f; ++i) {
        const std::optional<FlowTransferEntry> e = readEntry(n + i, true);
        if (!e)
            return std::nullopt;
        t.entries.push_back(*e);
    }
    return t;
}

} // namespace sasha
