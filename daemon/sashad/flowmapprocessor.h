#pragma once
// The dispatcher thread's FrameProcessor in sashad: the FastPath (like FastPathProcessor), plus
// the one way the control plane may look at the flow table, which the fast-path thread owns
// (docs/fastpath.md "Threads and the handoff"): it asks for a snapshot, and the fast-path
// thread copies the table between batches, in idle().
//
// Handoff: the control plane sets m_requested (release) after sizing nothing (the buffer is
// preallocated); idle() sees it (acquire), copies at most the asked number of entries into
// m_buffer, stamps the copy with its clock, clears the request and signals m_done under
// m_mutex. The mutex is taken only while a snapshot is being answered, never per packet.
// While a request is pending the control plane does not touch m_buffer.

#include "dispatcher/dispatcherthread.h"
#include "dispatcher/vmacannouncer.h"
#include "fastpath/fastpath.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

namespace sasha {

class FlowMapProcessor final : public FrameProcessor {
public:
    struct Snapshot {
        std::vector<FlowEntry> flows;
        std::uint32_t nowMs = 0; // the fast path's 32-bit millisecond clock when it copied
        std::size_t tableSize = 0;
    };

    FlowMapProcessor(FastPath &fastPath, std::size_t maxSnapshot, const MacAddress &vmac)
        : m_fastPath(fastPath), m_vmac(vmac), m_buffer(maxSnapshot)
    {
    }

    FrameDisposition process(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                             std::chrono::microseconds now) noexcept override
    {
        if (in.size() >= 14 && in[12] == 0x08 && in[13] == 0x06) [[unlikely]] {
            // ARP: the capture lets in another node's VMAC announcements (the control plane
            // resolves the conflict: docs/dispatcher.md "One dispatcher on the data network").
            if (const auto announcer = VmacAnnouncer::announcerOf(in, m_vmac)) {
                std::uint64_t mac = 0;
                for (std::uint8_t b : *announcer)
                    mac = (mac << 8) | b;
                m_foreignAnnouncer.store(mac, std::memory_order_relaxed);
                m_foreignAnnouncements.fetch_add(1, std::memory_order_release);
            }
            return {FrameDisposition::Action::Drop, 0};
        }
        const ProcessResult r = m_fastPath.process(in, out, now);
        switch (r.verdict) {
        case Verdict::Forward:
            if (!m_forwardSeen) [[unlikely]] {
                // The clock is read here, once per run, not taken from `now`: `now` is read
                // before the thread polls (up to 20 ms earlier), and the failover benchmark
                // measures kill -> this moment.
                m_forwardSeen = true;
                m_firstForwardMonoUs.store(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::steady_clock::now().time_since_epoch())
                                               .count(),
                                           std::memory_order_release);
            }
            return {FrameDisposition::Action::Forward, r.outLength};
        case Verdict::DeliverLocal:
            return {FrameDisposition::Action::DeliverLocal, r.outLength};
        case Verdict::Drop:
            break;
        }
        return {FrameDisposition::Action::Drop, 0};
    }

    void idle(std::chrono::microseconds now) noexcept override
    {
        m_fastPath.housekeeping(now);
        if (!m_requested.load(std::memory_order_acquire))
            return;
        const std::size_t want = m_limit.load(std::memory_order_relaxed);
        const std::size_t n = m_fastPath.flows().copyFlows(std::span<FlowEntry>(m_buffer.data(), want));
        std::lock_guard lock(m_mutex);
        m_copied = n;
        m_copiedLimit = want;
        ++m_copies;
        m_copiedAtMs = std::uint32_t(std::uint64_t(now.count()) / 1000);
        m_tableSize = m_fastPath.flows().size();
        m_requested.store(false, std::memory_order_release);
        m_done.notify_all();
    }

    // Control plane, any thread: CLOCK_MONOTONIC (steady_clock on Linux) in microseconds when
    // the first frame was forwarded to a server, 0 until then.
    std::int64_t firstForwardMonoUs() const noexcept { return m_firstForwardMonoUs.load(std::memory_order_acquire); }

    // Control plane. Waits at most `timeout` for the fast-path thread (it calls idle() at least
    // every poll timeout, 20 ms); nullopt if it did not answer in time (e.g. stopped). Touches
    // only this object, never the FastPath: a worker may call it after the run that made this
    // processor is gone (it shares ownership of the processor, not of the FastPath).
    std::optional<Snapshot> snapshot(std::size_t limit, std::chrono::milliseconds timeout)
    {
        std::unique_lock lock(m_mutex);
        if (!m_requested.load(std::memory_order_acquire)) {
            m_limit.store(std::min(limit, m_buffer.size()), std::memory_order_relaxed);
            m_requested.store(true, std::memory_order_release);
        }
        if (!m_done.wait_for(lock, timeout, [this] { return !m_requested.load(std::memory_order_acquire); }))
            return std::nullopt;
        Snapshot s;
        s.flows.assign(m_buffer.begin(), m_buffer.begin() + std::ptrdiff_t(std::min(m_copied, limit)));
        s.nowMs = m_copiedAtMs;
        s.tableSize = m_tableSize;
        return s;
    }

    // Control plane, never waits (the observers' flow feed, flowfeedpublisher.h): the first call
    // asks for a copy; a later call returns it once the fast-path thread made it (a copy made
    // for snapshot() with at least `limit` entries asked also counts). nullopt while pending.
    std::optional<Snapshot> pollSnapshot(std::size_t limit)
    {
        limit = std::min(limit, m_buffer.size());
        std::lock_guard lock(m_mutex);
        if (m_requested.load(std::memory_order_acquire))
            return std::nullopt;
        if (m_copies != m_polledCopies && m_copiedLimit >= limit) {
            m_polledCopies = m_copies;
            Snapshot s;
            s.flows.assign(m_buffer.begin(), m_buffer.begin() + std::ptrdiff_t(std::min(m_copied, limit)));
            s.nowMs = m_copiedAtMs;
            s.tableSize = m_tableSize;
            return s;
        }
        m_limit.store(limit, std::memory_order_relaxed);
        m_requested.store(true, std::memory_order_release);
        return std::nullopt;
    }

    // Control plane: VMAC announcements captured from other nodes so far, and the last one's
    // announcer MAC (48 bits in the low bytes; 0 when it did not say).
    std::uint64_t foreignAnnouncements() const noexcept { return m_foreignAnnouncements.load(std::memory_order_acquire); }
    std::uint64_t lastForeignAnnouncer() const noexcept { return m_foreignAnnouncer.load(std::memory_order_relaxed); }

private:
    FastPath &m_fastPath;
    MacAddress m_vmac;
    std::atomic<std::uint64_t> m_foreignAnnouncements{0}, m_foreignAnnouncer{0};
    std::vector<FlowEntry> m_buffer; // written by the fast path only while m_requested
    bool m_forwardSeen = false; // fast-path thread only
    std::atomic<std::int64_t> m_firstForwardMonoUs{0};
    std::atomic<bool> m_requested{false};
    std::atomic<std::size_t> m_limit{0};
    std::mutex m_mutex; // guards m_copied, m_copiedLimit, m_copies, m_polledCopies, m_copiedAtMs, m_tableSize; pairs with m_done
    std::condition_variable m_done;
    std::size_t m_copied = 0;
    std::size_t m_copiedLimit = 0;  // the limit the last copy was made for
    std::uint64_t m_copies = 0;     // copies made so far
    std::uint64_t m_polledCopies = 0; // the last copy pollSnapshot() returned
    std::uint32_t m_copiedAtMs = 0;
    std::size_t m_tableSize = 0;
};

} // namespace sasha
