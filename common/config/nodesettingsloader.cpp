// The TOML side of NodeSettings: one SectionSpec per table, each listing its accepted keys and
// the function that reads them. A later section ([dispatcher], [agent]) is one more row in
// sectionSpecs() and one more parse function; nothing else changes.

#include "config/nodesettings.h"

#include "config/hostnetwork.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QNetworkInterface>
#include <QStringList>

#include <toml++/toml.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string_view>

namespace sasha {
namespace {

QString typeName(const toml::node &n)
{
    switch (n.type()) {
    case toml::node_type::table: return QStringLiteral("a table");
    case toml::node_type::array: return QStringLiteral("an array");
    case toml::node_type::string: return QStringLiteral("a string");
    case toml::node_type::integer: return QStringLiteral("an integer");
    case toml::node_type::floating_point: return QStringLiteral("a float");
    case toml::node_type::boolean: return QStringLiteral("a boolean");
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: return QStringLiteral("a date/time");
    case toml::node_type::none: break;
    }
    return QStringLiteral("nothing");
}

QString quoted(const QString &s) { return QLatin1Char('"') + s + QLatin1Char('"'); }

// Reads typed values out of one table, remembering the first error. Every getter returns
// nullopt both when the key is absent and on error; ok() tells them apart.
class SectionReader {
public:
    SectionReader(const toml::table &table, QString section, QString file, const HostNetwork *host,
                  std::optional<ConfigError> &error)
        : m_table(table), m_section(std::move(section)), m_file(std::move(file)), m_host(host), m_error(error)
    {
    }

    bool ok() const { return !m_error.has_value(); }
    const QString &file() const { return m_file; }
    bool has(std::string_view key) const { return m_table.contains(key); }
    const toml::node *node(std::string_view key) const { return m_table.get(key); }
    std::size_t tableLine() const { return m_table.source().begin.line; }
    // The host's checks run only when the loader was given one (sashad --check and start).
    const HostNetwork *host() const { return m_host; }

    // Reported at the key's line, or at the table's when the key is absent.
    void fail(std::string_view key, const QString &message)
    {
        failAt(key, key.empty() ? nullptr : m_table.get(key), message);
    }

    // Reported at `at`'s line (an entry inside the key's value), else as fail(key) does.
    void failAt(std::string_view key, const toml::node *at, const QString &message)
    {
        if (m_error)
            return;
        ConfigError e;
        e.file = m_file;
        e.key = QStringLiteral("[%1]").arg(m_section); // "[[service]]" for a service table
        if (!key.empty())
            e.key += QLatin1Char(' ') + QString::fromUtf8(key.data(), qsizetype(key.size()));
        const toml::node *n = at ? at : key.empty() ? nullptr : m_table.get(key);
        const toml::source_region &src = n ? n->source() : m_table.source();
        e.line = int(src.begin.line);
        e.column = int(src.begin.column);
        e.message = message;
        m_error = e;
    }

    std::optional<qint64> integer(std::string_view key, qint64 min, qint64 max)
    {
        const toml::node *n = m_table.get(key);
        if (!n || !ok())
            return std::nullopt;
        const auto v = n->value_exact<int64_t>();
        if (!v) {
            fail(key, QStringLiteral("must be an integer in %1..%2; got %3").arg(min).arg(max).arg(typeName(*n)));
            return std::nullopt;
        }
        if (*v < min || *v > max) {
            fail(key, QStringLiteral("must be in %1..%2; got %3").arg(min).arg(max).arg(*v));
            return std::nullopt;
        }
        return *v;
    }

    std::optional<bool> boolean(std::string_view key)
    {
        const toml::node *n = m_table.get(key);
        if (!n || !ok())
            return std::nullopt;
        const auto v = n->value_exact<bool>();
        if (!v)
            fail(key, QStringLiteral("must be true or false; got %1").arg(typeName(*n)));
        return v;
    }

    std::optional<QString> string(std::string_view key, bool allowEmpty = false)
    {
        const toml::node *n = m_table.get(key);
        if (!n || !ok())
            return std::nullopt;
        const auto v = n->value_exact<std::string>();
        if (!v) {
            fail(key, QStringLiteral("must be a string; got %1").arg(typeName(*n)));
            return std::nullopt;
        }
        const QString s = QString::fromStdString(*v);
        if (!allowEmpty && s.isEmpty()) {
            fail(key, QStringLiteral("must not be empty"));
            return std::nullopt;
        }
        return s;
    }

    std::optional<QStringList> stringArray(std::string_view key)
    {
        const toml::node *n = m_table.get(key);
        if (!n || !ok())
            return std::nullopt;
        const toml::array *arr = n->as_array();
        if (!arr) {
            fail(key, QStringLiteral("must be an array of strings; got %1").arg(typeName(*n)));
            return std::nullopt;
        }
        QStringList out;
        for (const toml::node &item : *arr) {
            const auto v = item.value_exact<std::string>();
            if (!v) {
                fail(key, QStringLiteral("must be an array of strings; has %1").arg(typeName(item)));
                return std::nullopt;
            }
            out << QString::fromStdString(*v);
        }
        return out;
    }

    // An array of integers, each in min..max; at least one element.
    std::optional<std::vector<qint64>> integerArray(std::string_view key, qint64 min, qint64 max)
    {
        const toml::node *n = m_table.get(key);
        if (!n || !ok())
            return std::nullopt;
        const toml::array *arr = n->as_array();
        const QString expected = QStringLiteral("must be a non-empty array of integers in %1..%2").arg(min).arg(max);
        if (!arr || arr->empty()) {
            fail(key, QStringLiteral("%1; got %2").arg(expected, arr ? QStringLiteral("an empty array") : typeName(*n)));
            return std::nullopt;
        }
        std::vector<qint64> out;
        for (const toml::node &item : *arr) {
            const auto v = item.value_exact<int64_t>();
            if (!v || *v < min || *v > max) {
                fail(key, QStringLiteral("%1; has %2").arg(expected, v ? QString::number(*v) : typeName(item)));
                return std::nullopt;
            }
            out.push_back(*v);
        }
        return out;
    }

    // A table nested in this one (e.g. weights = { "10.0.0.2" = 3 }).
    const toml::table *subTable(std::string_view key)
    {
        const toml::node *n = m_table.get(key);
        if (!n || !ok())
            return nullptr;
        if (const toml::table *t = n->as_table())
            return t;
        fail(key, QStringLiteral("must be a table like { \"10.0.0.2\" = 2 }; got %1").arg(typeName(*n)));
        return nullptr;
    }

