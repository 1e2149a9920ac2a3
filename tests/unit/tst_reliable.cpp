// Specification of the out-of-band reliable exchange (docs/tokenbeat.md "Out-of-band messages
// and the reliable exchange"): two exchanges talk over a simulated link that drops, duplicates
// and reorders with a seeded RNG; every failure message names the seed that reproduces it.

#include "tokenbeat/reliable.h"

#include <QFile>
#include <QRandomGenerator>
#include <QtEndian>
#include <QTest>

#include <algorithm>
#include <map>
#include <numeric>

#include <unistd.h>

using namespace sasha::tb;

namespace {

constexpr quint8 kDataType = 10;
constexpr quint8 kAckType = 11;
constexpr std::size_t kChunk = 1334; // 1400 - envelope 48 - OobData header 18, as the node uses
constexpr NodeAddr kA = 1;
constexpr NodeAddr kB = 2;
constexpr NodeAddr kNobody = 99;

QByteArray payloadOf(int size, quint32 seed)
{
    QRandomGenerator rng(seed);
    QByteArray p(size, Qt::Uninitialized);
    for (int i = 0; i < size; ++i)
        p[i] = char(rng.bounded(256));
    return p;
}

QByteArray dataBody(quint64 id, quint8 channel, quint8 flags, quint16 index, quint16 count, quint32 total,
                    const QByteArray &data)
{
    QByteArray b(18, Qt::Uninitialized);
    auto *p = reinterpret_cast<uchar *>(b.data());
    qToBigEndian<quint64>(id, p);
    p[8] = channel;
    p[9] = flags;
    qToBigEndian<quint16>(index, p + 10);
    qToBigEndian<quint16>(count, p + 12);
    qToBigEndian<quint32>(total, p + 14);
    return b + data;
}

QByteArray ackBody(quint64 id, quint16 index)
{
    QByteArray b(10, Qt::Uninitialized);
    qToBigEndian<quint64>(id, b.data());
    qToBigEndian<quint16>(index, b.data() + 8);
    return b;
}

// This process's resident memory in bytes (Linux /proc), or -1 when it cannot be read.
qint64 residentBytes()
{
    QFile f(QStringLiteral("/proc/self/statm"));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> fields = f.readAll().split(' ');
    bool ok = false;
    const qint64 pages = fields.size() > 1 ? fields[1].toLongLong(&ok) : 0;
    return ok ? pages * sysconf(_SC_PAGESIZE) : -1;
}

quint16 chunkIndexOf(const QByteArray &dataBodyBytes)
{
    return qFromBigEndian<quint16>(dataBodyBytes.constData() + 10);
}

// One endpoint of the simulation and everything its exchange reported.
struct Side {
    Side(NodeAddr a, const Timers &t) : addr(a), ex(t, kChunk, kDataType, kAckType) {}
    NodeAddr addr;
    ReliableExchange ex;
    std::vector<ReliableExchange::Delivered> delivered;
    std::vector<quint64> completed, failed;
    quint64 retransmits = 0;
    int malformed = 0;
    std::size_t maxSendPerAck = 0; // largest number of datagrams one incoming ack released
};

// A lossy, duplicating, reordering link between two sides. Datagrams to anyone else vanish.
class Simulation {
public:
    Simulation(quint32 seed, double loss, const Timers &timers, double duplicate = 0.02)
        : a(kA, timers), b(kB, timers), m_rng(seed), m_loss(loss), m_duplicate(duplicate)
    {
    }

    void absorb(Side &s, ReliableExchange::Result &r, bool fromAck = false)
    {
        for (auto &d : r.delivered)
            s.delivered.push_back(std::move(d));
        s.completed.insert(s.completed.end(), r.completed.begin(), r.completed.end());
        s.failed.insert(s.failed.end(), r.failed.begin(), r.failed.end());
        s.retransmits += r.retransmits;
        s.malformed += r.malformed;
        if (fromAck)
            s.maxSendPerAck = std::max(s.maxSendPerAck, r.send.size());
        for (auto &o : r.send) {
            ++datagrams;
            if (m_rng.generateDouble() < m_loss)
                continue;
            const int copies = m_rng.generateDouble() < m_duplicate ? 2 : 1;
            for (int i = 0; i < copies; ++i) {
                // 0.1..2 ms one way: datagrams overtake each other.
                const Time at = now + Time(100 + m_rng.bounded(1900));
                m_inFlight.emplace(at, Packet{s.addr, o.to, o.type, o.body});
            }
        }
    }

