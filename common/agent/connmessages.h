#pragma once
// State reconstruction messages (paper §3.4, issue 3 "State reconstruction"): a new dispatcher
// asks every server's agent which connections to the VIP it holds (ConnQuery), each agent
// answers with one or more ConnReports. They travel as TokenBeat out-of-band payloads, reliable
// (chunked, acknowledged: tokenbeat/reliable.h), so they are authenticated and replay-protected
// by the envelope. This codec is pure: bytes in, values out. docs/agent.md has the protocol.
//
// Channels: kConnQueryChannel (0x10) carries queries, kConnReportChannel (0x11) reports.
//
// Wire layout, all integers big-endian.
//   ConnQuery (14 + 2n bytes):
//     version 1 (=1) | type 1 (=1 query) | flags 2 (bit 0: more VIPs follow) | queryId 4 | vip 4 |
//     portCount 2 (n, 1..kMaxServicePorts) | port 2 × n
//   ConnReport (38 + 2p + 8e bytes):
//     version 1 (=1) | type 1 (=2 report) | flags 1 (bit 0: VIP table follows) | portCount 1 (p, 0..kMaxServicePorts) |
//     queryId 4 (echoed) | server 4 (the reporter's ring address) | vip 4 |
//     mac 6 (the server's MAC on the cluster link, all zero when unknown) |
//     part 2 | partCount 2 (part < partCount) | totalEntries 4 (over all parts) |
//     skippedDead 4 (connections the dead-client filter left out; same in every part) |
//     entryCount 4 (e) | port 2 × p (the report's port table) | entry 8 × e
//   entry (8 bytes): clientIp 4 | clientPort 2 | portIndex 1 (into the report's port table) |
//     idleCode 1 (how long the connection has been silent, log2 scale: see idleCodeFromMs)
//   The idle code lets the dispatcher decide when two servers claim one flow (the fresher claim
//   wins, docs/agent.md) without growing the entry past 8 bytes: 100k connections = 800 KB,
//   under the reliable exchange's 1 MiB cap; more are split into parts of at most
//   kMaxEntriesPerReport entries.
//   Appended, each announced by its flag bit (version 1 still: a decoder that predates them
//   ignores the flags and the bytes, as below):
//   ConnQuery, after the last port: more VIPs, for clusters with services on several VIPs
//     (docs/config.md "[[service]]"): vipCount 2 (m) | m × (vip 4 | portCount 2 (k, 1..) | port 2 × k).
//     The ports over all VIPs are at most kMaxServicePorts. Absent: only vip's ports are asked.
//   ConnQuery, after the more-VIPs field (or the last port): UDP services (flags bit 1), the
//     connected UDP sockets to report (docs/agent.md "UDP"): udpVipCount 2 (m) |
//     m × (vip 4 | portCount 2 (k, 1..) | port 2 × k); at most kMaxServicePorts UDP ports over all
//     VIPs (a budget of their own). With this field portCount n may be 0 (UDP services only; an
//     agent that predates it refuses such a query, and the dispatcher gives it up).
//   ConnReport, after the last entry: the VIP of each port-table entry, vip 4 × p, present
//     (flags bit 0) when some entry's VIP is not the report's vip; the port table is then of
//     (vip, port) pairs. Absent: every entry is to the report's vip.
//   ConnReport, after the VIP table (or the last entry): the protocol of each port-table entry,
//     proto 1 × p (6 tcp, 17 udp), present (flags bit 1) when the query asked UDP services; the
//     table then holds the TCP pairs first, then the UDP pairs, up to 2 × kMaxServicePorts in
//     all. Absent: every entry is TCP, and p is at most kMaxServicePorts. Only a query with the
//     UDP field makes an agent send it, so a dispatcher that predates it never receives it.
//   A flagged field that is truncated is malformed.
// Decoding: shorter than the fixed part, an unknown version/type, a query without ports or with
// more than kMaxServicePorts, part >= partCount, an entry whose portIndex is outside the port
// table, or fewer bytes than the counts announce is malformed. Bytes after the last entry (or
// port, for a query) are ignored so a later version may append fields; any other change bumps
// the version.

#include "tokenbeat/reliable.h"
#include "tokenbeat/types.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

#include <array>
#include <optional>
#include <span>
#include <vector>

