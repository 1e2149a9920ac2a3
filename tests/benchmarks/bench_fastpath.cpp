// Packets per second of FastPath::process on one core over a 1M-packet synthetic trace, beside
// two baselines from the same run: copying each frame (the least any dispatcher must do) and
// parsing it. Also the time to merge 100k reconstructed flows. Prints figures; asserts only that
// the work was right (benchcheck.h).
//
// Trace: 100k TCP connections of 10 client packets each (SYN, 8 ACK/data, FIN+ACK), 1,000
// connections interleaved at a time, 64-byte frames, 5 servers, Maglev. Links only
// sasha_fastpath (no Qt).
//
// L4/2 beside L4/3 (NAT, issue 10 Proof): the same connections in NAT mode, where each client
// packet is followed by its server's reply (SYN-ACK, 8 ACK/data, FIN+ACK from the server's
// address and port 80 to the client), which the dispatcher translates too: packets and CPU time
// per connection for both, measured in the same run.
//
// --syn-flood: a spoofed SYN flood pushed through the fast path as fast as it goes, one legitimate
// connection (SYN, ACK 1,000 flood frames later, 3 data packets, FIN) per 1,000 flood SYNs, into
// the default 1M-flow table; the clock is the real one, read every 256 frames as the capture loop
// does. Printed for the SYN-flood defence (SynFloodLimits defaults) beside the baseline without
// it, measured in the same run: flood rate, table occupancy, legitimate connections refused.

#include "fastpath/fastpath.h"
#include "testframes.h"
#include "benchcheck.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

using namespace sasha;
using namespace sasha::testframes;

namespace {

struct Trace {
    std::vector<std::uint8_t> bytes;
    std::vector<std::uint32_t> offsets; // frame i = bytes[offsets[i] .. offsets[i+1])
    std::size_t count() const { return offsets.size() - 1; }
    std::span<const std::uint8_t> frame(std::size_t i) const
    {
        return {bytes.data() + offsets[i], offsets[i + 1] - offsets[i]};
    }
};

constexpr int kServers = 5;

// natReplies: after each client packet, the server's reply in L4/3 (from a server's address,
// which one does not matter: the reply path reads no flow state, docs/dispatcher.md "NAT mode").
Trace makeTrace(std::size_t connections, std::size_t window, bool natReplies = false)
{
    Trace t;
    t.offsets.push_back(0);
    auto add = [&t](const FrameSpec &s) {
        const auto frame = buildFrame(s);
        t.bytes.insert(t.bytes.end(), frame.begin(), frame.end());
        t.offsets.push_back(std::uint32_t(t.bytes.size()));
    };
    for (std::size_t block = 0; block < connections / window; ++block) {
        for (int step = 0; step < 10; ++step) {
            for (std::size_t f = 0; f < window; ++f) {
                const std::size_t conn = block * window + f;
                FrameSpec s;
                s.srcIp = ip4(10, 1, std::uint8_t(conn >> 16), std::uint8_t(conn >> 8));
                s.srcPort = std::uint16_t(1024 + (conn & 0xFF) * 200 + (conn >> 16));
                s.tcpFlags = step == 0 ? std::uint8_t(kTcpSyn) : step == 9 ? std::uint8_t(kTcpFin | kTcpAck) : std::uint8_t(kTcpAck);
                s.padTo = 60;
                add(s);
                if (!natReplies)
                    continue;
                FrameSpec r;
                r.srcMac = {2, 0x5e, 0, 0, 0, std::uint8_t(conn % kServers)};
                r.srcIp = ip4(10, 0, 0, std::uint8_t(10 + conn % kServers));
                r.dstIp = s.srcIp;
                r.srcPort = 80;
                r.dstPort = s.srcPort;
                r.tcpFlags = step == 0 ? std::uint8_t(kTcpSyn | kTcpAck) : s.tcpFlags;
                r.padTo = 60;
                add(r);
            }
        }
    }
    return t;
}

double seconds(std::chrono::steady_clock::duration d)
{
    return std::chrono::duration<double>(d).count();
}

template <typename F>
double packetsPerSecond(const Trace &trace, F &&perFrame)
{
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < trace.count(); ++i)
        perFrame(i);
    return double(trace.count()) / seconds(std::chrono::steady_clock::now() - start);
}

// One run of the --syn-flood mode.
struct FloodResult {
    double floodPps = 0;       // spoofed SYNs per second through FastPath::process
    std::size_t mostFlows = 0; // table occupancy, sampled every 256 frames
    std::size_t mostSynSeen = 0;
    std::size_t legitTried = 0;
    std::size_t legitServed = 0; // SYN, ACK and data all forwarded to the same server
    std::uint64_t evicted = 0;
    std::uint64_t tableFull = 0;
};