    // One of the accepted words; the error lists them.
    std::optional<int> choice(std::string_view key, const QStringList &accepted)
    {
        const auto v = string(key);
        if (!v)
            return std::nullopt;
        const int i = int(accepted.indexOf(*v));
        if (i < 0) {
            QStringList q;
            for (const QString &a : accepted)
                q << quoted(a);
            fail(key, QStringLiteral("unknown value %1; accepted: %2").arg(quoted(*v), q.join(QStringLiteral(", "))));
            return std::nullopt;
        }
        return i;
    }

private:
    const toml::table &m_table;
    QString m_section;
    QString m_file;
    const HostNetwork *m_host;
    std::optional<ConfigError> &m_error;
};

// Why ip cannot be a host's own unicast address (a node's ring address, a VIP); empty if it can.
QString notUnicast(quint32 ip)
{
    if ((ip >> 24) == 0)
        return QStringLiteral("is in 0.0.0.0/8 (\"this network\"), not a host's address");
    if ((ip >> 28) == 0xE)
        return QStringLiteral("is a multicast address (224.0.0.0/4), not a host's address");
    if (ip == 0xffffffffu)
        return QStringLiteral("is the broadcast address, not a host's address");
    if ((ip >> 28) == 0xF)
        return QStringLiteral("is in the reserved range 240.0.0.0/4, not a host's address");
    return {};
}

// [node] address must be one of this host's own (the ring socket binds it): on --check and at
// start, where the loader has the host. A lab node checks inside its own network namespace.
void checkAddressIsLocal(SectionReader &r, quint32 address)
{
    if (!r.host())
        return;
    const QString addr = quoted(ipv4ToString(address));
    const QString here = r.host()->addresses().join(QStringLiteral(", "));
    switch (r.host()->addressUse(address)) {
    case HostNetwork::AddressUse::Assigned:
        return;
    case HostNetwork::AddressUse::Broadcast:
        r.fail("address", QStringLiteral("%1 is the broadcast address of an interface here, not an address of this host "
                                         "(addresses here: %2); set this node's own address").arg(addr, here));
        return;
    case HostNetwork::AddressUse::Foreign:
        r.fail("address", QStringLiteral("%1 is not an address of this host (addresses here: %2); set the address this "
                                         "node has on the cluster interface, and check in the node's own network "
                                         "namespace").arg(addr, here));
        return;
    }
}

// A weights table, [dispatcher]'s or a [[service]]'s: { "10.0.0.2" = 3 }, by the servers' ring
// addresses, each 0..65535 (0 = no new flows). False after an error (reported through r).
bool parseWeights(SectionReader &r, std::map<quint32, quint32> &out)
{
    const toml::table *w = r.subTable("weights");
    if (!w)
        return r.ok();
    for (const auto &[k, v] : *w) {
        const QString addr = QString::fromStdString(std::string(k.str()));
        const auto ip = parseIpv4(addr);
        const auto weight = v.value_exact<int64_t>();
        if (!ip) {
            r.failAt("weights", &v, QStringLiteral("entry %1: the key must be a server's IPv4 address like \"10.0.0.2\"")
                                        .arg(quoted(addr)));
            return false;
        }
        if (!weight) {
            r.failAt("weights", &v, QStringLiteral("entry %1: the weight must be an integer 0..65535; got %2")
                                        .arg(quoted(addr), typeName(v)));
            return false;
        }
        if (*weight < 0 || *weight > 65535) {
            r.failAt("weights", &v, QStringLiteral("entry %1 = %2: the weight must be in 0..65535 (0 = no new flows); got %2")
                                        .arg(quoted(addr)).arg(*weight));
            return false;
        }
        out[*ip] = quint32(*weight);
    }
    return true;
}

void parseNode(SectionReader &r, NodeSettings &s)
{
    if (const auto a = r.string("address")) {
        const auto ip = parseIpv4(*a);
        if (!ip)
            r.fail("address", QStringLiteral("must be an IPv4 address like \"10.0.0.2\"; got %1").arg(quoted(*a)));
        else if (const QString why = notUnicast(*ip); !why.isEmpty())
            r.fail("address", QStringLiteral("%1 %2; set this node's own address on the cluster interface, like \"10.0.0.2\"")
                                  .arg(quoted(*a), why));
        else
            s.address = *ip;
    }
    if (const auto i = r.string("interface"))
        s.interfaceName = *i;
    if (const auto p = r.integer("port", 1, 65535))
        s.port = quint16(*p);
    if (const auto caps = r.stringArray("capabilities")) {
        quint8 bits = 0;
        for (const QString &c : *caps) {
            if (c == QLatin1String("dispatch"))
                bits |= tb::kCanDispatch;
            else if (c == QLatin1String("serve"))
                bits |= tb::kCanServe;
            else if (c == QLatin1String("observer"))
                bits |= tb::kObserver;
            else
                r.fail("capabilities", QStringLiteral("unknown capability %1; accepted: \"dispatch\", "
                                                      "\"serve\", \"observer\"").arg(quoted(c)));
        }
        if ((bits & tb::kObserver) && (bits & (tb::kCanDispatch | tb::kCanServe)))
            r.fail("capabilities", QStringLiteral("\"observer\" cannot be combined with \"dispatch\" or \"serve\""));
        if (caps->isEmpty())
            r.fail("capabilities", QStringLiteral("must name at least one capability; got []; accepted: \"dispatch\", "
                                                  "\"serve\" (both by default, or leave the key out), or \"observer\" alone"));
        s.caps = bits;
    }
    if (const auto c = r.string("control_socket")) {
        if (!c->startsWith(QLatin1Char('/')))
            r.fail("control_socket", QStringLiteral("must be an absolute path; got %1").arg(quoted(*c)));
        s.controlSocket = *c;
    }
    if (const auto f = r.string("state_file")) {
        if (!f->startsWith(QLatin1Char('/')))
            r.fail("state_file", QStringLiteral("must be an absolute path like \"/var/lib/sasha/state.json\"; got %1").arg(quoted(*f)));
        s.stateFile = *f;
    }
    if (const auto n = r.string("name", true))
        s.name = *n;
    if (const auto v = r.integer("nice", -20, 19))
        s.nice = int(*v);
    if (const auto v = r.integer("receive_buffer_kb", 64, 1 << 20))
        s.receiveBufferKb = int(*v);
    if (!r.ok())
        return;
    if (s.address != 0) {
        checkAddressIsLocal(r, s.address);
        return;
    }
    // No address: take the interface's first IPv4 address.
    if (s.interfaceName.isEmpty()) {
        r.fail("address", QStringLiteral("is required unless [node] interface names the cluster interface"));
        return;
    }
    const QNetworkInterface iface = QNetworkInterface::interfaceFromName(s.interfaceName);
    if (!iface.isValid()) {
        QStringList names;
        for (const QNetworkInterface &i : QNetworkInterface::allInterfaces())
            names << i.name();
        r.fail("interface", QStringLiteral("no interface %1 on this host; present: %2")
                                .arg(quoted(s.interfaceName), names.join(QStringLiteral(", "))));
        return;
    }
    for (const QNetworkAddressEntry &e : iface.addressEntries()) {
        if (e.ip().protocol() == QAbstractSocket::IPv4Protocol) {
            s.address = e.ip().toIPv4Address();
            return;
        }
    }
    r.fail("interface", QStringLiteral("interface %1 has no IPv4 address; set [node] address").arg(quoted(s.interfaceName)));
}

void parseCluster(SectionReader &r, NodeSettings &s)
{
    if (!r.has("key_file")) {
        r.fail("key_file", QStringLiteral("is required (generate a key with: sashactl keygen --output /etc/sasha/cluster.key)"));
        return;
    }
    if (const auto k = r.string("key_file")) {
        const QDir base = QFileInfo(r.file()).absoluteDir();
        s.keyFile = QDir::cleanPath(base.absoluteFilePath(*k));
        struct stat st {};
        const QByteArray native = QFile::encodeName(s.keyFile);
        if (::stat(native.constData(), &st) != 0) {
            r.fail("key_file", QStringLiteral("key file %1 does not exist or cannot be read (create one with: "
                                              "sashactl keygen --output %1)").arg(s.keyFile));
        } else if (S_ISDIR(st.st_mode)) {
            r.fail("key_file", QStringLiteral("%1 is a directory, not a key file; name the key file itself, e.g. "
                                              "%1/cluster.key (create one with: sashactl keygen --output %1/cluster.key)")
                                   .arg(s.keyFile));
        } else if (!S_ISREG(st.st_mode)) {
            r.fail("key_file", QStringLiteral("%1 is not a regular file; name the key file (create one with: "
                                              "sashactl keygen --output FILE)").arg(s.keyFile));
        } else if (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) {
            // Group read is allowed: the packaged daemon runs as the user sasha and reads the
            // key through its group (root:sasha 0640).
            r.fail("key_file", QStringLiteral("key file %1 is writable by its group or accessible by others: chmod 600 %1 "
                                              "(or chmod 640 with the daemon's group, e.g. chown root:sasha)").arg(s.keyFile));
        } else {
            QFile f(s.keyFile);
            if (!f.open(QIODevice::ReadOnly)) {
                r.fail("key_file", QStringLiteral("cannot read key file %1: %2").arg(s.keyFile, f.errorString()));
            } else {
                QString why;
                s.key = decodeClusterKey(f.read(4096), &why);
                if (s.key.isEmpty())
                    r.fail("key_file", QStringLiteral("%1: %2").arg(s.keyFile, why));
            }
        }
    }
    if (const auto seeds = r.stringArray("seeds")) {
        for (const QString &seed : *seeds) {
            const auto ep = parseHostPort(seed, s.port);
            if (!ep) {
                r.fail("seeds", QStringLiteral("bad seed %1; expected \"IPv4\" or \"IPv4:port\" (port 1..65535), "
                                               "e.g. \"10.0.0.1:7400\"").arg(quoted(seed)));
                return;
            }
            s.seeds.push_back(*ep);
        }
    }
    if (const auto b = r.string("broadcast")) {
        if (*b == QLatin1String("auto")) {
            const QNetworkInterface iface = QNetworkInterface::interfaceFromName(s.interfaceName);
            for (const QNetworkAddressEntry &e : iface.addressEntries()) {
                if (e.ip().protocol() == QAbstractSocket::IPv4Protocol && !e.broadcast().isNull()) {
                    s.broadcast = tb::Endpoint{e.broadcast().toIPv4Address(), s.port};
                    break;
                }
            }
            if (!s.broadcast)
                r.fail("broadcast", QStringLiteral("\"auto\" needs [node] interface with an IPv4 broadcast "
                                                   "address; interface is %1").arg(quoted(s.interfaceName)));
        } else if (const auto ep = parseHostPort(*b, s.port)) {
            s.broadcast = *ep;
        } else {
            r.fail("broadcast", QStringLiteral("expected \"auto\", \"IPv4\" or \"IPv4:port\"; got %1").arg(quoted(*b)));
        }
    }
}

void parseTimers(SectionReader &r, NodeSettings &s)
{
    using std::chrono::milliseconds;
    if (const auto p = r.string("preset")) {
        if (*p == QLatin1String("paper")) {
            // The paper's evaluated timers (§4): slow, but what its failover figures used.
            s.timers.tokenTimeout = milliseconds(2000);
            s.timers.reformInterval = milliseconds(2500);
            s.timers.rotationInterval = milliseconds(500);
        } else if (*p != QLatin1String("lan")) {
            r.fail("preset", QStringLiteral("unknown preset %1; accepted: \"lan\", \"paper\"").arg(quoted(*p)));
            return;
        }
        s.preset = *p;
    }
    constexpr qint64 kMin = 1, kMax = 600000;
    const struct {
        std::string_view key;
        tb::Time tb::Timers::*field;
    } keys[] = {
        {"rotation_ms", &tb::Timers::rotationInterval},
        {"token_timeout_ms", &tb::Timers::tokenTimeout},
        {"reform_ms", &tb::Timers::reformInterval},
        {"join_repeat_ms", &tb::Timers::joinRepeat},
        {"beacon_ms", &tb::Timers::beaconInterval},
        {"observer_timeout_ms", &tb::Timers::observerTimeout},
    };
    for (const auto &k : keys) {
        if (const auto v = r.integer(k.key, kMin, kMax))
            s.timers.*k.field = milliseconds(*v);
    }
    if (!r.ok())
        return;
    const auto ms = [](tb::Time t) { return qint64(std::chrono::duration_cast<milliseconds>(t).count()); };
    if (s.timers.tokenTimeout <= s.timers.rotationInterval) {
        const std::string_view at = r.has("token_timeout_ms") ? "token_timeout_ms"
                                  : r.has("rotation_ms")      ? "rotation_ms"
                                                              : std::string_view{};
        r.fail(at.empty() ? "token_timeout_ms" : at,
               QStringLiteral("token_timeout_ms must be greater than rotation_ms (%1); got %2")
                   .arg(ms(s.timers.rotationInterval))
                   .arg(ms(s.timers.tokenTimeout)));
    }
}

void parseLog(SectionReader &r, NodeSettings &s)
{
    if (const auto rules = r.string("rules", true))
        s.logRules = *rules;
    if (const auto t = r.string("target", true)) {
        if (*t == QLatin1String("auto"))
            s.logTarget = LogTarget::Auto;
        else if (*t == QLatin1String("journal"))
            s.logTarget = LogTarget::Journal;
        else if (*t == QLatin1String("stderr"))
            s.logTarget = LogTarget::Stderr;
        else
            r.fail("target", QStringLiteral("must be \"auto\", \"journal\" or \"stderr\"; got %1").arg(quoted(*t)));
    }
}

// [metrics] listen = "a.b.c.d:port": the Prometheus endpoint (docs/metrics.md). With a host
// (--check and start), the address must be one this host can bind.
void parseMetrics(SectionReader &r, NodeSettings &s)
{
    const auto listen = r.string("listen", true);
    if (!listen || listen->isEmpty())
        return; // absent or "": off
    const QString accepted = QStringLiteral("must be \"ADDRESS:PORT\" with an IPv4 address of this host (0.0.0.0 for "
                                            "every address) and a port 1..65535 (0: the OS chooses), e.g. "
                                            "\"127.0.0.1:9477\"; \"\" or no key turns the endpoint off");
    const qsizetype colon = listen->lastIndexOf(QLatin1Char(':'));
    bool portOk = false;
    const uint port = colon > 0 ? listen->mid(colon + 1).toUInt(&portOk) : 0;
    const auto address = colon > 0 ? parseIpv4(listen->left(colon)) : std::nullopt;
    if (!address || !portOk || port > 65535) {
        r.fail("listen", QStringLiteral("%1; got %2").arg(accepted, quoted(*listen)));
        return;
    }
    if (r.host() && *address != 0 && r.host()->addressUse(*address) != HostNetwork::AddressUse::Assigned) {
        r.fail("listen", QStringLiteral("%1 is not an address of this host (addresses here: %2); %3")
                             .arg(quoted(ipv4ToString(*address)), r.host()->addresses().join(QStringLiteral(", ")), accepted));
        return;
    }
    s.metrics.enabled = true;
    s.metrics.address = *address;
    s.metrics.port = quint16(port);
}

void parseFaults(SectionReader &r, NodeSettings &s)
{
    if (const auto e = r.boolean("enabled"))
        s.faultsEnabled = *e;
}

void parseDispatcher(SectionReader &r, NodeSettings &s)
{
    DispatcherSettings &d = s.dispatcher;
    d.interfaceName = s.interfaceName;
    if (const auto i = r.string("interface"))
        d.interfaceName = *i;
    if (const auto v = r.string("vip")) {
        const auto ip = parseIpv4(*v);
        if (!ip)
            r.fail("vip", QStringLiteral("must be an IPv4 address like \"10.0.0.200\"; got %1").arg(quoted(*v)));
        else if (const QString why = notUnicast(*ip); !why.isEmpty())
            r.fail("vip", QStringLiteral("%1 %2; the VIP is a unicast address clients connect to, like \"10.0.0.200\"")
                              .arg(quoted(*v), why));
        else
            d.vip = *ip;
    }
    if (const auto v = r.string("gateway")) {
        const auto ip = parseIpv4(*v);
        if (!ip)
            r.fail("gateway", QStringLiteral("must be an IPv4 address like \"10.0.0.254\"; got %1").arg(quoted(*v)));
        else if (const QString why = notUnicast(*ip); !why.isEmpty())
            r.fail("gateway", QStringLiteral("%1 %2; the gateway is the unicast address the servers route their "
                                             "replies through, like \"10.0.0.254\"").arg(quoted(*v), why));
        else
            d.gateway = *ip;
    }
    if (const auto m = r.string("vmac")) {
        const auto mac = parseMac(*m);
        if (!mac)
            r.fail("vmac", QStringLiteral("must be a MAC address like \"02:5a:5a:00:00:01\"; got %1").arg(quoted(*m)));
        else if ((*mac)[0] & 0x01)
            r.fail("vmac", QStringLiteral("must be a unicast MAC (lowest bit of the first byte clear); got %1, a multicast "
                                          "or broadcast MAC; use a locally administered unicast MAC like \"02:5a:5a:00:00:01\"")
                               .arg(quoted(*m)));
        else if (*mac == std::array<quint8, 6>{})
            r.fail("vmac", QStringLiteral("must not be all zero; got %1; use a locally administered unicast MAC like "
                                          "\"02:5a:5a:00:00:01\"").arg(quoted(*m)));
        else
            d.vmac = *mac;
    }
    if (const auto ports = r.integerArray("ports", 1, 65535)) {
        if (ports->size() > 64) {
            r.fail("ports", QStringLiteral("at most 64 ports; got %1").arg(ports->size()));
        } else {
            d.ports.clear();
            for (qint64 p : *ports) {
                if (std::find(d.ports.begin(), d.ports.end(), quint16(p)) == d.ports.end())
                    d.ports.push_back(quint16(p));
            }
        }
    }
    if (const auto k = r.choice("scheduler", {QStringLiteral("maglev"), QStringLiteral("wlc"), QStringLiteral("rr")}))
        d.scheduler = *k == 0 ? SchedulerKind::Maglev : *k == 1 ? SchedulerKind::WeightedLeastConnections
                                                               : SchedulerKind::RoundRobin;
    if (const auto k = r.choice("injector", {QStringLiteral("afpacket"), QStringLiteral("tx-ring"), QStringLiteral("pcap")}))
        d.injector = *k == 0 ? DispatcherSettings::Injector::AfPacket
            : *k == 1        ? DispatcherSettings::Injector::TxRing
                             : DispatcherSettings::Injector::Pcap;
    if (!parseWeights(r, d.weights))
        return;
    if (const auto v = r.integer("announce_ms", 0, 600000))
        d.announceMs = int(*v);
    if (const auto v = r.integer("capture_buffer_mb", 1, 1024))
        d.captureBufferMb = int(*v);
    if (const auto v = r.boolean("serve_while_dispatching"))
        d.serveWhileDispatching = *v;
    if (const auto v = r.integer("max_flows", 1, 1 << 24))
        d.maxFlows = int(*v);
    if (const auto v = r.boolean("prepare"))
        d.prepare = *v;
    if (const auto v = r.integer("batch_us", 0, 1000))
        d.batchUs = int(*v);
    if (const auto v = r.integer("cpu", -1, 1023))
        d.cpu = int(*v);
}

// The services the legacy keys make: one TCP and one UDP service on vip's `ports`, under
// [dispatcher] scheduler (docs/config.md "The [dispatcher] vip and ports keys").
void legacyServices(DispatcherSettings &d, int line)
{
    for (const auto protocol : {ServiceSettings::Protocol::Tcp, ServiceSettings::Protocol::Udp}) {
        ServiceSettings svc;
        svc.vip = d.vip;
        svc.protocol = protocol;
        for (quint16 p : d.ports)
            svc.ports.emplace_back(p, p);
        svc.scheduler = d.scheduler;
        svc.line = line;
        svc.fromLegacyKeys = true;
        d.services.push_back(svc);
    }
}

// After [dispatcher] and [[service]] are read: can this node dispatch, and with what services.
void finishDispatcher(SectionReader &r, NodeSettings &s, bool haveServices)
{
    DispatcherSettings &d = s.dispatcher;
    if (!r.ok())
        return;
    if (haveServices) {
        // Each service names its VIP; the legacy keys would be a second, contradictory source.
        for (const std::string_view key : {"vip", "ports"}) {
            if (r.has(key)) {
                r.fail(key, QStringLiteral("must not be set with [[service]] tables: each service names its vip and port; "
                                           "remove %1 from [dispatcher] and write e.g. [[service]] vip = \"10.0.0.200\", "
                                           "protocol = \"tcp\", port = 80").arg(QLatin1String(key.data(), qsizetype(key.size()))));
                return;
            }
        }
        d.vip = d.services.front().vip;
        if (!r.has("vmac")) {
            r.fail("vmac", QStringLiteral("is required with [[service]] tables (the MAC every VIP resolves to, e.g. "
                                          "\"02:5a:5a:00:00:01\")"));
            return;
        }
    }
    if (!haveServices && d.vip == 0 && !r.has("vmac"))
        return; // no VIP: this node never dispatches (a valid choice, e.g. a serve-only node)
    if (d.vip == 0)
        r.fail("vip", QStringLiteral("is required when vmac is set (the address clients connect to), or [[service]] tables"));
    else if (!r.has("vmac"))
        r.fail("vmac", QStringLiteral("is required when vip is set (the MAC the VIP resolves to, e.g. \"02:5a:5a:00:00:01\")"));
    else if (d.interfaceName.isEmpty())
        r.fail("interface", QStringLiteral("is required unless [node] interface names the cluster interface"));
    else if (r.host() && !r.host()->hasInterface(d.interfaceName))
        r.fail("interface", QStringLiteral("no interface %1 on this host%2; present: %3; name the interface that faces "
                                           "the clients (where the VIP's frames arrive)")
                                .arg(quoted(d.interfaceName),
                                     r.has("interface") ? QString() : QStringLiteral(" (inherited from [node] interface)"),
                                     r.host()->interfaceNames().join(QStringLiteral(", "))));
    else
        d.configured = true;
    if (d.configured && !haveServices)
        legacyServices(d, int(r.tableLine()));
    if (!r.ok())
        return;
    // NAT services need the floating gateway the servers route their replies through.
    if (d.hasNat() && d.gateway == 0) {
        r.fail("gateway", QStringLiteral("is required with a [[service]] of mode = \"nat\": the address on the servers' "
                                         "subnet that their route to the clients points at, like gateway = \"10.0.0.254\" "
                                         "(the dispatcher answers ARP for it with the VMAC)"));
    } else if (!d.hasNat() && r.has("gateway")) {
        r.fail("gateway", QStringLiteral("is used only by [[service]] tables with mode = \"nat\"; remove it, or set "
                                         "mode = \"nat\" on a service"));
    } else if (d.gateway != 0) {
        const std::vector<quint32> vips = d.vips();
        if (std::find(vips.begin(), vips.end(), d.gateway) != vips.end())
            r.fail("gateway", QStringLiteral("%1 is a VIP; the gateway is a separate address on the servers' subnet")
                                  .arg(quoted(ipv4ToString(d.gateway))));
        else if (d.gateway == s.address)
            r.fail("gateway", QStringLiteral("%1 is this node's [node] address; the gateway floats between nodes, so it "
                                             "must be no node's own address").arg(quoted(ipv4ToString(d.gateway))));
    }
}

const std::vector<std::string_view> &serviceKeys()
{
    static const std::vector<std::string_view> keys = {"vip", "protocol", "port", "mode", "scheduler", "persistence_s",
                                                       "udp_idle_s", "weights"};
    return keys;
}

// One port value: an integer, "N" or "N-M" (N <= M), each 1..65535.
std::optional<std::pair<quint16, quint16>> portRange(const toml::node &n)
{
    if (const auto v = n.value_exact<int64_t>()) {
        if (*v < 1 || *v > 65535)
            return std::nullopt;
        return std::pair{quint16(*v), quint16(*v)};
    }
    const auto text = n.value_exact<std::string>();
    if (!text)
        return std::nullopt;
    const QStringList parts = QString::fromStdString(*text).split(QLatin1Char('-'));
    if (parts.size() > 2)
        return std::nullopt;
    bool ok1 = false, ok2 = false;
    const int first = parts[0].trimmed().toInt(&ok1);
    const int last = parts.size() == 2 ? parts[1].trimmed().toInt(&ok2) : (ok2 = true, first);
    if (!ok1 || !ok2 || first < 1 || last > 65535 || first > last)
        return std::nullopt;
    return std::pair{quint16(first), quint16(last)};
}

QString nodeText(const toml::node &n)
{
    if (const auto v = n.value_exact<int64_t>())
        return QString::number(*v);
    if (const auto v = n.value_exact<std::string>())
        return quoted(QString::fromStdString(*v));
    return typeName(n);
}

void parseService(SectionReader &r, const NodeSettings &s, ServiceSettings &svc)
{
    if (!r.has("vip")) {
        r.fail({}, QStringLiteral("vip is required: the address clients connect to, like vip = \"10.0.0.200\""));
        return;
    }
    if (!r.has("port")) {
        r.fail({}, QStringLiteral("port is required: a port 1..65535, a list like [80, 443] or a range like \"8000-8010\""));
        return;
    }
    if (const auto v = r.string("vip")) {
        const auto ip = parseIpv4(*v);
        if (!ip)
            r.fail("vip", QStringLiteral("must be an IPv4 address like \"10.0.0.200\"; got %1").arg(quoted(*v)));
        else if (const QString why = notUnicast(*ip); !why.isEmpty())
            r.fail("vip", QStringLiteral("%1 %2; a VIP is a unicast address clients connect to, like \"10.0.0.200\"")
                              .arg(quoted(*v), why));
        else
            svc.vip = *ip;
    }
    if (const auto k = r.choice("protocol", {QStringLiteral("tcp"), QStringLiteral("udp")}))
        svc.protocol = *k == 0 ? ServiceSettings::Protocol::Tcp : ServiceSettings::Protocol::Udp;
    if (r.ok()) {
        const QString accepted = QStringLiteral("a port 1..65535, a list like [80, 443] or a range like \"8000-8010\"");
        const toml::node *n = r.node("port");
        if (const toml::array *arr = n->as_array()) {
            if (arr->empty())
                r.fail("port", QStringLiteral("must be %1; got an empty list").arg(accepted));
            for (const toml::node &item : *arr) {
                const auto range = portRange(item);
                if (!range) {
                    r.failAt("port", &item, QStringLiteral("must be %1; the list has %2").arg(accepted, nodeText(item)));
                    break;
                }
                svc.ports.push_back(*range);
            }
        } else if (const auto range = portRange(*n)) {
            svc.ports.push_back(*range);
        } else {
            r.fail("port", QStringLiteral("must be %1; got %2").arg(accepted, nodeText(*n)));
        }
    }
    if (const auto k = r.choice("mode", {QStringLiteral("dr"), QStringLiteral("nat")}))
        svc.mode = *k == 0 ? ServiceSettings::Mode::Direct : ServiceSettings::Mode::Nat;
    svc.scheduler = s.dispatcher.scheduler;
    if (const auto k = r.choice("scheduler", {QStringLiteral("maglev"), QStringLiteral("wlc"), QStringLiteral("rr")}))
        svc.scheduler = *k == 0 ? SchedulerKind::Maglev : *k == 1 ? SchedulerKind::WeightedLeastConnections
                                                                 : SchedulerKind::RoundRobin;
    if (const auto v = r.integer("persistence_s", 0, 86400))
        svc.persistenceS = int(*v);
    // How long the dispatcher keeps a UDP flow without a datagram from its client (the flow
    // table's default is 60 s). Not for TCP: its flows end with FIN/RST and established idle.
    if (r.has("udp_idle_s") && svc.protocol != ServiceSettings::Protocol::Udp && r.ok()) {
        r.fail("udp_idle_s", QStringLiteral("applies to protocol = \"udp\" services only (1..86400 seconds); remove it "
                                            "from this tcp service"));
        return;
    }
    if (const auto v = r.integer("udp_idle_s", 1, 86400))
        svc.udpIdleS = int(*v);
    // The servers' weights in this service (docs/config.md "Weights"), as [dispatcher] weights.
    parseWeights(r, svc.weights);
}

// [[service]] tables, in file order, after [dispatcher] (a service's scheduler defaults to its).
// Limits: kMaxServices services, kMaxVips VIPs, kMaxServiceRules port entries, and
// kMaxServicePorts TCP ports over all services (each is reported at reconstruction).
void parseServices(const toml::array &tables, const QString &file, const HostNetwork *host, NodeSettings &s,
                   std::optional<ConfigError> &error)
{
    constexpr int kMaxReportedPorts = 64; // connmessages.h kMaxServicePorts
    std::vector<quint32> vips;
    std::vector<std::map<quint32, quint32>> weightings; // different non-empty weights tables
    int rules = 0, tcpPorts = 0;
    for (const toml::node &n : tables) {
        const toml::table &t = *n.as_table();
        SectionReader r(t, QStringLiteral("[service]"), file, host, error);
        ServiceSettings svc;
        svc.line = int(t.source().begin.line);
        parseService(r, s, svc);
        if (!r.ok())
            return;
        if (s.dispatcher.services.size() >= kMaxServices) {
            r.fail({}, QStringLiteral("at most %1 services; this is service %2").arg(kMaxServices).arg(s.dispatcher.services.size() + 1));
            return;
        }
        if (std::find(vips.begin(), vips.end(), svc.vip) == vips.end()) {
            if (vips.size() >= kMaxVips) {
                r.fail("vip", QStringLiteral("at most %1 different VIPs over all services; this is VIP %2")
                                  .arg(kMaxVips).arg(vips.size() + 1));
                return;
            }
            vips.push_back(svc.vip);
        }
        rules += int(svc.ports.size());
        if (rules > int(kMaxServiceRules)) {
            r.fail("port", QStringLiteral("at most %1 ports and ranges over all services; got %2").arg(kMaxServiceRules).arg(rules));
            return;
        }
        if (!svc.weights.empty() && std::find(weightings.begin(), weightings.end(), svc.weights) == weightings.end()) {
            if (weightings.size() >= kMaxServiceWeightings) {
                r.fail("weights", QStringLiteral("at most %1 different weights tables over all services (each adds two "
                                                 "Maglev tables to every rebuild of the dispatcher's server table); "
                                                 "this is table %2; give services that weigh the servers alike the "
                                                 "same table, or use [dispatcher] weights")
                                      .arg(kMaxServiceWeightings).arg(weightings.size() + 1));
                return;
            }
            weightings.push_back(svc.weights);
        }
        if (svc.protocol == ServiceSettings::Protocol::Tcp) {
            tcpPorts += svc.portCount();
            if (tcpPorts > kMaxReportedPorts) {
                r.fail("port", QStringLiteral("at most %1 TCP ports over all services (the agents report each at "
                                              "reconstruction); got %2 with this service's %3")
                                   .arg(kMaxReportedPorts).arg(tcpPorts).arg(svc.portsText()));
                return;
            }
        }
        for (const ServiceSettings &other : s.dispatcher.services) {
            // A NAT reply is mapped back to its VIP by the server's protocol and port alone
            // (docs/dispatcher.md "NAT mode"): two NAT services may not share one.
            const bool bothNat = svc.mode == ServiceSettings::Mode::Nat && other.mode == ServiceSettings::Mode::Nat;
            if ((other.vip != svc.vip && !bothNat) || other.protocol != svc.protocol)
                continue;
            for (const auto &[a1, a2] : svc.ports) {
                for (const auto &[b1, b2] : other.ports) {
                    if (a1 <= b2 && b1 <= a2) {
                        if (other.vip != svc.vip)
                            r.fail("port", QStringLiteral("port %1/%2 is already in the NAT service of %3 at line %4; "
                                                          "replies are mapped back to their VIP by protocol and port, so "
                                                          "two NAT services may not share a port")
                                               .arg(std::max(a1, b1)).arg(svc.protocolName(), ipv4ToString(other.vip))
                                               .arg(other.line));
                        else
                            r.fail("port", QStringLiteral("port %1/%2 of %3 is already in the service at line %4; a port "
                                                          "belongs to one service")
                                               .arg(std::max(a1, b1)).arg(svc.protocolName(), ipv4ToString(svc.vip))
                                               .arg(other.line));
                        return;
                    }
                }
            }
        }
        s.dispatcher.services.push_back(svc);
    }
}

void parseHealth(SectionReader &r, NodeSettings &s)
{
    HealthSettings &h = s.health;
    if (const auto v = r.boolean("enabled"))
        h.enabled = *v;
    if (const auto u = r.string("url")) {
        if (!u->startsWith(QLatin1String("http://")))
            r.fail("url", QStringLiteral("must be an http:// URL like \"http://127.0.0.1:80/health\"; got %1").arg(quoted(*u)));
        h.url = *u;
    }
    if (const auto v = r.integer("interval_ms", 10, 600000))
        h.intervalMs = int(*v);
    if (const auto v = r.integer("timeout_ms", 10, 600000))
        h.timeoutMs = int(*v);
    if (const auto v = r.integer("rise", 1, 100))
        h.rise = int(*v);
    if (const auto v = r.integer("fall", 1, 100))
        h.fall = int(*v);
    if (r.ok() && h.timeoutMs > h.intervalMs)
        r.fail(r.has("timeout_ms") ? "timeout_ms" : "interval_ms",
               QStringLiteral("timeout_ms (%1) must not exceed interval_ms (%2)").arg(h.timeoutMs).arg(h.intervalMs));
}

void parseAgent(SectionReader &r, NodeSettings &s)
{
    AgentSettings &a = s.agent;
    if (const auto v = r.integer("dead_unacked_silence_ms", 0, 3600000))
        a.deadUnackedSilenceMs = quint32(*v);
    if (const auto v = r.integer("dead_max_backoff", 0, 255))
        a.deadMaxBackoff = int(*v);
    if (const auto v = r.integer("dead_max_probes", 0, 255))
        a.deadMaxProbes = int(*v);
    if (const auto v = r.integer("dead_max_idle_ms", 0, 3600000))
        a.deadMaxIdleMs = quint32(*v);
}

// A hook script: an absolute path to an executable regular file (checked on every load, so
// --check and reload catch a missing or non-executable script before it is needed).
void notifyScript(SectionReader &r, std::string_view key, QString &out)
{
    const auto v = r.string(key);
    if (!v)
        return;
    if (!v->startsWith(QLatin1Char('/'))) {
        r.fail(key, QStringLiteral("must be an absolute path to an executable, like \"/etc/sasha/notify.sh\"; got %1").arg(quoted(*v)));
        return;
    }
    struct stat st {};
    const QByteArray native = QFile::encodeName(*v);
    if (::stat(native.constData(), &st) != 0)
        r.fail(key, QStringLiteral("%1 does not exist; give the path of an executable script").arg(*v));
    else if (!S_ISREG(st.st_mode))
        r.fail(key, QStringLiteral("%1 is not a regular file; give the path of an executable script").arg(*v));
    else if (::access(native.constData(), X_OK) != 0)
        r.fail(key, QStringLiteral("%1 is not executable by this user: chmod +x %1").arg(*v));
    else
        out = *v;
}

void parseNotify(SectionReader &r, NodeSettings &s)
{
    NotifySettings &n = s.notify;
    notifyScript(r, "role_change", n.roleChange);
    notifyScript(r, "member_joined", n.memberJoined);
    notifyScript(r, "member_lost", n.memberLost);
    notifyScript(r, "health_change", n.healthChange);
    notifyScript(r, "script", n.script);
    if (const auto v = r.integer("timeout_ms", 100, 600000))
        n.timeoutMs = int(*v);
    if (const auto v = r.integer("queue", 1, 1024))
        n.queue = int(*v);
}

struct SectionSpec {
    std::string_view name;
    std::vector<std::string_view> keys;
    std::function<void(SectionReader &, NodeSettings &)> parse;
};

// Parsed in this order whatever the file's order, so later sections may use earlier values
// (seeds default to [node] port).
const std::vector<SectionSpec> &sectionSpecs()
{
    static const std::vector<SectionSpec> specs = {
        {"node", {"address", "interface", "port", "capabilities", "control_socket", "state_file", "name", "nice", "receive_buffer_kb"}, parseNode},
        {"cluster", {"key_file", "seeds", "broadcast"}, parseCluster},
        {"timers", {"rotation_ms", "token_timeout_ms", "reform_ms", "join_repeat_ms", "beacon_ms",
                    "observer_timeout_ms", "preset"}, parseTimers},
        {"log", {"rules", "target"}, parseLog},
        {"faults", {"enabled"}, parseFaults},
        {"dispatcher", {"interface", "vip", "vmac", "ports", "scheduler", "injector", "weights", "announce_ms",
                        "capture_buffer_mb", "serve_while_dispatching", "max_flows", "prepare", "batch_us", "cpu", "gateway"},
         parseDispatcher},
        {"health", {"enabled", "url", "interval_ms", "timeout_ms", "rise", "fall"}, parseHealth},
        {"agent", {"dead_unacked_silence_ms", "dead_max_backoff", "dead_max_probes", "dead_max_idle_ms"}, parseAgent},
        {"notify", {"role_change", "member_joined", "member_lost", "health_change", "script", "timeout_ms", "queue"},
         parseNotify},
        {"metrics", {"listen"}, parseMetrics},
    };
    return specs;
}

template <typename Names>
QString joinNames(const Names &names)
{
    QStringList out;
    for (std::string_view n : names)
        out << QString::fromUtf8(n.data(), qsizetype(n.size()));
    return out.join(QStringLiteral(", "));
}

ConfigError errorAt(const QString &file, const toml::source_region &src, QString key, QString message)
{
    ConfigError e;
    e.file = file;
    e.line = int(src.begin.line);
    e.column = int(src.begin.column);
    e.key = std::move(key);
    e.message = std::move(message);
    return e;
}

} // namespace

ConfigResult parseNodeSettings(const QByteArray &text, const QString &path, const HostNetwork *host)
{
    const QString file = QFileInfo(path).absoluteFilePath();
    toml::table root;
    try {
        root = toml::parse(std::string_view(text.constData(), size_t(text.size())), file.toStdString());
    } catch (const toml::parse_error &err) {
        return {std::nullopt, errorAt(file, err.source(), {},
                                      QStringLiteral("syntax error at column %1: %2")
                                          .arg(err.source().begin.column)
                                          .arg(QString::fromUtf8(err.description().data(),
                                                                 qsizetype(err.description().size()))))};
    }

    const auto &specs = sectionSpecs();
    std::vector<std::string_view> sectionNames;
    for (const auto &s : specs)
        sectionNames.push_back(s.name);

    // Unknown tables and keys first: a typo is the likeliest mistake and the clearest message.
    sectionNames.push_back("[[service]]");
    const toml::array *services = nullptr;
    for (const auto &[k, node] : root) {
        // Not k itself in the lambda: clang before 16 cannot capture a structured binding.
        const std::string_view tableName = k.str();
        if (tableName == "service") {
            // [[service]]: an array of tables, each checked like a section.
            services = node.as_array();
            if (!services || !services->is_array_of_tables())
                return {std::nullopt, errorAt(file, k.source(), QStringLiteral("[[service]]"),
                                              QStringLiteral("must be an array of tables, each written [[service]]; got %1")
                                                  .arg(services ? QStringLiteral("an array of other values") : typeName(node)))};
            for (const toml::node &item : *services) {
                for (const auto &[key, value] : *item.as_table()) {
                    if (std::find(serviceKeys().begin(), serviceKeys().end(), key.str()) == serviceKeys().end())
                        return {std::nullopt, errorAt(file, key.source(),
                                                      QStringLiteral("[[service]] %1").arg(QString::fromStdString(std::string(key.str()))),
                                                      QStringLiteral("unknown key; accepted keys of [[service]]: %1").arg(joinNames(serviceKeys())))};
                }
            }
            continue;
        }
        const auto it = std::find_if(specs.begin(), specs.end(), [&](const SectionSpec &s) { return s.name == tableName; });
        const QString name = QString::fromStdString(std::string(k.str()));
        if (it == specs.end())
            return {std::nullopt, errorAt(file, k.source(), QStringLiteral("[%1]").arg(name),
                                          QStringLiteral("unknown table; accepted tables: %1").arg(joinNames(sectionNames)))};
        const toml::table *t = node.as_table();
        if (!t)
            return {std::nullopt, errorAt(file, k.source(), name,
                                          QStringLiteral("must be a table [%1]; got %2").arg(name, typeName(node)))};
        for (const auto &[key, value] : *t) {
            if (std::find(it->keys.begin(), it->keys.end(), key.str()) == it->keys.end())
                return {std::nullopt, errorAt(file, key.source(),
                                              QStringLiteral("[%1] %2").arg(name, QString::fromStdString(std::string(key.str()))),
                                              QStringLiteral("unknown key; accepted keys of [%1]: %2").arg(name, joinNames(it->keys)))};
        }
    }

    NodeSettings s;
    s.configFile = file;
    std::optional<ConfigError> error;
    const toml::table empty;
    for (const auto &spec : specs) {
        const toml::table *t = root[spec.name].as_table();
        const QString name = QString::fromUtf8(spec.name.data(), qsizetype(spec.name.size()));
        SectionReader reader(t ? *t : empty, name, file, host, error);
        spec.parse(reader, s);
        if (error)
            return {std::nullopt, error};
    }
    if (services) {
        parseServices(*services, file, host, s, error);
        if (error)
            return {std::nullopt, error};
    }
    const toml::table *dispatcher = root["dispatcher"].as_table();
    SectionReader reader(dispatcher ? *dispatcher : empty, QStringLiteral("dispatcher"), file, host, error);
    finishDispatcher(reader, s, services != nullptr);
    if (error)
        return {std::nullopt, error};
    return {std::move(s), std::nullopt};
}

std::optional<QString> readControlSocketPath(const QString &configPath, ConfigError *error)
{
    QFile f(configPath);
    if (!f.open(QIODevice::ReadOnly)) {
        *error = ConfigError{configPath, 0, 0, {}, QStringLiteral("cannot read config file: %1").arg(f.errorString())};
        return std::nullopt;
    }
    const QByteArray text = f.readAll();
    try {
        const toml::table root = toml::parse(std::string_view(text.constData(), size_t(text.size())), configPath.toStdString());
        const toml::node *n = root.at_path("node.control_socket").node();
        if (!n)
            return NodeSettings().controlSocket;
        if (const auto v = n->value_exact<std::string>())
            return QString::fromStdString(*v);
        *error = errorAt(configPath, n->source(), QStringLiteral("[node] control_socket"), QStringLiteral("must be a string"));
    } catch (const toml::parse_error &err) {
        *error = errorAt(configPath, err.source(), {},
                         QStringLiteral("syntax error: %1").arg(QString::fromUtf8(err.description().data(), qsizetype(err.description().size()))));
    }
    return std::nullopt;
}

ConfigResult loadNodeSettings(const QString &path, const HostNetwork *host)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {std::nullopt, ConfigError{path, 0, 0, {}, QStringLiteral("cannot read config file: %1").arg(f.errorString())}};
    return parseNodeSettings(f.readAll(), path, host);
}

} // namespace sasha