namespace sasha {

// Out-of-band channels below 0x80 belong to the cluster's own services (faultcommand.h).
constexpr quint8 kConnQueryChannel = 0x10;
constexpr quint8 kConnReportChannel = 0x11;
constexpr quint8 kConnMessageVersion = 1;
constexpr int kConnQueryFixedSize = 14;
constexpr int kConnReportFixedSize = 38;
constexpr int kConnEntrySize = 8;
constexpr int kMaxServicePorts = 64;
// Entries per report so that the largest report (all ports listed) fits one reliable transfer.
// (The port table is 2 bytes a port, 4 more for its VIP when the query had several VIPs, and 1
// more for its protocol when it asked UDP services: 7 × 2 × kMaxServicePorts at most.)
constexpr int kMaxEntriesPerReport =
    int((tb::kMaxOobPayload - kConnReportFixedSize - 14 * kMaxServicePorts) / kConnEntrySize);

struct ConnQueryVip {
    quint32 vip = 0;
    std::vector<quint16> ports;
    friend bool operator==(const ConnQueryVip &, const ConnQueryVip &) = default;
};

struct ConnQuery {
    quint32 queryId = 0;
    quint32 vip = 0;              // IPv4, host byte order
    std::vector<quint16> ports;   // TCP service ports on the VIP
    std::vector<ConnQueryVip> moreVips; // the appended field: other VIPs and their TCP ports
    std::vector<ConnQueryVip> udp;      // the appended UDP field: VIPs and their UDP ports
    // Every TCP (vip, port) asked, vip's first, without duplicates, at most kMaxServicePorts.
    std::vector<std::pair<quint32, quint16>> services() const;
    // Every UDP (vip, port) asked, without duplicates, at most kMaxServicePorts.
    std::vector<std::pair<quint32, quint16>> udpServices() const;
    friend bool operator==(const ConnQuery &, const ConnQuery &) = default;
};

using ServicePorts = std::vector<std::pair<quint32, quint16>>; // (vip, port) pairs

// A query for every TCP (vip, port) of `services` and every UDP one of `udpServices` (the first
// TCP pair's VIP is the query's vip; the first UDP pair's when there is no TCP service).
ConnQuery connQueryFor(quint32 queryId, const ServicePorts &services, const ServicePorts &udpServices = {});

// One connection as it travels: the client's address, the service port, and its idle code.
struct ConnEntry {
    quint32 clientIp = 0;   // host byte order
    quint16 clientPort = 0;
    quint16 vport = 0;
    quint8 idleCode = 0;
    quint32 vip = 0;        // 0 = the query's (report's) vip, also when decoded
    bool udp = false;       // a connected UDP socket of a UDP service (else TCP)
    friend bool operator==(const ConnEntry &, const ConnEntry &) = default;
};

struct ConnReport {
    quint32 queryId = 0;
    tb::NodeAddr server = tb::kNoNode;
    quint32 vip = 0;
    std::array<quint8, 6> mac{};
    quint16 part = 0;
    quint16 partCount = 1;
    quint32 totalEntries = 0;
    quint32 skippedDead = 0;
    std::vector<ConnEntry> entries;
    friend bool operator==(const ConnReport &, const ConnReport &) = default;
};

// Idle time -> code: 0 for under 1 ms, else 1 + floor(log2(ms)), so code c means
// [2^(c-1), 2^c) ms. Monotonic: a smaller code is never a longer silence.
quint8 idleCodeFromMs(quint32 idleMs);

QByteArray encodeConnQuery(const ConnQuery &q);
// nullopt with *error set when malformed (error may be null).
std::optional<ConnQuery> decodeConnQuery(QByteArrayView payload, QString *error = nullptr);

// An agent's whole answer, cut into parts of at most maxEntriesPerPart entries (clamped to
// 1..kMaxEntriesPerReport); at least one part, even for no connections. Entries whose (vip,
// vport, protocol) the query did not ask are left out (the agent only reports what was asked).
std::vector<QByteArray> encodeConnReports(const ConnQuery &query, tb::NodeAddr server,
                                          const std::array<quint8, 6> &mac,
                                          std::span<const ConnEntry> entries, quint32 skippedDead,
                                          int maxEntriesPerPart = kMaxEntriesPerReport);
std::optional<ConnReport> decodeConnReport(QByteArrayView payload, QString *error = nullptr);

} // namespace sasha