    // Advances to the next event. False when nothing is left to happen.
    bool step()
    {
        Time next = std::min(a.ex.nextDeadline(), b.ex.nextDeadline());
        if (!m_inFlight.empty())
            next = std::min(next, m_inFlight.begin()->first);
        if (next == Time::max())
            return false;
        now = std::max(now, next);
        while (!m_inFlight.empty() && m_inFlight.begin()->first <= now) {
            const Packet p = m_inFlight.begin()->second;
            m_inFlight.erase(m_inFlight.begin());
            Side *to = p.to == kA ? &a : p.to == kB ? &b : nullptr;
            if (!to)
                continue;
            ReliableExchange::Result r;
            if (p.type == kDataType)
                to->ex.onData(now, p.from, p.body, r);
            else
                to->ex.onAck(now, p.from, p.body, r);
            absorb(*to, r, p.type == kAckType);
        }
        for (Side *s : {&a, &b}) {
            ReliableExchange::Result r;
            s->ex.onTick(now, r);
            absorb(*s, r);
        }
        return true;
    }

    // Runs until nothing is pending anywhere (bounded).
    bool runToIdle(int maxSteps = 2'000'000)
    {
        for (int i = 0; i < maxSteps; ++i) {
            if (!step())
                return true;
        }
        return false;
    }

    Side a, b;
    Time now{0};
    quint64 datagrams = 0;

private:
    struct Packet {
        NodeAddr from, to;
        quint8 type;
        QByteArray body;
    };
    QRandomGenerator m_rng;
    double m_loss, m_duplicate;
    std::multimap<Time, Packet> m_inFlight;
};

// Sends one reliable transfer A -> B and runs until everything settles. Returns an empty
// string when the outcome is consistent, else what went wrong. *completedOut tells which.
QString runTransfer(quint32 seed, double loss, int size, const Timers &timers, bool *completedOut)
{
    const QString tag = QStringLiteral("seed %1, loss %2, size %3: ").arg(seed).arg(loss).arg(size);
    Simulation sim(seed, loss, timers);
    const QByteArray payload = payloadOf(size, seed);
    ReliableExchange::Result r;
    const quint64 id = sim.a.ex.send(sim.now, kB, 7, payload, true, r);
    if (id == 0)
        return tag + "send refused";
    sim.absorb(sim.a, r);
    if (!sim.runToIdle())
        return tag + "did not settle";
    const bool completed = sim.a.completed == std::vector<quint64>{id};
    const bool failed = sim.a.failed == std::vector<quint64>{id};
    *completedOut = completed;
    if (completed == failed)
        return tag + QStringLiteral("expected exactly one outcome, completed %1 failed %2")
                         .arg(sim.a.completed.size()).arg(sim.a.failed.size());
    if (sim.b.delivered.size() > 1)
        return tag + QStringLiteral("delivered %1 times").arg(sim.b.delivered.size());
    if (completed && sim.b.delivered.size() != 1)
        return tag + "reported completed but never delivered";
    if (!sim.b.delivered.empty()) {
        const auto &d = sim.b.delivered.front();
        if (d.from != kA || d.channel != 7 || d.payload != payload)
            return tag + "delivered bytes differ";
    }
    if (sim.a.malformed || sim.b.malformed)
        return tag + "a well-formed body was flagged malformed";
    if (sim.a.ex.nextDeadline() != Time::max() || sim.b.ex.nextDeadline() != Time::max())
        return tag + "state left behind after settling";
    return {};
}

} // namespace

