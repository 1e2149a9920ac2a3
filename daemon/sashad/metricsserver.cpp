#include "metricsserver.h"

#include "config/logcategories.h"
#include "transport/threadpriority.h"

#include <QElapsedTimer>
#include <QHostAddress>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>

#include <vector>

namespace sasha {

// The HTTP side, in MetricsServer's thread. Owns the listening socket and its clients.
class MetricsHttpWorker : public QObject {
public:
    explicit MetricsHttpWorker(MetricsServer *owner) : m_owner(owner) {}

    // In this thread. Empty on success.
    QString listen(quint32 address, quint16 port, QString *bound)
    {
        auto server = std::make_unique<QTcpServer>(this);
        server->setMaxPendingConnections(MetricsServer::kMaxClients);
        if (!server->listen(QHostAddress(address), port))
            return server->errorString();
        close();
        m_server = server.release();
        connect(m_server, &QTcpServer::newConnection, this, &MetricsHttpWorker::onNewConnection);
        *bound = QStringLiteral("%1:%2").arg(m_server->serverAddress().toString()).arg(m_server->serverPort());
        return {};
    }

    void close()
    {
        if (m_server) {
            m_server->close();
            delete m_server;
            m_server = nullptr;
        }
        for (const QPointer<QTcpSocket> &s : m_waiting) {
            if (s)
                s->abort();
        }
        m_waiting.clear();
        m_cache.clear();
    }

    // The main thread's snapshot, for the clients waiting for it.
    void onSnapshot(const MetricsInput &input)
    {
        m_snapshotAsked = false;
        m_cache = renderMetrics(input);
        m_cacheAge.start();
        const auto waiting = std::move(m_waiting);
        m_waiting.clear();
        for (const QPointer<QTcpSocket> &s : waiting) {
            if (s && s->state() == QAbstractSocket::ConnectedState)
                answerMetrics(s, s->property("head").toBool());
        }
    }

private:
    void onNewConnection()
    {
        while (QTcpSocket *s = m_server->nextPendingConnection()) {
            if (m_clients >= MetricsServer::kMaxClients) {
                m_owner->m_refused.fetch_add(1, std::memory_order_relaxed);
                s->abort();
                s->deleteLater();
                continue;
            }
            ++m_clients;
            s->setReadBufferSize(MetricsServer::kMaxRequestBytes + 1);
            auto *deadline = new QTimer(s);
            deadline->setSingleShot(true);
            connect(deadline, &QTimer::timeout, s, [this, s] {
                m_owner->m_refused.fetch_add(1, std::memory_order_relaxed);
                s->abort();
                s->deleteLater();
            });
            deadline->start(MetricsServer::kClientDeadlineMs);
            connect(s, &QTcpSocket::readyRead, this, [this, s] { onReadyRead(s); });
            connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
            connect(s, &QObject::destroyed, this, [this] { --m_clients; });
            if (s->bytesAvailable() > 0)
                onReadyRead(s);
        }
    }

    void reply(QTcpSocket *s, const QByteArray &status, const QByteArray &contentType, const QByteArray &body,
               bool head, const QByteArray &extraHeaders = {})
    {
        s->setProperty("answered", true); // nothing more is read from this client
        QByteArray out = "HTTP/1.1 " + status + "\r\nContent-Type: " + contentType
                       + "\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\nConnection: close\r\n"
                       + extraHeaders + "\r\n";
        if (!head)
            out += body;
        s->write(out);
        s->disconnectFromHost(); // after the data is written; the deadline still bounds it
    }

    void answerMetrics(QTcpSocket *s, bool head)
    {
        m_owner->m_scrapes.fetch_add(1, std::memory_order_relaxed);
        reply(s, "200 OK", kMetricsContentType, m_cache, head);
    }

