#pragma once
// One door for out-of-band messages in sashad. Services send through it and listen to its
// received() signal. A message to this node itself (the dispatcher queries its own agent during
// reconstruction, and sends its own per-server figures) never touches the network: it is
// delivered on the next event-loop turn, as if it had arrived, so the services see one path.
// Thread: the daemon's main thread.

#include "tokenbeat/types.h"

#include <QObject>

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

Q_SIGNALS:
    void received(sasha::tb::NodeAddr from, quint8 channel, const QByteArray &payload);

private:
    RingDriver &m_driver;
    tb::NodeAddr m_self;
    quint64 m_local = 0;
};

} // namespace sasha
