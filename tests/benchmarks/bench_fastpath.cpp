// Packets per second of FastPath::process on one core over a 1M-packet synthetic trace, beside
// two baselines from the same run: copying each frame (the least any dispatcher must do) and
// parsing it. Also the time to merge 100k reconstructed flows. Prints figures, asserts nothing.
//
// Trace: 100k TCP connections of 10 client packets each (SYN, 8 ACK/data, FIN+ACK), 1,000
// connections interleaved at a time, 64-byte frames, 5 servers, Maglev. Links only
// sasha_fastpath (no Qt).

#include "fastpath/fastpath.h"
#include "testframes.h"
#include "benchcheck.h"

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

Trace makeTrace(std::size_t connections, std::size_t window)
{
    Trace t;
    t.offsets.push_back(0);
    for (std::size_t block = 0; block < connections / window; ++block) {
        for (int step = 0; step < 10; ++step) {
            for (std::size_t f = 0; f < window; ++f) {
                const std::size_t conn = block * window + f;
                FrameSpec s;
                s.srcIp = ip4(10, 1, std::uint8_t(conn >> 16), std::uint8_t(conn >> 8));
                s.srcPort = std::uint16_t(1024 + (conn & 0xFF) * 200 + (conn >> 16));
                s.tcpFlags = step == 0 ? std::uint8_t(kTcpSyn) : step == 9 ? std::uint8_t(kTcpFin | kTcpAck) : std::uint8_t(kTcpAck);
                s.padTo = 60;
                const auto frame = buildFrame(s);
                t.bytes.insert(t.bytes.end(), frame.begin(), frame.end());
                t.offsets.push_back(std::uint32_t(t.bytes.size()));
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

} // namespace

int main()
{
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
    std::vector<ServerInfo> servers;
    for (std::uint16_t i = 0; i < 5; ++i)
        servers.push_back({ip4(10, 0, 0, std::uint8_t(10 + i)), i, {2, 0x5e, 0, 0, 0, std::uint8_t(i)},
                           ip4(10, 0, 0, std::uint8_t(10 + i)), 1, true, false});
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
    std::printf("  (checksum of outputs, ignore: %llu)\n", static_cast<unsigned long long>(sink));
    return 0;
}
