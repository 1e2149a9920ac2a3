#pragma once
// The agent's view of its node's connections (paper §3.4: "each server knows its clients"):
// the established TCP connections whose local address is the VIP and whose local port is a
// service port, read from the kernel through NETLINK_SOCK_DIAG (inet_diag_req_v2, the interface
// `ss` uses), never by parsing /proc. Connections whose client is gone (the kernel keeps them
// ESTABLISHED while it retransmits into the void) are left out by a configurable rule, so a
// new dispatcher does not pin flows to a server for clients that no longer exist.
//
// Sockets: one netlink socket per dump(), opened in the network namespace of the calling
// thread (the daemon runs inside its node's namespace). Listing works without privileges.
// UDP services: the connected UDP sockets (docs/agent.md "UDP"), in a second dump.
// Thread: any; no shared state. Cost: one kernel dump of the namespace's established IPv4 TCP
// sockets on the service ports (the kernel filters by local port with inet_diag bytecode, the
// address is checked here). The kernel still walks every established socket of the namespace:
// about 1.5-3 µs per socket on the 2-core lab machine (bench_reconstruction prints it).

#include "agent/connmessages.h"

#include <QString>

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace sasha {

// The part of struct tcp_info the dead-client rule reads (times in ms since the event).
struct TcpSocketState {
    std::uint32_t lastDataRecvMs = 0; // tcpi_last_data_recv
    std::uint32_t lastAckRecvMs = 0;  // tcpi_last_ack_recv
    std::uint32_t unacked = 0;        // tcpi_unacked: segments sent, not acknowledged
    std::uint8_t retransmits = 0;     // tcpi_retransmits: RTO retransmissions of the current one
    std::uint8_t backoff = 0;         // tcpi_backoff: RTO doublings without an ACK
    std::uint8_t probes = 0;          // tcpi_probes: unanswered zero-window/keepalive probes
};

// When is a client gone? Any one rule that is on and holds is enough. docs/agent.md explains
// the defaults; a value of 0 turns that rule off.
struct DeadClientFilter {
    // The client has not acknowledged our outstanding data for this long (a download whose
    // client vanished: the kernel retransmits, no ACK comes). Needs unacked > 0.
    std::uint32_t unackedSilenceMs = 3000;
    // RTO has doubled this many times without any ACK (about 0.2+0.4+0.8 s of silence at 3).
    std::uint8_t maxBackoff = 3;
    // This many zero-window or keepalive probes unanswered.
    std::uint8_t maxProbes = 2;
    // Nothing received (no data, no ACK) for this long, whatever the state: the catch-all for an
    // idle keep-alive connection whose client vanished without a FIN. Off by default: nginx's
    // keepalive_timeout closes those; set it above that timeout to be safe.
    std::uint32_t maxIdleMs = 0;
};

// The first rule that holds, or nullopt when the client looks alive.
std::optional<QString> clientGoneReason(const TcpSocketState &s, const DeadClientFilter &f);

// Every client frame reaches a server through the dispatcher, so when the dispatcher dies every
// server hears nothing from any client until a new one forwards: the silence of a download then
// looks like a vanished client (no ACK, RTO backoff, unanswered zero-window probes), although it
// is the outage's. A silence that began within this window of the moment this node saw the
// dispatcher lost (before it: the ring takes up to a token timeout, or a purge, to notice;
// kOutageAfterMs after it: this node may notice later than the servers' last frame) is the
// outage's, and the connection is reported (docs/agent.md "The dead-client filter").
inline constexpr std::uint32_t kOutageLeadMs = 2000;
inline constexpr std::uint32_t kOutageAfterMs = 100;
// silenceMs: the client's last sign of life (min of last data, last ACK received), ms ago;
// sinceLossMs: ms since this node saw the dispatcher lost.
constexpr bool silenceFromOutage(std::uint32_t silenceMs, std::uint32_t sinceLossMs)
{
    return std::uint64_t(silenceMs) + kOutageAfterMs >= sinceLossMs
        && std::uint64_t(silenceMs) <= std::uint64_t(sinceLossMs) + kOutageLeadMs;
}

struct ConnectionInfo {
    std::uint32_t clientIp = 0; // host byte order
    std::uint16_t clientPort = 0;
    std::uint32_t vip = 0;
    std::uint16_t vport = 0;
    // TCP: min(last data, last ACK received), the client's last sign of life. UDP: 0 (the kernel
    // keeps no receive time for a UDP socket; docs/agent.md "UDP").
    std::uint32_t idleMs = 0;
    TcpSocketState tcp;
    bool udp = false;           // a connected UDP socket of a UDP service
    friend bool operator==(const ConnectionInfo &, const ConnectionInfo &) = default;
};

struct ConnectionDump {
    std::vector<ConnectionInfo> live; // sorted by (udp, vport, clientIp, clientPort)
    std::uint32_t skippedDead = 0;
    // Of the live ones: a dead-client rule held, but the silence began when the dispatcher was
    // lost (silenceFromOutage), so they are reported.
    std::uint32_t sparedOutage = 0;
    // Why the first few were left out or spared, for the log: "client:port: reason".
    std::vector<QString> deadSamples;
    static constexpr std::size_t kMaxDeadSamples = 4;
    std::uint32_t scanned = 0;        // sockets the kernel listed (established, on a service port)
    std::optional<QString> error;     // netlink failure: live is empty, the message names the cause
};

class ConnectionDumper {
public:
    explicit ConnectionDumper(DeadClientFilter filter = {}) : m_filter(filter) {}
    void setFilter(const DeadClientFilter &f) { m_filter = f; }
    const DeadClientFilter &filter() const { return m_filter; }
    // L4/3 (NAT) services (docs/agent.md "NAT mode"): their connections end on this server's own
    // address, not on the VIP. A socket on (local, port) counts as one on (vip, port), and is
    // reported as such, when (vip, port) is asked.
    struct LocalAlias {
        std::uint32_t local = 0; // this server's address, host byte order
        std::uint16_t port = 0;
        std::uint32_t vip = 0;
        bool udp = false;        // the alias of a UDP service (else TCP)
        friend bool operator==(const LocalAlias &, const LocalAlias &) = default;
    };
    void setLocalAliases(std::vector<LocalAlias> aliases) { m_aliases = std::move(aliases); }
    // When this node last saw the ring's dispatcher lost (it left the view, or another took its
    // place without a handover): silences that began then are spared (silenceFromOutage).
    // nullopt: never, or too long ago to matter.
    void setDispatcherLostAt(std::optional<std::chrono::steady_clock::time_point> at) { m_dispatcherLostAt = at; }

    // Established connections to vip (host byte order) on any of ports.
    ConnectionDump dump(std::uint32_t vip, const std::vector<std::uint16_t> &ports) const;
    // Established connections to any of the (vip, port) pairs (several VIPs: [[service]]).
    ConnectionDump dump(const std::vector<std::pair<std::uint32_t, std::uint16_t>> &services) const;
    // And the connected UDP sockets (a peer set: connect(2), state "established" in sock_diag)
    // bound to any of the udpServices pairs: a second dump, of IPPROTO_UDP, with the same port
    // filter. Unconnected UDP sockets (a plain recvfrom server) have no peer and are not listed.
    ConnectionDump dump(const std::vector<std::pair<std::uint32_t, std::uint16_t>> &services,
                        const std::vector<std::pair<std::uint32_t, std::uint16_t>> &udpServices) const;

    // The reconstruction wire entries of a dump (idle code from idleMs).
    static std::vector<ConnEntry> toEntries(const std::vector<ConnectionInfo> &live);

private:
    // One sock_diag dump of `protocol` (IPPROTO_TCP or IPPROTO_UDP) into result.
    void dumpProtocol(int protocol, const std::vector<std::pair<std::uint32_t, std::uint16_t>> &services,
                      ConnectionDump &result) const;
    DeadClientFilter m_filter;
    std::vector<LocalAlias> m_aliases;
    std::optional<std::chrono::steady_clock::time_point> m_dispatcherLostAt;
};

} // namespace sasha
