#pragma once
// One door for out-of-band messages in sashad. Services send through it and listen to its
// received() signal. A message to this node itself (the dispatcher queries its own agent during
// reconstruction, and sends its own per-server figures) never touches the network: it is
// delivered on the next event-loop turn, as if it had arrived, so the services see one path.
// Every message received is handed to the services on this thread, the one that relays the
// token: how long they take is measured per channel (stats(); a warning when one message held the
// thread >= 50 ms), so work that belongs on a worker shows up.
// Thread: the daemon's main thread.

#include "tokenbeat/types.h"

#include <QJsonObject>
#include <QObject>

#include <array>

namespace sasha {

class RingDriver;

class OobRouter : public QObject {
    Q_OBJECT
public:
    OobRouter(RingDriver &driver, tb::NodeAddr self, QObject *parent = nullptr);

    // Returns the reliable transfer's id (RingDriver::sendOob), 0 when delivered locally or not sent.
    quint64 send(tb::NodeAddr to, quint8 channel, const QByteArray &payload, bool reliable);
    tb::NodeAddr self() const { return m_self; }
    quint64 deliveredLocally() const { return m_local; }
    // Per channel seen: {"maxMs": slowest handling, "slow": handlings >= 20 ms}, keyed by name.
    QJsonObject stats() const;

Q_SIGNALS:
    void received(sasha::tb::NodeAddr from, quint8 channel, const QByteArray &payload);

private:
    void deliver(tb::NodeAddr from, quint8 channel, const QByteArray &payload);

    struct ChannelTime {
        qint64 maxUs = 0;
        quint64 handled = 0;
        quint64 slow = 0;
    };
    RingDriver &m_driver;
    std::array<ChannelTime, 256> m_times{};
    qint64 m_lastWarnMs = 0;
    qint64 m_lastWarnUs = 0;
    tb::NodeAddr m_self;
    quint64 m_local = 0;
};

} // namespace sasha
