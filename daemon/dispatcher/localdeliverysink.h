#pragma once
// Local delivery: frames of flows that this very node serves (at takeover it still holds
// established connections; the last node standing serves alone). Sending them out of the NIC
// does not reach our own stack, so they are injected on `lo`, whose receive path hands them to
// the local IP stack.
//
// Two conditions, both verified in tst_packetio's namespace test and docs/dispatcher.md:
//  - the destination MAC must be lo's address (00:00:00:00:00:00), otherwise the frame is
//    "other host" and IP drops it; commit() rewrites it;
//  - reverse-path filtering must be loose (rp_filter=2) on `lo` (the kernel uses the maximum
//    of conf/all and conf/lo): the client's address is routed via the NIC, not via lo, so
//    strict filtering drops the frame.

#include "packetsink.h"

#include <memory>
#include <string>

namespace sasha {

class LocalDeliverySink final : public PacketSink {
public:
    // Wraps a sink that transmits on `lo` (an AfPacketSink or PcapInjectSink opened on "lo").
    explicit LocalDeliverySink(std::unique_ptr<PacketSink> loopbackSink);
    // Opens an AF_PACKET sendmmsg sink on "lo". Null on failure, with `error` set.
    static std::unique_ptr<LocalDeliverySink> open(std::string &error);

    std::span<std::uint8_t> acquire() noexcept override;
    void commit(std::size_t length) noexcept override;
    SinkResult flush() noexcept override { return m_inner->flush(); }
    std::string lastError() const override { return m_inner->lastError(); }

private:
    std::unique_ptr<PacketSink> m_inner;
    std::uint8_t *m_current = nullptr;
};

// Reads /proc/sys/net/ipv4/conf/{all,lo}/rp_filter of the calling thread's namespace; empty if
// local delivery will work, else the fix to apply (a warning for the operator at start-up).
std::string localDeliveryProblem();

} // namespace sasha
