#include "fastpath/flowtable.h"

#include "fastpath/frameparser.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace sasha {

FlowTable::FlowTable(std::size_t maxFlows, const FlowTimeouts &timeouts, const SynFloodLimits &synFlood)
    : m_maxFlows(maxFlows < 1 ? 1 : maxFlows)
{
    const std::size_t capacity = std::bit_ceil(m_maxFlows * 2);
    m_mask = capacity - 1;
    m_entries.reset(new FlowEntry[capacity]);
    std::memset(static_cast<void *>(m_entries.get()), 0, capacity * sizeof(FlowEntry));
    m_active.reset(new std::atomic<std::uint32_t>[kMaxServers]);
    m_open.reset(new std::atomic<std::uint32_t>[kMaxServers]);
    for (std::size_t i = 0; i < kMaxServers; ++i) {
        m_active[i].store(0, std::memory_order_relaxed);
        m_open[i].store(0, std::memory_order_relaxed);
    }
    auto ms = [](FastTime t) {
        const auto v = std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
        // Keep wrap-safe comparisons valid: cap at ~12 days.
        return std::uint32_t(v < 1 ? 1 : (v > (1LL << 30) ? (1LL << 30) : v));
    };
    m_timeoutMs[std::size_t(FlowState::SynSeen)] = ms(timeouts.synSeen);
    m_timeoutMs[std::size_t(FlowState::Established)] = ms(timeouts.established);
    m_timeoutMs[std::size_t(FlowState::Closing)] = ms(timeouts.closing);
    m_timeoutMs[std::size_t(FlowState::Udp)] = ms(timeouts.udp);
    auto share = [this](std::size_t divisor) {
        return divisor == 0 ? std::size_t(0) : std::max<std::size_t>(1, m_maxFlows / divisor);
    };
    m_synPressureAt = share(synFlood.pressureDivisor);
    m_synBudget = share(synFlood.budgetDivisor);
    m_synSeenPressureMs = ms(synFlood.synSeenUnderPressure);
    m_evictionSample = std::min(synFlood.evictionSample, capacity);
}

std::size_t FlowTable::memoryBytes() const noexcept
{
    return capacity() * sizeof(FlowEntry) + 2 * kMaxServers * sizeof(std::atomic<std::uint32_t>) + sizeof(*this);
}

FlowEntry *FlowTable::find(const FlowKey &key, std::uint64_t hash) noexcept
{
    // Load <= 0.5 guarantees an empty slot, so the probe ends.
    for (std::size_t i = hash & m_mask;; i = (i + 1) & m_mask) {
        FlowEntry &e = m_entries[i];
        if (e.state() == FlowState::Empty)
            return nullptr;
        if (e.srcIp == key.srcIp && e.dstIp == key.dstIp && e.srcPort == key.srcPort && e.dstPort == key.dstPort
            && e.proto == key.proto)
            return &e;
    }
}

FlowEntry *FlowTable::insert(const FlowKey &key, std::uint64_t hash, std::uint16_t slot, FlowState state,
                             FlowOrigin origin, FastTime now) noexcept
{
    if (m_size >= m_maxFlows || state == FlowState::Empty)
        return nullptr;
    std::size_t i = hash & m_mask;
    while (m_entries[i].state() != FlowState::Empty)
        i = (i + 1) & m_mask;
    FlowEntry &e = m_entries[i];
    e.srcIp = key.srcIp;
    e.dstIp = key.dstIp;
    e.srcPort = key.srcPort;
    e.dstPort = key.dstPort;
    e.proto = key.proto;
    e.stateBits = std::uint8_t(std::uint8_t(state) | (std::uint8_t(origin) << 4));
    // A flow first seen here by its FIN (adopted by hash) was closed here.
    if (state == FlowState::Closing && (origin == FlowOrigin::Hashed || origin == FlowOrigin::Scheduled))
        e.stateBits |= FlowEntry::kClosedHereBit;
    e.slot = slot;
    e.lastSeenMs = toMs(now);
    ++m_size;
    adjustOpen(slot, +1);
    if (countsAsActive(state))
        adjustActive(slot, +1);
    if (state == FlowState::SynSeen)
        adjustSynSeen(+1);
    return &e;
}

