// bench_inject: zero-drop packets/s of the dispatcher's capture + inject path, per injection
// method, on a private pair of namespaces it creates and removes (tests/unit/netnslab.h).
//
//   namespace A: blaster (AF_PACKET TX ring, paced)  --veth-->  namespace B: DispatcherThread
//   (pcap live source, VMAC filter, MAC rewrite) --same veth--> back into A, where the frames
//   (addressed to a MAC that is not A's) are counted by the veth and dropped as "other host".
//
// For each sink it measures the saturation rate (offered as fast as the blaster goes) and then
// searches the highest offered rate at which every frame came back (zero drop). Needs root.
// Usage: bench_inject [--seconds S] [--sinks pcap,sendmmsg,tx-ring] [--switch-threads] [--pin]
// --pin: the dispatcher thread on CPU 0, the blaster (and with --switch-threads the return path's
// NAPI thread) on CPU 1, so that "on one core" means one core of its own.

#include "dispatcher/afpacketsink.h"
#include "dispatcher/dispatcherthread.h"
#include "dispatcher/injectionmethod.h"
#include "dispatcher/pcapinjectsink.h"
#include "dispatcher/pcapsource.h"
#include "../unit/netnslab.h"
#include "../unit/testframes.h"
#include "benchcheck.h"

#include <dirent.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace sasha;
using namespace sasha::testframes;
using Clock = std::chrono::steady_clock;

namespace {

constexpr MacAddress kServerMac{0x02, 0x5e, 0x00, 0x00, 0x00, 0x07}; // nobody's: dropped on arrival
constexpr double kNaivePcapInjectPps = 140000; // docs/design.md, "The lab": a naive pcap_inject loop
constexpr std::uint64_t kDrainFrames = 12000;  // inside the ~16k slots of the 32 MB capture buffer
constexpr int kDrainRuns = 5;                 // best of: other processes share the cores

class RewriteProcessor final : public FrameProcessor {
public:
    FrameDisposition process(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                             std::chrono::microseconds) noexcept override
    {
        if (in.size() > out.size())
            return {};
        std::memcpy(out.data(), in.data(), in.size());
        std::memcpy(out.data(), kServerMac.data(), 6);
        return {FrameDisposition::Action::Forward, std::uint32_t(in.size())};
    }
};

// Pins thread `tid` (0 = the caller) to one CPU.
bool pinTo(pid_t tid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(tid, sizeof set, &set) == 0;
}

// Busy seconds of CPU `cpu` since boot (/proc/stat: user, nice, system, irq, softirq), or -1.
double cpuBusySeconds(int cpu)
{
    FILE *f = std::fopen("/proc/stat", "r");
    if (!f)
        return -1;
    const std::string want = "cpu" + std::to_string(cpu) + " ";
    char line[512];
    double busy = -1;
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, want.c_str(), want.size()) != 0)
            continue;
        unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
        if (std::sscanf(line + want.size(), "%llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait,
                        &irq, &softirq) == 7)
            busy = double(user + nice + system + irq + softirq) / double(::sysconf(_SC_CLK_TCK));
        break;
    }
    std::fclose(f);
    return busy;
}

// Pins the kernel thread whose name starts with `prefix` (e.g. "napi/<if>-") to one CPU.
bool pinKernelThread(const std::string &prefix, int cpu)
{
    DIR *proc = ::opendir("/proc");
    if (!proc)
        return false;
    bool done = false;
    for (dirent *d = ::readdir(proc); d && !done;) {
        const pid_t pid = pid_t(std::atoi(d->d_name));
        if (pid > 0) {
            char name[64] = {};
            const std::string path = std::string("/proc/") + d->d_name + "/comm";
            if (FILE *f = std::fopen(path.c_str(), "r")) {
                if (std::fgets(name, sizeof name, f) && std::strncmp(name, prefix.c_str(), prefix.size()) == 0)
                    done = pinTo(pid, cpu);
                std::fclose(f);
            }
        }
        if (!done)
            d = ::readdir(proc);
    }
    ::closedir(proc);
    return done;
}

// rx packets of an interface in a namespace, from `ip -s -j link` (once per step, not per packet).
std::uint64_t rxPackets(const std::string &ns, const std::string &interface)
{
    const std::string command = "ip -n " + ns + " -s -j link show dev " + interface;
    FILE *p = ::popen(command.c_str(), "r");
    if (!p)
        return 0;
    std::string text;
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, p)) > 0;)
        text.append(buffer, n);
    ::pclose(p);
    const auto rx = text.find("\"rx\":{");
    const auto packets = text.find("\"packets\":", rx);
    if (rx == std::string::npos || packets == std::string::npos)
        return 0;
    return std::strtoull(text.c_str() + packets + 10, nullptr, 10);
}

