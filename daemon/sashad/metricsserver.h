#pragma once
// MetricsServer: sashad's Prometheus endpoint ([metrics] listen; docs/metrics.md). HTTP/1.x,
// GET or HEAD of /metrics (a query string is ignored); 404 for any other path, 405 for any
// other method, 400 for what is not an HTTP request, 431 for a request head over
// kMaxRequestBytes. Every answer closes the connection.
//
// Threads. The HTTP work (accepting, reading, parsing, rendering the page, writing) runs on a
// thread of its own at a lower priority (yieldToRingThread), never on the daemon's main thread,
// which relays the token. The main thread only takes the snapshot (SnapshotFn: a copy of the
// status the control socket serves, and DaemonMetrics) when asked, at most once per
// kSnapshotMaxAgeMs however many clients ask: a fresher page is served from the cache.
// Slow or junk clients cost only the HTTP thread: at most kMaxClients at a time (more are
// closed at once), each closed kClientDeadlineMs after it connected whatever it did.
//
// configure() is the one place the listener starts, moves or stops, so a reload can call it again.

#include "config/nodesettings.h"
#include "metrics/metricsrender.h"

#include <QJsonObject>
#include <QObject>
#include <QThread>

#include <atomic>
#include <functional>
#include <optional>

namespace sasha {

class MetricsHttpWorker;

class MetricsServer : public QObject {
    Q_OBJECT
public:
    static constexpr int kMaxRequestBytes = 8192;
    static constexpr int kMaxClients = 16;
    static constexpr int kClientDeadlineMs = 5000;
    static constexpr int kSnapshotMaxAgeMs = 500;

    // Called on this object's thread (the daemon's main thread) for each fresh page.
    using SnapshotFn = std::function<MetricsInput()>;

    explicit MetricsServer(SnapshotFn snapshot, QObject *parent = nullptr);
    ~MetricsServer() override;

    // Starts, moves or stops the listener as `settings` says (enabled = false stops it). On
    // failure (the address is in use, not on this host) the previous listener is kept and the
    // error names the key and what to fix. Calling it again with the same settings does nothing.
    std::optional<QString> configure(const MetricsSettings &settings);
    bool isListening() const { return m_listening; }
    // "address:port" actually bound (the OS's choice for port 0); empty when off.
    QString listenAddress() const { return m_bound; }
    // The status JSON's "metrics": {"listen", "scrapes", "refused"}; empty when off.
    QJsonObject statusJson() const;

private:
    friend class MetricsHttpWorker;
    void takeSnapshot(); // main thread, asked by the worker

    SnapshotFn m_snapshot;
    QThread m_thread;
    MetricsHttpWorker *m_worker = nullptr; // lives in m_thread; deleted after it stops
    MetricsSettings m_settings;
    bool m_listening = false;
    QString m_bound;
    // Written by the worker, read by statusJson().
    std::atomic<quint64> m_scrapes{0}, m_refused{0};
};

} // namespace sasha