FloodResult runSynFlood(const SynFloodLimits &limits, std::size_t floodSyns, const std::vector<ServerInfo> &servers)
{
    constexpr std::size_t kLegitEvery = 1000; // flood SYNs per legitimate connection
    constexpr std::size_t kAckAfter = 1000;   // flood SYNs between a legitimate SYN and its ACK
    ServerTableHandoff tables;
    DispatchPolicy policy;
    policy.vip = kVip;
    policy.dispatcherMac = kDispatcherMac;
    policy.reconstructionComplete = true; // the ACK of a lost flow is dropped, not adopted
    tables.publish(ServerTable::build(servers, policy, 1));
    FastPathConfig config;
    config.synFlood = limits;
    FastPath fp(config, tables);

    // Legitimate connections' frames, built before the clock starts; flood SYNs are one template
    // whose source (198.18.0.0/15, RFC 2544) and port are rewritten per frame.
    const std::size_t legit = floodSyns / kLegitEvery;
    std::vector<std::vector<std::uint8_t>> frames; // per connection: SYN, ACK, 3 x data, FIN
    for (std::size_t i = 0; i < legit; ++i) {
        FrameSpec s;
        s.srcIp = kClientIp + std::uint32_t(i >> 14);
        s.srcPort = std::uint16_t(1024 + (i & 0x3FFF));
        s.padTo = 60;
        for (const std::uint8_t flags : {std::uint8_t(kTcpSyn), std::uint8_t(kTcpAck), std::uint8_t(kTcpAck | kTcpPsh), std::uint8_t(kTcpAck | kTcpPsh),
                                         std::uint8_t(kTcpAck | kTcpPsh), std::uint8_t(kTcpFin | kTcpAck)}) {
            s.tcpFlags = flags;
            frames.push_back(buildFrame(s));
        }
    }
    FrameSpec f;
    f.padTo = 60;
    std::vector<std::uint8_t> spoofed = buildFrame(f);
    std::vector<std::uint8_t> out(2048);
    std::vector<std::uint16_t> synSlot(legit, kNoServerSlot);
    std::vector<bool> served(legit, true);
    std::uint32_t rng = 2463534242u; // xorshift32: no library call per frame
    FloodResult r;
    const auto start = std::chrono::steady_clock::now();
    FastTime now{0};
    auto send = [&](std::span<const std::uint8_t> frame) { return fp.process(frame, out, now); };
    for (std::size_t i = 0; i < floodSyns; ++i) {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        storeBe32(spoofed.data() + 26, ip4(198, 18, 0, 0) + (rng >> 15));
        storeBe16(spoofed.data() + 34, std::uint16_t(rng));
        send(spoofed);
        if (i % kLegitEvery == 0 && i / kLegitEvery < legit) {
            const std::size_t c = i / kLegitEvery;
            const ProcessResult syn = send(frames[c * 6]);
            synSlot[c] = syn.verdict == Verdict::Forward ? syn.slot : kNoServerSlot;
        }
        if (i >= kAckAfter && (i - kAckAfter) % kLegitEvery == 0 && (i - kAckAfter) / kLegitEvery < legit) {
            const std::size_t c = (i - kAckAfter) / kLegitEvery;
            for (std::size_t k = 1; k < 6; ++k) {
                const ProcessResult p = send(frames[c * 6 + k]);
                served[c] = served[c] && synSlot[c] != kNoServerSlot && p.verdict == Verdict::Forward && p.slot == synSlot[c];
            }
        }
        if ((i & 255) == 255) {
            now = std::chrono::duration_cast<FastTime>(std::chrono::steady_clock::now() - start);
            fp.housekeeping(now);
            r.mostFlows = std::max(r.mostFlows, fp.flows().size());
            r.mostSynSeen = std::max(r.mostSynSeen, fp.flows().synSeenFlows());
        }
    }
    r.floodPps = double(floodSyns) / seconds(std::chrono::steady_clock::now() - start);
    const FastPathCounters &c = fp.counters();
    BENCH_ASSERT_TRUE(framesAccounted(c) == read(c.framesIn), "every frame of the flood run is counted once");
    r.legitTried = legit;
    for (std::size_t i = 0; i < legit; ++i)
        r.legitServed += (served[i] && synSlot[i] != kNoServerSlot) ? 1 : 0;
    r.evicted = read(c.synSeenEvicted);
    r.tableFull = read(c.tableFull);
    return r;
}

