#include "systemdnotifier.h"

#include <systemd/sd-daemon.h>

namespace sasha {

namespace {
int sdNotify(const QByteArray &state)
{
    return sd_notify(0, state.constData());
}
tb::Time sdWatchdogInterval()
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? tb::Time(qint64(usec)) : tb::Time(0);
}
// STATUS= is one line: a newline would start another assignment.
QByteArray statusLine(const QString &status)
{
    QString s = status;
    s.replace(QLatin1Char('\n'), QLatin1Char(' '));
    return "STATUS=" + s.toUtf8();
}
} // namespace

SystemdNotifier::SystemdNotifier(Send send, WatchdogInterval interval)
    : m_send(send ? std::move(send) : Send(&sdNotify)),
      m_interval(interval ? interval() : sdWatchdogInterval())
{
}

void SystemdNotifier::ready(const QString &status)
{
    if (m_ready)
        return;
    m_ready = true;
    m_status = status;
    m_send("READY=1\n" + statusLine(status));
}

void SystemdNotifier::status(const QString &status)
{
    if (status == m_status)
        return;
    m_status = status;
    m_send(statusLine(status));
}

void SystemdNotifier::stopping()
{
    m_send("STOPPING=1\n" + statusLine(QStringLiteral("leaving the ring")));
}

void SystemdNotifier::beat(tb::Time now)
{
    if (m_interval.count() <= 0)
        return;
    if (m_lastBeat.count() >= 0 && now - m_lastBeat < beatEvery())
        return;
    m_lastBeat = now;
    ++m_watchdogSent;
    m_send("WATCHDOG=1");
}

} // namespace sasha
