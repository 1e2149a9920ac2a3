#include "departedservers.h"

#include "config/nodesettings.h"

namespace sasha {

DepartedServers::DepartedServers(ProbeFactory probes, QObject *parent)
    : QObject(parent), m_probes(std::move(probes))
{
}

DepartedServers::~DepartedServers() = default;

HealthCheckConfig DepartedServers::probeConfigFor(const HealthCheckConfig &local, tb::NodeAddr server)
{
    HealthCheckConfig c = local;
    c.url.setHost(ipv4ToString(server));
    return c;
}

void DepartedServers::add(tb::NodeAddr server, std::uint16_t slot, const MacAddress &mac, qint64 nowMs)
{
    if (m_servers.count(server))
        return;
    Server &s = m_servers[server];
    s.slot = slot;
    s.mac = mac;
    s.sinceMs = nowMs;
    if (m_probes)
        s.probe = m_probes(server);
    if (!s.probe)
        return;
    connect(s.probe.get(), &HealthChecker::healthChanged, this, [this, server](tb::Health h) {
        if (h != tb::Health::Unhealthy)
            return;
        const auto it = m_servers.find(server);
        if (it == m_servers.end())
            return;
        const QUrl url = it->second.probe->config().url;
        // Not deleted inside its own signal: the checker is still on the stack.
        it->second.probe.release()->deleteLater();
        m_servers.erase(it);
        Q_EMIT serverDead(server, QStringLiteral("its service failed the dispatcher's probe (%1)").arg(url.toString()));
    });
    s.probe->start();
}

void DepartedServers::forget(tb::NodeAddr server)
{
    m_servers.erase(server);
}

void DepartedServers::tick(qint64 nowMs, const std::function<std::uint32_t(std::uint16_t slot)> &activeFlows)
{
    std::vector<tb::NodeAddr> drained;
    for (auto &[addr, s] : m_servers) {
        if (activeFlows(s.slot) != 0) {
            s.idleSinceMs = -1;
            continue;
        }
        if (s.idleSinceMs < 0)
            s.idleSinceMs = nowMs;
        if (nowMs - s.idleSinceMs >= kDrainedMs)
            drained.push_back(addr);
    }
    for (tb::NodeAddr a : drained) {
        m_servers.erase(a);
        Q_EMIT serverDrained(a);
    }
}

tb::Health DepartedServers::probeHealth(tb::NodeAddr server) const
{
    const auto it = m_servers.find(server);
    if (it == m_servers.end() || !it->second.probe)
        return tb::Health::Unknown;
    return it->second.probe->health();
}

} // namespace sasha
