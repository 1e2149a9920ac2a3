// libFuzzer target: the reliable exchange (tokenbeat/reliable.h). The input is a script of at
// most kMaxSteps steps for two exchanges, A (address 1) sending to B (address 2) over a network
// the fuzzer controls: each datagram in flight may be delivered, dropped or duplicated, and is
// lost when older than kMaxDelay (as the envelope's replay window would drop a late copy). A
// third address injects fuzzed OobData/OobAck bodies into both. After every step:
//   - every body sent is addressed to the peer and has its documented size;
//   - B delivers from A only payloads A sent, a reliable one at most once;
//   - A reports a reliable transfer completed or failed at most once, never both, and only
//     completed after B delivered it;
//   - the honest peer's datagrams never decode as malformed;
//   - after a tick at `now`, nextDeadline() is after `now`.
// Timers fire at nextDeadline(), at most 200 ms late.
// Run: fuzz_reliable -max_len=4096 [corpus dir]

#include "fuzzinput.h"
#include "tokenbeat/reliable.h"

#include <QtEndian>

#include <map>
#include <set>
#include <vector>

using namespace std::chrono_literals;
using namespace sasha::tb;
using sasha::fuzz::FuzzInput;

namespace {

constexpr quint8 kData = 9; // MessageType::OobData
constexpr quint8 kAck = 10; // MessageType::OobAck
constexpr NodeAddr kA = 1, kB = 2, kStranger = 3;
constexpr std::size_t kChunk = 24; // small chunks: a payload of a few hundred bytes has many
constexpr int kDataHeader = 18;
constexpr int kAckBody = 10;
constexpr int kMaxSteps = 96; // long enough for a few transfers; longer only slows the run
constexpr Time kMaxDelay = 2s;
// A timer fires at most 200 ms late (the ring's thread can be busy that long); a longer stall
// of the sender can defeat the receiver's 10 s idle timeout (see docs/fuzzing.md).
constexpr int kMaxTimerFirings = 64;

struct InFlight {
    Time sentAt;
    ReliableExchange::Out out;
};

// The datagrams in flight one way, oldest first: a vector and a read position, emptied for
// each input but keeping its capacity (see Scratch).
class Queue {
public:
    bool empty() const { return m_head == m_items.size(); }
    const InFlight &front() const { return m_items[m_head]; }
    void pop_front() { m_items[m_head++].out.body = QByteArray(); }
    void push_back(InFlight d) { m_items.push_back(std::move(d)); }
    void clear()
    {
        m_items.clear();
        m_head = 0;
    }

private:
    std::vector<InFlight> m_items;
    std::size_t m_head = 0;
};

// The harness's buffers, kept from one input to the next so that they keep their capacity: an
// input can queue thousands of datagrams, and under AddressSanitizer growing the buffers from
// nothing for every input (std::deque blocks, vector reallocations) cost more than the exchange's
// own work. Only storage is kept; the harness empties them before its first step and after its last.
struct Scratch {
    Queue toA, toB;
    ReliableExchange::Result result;
};

struct Sent {
    QByteArray payload;
    bool reliable = false;
    bool delivered = false;
};

class Harness {
public:
    explicit Harness(Scratch &scratch) : m_toA(scratch.toA), m_toB(scratch.toB), m_result(scratch.result)
    {
        m_toA.clear();
        m_toB.clear();
        fresh();
    }
    // Releases what the buffers hold (not their capacity): libFuzzer takes an input that ends
    // with more mallocs than frees for a leak and checks it again with LeakSanitizer.
    ~Harness()
    {
        m_toA.clear();
        m_toB.clear();
        fresh();
    }
    Harness(const Harness &) = delete;
    Harness &operator=(const Harness &) = delete;

    void run(FuzzInput &in)
    {
        for (int step = 0; step < kMaxSteps && !in.done(); ++step) {
            switch (in.u8() % 10) {
            case 0: send(in.u8(), in.u8()); break;
            case 1: deliver(m_toB, true, in.u8() & 1); break;
            case 2: deliver(m_toA, false, in.u8() & 1); break;
            case 3: drop(m_toB); break;
            case 4: drop(m_toA); break;
            case 5: tick(std::chrono::milliseconds(in.u8() * 100), std::chrono::milliseconds(in.u8() % 21 * 10)); break;
            case 6: inject(m_a, in); break;
            case 7: inject(m_b, in); break;
            case 8: {
                ReliableExchange::Result &r = fresh();
                m_a.forgetPeer(kB, r);
                absorb(r, false);
                break;
            }
            case 9: tick(std::chrono::milliseconds(in.u8() % 25), Time(0)); break;
            }
        }
    }

private:
    void send(quint8 length, quint8 flags)
    {
        const bool reliable = !(flags & 1);
        const quint32 serial = m_nextSerial++;
        QByteArray payload(4 + length, char(flags));
        qToBigEndian<quint32>(serial, payload.data());
        ReliableExchange::Result &r = fresh();
        const quint64 id = m_a.send(m_now, kB, flags >> 4, payload, reliable, r);
        const bool fits = std::size_t(payload.size()) <= kChunk;
        FUZZ_CHECK((id != 0) == (reliable || fits));
        if (id != 0) {
            m_sent[serial] = {payload, reliable, false};
            if (reliable)
                m_open[id] = serial;
        }
        absorb(r, false);
    }

