#include "agent/connectiondumper.h"

#include <QHostAddress>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

namespace sasha {

namespace {

// include/net/tcp_states.h (kernel-internal): TCP_ESTABLISHED = 1; the dump filter is a bit mask.
constexpr std::uint32_t kTcpEstablished = 1;

// 32 KiB receive buffer: the kernel packs as many inet_diag_msg records as fit per recv.
constexpr std::size_t kRecvBuffer = 32 * 1024;
// A bound on recv() calls per dump (each returns dozens of sockets): 1M sockets fit easily.
constexpr int kMaxRecvCalls = 1 << 20;

class Fd {
public:
    explicit Fd(int fd) : m_fd(fd) {}
    ~Fd()
    {
        if (m_fd >= 0)
            ::close(m_fd);
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const { return m_fd; }

private:
    int m_fd;
};

QString errnoText(const char *what)
{
    return QStringLiteral("%1: %2").arg(QLatin1String(what), QString::fromLocal8Bit(std::strerror(errno)));
}

// The kernel-side filter (INET_DIAG_REQ_BYTECODE, the language behind `ss ... sport = :80`):
// accept a socket whose local port is one of ports, so the kernel neither fills tcp_info for
// nor sends the node's other sockets. Per port a 20-byte block:
//   S_GE port (8 B: op + op carrying the port) | S_LE port (8 B) | JMP to the end (accept)
// A failed comparison jumps to the next block; after the last block, to end + 4 (reject).
// Every op start lies on the chain of `yes` jumps, as the kernel's audit requires.
std::vector<char> portFilter(const std::vector<std::uint16_t> &ports)
{
    constexpr int kBlock = 20;
    const int total = kBlock * int(ports.size());
    std::vector<inet_diag_bc_op> ops;
    for (int i = 0; i < int(ports.size()); ++i) {
        const int at = kBlock * i;
        const bool last = i + 1 == int(ports.size());
        const auto miss = [&](int opAt) { return std::uint16_t((last ? total + 4 : at + kBlock) - opAt); };
        ops.push_back({INET_DIAG_BC_S_GE, 8, miss(at)});
        ops.push_back({0, 0, ports[std::size_t(i)]});
        ops.push_back({INET_DIAG_BC_S_LE, 8, miss(at + 8)});
        ops.push_back({0, 0, ports[std::size_t(i)]});
        ops.push_back({INET_DIAG_BC_JMP, 4, std::uint16_t(total - (at + 16))});
    }
    std::vector<char> out(ops.size() * sizeof(inet_diag_bc_op));
    std::memcpy(out.data(), ops.data(), out.size());
    return out;
}

// nlmsghdr | inet_diag_req_v2 | rtattr INET_DIAG_REQ_BYTECODE (the port filter). A UDP socket
// that connect(2)ed has sk_state TCP_ESTABLISHED too (udp_diag filters on the same bit), and no
// tcp_info to ask for.
std::vector<char> buildRequest(int protocol, const std::vector<std::uint16_t> &ports)
{
    const std::vector<char> bytecode = portFilter(ports);
    const std::size_t attrLen = bytecode.empty() ? 0 : RTA_LENGTH(bytecode.size());
    const std::size_t total = NLMSG_LENGTH(sizeof(inet_diag_req_v2)) + RTA_ALIGN(attrLen);
    std::vector<char> msg(total, 0);
    auto *h = reinterpret_cast<nlmsghdr *>(msg.data());
    h->nlmsg_len = std::uint32_t(total);
    h->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    h->nlmsg_seq = 1;
    auto *req = static_cast<inet_diag_req_v2 *>(NLMSG_DATA(h));
    req->sdiag_family = AF_INET;
    req->sdiag_protocol = std::uint8_t(protocol);
    req->idiag_states = 1u << kTcpEstablished;
    req->idiag_ext = protocol == IPPROTO_TCP ? 1u << (INET_DIAG_INFO - 1) : 0;
    if (attrLen) {
        auto *a = reinterpret_cast<rtattr *>(msg.data() + NLMSG_LENGTH(sizeof(inet_diag_req_v2)));
        a->rta_type = INET_DIAG_REQ_BYTECODE;
        a->rta_len = std::uint16_t(attrLen);
        std::memcpy(RTA_DATA(a), bytecode.data(), bytecode.size());
    }
    return msg;
}

} // namespace

std::optional<QString> clientGoneReason(const TcpSocketState &s, const DeadClientFilter &f)
{
    if (f.unackedSilenceMs && s.unacked > 0 && s.lastAckRecvMs >= f.unackedSilenceMs)
        return QStringLiteral("%1 segment(s) unacknowledged for %2 ms (limit %3)")
            .arg(s.unacked).arg(s.lastAckRecvMs).arg(f.unackedSilenceMs);
    // Retransmission backoff means silence only with data in flight: a client that reads slowly
    // (curl --limit-rate, a full video buffer) closes its window, and the kernel's zero-window
    // probes grow icsk_backoff too, although the client answers every one (tcpi_probes stays 0;
    // unanswered ones are the probes rule's case).
    if (f.maxBackoff && s.unacked > 0 && s.backoff >= f.maxBackoff)
        return QStringLiteral("retransmission backoff %1 with %2 segment(s) in flight (limit %3)")
            .arg(s.backoff).arg(s.unacked).arg(f.maxBackoff);
    if (f.maxProbes && s.probes >= f.maxProbes)
        return QStringLiteral("%1 unanswered probe(s) (limit %2)").arg(s.probes).arg(f.maxProbes);
    if (f.maxIdleMs && std::min(s.lastDataRecvMs, s.lastAckRecvMs) >= f.maxIdleMs)
        return QStringLiteral("nothing received for %1 ms (limit %2)")
            .arg(std::min(s.lastDataRecvMs, s.lastAckRecvMs)).arg(f.maxIdleMs);
    return std::nullopt;
}

ConnectionDump ConnectionDumper::dump(std::uint32_t vip, const std::vector<std::uint16_t> &ports) const
{
    std::vector<std::pair<std::uint32_t, std::uint16_t>> services;
    for (std::uint16_t p : ports)
        services.emplace_back(vip, p);
    return dump(services);
}

ConnectionDump ConnectionDumper::dump(const std::vector<std::pair<std::uint32_t, std::uint16_t>> &services) const
{
    return dump(services, {});
}

ConnectionDump ConnectionDumper::dump(const std::vector<std::pair<std::uint32_t, std::uint16_t>> &services,
                                      const std::vector<std::pair<std::uint32_t, std::uint16_t>> &udpServices) const
{
    ConnectionDump result;
    dumpProtocol(IPPROTO_TCP, services, result);
    if (!result.error)
        dumpProtocol(IPPROTO_UDP, udpServices, result);
    if (result.error) {
        result.live.clear();
        return result;
    }
    std::sort(result.live.begin(), result.live.end(), [](const ConnectionInfo &a, const ConnectionInfo &b) {
        return std::tie(a.udp, a.vport, a.clientIp, a.clientPort) < std::tie(b.udp, b.vport, b.clientIp, b.clientPort);
    });
    return result;
}

void ConnectionDumper::dumpProtocol(int protocol, const std::vector<std::pair<std::uint32_t, std::uint16_t>> &services,
                                    ConnectionDump &result) const
{
    if (services.empty())
        return;
    const bool udp = protocol == IPPROTO_UDP;
    // The kernel filters by port (bytecode); the VIP of each socket is checked below.
    std::vector<std::uint16_t> ports;
    for (const auto &[vip, port] : services)
        if (std::find(ports.begin(), ports.end(), port) == ports.end())
            ports.push_back(port);
    Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (fd.get() < 0) {
        result.error = errnoText("socket(AF_NETLINK, NETLINK_SOCK_DIAG) failed (kernel without sock_diag?)");
        return;
    }

    const std::vector<char> msg = buildRequest(protocol, ports);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr *>(&kernel), sizeof(kernel)) < 0) {
        result.error = errnoText("sock_diag request failed");
        return;
    }