struct Step {
    double offeredPps = 0;
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t kernelDropped = 0;
    double seconds = 0;
    double cpuSeconds = 0; // the dispatcher thread's CPU time during the step
    double coreSeconds = 0; // busy time of CPU 0 during the step (--pin: the dispatcher's core)
    double nsPerPacket() const { return delivered ? cpuSeconds * 1e9 / double(delivered) : 0; }
    double coreNsPerPacket() const { return delivered ? coreSeconds * 1e9 / double(delivered) : 0; }
    double offeredAchievedPps() const { return seconds > 0 ? double(sent) / seconds : 0; }
    bool zeroDrop() const { return sent > 0 && delivered >= sent; }
    double deliveredPps() const { return seconds > 0 ? double(delivered) / seconds : 0; }
};

class Bench {
public:
    Bench(testlab::NetnsLab &lab, PacketSink &blaster, double seconds) : m_lab(lab), m_blaster(blaster), m_seconds(seconds)
    {
        for (int i = 0; i < 256; ++i) {
            FrameSpec s;
            s.proto = kIpProtoUdp;
            s.srcPort = std::uint16_t(20000 + i);
            s.payload = 18; // 64-byte frames: the packet-rate worst case
            m_frames.push_back(buildFrame(s));
        }
    }

    // offeredPps 0 = as fast as the blaster goes.
    Step run(const DispatcherThread &thread, double offeredPps)
    {
        const auto &c = thread.counters();
        const std::uint64_t capturedBefore = read(c.captured);
        const std::uint64_t droppedBefore = read(c.kernelDropped);
        const std::uint64_t rxBefore = rxPackets(m_lab.nsA, m_lab.ifA);
        const auto cpuBefore = thread.cpuTime();
        const double coreBefore = cpuBusySeconds(0);
        Step step;
        step.offeredPps = offeredPps;
        const auto begin = Clock::now();
        const auto end = begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(m_seconds));
        std::size_t next = 0;
        for (auto now = begin; now < end; now = Clock::now()) {
            std::uint64_t due = 64;
            if (offeredPps > 0) {
                const double elapsed = std::chrono::duration<double>(now - begin).count();
                const auto target = std::uint64_t(elapsed * offeredPps);
                if (target <= step.sent) {
                    std::this_thread::sleep_for(std::chrono::microseconds(50));
                    continue;
                }
                due = std::min<std::uint64_t>(target - step.sent, 64);
            }
            for (std::uint64_t i = 0; i < due; ++i) {
                m_blaster.enqueue(m_frames[next]);
                next = (next + 1) % m_frames.size();
            }
            step.sent += m_blaster.flush().sent;
        }
        step.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
        // Drain: wait until the dispatcher has been idle for 100 ms (at most 3 s).
        std::uint64_t last = read(c.captured);
        for (int quiet = 0, waited = 0; quiet < 5 && waited < 150; ++waited) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            const std::uint64_t now = read(c.captured);
            quiet = now == last ? quiet + 1 : 0;
            last = now;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(300)); // a stats refresh
        (void)capturedBefore;
        step.delivered = rxPackets(m_lab.nsA, m_lab.ifA) - rxBefore;
        step.cpuSeconds = std::chrono::duration<double>(thread.cpuTime() - cpuBefore).count();
        step.coreSeconds = cpuBusySeconds(0) - coreBefore;
        step.kernelDropped = read(c.kernelDropped) - droppedBefore;
        return step;
    }

    // Capacity without a competing blaster: with the dispatcher stopped, park `frames` in the
    // capture buffer, then start it and time until all of them were injected. Returns pps, or 0
    // if the buffer dropped some (then the figure would be meaningless).
    double drain(DispatcherThread &thread, std::uint64_t frames)
    {
        const auto &c = thread.counters();
        const std::uint64_t droppedBefore = read(c.kernelDropped);
        const std::uint64_t injectedBefore = read(c.injected);
        std::uint64_t sent = 0;
        for (std::size_t next = 0; sent < frames;) {
            for (int i = 0; i < 64 && sent + std::uint64_t(i) < frames; ++i, next = (next + 1) % m_frames.size())
                m_blaster.enqueue(m_frames[next]);
            sent += m_blaster.flush().sent;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const auto begin = Clock::now();
        thread.start();
        while (read(c.injected) - injectedBefore < frames && Clock::now() - begin < std::chrono::seconds(10))
            std::this_thread::yield();
        const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        const bool complete = read(c.injected) - injectedBefore >= frames && read(c.kernelDropped) == droppedBefore;
        thread.stop();
        if (!complete && std::getenv("BENCH_INJECT_DEBUG"))
            std::fprintf(stderr, "drain: sent %llu injected %llu kernel drops %llu\n", (unsigned long long)sent,
                         (unsigned long long)(read(c.injected) - injectedBefore),
                         (unsigned long long)(read(c.kernelDropped) - droppedBefore));
        return complete ? double(frames) / seconds : 0;
    }

private:
    testlab::NetnsLab &m_lab;
    PacketSink &m_blaster;
    double m_seconds;
    std::vector<std::vector<std::uint8_t>> m_frames;
};

} // namespace