void FlowTable::adjust(std::atomic<std::uint32_t> *counters, std::uint16_t slot, int delta) noexcept
{
    if (slot >= kMaxServers)
        return;
    std::atomic<std::uint32_t> &c = counters[slot];
    // Single writer: a plain read-modify-write, no locked instruction.
    c.store(c.load(std::memory_order_relaxed) + std::uint32_t(delta), std::memory_order_relaxed);
}

void FlowTable::moveToSlot(FlowEntry &e, std::uint16_t slot) noexcept
{
    const bool active = countsAsActive(e.state());
    if (active)
        adjustActive(e.slot, -1);
    adjustOpen(e.slot, -1);
    e.slot = slot;
    adjustOpen(slot, +1);
    if (active)
        adjustActive(slot, +1);
}

void FlowTable::setState(FlowEntry &e, FlowState s) noexcept
{
    const bool was = countsAsActive(e.state());
    const bool is = countsAsActive(s);
    if (e.state() == FlowState::SynSeen)
        adjustSynSeen(-1);
    if (s == FlowState::SynSeen)
        adjustSynSeen(+1);
    e.stateBits = std::uint8_t((e.stateBits & 0xF0) | std::uint8_t(s));
    if (s != FlowState::Closing)
        e.stateBits &= std::uint8_t(~FlowEntry::kClosedHereBit);
    if (was != is)
        adjustActive(e.slot, is ? +1 : -1);
}

void FlowTable::touch(FlowEntry &e, std::uint8_t tcpFlags, FastTime now) noexcept
{
    e.lastSeenMs = toMs(now);
    if (e.proto != kIpProtoTcp)
        return;
    if (tcpFlags & (kTcpFin | kTcpRst)) {
        setState(e, FlowState::Closing);
        e.stateBits |= FlowEntry::kClosedHereBit;
    } else if (e.state() == FlowState::SynSeen && (tcpFlags & kTcpAck))
        setState(e, FlowState::Established);
}

FlowTable::ReconstructResult FlowTable::insertReconstructed(const FlowKey &key, std::uint16_t slot,
                                                            FastTime now) noexcept
{
    const std::uint64_t h = flowHash(key);
    if (FlowEntry *e = find(key, h)) {
        e->lastSeenMs = toMs(now);
        if (e->slot == slot)
            return ReconstructResult::AlreadyKnown;
        // The agent holds the socket, so it is right. Move the flow's count with it.
        moveToSlot(*e, slot);
        e->stateBits = std::uint8_t((e->stateBits & 0x8F) | (std::uint8_t(FlowOrigin::Reconstructed) << 4));
        return ReconstructResult::Corrected;
    }
    const FlowState s = key.proto == kIpProtoTcp ? FlowState::Established : FlowState::Udp;
    return insert(key, h, slot, s, FlowOrigin::Reconstructed, now) ? ReconstructResult::Inserted
                                                                    : ReconstructResult::Full;
}

FlowTable::ReconstructResult FlowTable::insertTransferred(const FlowKey &key, std::uint16_t slot, FlowState state,
                                                          FastTime now) noexcept
{
    const std::uint64_t h = flowHash(key);
    if (find(key, h))
        return ReconstructResult::AlreadyKnown;
    return insert(key, h, slot, state, FlowOrigin::Transferred, now) ? ReconstructResult::Inserted
                                                                     : ReconstructResult::Full;
}

FlowTable::ReconstructResult FlowTable::adoptPrevious(const FlowKey &key, std::uint16_t slot, FlowState state,
                                                      FastTime now) noexcept
{
    const std::uint64_t h = flowHash(key);
    FlowEntry *e = find(key, h);
    if (!e)
        return insert(key, h, slot, state, FlowOrigin::Transferred, now) ? ReconstructResult::Inserted
                                                                          : ReconstructResult::Full;
    // A flow this table scheduled itself (a SYN it saw after the VMAC moved) is newer than
    // anything the previous dispatcher knew: kept.
    if (e->origin() == FlowOrigin::Scheduled)
        return ReconstructResult::AlreadyKnown;
    // Its FIN or RST passed here, after the VMAC moved: the previous dispatcher's "open" is older
    // (it forwarded the flow's last data before the client switched). Opened again there, the
    // flow counted active here until the 300 s idle timeout (lab_membership's 0-1 stale flows).
    if (e->closedHere() && state != FlowState::Closing)
        return ReconstructResult::AlreadyKnown;
    e->lastSeenMs = toMs(now);
    bool changed = false;
    if (e->slot != slot) {
        moveToSlot(*e, slot);
        changed = true;
    }
    if (e->state() != state) {
        setState(*e, state);
        changed = true;
    }
    if (changed)
        e->stateBits = std::uint8_t((e->stateBits & 0x8F) | (std::uint8_t(FlowOrigin::Transferred) << 4));
    return changed ? ReconstructResult::Corrected : ReconstructResult::AlreadyKnown;
}