class TestReliable : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void transferCompletes_data();
    void transferCompletes();
    void heavyLossCompletesOrFailsCleanly_data();
    void heavyLossCompletesOrFailsCleanly();
    void sendWindowLimitsBurst();
    void unreliableIsOneDatagramNoAck();
    void refusedSends_data();
    void refusedSends();
    void silentPeerFailsAfterMaxRetransmits();
    void forgetPeerFailsPendingAndDropsReceptions();
    void duplicatesReackedNotRedelivered();
    void garbageBodiesFlaggedMalformed_data();
    void garbageBodiesFlaggedMalformed();
    void inconsistentChunksFlaggedMalformed();
    void randomBodiesNeverCrash();
    void receptionsBoundedAndExpire();
    void maximumChunkCountReassembled();
    void announcedChunksCostNothingBeforeArrival();
};

void TestReliable::transferCompletes_data()
{
    QTest::addColumn<int>("size");
    QTest::addColumn<double>("loss");
    QTest::addColumn<int>("seeds");
    const struct {
        const char *name;
        int size;
    } sizes[] = {{"empty payload", 0},
                 {"1 byte", 1},
                 {"exactly one chunk", int(kChunk)},
                 {"many chunks", int(kChunk) * 10 + 17},
                 {"1 MiB", int(kMaxOobPayload)}};
    for (const auto &s : sizes) {
        QTest::addRow("%s, no loss", s.name) << s.size << 0.0 << 3;
        QTest::addRow("%s, 5%% loss, 50 seeds", s.name) << s.size << 0.05 << 50;
    }
}

void TestReliable::transferCompletes()
{
    QFETCH(int, size);
    QFETCH(double, loss);
    QFETCH(int, seeds);
    for (int seed = 1; seed <= seeds; ++seed) {
        bool completed = false;
        const QString err = runTransfer(quint32(seed), loss, size, Timers{}, &completed);
        QVERIFY2(err.isEmpty(), qPrintable(err));
        QVERIFY2(completed, qPrintable(QStringLiteral("seed %1: transfer failed").arg(seed)));
    }
}

void TestReliable::heavyLossCompletesOrFailsCleanly_data()
{
    QTest::addColumn<int>("maxRetransmits");
    QTest::addColumn<bool>("mustComplete");
    // With 8 retries a chunk fails with probability (1 - 0.8 * 0.8)^9 ~ 1e-4, so a 783-chunk
    // transfer may fail: the outcome must then be reported as it happened. With 20 it may not.
    QTest::newRow("default 8 retries: completes or fails cleanly") << 8 << false;
    QTest::newRow("20 retries: completes") << 20 << true;
}

void TestReliable::heavyLossCompletesOrFailsCleanly()
{
    QFETCH(int, maxRetransmits);
    QFETCH(bool, mustComplete);
    Timers timers;
    timers.maxRetransmits = maxRetransmits;
    int completedCount = 0;
    constexpr int kSeeds = 20;
    for (int seed = 1; seed <= kSeeds; ++seed) {
        bool completed = false;
        const QString err = runTransfer(quint32(1000 + seed), 0.20, int(kMaxOobPayload), timers, &completed);
        QVERIFY2(err.isEmpty(), qPrintable(err));
        QVERIFY2(completed || !mustComplete, qPrintable(QStringLiteral("seed %1 failed").arg(1000 + seed)));
        completedCount += completed;
    }
    qInfo("%d of %d 1 MiB transfers completed at 20%% loss", completedCount, kSeeds);
    QVERIFY(completedCount > 0);
}

void TestReliable::sendWindowLimitsBurst()
{
    Simulation sim(1, 0.0, Timers{}, 0.0);
    ReliableExchange::Result r;
    sim.a.ex.send(sim.now, kB, 1, payloadOf(int(kMaxOobPayload), 1), true, r);
    QCOMPARE(r.send.size(), std::size_t(32));
    sim.absorb(sim.a, r);
    QVERIFY(sim.runToIdle());
    QCOMPARE(sim.a.completed.size(), std::size_t(1));
    QCOMPARE(sim.a.maxSendPerAck, std::size_t(1)); // each ack releases at most one new chunk
    QCOMPARE(sim.a.retransmits, quint64(0));       // the window keeps RTT well under the timeout
}

