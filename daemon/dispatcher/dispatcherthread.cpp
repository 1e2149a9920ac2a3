#include "dispatcherthread.h"

#include "arpresponder.h"
#include "vmacannouncer.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

namespace sasha {

namespace {
std::chrono::microseconds steadyNow() noexcept
{
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch());
}

// Relative sleep on CLOCK_MONOTONIC; an interrupted sleep is not resumed (the caller only loses
// a little batching).
void sleepFor(std::chrono::microseconds d) noexcept
{
    timespec t{};
    t.tv_sec = time_t(d.count() / 1000000);
    t.tv_nsec = long(d.count() % 1000000) * 1000;
    clock_nanosleep(CLOCK_MONOTONIC, 0, &t, nullptr);
}
} // namespace

class DispatcherThread::Receiver final : public FrameReceiver {
public:
    explicit Receiver(DispatcherThread &owner) : m_owner(owner) {}
    void onFrame(std::span<const std::uint8_t> frame) noexcept override { m_owner.processFrame(frame); }

private:
    DispatcherThread &m_owner;
};

DispatcherThread::DispatcherThread(PacketSource &source, FrameProcessor &processor, PacketSink &networkSink,
                                   PacketSink *localSink, VmacAnnouncer *announcer, ArpResponder *arp,
                                   DispatcherThreadConfig config)
    : m_source(source), m_processor(processor), m_network(networkSink), m_local(localSink), m_announcer(announcer),
      m_arp(arp), m_config(config)
{
}

DispatcherThread::~DispatcherThread()
{
    stop();
}

bool DispatcherThread::announceBeforeStart() noexcept
{
    if (m_thread.joinable() || !m_announcer)
        return false;
    m_firstAnnouncedUs.store(0, std::memory_order_relaxed);
    m_announcer->announceNow();
    if (!m_announcer->tick(m_network, steadyNow()))
        return false;
    bump(m_counters.announcements);
    m_pendingAnnouncement = true;
    flushSinks();
    return m_firstAnnouncedUs.load(std::memory_order_relaxed) != 0;
}

void DispatcherThread::start()
{
    if (m_thread.joinable())
        return;
    m_stop.store(false, std::memory_order_relaxed);
    m_finished.store(false, std::memory_order_relaxed);
    m_running.store(true, std::memory_order_release);
    m_thread = std::thread(&DispatcherThread::run, this);
    // Here, so that pinned() is known when start() returns; run() pins itself too, before its
    // first turn, in case it began before this call.
    m_pinned.store(pinTo(m_thread.native_handle(), m_config.cpu), std::memory_order_relaxed);
}

bool DispatcherThread::pinTo(pthread_t thread, int cpu) noexcept
{
    if (cpu < 0 || cpu >= CPU_SETSIZE)
        return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(thread, sizeof set, &set) == 0;
}

void DispatcherThread::stop()
{
    m_stop.store(true, std::memory_order_relaxed);
    if (m_thread.joinable())
        m_thread.join();
    m_running.store(false, std::memory_order_release);
}

std::string DispatcherThread::error() const
{
    std::lock_guard lock(m_errorMutex);
    return m_error;
}