    void onReadyRead(QTcpSocket *s)
    {
        if (s->property("answered").toBool()) {
            s->readAll(); // a client that keeps sending after its request: discarded
            return;
        }
        QByteArray buf = s->property("buf").toByteArray() + s->readAll();
        qsizetype end = buf.indexOf("\r\n\r\n");
        if (end < 0)
            end = buf.indexOf("\n\n");
        if (end < 0) {
            if (buf.size() > MetricsServer::kMaxRequestBytes) {
                s->setProperty("answered", true);
                m_owner->m_refused.fetch_add(1, std::memory_order_relaxed);
                reply(s, "431 Request Header Fields Too Large", "text/plain", "request head too large\n", false);
                return;
            }
            s->setProperty("buf", buf);
            return;
        }
        s->setProperty("answered", true);
        s->setProperty("buf", QVariant());
        const QByteArray requestLine = buf.left(buf.indexOf('\n')).trimmed();
        const QList<QByteArray> parts = requestLine.split(' ');
        if (parts.size() != 3 || !parts[2].startsWith("HTTP/1.")) {
            m_owner->m_refused.fetch_add(1, std::memory_order_relaxed);
            reply(s, "400 Bad Request", "text/plain", "not an HTTP/1.x request\n", false);
            return;
        }
        const QByteArray &method = parts[0];
        const bool head = method == "HEAD";
        if (method != "GET" && !head) {
            reply(s, "405 Method Not Allowed", "text/plain", "only GET and HEAD\n", false, "Allow: GET, HEAD\r\n");
            return;
        }
        QByteArray path = parts[1];
        if (const qsizetype q = path.indexOf('?'); q >= 0)
            path.truncate(q);
        if (path != "/metrics") {
            reply(s, "404 Not Found", "text/plain", "not found; the metrics are at /metrics\n", head);
            return;
        }
        if (!m_cache.isEmpty() && m_cacheAge.isValid() && m_cacheAge.elapsed() < MetricsServer::kSnapshotMaxAgeMs) {
            answerMetrics(s, head);
            return;
        }
        s->setProperty("head", head);
        m_waiting.push_back(s);
        if (!m_snapshotAsked) {
            m_snapshotAsked = true;
            QMetaObject::invokeMethod(m_owner, &MetricsServer::takeSnapshot, Qt::QueuedConnection);
        }
    }

    MetricsServer *m_owner;
    QTcpServer *m_server = nullptr;
    int m_clients = 0;
    std::vector<QPointer<QTcpSocket>> m_waiting; // complete /metrics requests waiting for a snapshot
    bool m_snapshotAsked = false;
    QByteArray m_cache;
    QElapsedTimer m_cacheAge;
};

MetricsServer::MetricsServer(SnapshotFn snapshot, QObject *parent)
    : QObject(parent), m_snapshot(std::move(snapshot))
{
    m_thread.setObjectName(QStringLiteral("sashad-metrics"));
}

MetricsServer::~MetricsServer()
{
    if (m_worker) {
        QMetaObject::invokeMethod(m_worker, [w = m_worker] { w->close(); }, Qt::BlockingQueuedConnection);
        m_thread.quit();
        m_thread.wait();
        delete m_worker;
    }
}

std::optional<QString> MetricsServer::configure(const MetricsSettings &settings)
{
    if (settings == m_settings && m_listening == settings.enabled)
        return std::nullopt;
    if (!settings.enabled) {
        if (m_worker)
            QMetaObject::invokeMethod(m_worker, [w = m_worker] { w->close(); }, Qt::BlockingQueuedConnection);
        if (m_listening)
            qCInfo(lcControl, "metrics endpoint %s closed", qPrintable(m_bound));
        m_listening = false;
        m_bound.clear();
        m_settings = settings;
        return std::nullopt;
    }
    if (!m_worker) {
        m_worker = new MetricsHttpWorker(this);
        m_worker->moveToThread(&m_thread);
        connect(&m_thread, &QThread::started, m_worker, [] { yieldToRingThread(); });
        m_thread.start();
    }
    QString error, bound;
    QMetaObject::invokeMethod(
        m_worker, [&] { error = m_worker->listen(settings.address, settings.port, &bound); },
        Qt::BlockingQueuedConnection);
    const QString wanted = QStringLiteral("%1:%2").arg(ipv4ToString(settings.address)).arg(settings.port);
    if (!error.isEmpty()) {
        return QStringLiteral("[metrics] listen = \"%1\": cannot listen there (%2); choose a free port on an address "
                              "of this host%3")
            .arg(wanted, error, m_listening ? QStringLiteral(" (still serving on %1)").arg(m_bound) : QString());
    }
    m_settings = settings;
    m_listening = true;
    m_bound = bound;
    qCInfo(lcControl, "metrics endpoint on http://%s/metrics", qPrintable(m_bound));
    return std::nullopt;
}

void MetricsServer::takeSnapshot()
{
    if (!m_worker)
        return;
    QMetaObject::invokeMethod(m_worker, [w = m_worker, input = m_snapshot()] { w->onSnapshot(input); },
                              Qt::QueuedConnection);
}

QJsonObject MetricsServer::statusJson() const
{
    if (!m_listening)
        return {};
    return QJsonObject{{QStringLiteral("listen"), m_bound},
                       {QStringLiteral("scrapes"), qint64(m_scrapes.load(std::memory_order_relaxed))},
                       {QStringLiteral("refused"), qint64(m_refused.load(std::memory_order_relaxed))}};
}

} // namespace sasha
