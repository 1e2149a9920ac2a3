#pragma once
// Servers that left the ring but may still be serving (issue 8, docs/dispatcher.md "Membership
// changes"). A node leaves the ring when its sashad stops (graceful leave), crashes, or loses the
// ring network; none of that says its web server stopped. So the dispatcher does not cut such a
// server's flows: it keeps it in the server table as *departed* (no new flows, existing flows still
// forwarded) and decides on evidence it gathers itself, without the server's agent:
//  - its own probe of the server's service: the [health] check (same path, port, interval,
//    timeout, rise and fall) sent to the server's address instead of the agent's 127.0.0.1. When
//    the probe says Unhealthy (`fall` failures in a row) the server is dead: serverDead(), and its
//    flows are dropped and counted (serverGone) as soon as the next table leaves it out;
//  - its flows: once it has had no active flow for kDrainedMs it is drained and is let go
//    (serverDrained()), because there is nothing left to keep;
//  - it rejoins the ring: it is a member again (forget()).
// A whole node crash (web server gone too) costs no new connection either way: a departed server
// takes no new flows from the moment the ring drops it.
//
// Thread: the daemon's main thread. The probes are HealthCheckers (QNetworkAccessManager); a test
// may inject its own probe factory.

#include "agent/healthchecker.h"
#include "fastpath/flowkey.h"
#include "tokenbeat/types.h"

#include <QObject>

#include <functional>
#include <map>
#include <memory>

namespace sasha {

class DepartedServers : public QObject {
    Q_OBJECT
public:
    // How long a departed server must have had no active flow before it is let go.
    static constexpr qint64 kDrainedMs = 3000;

    // Builds the probe of one departed server (not started). The default sends the [health]
    // check to the server's address: probeConfigFor().
    using ProbeFactory = std::function<std::unique_ptr<HealthChecker>(tb::NodeAddr server)>;
    explicit DepartedServers(ProbeFactory probes, QObject *parent = nullptr);
    ~DepartedServers() override;

    // The agent's [health] check aimed at `server` instead of the local host (same scheme, port,
    // path, interval, timeout, rise and fall).
    static HealthCheckConfig probeConfigFor(const HealthCheckConfig &local, tb::NodeAddr server);

    struct Server {
        std::uint16_t slot = 0;
        MacAddress mac{};
        qint64 sinceMs = 0;            // when it left, on the caller's clock
        qint64 idleSinceMs = -1;       // first tick with no active flow, -1 while it has some
        std::unique_ptr<HealthChecker> probe;
    };

    // A server left the ring (nothing if already known): keep forwarding its flows, probe it.
    void add(tb::NodeAddr server, std::uint16_t slot, const MacAddress &mac, qint64 nowMs);
    // It is a member again, or its flows are of no use any more: no more probing.
    void forget(tb::NodeAddr server);
    void clear() { m_servers.clear(); }
    // Once a second: activeFlows(slot) of each departed server. Emits serverDrained for those
    // with none for kDrainedMs (they are removed first).
    void tick(qint64 nowMs, const std::function<std::uint32_t(std::uint16_t slot)> &activeFlows);

    bool contains(tb::NodeAddr server) const { return m_servers.count(server) != 0; }
    bool empty() const { return m_servers.empty(); }
    const std::map<tb::NodeAddr, Server> &servers() const { return m_servers; }
    // The probe's verdict so far: unknown (no verdict yet), healthy or unhealthy.
    tb::Health probeHealth(tb::NodeAddr server) const;

Q_SIGNALS:
    // The server was removed from the set; the caller republishes the table without it.
    void serverDead(sasha::tb::NodeAddr server, const QString &why);
    void serverDrained(sasha::tb::NodeAddr server);

private:
    ProbeFactory m_probes;
    std::map<tb::NodeAddr, Server> m_servers;
};

} // namespace sasha
