#include "config/nodesettings.h"

#include "agent/connmessages.h" // kMaxServicePorts

#include "tokenbeat/envelope.h" // kMinKeySize

#include <QHostAddress>
#include <QRegularExpression>
#include <QStringList>

#include <algorithm>

namespace sasha {

QString ConfigError::toString() const
{
    QString out = file;
    if (line > 0)
        out += QLatin1Char(':') + QString::number(line);
    out += QStringLiteral(": ");
    if (!key.isEmpty())
        out += key + QStringLiteral(": ");
    out += message;
    return out;
}

tb::NodeConfig NodeSettings::toNodeConfig(quint64 bootEpoch) const
{
    tb::NodeConfig c;
    c.self = address;
    c.endpoint = endpoint();
    c.caps = caps;
    c.seeds = seeds;
    c.broadcast = broadcast;
    c.key = key;
    c.bootEpoch = bootEpoch;
    c.timers = timers;
    return c;
}

QByteArray decodeClusterKey(const QByteArray &content, QString *why)
{
    const auto fail = [why](const QString &m) {
        if (why)
            *why = m + QStringLiteral(" (generate a key with: sashactl keygen --output FILE)");
        return QByteArray();
    };
    const QByteArray trimmed = content.trimmed();
    if (trimmed.isEmpty())
        return fail(QStringLiteral("the key file is empty"));
    const bool isHex = std::all_of(trimmed.begin(), trimmed.end(), [](char ch) {
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    });
    if (isHex && trimmed.size() < 2 * tb::kMinKeySize)
        return fail(QStringLiteral("the key is %1 hex digits, which is %2 bytes; at least %3 bytes (%4 hex digits) are needed")
                        .arg(trimmed.size()).arg(QString::number(double(trimmed.size()) / 2)).arg(tb::kMinKeySize)
                        .arg(2 * tb::kMinKeySize));
    if (isHex && trimmed.size() % 2 != 0)
        return fail(QStringLiteral("the key is %1 hex digits, an odd number; a hex key has two digits per byte")
                        .arg(trimmed.size()));
    const QByteArray key = isHex ? QByteArray::fromHex(trimmed) : content;
    if (key.size() < tb::kMinKeySize)
        return fail(QStringLiteral("key is %1 bytes; at least %2 are needed").arg(key.size()).arg(tb::kMinKeySize));
    return key;
}

std::optional<quint32> parseIpv4(const QString &text)
{
    // QHostAddress accepts shorthand like "10.1" and "0x7f.1"; a config file should not.
    const QStringList parts = text.split(QLatin1Char('.'));
    if (parts.size() != 4)
        return std::nullopt;
    quint32 ip = 0;
    for (const QString &p : parts) {
        if (p.isEmpty() || p.size() > 3
            || !std::all_of(p.begin(), p.end(), [](QChar c) { return c.isDigit(); }))
            return std::nullopt;
        const int v = p.toInt();
        if (v > 255)
            return std::nullopt;
        ip = (ip << 8) | quint32(v);
    }
    return ip;
}

QString ipv4ToString(quint32 ip)
{
    return QHostAddress(ip).toString();
}

std::optional<std::array<quint8, 6>> parseMac(const QString &text)
{
    const QStringList parts = text.split(QRegularExpression(QStringLiteral("[:-]")));
    if (parts.size() != 6)
        return std::nullopt;
    std::array<quint8, 6> mac{};
    for (int i = 0; i < 6; ++i) {
        bool ok = false;
        const uint v = parts[i].toUInt(&ok, 16);
        if (!ok || parts[i].size() != 2 || v > 0xff)
            return std::nullopt;
        mac[size_t(i)] = quint8(v);
    }
    return mac;
}

QString macToString(const std::array<quint8, 6> &mac)
{
    return QByteArray(reinterpret_cast<const char *>(mac.data()), 6).toHex(':');
}

std::optional<tb::Endpoint> parseHostPort(const QString &text, quint16 defaultPort)
{
    const qsizetype colon = text.indexOf(QLatin1Char(':'));
    const QString host = colon < 0 ? text : text.left(colon);
    const auto ip = parseIpv4(host);
    if (!ip || *ip == 0)
        return std::nullopt;
    quint16 port = defaultPort;
    if (colon >= 0) {
        bool ok = false;
        const uint p = text.mid(colon + 1).toUInt(&ok);
        if (!ok || p < 1 || p > 65535)
            return std::nullopt;
        port = quint16(p);
    }
    return tb::Endpoint{*ip, port};
}

int ServiceSettings::portCount() const
{
    int n = 0;
    for (const auto &[first, last] : ports)
        n += int(last) - int(first) + 1;
    return n;
}

QString ServiceSettings::portsText() const
{
    QStringList out;
    for (const auto &[first, last] : ports)
        out << (first == last ? QString::number(first) : QStringLiteral("%1-%2").arg(first).arg(last));
    return out.join(QStringLiteral(", "));
}

QString schedulerText(SchedulerKind kind)
{
    switch (kind) {
    case SchedulerKind::Maglev: return QStringLiteral("maglev");
    case SchedulerKind::WeightedLeastConnections: return QStringLiteral("wlc");
    case SchedulerKind::RoundRobin: return QStringLiteral("rr");
    }
    return QStringLiteral("unknown");
}

std::vector<quint32> DispatcherSettings::vips() const
{
    std::vector<quint32> out;
    for (const ServiceSettings &s : services)
        if (std::find(out.begin(), out.end(), s.vip) == out.end())
            out.push_back(s.vip);
    if (out.empty() && vip != 0)
        out.push_back(vip);
    return out;
}

bool DispatcherSettings::hasNat() const
{
    return std::any_of(services.begin(), services.end(),
                       [](const ServiceSettings &s) { return s.mode == ServiceSettings::Mode::Nat; });
}

std::vector<quint32> DispatcherSettings::announcedAddresses() const
{
    std::vector<quint32> out = vips();
    if (hasNat() && gateway != 0)
        out.push_back(gateway);
    return out;
}

namespace {
std::vector<std::pair<quint32, quint16>> portsOf(const std::vector<ServiceSettings> &services,
                                                 ServiceSettings::Protocol protocol)
{
    std::vector<std::pair<quint32, quint16>> out;
    for (const ServiceSettings &s : services) {
        if (s.protocol != protocol)
            continue;
        for (const auto &[first, last] : s.ports)
            for (int p = first; p <= last; ++p)
                if (std::find(out.begin(), out.end(), std::pair{s.vip, quint16(p)}) == out.end())
                    out.emplace_back(s.vip, quint16(p));
    }
    return out;
}
} // namespace

std::vector<std::pair<quint32, quint16>> DispatcherSettings::reportedPorts() const
{
    return portsOf(services, ServiceSettings::Protocol::Tcp);
}

std::vector<std::pair<quint32, quint16>> DispatcherSettings::reportedUdpPorts() const
{
    std::vector<std::pair<quint32, quint16>> out = portsOf(services, ServiceSettings::Protocol::Udp);
    if (out.size() > std::size_t(kMaxServicePorts))
        out.resize(std::size_t(kMaxServicePorts)); // the loader refuses more; the legacy form's
    return out;
}

void fillServicePolicy(const DispatcherSettings &d, DispatchPolicy &policy)
{
    const std::vector<quint32> vips = d.vips();
    policy.vipCount = 0;
    for (quint32 v : vips)
        if (policy.vipCount < kMaxVips)
            policy.vips[policy.vipCount++] = v;
    if (!vips.empty())
        policy.vip = vips.front();
    policy.ruleCount = 0;
    policy.serviceCount = 0;
    policy.nat = false;
    policy.udpIdlePerService = false;
    for (const ServiceSettings &svc : d.services) {
        if (policy.serviceCount >= kMaxServices)
            break;
        const std::uint8_t index = policy.serviceCount++;
        policy.services[index].scheduler = svc.scheduler;
        policy.services[index].persistence = FastTime(std::int64_t(svc.persistenceS) * 1'000'000);
        policy.services[index].mode = svc.mode == ServiceSettings::Mode::Nat ? ForwardMode::Nat : ForwardMode::Direct;
        if (svc.mode == ServiceSettings::Mode::Nat)
            policy.nat = true;
        policy.services[index].udpIdle = FastTime(std::int64_t(svc.udpIdleS) * 1'000'000);
        if (svc.udpIdleS > 0)
            policy.udpIdlePerService = true;
        for (const auto &[first, last] : svc.ports) {
            if (policy.ruleCount >= kMaxServiceRules)
                break;
            ServiceRule &r = policy.rules[policy.ruleCount++];
            r.vip = svc.vip;
            r.portFirst = first;
            r.portLast = last;
            r.protocol = svc.protocol == ServiceSettings::Protocol::Tcp ? kIpProtoTcp : kIpProtoUdp;
            r.service = index;
        }
    }
}

quint32 clusterWeight(const DispatcherSettings &d, const std::map<quint32, quint32> &operatorWeights, quint32 server)
{
    if (const auto op = operatorWeights.find(server); op != operatorWeights.end())
        return op->second;
    const auto w = d.weights.find(server);
    return w == d.weights.end() ? 1 : w->second;
}

std::vector<ServiceWeight> serviceWeightOverrides(const DispatcherSettings &d,
                                                  const std::map<quint32, quint32> &operatorWeights)
{
    std::vector<ServiceWeight> out;
    for (std::size_t i = 0; i < d.services.size() && i < kMaxServices; ++i) {
        for (const auto &[server, weight] : d.services[i].weights) {
            if (weight == 0 || !operatorWeights.count(server))
                out.push_back({std::uint8_t(i), server, weight});
        }
    }
    return out;
}

} // namespace sasha
