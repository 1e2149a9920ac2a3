#include "eventfeedpublisher.h"

#include <algorithm>

namespace sasha {

EventFeedPublisher::EventFeedPublisher(tb::NodeAddr self, quint32 clockId, Sender send, Clock clock, QObject *parent)
    : QObject(parent), m_self(self), m_clockId(clockId), m_send(std::move(send)), m_clock(std::move(clock))
{
    m_flushTimer.setSingleShot(true);
    m_flushTimer.setInterval(0);
    connect(&m_flushTimer, &QTimer::timeout, this, &EventFeedPublisher::flush);
}

bool EventFeedPublisher::isForwardedKind(const QString &kind)
{
    // Bookkeeping, not news: a view per change, the OOB transfers (this feed's own among them:
    // forwarding those would feed back), drops (counted, never logged one by one).
    static const QStringList kept = {QStringLiteral("view-changed"), QStringLiteral("oob-received"),
                                     QStringLiteral("oob-delivered"), QStringLiteral("oob-failed"),
                                     QStringLiteral("datagram-dropped")};
    return !kind.isEmpty() && !kept.contains(kind);
}

void EventFeedPublisher::expire(qint64 nowUs)
{
    const qint64 heardBy = nowUs - qint64(kEventFeedSubscriberTimeoutMs) * 1000;
    std::erase_if(m_subscribers, [heardBy](const auto &kv) { return kv.second.lastHeardUs < heardBy; });
}

EventFeedMessage EventFeedPublisher::header(const Subscriber &s, qint64 nowUs) const
{
    EventFeedMessage m;
    m.type = EventFeedMessage::Type::Events;
    m.senderNowUs = nowUs;
    m.clockId = m_clockId;
    m.dropped = s.dropped;
    return m;
}

void EventFeedPublisher::onMessage(tb::NodeAddr from, const QByteArray &payload)
{
    const auto m = decodeEventFeed(payload);
    if (!m || m->type != EventFeedMessage::Type::Subscribe || from == m_self || from == tb::kNoNode) {
        ++m_stats.rejected;
        return;
    }
    const qint64 now = m_clock();
    expire(now);
    Subscriber &s = m_subscribers[from];
    s.lastHeardUs = now;
    ++m_stats.subscribes;
    // The clock sample: unreliable (a retransmission would be a worse sample), encoded now.
    m_send(from, encodeEventFeed(header(s, now)), false);
}

void EventFeedPublisher::publish(const ControlEvent &e)
{
    if (m_subscribers.empty() || !isForwardedKind(e.kind))
        return;
    expire(m_clock());
    for (auto &[addr, s] : m_subscribers) {
        if (s.queue.size() >= kQueueLimit) {
            s.queue.pop_front();
            ++s.dropped;
            ++m_stats.dropped;
        }
        s.queue.push_back(e);
    }
    if (!m_subscribers.empty() && !m_flushTimer.isActive())
        m_flushTimer.start();
}

void EventFeedPublisher::flush()
{
    const qint64 now = m_clock();
    expire(now);
    for (auto &[addr, s] : m_subscribers) {
        if (s.inFlight != 0 && now - s.inFlightSinceUs >= kInFlightTimeoutUs) {
            s.dropped += quint32(s.inFlightEvents);
            m_stats.dropped += quint64(s.inFlightEvents);
            s.inFlight = 0;
        }
        if (s.inFlight != 0 || s.queue.empty())
            continue;
        EventFeedMessage m = header(s, now);
        while (!s.queue.empty() && m.events.size() < kEventFeedMaxEvents) {
            m.events.append(std::move(s.queue.front()));
            s.queue.pop_front();
        }
        m.seq = ++s.seq;
        QByteArray bytes = encodeEventFeed(m);
        while (bytes.isEmpty() && m.events.size() > 1) {
            // Over kEventFeedMaxBytes (long details): send fewer now, the rest next time.
            s.queue.push_front(m.events.takeLast());
            bytes = encodeEventFeed(m);
        }
        const quint64 id = bytes.isEmpty() ? 0 : m_send(addr, bytes, true);
        if (id == 0) {
            s.dropped += quint32(m.events.size());
            m_stats.dropped += quint64(m.events.size());
            continue;
        }
        s.inFlight = id;
        s.inFlightSinceUs = now;
        s.inFlightEvents = int(m.events.size());
        ++m_stats.messages;
        m_stats.events += quint64(m.events.size());
    }
}

void EventFeedPublisher::transferEnded(quint64 transferId, bool delivered)
{
    if (transferId == 0)
        return;
    for (auto &[addr, s] : m_subscribers) {
        if (s.inFlight != transferId)
            continue;
        if (!delivered) {
            s.dropped += quint32(s.inFlightEvents);
            m_stats.dropped += quint64(s.inFlightEvents);
        }
        s.inFlight = 0;
        s.inFlightEvents = 0;
        if (!s.queue.empty() && !m_flushTimer.isActive())
            m_flushTimer.start();
        return;
    }
}

std::size_t EventFeedPublisher::queued(tb::NodeAddr observer) const
{
    const auto it = m_subscribers.find(observer);
    return it == m_subscribers.end() ? 0 : it->second.queue.size();
}

} // namespace sasha