bool FlowTable::erase(const FlowKey &key) noexcept
{
    FlowEntry *e = find(key);
    if (!e)
        return false;
    eraseAt(std::size_t(e - m_entries.get()));
    return true;
}

void FlowTable::eraseAt(std::size_t hole) noexcept
{
    FlowEntry &gone = m_entries[hole];
    if (countsAsActive(gone.state()))
        adjustActive(gone.slot, -1);
    if (gone.state() == FlowState::SynSeen)
        adjustSynSeen(-1);
    adjustOpen(gone.slot, -1);
    --m_size;
    // Backward-shift deletion (Knuth 6.4, algorithm R): pull later entries of the probe chain
    // into the hole when the hole lies cyclically between their home slot and where they are.
    std::size_t j = hole;
    for (;;) {
        j = (j + 1) & m_mask;
        FlowEntry &e = m_entries[j];
        if (e.state() == FlowState::Empty)
            break;
        const std::size_t home = flowHash(e.key()) & m_mask;
        const bool stays = (hole <= j) ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        m_entries[hole] = e;
        hole = j;
    }
    m_entries[hole].stateBits = 0;
}

bool FlowTable::expired(const FlowEntry &e, std::uint32_t nowMs, std::uint32_t synSeenMs,
                        const DispatchPolicy *policy) const noexcept
{
    const std::int32_t idle = std::int32_t(nowMs - e.lastSeenMs);
    const FlowState s = e.state();
    if (s == FlowState::Udp && policy) {
        const FastTime own = policy->udpIdleOf(e.key());
        if (own.count() > 0) // capped like the constructor's timeouts, for wrap-safe comparison
            return idle >= std::int32_t(std::min<std::int64_t>(own.count() / 1000, std::int64_t(1) << 30));
    }
    return idle >= std::int32_t(s == FlowState::SynSeen ? synSeenMs : m_timeoutMs[std::size_t(s)]);
}

bool FlowTable::evictForSyn(std::uint64_t hash, FastTime now) noexcept
{
    if (m_synBudget == 0 || (synSeenFlows() < m_synBudget && m_size < m_maxFlows))
        return false;
    const std::uint32_t nowMs = toMs(now);
    std::size_t victim = 0;
    std::int32_t oldest = -1;
    for (std::size_t n = 0, i = hash & m_mask; n < m_evictionSample; ++n, i = (i + 1) & m_mask) {
        const FlowEntry &e = m_entries[i];
        if (e.state() != FlowState::SynSeen)
            continue;
        const std::int32_t idle = std::int32_t(nowMs - e.lastSeenMs);
        if (idle > oldest) {
            oldest = idle;
            victim = i;
        }
    }
    if (oldest < 0)
        return false;
    eraseAt(victim);
    m_lastEvictionMs = nowMs;
    return true;
}

std::size_t FlowTable::sweep(FastTime now, std::size_t maxSlots, const DispatchPolicy *policy) noexcept
{
    const std::uint32_t nowMs = toMs(now);
    // Decided once per call: retiring entries may end the pressure, the next call sees that.
    const std::uint32_t synSeenMs = underSynPressure() ? m_synSeenPressureMs
                                                      : m_timeoutMs[std::size_t(FlowState::SynSeen)];
    std::size_t retired = 0;
    for (std::size_t examined = 0; examined < maxSlots; ++examined) {
        const FlowEntry &e = m_entries[m_sweepCursor];
        if (e.state() != FlowState::Empty && expired(e, nowMs, synSeenMs, policy)) {
            // The shift may pull another entry into this slot: look at it again next turn.
            eraseAt(m_sweepCursor);
            ++retired;
            continue;
        }
        m_sweepCursor = (m_sweepCursor + 1) & m_mask;
    }
    return retired;
}

} // namespace sasha
