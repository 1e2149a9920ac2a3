// connhold: holds N established TCP connections open inside one namespace of the lab, for
// lab_bigtables.sh (issue 8 item 6): a listener on LISTEN (the VIP and a service port, so the
// node's agent reports every one of them in its reconstruction dump) and N connections to it from
// the SOURCE addresses in turn, from ports 10000..29999 (20,000 per address, so 100k connections
// need 5 addresses or more).
//
// File descriptors: the lab may not raise RLIMIT_NOFILE (no CAP_SYS_RESOURCE; 20,000 here), so the
// server sides are never accepted: they stay in the listener's accept queue, established sockets
// without a descriptor (the listen backlog must be >= N: raise net.core.somaxconn in the
// namespace first), and the client sides are spread over child processes of at most
// kPerChild connections each.
//
// Loopback only: LISTEN and every SOURCE must be addresses of the namespace it runs in (the
// connections never leave it). Prints "ready N (S s)" on stdout once the accept queue holds N
// connections, then holds them until SIGTERM/SIGINT or --seconds S, whichever comes first. Exit 0,
// 1 on error (the message names the call that failed and the fix), 2 on bad usage.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// Client sides per child process: below the 20,000-descriptor limit with room for stdio.
constexpr long kPerChild = 19000;
// Client ports: kFirstPort upwards, kPerSource per source address: below the kernel's ephemeral
// range (32768-60999), whose ports the node's own outgoing connections may hold.
constexpr long kFirstPort = 10000;
constexpr long kPerSource = 20000;

volatile std::sig_atomic_t gStop = 0;
void onSignal(int) { gStop = 1; }

struct Options {
    sockaddr_in listen{};
    std::vector<in_addr> sources;
    long count = 0;
    double seconds = 120;
};

int usage(const char *why)
{
    std::fprintf(stderr,
                 "connhold: %s\n"
                 "usage: connhold --listen IPv4:PORT --source IPv4[,IPv4...] --count N [--seconds S]\n"
                 "  N connections from the sources in turn to a listener on IPv4:PORT, held until\n"
                 "  SIGTERM or S seconds (default 120); at most 20,000 per source address (ports\n"
                 "  10000..29999);\n"
                 "  net.core.somaxconn must be >= N\n",
                 why);
    return 2;
}

bool parseEndpoint(const std::string &text, sockaddr_in &out)
{
    const auto colon = text.rfind(':');
    if (colon == std::string::npos)
        return false;
    out.sin_family = AF_INET;
    const long port = std::strtol(text.c_str() + colon + 1, nullptr, 10);
    if (port < 1 || port > 65535 || inet_pton(AF_INET, text.substr(0, colon).c_str(), &out.sin_addr) != 1)
        return false;
    out.sin_port = htons(std::uint16_t(port));
    return true;
}

bool parseSources(const std::string &text, std::vector<in_addr> &out)
{
    std::size_t at = 0;
    while (at <= text.size()) {
        const std::size_t comma = std::min(text.find(',', at), text.size());
        in_addr a{};
        if (inet_pton(AF_INET, text.substr(at, comma - at).c_str(), &a) != 1)
            return false;
        out.push_back(a);
        at = comma + 1;
    }
    return !out.empty();
}

int fail(const char *what)
{
    std::fprintf(stderr, "connhold: %s: %s\n", what, std::strerror(errno));
    return 1;
}

// The listener's accept queue: connections established and not accepted (tcpi_unacked of a
// listening socket), and its limit (tcpi_sacked).
bool acceptQueue(int listener, std::uint32_t &queued, std::uint32_t &limit)
{
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(listener, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
        return false;
    queued = info.tcpi_unacked;
    limit = info.tcpi_sacked;
    return true;
}

// A child: connections [first, first + n) of the whole, from the sources in turn; holds them
// until its parent ends it (SIGTERM, also when the parent dies). Exit 1 on a failed call.
int child(const Options &o, long first, long n)
{
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() == 1)
        return 1;
    std::vector<int> held;
    held.reserve(std::size_t(n));
    for (long i = first; i < first + n && !gStop; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return fail("socket (client side; RLIMIT_NOFILE?)");
        // Connection i: source i % S, port kFirstPort + i / S, bound explicitly. A bind to port 0
        // (or IP_BIND_ADDRESS_NO_PORT) searches the port range for a free port, which took minutes
        // of system time for 100k connections as the range filled up.
        const std::size_t sources = o.sources.size();
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr = o.sources[std::size_t(i) % sources];
        src.sin_port = htons(std::uint16_t(kFirstPort + std::size_t(i) / sources));
        if (::bind(fd, reinterpret_cast<const sockaddr *>(&src), sizeof src) != 0)
            return fail("bind (the source address must be one of this namespace; nothing may listen on "
                        "ports 10000..29999 of all addresses)");
        if (::connect(fd, reinterpret_cast<const sockaddr *>(&o.listen), sizeof o.listen) != 0 && errno != EINPROGRESS)
            return fail("connect");
        held.push_back(fd);
    }
    while (!gStop)
        ::pause();
    return 0; // exit closes every socket
}

} // namespace

