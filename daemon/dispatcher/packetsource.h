#pragma once
// Where the dispatcher's frames come from (docs/design.md habit 5: I/O behind an interface passed to
// the constructor). Implementations: PcapLiveSource (an interface, promiscuous, VMAC filter) and
// PcapFileSource (a recorded capture, for replay tests). See docs/dispatcher.md.
//
// Thread: a source is used by one thread at a time (the dispatcher thread once it runs).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace sasha {

// Receives the frames of one batch. `frame` is valid only during the call (it points into the
// capture buffer), so a receiver that keeps bytes copies them.
class FrameReceiver {
public:
    virtual ~FrameReceiver() = default;
    virtual void onFrame(std::span<const std::uint8_t> frame) noexcept = 0;
};

struct SourceStats {
    std::uint64_t kernelDropped = 0;    // pcap_stats ps_drop: no room in the capture buffer
    std::uint64_t interfaceDropped = 0; // pcap_stats ps_ifdrop: dropped by the interface/driver
    std::uint64_t oversized = 0;        // longer than the snapshot length: dropped, never passed on cut
};

class PacketSource {
public:
    enum class Status : std::uint8_t {
        Ok,        // zero or more frames were delivered (zero: the timeout passed)
        Exhausted, // a recorded capture reached its end; nothing more will come
        Failed,    // see lastError(); the source is unusable
    };
    struct Batch {
        Status status = Status::Ok;
        int frames = 0;
    };

    virtual ~PacketSource() = default;
    // Waits at most `timeout` for frames, then hands at most `maxFrames` of them to `receiver`.
    // Never blocks longer than `timeout` (plus the batch's processing), so the caller's loop can
    // notice a stop request.
    virtual Batch receive(FrameReceiver &receiver, int maxFrames, std::chrono::milliseconds timeout) = 0;
    // Cumulative since the source opened. Not per packet: a system call on live sources.
    virtual SourceStats stats() = 0;
    virtual std::string lastError() const = 0;
};

} // namespace sasha
