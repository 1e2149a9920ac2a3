#pragma once
// NodeSettings: everything sashad reads from its TOML file (docs/config.md is the reference),
// and the loader that validates it. Errors are values naming file, line, key and what is
// accepted, so an operator can fix a file without reading code.

#include "fastpath/servertable.h"
#include "tokenbeat/node.h"
#include "tokenbeat/types.h"

#include <QByteArray>
#include <QString>

#include <array>
#include <map>
#include <optional>
#include <vector>

namespace sasha {

class HostNetwork;

// One problem found in a config file. line/column are 1-based; 0 when the problem is not tied
// to a place in the file (e.g. the file cannot be read).
struct ConfigError {
    QString file;
    int line = 0;
    int column = 0;
    QString key;     // "[timers] token_timeout_ms", "[bogus]" or empty for syntax errors
    QString message; // what is wrong and what is accepted
    // "/etc/sasha/sashad.toml:12: [timers] token_timeout_ms: must be greater than ..."
    QString toString() const;
};

// [[service]]: one virtual service (docs/config.md "[[service]]"): the (VIP, protocol, ports)
// the dispatcher forwards, like an ipvsadm virtual service. Without [[service]] tables the
// [dispatcher] vip and ports keys make one TCP and one UDP service (legacy form).
struct ServiceSettings {
    enum class Protocol { Tcp, Udp };
    enum class Mode { Direct, Nat }; // "dr" (L4/2), "nat" (L4/3, RFC 2391: needs [dispatcher] gateway)
    quint32 vip = 0;                                  // host byte order
    Protocol protocol = Protocol::Tcp;
    std::vector<std::pair<quint16, quint16>> ports;   // inclusive ranges, as written
    Mode mode = Mode::Direct;
    SchedulerKind scheduler = SchedulerKind::Maglev;
    int persistenceS = 0;                             // source-address affinity timeout; 0 = off
    int udpIdleS = 0;                                 // UDP flow idle timeout; 0 = not set (60 s)
    // Servers' weights in this service, like [dispatcher] weights (server address -> weight);
    // servers not listed have their cluster weight. An operator weight wins over both
    // (effectiveServiceWeights, docs/config.md "Weights").
    std::map<quint32, quint32> weights;
    int line = 0;                                     // where the table starts (messages)
    bool fromLegacyKeys = false;                      // made from [dispatcher] vip/ports
    int portCount() const;
    QString portsText() const;                        // "80, 8000-8010"
    QString protocolName() const { return protocol == Protocol::Tcp ? QStringLiteral("tcp") : QStringLiteral("udp"); }
    QString modeName() const { return mode == Mode::Nat ? QStringLiteral("nat") : QStringLiteral("dr"); }
    friend bool operator==(const ServiceSettings &, const ServiceSettings &) = default;
};
QString schedulerText(SchedulerKind kind);

// [dispatcher]: what this node does when the ring elects it (docs/dispatcher.md). The table is
// optional; without it (or without vip and vmac) the node never runs a dispatcher.
struct DispatcherSettings {
    enum class Injector { AfPacket, TxRing, Pcap }; // AfPacket = sendmmsg batches
    bool configured = false;          // vip and vmac given: the node can run the dispatcher
    QString interfaceName;            // capture and inject here; defaults to [node] interface
    quint32 vip = 0;                  // host byte order
    std::array<quint8, 6> vmac{};
    // The floating gateway of NAT services (docs/config.md "NAT mode"), host byte order; 0 when
    // no service has mode "nat" (then it is refused). The servers route their replies to the
    // clients via this address; the dispatcher announces it with the VMAC and answers ARP for it.
    quint32 gateway = 0;
    std::vector<quint16> ports{80};   // service ports (reconstruction queries, connection reports)
    SchedulerKind scheduler = SchedulerKind::Maglev;
    Injector injector = Injector::TxRing; // docs/dispatcher.md "Injection"
    std::map<quint32, quint32> weights; // server address -> weight; absent servers weigh 1
    int announceMs = 1000;            // VMAC re-announcement period; 0 = only at takeover
    int captureBufferMb = 32;
    bool serveWhileDispatching = false; // paper: the dispatcher takes no new connections as a server
    int maxFlows = 1 << 20;
    // Build and open the data path (flow table, capture filtered to nothing, sinks) at start-up
    // rather than at election: a faster takeover for ~70 MB per node (docs/dispatcher.md "Takeover").
    bool prepare = true;
    // Bounded batching of the packet thread (docs/dispatcher.md "Batching"): after a batch that
    // emptied the capture ring, wait this many microseconds before reading again. Fewer wake-ups
    // at low rates, at most this much added latency per frame; 0 = read again at once.
    int batchUs = 0;
    // Pin the packet thread to this CPU (like HAProxy's cpu-map); -1 = let the scheduler place it.
    int cpu = -1;
    // The virtual services, [[service]] tables in file order, or the one TCP and one UDP service
    // the legacy vip and ports keys make. Empty when the node cannot dispatch.
    std::vector<ServiceSettings> services;
    // Every VIP of the services, first-seen order (vip above is the first).
    std::vector<quint32> vips() const;
    // TCP (vip, port) pairs the agents report at reconstruction: every port of every TCP service.
    std::vector<std::pair<quint32, quint16>> reportedPorts() const;
    // UDP (vip, port) pairs the agents report (their connected sockets): every port of every UDP
    // service, at most kMaxServicePorts (docs/agent.md "UDP").
    std::vector<std::pair<quint32, quint16>> reportedUdpPorts() const;
    // True when some service has mode "nat".
    bool hasNat() const;
    // Every address the dispatcher announces with the VMAC and answers ARP for: the VIPs, then
    // the gateway when some service is NAT.
    std::vector<quint32> announcedAddresses() const;
};

// The fast path's view of the services (DispatchPolicy vips, rules, services), from
// d.services in order: service i of the config is index i of the counters.
void fillServicePolicy(const DispatcherSettings &d, DispatchPolicy &policy);

// A server's weight, in this order (docs/config.md "Weights"): the operator's (sashactl weight),
// else [dispatcher] weights, else 1.
quint32 clusterWeight(const DispatcherSettings &d, const std::map<quint32, quint32> &operatorWeights, quint32 server);
// The services' overrides the fast path applies (ServerTable::build): every [[service]] weights
// entry of a server without an operator weight, service i being index i of fillServicePolicy.
// A server with an operator weight has that weight in every service, except where a service's
// entry is 0: that one stays (the server may not run that service).
std::vector<ServiceWeight> serviceWeightOverrides(const DispatcherSettings &d,
                                                  const std::map<quint32, quint32> &operatorWeights);

// [health]: the agent's HTTP check of the local service (docs/agent.md).
struct HealthSettings {
    bool enabled = true;
    QString url = QStringLiteral("http://127.0.0.1:80/health");
    int intervalMs = 500;
    int timeoutMs = 400;
    int rise = 2;
    int fall = 3;
};

// [agent]: the dead-client filter of connection reports (docs/agent.md); 0 turns a rule off.
struct AgentSettings {
    quint32 deadUnackedSilenceMs = 3000;
    int deadMaxBackoff = 3;
    int deadMaxProbes = 2;
    quint32 deadMaxIdleMs = 0;
};

// [notify]: scripts run on the node's events, like keepalived's notify_master (docs/config.md
// "[notify]"; NotifyRunner runs them off the ring's thread). Paths are absolute and executable
// (the loader checks both); empty = no script for that event.
struct NotifySettings {
    QString roleChange;   // role-changed
    QString memberJoined; // member-joined
    QString memberLost;   // member-lost and member-left
    QString healthChange; // health-changed (this node's own health check)
    QString script;       // every event, after the event's own script
    int timeoutMs = 5000; // a script still running after this is killed with its process group
    int queue = 32;       // events waiting at most; more are dropped (counted, logged)
    friend bool operator==(const NotifySettings &, const NotifySettings &) = default;
};

// [metrics]: the Prometheus endpoint (docs/metrics.md). Off unless listen is given.
struct MetricsSettings {
    bool enabled = false;
    quint32 address = 0; // IPv4, host byte order; 0 = every address (0.0.0.0)
    quint16 port = 0;    // 0 = the OS chooses (tests); the status JSON's "metrics" tells which
    friend bool operator==(const MetricsSettings &, const MetricsSettings &) = default;
};

// [log] target: where sashad's log lines go (docs/config.md). Auto = the journal when stderr
// is the journal's stream (systemd's JOURNAL_STREAM), else stderr.
enum class LogTarget { Auto, Journal, Stderr };

struct NodeSettings {
    QString configFile; // absolute path of the file the settings came from

