#include "neighbourtable.h"

#include <arpa/inet.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace sasha {

namespace {

constexpr std::uint16_t kDiscardPort = 9;
constexpr std::uint16_t kUsableStates =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

struct FdCloser {
    int fd;
    ~FdCloser()
    {
        if (fd >= 0)
            ::close(fd);
    }
};

bool parseMac(std::string_view text, MacAddress &mac)
{
    unsigned b[6];
    if (text.size() != 17 ||
        std::sscanf(std::string(text).c_str(), "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        return false;
    for (int i = 0; i < 6; ++i)
        mac[i] = std::uint8_t(b[i]);
    return true;
}

} // namespace

KernelNeighbourTable::KernelNeighbourTable(std::uint32_t clusterNetwork, int prefixLength, std::string interface)
    : m_mask(prefixLength <= 0 ? 0 : prefixLength >= 32 ? 0xffffffffu : ~((1u << (32 - prefixLength)) - 1)),
      m_interface(std::move(interface))
{
    m_network = clusterNetwork & m_mask;
    if (!m_interface.empty())
        m_ifindex = int(if_nametoindex(m_interface.c_str()));
}

bool KernelNeighbourTable::inCluster(std::uint32_t address) const noexcept
{
    // A /0 "cluster" would let solicit() send anywhere: refuse it.
    return m_mask != 0 && (address & m_mask) == m_network;
}

bool KernelNeighbourTable::setPermanent(const std::string &interface, std::uint32_t address, const MacAddress &mac,
                                        std::string &error)
{
    const unsigned ifindex = if_nametoindex(interface.c_str());
    if (ifindex == 0) {
        error = "no interface " + interface;
        return false;
    }
    const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        error = std::string("netlink socket: ") + std::strerror(errno);
        return false;
    }
    FdCloser closer{fd};
    timeval timeout{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct {
        nlmsghdr header;
        ndmsg body;
        alignas(4) char attributes[64];
    } request{};
    request.header.nlmsg_type = RTM_NEWNEIGH;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    request.header.nlmsg_seq = 1;
    request.body.ndm_family = AF_INET;
    request.body.ndm_ifindex = int(ifindex);
    request.body.ndm_state = NUD_PERMANENT;
    std::size_t length = NLMSG_LENGTH(sizeof(ndmsg));
    auto put = [&](unsigned short type, const void *data, std::size_t size) {
        auto *a = reinterpret_cast<rtattr *>(reinterpret_cast<char *>(&request) + NLMSG_ALIGN(length));
        a->rta_type = type;
        a->rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
        std::memcpy(RTA_DATA(a), data, size);
        length = NLMSG_ALIGN(length) + RTA_ALIGN(a->rta_len);
    };
    const std::uint32_t networkOrder = htonl(address);
    put(NDA_DST, &networkOrder, 4);
    put(NDA_LLADDR, mac.data(), 6);
    request.header.nlmsg_len = std::uint32_t(length);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd, &request, length, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof kernel) < 0) {
        error = std::string("netlink RTM_NEWNEIGH: ") + std::strerror(errno);
        return false;
    }
    alignas(nlmsghdr) char buffer[512];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) {
        error = std::string("netlink RTM_NEWNEIGH answer: ") + std::strerror(errno);
        return false;
    }
    const auto *h = reinterpret_cast<const nlmsghdr *>(buffer);
    if (NLMSG_OK(h, int(n)) && h->nlmsg_type == NLMSG_ERROR) {
        const auto *e = static_cast<const nlmsgerr *>(NLMSG_DATA(h));
        if (e->error != 0) {
            error = std::string("netlink RTM_NEWNEIGH: ") + std::strerror(-e->error)
                + (e->error == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
            return false;
        }
    }
    return true;
}

