#include "tokenbeat/reliable.h"

#include "tokenbeat/bytes.h"

#include <algorithm>
#include <limits>
#include <optional>

namespace sasha::tb {

namespace {

// OobData header: transferId u64 | channel u8 | flags u8 | index u16 | count u16 | totalLength u32.
constexpr int kDataHeaderSize = 8 + 1 + 1 + 2 + 2 + 4;
// OobAck: transferId u64 | index u16.
constexpr int kAckSize = 8 + 2;
constexpr quint8 kFlagReliable = 0x01;

// At most this many chunks of one transfer are sent and not yet acknowledged, so a 1 MiB
// transfer (~780 chunks of 1,340 bytes) does not burst onto the LAN at once.
constexpr int kSendWindow = 32;
// Memory bounds of the receiver. A reception is refused (not acknowledged, so the sender retries
// later) when it would pass one of them.
constexpr std::size_t kMaxIncomingPerPeer = 8;
constexpr std::size_t kMaxIncomingTotal = 64;
constexpr std::size_t kMaxIncomingBytes = 16u << 20; // sum of totalLength of partial receptions
// Completed transfer ids remembered for deduplication, at most.
constexpr std::size_t kMaxRecentlyDone = 4096;
// An incomplete reception not advanced for this long is dropped (at least; see incomingTimeout()).
constexpr Time kIncomingTimeout = 10s;
// Retransmission timeouts double up to this exponent, so a large maxRetransmits cannot overflow.
constexpr int kMaxBackoffShift = 16;

struct DataHeader {
    quint64 transferId = 0;
    quint8 channel = 0;
    quint8 flags = 0;
    quint16 index = 0;
    quint16 count = 0;
    quint32 totalLength = 0;
};

QByteArray encodeData(const DataHeader &h, QByteArrayView data)
{
    ByteWriter w(kDataHeaderSize + data.size());
    w.u64(h.transferId);
    w.u8(h.channel);
    w.u8(h.flags);
    w.u16(h.index);
    w.u16(h.count);
    w.u32(h.totalLength);
    w.bytes(data);
    return w.take();
}

// Structural checks only; the caller checks consistency with an existing reception.
std::optional<DataHeader> decodeData(QByteArrayView body)
{
    if (body.size() < kDataHeaderSize)
        return std::nullopt;
    ByteReader in(body);
    DataHeader h;
    h.transferId = in.u64();
    h.channel = in.u8();
    h.flags = in.u8();
    h.index = in.u16();
    h.count = in.u16();
    h.totalLength = in.u32();
    const auto dataSize = static_cast<std::size_t>(body.size() - kDataHeaderSize);
    const bool ok = h.count >= 1 && h.index < h.count && h.totalLength <= kMaxOobPayload
                    // every chunk carries at least one byte, except the one chunk of an empty payload
                    && h.count <= std::max<quint32>(1, h.totalLength) && dataSize <= h.totalLength
                    && (h.flags & kFlagReliable || h.count == 1);
    if (!ok)
        return std::nullopt;
    return h;
}

QByteArray encodeAck(quint64 transferId, quint16 index)
{
    ByteWriter w(kAckSize);
    w.u64(transferId);
    w.u16(index);
    return w.take();
}

} // namespace

struct ReliableExchange::Pending {
    enum class ChunkState : quint8 { Unsent, InFlight, Acked };
    struct Chunk {
        ChunkState state = ChunkState::Unsent;
        int retransmits = 0; // retransmissions so far (the first transmission not counted)
        Time deadline{0};    // when InFlight: retransmit (or give up) at this time
        QByteArray body;     // when InFlight: the encoded OobData body, shared by every transmission
    };
    quint64 id = 0;
    NodeAddr to = kNoNode;
    quint8 channel = 0;
    QByteArray payload;
    std::vector<Chunk> chunks;
    int inFlight = 0;
    std::size_t acked = 0;
    std::size_t nextUnsent = 0;  // chunks before it were all sent at least once
    std::size_t firstUnacked = 0; // chunks before it are all acknowledged

