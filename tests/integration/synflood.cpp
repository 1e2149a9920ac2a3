// synflood: a spoofed TCP SYN flood for the namespace lab (lab_synflood.sh; docs/lab.md). It
// sends SYNs to VIP:port through the VMAC from random sources in 198.18.0.0/15 (RFC 2544's
// benchmarking range, never routed) and random ports, with correct IPv4 and TCP checksums, so
// the servers the dispatcher forwards them to treat them as a real flood would be treated. With
// --bogus-every N, every Nth frame is instead one that no client sends (from the VIP, 0.0.0.0,
// 127.0.0.1, 224.0.0.1, 240.0.0.1, 255.255.255.255, or 802.1Q-tagged), in turn.
//
// Injection: AfPacketSink's TX ring, the dispatcher's own injector, as fast as it goes or paced
// to --rate frames/s (batches of 64, the clock read once per batch). Needs CAP_NET_RAW; run it
// only inside the lab's namespaces (`sasha-lab exec client -- synflood ...`).
// Prints one line: sent=N failed=F bogus=B seconds=S pps=R.

#include "dispatcher/afpacketsink.h"
#include "fastpath/checksum.h"
#include "testframes.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace sasha;
using namespace sasha::testframes;

namespace {

struct Options {
    std::string interface;
    MacAddress dstMac{};
    std::uint32_t vip = 0;
    std::uint16_t port = 80;
    double rate = 0; // frames/s, 0 = as fast as the TX ring goes
    double seconds = 10;
    unsigned bogusEvery = 0;
};

int usage(const char *why)
{
    std::fprintf(stderr,
                 "synflood: %s\n"
                 "usage: synflood --interface IF --dst-mac MAC --vip IPv4 [--port N] [--rate PPS] [--seconds S]\n"
                 "                [--bogus-every N]\n"
                 "  --rate 0 (default): as fast as the TX ring goes; --seconds: 10 by default;\n"
                 "  --bogus-every N: every Nth frame is from a source no client has, or VLAN-tagged\n",
                 why);
    return 2;
}

bool parseMac(const char *text, MacAddress &mac)
{
    unsigned b[6];
    if (std::sscanf(text, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        return false;
    for (int i = 0; i < 6; ++i) {
        if (b[i] > 0xFF)
            return false;
        mac[std::size_t(i)] = std::uint8_t(b[i]);
    }
    return true;
}

bool parseIpv4(const char *text, std::uint32_t &ip)
{
    unsigned a, b, c, d;
    char tail;
    if (std::sscanf(text, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 || c > 255 || d > 255)
        return false;
    ip = ip4(std::uint8_t(a), std::uint8_t(b), std::uint8_t(c), std::uint8_t(d));
    return true;
}

// The interface's own MAC (the bridge then learns nothing new from the flood).
bool interfaceMac(const std::string &name, MacAddress &mac)
{
    std::ifstream in("/sys/class/net/" + name + "/address");
    std::string text;
    return std::getline(in, text) && parseMac(text.c_str(), mac);
}

// A SYN template whose source address and port are rewritten per frame, with both checksums
// updated incrementally (RFC 1624, as the L4/3 rewrite does).
class SpoofedSyn {
public:
    explicit SpoofedSyn(const FrameSpec &spec) : m_frame(buildFrame(spec)), m_srcIp(spec.srcIp), m_srcPort(spec.srcPort) {}
    const std::vector<std::uint8_t> &next(std::uint32_t srcIp, std::uint16_t srcPort)
    {
        std::uint8_t *ip = m_frame.data() + kEthernetHeaderBytes;
        std::uint8_t *tcp = ip + kIpv4HeaderBytes;
        storeBe16(ip + 10, checksumUpdate32(loadBe16(ip + 10), m_srcIp, srcIp));
        std::uint16_t sum = checksumUpdate32(loadBe16(tcp + 16), m_srcIp, srcIp);
        storeBe16(tcp + 16, checksumUpdate16(sum, m_srcPort, srcPort));
        storeBe32(ip + 12, srcIp);
        storeBe16(tcp, srcPort);
        m_srcIp = srcIp;
        m_srcPort = srcPort;
        return m_frame;
    }

private:
    std::vector<std::uint8_t> m_frame;
    std::uint32_t m_srcIp;
    std::uint16_t m_srcPort;
};

} // namespace

int main(int argc, char **argv)
{
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc)
            return usage(("missing value after " + arg).c_str());
        const char *value = argv[++i];
        if (arg == "--interface")
            o.interface = value;
        else if (arg == "--dst-mac" && !parseMac(value, o.dstMac))
            return usage("--dst-mac: not a MAC address (aa:bb:cc:dd:ee:ff)");
        else if (arg == "--vip" && !parseIpv4(value, o.vip))
            return usage("--vip: not a dotted-quad IPv4 address");
        else if (arg == "--port")
            o.port = std::uint16_t(std::strtoul(value, nullptr, 10));
        else if (arg == "--rate")
            o.rate = std::strtod(value, nullptr);
        else if (arg == "--seconds")
            o.seconds = std::strtod(value, nullptr);
        else if (arg == "--bogus-every")
            o.bogusEvery = unsigned(std::strtoul(value, nullptr, 10));
        else if (arg != "--dst-mac" && arg != "--vip")
            return usage(("unknown option " + arg).c_str());
    }
    if (o.interface.empty() || o.vip == 0 || o.dstMac == MacAddress{})
        return usage("--interface, --dst-mac and --vip are required");
    if (o.seconds <= 0 || o.seconds > 3600 || o.rate < 0 || o.port == 0)
        return usage("--seconds must be in (0, 3600], --rate >= 0, --port in 1..65535");

    FrameSpec base;
    base.dstMac = o.dstMac;
    if (!interfaceMac(o.interface, base.srcMac))
        return usage(("no interface " + o.interface).c_str());
    base.dstIp = o.vip;
    base.dstPort = o.port;
    base.tcpFlags = kTcpSyn;
    base.padTo = 60;
    base.srcIp = ip4(198, 18, 0, 1);
    SpoofedSyn spoofed(base);
    std::vector<std::vector<std::uint8_t>> bogus;
    for (const std::uint32_t src : {o.vip, ip4(0, 0, 0, 0), ip4(127, 0, 0, 1), ip4(224, 0, 0, 1), ip4(240, 0, 0, 1),
                                    ip4(255, 255, 255, 255)}) {
        FrameSpec s = base;
        s.srcIp = src;
        bogus.push_back(buildFrame(s));
    }
    FrameSpec tagged = base;
    tagged.vlan = true;
    bogus.push_back(buildFrame(tagged));

    std::string error;
    auto sink = AfPacketSink::open({o.interface, AfPacketSink::Mode::TxRing, true, 4096}, error);
    if (!sink) {
        std::fprintf(stderr, "synflood: %s\n", error.c_str());
        return 1;
    }

    constexpr unsigned kBatch = 64;
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    std::uint64_t frames = 0, sent = 0, failed = 0, bogusSent = 0;
    std::uint32_t rng = 0x9E3779B9u; // xorshift32
    for (auto now = start; now < end; now = Clock::now()) {
        if (o.rate > 0) {
            const auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(double(frames) / o.rate));
            if (due > now) {
                std::this_thread::sleep_for(std::min<Clock::duration>(due - now, std::chrono::milliseconds(5)));
                continue;
            }
        }
        for (unsigned i = 0; i < kBatch; ++i, ++frames) {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            const bool isBogus = o.bogusEvery != 0 && frames % o.bogusEvery == o.bogusEvery - 1;
            const std::vector<std::uint8_t> &frame = isBogus
                ? bogus[(frames / o.bogusEvery) % bogus.size()]
                : spoofed.next(ip4(198, 18, 0, 0) + (rng >> 15), std::uint16_t(1024 + rng % 64000));
            if (sink->enqueue(frame))
                bogusSent += isBogus ? 1 : 0;
            else
                ++failed;
        }
        const SinkResult r = sink->flush();
        sent += r.sent;
        failed += r.failed;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("sent=%llu failed=%llu bogus=%llu seconds=%.2f pps=%.0f\n", static_cast<unsigned long long>(sent),
                static_cast<unsigned long long>(failed), static_cast<unsigned long long>(bogusSent), elapsed,
                double(sent) / elapsed);
    if (!sink->lastError().empty())
        std::fprintf(stderr, "synflood: %s\n", sink->lastError().c_str());
    return sent > 0 ? 0 : 1;
}