std::vector<Neighbour> KernelNeighbourTable::dumpNetlink(std::string &error)
{
    std::vector<Neighbour> result;
    const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        error = std::string("netlink socket: ") + std::strerror(errno);
        return result;
    }
    FdCloser closer{fd};
    timeval timeout{1, 0}; // a dump is answered at once; never hang the caller
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

    struct {
        nlmsghdr header;
        ndmsg body;
    } request{};
    request.header.nlmsg_len = sizeof request;
    request.header.nlmsg_type = RTM_GETNEIGH;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = 1;
    request.body.ndm_family = AF_INET;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd, &request, sizeof request, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof kernel) < 0) {
        error = std::string("netlink RTM_GETNEIGH: ") + std::strerror(errno);
        return result;
    }
    alignas(nlmsghdr) static thread_local char buffer[1 << 16];
    // Bounded: a neighbour table of any real size fits in far fewer reads than this.
    for (int reads = 0; reads < 4096; ++reads) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            error = std::string("netlink recv: ") + std::strerror(errno);
            return result;
        }
        int remaining = int(n);
        for (auto *h = reinterpret_cast<nlmsghdr *>(buffer); NLMSG_OK(h, remaining); h = NLMSG_NEXT(h, remaining)) {
            if (h->nlmsg_type == NLMSG_DONE)
                return result;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const auto *e = static_cast<const nlmsgerr *>(NLMSG_DATA(h));
                error = std::string("netlink RTM_GETNEIGH: ") + std::strerror(-e->error);
                return result;
            }
            if (h->nlmsg_type != RTM_NEWNEIGH)
                continue;
            const auto *nd = static_cast<const ndmsg *>(NLMSG_DATA(h));
            if (nd->ndm_family != AF_INET || !(nd->ndm_state & kUsableStates))
                continue;
            Neighbour entry;
            entry.ifindex = nd->ndm_ifindex;
            bool haveAddress = false, haveMac = false;
            int attributesLength = int(NLMSG_PAYLOAD(h, sizeof(ndmsg)));
            for (auto *a = reinterpret_cast<rtattr *>(reinterpret_cast<char *>(NLMSG_DATA(h)) + NLMSG_ALIGN(sizeof(ndmsg)));
                 RTA_OK(a, attributesLength); a = RTA_NEXT(a, attributesLength)) {
                if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 4) {
                    std::uint32_t networkOrder;
                    std::memcpy(&networkOrder, RTA_DATA(a), 4);
                    entry.address = ntohl(networkOrder);
                    haveAddress = true;
                } else if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
                    std::memcpy(entry.mac.data(), RTA_DATA(a), 6);
                    haveMac = true;
                }
            }
            if (haveAddress && haveMac) {
                char name[IF_NAMESIZE] = {};
                if (if_indextoname(unsigned(entry.ifindex), name))
                    entry.device = name;
                result.push_back(entry);
            }
        }
    }
    error = "netlink RTM_GETNEIGH: dump did not end";
    return result;
}

std::vector<Neighbour> KernelNeighbourTable::parseProcNetArp(std::string_view text)
{
    // IP address       HW type     Flags       HW address            Mask     Device
    // 10.77.0.2        0x1         0x2         02:5a:00:00:00:02     *        eth0
    // Flags 0x2 (ATF_COM) = resolved; 0x0 = incomplete.
    std::vector<Neighbour> result;
    std::istringstream in{std::string(text)};
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string ip, hwType, flags, mac, mask, device;
        if (!(fields >> ip >> hwType >> flags >> mac >> mask >> device))
            continue;
        in_addr address{};
        Neighbour entry;
        if (inet_pton(AF_INET, ip.c_str(), &address) != 1 || !parseMac(mac, entry.mac))
            continue;
        if (!(std::strtoul(flags.c_str(), nullptr, 16) & 0x2))
            continue;
        entry.address = ntohl(address.s_addr);
        entry.device = device;
        result.push_back(entry);
    }
    return result;
}

std::vector<Neighbour> KernelNeighbourTable::dump()
{
    std::string error;
    auto entries = dumpNetlink(error);
    if (error.empty())
        return entries;
    std::ifstream file("/proc/net/arp");
    if (!file) {
        m_error = error + "; /proc/net/arp unreadable too";
        return {};
    }
    m_error = error + " (fell back to /proc/net/arp)";
    std::stringstream text;
    text << file.rdbuf();
    return parseProcNetArp(text.str());
}

std::map<std::uint32_t, MacAddress> KernelNeighbourTable::resolved()
{
    std::map<std::uint32_t, MacAddress> out;
    for (const Neighbour &n : dump()) {
        if (!m_interface.empty() && n.device != m_interface && n.ifindex != m_ifindex)
            continue;
        out.emplace(n.address, n.mac);
    }
    return out;
}

std::optional<MacAddress> KernelNeighbourTable::lookup(std::uint32_t address)
{
    const auto all = resolved();
    const auto it = all.find(address);
    if (it == all.end())
        return std::nullopt;
    return it->second;
}

bool KernelNeighbourTable::solicit(std::uint32_t address)
{
    if (!inCluster(address)) {
        m_error = "not soliciting " + std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 255) + "." +
                  std::to_string((address >> 8) & 255) + "." + std::to_string(address & 255) +
                  ": outside the cluster subnet";
        return false;
    }
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        m_error = std::string("solicit: socket: ") + std::strerror(errno);
        return false;
    }
    FdCloser closer{fd};
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(kDiscardPort);
    to.sin_addr.s_addr = htonl(address);
    // One empty datagram: the kernel resolves the neighbour to send it; the discard service
    // (or an ICMP port unreachable) is all it causes on the node.
    if (::sendto(fd, nullptr, 0, MSG_DONTWAIT, reinterpret_cast<sockaddr *>(&to), sizeof to) < 0 && errno != EAGAIN) {
        m_error = std::string("solicit: sendto: ") + std::strerror(errno);
        return false;
    }
    return true;
}

std::optional<MacAddress> KernelNeighbourTable::resolveBlocking(std::uint32_t address, int attempts,
                                                                std::chrono::milliseconds wait)
{
    for (int i = 0; i < attempts; ++i) {
        if (auto mac = lookup(address))
            return mac;
        if (!solicit(address))
            return std::nullopt;
        std::this_thread::sleep_for(wait);
    }
    return lookup(address);
}

} // namespace sasha