int synFloodMode(const std::vector<ServerInfo> &servers)
{
    constexpr std::size_t kFloodSyns = 4'000'000;
    const std::size_t maxFlows = FastPathConfig{}.maxFlows;
    SynFloodLimits off;
    off.pressureDivisor = 0;
    off.budgetDivisor = 0;
    // Baseline first, then the defence, then the baseline again: the machine is shared, so the
    // two baseline rates bracket the defence's.
    const FloodResult base1 = runSynFlood(off, kFloodSyns, servers);
    const FloodResult defended = runSynFlood(SynFloodLimits{}, kFloodSyns, servers);
    const FloodResult base2 = runSynFlood(off, kFloodSyns, servers);
    BENCH_ASSERT_TRUE(defended.tableFull == 0 && defended.mostFlows < maxFlows,
                      "with the defence, the flood never fills the table");
    std::printf("bench_fastpath --syn-flood: %zu spoofed 64-byte SYNs as fast as FastPath::process goes, one legitimate\n"
                "connection per 1,000 (its ACK 1,000 flood SYNs after its SYN), %zu-flow table, 5 servers, Maglev\n",
                kFloodSyns, maxFlows);
    auto row = [&](const char *what, const FloodResult &r) {
        std::printf("  %-22s %6.2f M SYN/s  table at most %7zu (%5.1f %%, %7zu syn-seen)  legit served %4zu / %4zu, "
                    "refused %4zu  evicted %8llu  table-full drops %8llu\n",
                    what, r.floodPps / 1e6, r.mostFlows, 100.0 * double(r.mostFlows) / double(maxFlows), r.mostSynSeen,
                    r.legitServed, r.legitTried, r.legitTried - r.legitServed, static_cast<unsigned long long>(r.evicted),
                    static_cast<unsigned long long>(r.tableFull));
    };
    row("baseline, no defence", base1);
    row("SYN-flood defence", defended);
    row("baseline again", base2);
    std::printf("  defence rate / mean baseline rate: %.2f\n", 2 * defended.floodPps / (base1.floodPps + base2.floodPps));
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    std::vector<ServerInfo> servers;
    for (std::uint16_t i = 0; i < kServers; ++i)
        servers.push_back({ip4(10, 0, 0, std::uint8_t(10 + i)), i, {2, 0x5e, 0, 0, 0, std::uint8_t(i)},
                           ip4(10, 0, 0, std::uint8_t(10 + i)), 1, true, false});
    if (argc > 1 && std::strcmp(argv[1], "--syn-flood") == 0)
        return synFloodMode(servers);
    if (argc > 1) {
        std::fprintf(stderr, "usage: bench_fastpath [--syn-flood]\n");
        return 2;
    }
    const Trace trace = makeTrace(100000, 1000);
    std::vector<std::uint8_t> out(2048);

    std::uint64_t sink = 0;
    const double copyPps = packetsPerSecond(trace, [&](std::size_t i) {
        const auto f = trace.frame(i);
        std::memcpy(out.data(), f.data(), f.size());
        sink += out[i % 60];
    });
    const double parsePps = packetsPerSecond(trace, [&](std::size_t i) {
        sink += std::uint64_t(parseFrame(trace.frame(i)).verdict);
    });

    ServerTableHandoff tables;
    DispatchPolicy policy;
    policy.vip = kVip;
    policy.dispatcherMac = kDispatcherMac;
    tables.publish(ServerTable::build(servers, policy, 1));
    FastPathConfig config;
    config.maxFlows = 1 << 20;
    FastPath fp(config, tables);

    // Time advances 1 µs per packet; housekeeping every 256 packets, as a capture loop would
    // call it between batches.
    std::size_t clock = 0;
    auto run = [&](std::size_t i) {
        const ProcessResult r = fp.process(trace.frame(i), out, FastTime(++clock));
        sink += r.outLength;
        if ((i & 255) == 255)
            fp.housekeeping(FastTime(clock));
    };
    const double firstPassPps = packetsPerSecond(trace, run);
    const double secondPassPps = packetsPerSecond(trace, run); // every SYN now reuses a closing flow

    // L4/3: the same connections with their replies, through a NAT dispatcher.
    const Trace natTrace = makeTrace(100000, 1000, true);
    ServerTableHandoff natTables;
    DispatchPolicy natPolicy = policy;
    natPolicy.mode = ForwardMode::Nat;
    natPolicy.nat = true;
    natTables.publish(ServerTable::build(servers, natPolicy, 1));
    FastPath nat(config, natTables);
    std::size_t natClock = 0;
    auto runNat = [&](std::size_t i) {
        const ProcessResult r = nat.process(natTrace.frame(i), out, FastTime(++natClock));
        sink += r.outLength;
        if ((i & 255) == 255)
            nat.housekeeping(FastTime(natClock));
    };
    const double natFirstPps = packetsPerSecond(natTrace, runNat);
    const double natSecondPps = packetsPerSecond(natTrace, runNat);

    // Reconstruction: 100k flows reported by agents, merged through the queue.
    FastPath fresh(config, tables);
    const auto start = std::chrono::steady_clock::now();
    std::size_t merged = 0;
    for (std::uint32_t i = 0; i < 100000;) {
        while (i < 100000
               && fresh.reconstructionQueue().push(
                   {{ip4(10, 2, 0, 0) + (i >> 8), kVip, std::uint16_t(1024 + (i & 0xFF)), 80, kIpProtoTcp},
                    std::uint16_t(i % 5)}))
            ++i;
        merged += fresh.housekeeping(FastTime(1)).reconstructed;
    }
    while (merged < 100000)
        merged += fresh.housekeeping(FastTime(1)).reconstructed;
    const double mergeMs = seconds(std::chrono::steady_clock::now() - start) * 1000;

    const auto &c = fp.counters();
    // Every frame of the trace is a client frame to the VIP with a live server: all forwarded.
    BENCH_ASSERT_TRUE(read(c.framesIn) == 2 * trace.count() && read(c.forwarded) == read(c.framesIn),
                      "the fast path forwarded every frame of both passes");
    BENCH_ASSERT_TRUE(merged == 100000 && fresh.flows().size() == 100000, "reconstruction merged all 100k flows");
    const auto &n = nat.counters();
    BENCH_ASSERT_TRUE(read(n.framesIn) == 2 * natTrace.count() && read(n.forwarded) == read(n.framesIn) / 2
                          && read(n.natReplies) == read(n.framesIn) / 2,
                      "the NAT fast path forwarded every client frame and translated every reply of both passes");
    std::printf("bench_fastpath: %zu frames, 64 B, 100k connections, 5 servers, Maglev, one core\n", trace.count());
    std::printf("  baseline memcpy only        %8.2f Mpps\n", copyPps / 1e6);
    std::printf("  baseline parse only         %8.2f Mpps\n", parsePps / 1e6);
    std::printf("  FastPath::process, 1st pass %8.2f Mpps  (%.0f ns/packet, %.2f x memcpy)\n", firstPassPps / 1e6,
                1e9 / firstPassPps, firstPassPps / copyPps);
    std::printf("  FastPath::process, 2nd pass %8.2f Mpps  (%.0f ns/packet, %.2f x memcpy)\n", secondPassPps / 1e6,
                1e9 / secondPassPps, secondPassPps / copyPps);
    std::printf("  forwarded %llu, new flows %llu, dropped %llu\n",
                static_cast<unsigned long long>(read(c.forwarded)), static_cast<unsigned long long>(read(c.newFlows)),
                static_cast<unsigned long long>(read(c.framesIn) - read(c.forwarded)));
    std::printf("  reconstruction: 100k flows merged in %.1f ms (goal <= 200 ms incl. agents and network)\n",
                mergeMs);
    // Per connection: the dispatcher's packets, and its CPU time (one core, the best pass).
    const double connections = 100000;
    const double l42Pps = std::max(firstPassPps, secondPassPps), natPps = std::max(natFirstPps, natSecondPps);
    const double l42Packets = double(trace.count()) / connections, natPackets = double(natTrace.count()) / connections;
    std::printf("  per connection (10 client packets; NAT: and 10 replies), best pass:\n");
    std::printf("    L4/2 (dr)   %4.0f packets  %7.0f ns CPU  (%.2f / %.2f Mpps, 1st / 2nd pass)\n", l42Packets,
                1e9 * l42Packets / l42Pps, firstPassPps / 1e6, secondPassPps / 1e6);
    std::printf("    L4/3 (nat)  %4.0f packets  %7.0f ns CPU  (%.2f / %.2f Mpps, 1st / 2nd pass; %.2f x L4/2's CPU)\n",
                natPackets, 1e9 * natPackets / natPps, natFirstPps / 1e6, natSecondPps / 1e6,
                (natPackets / natPps) / (l42Packets / l42Pps));
    std::printf("  (checksum of outputs, ignore: %llu)\n", static_cast<unsigned long long>(sink));
    return 0;
}
