#include "flowfeed.h"

#include <QtEndian>

#include <algorithm>

namespace sasha {
namespace {

void put8(QByteArray &b, quint8 v) { b.append(char(v)); }
void put16(QByteArray &b, quint16 v)
{
    char d[2];
    qToBigEndian(v, d);
    b.append(d, 2);
}
void put32(QByteArray &b, quint32 v)
{
    char d[4];
    qToBigEndian(v, d);
    b.append(d, 4);
}
quint8 get8(const char *p) { return quint8(*p); }
quint16 get16(const char *p) { return qFromBigEndian<quint16>(p); }
quint32 get32(const char *p) { return qFromBigEndian<quint32>(p); }

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
    QByteArray b;
    b.reserve(kFlowFeedHeaderBytes + int(m.entries.size()) * kFlowFeedEntryBytes);
    put8(b, kFlowFeedVersion);
    put8(b, quint8(m.type));
    put16(b, kFlowFeedEntryBytes);
    put16(b, m.part);
    put16(b, m.parts);
    put32(b, m.dispatcher);
    put32(b, m.runId);
    put32(b, m.seq);
    put32(b, quint32(m.entries.size()));
    for (const FlowFeedEntry &e : m.entries) {
        put32(b, e.clientIp);
        put16(b, e.clientPort);
        put32(b, e.server);
        put8(b, quint8(e.state));
        put8(b, e.flags);
        put32(b, e.ageMs);
    }
    return b;
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
    const char *p = bytes.data();
    const quint8 version = get8(p);
    if (version != kFlowFeedVersion)
        return fail(error, QStringLiteral("flow feed version %1 unknown (this build reads %2)").arg(version).arg(kFlowFeedVersion));
    FlowFeedMessage m;
    const quint8 type = get8(p + 1);
    if (type < quint8(FlowFeedMessage::Type::SnapshotPart) || type > quint8(FlowFeedMessage::Type::Subscribe))
        return fail(error, QStringLiteral("flow feed message type %1 unknown (1 snapshot part, 2 changes, 3 subscribe)").arg(type));
    m.type = FlowFeedMessage::Type(type);
    const quint16 entryBytes = get16(p + 2);
    if (entryBytes < kFlowFeedEntryBytes)
        return fail(error, QStringLiteral("flow feed entries of %1 byte(s), at least %2 expected").arg(entryBytes).arg(kFlowFeedEntryBytes));
    m.part = get16(p + 4);
    m.parts = get16(p + 6);
    if (m.parts == 0 || m.part >= m.parts)
        return fail(error, QStringLiteral("flow feed part %1 of %2 impossible").arg(m.part).arg(m.parts));
    if (m.type != FlowFeedMessage::Type::SnapshotPart && m.parts != 1)
        return fail(error, QStringLiteral("flow feed changes or subscription in %1 parts (always 1)").arg(m.parts));
    m.dispatcher = get32(p + 8);
    m.runId = get32(p + 12);
    m.seq = get32(p + 16);
    const quint32 count = get32(p + 20);
    // 64-bit arithmetic: count * entryBytes cannot overflow.
    const quint64 expected = quint64(kFlowFeedHeaderBytes) + quint64(count) * entryBytes;
    if (expected != quint64(n))
        return fail(error, QStringLiteral("flow feed message of %1 byte(s) announces %2 entries of %3 bytes (%4 bytes)")
                               .arg(n).arg(count).arg(entryBytes).arg(expected));
    if (m.type == FlowFeedMessage::Type::Subscribe && count != 0)
        return fail(error, QStringLiteral("flow feed subscription with %1 entries (none expected)").arg(count));
    m.entries.resize(count);
    for (quint32 i = 0; i < count; ++i) {
        const char *e = p + kFlowFeedHeaderBytes + qsizetype(i) * entryBytes;
        FlowFeedEntry &f = m.entries[i];
        f.clientIp = get32(e);
        f.clientPort = get16(e + 4);
        f.server = get32(e + 6);
        const quint8 state = get8(e + 10);
        if (state > quint8(FlowFeedState::Closed))
            return fail(error, QStringLiteral("flow feed entry %1 has state %2 (0..3)").arg(i).arg(state));
        f.state = FlowFeedState(state);
        f.flags = get8(e + 11);
        f.ageMs = get32(e + 12);
    }
    return m;
}

} // namespace sasha
