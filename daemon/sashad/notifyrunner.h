#pragma once
// NotifyRunner: runs the [notify] scripts (docs/config.md "[notify]"), like keepalived's
// notify_master/notify_backup. The daemon hands it events (notify()); for each it queues the
// event's own script, then the catch-all `script`. The scripts run one at a time, in order, on a
// worker thread of their own (a QProcess there, in that thread's event loop), never on the
// ring's thread: a slow or hung script cannot delay the token. Each runs in its own process
// group (setsid) with stdout discarded; one still running after [notify] timeout_ms is killed
// with its whole group (SIGKILL). The queue is bounded ([notify] queue scripts waiting, the
// running one included): an event that finds it full is dropped, counted and logged. A failure
// (non-zero exit, killed, timeout, cannot start) is logged with the tail of the script's stderr
// and counted; the counters are the status JSON's "notify".
//
// Arguments: EVENT NODE ROLE. Environment: the daemon's, plus SASHA_EVENT, SASHA_NODE,
// SASHA_ROLE, SASHA_OLD_ROLE, SASHA_HEALTH, SASHA_MEMBER, SASHA_EPOCH, SASHA_SELF, SASHA_NAME,
// SASHA_DETAIL, SASHA_TIME_MS (NotifyEvent says what each holds).
//
// Thread: created and used on the daemon's main thread; the worker thread is its own.

#include "config/nodesettings.h"

#include <QJsonObject>
#include <QObject>
#include <QThread>

namespace sasha {

class NotifyWorker;

struct NotifyEvent {
    QString event;   // role-changed, member-joined, member-left, member-lost, health-changed
    QString node;    // the node the event is about (this node for role and health)
    QString role;    // this node's role after the event: dispatcher, server, standalone, observer, none
    QString oldRole; // role-changed: the role before; else empty
    QString health;  // health-changed: healthy, unhealthy, unknown, draining; else empty
    quint32 epoch = 0; // the ring epoch this node is in (0: none)
    QString self;    // this node's ring address
    QString name;    // [node] name
    QString detail;  // the event log's human text
    qint64 wallMs = 0;
    // member-* events: SASHA_MEMBER is node.
    bool isMemberEvent() const { return event.startsWith(QLatin1String("member-")); }
};

class NotifyRunner : public QObject {
    Q_OBJECT
public:
    explicit NotifyRunner(NotifySettings settings, QObject *parent = nullptr);
    ~NotifyRunner() override; // kills a running script's group; queued ones never run

    // Reload: the next scripts queued use these; a running one keeps its own timeout.
    void setSettings(const NotifySettings &settings);
    const NotifySettings &settings() const { return m_settings; }
    // Queues the scripts for e (none configured: nothing). Returns how many were dropped.
    int notify(const NotifyEvent &e);

    quint64 started() const { return m_started; }
    quint64 failed() const { return m_failed; }
    quint64 timedOut() const { return m_timedOut; }
    quint64 dropped() const { return m_dropped; }
    int pending() const { return m_pending; }
    // {"started","ok","failed","timedOut","dropped","pending"}
    QJsonObject statusJson() const;

Q_SIGNALS:
    // One script ended (main thread): ok = exit 0 in time; why names the failure.
    void scriptFinished(const QString &script, const QString &event, bool ok, const QString &why);

private:
    friend class NotifyWorker;
    void onFinished(const QString &script, const QString &event, bool ok, bool timedOut, const QString &why);

    NotifySettings m_settings;
    QThread m_thread;
    NotifyWorker *m_worker = nullptr; // lives in m_thread; deleted when it finishes
    int m_pending = 0;                // queued or running, counted here on the main thread
    quint64 m_started = 0, m_ok = 0, m_failed = 0, m_timedOut = 0, m_dropped = 0;
};

} // namespace sasha
