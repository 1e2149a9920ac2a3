#include "oobrouter.h"

#include "transport/ringdriver.h"

#include <QTimer>

namespace sasha {

OobRouter::OobRouter(RingDriver &driver, tb::NodeAddr self, QObject *parent)
    : QObject(parent), m_driver(driver), m_self(self)
{
    connect(&m_driver, &RingDriver::oobReceived, this, &OobRouter::received);
}

quint64 OobRouter::send(tb::NodeAddr to, quint8 channel, const QByteArray &payload, bool reliable)
{
    if (to == m_self) {
        ++m_local;
        // Queued, not direct: a sender must never be re-entered from its own send().
        QTimer::singleShot(0, this, [this, channel, payload] { Q_EMIT received(m_self, channel, payload); });
        return 0;
    }
    return m_driver.isRunning() ? m_driver.sendOob(to, channel, payload, reliable) : 0;
}

} // namespace sasha
