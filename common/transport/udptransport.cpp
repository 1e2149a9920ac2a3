#include "transport/udptransport.h"

#include "config/logcategories.h"

#include <QDateTime>
#include <QHostAddress>
#include <QNetworkDatagram>
#include <QTimer>

namespace sasha {
namespace {
// At most this many datagrams per wake-up, so a flood cannot starve timers and the control
// socket; the rest is read on the next event-loop pass.
constexpr int kMaxReadsPerWakeup = 256;
constexpr qint64 kMaxDatagram = 65535;
constexpr qint64 kLogEveryMs = 5000;
constexpr int kPollMs = 50;

QString endpointText(const tb::Endpoint &e)
{
    return QStringLiteral("%1:%2").arg(QHostAddress(e.ip).toString()).arg(e.port);
}
} // namespace

UdpTransport::UdpTransport(QObject *parent) : QObject(parent)
{
    connect(&m_socket, &QUdpSocket::readyRead, this, &UdpTransport::readPending);
    // Safety net: under load QUdpSocket sometimes stops signalling readyRead for good (its read
    // notifier stays disabled while the receive queue is full: seen with 20 sashad on loopback,
    // a node then heard nothing and formed rings alone). Reading re-arms the notifier.
    auto *poll = new QTimer(this);
    poll->setInterval(kPollMs);
    connect(poll, &QTimer::timeout, this, [this] {
        const bool stalled = m_readCalls == m_readCallsAtPoll; // nothing read for a whole period
        m_readCallsAtPoll = m_readCalls;
        if (m_socket.state() != QAbstractSocket::BoundState || !m_socket.hasPendingDatagrams())
            return;
        if (stalled) {
            ++m_stalls;
            const qint64 now = QDateTime::currentMSecsSinceEpoch();
            if (now - m_lastStallLogMs >= kLogEveryMs) {
                qCWarning(lcTransport, "datagrams waited %d ms without readyRead (%llu times so far); read them",
                          kPollMs, static_cast<unsigned long long>(m_stalls));
                m_lastStallLogMs = now;
            }
        }
        readPending();
    });
    poll->start();
}

std::optional<TransportError> UdpTransport::bind(const tb::Endpoint &endpoint)
{
    const QHostAddress addr(endpoint.ip);
    if (m_socket.bind(addr, endpoint.port, QAbstractSocket::DontShareAddress)) {
        qCInfo(lcTransport, "bound %s", qPrintable(endpointText(localEndpoint())));
        return std::nullopt;
    }
    TransportError e;
    switch (m_socket.error()) {
    case QAbstractSocket::SocketAddressNotAvailableError:
        e.kind = TransportError::Kind::AddressNotAvailable;
        e.message = QStringLiteral("address %1 is not on this host").arg(addr.toString());
        break;
    case QAbstractSocket::AddressInUseError:
        e.kind = TransportError::Kind::AddressInUse;
        e.message = QStringLiteral("%1 is in use by another process").arg(endpointText(endpoint));
        break;
    default:
        e.message = QStringLiteral("cannot bind %1: %2").arg(endpointText(endpoint), m_socket.errorString());
        break;
    }
    return e;
}

bool UdpTransport::isBound() const { return m_socket.state() == QAbstractSocket::BoundState; }

tb::Endpoint UdpTransport::localEndpoint() const
{
    return {m_socket.localAddress().toIPv4Address(), m_socket.localPort()};
}

void UdpTransport::close() { m_socket.close(); }

bool UdpTransport::send(const tb::Endpoint &to, const QByteArray &datagram)
{
    if (m_unplugged) {
        ++m_unpluggedDrops;
        return true; // the sender cannot tell a pulled cable from a lost datagram
    }
    if (m_socket.writeDatagram(datagram, QHostAddress(to.ip), to.port) == datagram.size())
        return true;
    ++m_sendErrors;
    ++m_sendErrorsSinceLog;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (now - m_lastSendErrorLogMs >= kLogEveryMs) {
        qCWarning(lcTransport, "send to %s failed: %s (%llu send failures in the last %llds)",
                  qPrintable(endpointText(to)), qPrintable(m_socket.errorString()),
                  static_cast<unsigned long long>(m_sendErrorsSinceLog), kLogEveryMs / 1000);
        m_lastSendErrorLogMs = now;
        m_sendErrorsSinceLog = 0;
    }
    return false;
}

void UdpTransport::readPending()
{
    ++m_readCalls;
    for (int i = 0; i < kMaxReadsPerWakeup && m_socket.hasPendingDatagrams(); ++i) {
        const QNetworkDatagram d = m_socket.receiveDatagram(kMaxDatagram);
        if (!d.isValid())
            break;
        if (m_unplugged) {
            ++m_unpluggedDrops;
            continue;
        }
        const tb::Endpoint from{d.senderAddress().toIPv4Address(), quint16(d.senderPort())};
        Q_EMIT datagramReceived(from, d.data());
    }
    if (m_socket.hasPendingDatagrams())
        QTimer::singleShot(0, this, &UdpTransport::readPending);
}

} // namespace sasha
