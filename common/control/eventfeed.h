#pragma once
// The daemons' event feed to observers (remote consoles, `sashactl watch --key`), carried as
// TokenBeat out-of-band messages on kEventFeedChannel. Pure codec and receiver: bytes in, values
// out; no socket, no clock of its own. docs/console.md "Daemon events for remote consoles".
//
// Why: an observer only sees Views (at most every viewToObservers, 200 ms) and is never sent a
// Purge, so it cannot time a failover's phases. Every sashad forwards its own event-log entries
// (purge-started, token-timeout, ring-formed, dispatcher-elected, first-forward, ...) to the
// observers that subscribed to it, also while its ring is broken.
//
// Subscription: an observer sends every member of its last View a "subscribe" message (header
// only) every kEventFeedSubscribeMs; a daemon serves those it heard from within
// kEventFeedSubscriberTimeoutMs and learns their endpoints from these very datagrams (the core
// remembers every authenticated sender), so it still reaches them during a purge, when its view
// is gone. It answers each subscribe with an empty events message (unreliable): a clock sample.
//
// Clocks: the daemons stamp events with their CLOCK_MONOTONIC µs (monoUs); an observer on
// another host has another monotonic clock. Every message carries the sender's clock at the
// moment it was encoded (senderNowUs), so the receiver maps an event to its own clock as
//     local = eventMonoUs + (receivedUs - senderNowUs)
// (= receivedUs - (senderNowUs - eventMonoUs)). The term in brackets is the clock offset plus
// this datagram's one-way delay; the receiver keeps the smallest value seen from the sender in
// the last kEventFeedOffsetWindowUs (the answers to subscribes give it a fresh one every second),
// so a retransmitted or queued message does not shift its events. Error: the smallest one-way
// latency (sub-ms on a LAN; mapped times are never later than reality by more, and never in the
// receiver's future) plus clock drift over the window. A new clockId (the sender restarted,
// perhaps on another host) forgets the sender's samples.
//
// Message (big-endian), header 24 bytes:
//   version u8 (kEventFeedVersion = 1) | type u8 (1 events, 2 subscribe) | count u16 (events in
//   the body; subscribe: 0) | seq u32 (events messages sent to this observer by this sender,
//   from 1; 0 for a clock sample or a subscribe) | senderNowUs i64 (the sender's monotonic µs
//   when it encoded the message) | clockId u32 (the sender's boot id: changes when it restarts) |
//   dropped u32 (events this sender could not deliver to this observer so far: queue overflow
//   or a failed transfer; cumulative, wraps)
// then the body: events = a compact UTF-8 JSON array of exactly `count` event objects, the
// control protocol's event JSON (ControlEvent::toJson: monoUs, wallMs, kind, node, role,
// detail; keys are only ever added). A subscribe has no body.
// Refused (nullopt + error): shorter than 24 bytes, longer than kEventFeedMaxBytes, an unknown
// version or type, count > kEventFeedMaxEvents, a subscribe with a body or a count, a body that
// is not a JSON array of `count` objects each with a non-empty string "kind" and a numeric
// "monoUs". Extending: new header fields need a new version; new event keys need nothing.

#include "control/controlprotocol.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QHash>
#include <QList>
#include <QString>

#include <deque>
#include <optional>

namespace sasha {

constexpr quint8 kEventFeedChannel = 0x21;
constexpr quint8 kEventFeedVersion = 1;
constexpr int kEventFeedHeaderBytes = 24;
constexpr int kEventFeedMaxEvents = 64;          // per message
constexpr int kEventFeedMaxBytes = 64 * 1024;    // per message
constexpr int kEventFeedSubscribeMs = 1000;
constexpr int kEventFeedSubscriberTimeoutMs = 3500;
constexpr qint64 kEventFeedOffsetWindowUs = 10'000'000;

struct EventFeedMessage {
    enum class Type : quint8 { Events = 1, Subscribe = 2 };
    Type type = Type::Events;
    quint32 seq = 0;
    qint64 senderNowUs = 0;
    quint32 clockId = 0;
    quint32 dropped = 0;
    QList<ControlEvent> events;
    friend bool operator==(const EventFeedMessage &, const EventFeedMessage &) = default;
};

// An empty QByteArray when the message breaks a limit (more than kEventFeedMaxEvents events,
// or more than kEventFeedMaxBytes): the caller splits.
QByteArray encodeEventFeed(const EventFeedMessage &m);
QByteArray encodeEventFeedSubscribe();
// nullopt with *error (what is wrong, with the offending value) on anything malformed.
std::optional<EventFeedMessage> decodeEventFeed(QByteArrayView bytes, QString *error = nullptr);

// The observer's end: decodes, maps each event's monoUs to the receiver's clock (see above) and
// fills an empty event node with the sender's address (the daemons' own services log events
// without a node). Bad messages are refused and counted, never thrown. One thread.
class EventFeedReceiver {
public:
    struct Result {
        QList<ControlEvent> events; // monoUs on the receiver's clock
        QString error;              // non-empty: the message was refused
    };
    struct Stats {
        quint64 messages = 0; // accepted
        quint64 events = 0;
        quint64 rejected = 0; // malformed, or not an events message
        quint64 senderDropped = 0; // the senders' own counts of events they could not deliver
        quint64 gaps = 0;          // events messages missing in a sender's seq (lost or late)
    };

    // nowUs: the receiver's clock when the datagram arrived.
    Result onMessage(quint32 from, QByteArrayView payload, qint64 nowUs);

    // The offset added to `from`'s stamps (receiver clock - sender clock + smallest delay seen),
    // nullopt before its first message.
    std::optional<qint64> offsetUs(quint32 from) const;
    // When the last accepted message arrived (receiver clock), 0 = never.
    qint64 lastHeardUs() const { return m_lastHeardUs; }
    const Stats &stats() const { return m_stats; }
    QString lastError() const { return m_lastError; }

private:
    struct Sample {
        qint64 receivedUs;
        qint64 offsetUs;
    };
    struct Sender {
        quint32 clockId = 0;
        quint32 lastSeq = 0;
        quint32 dropped = 0;
        std::deque<Sample> samples; // within kEventFeedOffsetWindowUs, at most kMaxSamples
    };
    static constexpr std::size_t kMaxSamples = 64;
    static constexpr int kMaxSenders = 256;

    QHash<quint32, Sender> m_senders;
    qint64 m_lastHeardUs = 0;
    Stats m_stats;
    QString m_lastError;
};

} // namespace sasha