int main(int argc, char **argv)
{
    double seconds = 1.0;
    std::vector<std::string> sinks = {"pcap", "sendmmsg", "tx-ring"};
    bool switchThreads = false;
    bool pin = false;
    for (int i = 1; i < argc; i += 2) {
        if (!std::strcmp(argv[i], "--switch-threads")) {
            switchThreads = true;
            --i; // a flag: no value
        } else if (!std::strcmp(argv[i], "--pin")) {
            pin = true;
            --i;
        } else if (i + 1 >= argc) {
            std::fprintf(stderr, "usage: bench_inject [--seconds S] [--sinks pcap,sendmmsg,tx-ring] [--switch-threads] [--pin]\n");
            return 2;
        } else if (!std::strcmp(argv[i], "--seconds")) {
            seconds = std::max(0.2, std::atof(argv[i + 1]));
        } else if (!std::strcmp(argv[i], "--sinks")) {
            sinks.clear();
            std::string list = argv[i + 1];
            for (std::size_t at = 0; at <= list.size();) {
                const auto comma = std::min(list.find(',', at), list.size());
                sinks.push_back(list.substr(at, comma - at));
                at = comma + 1;
            }
        }
    }
    if (::geteuid() != 0) {
        std::fprintf(stderr, "bench_inject: needs root (creates two network namespaces and a veth pair)\n");
        return 77;
    }
    testlab::NetnsLab lab('x');
    if (!lab.ok()) {
        std::fprintf(stderr, "bench_inject: %s\n", lab.error.c_str());
        return 1;
    }
    // --switch-threads (as sasha-lab up --switch-threads): the frames the dispatcher sends are
    // received in A on the veth's own NAPI thread, not inside the dispatcher's system call (veth
    // takes that path only with GRO on at the receiver and TSO off at the sender).
    if (switchThreads
        && !(lab.execIn(lab.nsA, "ethtool -K " + lab.ifA + " gro on")
             && lab.execIn(lab.nsA, "sh -c 'echo 1 > /sys/class/net/" + lab.ifA + "/threaded'")
             && lab.execIn(lab.nsB, "ethtool -K " + lab.ifB + " tso off"))) {
        std::fprintf(stderr, "bench_inject: --switch-threads: cannot turn on threaded NAPI on %s\n", lab.ifA.c_str());
        return 1;
    }
    if (pin) {
        if (std::thread::hardware_concurrency() < 2 || !pinTo(0, 1)) {
            std::fprintf(stderr, "bench_inject: --pin needs CPUs 0 and 1\n");
            return 1;
        }
        if (switchThreads) {
            // The dispatcher's own receive (the capture ring's fill) on its NAPI thread, on the
            // dispatcher's core, as a NIC's softirq would be; the blaster's send then stops at
            // the veth. UDP frames: GRO merges none of them.
            lab.execIn(lab.nsB, "ethtool -K " + lab.ifB + " gro on");
            lab.execIn(lab.nsB, "sh -c 'echo 1 > /sys/class/net/" + lab.ifB + "/threaded'");
            lab.execIn(lab.nsA, "ethtool -K " + lab.ifA + " tso off");
            if (!pinKernelThread("napi/" + lab.ifA + "-", 1) || !pinKernelThread("napi/" + lab.ifB + "-", 0))
                std::fprintf(stderr, "bench_inject: --pin: a NAPI thread stays unpinned\n");
        }
    }
    std::string error;
    std::unique_ptr<PacketSink> blaster;
    {
        testlab::NetnsScope in(lab.nsA);
        blaster = AfPacketSink::open({lab.ifA, AfPacketSink::Mode::TxRing, true, 4096}, error);
    }
    if (!blaster) {
        std::fprintf(stderr, "bench_inject: blaster: %s\n", error.c_str());
        return 1;
    }
    Bench bench(lab, *blaster, seconds);
    std::printf("Zero-drop: highest offered rate at which every frame came back. When it equals the offered\n"
                "maximum, the blaster (not the dispatcher) was the limit: then pps/core, from the dispatcher\n"
                "thread's CPU time per delivered packet at saturation, is the dispatcher's capacity on one core.\n"
                "Drain: 12000 frames parked in the capture buffer, then injected by the dispatcher alone (best of 5).\n"
                "Baseline: docs/design.md's naive pcap_inject loop, ~140k pps on this kind of machine.\n");
    std::printf("bench_inject: 64-byte UDP frames, veth between two namespaces, %.1f s per step, %u CPUs, return path %s\n",
                seconds, std::thread::hardware_concurrency(),
                switchThreads ? "on the receiver's NAPI thread" : "inside the dispatcher's send");
    if (pin)
        std::printf("--pin: the dispatcher thread%s on CPU 0, the blaster%s on CPU 1; 'core ns' = CPU 0's busy time\n"
                    "per delivered packet at saturation (all the dispatcher's core did for it).\n",
                    switchThreads ? " and its receive's NAPI thread" : "", switchThreads ? " and the return path's NAPI thread" : "");
    std::printf("%-9s %10s %10s %10s %8s %10s %10s %10s %8s%s\n", "sink", "zero-drop", "offered", "delivered",
                "drops", "ns/packet", "pps/core", "drain", "drain vs", pin ? "    core ns" : "");
    std::printf("%-9s %10s %10s %10s %8s %10s %10s %10s %8s%s\n", "", "pps", "max pps", "pps (sat.)", "(kernel)",
                "(CPU)", "(1e9/ns)", "pps", "140k", pin ? "   (CPU 0)" : "");
    for (const std::string &kind : sinks) {
        std::unique_ptr<PcapLiveSource> source;
        std::unique_ptr<PacketSink> sink;
        {
            testlab::NetnsScope in(lab.nsB);
            LiveCaptureOptions options;
            options.interface = lab.ifB;
            options.filter = vmacFilter(kVmac);
            source = PcapLiveSource::open(options, error);
            const auto method = parseInjectionMethod(kind);
            if (!method)
                error = "unknown sink; accepted: " + std::string(kInjectionMethodsAccepted);
            else if (source)
                sink = openInjectionSink(*method, lab.ifB, error);
        }
        if (!source || !sink) {
            std::fprintf(stderr, "bench_inject: %s: %s\n", kind.c_str(), error.c_str());
            return 1;
        }
        RewriteProcessor processor;
        DispatcherThreadConfig threadConfig;
        threadConfig.cpu = pin ? 0 : -1;
        DispatcherThread thread(*source, processor, *sink, nullptr, nullptr, nullptr, threadConfig);
        double drained = 0;
        for (int i = 0; i < kDrainRuns; ++i)
            drained = std::max(drained, bench.drain(thread, kDrainFrames));
        thread.start();
        const Step saturated = bench.run(thread, 0);
        // Binary search of the zero-drop rate between 10k and the blaster's offered rate.
        double low = 0, high = double(saturated.sent) / saturated.seconds;
        if (saturated.zeroDrop())
            low = high;
        double probe = (low + high) / 2;
        for (int i = 0; i < 7 && high - low > high * 0.03; ++i) {
            const Step s = bench.run(thread, probe);
            if (s.zeroDrop())
                low = probe;
            else
                high = probe;
            probe = (low + high) / 2;
        }
        thread.stop();
        // What came back is what was sent, MAC rewritten: without it the rates mean nothing.
        BENCH_ASSERT_TRUE(saturated.delivered > 0 && saturated.delivered <= saturated.sent,
                          "the dispatcher injected frames back, never more than were sent");
        BENCH_ASSERT_TRUE(read(thread.counters().injectErrors) == 0, "no injection errors");
        const double perCore = saturated.nsPerPacket() > 0 ? 1e9 / saturated.nsPerPacket() : 0;
        std::printf("%-9s %10.0f %10.0f %10.0f %8llu %10.0f %10.0f %10.0f %7.2fx", kind.c_str(), low,
                    saturated.offeredAchievedPps(), saturated.deliveredPps(),
                    static_cast<unsigned long long>(saturated.kernelDropped), saturated.nsPerPacket(), perCore, drained,
                    drained / kNaivePcapInjectPps);
        if (pin)
            std::printf(" %10.0f", saturated.coreNsPerPacket());
        std::printf("\n");
        std::fflush(stdout);
        if (!thread.error().empty())
            std::fprintf(stderr, "bench_inject: %s: %s\n", kind.c_str(), thread.error().c_str());
    }
    return 0;
}
