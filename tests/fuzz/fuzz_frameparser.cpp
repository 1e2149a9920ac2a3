// libFuzzer target: any bytes through parseFrame() and through a FastPath (parser, flow table,
// scheduler, rewrite). Checks the parser's promises on every input, so the sanitizers and
// these traps are the oracle. Run: fuzz_frameparser -max_len=1600 [corpus dir]

#include "fastpath/fastpath.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

using namespace sasha;

namespace {

struct Engine {
    Engine()
    {
        DispatchPolicy p;
        p.vip = 0x0A000064; // 10.0.0.100
        p.reconstructionComplete = false;
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

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static Engine engine;
    const std::span<const std::uint8_t> in(data, size);
    const ParseResult r = parseFrame(in);
    if (r.verdict == ParseVerdict::Ok) {
        const FrameView &v = r.view;
        // An accepted frame holds a whole IPv4 header and L4 header inside the bytes given.
        if (v.size != size || v.l4Offset != v.l3Offset + kIpv4HeaderBytes
            || std::size_t(v.l3Offset) + v.ipTotalLength > size
            || std::size_t(v.l4Offset) + (v.key.proto == kIpProtoTcp ? 20 : 8) > size)
            std::abort();
    }
    std::vector<std::uint8_t> out(size);
    const ProcessResult p = engine.fp->process(in, out, FastTime(++engine.clock));
    if (p.verdict != Verdict::Drop && (p.outLength != size || std::memcmp(out.data() + 12, data + 12, size - 12) != 0))
        std::abort(); // L4/2 changes the two MACs and nothing else
    if ((engine.clock & 63) == 0)
        engine.fp->housekeeping(FastTime(engine.clock));
    return 0;
}
