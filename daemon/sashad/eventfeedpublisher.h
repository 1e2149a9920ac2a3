#pragma once
// EventFeedPublisher: this daemon's own events (its event log: ring, dispatcher, agent, faults),
// forwarded to the observers that subscribed to it on kEventFeedChannel
// (common/control/eventfeed.h has the wire format and the clock mapping, docs/console.md
// "Daemon events for remote consoles" the protocol).
//
// Subscribers: an observer sends a subscribe every kEventFeedSubscribeMs to every member of its
// view; it is served while heard from within kEventFeedSubscriberTimeoutMs, and answered at once
// with an empty events message (unreliable, a clock sample). Its endpoint is what the core
// remembers of the sender of that datagram, so it is reached through a purge too (the events of
// a purge are sent while this node has no ring).
// Events: publish() queues an event for every live subscriber (kinds in isForwardedKind: not
// the bookkeeping of views, OOB transfers and drops, which would also feed back on themselves)
// and schedules a flush on the next event-loop turn (never sends from inside publish(): it is
// called while the ring driver applies actions). A flush sends each subscriber with no transfer
// in flight its queued events (up to kEventFeedMaxEvents) as one reliable transfer; the next
// waits for transferEnded() of that one, so a slow or vanished observer holds at most one
// transfer and kQueueLimit events: beyond that the oldest are dropped and counted (the count
// travels in every message's `dropped`, so the observer knows). A failed transfer's events are
// counted as dropped too.
//
// Thread: the daemon's main thread. Time and I/O are injected (tests use a fake sender).

#include "control/eventfeed.h"
#include "tokenbeat/types.h"

#include <QObject>
#include <QTimer>

#include <deque>
#include <functional>
#include <map>

namespace sasha {

class EventFeedPublisher : public QObject {
    Q_OBJECT
public:
    static constexpr std::size_t kQueueLimit = 64; // events per subscriber
    // A transfer whose outcome never came (it should within ~10.3 s: reliable give-up) is
    // forgotten after this, so one lost outcome cannot stall a subscriber forever.
    static constexpr qint64 kInFlightTimeoutUs = 15'000'000;

    // Sends one message; returns the reliable transfer's id, 0 if nothing was sent.
    using Sender = std::function<quint64(tb::NodeAddr to, const QByteArray &payload, bool reliable)>;
    using Clock = std::function<qint64()>; // monotonic µs, the clock events are stamped with

    struct Stats {
        quint64 subscribes = 0;
        quint64 messages = 0;  // events messages sent
        quint64 events = 0;    // events in them
        quint64 dropped = 0;   // queue overflow, failed transfers, sends refused
        quint64 rejected = 0;  // malformed or unexpected messages received
    };

    EventFeedPublisher(tb::NodeAddr self, quint32 clockId, Sender send, Clock clock, QObject *parent = nullptr);

    // A message on kEventFeedChannel (subscriptions; anything else is refused and counted).
    void onMessage(tb::NodeAddr from, const QByteArray &payload);
    // One event of this node's log.
    void publish(const ControlEvent &e);
    // The outcome of a reliable transfer (RingDriver's OobDelivered / OobFailed): ids not ours
    // are ignored.
    void transferEnded(quint64 transferId, bool delivered);
    // Sends what is queued (the zero timer's; tests call it directly).
    void flush();

    int subscribers() const { return int(m_subscribers.size()); }
    std::size_t queued(tb::NodeAddr observer) const;
    const Stats &stats() const { return m_stats; }

    static bool isForwardedKind(const QString &kind);

private:
    struct Subscriber {
        qint64 lastHeardUs = 0;
        std::deque<ControlEvent> queue;
        quint64 inFlight = 0; // transfer id, 0 = none
        qint64 inFlightSinceUs = 0;
        int inFlightEvents = 0;
        quint32 seq = 0;
        quint32 dropped = 0; // cumulative, sent in every message
    };
    void expire(qint64 nowUs);
    EventFeedMessage header(const Subscriber &s, qint64 nowUs) const;

    tb::NodeAddr m_self;
    quint32 m_clockId;
    Sender m_send;
    Clock m_clock;
    QTimer m_flushTimer;
    std::map<tb::NodeAddr, Subscriber> m_subscribers;
    Stats m_stats;
};

} // namespace sasha
