#pragma once
// A private two-namespace lab for the packet I/O tests and bench_inject: namespaces
// sasha-pio-<pid><tag>a and ...b joined by one veth pair, subnet 10.254.<n>.0/24, IPv6 off. Names carry the process
// id, so concurrent runs never collide; the destructor removes both namespaces (and with them
// the veth pair) whatever happened. Needs root. No Qt: the benchmark uses it too.

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace sasha::testlab {

inline bool runQuiet(const std::string &command)
{
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

struct NetnsLab {
    std::string nsA, nsB, ifA, ifB;
    std::array<std::uint8_t, 6> macA{0x02, 0xaa, 0, 0, 0, 0x01};
    std::array<std::uint8_t, 6> macB{0x02, 0xbb, 0, 0, 0, 0x02};
    std::uint32_t ipA = 0, ipB = 0; // host byte order
    std::string error;

    // `tag` keeps several labs of one process apart (one letter or digit).
    explicit NetnsLab(char tag)
    {
        removeOrphans();
        const std::string id = std::to_string(::getpid()) + tag;
        nsA = "sasha-pio-" + id + "a";
        nsB = "sasha-pio-" + id + "b";
        ifA = "pio" + id + "a"; // <= 15 characters
        ifB = "pio" + id + "b";
        const unsigned subnet = 1 + unsigned(::getpid() % 200);
        ipA = (10u << 24) | (254u << 16) | (subnet << 8) | 1;
        ipB = ipA + 1;
        const std::string net = "10.254." + std::to_string(subnet) + ".";
        remove(); // leftovers of a crashed run with the same pid
        const std::string commands[] = {
            "ip netns add " + nsA,
            "ip netns add " + nsB,
            "ip link add " + ifA + " netns " + nsA + " type veth peer name " + ifB + " netns " + nsB,
            "ip -n " + nsA + " link set " + ifA + " address " + macText(macA),
            "ip -n " + nsB + " link set " + ifB + " address " + macText(macB),
            "ip netns exec " + nsA + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
            "ip netns exec " + nsB + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
            "ip -n " + nsA + " addr add " + net + "1/24 dev " + ifA,
            "ip -n " + nsB + " addr add " + net + "2/24 dev " + ifB,
            "ip -n " + nsA + " link set lo up",
            "ip -n " + nsB + " link set lo up",
            "ip -n " + nsA + " link set " + ifA + " up",
            "ip -n " + nsB + " link set " + ifB + " up",
        };
        for (const std::string &c : commands) {
            if (!runQuiet(c)) {
                error = "failed: " + c;
                return;
            }
        }
    }
    ~NetnsLab() { remove(); }
    NetnsLab(const NetnsLab &) = delete;
    NetnsLab &operator=(const NetnsLab &) = delete;

    bool ok() const { return error.empty(); }
    bool execIn(const std::string &ns, const std::string &command) const
    {
        return runQuiet("ip netns exec " + ns + " " + command);
    }
    // Namespaces of earlier runs that crashed before their destructor (their pid is gone).
    static void removeOrphans()
    {
        DIR *dir = ::opendir("/run/netns");
        if (!dir)
            return;
        constexpr std::string_view kPrefix = "sasha-pio-";
        for (dirent *e; (e = ::readdir(dir));) {
            const std::string_view name = e->d_name;
            if (name.substr(0, kPrefix.size()) != kPrefix)
                continue;
            const long pid = std::atol(std::string(name.substr(kPrefix.size())).c_str());
            if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH)
                runQuiet("ip netns del " + std::string(name));
        }
        ::closedir(dir);
    }
    void remove() const
    {
        runQuiet("ip netns del " + nsA);
        runQuiet("ip netns del " + nsB);
    }
    static std::string macText(const std::array<std::uint8_t, 6> &m)
    {
        char t[18];
        std::snprintf(t, sizeof t, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        return t;
    }
};

// Moves the calling thread into a named namespace for its lifetime. Sockets and pcap handles
// opened meanwhile stay in that namespace after the thread moves back, so a test opens its
// capture and injection handles in a scope and uses them from any thread.
class NetnsScope {
public:
    explicit NetnsScope(const std::string &name)
    {
        m_home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        const int target = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
        m_ok = m_home >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0;
        if (target >= 0)
            ::close(target);
    }
    ~NetnsScope()
    {
        if (m_ok)
            ::setns(m_home, CLONE_NEWNET);
        if (m_home >= 0)
            ::close(m_home);
    }
    NetnsScope(const NetnsScope &) = delete;
    NetnsScope &operator=(const NetnsScope &) = delete;
    bool ok() const { return m_ok; }

private:
    int m_home = -1;
    bool m_ok = false;
};

} // namespace sasha::testlab