void TestReliable::unreliableIsOneDatagramNoAck()
{
    ReliableExchange a(Timers{}, kChunk, kDataType, kAckType);
    ReliableExchange b(Timers{}, kChunk, kDataType, kAckType);
    ReliableExchange::Result ra;
    const quint64 id = a.send(Time(0), kB, 3, "ping", false, ra);
    QVERIFY(id != 0);
    QCOMPARE(ra.send.size(), std::size_t(1));
    QCOMPARE(ra.send[0].to, kB);
    QCOMPARE(ra.send[0].type, kDataType);
    QCOMPARE(a.nextDeadline(), Time::max()); // nothing to retransmit
    ReliableExchange::Result rb;
    b.onData(Time(0), kA, ra.send[0].body, rb);
    QCOMPARE(rb.delivered.size(), std::size_t(1));
    QCOMPARE(rb.delivered[0].payload, QByteArray("ping"));
    QCOMPARE(rb.delivered[0].channel, quint8(3));
    QVERIFY(rb.send.empty()); // no ack
    QCOMPARE(b.nextDeadline(), Time::max());
    ReliableExchange::Result empty;
    QVERIFY(a.send(Time(0), kB, 3, QByteArray(), false, empty) != 0);
    QCOMPARE(empty.send.size(), std::size_t(1));
}

void TestReliable::refusedSends_data()
{
    QTest::addColumn<int>("size");
    QTest::addColumn<bool>("reliable");
    QTest::newRow("unreliable larger than one chunk") << int(kChunk) + 1 << false;
    QTest::newRow("reliable above 1 MiB") << int(kMaxOobPayload) + 1 << true;
}

void TestReliable::refusedSends()
{
    QFETCH(int, size);
    QFETCH(bool, reliable);
    ReliableExchange a(Timers{}, kChunk, kDataType, kAckType);
    ReliableExchange::Result r;
    QCOMPARE(a.send(Time(0), kB, 1, QByteArray(size, 'x'), reliable, r), quint64(0));
    QVERIFY(r.send.empty());
    QCOMPARE(a.nextDeadline(), Time::max());
}

void TestReliable::silentPeerFailsAfterMaxRetransmits()
{
    Timers timers;
    ReliableExchange a(timers, kChunk, kDataType, kAckType);
    ReliableExchange::Result r;
    const quint64 id = a.send(Time(0), kNobody, 1, payloadOf(int(kChunk) * 3, 5), true, r);
    std::map<quint16, int> sentPerChunk;
    std::map<quint16, QByteArray> firstBody; // every retransmission repeats it byte for byte
    for (const auto &o : r.send) {
        ++sentPerChunk[chunkIndexOf(o.body)];
        firstBody[chunkIndexOf(o.body)] = o.body;
    }
    QCOMPARE(a.nextDeadline(), timers.retransmit);
    std::vector<quint64> failed;
    quint64 retransmits = 0;
    Time failedAt{0};
    Time expectedTimeout = timers.retransmit;
    for (int step = 0; step < 100 && failed.empty(); ++step) {
        const Time deadline = a.nextDeadline();
        QCOMPARE(deadline - failedAt, expectedTimeout); // doubling: 20, 40, 80 ... ms
        ReliableExchange::Result early;
        a.onTick(deadline - Time(1), early); // just before: nothing happens
        QVERIFY(early.send.empty() && early.failed.empty());
        ReliableExchange::Result t;
        a.onTick(deadline, t);
        for (const auto &o : t.send) {
            ++sentPerChunk[chunkIndexOf(o.body)];
            QCOMPARE(o.body, firstBody[chunkIndexOf(o.body)]);
        }
        retransmits += t.retransmits;
        failed = t.failed;
        failedAt = deadline;
        expectedTimeout *= 2;
    }
    QCOMPARE(failed, std::vector<quint64>{id});
    QCOMPARE(sentPerChunk.size(), std::size_t(3));
    for (const auto &[index, count] : sentPerChunk)
        QCOMPARE(count, 1 + timers.maxRetransmits);
    QCOMPARE(retransmits, quint64(3 * timers.maxRetransmits));
    // 20 ms * (2^9 - 1): the sum of the timeouts of one first transmission and 8 retries.
    QCOMPARE(failedAt, timers.retransmit * ((1 << (timers.maxRetransmits + 1)) - 1));
    QCOMPARE(a.nextDeadline(), Time::max());
    ReliableExchange::Result late;
    a.onAck(failedAt, kNobody, ackBody(id, 0), late); // a late ack changes nothing
    QVERIFY(late.completed.empty() && late.failed.empty() && !late.malformed);
}

