#pragma once
// The agent's check of its local service (paper §3.3: "all HTTP response codes other than the
// 200 family imply an error and the server could be taken out of the active pool"). Every
// `interval` it sends an HTTP GET to `url`; a 2xx answer within `timeout` is a success, anything
// else (other status, refused, reset, timeout) a failure. Like HAProxy's `rise`/`fall`, the
// health changes only after `rise` consecutive successes (to Healthy) or `fall` consecutive
// failures (to Unhealthy); it starts Unknown, so the first verdict needs rise or fall checks.
// sashad puts the health in its token status (NodeStatus::health); the dispatcher takes an
// Unhealthy server out of the pool until it is Healthy again.
//
// Thread: a QObject of the thread that creates it (the daemon's main thread). One request at a
// time; the next check starts `interval` after the previous one started (or at once if the
// previous one took longer). Proxies are never used: the check targets the node itself.

#include "tokenbeat/types.h"

#include <QElapsedTimer>
#include <QNetworkReply>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <QUrl>

class QNetworkAccessManager;

namespace sasha {

struct HealthCheckConfig {
    QUrl url{QStringLiteral("http://127.0.0.1:80/health")}; // the lab's nginx answers 200 "ok" there
    int intervalMs = 500; // between check starts
    int timeoutMs = 400;  // one check's budget (connect + answer)
    int rise = 2;         // consecutive successes to become Healthy
    int fall = 3;         // consecutive failures to become Unhealthy
};

class HealthChecker : public QObject {
    Q_OBJECT
public:
    explicit HealthChecker(HealthCheckConfig config = {}, QObject *parent = nullptr);
    ~HealthChecker() override;

    void start();  // first check at once
    void stop();   // aborts a check in flight; health stays as it was
    bool isRunning() const { return m_timer.isActive() || m_reply; }

    tb::Health health() const { return m_health; }
    const HealthCheckConfig &config() const { return m_config; }
    quint64 checks() const { return m_checks; }

Q_SIGNALS:
    void healthChanged(sasha::tb::Health health);
    // Every finished check: ok = 2xx in time; httpStatus 0 when there was no HTTP answer;
    // error = what went wrong (empty when ok); latencyMs = start to finish.
    void checkFinished(bool ok, int httpStatus, const QString &error, qint64 latencyMs);

private:
    void runCheck();
    void onFinished();
    void record(bool ok);

    HealthCheckConfig m_config;
    QNetworkAccessManager *m_manager;
    QPointer<QNetworkReply> m_reply;
    QTimer m_timer;
    QElapsedTimer m_started;
    tb::Health m_health = tb::Health::Unknown;
    int m_successes = 0, m_failures = 0;
    quint64 m_checks = 0;
};

} // namespace sasha
