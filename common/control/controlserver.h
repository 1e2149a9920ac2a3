#pragma once
// ControlServer: the daemon's end of the control protocol (controlprotocol.h) on a Unix socket.
// The socket is created 0600 in a 0700 directory: only its owner (root for the packaged daemon)
// may talk to it. Lives in the daemon's main thread; everything it serves comes from callbacks
// run in that thread.

#include "control/controlprotocol.h"
#include "control/eventlog.h"

#include <QObject>
#include <QPointer>
#include <QTimer>

#include <functional>
#include <optional>

class QLocalServer;
class QLocalSocket;

namespace sasha {

class ControlServer : public QObject {
    Q_OBJECT
public:
    using StatusFn = std::function<ControlStatus()>;
    // The "fault" command answers later (when the target node replies): the handler calls
    // answer exactly once, from this thread; an answer for a client gone meanwhile is dropped.
    using AnswerFn = std::function<void(const QJsonObject &)>;
    // The answer to {"cmd":"connections","limit":N}: {"connections":[...], ...}, given later
    // the same way, as the whole answer line already encoded (controlLine()): the flow table is
    // copied, turned into JSON and serialised off this thread (100k flows are ~10 MB of JSON, far
    // beyond a token timeout's worth of work for the thread that relays the token).
    using LineAnswerFn = std::function<void(const QByteArray &line)>;
    using ConnectionsFn = std::function<void(int limit, LineAnswerFn answer)>;
    using FaultFn = std::function<void(const ControlRequest &request, AnswerFn answer)>;
    // "drain", "undrain" and "weight" (ControlRequest::isAdmin) answer the same way.
    using AdminFn = FaultFn;
    // "handover" (the dispatcher hands its role to the ring's next choice) answers the same way.
    using HandoverFn = FaultFn;
    // "reload" (re-read the config file) answers the same way.
    using ReloadFn = FaultFn;

    // status is called for every status/members/counters request and every watch tick; log is
    // not owned and must outlive the server.
    ControlServer(StatusFn status, const EventLog *log, QObject *parent = nullptr);
    ~ControlServer() override;

    // Creates the parent directory (0700) if missing, removes a stale socket left by a crashed
    // daemon (only if nobody answers on it) and listens. Returns an error message on failure.
    std::optional<QString> listen(const QString &path);
    void close();
    // Without one, "connections" answers with an error.
    void setConnectionsFn(ConnectionsFn fn) { m_connections = std::move(fn); }
    // Without one, "fault" answers with an error.
    void setFaultFn(FaultFn fn) { m_fault = std::move(fn); }
    // Without one, "drain", "undrain" and "weight" answer with an error.
    void setAdminFn(AdminFn fn) { m_admin = std::move(fn); }
    // Without one, "handover" answers with an error.
    void setHandoverFn(HandoverFn fn) { m_handover = std::move(fn); }
    // Without one, "reload" answers with an error.
    void setReloadFn(ReloadFn fn) { m_reload = std::move(fn); }
    QString path() const { return m_path; }

    // Streams an event to every "watch" client.
    void publish(const ControlEvent &e);

    quint64 requestsServed() const { return m_served; }
    quint64 badRequests() const { return m_bad; }
    int watcherCount() const;

private:
    void onNewConnection();
    void onReadyRead(QLocalSocket *s);
    void answer(QLocalSocket *s, const ControlRequest &r);
    void sendWatchStatus();
    void sendToWatchers(const QByteArray &line);

    StatusFn m_status;
    ConnectionsFn m_connections;
    FaultFn m_fault;
    AdminFn m_admin;
    HandoverFn m_handover;
    ReloadFn m_reload;
    const EventLog *m_log;
    QLocalServer *m_server = nullptr;
    QString m_path;
    QList<QPointer<QLocalSocket>> m_watchers;
    QTimer m_watchTimer;
    quint64 m_served = 0;
    quint64 m_bad = 0;
};

} // namespace sasha