void TestReliable::forgetPeerFailsPendingAndDropsReceptions()
{
    ReliableExchange a(Timers{}, kChunk, kDataType, kAckType);
    ReliableExchange::Result r;
    const quint64 toB1 = a.send(Time(0), kB, 1, "one", true, r);
    const quint64 toB2 = a.send(Time(0), kB, 1, payloadOf(5000, 2), true, r);
    const quint64 toOther = a.send(Time(0), kNobody, 1, "other", true, r);
    ReliableExchange::Result f;
    a.forgetPeer(kB, f);
    std::sort(f.failed.begin(), f.failed.end());
    QCOMPARE(f.failed, (std::vector<quint64>{toB1, toB2}));
    QVERIFY(a.nextDeadline() != Time::max()); // the transfer to another peer is still pending
    a.forgetPeer(kNobody, f);
    QCOMPARE(f.failed.back(), toOther);
    QCOMPARE(a.nextDeadline(), Time::max());

    // Receiver side: a partial reception from the forgotten peer is dropped.
    ReliableExchange b(Timers{}, kChunk, kDataType, kAckType);
    ReliableExchange::Result rb;
    b.onData(Time(0), kA, dataBody(9, 1, 1, 0, 2, 4, "ab"), rb);
    QVERIFY(b.nextDeadline() != Time::max());
    b.forgetPeer(kA, rb);
    QCOMPARE(b.nextDeadline(), Time::max());
    b.onData(Time(1), kA, dataBody(9, 1, 1, 1, 2, 4, "cd"), rb);
    QVERIFY(rb.delivered.empty()); // chunk 0 went with the forgotten reception

    // ... and so is the memory of its completed ids: a restarted peer numbers from 1 again.
    ReliableExchange c(Timers{}, kChunk, kDataType, kAckType);
    ReliableExchange::Result rc;
    c.onData(Time(0), kA, dataBody(1, 1, 1, 0, 1, 3, "old"), rc);
    c.onData(Time(0), kA, dataBody(1, 1, 1, 0, 1, 3, "old"), rc);
    QCOMPARE(rc.delivered.size(), std::size_t(1));
    c.forgetPeer(kA, rc);
    c.onData(Time(0), kA, dataBody(1, 1, 1, 0, 1, 3, "new"), rc);
    QCOMPARE(rc.delivered.size(), std::size_t(2));
    QCOMPARE(rc.delivered[1].payload, QByteArray("new"));
}

