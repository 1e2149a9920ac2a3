// libFuzzer target: any bytes through parseFrame() and through a FastPath (parser, flow table,
// scheduler, rewrite, ICMP errors routed to their flow's server). Checks the parser's promises
// and the counters' sum on every input, so the sanitizers and these traps are the oracle.
// Each input goes through two engines: one still reconstructing (unknown non-SYNs and ICMP
// errors follow the continuity hash) and one whose reconstruction completed (they are dropped).
// Run: fuzz_frameparser -max_len=1600 [corpus dir]

#include "fastpath/fastpath.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

using namespace sasha;

// A broken promise stops the run with the check's text; libFuzzer saves the input as a crash.
#define FUZZ_ASSERT_TRUE(condition)                                                                   \
    do {                                                                                              \
        if (!(condition)) {                                                                           \
            std::fprintf(stderr, "fuzz_frameparser: check failed: %s (line %d)\n", #condition, __LINE__); \
            std::abort();                                                                             \
        }                                                                                             \
    } while (0)

namespace {

struct Engine {
    explicit Engine(bool reconstructionComplete)
    {
        DispatchPolicy p;
        p.vip = 0x0A000064; // 10.0.0.100
        p.reconstructionComplete = reconstructionComplete;
        std::vector<ServerInfo> servers;
        for (std::uint16_t i = 0; i < 3; ++i)
            servers.push_back({std::uint32_t(0x0A00000A + i), i, {2, 0, 0, 0, 0, std::uint8_t(i)},
                               std::uint32_t(0x0A00000A + i), 1, true, i == 0});
        tables.publish(ServerTable::build(servers, p, 1));
        FastPathConfig c;
        c.maxFlows = 1024;
        fp = std::make_unique<FastPath>(c, tables);
    }
    ServerTableHandoff tables;
    std::unique_ptr<FastPath> fp;
    std::uint64_t clock = 0;
};

void runThrough(Engine &engine, std::span<const std::uint8_t> in)
{
    const std::uint8_t *data = in.data();
    const std::size_t size = in.size();
    std::vector<std::uint8_t> out(size);
    const ProcessResult p = engine.fp->process(in, out, FastTime(++engine.clock));
    // L4/2 changes the two MACs and nothing else.
    FUZZ_ASSERT_TRUE(p.verdict == Verdict::Drop || (p.outLength == size && std::memcmp(out.data() + 12, data + 12, size - 12) == 0));
    // Every frame in exactly one counter (icmpForwarded is a part of forwarded + deliveredLocal).
    const FastPathCounters &c = engine.fp->counters();
    FUZZ_ASSERT_TRUE(framesAccounted(c) == read(c.framesIn));
    FUZZ_ASSERT_TRUE(read(c.icmpForwarded) <= read(c.forwarded) + read(c.deliveredLocal));
    if ((engine.clock & 63) == 0)
        engine.fp->housekeeping(FastTime(engine.clock));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static Engine running(false);
    static Engine complete(true);
    const std::span<const std::uint8_t> in(data, size);
    const ParseResult r = parseFrame(in);
    if (r.verdict == ParseVerdict::Ok) {
        const FrameView &v = r.view;
        // An accepted frame holds a whole IPv4 header and L4 header inside the bytes given.
        FUZZ_ASSERT_TRUE(v.size == size && v.l4Offset == v.l3Offset + kIpv4HeaderBytes
                         && std::size_t(v.l3Offset) + v.ipTotalLength <= size
                         && std::size_t(v.l4Offset) + (v.key.proto == kIpProtoTcp ? 20 : 8) <= size);
    } else if (r.verdict == ParseVerdict::Icmp && r.icmp == IcmpVerdict::Routable) {
        const FrameView &v = r.view;
        // A routable ICMP error: an 8-byte ICMP header, then a quoted IPv4 header of IHL * 4
        // bytes and 8 bytes of its TCP/UDP header, all inside the outer total length.
        const std::size_t end = std::size_t(v.l3Offset) + v.ipTotalLength;
        const std::size_t quote = std::size_t(v.l4Offset) + 8;
        FUZZ_ASSERT_TRUE(v.size == size && v.data == data && v.l4Offset == v.l3Offset + kIpv4HeaderBytes && end <= size);
        FUZZ_ASSERT_TRUE(data[v.l3Offset + 9] == kIpProtoIcmp && quote + kIpv4HeaderBytes <= end);
        FUZZ_ASSERT_TRUE(quote + std::size_t(data[quote] & 0x0F) * 4 + 8 <= end);
        FUZZ_ASSERT_TRUE((v.key.proto == kIpProtoTcp || v.key.proto == kIpProtoUdp) && v.key.proto == data[quote + 9]);
        FUZZ_ASSERT_TRUE(data[v.l4Offset] == 3 || data[v.l4Offset] == 11);
    } else if (r.verdict == ParseVerdict::Icmp) {
        FUZZ_ASSERT_TRUE(r.icmp <= IcmpVerdict::EmbeddedNotTcpUdp); // the rest are the fast path's to decide
    }
    runThrough(running, in);
    runThrough(complete, in);
    return 0;
}
