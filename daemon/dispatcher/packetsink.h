#pragma once
// Where the dispatcher's frames go (docs/design.md habit 5). Implementations: PcapInjectSink
// (pcap_inject, one system call per frame), AfPacketSink (AF_PACKET with PACKET_QDISC_BYPASS:
// sendmmsg batches or a PACKET_TX_RING), LocalDeliverySink (frames for this node's own stack,
// injected on `lo`). docs/dispatcher.md has the measured rates.
//
// The frame is written straight into the sink's memory: acquire() lends a buffer (a TX ring
// slot, a sendmmsg batch slot or a scratch buffer), the caller writes the frame and commit()s
// its length, or simply does not commit (the next acquire() lends the same buffer again).
// flush() hands everything committed to the kernel; the owner calls it at the end of each
// capture batch. Thread: one thread at a time; no allocation after construction.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace sasha {

// Largest frame any sink accepts: an untagged or 802.1Q-tagged 1500-byte MTU frame (no FCS).
constexpr std::size_t kMaxFrameBytes = 1518;

struct SinkResult {
    std::uint64_t sent = 0;
    std::uint64_t failed = 0;
};

class PacketSink {
public:
    virtual ~PacketSink() = default;
    // A buffer of kMaxFrameBytes for the next frame; empty if the sink has no room right now
    // (the frame is then counted as failed by the caller).
    virtual std::span<std::uint8_t> acquire() noexcept = 0;
    // Queues the frame written into the last acquire()d buffer. length <= kMaxFrameBytes.
    virtual void commit(std::size_t length) noexcept = 0;
    // Sends what is queued; returns the frames sent and failed since the previous flush().
    virtual SinkResult flush() noexcept = 0;
    virtual std::string lastError() const = 0;

    // Convenience for control frames and tests: copy, commit. False if there was no room or
    // the frame is too long (the owner's flush() reports the send result).
    bool enqueue(std::span<const std::uint8_t> frame) noexcept
    {
        if (frame.size() > kMaxFrameBytes)
            return false;
        const auto buffer = acquire();
        if (buffer.size() < frame.size())
            return false;
        std::memcpy(buffer.data(), frame.data(), frame.size());
        commit(frame.size());
        return true;
    }
};

} // namespace sasha