void TestReliable::duplicatesReackedNotRedelivered()
{
    ReliableExchange b(Timers{}, kChunk, kDataType, kAckType);
    const QByteArray c0 = dataBody(4, 2, 1, 0, 2, 6, "abc");
    const QByteArray c1 = dataBody(4, 2, 1, 1, 2, 6, "def");
    ReliableExchange::Result r;
    b.onData(Time(0), kA, c1, r); // out of order
    b.onData(Time(1), kA, c1, r); // duplicate before completion
    QVERIFY(r.delivered.empty());
    QCOMPARE(r.send.size(), std::size_t(2)); // both acked
    b.onData(Time(2), kA, c0, r);
    QCOMPARE(r.delivered.size(), std::size_t(1));
    QCOMPARE(r.delivered[0].payload, QByteArray("abcdef"));
    ReliableExchange::Result again;
    b.onData(Time(3), kA, c0, again); // our ack was lost; the sender retries
    b.onData(Time(3), kA, c1, again);
    QVERIFY(again.delivered.empty());
    QCOMPARE(again.send.size(), std::size_t(2));
    QCOMPARE(again.send[0].body, ackBody(4, 0));
    QCOMPARE(again.send[0].type, kAckType);
    QCOMPARE(again.send[0].to, kA);
    // The same id from another sender is another transfer.
    ReliableExchange::Result other;
    b.onData(Time(4), kNobody, dataBody(4, 2, 1, 0, 1, 1, "z"), other);
    QCOMPARE(other.delivered.size(), std::size_t(1));
}

void TestReliable::garbageBodiesFlaggedMalformed_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("isAck");
    QTest::addColumn<bool>("malformed");
    QTest::addColumn<int>("delivered");
    const QByteArray full = dataBody(1, 0, 1, 0, 1, 3, "abc");
    QTest::newRow("data: empty") << QByteArray() << false << true << 0;
    QTest::newRow("data: header cut at 17 bytes") << full.left(17) << false << true << 0;
    QTest::newRow("data: count 0") << dataBody(1, 0, 1, 0, 0, 3, "abc") << false << true << 0;
    QTest::newRow("data: index equals count") << dataBody(1, 0, 1, 2, 2, 3, "abc") << false << true << 0;
    QTest::newRow("data: totalLength above 1 MiB")
        << dataBody(1, 0, 1, 0, 2, quint32(kMaxOobPayload) + 1, "abc") << false << true << 0;
    QTest::newRow("data: more chunks than bytes") << dataBody(1, 0, 1, 0, 4, 3, "a") << false << true << 0;
    QTest::newRow("data: chunk longer than total") << dataBody(1, 0, 1, 0, 2, 3, "abcd") << false << true << 0;
    QTest::newRow("data: unreliable in two chunks") << dataBody(1, 0, 0, 0, 2, 6, "abc") << false << true << 0;
    QTest::newRow("data: unreliable shorter than total") << dataBody(1, 0, 0, 0, 1, 6, "abc") << false << true << 0;
    QTest::newRow("data: single reliable chunk shorter than total")
        << dataBody(1, 0, 1, 0, 1, 6, "abc") << false << true << 0;
    QTest::newRow("data: well-formed reliable") << full << false << false << 1;
    QTest::newRow("data: well-formed empty payload") << dataBody(1, 0, 1, 0, 1, 0, {}) << false << false << 1;
    QTest::newRow("ack: empty") << QByteArray() << true << true << 0;
    QTest::newRow("ack: 9 bytes") << ackBody(1, 0).left(9) << true << true << 0;
    QTest::newRow("ack: unknown transfer is a late ack, not garbage") << ackBody(77, 0) << true << false << 0;
    QTest::newRow("ack: chunk index beyond the transfer") << ackBody(1, 5) << true << true << 0;
}

void TestReliable::garbageBodiesFlaggedMalformed()
{
    QFETCH(QByteArray, body);
    QFETCH(bool, isAck);
    QFETCH(bool, malformed);
    QFETCH(int, delivered);
    ReliableExchange ex(Timers{}, kChunk, kDataType, kAckType);
    ReliableExchange::Result setup;
    QCOMPARE(ex.send(Time(0), kA, 0, "xyz", true, setup), quint64(1)); // transfer 1 to A, 1 chunk
    ReliableExchange::Result r;
    if (isAck)
        ex.onAck(Time(1), kA, body, r);
    else
        ex.onData(Time(1), kA, body, r);
    QCOMPARE(r.malformed, malformed);
    QCOMPARE(int(r.delivered.size()), delivered);
    QVERIFY(r.completed.empty() && r.failed.empty());
}