    // [node]
    quint32 address = 0;  // IPv4, host byte order; resolved from `interface` when not given
    QString interfaceName;
    quint16 port = 7400;
    quint8 caps = tb::kCanDispatch | tb::kCanServe;
    QString controlSocket = QStringLiteral("/run/sasha/sashad.sock");
    // The operator's admin state (drained, weight: sashactl drain/weight), kept across restarts;
    // AdminService writes it atomically and creates a missing directory.
    QString stateFile = QStringLiteral("/var/lib/sasha/state.json");
    QString name;
    // Scheduling niceness sashad asks for at start (setpriority), -20..19. Negative values need
    // CAP_SYS_NICE (root has it); without it sashad warns and runs at its inherited priority. A
    // ring member that is slow to relay the token under CPU contention causes false purges, so
    // it runs ahead of ordinary work, as keepalived's VRRP process does.
    int nice = -10;
    // The ring socket's receive buffer in KiB, 64..1048576 (docs/tokenbeat.md "Receive path"):
    // room for bursts of junk or chunks while the receive thread catches up. Above
    // net.core.rmem_max it needs CAP_NET_ADMIN (SO_RCVBUFFORCE); without, the kernel caps it.
    int receiveBufferKb = 4096;

    // [cluster]
    QString keyFile;                     // absolute path
    QByteArray key;                      // decoded key bytes (>= tb::kMinKeySize)
    std::vector<tb::Endpoint> seeds;
    std::optional<tb::Endpoint> broadcast;

