#pragma once
// The dispatcher's packet thread (issue 3): poll the source, hand each frame to the owner's
// FrameProcessor (the FastPath, through FastPathProcessor), inject what it returns on the
// network sink or the local-delivery sink, keep the VMAC announced, and answer ARP requests for
// the VIP with the VMAC while it announces (arpresponder.h). A plain std::thread:
// no QObject, no Qt, no allocation, no lock per packet.
//
// Ownership: the owner (sashad's dispatcher role) owns the source, processor, sinks and
// announcer (and ARP responder), and keeps them alive until stop() returned. While the thread runs they belong to
// it; the owner only reads counters() (relaxed atomics, from any thread) and error().

#include "fastpath/counters.h"
#include "packetsink.h"
#include "packetsource.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <span>
#include <string>
#include <thread>

namespace sasha {

class ArpResponder;
class VmacAnnouncer;

struct FrameDisposition {
    enum class Action : std::uint8_t { Forward, DeliverLocal, Drop };
    Action action = Action::Drop;
    std::uint32_t length = 0; // bytes written to `out`
};

// What the thread does with each frame. Runs on the dispatcher thread only.
class FrameProcessor {
public:
    virtual ~FrameProcessor() = default;
    // Writes the output frame into `out` (at least kMaxFrameBytes) and says where it goes.
    // `now` is read once per batch from the steady clock.
    virtual FrameDisposition process(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                                     std::chrono::microseconds now) noexcept = 0;
    // Between batches and when idle (at least every poll timeout): expiry sweeps and the like.
    virtual void idle(std::chrono::microseconds) noexcept {}
};

// One writer (the dispatcher thread), any readers; see fastpath/counters.h for the contract.
struct DispatcherCounters {
    Counter captured{0};         // frames the source delivered
    Counter injected{0};         // sent on the network sink
    Counter injectErrors{0};     // the network sink refused or failed them
    Counter deliveredLocal{0};   // sent on the local-delivery sink
    Counter localErrors{0};      // local delivery failed, or no local sink configured
    Counter dropped{0};          // the processor said Drop
    Counter kernelDropped{0};    // pcap_stats: no room in the capture buffer (refreshed periodically)
    Counter interfaceDropped{0}; // pcap_stats: dropped by the interface
    Counter oversized{0};        // longer than the capture's snapshot length, dropped (refreshed periodically)
    Counter batches{0};          // non-empty batches read
    Counter announcements{0};    // VMAC announcements queued
    // ARP (arpresponder.h). Answered requests are not handed to the processor and count nowhere
    // else; ignored and malformed ARP frames go on to the processor (which drops them: `dropped`).
    Counter arpAnswered{0};  // requests for the VIP answered with the VMAC (queued on the network sink);
                             // a probe's answer also says who dispatches (VmacAnnouncer::appendAnswerer)
    Counter arpIgnored{0};   // well-formed ARP not answered: replies, announcements, requests for
                             // another address, and requests for the VIP while not announcing
    Counter arpMalformed{0}; // ARP frames that are short, not Ethernet/IPv4, or from a multicast/zero MAC
};

struct DispatcherThreadConfig {
    int batchFrames = 256;                             // frames per pcap_dispatch
    std::chrono::milliseconds pollTimeout{20};         // bounds how late stop() is noticed
    std::chrono::milliseconds statsInterval{250};      // pcap_stats refresh
    // Bounded batching ([dispatcher] batch_us, docs/dispatcher.md "Batching"): after a batch that
    // emptied the capture ring (fewer than batchFrames frames), sleep this long before reading
    // again, so that the frames arriving meanwhile are read, processed and flushed in one turn
    // instead of one wake-up each. A frame that finds the thread idle in poll() is handled at
    // once; one that arrives during the sleep waits at most this long. 0 = read again at once.
    std::chrono::microseconds batchWait{0};
    // Pin the thread to this CPU ([dispatcher] cpu; -1 = wherever the scheduler puts it), as
    // HAProxy's cpu-map or a DPDK lcore: the packet thread keeps its core's caches to itself.
    int cpu = -1;
};

class DispatcherThread {
public:
    // localSink, announcer and arp may be null (no local delivery, no announcements, no ARP
    // answers). The ARP responder answers only while the thread announces (setAnnouncing()).
    DispatcherThread(PacketSource &source, FrameProcessor &processor, PacketSink &networkSink,
                     PacketSink *localSink, VmacAnnouncer *announcer, ArpResponder *arp,
                     DispatcherThreadConfig config = {});
    ~DispatcherThread();
    DispatcherThread(const DispatcherThread &) = delete;
    DispatcherThread &operator=(const DispatcherThread &) = delete;

