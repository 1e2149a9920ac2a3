#pragma once
// UdpTransport: the TokenBeat core's datagram I/O on a QUdpSocket bound to the node's
// endpoint. Broadcast sends are allowed (Qt sets SO_BROADCAST on UDP sockets). Bind failures
// are values that say what to fix. Lives in the thread that created it (the daemon's main loop).

#include "tokenbeat/types.h"

#include <QByteArray>
#include <QObject>
#include <QUdpSocket>

#include <optional>

namespace sasha {

struct TransportError {
    enum class Kind { AddressNotAvailable, AddressInUse, Other };
    Kind kind = Kind::Other;
    QString message; // "address 10.1.2.3 is not on this host", "127.0.0.2:7400 is in use by another process"
};

class UdpTransport : public QObject {
    Q_OBJECT
public:
    explicit UdpTransport(QObject *parent = nullptr);

    // Binds exclusively (no SO_REUSEADDR: a second daemon on the same endpoint must fail).
    // Port 0 lets the OS choose; localEndpoint() tells which.
    std::optional<TransportError> bind(const tb::Endpoint &endpoint);
    bool isBound() const;
    tb::Endpoint localEndpoint() const;

    // Fire and forget; a failure is counted and logged (rate-limited), never fatal.
    bool send(const tb::Endpoint &to, const QByteArray &datagram);
    void close();
    // Reads (and emits) what is already queued on the socket, now. RingDriver calls it before it
    // judges an expired deadline: when the event loop was busy (a slow handler, the machine
    // overloaded), the token that arrived meanwhile is still in the queue and must be seen first,
    // or a node purges a healthy ring because of its own stall.
    void readQueued() { readPending(); }

    quint64 sendErrors() const { return m_sendErrors; }

    // Fault injection (docs/console.md, unplug): while set, every datagram sent is dropped
    // before the socket and every datagram received is read and discarded, as with a pulled
    // cable. Counted in unpluggedDrops().
    void setUnplugged(bool on) { m_unplugged = on; }
    bool isUnplugged() const { return m_unplugged; }
    quint64 unpluggedDrops() const { return m_unpluggedDrops; }

Q_SIGNALS:
    void datagramReceived(const sasha::tb::Endpoint &from, const QByteArray &datagram);

private:
    void readPending();

    QUdpSocket m_socket;
    quint64 m_sendErrors = 0;
    quint64 m_stalls = 0; // times the safety poll found datagrams waiting a whole period
    quint64 m_readCalls = 0, m_readCallsAtPoll = 0;
    qint64 m_lastStallLogMs = 0;
    qint64 m_lastSendErrorLogMs = 0;
    quint64 m_sendErrorsSinceLog = 0;
    bool m_unplugged = false;
    quint64 m_unpluggedDrops = 0;
};

} // namespace sasha