    // [timers]
    QString preset = QStringLiteral("lan");
    tb::Timers timers;

    // [log]
    QString logRules; // QLoggingCategory::setFilterRules syntax, ';' or newline separated
    LogTarget logTarget = LogTarget::Auto;

    // [metrics]
    MetricsSettings metrics;

    // [faults]
    bool faultsEnabled = false;

    DispatcherSettings dispatcher;
    HealthSettings health;
    AgentSettings agent;
    NotifySettings notify;

    tb::Endpoint endpoint() const { return {address, port}; }
    // The core's configuration; bootEpoch is the caller's (sashad: wall ms at start).
    tb::NodeConfig toNodeConfig(quint64 bootEpoch) const;
};

struct ConfigResult {
    std::optional<NodeSettings> settings; // set iff error is not
    std::optional<ConfigError> error;
    bool ok() const { return settings.has_value(); }
};

// Reads and validates a config file, including the key file it names. With a host (sashad
// --check and start), also what only holds on the node itself: [node] address is one of the
// host's addresses, the [dispatcher] interface exists (docs/config.md "Checks on the host").
ConfigResult loadNodeSettings(const QString &path, const HostNetwork *host = nullptr);
// Same, from text already in memory; `path` is used in messages and to resolve a relative
// key_file against the config file's directory.
ConfigResult parseNodeSettings(const QByteArray &text, const QString &path, const HostNetwork *host = nullptr);

// Only [node] control_socket (or its default) from a config file, without validating the rest
// or reading the key file: for sashactl --config, which may run as a user who cannot read the key.
std::optional<QString> readControlSocketPath(const QString &configPath, ConfigError *error);

// Decodes key file content (docs/config.md, [cluster] key_file). Content that is only hex digits
// once surrounding whitespace is removed is hex: an even number of at least 32 digits (16 bytes;
// sashactl keygen writes 64 and a newline). Any other content is the key's raw bytes, exactly as
// stored, at least 16 of them. Returns an empty array with *why set when unusable (empty, an odd
// number of hex digits, fewer than 16 bytes, e.g. an 8-byte key written as 16 hex digits).
QByteArray decodeClusterKey(const QByteArray &content, QString *why);

// "a.b.c.d" or "a.b.c.d:port" -> Endpoint; defaultPort when no port is given.
std::optional<tb::Endpoint> parseHostPort(const QString &text, quint16 defaultPort);

// "a.b.c.d" -> host-order IPv4; std::nullopt if not a dotted IPv4 literal.
std::optional<quint32> parseIpv4(const QString &text);
QString ipv4ToString(quint32 ip);

// "02:5a:5a:00:00:01" (or with '-') -> bytes; std::nullopt if not six hex pairs.
std::optional<std::array<quint8, 6>> parseMac(const QString &text);
QString macToString(const std::array<quint8, 6> &mac);

} // namespace sasha