void TestReliable::inconsistentChunksFlaggedMalformed()
{
    ReliableExchange b(Timers{}, kChunk, kDataType, kAckType);
    ReliableExchange::Result r;
    b.onData(Time(0), kA, dataBody(3, 1, 1, 0, 2, 4, "ab"), r);
    QVERIFY(!r.malformed);
    ReliableExchange::Result r2;
    b.onData(Time(0), kA, dataBody(3, 1, 1, 1, 3, 4, "cd"), r2); // count changed
    QVERIFY(r2.malformed);
    ReliableExchange::Result r3;
    b.onData(Time(0), kA, dataBody(3, 9, 1, 1, 2, 4, "cd"), r3); // channel changed
    QVERIFY(r3.malformed);
    ReliableExchange::Result r4;
    b.onData(Time(0), kA, dataBody(3, 1, 1, 1, 2, 4, "c"), r4); // adds up to 3 of 4 bytes
    QVERIFY(r4.malformed);
    QVERIFY(r4.delivered.empty());
    QCOMPARE(b.nextDeadline(), Time::max()); // the broken reception is gone
}

void TestReliable::randomBodiesNeverCrash()
{
    constexpr quint32 kSeed = 20240601;
    QRandomGenerator rng(kSeed);
    ReliableExchange ex(Timers{}, kChunk, kDataType, kAckType);
    ReliableExchange::Result setup;
    ex.send(Time(0), kA, 0, payloadOf(5000, 1), true, setup);
    int malformed = 0;
    for (int i = 0; i < 20000; ++i) {
        QByteArray body(int(rng.bounded(40)), Qt::Uninitialized);
        for (auto &c : body)
            c = char(rng.bounded(256));
        if (i % 3 == 0 && body.size() >= 18) // plausible headers reach the deeper checks
            qToBigEndian<quint16>(quint16(rng.bounded(3)), body.data() + 12);
        ReliableExchange::Result r;
        const NodeAddr from = NodeAddr(rng.bounded(4));
        if (i % 2)
            ex.onAck(Time(i), from, body, r);
        else
            ex.onData(Time(i), from, body, r);
        malformed += r.malformed;
        for (const auto &d : r.delivered)
            QVERIFY2(std::size_t(d.payload.size()) <= kMaxOobPayload, qPrintable(QString("seed %1").arg(kSeed)));
    }
    QVERIFY2(malformed > 5000, qPrintable(QString("seed %1: %2 malformed").arg(kSeed).arg(malformed)));
    // Whatever state the garbage created expires or fails; nothing is left.
    for (int i = 0; i < 100 && ex.nextDeadline() != Time::max(); ++i) {
        ReliableExchange::Result tick;
        ex.onTick(ex.nextDeadline(), tick);
    }
    QCOMPARE(ex.nextDeadline(), Time::max());
}

void TestReliable::receptionsBoundedAndExpire()
{
    ReliableExchange b(Timers{}, kChunk, kDataType, kAckType);
    auto firstChunk = [&](Time now, NodeAddr from, quint64 id, quint32 total) {
        ReliableExchange::Result r;
        b.onData(now, from, dataBody(id, 0, 1, 0, 2, total, "x"), r);
        return r.send.size() == 1; // acknowledged = admitted
    };
    // Per peer: 8 partial receptions at once.
    for (quint64 id = 1; id <= 8; ++id)
        QVERIFY(firstChunk(Time(0), kA, id, 10));
    QVERIFY(!firstChunk(Time(0), kA, 9, 10));
    QVERIFY(firstChunk(Time(0), kB, 9, 10)); // another peer still has room
    // In bytes: 16 MiB of announced payloads in total.
    for (NodeAddr peer = 10; peer < 25; ++peer)
        QVERIFY(firstChunk(Time(0), peer, 1, quint32(kMaxOobPayload)));
    QVERIFY(!firstChunk(Time(0), 25, 1, quint32(kMaxOobPayload)));
    QVERIFY(firstChunk(Time(0), 25, 2, 10));
    // In count: 64 partial receptions in total.
    int admitted = 0;
    for (NodeAddr peer = 100; peer < 200; ++peer)
        admitted += firstChunk(Time(0), peer, 1, 10);
    QCOMPARE(admitted, 64 - 8 - 1 - 15 - 1);
    // Stale partial receptions expire after 10 s of silence; then there is room again.
    QCOMPARE(b.nextDeadline(), Time(10s));
    ReliableExchange::Result tick;
    b.onTick(Time(10s) - Time(1), tick);
    QVERIFY(!firstChunk(Time(10s) - Time(1), kA, 9, 10));
    b.onTick(Time(10s), tick);
    QCOMPARE(b.nextDeadline(), Time::max());
    QVERIFY(firstChunk(Time(10s), kA, 10, 10));
    QCOMPARE(b.nextDeadline(), Time(20s));
}

