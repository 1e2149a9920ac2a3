#include "eventfeed.h"

#include "config/nodesettings.h"
#include "tokenbeat/bytes.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QtNumeric>

#include <algorithm>
#include <limits>

namespace sasha {
namespace {

// The sender's clock and its events' stamps come off the wire and may be anywhere in qint64:
// the offset arithmetic saturates instead of overflowing (found by fuzz_feeds).
qint64 saturatingAdd(qint64 a, qint64 b)
{
    qint64 sum = 0;
    if (!qAddOverflow(a, b, &sum))
        return sum;
    return b > 0 ? std::numeric_limits<qint64>::max() : std::numeric_limits<qint64>::min();
}

qint64 saturatingSub(qint64 a, qint64 b)
{
    qint64 difference = 0;
    if (!qSubOverflow(a, b, &difference))
        return difference;
    return b < 0 ? std::numeric_limits<qint64>::max() : std::numeric_limits<qint64>::min();
}

std::optional<EventFeedMessage> fail(QString *error, QString why)
{
    if (error)
        *error = std::move(why);
    return std::nullopt;
}

QByteArray header(EventFeedMessage::Type type, quint16 count, const EventFeedMessage &m)
{
    ByteWriter w(kEventFeedHeaderBytes);
    w.u8(kEventFeedVersion);
    w.u8(quint8(type));
    w.u16(count);
    w.u32(m.seq);
    w.u64(quint64(m.senderNowUs));
    w.u32(m.clockId);
    w.u32(m.dropped);
    return w.take();
}

} // namespace

QByteArray encodeEventFeed(const EventFeedMessage &m)
{
    if (m.type == EventFeedMessage::Type::Subscribe)
        return header(m.type, 0, m);
    if (m.events.size() > kEventFeedMaxEvents)
        return {};
    QJsonArray body;
    for (const ControlEvent &e : m.events)
        body.append(e.toJson());
    QByteArray b = header(m.type, quint16(m.events.size()), m);
    b += QJsonDocument(body).toJson(QJsonDocument::Compact);
    if (b.size() > kEventFeedMaxBytes)
        return {};
    return b;
}

QByteArray encodeEventFeedSubscribe()
{
    EventFeedMessage m;
    m.type = EventFeedMessage::Type::Subscribe;
    return encodeEventFeed(m);
}

std::optional<EventFeedMessage> decodeEventFeed(QByteArrayView bytes, QString *error)
{
    if (bytes.size() < kEventFeedHeaderBytes)
        return fail(error, QStringLiteral("truncated: %1 bytes, the header alone is %2").arg(bytes.size()).arg(kEventFeedHeaderBytes));
    if (bytes.size() > kEventFeedMaxBytes)
        return fail(error, QStringLiteral("oversized: %1 bytes, at most %2").arg(bytes.size()).arg(kEventFeedMaxBytes));
    ByteReader r(bytes); // the size check above makes every header read succeed
    const quint8 version = r.u8();
    if (version != kEventFeedVersion)
        return fail(error, QStringLiteral("unknown version %1 (this reader knows %2)").arg(version).arg(kEventFeedVersion));
    const quint8 type = r.u8();
    if (type != quint8(EventFeedMessage::Type::Events) && type != quint8(EventFeedMessage::Type::Subscribe))
        return fail(error, QStringLiteral("unknown type %1").arg(type));
    const quint16 count = r.u16();
    EventFeedMessage m;
    m.type = EventFeedMessage::Type(type);
    m.seq = r.u32();
    m.senderNowUs = qint64(r.u64());
    m.clockId = r.u32();
    m.dropped = r.u32();
    const QByteArrayView body = r.bytes(r.remaining());
    if (m.type == EventFeedMessage::Type::Subscribe) {
        if (count != 0 || !body.isEmpty())
            return fail(error, QStringLiteral("subscribe with %1 event(s) and %2 body bytes (must be 0 and 0)").arg(count).arg(body.size()));
        return m;
    }
    if (count > kEventFeedMaxEvents)
        return fail(error, QStringLiteral("%1 events, at most %2 per message").arg(count).arg(kEventFeedMaxEvents));
    if (count == 0 && body.isEmpty())
        return m; // a clock sample may omit the empty array
    QJsonParseError perr{};
    const QJsonDocument doc = QJsonDocument::fromJson(body.toByteArray(), &perr);
    if (perr.error != QJsonParseError::NoError)
        return fail(error, QStringLiteral("body is not JSON: %1 at offset %2").arg(perr.errorString()).arg(perr.offset));
    if (!doc.isArray())
        return fail(error, QStringLiteral("body is not a JSON array"));
    const QJsonArray arr = doc.array();
    if (arr.size() != count)
        return fail(error, QStringLiteral("header says %1 events, body holds %2").arg(count).arg(arr.size()));
    for (qsizetype i = 0; i < arr.size(); ++i) {
        const QJsonValue v = arr.at(i);
        const QJsonObject o = v.toObject();
        if (!v.isObject() || !o.value(QLatin1String("kind")).isString() || o.value(QLatin1String("kind")).toString().isEmpty()
            || !o.value(QLatin1String("monoUs")).isDouble())
            return fail(error, QStringLiteral("event %1 is not an object with a \"kind\" string and a \"monoUs\" number").arg(i));
        m.events.append(ControlEvent::fromJson(o));
    }
    return m;
}

EventFeedReceiver::Result EventFeedReceiver::onMessage(quint32 from, QByteArrayView payload, qint64 nowUs)
{
    Result r;
    auto m = decodeEventFeed(payload, &r.error);
    if (m && m->type != EventFeedMessage::Type::Events)
        r.error = QStringLiteral("a subscribe sent to an observer");
    if (!r.error.isEmpty()) {
        ++m_stats.rejected;
        m_lastError = QStringLiteral("from %1: %2").arg(ipv4ToString(from), r.error);
        return r;
    }
    if (!m_senders.contains(from) && m_senders.size() >= kMaxSenders)
        m_senders.erase(m_senders.begin()); // bounded; a forgotten sender starts over
    Sender &s = m_senders[from];
    if (s.clockId != m->clockId) {
        s = Sender{}; // restarted, perhaps on another host: its old offset means nothing now
        s.clockId = m->clockId;
        s.dropped = m->dropped;
    }
    // Offset samples: keep the window; the smallest is the best estimate (delays are >= 0).
    const qint64 sample = saturatingSub(nowUs, m->senderNowUs);
    while (!s.samples.empty() && (nowUs - s.samples.front().receivedUs > kEventFeedOffsetWindowUs || s.samples.size() >= kMaxSamples))
        s.samples.pop_front();
    s.samples.push_back({nowUs, sample});
    qint64 offset = sample;
    for (const Sample &x : s.samples)
        offset = std::min(offset, x.offsetUs);

    if (m->seq != 0) {
        if (s.lastSeq != 0 && m->seq > s.lastSeq + 1)
            m_stats.gaps += m->seq - s.lastSeq - 1;
        s.lastSeq = std::max(s.lastSeq, m->seq);
    }
    m_stats.senderDropped += quint32(m->dropped - s.dropped);
    s.dropped = m->dropped;
    ++m_stats.messages;
    m_lastHeardUs = nowUs;
    const QString sender = ipv4ToString(from);
    for (ControlEvent e : m->events) {
        e.monoUs = saturatingAdd(e.monoUs, offset);
        if (e.monoUs > nowUs)
            e.monoUs = nowUs;
        if (e.node.isEmpty())
            e.node = sender;
        r.events.append(std::move(e));
    }
    m_stats.events += quint64(r.events.size());
    return r;
}

std::optional<qint64> EventFeedReceiver::offsetUs(quint32 from) const
{
    const auto it = m_senders.constFind(from);
    if (it == m_senders.cend() || it->samples.empty())
        return std::nullopt;
    qint64 best = it->samples.front().offsetUs;
    for (const Sample &x : it->samples)
        best = std::min(best, x.offsetUs);
    return best;
}

} // namespace sasha
