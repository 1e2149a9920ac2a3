#include "agentservice.h"

#include "config/logcategories.h"
#include "oobrouter.h"
#include "serverstats.h"
#include "transport/ringdriver.h"

#include <QNetworkInterface>

namespace sasha {
namespace {
// Three missed per-second updates: the dispatcher is gone or no longer counts us.
constexpr int kStatsStaleMs = 3000;

std::array<quint8, 6> interfaceMac(const QString &name)
{
    std::array<quint8, 6> mac{};
    if (name.isEmpty())
        return mac;
    if (const auto m = parseMac(QNetworkInterface::interfaceFromName(name).hardwareAddress()))
        mac = *m;
    return mac;
}

HealthCheckConfig healthConfig(const HealthSettings &h)
{
    HealthCheckConfig c;
    c.url = QUrl(h.url);
    c.intervalMs = h.intervalMs;
    c.timeoutMs = h.timeoutMs;
    c.rise = h.rise;
    c.fall = h.fall;
    return c;
}

DeadClientFilter deadClientFilter(const AgentSettings &a)
{
    DeadClientFilter f;
    f.unackedSilenceMs = a.deadUnackedSilenceMs;
    f.maxBackoff = quint8(a.deadMaxBackoff);
    f.maxProbes = quint8(a.deadMaxProbes);
    f.maxIdleMs = a.deadMaxIdleMs;
    return f;
}
// Connections of NAT services end on this node's own address; they are reported as the VIP's.
std::vector<ConnectionDumper::LocalAlias> natAliases(const NodeSettings &settings)
{
    std::vector<ConnectionDumper::LocalAlias> out;
    for (const ServiceSettings &svc : settings.dispatcher.services) {
        if (svc.mode != ServiceSettings::Mode::Nat)
            continue;
        for (const auto &[first, last] : svc.ports)
            for (int p = first; p <= last; ++p)
                out.push_back({settings.address, quint16(p), svc.vip, svc.protocol == ServiceSettings::Protocol::Udp});
    }
    return out;
}
} // namespace

AgentService::AgentService(const NodeSettings &settings, RingDriver &driver, OobRouter &oob, QObject *parent)
    : QObject(parent),
      m_settings(settings),
      m_driver(driver),
      m_reporter(ConnectionDumper(deadClientFilter(settings.agent)),
                 [&oob](tb::NodeAddr to, quint8 channel, const QByteArray &payload) { oob.send(to, channel, payload, true); })
{
    m_reporter.setSelf(settings.address);
    m_reporter.setLocalAliases(natAliases(settings));
    m_reporter.setMac(interfaceMac(settings.interfaceName));
    connect(&oob, &OobRouter::received, &m_reporter, &ConnectionReporter::onOob);
    connect(&oob, &OobRouter::received, this, &AgentService::onOob);
    connect(&m_reporter, &ConnectionReporter::answered, this,
            [this](tb::NodeAddr to, quint32 queryId, int connections, int skippedDead, int parts, qint64 dumpMicros) {
                const QString detail = QStringLiteral("query %1 from %2: %3 connection(s), %4 dead left out, %5 part(s), dump %6 ms")
                                           .arg(queryId).arg(ipv4ToString(to)).arg(connections).arg(skippedDead).arg(parts)
                                           .arg(double(dumpMicros) / 1000.0, 0, 'f', 1);
                qCInfo(lcRing, "connections reported: %s", qPrintable(detail));
                Q_EMIT logEvent(QStringLiteral("connections-reported"), detail);
            });
    connect(&m_reporter, &ConnectionReporter::deadClientsFiltered, this,
            [this](tb::NodeAddr to, quint32 queryId, int spared, const QStringList &samples) {
                const QString detail = QStringLiteral("query %1 from %2: %3 reported although silent (the dispatcher's outage); first: %4")
                                           .arg(queryId).arg(ipv4ToString(to)).arg(spared).arg(samples.join(QStringLiteral("; ")));
                qCInfo(lcRing, "dead-client filter: %s", qPrintable(detail));
                Q_EMIT logEvent(QStringLiteral("dead-clients"), detail);
            });
    // Every client frame reaches this server through the dispatcher: once it is lost, every
    // client is silent until a new one forwards, and the dead-client filter must not take that
    // silence for vanished clients (ConnectionDumper::setDispatcherLostAt).
    connect(&driver, &RingDriver::viewChanged, this, [this] {
        // D -> none -> E counts once, at the first step: the outage began there. A planned
        // handover counts too; its old dispatcher forwards until the new one does, so nothing
        // is silent and nothing is spared.
        const tb::NodeAddr d = m_driver.isRunning() ? m_driver.node().view().dispatcher : tb::kNoNode;
        if (d == m_lastDispatcher)
            return;
        if (m_lastDispatcher != tb::kNoNode)
            m_reporter.dispatcherLost();
        m_lastDispatcher = d;
    });
    connect(&m_reporter, &ConnectionReporter::queryFailed, this, [this](tb::NodeAddr from, const QString &error) {
        qCWarning(lcRing, "reconstruction query from %s failed: %s", qPrintable(ipv4ToString(from)), qPrintable(error));
        Q_EMIT logEvent(QStringLiteral("query-failed"), QStringLiteral("from %1: %2").arg(ipv4ToString(from), error));
    });
    m_statsExpiry.setSingleShot(true);
    m_statsExpiry.setInterval(kStatsStaleMs);
    connect(&m_statsExpiry, &QTimer::timeout, this, [this] {
        m_status.activeConnections = 0;
        m_status.connectionsPerSecond = 0;
        m_openFlows = 0;
        pushStatus();
    });
}

void AgentService::start()
{
    pushStatus(); // a drain restored from the state file before the ring ran
    startHealthChecks();
}

void AgentService::restartHealthChecks()
{
    m_health.reset();
    if (!m_settings.health.enabled && m_status.health != tb::Health::Unknown) {
        m_status.health = tb::Health::Unknown; // as if never checked: able to serve
        pushStatus();
        Q_EMIT healthChanged(m_status.health);
    }
    startHealthChecks();
}

void AgentService::startHealthChecks()
{
    if (!m_settings.health.enabled || !(m_settings.caps & tb::kCanServe))
        return;
    m_health = std::make_unique<HealthChecker>(healthConfig(m_settings.health));
    connect(m_health.get(), &HealthChecker::healthChanged, this, [this](tb::Health h) {
        if (h == m_status.health)
            return; // checks restarted by a reload found what the previous ones had
        const QString detail = QStringLiteral("%1 (%2)").arg(tb::healthToString(h), m_settings.health.url);
        if (h == tb::Health::Healthy)
            qCInfo(lcRing, "health: %s", qPrintable(detail));
        else
            qCWarning(lcRing, "health: %s", qPrintable(detail));
        Q_EMIT logEvent(QStringLiteral("health-changed"), detail);
        m_status.health = h;
        pushStatus();
        Q_EMIT healthChanged(h);
    });
    m_health->start();
}

void AgentService::stop()
{
    if (m_health)
        m_health->stop();
}

void AgentService::onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload)
{
    if (channel != kServerStatsChannel)
        return;
    // Only the current dispatcher's figures count (an abdicating one may still send one).
    if (!m_driver.isRunning() || m_driver.node().view().dispatcher != from)
        return;
    const auto s = decodeServerStats(payload);
    if (!s)
        return;
    m_statsExpiry.start();
    m_openFlows = s->openFlows;
    if (m_status.activeConnections == s->activeFlows && m_status.connectionsPerSecond == s->newPerSecond)
        return;
    m_status.activeConnections = s->activeFlows;
    m_status.connectionsPerSecond = s->newPerSecond;
    pushStatus();
}

void AgentService::setDraining(DrainReason why, bool on)
{
    const quint8 before = m_drainReasons;
    m_drainReasons = on ? quint8(m_drainReasons | reasonBit(why)) : quint8(m_drainReasons & ~reasonBit(why));
    if (m_drainReasons != before)
        pushStatus();
}

void AgentService::pushStatus()
{
    if (!m_driver.isRunning())
        return;
    tb::NodeStatus s = m_status;
    if (isDraining())
        s.health = tb::Health::Draining;
    m_driver.setLocalStatus(s);
}

} // namespace sasha
