#pragma once
// What every sashad runs as a server (paper §3.3–3.4): the ConnectionReporter answering a new
// dispatcher's reconstruction queries, the HealthChecker whose verdict goes into this node's
// token status, and the per-server figures the dispatcher sends (serverstats.h), which go into
// the same status so that every member and observer sees them.
// Thread: the daemon's main thread.

#include "agent/connectionreporter.h"
#include "agent/healthchecker.h"
#include "config/nodesettings.h"
#include "tokenbeat/types.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <memory>

namespace sasha {

class OobRouter;
class RingDriver;

class AgentService : public QObject {
    Q_OBJECT
public:
    AgentService(const NodeSettings &settings, RingDriver &driver, OobRouter &oob, QObject *parent = nullptr);

    // Starts the health checks (if enabled and this node serves).
    void start();
    void stop();
    // Reload: [health] changed in the settings; the checks start over with them (health stays
    // as it was until the new checks' verdict).
    void restartHealthChecks();

    tb::Health health() const { return m_status.health; }
    // Why the node drains. Each reason is held on its own: the token status says Draining whatever
    // the health checks find while any reason holds; when none does, it says the checks' verdict.
    enum class DrainReason : quint8 {
        Fault = 0,    // fault injection (FaultService, [faults] enabled)
        Operator = 1, // sashactl drain (AdminService), persisted across restarts
    };
    void setDraining(DrainReason why, bool on);
    bool isDraining() const { return m_drainReasons != 0; }
    bool isDraining(DrainReason why) const { return m_drainReasons & reasonBit(why); }
    // Every flow the dispatcher holds for this node, closing ones included, as it last reported
    // (serverstats.h); 0 once its reports stop for kStatsStaleMs.
    quint32 openFlows() const { return m_openFlows; }
    const ConnectionReporter &reporter() const { return m_reporter; }

Q_SIGNALS:
    // For the event log: kind is kebab-case ("health-changed", "connections-reported", ...).
    void logEvent(const QString &kind, const QString &detail);
    // This node's health check changed its verdict (after health() has the new one).
    void healthChanged(sasha::tb::Health health);

private:
    void startHealthChecks();
    void onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload);
    void pushStatus();

    const NodeSettings &m_settings;
    RingDriver &m_driver;
    ConnectionReporter m_reporter;
    std::unique_ptr<HealthChecker> m_health;
    tb::NodeStatus m_status;
    static quint8 reasonBit(DrainReason why) { return quint8(1u << quint8(why)); }

    QTimer m_statsExpiry; // the dispatcher's figures go stale when it stops sending them
    quint32 m_openFlows = 0;
    tb::NodeAddr m_lastDispatcher = tb::kNoNode; // the view's last dispatcher (none: never one)
    quint8 m_drainReasons = 0; // bit per DrainReason
};

} // namespace sasha