std::chrono::nanoseconds DispatcherThread::cpuTime() const noexcept
{
    // const_cast: native_handle() is not const, it does not modify the thread.
    auto &thread = const_cast<std::thread &>(m_thread);
    clockid_t clock;
    timespec t{};
    if (!thread.joinable() || pthread_getcpuclockid(thread.native_handle(), &clock) != 0 ||
        clock_gettime(clock, &t) != 0)
        return std::chrono::nanoseconds(0);
    return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

// True if `frame` was an ARP request for the VIP that is now answered (or could not be: counted
// as an injection error); false hands the frame on to the processor. Rare: the router asks once
// per entry lifetime (tens of seconds), so a copy of 42 bytes per answer costs nothing.
bool DispatcherThread::answerArp(std::span<const std::uint8_t> frame) noexcept
{
    ArpResponder::Asker asker;
    switch (m_arp->classify(frame, asker)) {
    case ArpResponder::Verdict::NotArp:
        return false;
    case ArpResponder::Verdict::Malformed:
        bump(m_counters.arpMalformed);
        return false;
    case ArpResponder::Verdict::Ignored:
        bump(m_counters.arpIgnored);
        return false;
    case ArpResponder::Verdict::RequestForVip:
        break;
    }
    // A successor waiting for its table, or a dispatcher handing over, stays silent: the answer
    // comes from the VMAC and would pull the switch's entry for it to this port.
    if (!m_announcing.load(std::memory_order_relaxed)) {
        bump(m_counters.arpIgnored);
        return false;
    }
    const auto out = m_network.acquire();
    std::size_t length = out.empty() ? 0 : m_arp->writeReply(asker, out);
    if (length == 0) {
        bump(m_counters.injectErrors);
        return true;
    }
    // A probe (sender address 0.0.0.0) is answered with who dispatches after the reply: a node
    // whose ring broke asks so, and learns that this dispatcher is alive beyond its ring (a
    // ring-port partition), so it never announces the VMAC itself (docs/dispatcher.md).
    if (asker.ip == 0 && m_announcer)
        length = VmacAnnouncer::appendAnswerer(out, length, m_announcer->announcer());
    m_network.commit(length);
    bump(m_counters.arpAnswered);
    return true;
}

void DispatcherThread::processFrame(std::span<const std::uint8_t> frame) noexcept
{
    bump(m_counters.captured);
    if (m_arp && frame.size() >= 14 && frame[12] == 0x08 && frame[13] == 0x06 && answerArp(frame)) [[unlikely]]
        return;
    // The processor writes straight into the network sink's buffer (a TX ring slot): no copy on
    // the common path. A buffer that is not committed is lent again by the next acquire().
    const auto out = m_network.acquire();
    if (out.empty()) {
        bump(m_counters.injectErrors);
        return;
    }
    const FrameDisposition d = m_processor.process(frame, out, m_now);
    if (d.action != FrameDisposition::Action::Drop && (d.length == 0 || d.length > out.size())) {
        bump(m_counters.injectErrors); // a processor bug; never send past the buffer
        return;
    }
    switch (d.action) {
    case FrameDisposition::Action::Forward:
        m_network.commit(d.length);
        break;
    case FrameDisposition::Action::DeliverLocal:
        // Rare (only flows this node still serves): one copy into the local sink.
        if (!m_local || !m_local->enqueue(out.first(d.length)))
            bump(m_counters.localErrors);
        else
            bump(m_counters.deliveredLocal);
        break;
    case FrameDisposition::Action::Drop:
        bump(m_counters.dropped);
        break;
    }
}

void DispatcherThread::flushSinks() noexcept
{
    const SinkResult network = m_network.flush();
    bump(m_counters.injected, network.sent);
    // Once per flush, not per packet: when the first announcement went out (takeover timings).
    if (m_pendingAnnouncement && network.sent > 0 && m_firstAnnouncedUs.load(std::memory_order_relaxed) == 0)
        m_firstAnnouncedUs.store(steadyNow().count(), std::memory_order_relaxed);
    m_pendingAnnouncement = false;
    bump(m_counters.injectErrors, network.failed);
    if (m_local) {
        const SinkResult local = m_local->flush();
        // deliveredLocal was counted at enqueue; move the failures over.
        if (local.failed > 0) {
            m_counters.deliveredLocal.store(read(m_counters.deliveredLocal) - local.failed, std::memory_order_relaxed);
            bump(m_counters.localErrors, local.failed);
        }
    }
}

void DispatcherThread::run()
{
    if (m_config.cpu >= 0)
        pinTo(pthread_self(), m_config.cpu);
    Receiver receiver(*this);
    auto lastStats = steadyNow();
    std::string failure;
    while (!m_stop.load(std::memory_order_relaxed)) {
        m_now = steadyNow();
        if (m_announcer && m_announcing.load(std::memory_order_acquire) && m_announceRequested.load(std::memory_order_relaxed)
            && m_announceRequested.exchange(false, std::memory_order_relaxed))
            m_announcer->announceNow();
        if (m_announcer && m_announcing.load(std::memory_order_relaxed) && m_announcer->tick(m_network, m_now)) {
            bump(m_counters.announcements);
            m_pendingAnnouncement = true;
            // Out at once: the switch must learn the VMAC's port before any VIP frame can reach
            // us, so waiting for the batch's flush (up to pollTimeout when idle) only delays it.
            flushSinks();
        }
        const PacketSource::Batch batch = m_source.receive(receiver, m_config.batchFrames, m_config.pollTimeout);
        flushSinks();
        if (batch.frames > 0)
            bump(m_counters.batches);
        m_processor.idle(m_now);
        if (m_now - lastStats >= m_config.statsInterval) {
            lastStats = m_now;
            const SourceStats s = m_source.stats();
            m_counters.kernelDropped.store(s.kernelDropped, std::memory_order_relaxed);
            m_counters.interfaceDropped.store(s.interfaceDropped, std::memory_order_relaxed);
            m_counters.oversized.store(s.oversized, std::memory_order_relaxed);
        }
        if (batch.status == PacketSource::Status::Failed) {
            failure = m_source.lastError();
            break;
        }
        if (batch.status == PacketSource::Status::Exhausted) {
            failure = "the capture ended";
            break;
        }
        // A full batch means the ring still holds frames: read on at once. A partial one emptied
        // it: at low rates the next frame would wake the thread alone, and a wake-up costs several
        // times the frame's own work, so let a few accumulate first (bounded by batchWait).
        if (m_config.batchWait.count() > 0 && batch.frames > 0 && batch.frames < m_config.batchFrames)
            sleepFor(m_config.batchWait);
    }
    const SourceStats s = m_source.stats();
    m_counters.kernelDropped.store(s.kernelDropped, std::memory_order_relaxed);
    m_counters.interfaceDropped.store(s.interfaceDropped, std::memory_order_relaxed);
    m_counters.oversized.store(s.oversized, std::memory_order_relaxed);
    {
        std::lock_guard lock(m_errorMutex);
        m_error = failure;
    }
    m_finished.store(true, std::memory_order_release);
}

} // namespace sasha
