#include "control/controlserver.h"

#include "config/logcategories.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLocalServer>
#include <QLocalSocket>

#include <sys/stat.h>

namespace sasha {
namespace {
// For the commands answered later (connections, fault, drain/undrain/weight, handover): the answer
// goes to the client if it is still connected, and is dropped otherwise.
ControlServer::AnswerFn answerLater(QLocalSocket *s)
{
    return [client = QPointer<QLocalSocket>(s)](const QJsonObject &o) {
        if (client && client->state() == QLocalSocket::ConnectedState) {
            client->write(controlLine(o));
            client->flush();
        }
    };
}

// A long answer (connections: 100k flows are 18 MB) is written a slice at a time, the next slice
// once the socket has taken the last: written in one go it held the thread that relays the token
// 50-90 ms (lab_bigtables, the ring purged), however the client read it.
constexpr qsizetype kAnswerSlice = 256 * 1024;

void writeSlices(const QPointer<QLocalSocket> &client, const QByteArray &line, qsizetype offset)
{
    while (client && client->state() == QLocalSocket::ConnectedState && offset < line.size()) {
        if (client->bytesToWrite() >= kAnswerSlice) {
            QObject::connect(client, &QLocalSocket::bytesWritten, client,
                             [client, line, offset] { writeSlices(client, line, offset); }, Qt::SingleShotConnection);
            return;
        }
        const qsizetype n = std::min(kAnswerSlice, line.size() - offset);
        client->write(line.constData() + offset, n);
        offset += n;
    }
}

ControlServer::LineAnswerFn lineLater(QLocalSocket *s)
{
    return [client = QPointer<QLocalSocket>(s)](const QByteArray &line) { writeSlices(client, line, 0); };
}

// A watcher that does not read is cut off rather than buffered without bound.
constexpr qint64 kMaxPendingBytes = 1 << 20;
constexpr int kWatchStatusMs = 1000;
} // namespace

ControlServer::ControlServer(StatusFn status, const EventLog *log, QObject *parent)
    : QObject(parent), m_status(std::move(status)), m_log(log)
{
    m_watchTimer.setInterval(kWatchStatusMs);
    connect(&m_watchTimer, &QTimer::timeout, this, &ControlServer::sendWatchStatus);
}

ControlServer::~ControlServer() { close(); }

std::optional<QString> ControlServer::listen(const QString &path)
{
    close();
    const QFileInfo info(path);
    const QString dir = info.absolutePath();
    if (!QFileInfo::exists(dir)) {
        if (!QDir().mkpath(dir))
            return QStringLiteral("control socket %1 unusable: cannot create directory %2").arg(path, dir);
        QFile::setPermissions(dir, QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
    }
    struct stat st {};
    const QByteArray native = QFile::encodeName(path);
    if (::lstat(native.constData(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return QStringLiteral("control socket %1 unusable: the path exists and is not a socket").arg(path);
        QLocalSocket probe;
        probe.connectToServer(path);
        if (probe.waitForConnected(500)) {
            probe.disconnectFromServer();
            return QStringLiteral("another sashad is running on %1").arg(path);
        }
        qCInfo(lcControl, "removing stale control socket %s (%s)", qPrintable(path), qPrintable(probe.errorString()));
        if (!QFile::remove(path))
            return QStringLiteral("control socket %1 unusable: cannot remove stale socket").arg(path);
    }
    m_server = new QLocalServer(this);
    m_server->setSocketOptions(QLocalServer::UserAccessOption);
    if (!m_server->listen(path)) {
        const QString why = m_server->errorString();
        delete m_server;
        m_server = nullptr;
        return QStringLiteral("control socket %1 unusable: %2").arg(path, why);
    }
    // Qt's UserAccessOption gives 0700; execute means nothing on a socket, so match the docs.
    QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner);
    m_path = path;
    connect(m_server, &QLocalServer::newConnection, this, &ControlServer::onNewConnection);
    qCInfo(lcControl, "control socket listening on %s", qPrintable(path));
    return std::nullopt;
}

void ControlServer::close()
{
    m_watchTimer.stop();
    m_watchers.clear();
    if (m_server) {
        m_server->close(); // removes the socket file
        delete m_server;
        m_server = nullptr;
    }
}

int ControlServer::watcherCount() const
{
    return int(std::count_if(m_watchers.begin(), m_watchers.end(), [](const auto &w) { return !w.isNull(); }));
}

void ControlServer::onNewConnection()
{
    while (QLocalSocket *s = m_server->nextPendingConnection()) {
        connect(s, &QLocalSocket::disconnected, s, &QObject::deleteLater);
        connect(s, &QLocalSocket::readyRead, this, [this, s] { onReadyRead(s); });
    }
}

void ControlServer::onReadyRead(QLocalSocket *s)
{
    // Bounded: at most the lines already buffered, and an over-long partial line is refused.
    // Every line gets exactly one answer, an empty one too (an error), so a client that counts
    // its requests never waits for an answer that will not come.
    while (s->canReadLine()) {
        const QByteArray line = s->readLine(kMaxRequestLine + 2).trimmed();
        QString error;
        const auto req = parseControlRequest(line, &error);
        if (!req) {
            ++m_bad;
            qCWarning(lcControl, "bad control request: %s", qPrintable(error));
            s->write(controlLine(controlError(error)));
            continue;
        }
        answer(s, *req);
    }
    if (s->bytesAvailable() > kMaxRequestLine) {
        ++m_bad;
        s->write(controlLine(controlError(QStringLiteral("request longer than %1 bytes").arg(kMaxRequestLine))));
        s->disconnectFromServer();
    }
}

void ControlServer::answer(QLocalSocket *s, const ControlRequest &r)
{
    ++m_served;
    using C = ControlRequest::Command;
    switch (r.command) {
    case C::Status:
        s->write(controlLine(m_status().toJson()));
        break;
    case C::Members: {
        const QJsonObject st = m_status().toJson();
        s->write(controlLine(QJsonObject{{QStringLiteral("members"), st.value(QLatin1String("members"))},
                                         {QStringLiteral("observers"), st.value(QLatin1String("observers"))}}));
        break;
    }
    case C::Counters: {
        QJsonObject c = m_status().counters.toJson();
        c.insert(QStringLiteral("eventsLogged"), qint64(m_log ? m_log->totalAdded() : 0));
        c.insert(QStringLiteral("badControlRequests"), qint64(m_bad));
        s->write(controlLine(QJsonObject{{QStringLiteral("counters"), c}}));
        break;
    }
    case C::Events: {
        QJsonArray a;
        if (m_log) {
            for (const ControlEvent &e : m_log->last(std::size_t(r.limit)))
                a.append(e.toJson());
        }
        s->write(controlLine(QJsonObject{{QStringLiteral("events"), a}}));
        break;
    }
    case C::Connections: {
        if (!m_connections) {
            s->write(controlLine(controlError(QStringLiteral("this daemon keeps no connection map"))));
            break;
        }
        m_connections(r.limit, lineLater(s));
        break;
    }
    case C::Fault: {
        if (!m_fault) {
            s->write(controlLine(controlError(QStringLiteral("this daemon takes no fault commands"))));
            break;
        }
        m_fault(r, answerLater(s));
        break;
    }
    case C::Handover: {
        if (!m_handover) {
            s->write(controlLine(controlError(QStringLiteral("this daemon takes no handover command"))));
            break;
        }
        m_handover(r, answerLater(s));
        break;
    }
    case C::Reload: {
        if (!m_reload) {
            s->write(controlLine(controlError(QStringLiteral("this daemon takes no reload command"))));
            break;
        }
        m_reload(r, answerLater(s));
        break;
    }
    case C::Drain:
    case C::Undrain:
    case C::Weight: {
        if (!m_admin) {
            s->write(controlLine(controlError(QStringLiteral("this daemon takes no drain, undrain or weight commands"))));
            break;
        }
        m_admin(r, answerLater(s));
        break;
    }
    case C::Watch:
        m_watchers.append(QPointer<QLocalSocket>(s));
        s->write(controlLine(QJsonObject{{QStringLiteral("status"), m_status().toJson()}}));
        if (!m_watchTimer.isActive())
            m_watchTimer.start();
        break;
    }
}

void ControlServer::publish(const ControlEvent &e)
{
    if (!m_watchers.isEmpty())
        sendToWatchers(controlLine(QJsonObject{{QStringLiteral("event"), e.toJson()}}));
}

void ControlServer::sendToWatchers(const QByteArray &line)
{
    m_watchers.removeIf([](const QPointer<QLocalSocket> &w) {
        return w.isNull() || w->state() != QLocalSocket::ConnectedState;
    });
    for (const auto &w : std::as_const(m_watchers)) {
        if (w->bytesToWrite() > kMaxPendingBytes) {
            qCWarning(lcControl, "watch client is not reading; disconnecting it");
            w->abort(); // removed from m_watchers on the next send
            continue;
        }
        w->write(line);
    }
}

void ControlServer::sendWatchStatus()
{
    sendToWatchers(controlLine(QJsonObject{{QStringLiteral("status"), m_status().toJson()}}));
    if (m_watchers.isEmpty())
        m_watchTimer.stop();
}

} // namespace sasha
