#include "flowfeed.h"

#include "tokenbeat/bytes.h"

#include <algorithm>

namespace sasha {
namespace {

std::optional<FlowFeedMessage> fail(QString *error, QString why)
{
    if (error)
        *error = std::move(why);
    return std::nullopt;
}

} // namespace

QByteArray encodeFlowFeed(const FlowFeedMessage &m)
{
    if (m.entries.size() > std::size_t(kFlowFeedMaxEntries))
        return {};
    ByteWriter w(kFlowFeedHeaderBytes + qsizetype(m.entries.size()) * kFlowFeedEntryBytes);
    w.u8(kFlowFeedVersion);
    w.u8(quint8(m.type));
    w.u16(kFlowFeedEntryBytes);
    w.u16(m.part);
    w.u16(m.parts);
    w.u32(m.dispatcher);
    w.u32(m.runId);
    w.u32(m.seq);
    w.u32(quint32(m.entries.size()));
    for (const FlowFeedEntry &e : m.entries) {
        w.u32(e.clientIp);
        w.u16(e.clientPort);
        w.u32(e.server);
        w.u8(quint8(e.state));
        w.u8(e.flags);
        w.u32(e.ageMs);
    }
    return w.take();
}

QByteArray encodeFlowFeedSubscribe(quint32 dispatcher, quint32 haveRun)
{
    FlowFeedMessage m;
    m.type = FlowFeedMessage::Type::Subscribe;
    m.dispatcher = dispatcher;
    m.runId = haveRun;
    return encodeFlowFeed(m);
}

std::vector<QByteArray> encodeFlowFeedSnapshot(quint32 dispatcher, quint32 runId, quint32 seq,
                                               std::span<const FlowFeedEntry> entries, int maxEntries)
{
    const std::size_t per = std::size_t(std::clamp(maxEntries, 1, kFlowFeedMaxEntries));
    const std::size_t parts = std::max<std::size_t>(1, (entries.size() + per - 1) / per);
    std::vector<QByteArray> out;
    if (parts > 0xFFFF)
        return out; // cannot be numbered; callers cap snapshots far below this
    out.reserve(parts);
    for (std::size_t i = 0; i < parts; ++i) {
        FlowFeedMessage m;
        m.type = FlowFeedMessage::Type::SnapshotPart;
        m.part = quint16(i);
        m.parts = quint16(parts);
        m.dispatcher = dispatcher;
        m.runId = runId;
        m.seq = seq;
        const std::size_t from = i * per;
        const std::size_t to = std::min(entries.size(), from + per);
        m.entries.assign(entries.begin() + std::ptrdiff_t(from), entries.begin() + std::ptrdiff_t(to));
        out.push_back(encodeFlowFeed(m));
    }
    return out;
}

std::optional<FlowFeedMessage> decodeFlowFeed(QByteArrayView bytes, QString *error)
{
    const qsizetype n = bytes.size();
    if (n < kFlowFeedHeaderBytes)
        return fail(error, QStringLiteral("flow feed message of %1 byte(s), shorter than its %2-byte header")
                               .arg(n).arg(kFlowFeedHeaderBytes));
    ByteReader r(bytes); // the size check above makes every header read succeed
    const quint8 version = r.u8();
    if (version != kFlowFeedVersion)
        return fail(error, QStringLiteral("flow feed version %1 unknown (this build reads %2)").arg(version).arg(kFlowFeedVersion));
    FlowFeedMessage m;
    const quint8 type = r.u8();
    if (type < quint8(FlowFeedMessage::Type::SnapshotPart) || type > quint8(FlowFeedMessage::Type::Subscribe))
        return fail(error, QStringLiteral("flow feed message type %1 unknown (1 snapshot part, 2 changes, 3 subscribe)").arg(type));
    m.type = FlowFeedMessage::Type(type);
    const quint16 entryBytes = r.u16();
    if (entryBytes < kFlowFeedEntryBytes)
        return fail(error, QStringLiteral("flow feed entries of %1 byte(s), at least %2 expected").arg(entryBytes).arg(kFlowFeedEntryBytes));
    m.part = r.u16();
    m.parts = r.u16();
    if (m.parts == 0 || m.part >= m.parts)
        return fail(error, QStringLiteral("flow feed part %1 of %2 impossible").arg(m.part).arg(m.parts));
    if (m.type != FlowFeedMessage::Type::SnapshotPart && m.parts != 1)
        return fail(error, QStringLiteral("flow feed changes or subscription in %1 parts (always 1)").arg(m.parts));
    m.dispatcher = r.u32();
    m.runId = r.u32();
    m.seq = r.u32();
    const quint32 count = r.u32();
    // 64-bit arithmetic: count * entryBytes cannot overflow.
    const quint64 expected = quint64(kFlowFeedHeaderBytes) + quint64(count) * entryBytes;
    if (expected != quint64(n))
        return fail(error, QStringLiteral("flow feed message of %1 byte(s) announces %2 entries of %3 bytes (%4 bytes)")
                               .arg(n).arg(count).arg(entryBytes).arg(expected));
    if (m.type == FlowFeedMessage::Type::Subscribe && count != 0)
        return fail(error, QStringLiteral("flow feed subscription with %1 entries (none expected)").arg(count));
    m.entries.resize(count);
    for (quint32 i = 0; i < count; ++i) {
        // Entries may be longer than this build knows (entryBytes): read the known prefix.
        ByteReader e(r.bytes(entryBytes));
        FlowFeedEntry &f = m.entries[i];
        f.clientIp = e.u32();
        f.clientPort = e.u16();
        f.server = e.u32();
        const quint8 state = e.u8();
        if (state > quint8(FlowFeedState::Closed))
            return fail(error, QStringLiteral("flow feed entry %1 has state %2 (0..3)").arg(i).arg(state));
        f.state = FlowFeedState(state);
        f.flags = e.u8();
        f.ageMs = e.u32();
    }
    return m;
}

} // namespace sasha