int main(int argc, char **argv)
{
    Options o;
    bool haveListen = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc)
            return usage(("missing value after " + arg).c_str());
        const std::string value = argv[++i];
        if (arg == "--listen") {
            if (!parseEndpoint(value, o.listen))
                return usage("--listen must be IPv4:PORT");
            haveListen = true;
        } else if (arg == "--source") {
            if (!parseSources(value, o.sources))
                return usage("--source must be IPv4 addresses separated by commas");
        } else if (arg == "--count") {
            o.count = std::strtol(value.c_str(), nullptr, 10);
            if (o.count < 1 || o.count > 1000000)
                return usage("--count must be 1..1000000");
        } else if (arg == "--seconds") {
            o.seconds = std::strtod(value.c_str(), nullptr);
            if (!(o.seconds > 0 && o.seconds <= 3600))
                return usage("--seconds must be in (0, 3600]");
        } else {
            return usage(("unknown option " + arg).c_str());
        }
    }
    if (!haveListen || o.sources.empty() || o.count == 0)
        return usage("--listen, --source and --count are required");
    if (o.count > long(o.sources.size()) * kPerSource)
        return usage("too few --source addresses for --count (at most 20,000 connections each)");

    struct sigaction sa{};
    sa.sa_handler = onSignal;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);

    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0)
        return fail("socket");
    const int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listener, reinterpret_cast<const sockaddr *>(&o.listen), sizeof o.listen) != 0)
        return fail("bind (listen address)");
    if (::listen(listener, int(std::min<long>(o.count + 1024, 1 << 30))) != 0)
        return fail("listen");
    std::uint32_t queued = 0, limit = 0;
    if (!acceptQueue(listener, queued, limit))
        return fail("getsockopt(TCP_INFO)");
    if (long(limit) < o.count) {
        std::fprintf(stderr, "connhold: the listen backlog is %u, below --count %ld: raise it in this namespace "
                             "(sysctl -w net.core.somaxconn=%ld)\n", limit, o.count, o.count + 1024);
        return 1;
    }

    const auto start = std::chrono::steady_clock::now();
    std::vector<pid_t> children;
    for (long first = 0; first < o.count; first += kPerChild) {
        const pid_t pid = ::fork();
        if (pid < 0)
            return fail("fork");
        if (pid == 0)
            std::_Exit(child(o, first, std::min(kPerChild, o.count - first)));
        children.push_back(pid);
    }
    auto endChildren = [&children] {
        for (pid_t pid : children)
            ::kill(pid, SIGTERM);
        for (pid_t pid : children)
            ::waitpid(pid, nullptr, 0);
    };
    // Every handshake done: the accept queue holds all N (bounded: 60 s).
    bool childFailed = false;
    for (int round = 0; queued < std::uint32_t(o.count) && round < 600 && !gStop && !childFailed; ++round) {
        ::poll(nullptr, 0, 100);
        acceptQueue(listener, queued, limit);
        int status = 0;
        childFailed = ::waitpid(-1, &status, WNOHANG) > 0;
    }
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (queued < std::uint32_t(o.count)) {
        std::fprintf(stderr, "connhold: %u of %ld connections established after %.1f s%s\n", queued, o.count, took,
                     childFailed ? " (a child failed)" : "");
        endChildren();
        return 1;
    }
    std::printf("ready %u (%.1f s)\n", queued, took);
    std::fflush(stdout);
    const auto until = start + std::chrono::duration<double>(o.seconds);
    while (!gStop && std::chrono::steady_clock::now() < until)
        ::poll(nullptr, 0, 100);
    endChildren();
    return 0;
}