    // How long ago the dispatcher was lost, as of this dump (the silences are read now too).
    std::optional<std::uint32_t> sinceLossMs;
    if (m_dispatcherLostAt) {
        const auto ago = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - *m_dispatcherLostAt);
        if (ago.count() >= 0 && ago.count() < 3'600'000)
            sinceLossMs = std::uint32_t(ago.count());
    }

    std::vector<char> buffer(kRecvBuffer);
    bool done = false;
    for (int calls = 0; !done && calls < kMaxRecvCalls; ++calls) {
        const ssize_t n = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            result.error = errnoText("sock_diag dump read failed");
            return;
        }
        if (n == 0)
            break;
        int left = int(n);
        for (auto *h = reinterpret_cast<nlmsghdr *>(buffer.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_type == NLMSG_DONE) {
                done = true;
                break;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                const auto *err = static_cast<const nlmsgerr *>(NLMSG_DATA(h));
                errno = h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)) ? -err->error : EPROTO;
                result.error = errnoText(udp ? "sock_diag dump of UDP sockets refused (kernel without udp_diag?)"
                                             : "sock_diag dump refused");
                return;
            }
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
                continue;
            const auto *d = static_cast<const inet_diag_msg *>(NLMSG_DATA(h));
            if (d->idiag_family != AF_INET || d->idiag_state != kTcpEstablished)
                continue;
            ++result.scanned;
            std::uint32_t local = ntohl(d->id.idiag_src[0]);
            const std::uint16_t localPort = ntohs(d->id.idiag_sport);
            for (const LocalAlias &a : m_aliases) {
                if (a.local == local && a.port == localPort && a.udp == udp) {
                    local = a.vip;
                    break;
                }
            }
            if (std::find(services.begin(), services.end(), std::pair{local, localPort}) == services.end())
                continue;

            ConnectionInfo c;
            c.clientIp = ntohl(d->id.idiag_dst[0]);
            c.clientPort = ntohs(d->id.idiag_dport);
            c.vip = local;
            c.vport = localPort;
            c.udp = udp;
            if (udp) {
                // No tcp_info, no dead-client rule: the socket lives until its application closes it.
                result.live.push_back(c);
                continue;
            }
            // Attributes follow the message; tcp_info may be shorter on older kernels.
            int attrLen = int(h->nlmsg_len) - int(NLMSG_LENGTH(sizeof(inet_diag_msg)));
            for (auto *a = reinterpret_cast<rtattr *>(const_cast<inet_diag_msg *>(d) + 1); RTA_OK(a, attrLen);
                 a = RTA_NEXT(a, attrLen)) {
                if (a->rta_type != INET_DIAG_INFO)
                    continue;
                tcp_info info{};
                std::memcpy(&info, RTA_DATA(a), std::min<std::size_t>(RTA_PAYLOAD(a), sizeof(info)));
                c.tcp.lastDataRecvMs = info.tcpi_last_data_recv;
                c.tcp.lastAckRecvMs = info.tcpi_last_ack_recv;
                c.tcp.unacked = info.tcpi_unacked;
                c.tcp.retransmits = info.tcpi_retransmits;
                c.tcp.backoff = info.tcpi_backoff;
                c.tcp.probes = info.tcpi_probes;
            }
            c.idleMs = std::min(c.tcp.lastDataRecvMs, c.tcp.lastAckRecvMs);
            if (const std::optional<QString> why = clientGoneReason(c.tcp, m_filter)) {
                const bool spared = sinceLossMs && silenceFromOutage(c.idleMs, *sinceLossMs);
                if (result.deadSamples.size() < ConnectionDump::kMaxDeadSamples)
                    result.deadSamples.push_back(QStringLiteral("%1:%2: %3%4")
                                                     .arg(QHostAddress(c.clientIp).toString()).arg(c.clientPort).arg(*why)
                                                     .arg(spared ? QStringLiteral(", silent since the dispatcher was lost %1 ms ago: reported")
                                                                       .arg(*sinceLossMs)
                                                                 : QString()));
                if (!spared) {
                    ++result.skippedDead;
                    continue;
                }
                ++result.sparedOutage;
            }
            result.live.push_back(c);
        }
    }
    if (!done)
        result.error = QStringLiteral("sock_diag dump ended without NLMSG_DONE");
}

std::vector<ConnEntry> ConnectionDumper::toEntries(const std::vector<ConnectionInfo> &live)
{
    std::vector<ConnEntry> out;
    out.reserve(live.size());
    for (const ConnectionInfo &c : live)
        out.push_back({c.clientIp, c.clientPort, c.vport, idleCodeFromMs(c.idleMs), c.vip, c.udp});
    return out;
}

} // namespace sasha
