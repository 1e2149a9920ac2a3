#pragma once
// SystemdNotifier: what sashad tells systemd when the unit says Type=notify and WatchdogSec=
// (packaging/sashad.service.in, docs/packaging.md). It speaks through libsystemd's sd_notify;
// started any other way (no NOTIFY_SOCKET) every message goes nowhere and costs one getenv.
//   READY=1     once: the config is loaded and the node is in a ring (Member) or observing one
//   STATUS=...  when the node's role or ring changes ("dispatcher, ring of 5, epoch 12")
//   STOPPING=1  when a stop (SIGTERM/SIGINT) begins
//   WATCHDOG=1  from beat(), which sashad calls on the thread that relays the token after each
//               datagram and timer tick the TokenBeat core handled (RingDriver::setHeartbeat):
//               a hung ring thread stops feeding, and systemd restarts it after WatchdogSec.
// Thread: one instance, used from the ring's thread only.

#include "tokenbeat/types.h"

#include <QString>

#include <functional>

namespace sasha {

class SystemdNotifier {
public:
    // Sends one notification ("READY=1", ...); returns sd_notify's result (< 0 error, 0 no
    // systemd, > 0 sent).
    using Send = std::function<int(const QByteArray &state)>;
    // The watchdog interval systemd asked for (sd_watchdog_enabled), 0 when none.
    using WatchdogInterval = std::function<tb::Time()>;

    // Defaults: libsystemd's sd_notify and sd_watchdog_enabled. Tests pass fakes.
    explicit SystemdNotifier(Send send = {}, WatchdogInterval interval = {});

    // WATCHDOG_USEC as systemd passed it; 0 = no watchdog. Read once, at construction.
    tb::Time watchdogInterval() const { return m_interval; }
    // How often beat() must run at least: half the interval (sd_watchdog_enabled(3)); 0 = never.
    tb::Time beatEvery() const { return m_interval / 2; }

    // READY=1 with a STATUS= line; only the first call sends.
    void ready(const QString &status);
    bool isReady() const { return m_ready; }
    // STATUS=...; an unchanged line is not sent again.
    void status(const QString &status);
    void stopping();
    // WATCHDOG=1 when at least beatEvery() has passed since the last one (the first call sends).
    void beat(tb::Time now);
    quint64 watchdogSent() const { return m_watchdogSent; }

private:
    Send m_send;
    tb::Time m_interval{0};
    bool m_ready = false;
    QString m_status;
    tb::Time m_lastBeat{-1};
    quint64 m_watchdogSent = 0;
};

} // namespace sasha