void TestReliable::maximumChunkCountReassembled()
{
    // 65,535 one-byte chunks (the most a transfer can have), in a seeded shuffled order with
    // every tenth one repeated: delivered once, in index order, when the last one arrives.
    constexpr quint32 kSeed = 7;
    constexpr int kCount = 65535;
    const QByteArray payload = payloadOf(kCount, kSeed);
    std::vector<int> order(kCount);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), QRandomGenerator(kSeed));
    ReliableExchange b(Timers{}, kChunk, kDataType, kAckType);
    int acks = 0;
    for (int i = 0; i < kCount; ++i) {
        const int index = order[std::size_t(i)];
        const QByteArray body = dataBody(5, 3, 1, quint16(index), quint16(kCount), quint32(kCount),
                                         payload.mid(index, 1));
        for (int copy = 0; copy < (i % 10 == 0 ? 2 : 1); ++copy) {
            ReliableExchange::Result r;
            b.onData(Time(i), kA, body, r);
            QVERIFY(!r.malformed);
            acks += int(r.send.size());
            if (i < kCount - 1) {
                QVERIFY2(r.delivered.empty(), qPrintable(QString("seed %1: delivered at %2").arg(kSeed).arg(i)));
            } else if (copy == 0) {
                QCOMPARE(r.delivered.size(), std::size_t(1));
                QCOMPARE(r.delivered[0].channel, quint8(3));
                QVERIFY2(r.delivered[0].payload == payload, qPrintable(QString("seed %1").arg(kSeed)));
            } else {
                QVERIFY(r.delivered.empty()); // a late copy of the last chunk: re-acked only
            }
        }
    }
    QCOMPARE(acks, kCount + (kCount + 9) / 10);
}

void TestReliable::announcedChunksCostNothingBeforeArrival()
{
    // 64 first chunks (the most partial receptions admitted), each announcing 65,535 chunks:
    // the receiver holds what arrived, not a slot per announced chunk (that was 1.5 MiB each,
    // ~96 MiB here, outside the 16 MiB bound on announced bytes).
    const qint64 before = residentBytes();
    if (before < 0)
        QSKIP("no /proc/self/statm");
    ReliableExchange b(Timers{}, kChunk, kDataType, kAckType);
    constexpr quint32 kTotal = 4 * 65535; // 64 of them stay within 16 MiB
    int admitted = 0;
    for (NodeAddr peer = 1; peer <= 8; ++peer) {
        for (quint64 id = 1; id <= 8; ++id) {
            ReliableExchange::Result r;
            b.onData(Time(0), peer, dataBody(id, 0, 1, 0, 65535, kTotal, "x"), r);
            QVERIFY(!r.malformed);
            admitted += int(r.send.size());
        }
    }
    QCOMPARE(admitted, 64);
    const qint64 grown = residentBytes() - before;
    QVERIFY2(grown < 8 * 1024 * 1024, qPrintable(QString("resident memory grew by %1 bytes").arg(grown)));
    QCOMPARE(b.nextDeadline(), Time(10s)); // they expire as usual
}

QTEST_GUILESS_MAIN(TestReliable)
#include "tst_reliable.moc"
