#include "agent/healthchecker.h"

#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkReply>
#include <QNetworkRequest>

#include <algorithm>

namespace sasha {

HealthChecker::HealthChecker(HealthCheckConfig config, QObject *parent)
    : QObject(parent), m_config(std::move(config)), m_manager(new QNetworkAccessManager(this))
{
    m_config.intervalMs = std::max(1, m_config.intervalMs);
    m_config.timeoutMs = std::max(1, m_config.timeoutMs);
    m_config.rise = std::max(1, m_config.rise);
    m_config.fall = std::max(1, m_config.fall);
    m_manager->setProxy(QNetworkProxy::NoProxy);
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &HealthChecker::runCheck);
}

HealthChecker::~HealthChecker()
{
    stop();
}

void HealthChecker::start()
{
    if (isRunning())
        return;
    m_timer.start(0);
}

void HealthChecker::stop()
{
    m_timer.stop();
    if (QNetworkReply *r = m_reply) {
        m_reply = nullptr; // onFinished ignores a reply it no longer waits for
        r->abort();
        r->deleteLater();
    }
}

void HealthChecker::runCheck()
{
    QNetworkRequest request(m_config.url);
    request.setTransferTimeout(m_config.timeoutMs);
    // A cached answer would hide a failing server; a redirect is an answer of its own (3xx is a
    // failure: the paper's rule is "the 200 family"), never followed.
    request.setAttribute(QNetworkRequest::CacheLoadControlAttribute, QNetworkRequest::AlwaysNetwork);
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    request.setRawHeader("User-Agent", "sashad-health");
    m_started.start();
    m_reply = m_manager->get(request);
    connect(m_reply, &QNetworkReply::finished, this, &HealthChecker::onFinished);
}

void HealthChecker::onFinished()
{
    auto *reply = qobject_cast<QNetworkReply *>(sender());
    if (!reply)
        return;
    reply->deleteLater();
    if (reply != m_reply)
        return; // aborted by stop()
    m_reply = nullptr;
    const qint64 latency = m_started.elapsed();
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const bool ok = status >= 200 && status < 300 && reply->error() == QNetworkReply::NoError;
    QString error;
    if (!ok) {
        if (reply->error() == QNetworkReply::OperationCanceledError)
            error = QStringLiteral("no answer within %1 ms").arg(m_config.timeoutMs);
        else if (status)
            error = QStringLiteral("HTTP %1").arg(status);
        else
            error = reply->errorString();
    }
    ++m_checks;
    // Armed before the signals so that a slot may stop() the checker.
    m_timer.start(int(std::max<qint64>(0, m_config.intervalMs - latency)));
    record(ok);
    Q_EMIT checkFinished(ok, status, error, latency);
}

void HealthChecker::record(bool ok)
{
    if (ok) {
        m_failures = 0;
        m_successes = std::min(m_successes + 1, m_config.rise);
    } else {
        m_successes = 0;
        m_failures = std::min(m_failures + 1, m_config.fall);
    }
    tb::Health next = m_health;
    if (m_successes >= m_config.rise)
        next = tb::Health::Healthy;
    else if (m_failures >= m_config.fall)
        next = tb::Health::Unhealthy;
    if (next != m_health) {
        m_health = next;
        Q_EMIT healthChanged(m_health);
    }
}

} // namespace sasha