    void deliver(Queue &queue, bool toB, bool duplicate)
    {
        while (!queue.empty() && m_now - queue.front().sentAt > kMaxDelay)
            queue.pop_front();
        if (queue.empty())
            return;
        const InFlight d = queue.front();
        if (!duplicate)
            queue.pop_front();
        ReliableExchange &to = toB ? m_b : m_a;
        const NodeAddr from = toB ? kA : kB;
        ReliableExchange::Result &r = fresh();
        if (d.out.type == kData)
            to.onData(m_now, from, d.out.body, r);
        else
            to.onAck(m_now, from, d.out.body, r);
        FUZZ_CHECK(!r.malformed);
        absorb(r, toB);
    }

    static void drop(Queue &queue)
    {
        if (!queue.empty())
            queue.pop_front();
    }

    // Time passes by `by`; each exchange's timer fires at its nextDeadline(), up to `late` after
    // it (a busy event loop), as the ring driver arms it.
    void tick(Time by, Time late)
    {
        const Time until = m_now + by;
        for (int fired = 0; fired < kMaxTimerFirings; ++fired) {
            const Time next = std::min(m_a.nextDeadline(), m_b.nextDeadline());
            if (next == Time::max() || next + late > until)
                break;
            m_now = std::max(m_now, next + late);
            for (ReliableExchange *x : {&m_a, &m_b}) {
                ReliableExchange::Result &r = fresh();
                x->onTick(m_now, r);
                absorb(r, x == &m_b);
                FUZZ_CHECK(x->nextDeadline() > m_now);
            }
        }
        m_now = std::max(m_now, until);
    }

    void inject(ReliableExchange &x, FuzzInput &in)
    {
        const quint8 kind = in.u8();
        const QByteArrayView body = in.bytes(kind % 48);
        ReliableExchange::Result &r = fresh();
        if (kind & 0x80)
            x.onAck(m_now, kStranger, body, r);
        else
            x.onData(m_now, kStranger, body, r);
        // Answers go back to the stranger only; what it is delivered is its own affair.
        for (const auto &o : r.send)
            FUZZ_CHECK(o.to == kStranger && o.type == kAck && o.body.size() == kAckBody);
        FUZZ_CHECK(r.completed.empty() && r.failed.empty());
        for (const auto &d : r.delivered)
            FUZZ_CHECK(d.from == kStranger && std::size_t(d.payload.size()) <= kMaxOobPayload);
    }

    // An empty Result for the next call, reusing the last one's vectors (fewer allocations; each
    // call's outputs are absorbed before the next call).
    ReliableExchange::Result &fresh()
    {
        auto send = std::move(m_result.send);
        auto delivered = std::move(m_result.delivered);
        send.clear();
        delivered.clear();
        m_result = ReliableExchange::Result{};
        m_result.send = std::move(send);
        m_result.delivered = std::move(delivered);
        return m_result;
    }

    // The outputs of one call on A (fromB false) or B (fromB true).
    void absorb(const ReliableExchange::Result &r, bool fromB)
    {
        for (const auto &o : r.send) {
            FUZZ_CHECK(o.to == (fromB ? kA : kB));
            if (fromB) {
                FUZZ_CHECK(o.type == kAck && o.body.size() == kAckBody);
                m_toA.push_back({m_now, o});
            } else {
                FUZZ_CHECK(o.type == kData && o.body.size() >= kDataHeader
                           && std::size_t(o.body.size()) <= kDataHeader + kChunk);
                m_toB.push_back({m_now, o});
            }
        }
        for (const auto &d : r.delivered) {
            FUZZ_CHECK(fromB && d.from == kA && d.payload.size() >= 4);
            const auto it = m_sent.find(qFromBigEndian<quint32>(d.payload.constData()));
            FUZZ_CHECK(it != m_sent.end() && it->second.payload == d.payload);
            FUZZ_CHECK(!(it->second.reliable && it->second.delivered));
            it->second.delivered = true;
        }
        for (const quint64 id : r.completed) {
            FUZZ_CHECK(!fromB);
            const auto it = m_open.find(id);
            FUZZ_CHECK(it != m_open.end() && m_sent.at(it->second).delivered);
            m_open.erase(it);
        }
        for (const quint64 id : r.failed) {
            FUZZ_CHECK(!fromB && m_open.erase(id) == 1);
        }
    }

    ReliableExchange m_a{Timers{}, kChunk, kData, kAck};
    ReliableExchange m_b{Timers{}, kChunk, kData, kAck};
    Time m_now{1'000'000};
    Queue &m_toA, &m_toB;
    ReliableExchange::Result &m_result; // see fresh()
    quint32 m_nextSerial = 1;
    std::map<quint32, Sent> m_sent;    // by serial (the payload's first 4 bytes)
    std::map<quint64, quint32> m_open; // A's reliable transfers not completed or failed yet
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static Scratch scratch;
    FuzzInput in(data, size);
    Harness h(scratch);
    h.run(in);
    return 0;
}
