#include "daemoneventstream.h"

#include <QJsonDocument>

namespace sasha::console {

bool isTimelineKind(const QString &kind)
{
    static const QStringList kinds = {
        QStringLiteral("token-timeout"), QStringLiteral("purge-started"), QStringLiteral("ring-formed"),
        QStringLiteral("member-joined"), QStringLiteral("member-left"), QStringLiteral("member-lost"),
        QStringLiteral("dispatcher-elected"), QStringLiteral("abdicated"), QStringLiteral("first-forward"),
        QStringLiteral("reconstruction-completed"), QStringLiteral("fault-injected")};
    return kinds.contains(kind);
}

DaemonEventStream::DaemonEventStream(QString socketPath, QObject *parent) : QObject(parent), m_path(std::move(socketPath))
{
    m_retry.setSingleShot(true);
    m_retry.setInterval(kRetryMs);
    connect(&m_retry, &QTimer::timeout, this, &DaemonEventStream::connectNow);
    connect(&m_socket, &QLocalSocket::connected, this, [this] {
        ControlRequest watch;
        watch.command = ControlRequest::Command::Watch;
        m_socket.write(controlLine(watch.toJson()));
    });
    connect(&m_socket, &QLocalSocket::readyRead, this, &DaemonEventStream::onReadyRead);
    connect(&m_socket, &QLocalSocket::disconnected, &m_retry, qOverload<>(&QTimer::start));
    connect(&m_socket, &QLocalSocket::errorOccurred, this, [this] {
        if (m_socket.state() != QLocalSocket::ConnectedState)
            m_retry.start();
    });
}

void DaemonEventStream::start() { connectNow(); }

void DaemonEventStream::connectNow()
{
    if (m_socket.state() != QLocalSocket::UnconnectedState)
        m_socket.abort();
    m_socket.connectToServer(m_path);
}

void DaemonEventStream::onReadyRead()
{
    while (m_socket.canReadLine()) {
        const QByteArray line = m_socket.readLine(kMaxRequestLine);
        QJsonParseError err{};
        const QJsonDocument doc = QJsonDocument::fromJson(line, &err);
        if (err.error != QJsonParseError::NoError || !doc.isObject()) {
            ++m_badLines;
            continue;
        }
        const QJsonObject o = doc.object();
        if (!o.contains(QStringLiteral("event"))) {
            if (const QJsonValue status = o.value(QStringLiteral("status")); status.isObject())
                Q_EMIT statusReceived(status.toObject()); // the periodic {"status": ...}
            continue;
        }
        const ControlEvent e = ControlEvent::fromJson(o.value(QStringLiteral("event")).toObject());
        if (isTimelineKind(e.kind))
            Q_EMIT eventReceived(e);
    }
}

} // namespace sasha::console