    QByteArray chunkBody(const ReliableExchange &ex, std::size_t index) const;
    // Sends unsent chunks while fewer than kSendWindow are unacknowledged.
    void fillWindow(const ReliableExchange &ex, Time now, Result &out);
};

struct ReliableExchange::Incoming {
    quint8 channel = 0;
    quint16 count = 0;
    quint32 totalLength = 0;
    // The chunks present, by index. Sparse: a first chunk announcing 65,535 chunks costs nothing
    // for the ones that have not arrived (a slot per announced chunk cost 1.5 MiB of zeroed
    // memory up front, outside the bound on totalLength).
    std::map<quint16, QByteArray> chunks;
    std::size_t receivedBytes = 0; // sum of their sizes, never above totalLength
    Time lastActivity{0};
};

namespace {

// Time before retransmission number `retransmits + 1`: Timers::retransmit doubled per retry.
Time backoff(const Timers &t, int retransmits)
{
    return t.retransmit * (qint64(1) << std::min(retransmits, kMaxBackoffShift));
}

// The longest a sender may keep retransmitting one chunk: the sum of all its timeouts.
Time retransmitSpan(const Timers &t)
{
    Time span{0};
    for (int i = 0; i <= std::max(0, t.maxRetransmits); ++i)
        span += backoff(t, i);
    return span;
}

// Long enough that a live sender keeps its reception alive: its longest silence between two
// transmissions of a chunk is the backoff before its last retry (2.56 s with the defaults).
Time incomingTimeout(const Timers &t)
{
    return std::max(kIncomingTimeout, 2 * backoff(t, std::max(0, t.maxRetransmits - 1)));
}

// Longer than a sender can keep retransmitting a chunk we already acknowledged, so a
// retransmission of a finished transfer is always recognised and never re-delivered.
Time doneMemory(const Timers &t)
{
    return std::max(Time(30s), 2 * retransmitSpan(t));
}

// Whether a new reception of totalLength bytes from `from` stays within the memory bounds.
template <class IncomingMap>
bool admitIncoming(const IncomingMap &incoming, NodeAddr from, quint32 totalLength)
{
    if (incoming.size() >= kMaxIncomingTotal)
        return false;
    std::size_t fromPeer = 0;
    std::size_t bytes = 0;
    for (const auto &[key, in] : incoming) {
        fromPeer += key.first == from;
        bytes += in->totalLength;
    }
    return fromPeer < kMaxIncomingPerPeer && bytes + totalLength <= kMaxIncomingBytes;
}

template <class DoneMap>
void rememberDone(DoneMap &done, Time now, std::pair<NodeAddr, quint64> key)
{
    if (done.size() >= kMaxRecentlyDone) {
        auto oldest = std::min_element(done.begin(), done.end(),
                                       [](const auto &a, const auto &b) { return a.second < b.second; });
        done.erase(oldest);
    }
    done[key] = now;
}

} // namespace

ReliableExchange::ReliableExchange(const Timers &timers, std::size_t maxChunkData, quint8 dataType,
                                   quint8 ackType)
    : m_timers(timers), m_maxChunkData(std::max<std::size_t>(1, maxChunkData)), m_dataType(dataType),
      m_ackType(ackType)
{
}

quint64 ReliableExchange::send(Time now, NodeAddr to, quint8 channel, const QByteArray &payload,
                               bool reliable, Result &out)
{
    const auto size = static_cast<std::size_t>(payload.size());
    if (size > kMaxOobPayload)
        return 0;
    const std::size_t count = std::max<std::size_t>(1, (size + m_maxChunkData - 1) / m_maxChunkData);
    if (count > std::numeric_limits<quint16>::max() || (!reliable && count != 1))
        return 0;
    const quint64 id = m_nextId++;
    if (!reliable) {
        DataHeader h{id, channel, 0, 0, 1, static_cast<quint32>(size)};
        out.send.push_back({to, m_dataType, encodeData(h, payload)});
        return id;
    }
    auto p = std::make_shared<Pending>();
    p->id = id;
    p->to = to;
    p->channel = channel;
    p->payload = payload;
    p->chunks.resize(count);
    m_pending.emplace(id, p);
    p->fillWindow(*this, now, out);
    return id;
}

QByteArray ReliableExchange::Pending::chunkBody(const ReliableExchange &ex, std::size_t index) const
{
    const auto chunk = static_cast<qsizetype>(ex.m_maxChunkData);
    const auto offset = static_cast<qsizetype>(index) * chunk;
    const auto len = std::min<qsizetype>(chunk, payload.size() - offset);
    DataHeader h{id, channel, kFlagReliable, static_cast<quint16>(index),
                 static_cast<quint16>(chunks.size()), static_cast<quint32>(payload.size())};
    return encodeData(h, QByteArrayView(payload).sliced(offset, len));
}

void ReliableExchange::Pending::fillWindow(const ReliableExchange &ex, Time now, Result &out)
{
    while (inFlight < kSendWindow && nextUnsent < chunks.size()) {
        auto &c = chunks[nextUnsent];
        c.state = ChunkState::InFlight;
        c.deadline = now + backoff(ex.m_timers, 0);
        c.body = chunkBody(ex, nextUnsent);
        ++inFlight;
        out.send.push_back({to, ex.m_dataType, c.body});
        ++nextUnsent;
    }
}

void ReliableExchange::onData(Time now, NodeAddr from, QByteArrayView body, Result &out)
{
    const auto h = decodeData(body);
    if (!h) {
        out.malformed = true;
        return;
    }
    const QByteArrayView data = body.sliced(kDataHeaderSize);
    if (!(h->flags & kFlagReliable)) {
        // Unreliable: one chunk, delivered as it comes; the envelope already dropped replays.
        if (static_cast<std::size_t>(data.size()) != h->totalLength) {
            out.malformed = true;
            return;
        }
        out.delivered.push_back({from, h->channel, data.toByteArray()});
        return;
    }
    const auto key = std::make_pair(from, h->transferId);
    if (m_recentlyDone.contains(key)) {
        // Our ack was lost: say it again, deliver nothing.
        out.send.push_back({from, m_ackType, encodeAck(h->transferId, h->index)});
        return;
    }
    auto it = m_incoming.find(key);
    if (it == m_incoming.end()) {
        if (!admitIncoming(m_incoming, from, h->totalLength))
            return; // over a memory bound: no ack, the sender retries later
        auto in = std::make_shared<Incoming>();
        in->channel = h->channel;
        in->count = h->count;
        in->totalLength = h->totalLength;
        it = m_incoming.emplace(key, std::move(in)).first;
    }
    Incoming &in = *it->second;
    if (in.channel != h->channel || in.count != h->count || in.totalLength != h->totalLength) {
        out.malformed = true; // disagrees with the transfer's first chunk
        return;
    }
    if (!in.chunks.contains(h->index)) {
        if (in.receivedBytes + data.size() > in.totalLength) {
            out.malformed = true;
            return;
        }
        in.chunks.emplace(h->index, data.toByteArray());
        in.receivedBytes += data.size();
    }
    in.lastActivity = now;
    out.send.push_back({from, m_ackType, encodeAck(h->transferId, h->index)});
    if (in.chunks.size() < in.count)
        return;
    if (in.receivedBytes != in.totalLength) {
        out.malformed = true; // chunks do not add up to the announced length
        m_incoming.erase(it);
        return;
    }
    QByteArray payload;
    payload.reserve(in.totalLength);
    for (const auto &[index, c] : in.chunks) // in index order
        payload.append(c);
    out.delivered.push_back({from, in.channel, std::move(payload)});
    m_incoming.erase(it);
    rememberDone(m_recentlyDone, now, key);
}

void ReliableExchange::onAck(Time now, NodeAddr from, QByteArrayView body, Result &out)
{
    ByteReader in(body);
    const quint64 id = in.u64();
    const quint16 index = in.u16();
    if (!in.ok()) {
        out.malformed = true;
        return;
    }
    auto it = m_pending.find(id);
    if (it == m_pending.end() || it->second->to != from)
        return; // late duplicate ack of a finished transfer, or not ours: nothing to do
    Pending &t = *it->second;
    if (index >= t.chunks.size()) {
        out.malformed = true;
        return;
    }
    auto &c = t.chunks[index];
    if (c.state != Pending::ChunkState::InFlight)
        return; // duplicate ack, or an ack for a chunk never sent
    c.state = Pending::ChunkState::Acked;
    c.body = QByteArray();
    --t.inFlight;
    ++t.acked;
    while (t.firstUnacked < t.chunks.size() && t.chunks[t.firstUnacked].state == Pending::ChunkState::Acked)
        ++t.firstUnacked;
    if (t.acked == t.chunks.size()) {
        out.completed.push_back(id);
        m_pending.erase(it);
        return;
    }
    t.fillWindow(*this, now, out);
}

void ReliableExchange::onTick(Time now, Result &out)
{
    for (auto it = m_pending.begin(); it != m_pending.end();) {
        Pending &t = *it->second;
        bool failed = false;
        for (std::size_t i = t.firstUnacked; i < t.nextUnsent && !failed; ++i) {
            auto &c = t.chunks[i];
            if (c.state != Pending::ChunkState::InFlight || c.deadline > now)
                continue;
            if (c.retransmits >= m_timers.maxRetransmits) {
                failed = true;
                break;
            }
            ++c.retransmits;
            c.deadline = now + backoff(m_timers, c.retransmits);
            ++out.retransmits;
            out.send.push_back({t.to, m_dataType, c.body}); // shared, not encoded again
        }
        if (failed) {
            out.failed.push_back(t.id);
            it = m_pending.erase(it);
        } else {
            ++it;
        }
    }
    const Time idle = incomingTimeout(m_timers);
    std::erase_if(m_incoming, [&](const auto &kv) { return now - kv.second->lastActivity >= idle; });
    const Time keep = doneMemory(m_timers);
    std::erase_if(m_recentlyDone, [&](const auto &kv) { return now - kv.second >= keep; });
}

Time ReliableExchange::nextDeadline() const
{
    Time next = Time::max();
    for (const auto &[id, t] : m_pending) {
        for (std::size_t i = t->firstUnacked; i < t->nextUnsent; ++i) {
            if (t->chunks[i].state == Pending::ChunkState::InFlight)
                next = std::min(next, t->chunks[i].deadline);
        }
    }
    const Time idle = incomingTimeout(m_timers);
    for (const auto &[key, in] : m_incoming)
        next = std::min(next, in->lastActivity + idle);
    const Time keep = doneMemory(m_timers);
    for (const auto &[key, at] : m_recentlyDone)
        next = std::min(next, at + keep);
    return next;
}

void ReliableExchange::forgetPeer(NodeAddr peer, Result &out)
{
    for (auto it = m_pending.begin(); it != m_pending.end();) {
        if (it->second->to == peer) {
            out.failed.push_back(it->first);
            it = m_pending.erase(it);
        } else {
            ++it;
        }
    }
    std::erase_if(m_incoming, [&](const auto &kv) { return kv.first.first == peer; });
    // A restarted peer numbers its transfers from 1 again: its old ids must not dedup new ones.
    std::erase_if(m_recentlyDone, [&](const auto &kv) { return kv.first.first == peer; });
}

} // namespace sasha::tb