    // Before start() only, on the owner's thread: sends the VMAC announcement at once (the switch
    // must learn the new port before any VIP frame can reach this node), so that it goes out
    // before the thread exists. The thread then re-announces every interval. False if there is
    // no announcer or the sink refused the frame (the thread's first turn tries again).
    bool announceBeforeStart() noexcept;
    // From any thread. Off: no more VMAC announcements and no ARP answers from this thread (an
    // answer's source MAC is the VMAC too, so it would move the switch's entry); frames that still arrive
    // are forwarded as before (a planned handover: the old dispatcher must not pull the VMAC's
    // port back from its successor, and a successor waits until its table is complete). On: an
    // announcement goes out at the thread's next turn (within pollTimeout), then every interval.
    void setAnnouncing(bool on) noexcept
    {
        if (on)
            m_announceRequested.store(true, std::memory_order_relaxed);
        m_announcing.store(on, std::memory_order_release);
    }
    // From any thread: one extra announcement at the thread's next turn, if announcing is on
    // (nothing otherwise: a handover's successor that waits must stay silent).
    void requestAnnouncement() noexcept { m_announceRequested.store(true, std::memory_order_relaxed); }
    void start();
    // Returns within about pollTimeout plus one batch. Idempotent.
    void stop();
    // From any thread: the thread ends at its next turn (finished() says when); stop() then
    // joins at once. For an owner that must not wait (the ring's thread).
    void requestStop() noexcept { m_stop.store(true, std::memory_order_relaxed); }
    bool running() const noexcept { return m_running.load(std::memory_order_acquire); }
    // True once the thread's loop ended: the source failed or a recorded capture ended (error()
    // says which), or a stop was asked.
    bool finished() const noexcept { return m_finished.load(std::memory_order_acquire); }
    std::string error() const;

    const DispatcherCounters &counters() const noexcept { return m_counters; }
    // Steady-clock time (CLOCK_MONOTONIC, since its epoch) at which the first VMAC announcement
    // of this start() left through the network sink; zero until then. For takeover timings
    // (docs/dispatcher.md "Takeover"); written once by the thread, read by anyone.
    std::chrono::microseconds firstAnnounced() const noexcept
    {
        return std::chrono::microseconds(m_firstAnnouncedUs.load(std::memory_order_relaxed));
    }
    // CPU time the thread has used (user + system, including the kernel work its system calls
    // do), for cost-per-packet figures. Zero when not started.
    std::chrono::nanoseconds cpuTime() const noexcept;
    // After start() with config cpu >= 0: whether the thread could be pinned there (an absent or
    // forbidden CPU leaves it unpinned; the data path runs all the same).
    bool pinned() const noexcept { return m_pinned.load(std::memory_order_relaxed); }

private:
    class Receiver;
    void run();
    static bool pinTo(pthread_t thread, int cpu) noexcept;
    void processFrame(std::span<const std::uint8_t> frame) noexcept;
    bool answerArp(std::span<const std::uint8_t> frame) noexcept;
    void flushSinks() noexcept;

    PacketSource &m_source;
    FrameProcessor &m_processor;
    PacketSink &m_network;
    PacketSink *m_local;
    VmacAnnouncer *m_announcer;
    ArpResponder *m_arp;
    DispatcherThreadConfig m_config;
    DispatcherCounters m_counters;
    std::chrono::microseconds m_now{0};
    bool m_pendingAnnouncement = false; // an announcement is queued in the network sink (thread only)

    std::thread m_thread;
    std::atomic<bool> m_stop{false};
    std::atomic<bool> m_announcing{true};
    std::atomic<bool> m_announceRequested{false};
    std::atomic<bool> m_running{false};
    std::atomic<bool> m_pinned{false};
    std::atomic<bool> m_finished{false};
    std::atomic<std::int64_t> m_firstAnnouncedUs{0};
    mutable std::mutex m_errorMutex; // guards m_error only; taken when the thread ends, never per packet
    std::string m_error;
};

} // namespace sasha
