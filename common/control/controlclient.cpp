#include "control/controlclient.h"

#include <QDeadlineTimer>
#include <QJsonDocument>

namespace sasha {

std::optional<QString> ControlClient::connectToDaemon(int timeoutMs)
{
    m_socket.connectToServer(m_path);
    if (m_socket.waitForConnected(timeoutMs))
        return std::nullopt;
    switch (m_socket.error()) {
    case QLocalSocket::ServerNotFoundError:
        return QStringLiteral("is sashad running? no socket at %1").arg(m_path);
    case QLocalSocket::SocketAccessError:
        return QStringLiteral("run as root: %1 is root-only").arg(m_path);
    case QLocalSocket::ConnectionRefusedError:
        return QStringLiteral("sashad is not answering on %1 (a stale socket from a crashed daemon?)").arg(m_path);
    case QLocalSocket::SocketTimeoutError:
        return QStringLiteral("sashad did not accept the connection on %1 within %2 ms").arg(m_path).arg(timeoutMs);
    default:
        return QStringLiteral("cannot connect to %1: %2").arg(m_path, m_socket.errorString());
    }
}

void ControlClient::sendRequest(const ControlRequest &r)
{
    m_socket.write(controlLine(r.toJson()));
    m_socket.flush();
}

std::optional<QJsonObject> ControlClient::readObject(QString *error, int timeoutMs)
{
    const QDeadlineTimer deadline(timeoutMs);
    while (!m_socket.canReadLine()) {
        if (m_socket.state() != QLocalSocket::ConnectedState && m_socket.bytesAvailable() == 0) {
            *error = QStringLiteral("sashad closed the connection");
            return std::nullopt;
        }
        if (deadline.hasExpired() || !m_socket.waitForReadyRead(int(std::max<qint64>(1, deadline.remainingTime())))) {
            if (m_socket.canReadLine())
                break;
            *error = m_socket.state() == QLocalSocket::ConnectedState
                ? QStringLiteral("no answer from sashad within %1 ms").arg(timeoutMs)
                : QStringLiteral("sashad closed the connection");
            return std::nullopt;
        }
    }
    const QByteArray line = m_socket.readLine();
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(line, &pe);
    if (pe.error != QJsonParseError::NoError || !doc.isObject()) {
        *error = QStringLiteral("bad answer from sashad: %1").arg(pe.errorString());
        return std::nullopt;
    }
    return doc.object();
}

std::optional<QJsonObject> ControlClient::request(const ControlRequest &r, QString *error, int timeoutMs)
{
    sendRequest(r);
    return readObject(error, timeoutMs);
}

} // namespace sasha
