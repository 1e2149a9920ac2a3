// Packet I/O of the dispatcher (daemon/dispatcher): sources, sinks, the dispatcher thread, the
// VMAC announcement and privilege errors. Replays recorded traffic without privileges; as root,
// also runs on a private pair of namespaces (netnslab.h) that it creates and removes.

#include "dispatcher/afpacketsink.h"
#include "dispatcher/arpresponder.h"
#include "dispatcher/dispatcherthread.h"
#include "dispatcher/fastpathprocessor.h"
#include "dispatcher/injectionmethod.h"
#include "dispatcher/localdeliverysink.h"
#include "dispatcher/pcapinjectsink.h"
#include "dispatcher/pcapsource.h"
#include "dispatcher/privilege.h"
#include "dispatcher/vmacannouncer.h"
#include "netnslab.h"
#include "testframes.h"

#include <QTemporaryDir>
#include <QTest>

#include <sched.h>

#include <linux/capability.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <thread>

using namespace sasha;
using namespace sasha::testframes;
using Bytes = std::vector<std::uint8_t>;

Q_DECLARE_METATYPE(sasha::AfPacketSink::Mode)

namespace {

constexpr MacAddress kServerMac{0x02, 0x5e, 0x00, 0x00, 0x00, 0x07};
constexpr MacAddress kOtherMac{0x02, 0x99, 0x00, 0x00, 0x00, 0x09};

Bytes udpFrame(const MacAddress &dst, std::uint16_t sequence, std::uint32_t dstIp = kVip, std::uint16_t dstPort = 80,
               const MacAddress &src = kClientMac, std::uint32_t srcIp = kClientIp)
{
    FrameSpec s;
    s.dstMac = dst;
    s.srcMac = src;
    s.proto = kIpProtoUdp;
    s.srcIp = srcIp;
    s.dstIp = dstIp;
    s.srcPort = std::uint16_t(10000 + sequence);
    s.dstPort = dstPort;
    s.payload = 32;
    return buildFrame(s);
}

ArpSpec arpRequestFor(std::uint32_t target)
{
    ArpSpec s;
    s.tpa = target;
    return s;
}

// cutIndex: that frame is recorded as if the capture had cut it (len > caplen).
bool writeCapture(const QString &path, const std::vector<Bytes> &frames, std::size_t cutIndex = SIZE_MAX)
{
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *dumper = pcap_dump_open(dead, path.toLocal8Bit().constData());
    if (!dumper) {
        pcap_close(dead);
        return false;
    }
    for (std::size_t i = 0; i < frames.size(); ++i) {
        pcap_pkthdr h{};
        h.ts.tv_sec = 1700000000;
        h.ts.tv_usec = long(i);
        h.caplen = h.len = bpf_u_int32(frames[i].size());
        if (i == cutIndex)
            h.len += 100;
        pcap_dump(reinterpret_cast<u_char *>(dumper), &h, frames[i].data());
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
    return true;
}

struct RecordingReceiver final : FrameReceiver {
    std::vector<Bytes> frames;
    void onFrame(std::span<const std::uint8_t> f) noexcept override { frames.emplace_back(f.begin(), f.end()); }
};

// Records what it is given; fails every frame after `capacity` (to test error counting).
class RecordingSink final : public PacketSink {
public:
    explicit RecordingSink(std::size_t capacity = SIZE_MAX) : m_capacity(capacity) {}
    std::span<std::uint8_t> acquire() noexcept override { return m_buffer; }
    void commit(std::size_t length) noexcept override
    {
        if (frames.size() >= m_capacity) {
            ++m_pending.failed;
            return;
        }
        frames.emplace_back(m_buffer.begin(), m_buffer.begin() + long(length));
        ++m_pending.sent;
    }
    SinkResult flush() noexcept override { return std::exchange(m_pending, SinkResult{}); }
    std::string lastError() const override { return {}; }
    std::vector<Bytes> frames;

private:
    std::size_t m_capacity;
    SinkResult m_pending;
    std::array<std::uint8_t, kMaxFrameBytes> m_buffer{};
};

// The trivial L4/2 rewrite: destination MAC := the server's. Frames to UDP port 7 are "ours"
// (local delivery); frames to port 9 are dropped.
class MacRewriteProcessor final : public FrameProcessor {
public:
    explicit MacRewriteProcessor(const MacAddress &server) : m_server(server) {}
    FrameDisposition process(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                             std::chrono::microseconds) noexcept override
    {
        if (in.size() < 14 || in.size() > out.size())
            return {};
        std::copy(in.begin(), in.end(), out.begin());
        std::copy(m_server.begin(), m_server.end(), out.begin());
        const std::uint16_t port = in.size() >= 38 ? std::uint16_t(in[36] << 8 | in[37]) : 0;
        if (port == 9)
            return {};
        return {port == 7 ? FrameDisposition::Action::DeliverLocal : FrameDisposition::Action::Forward,
                std::uint32_t(in.size())};
    }
    void idle(std::chrono::microseconds) noexcept override { ++idleCalls; }
    std::atomic<int> idleCalls{0};

private:
    MacAddress m_server;
};

// Never has a frame: waits out the timeout, like an idle interface.
class IdleSource final : public PacketSource {
public:
    Batch receive(FrameReceiver &, int, std::chrono::milliseconds timeout) override
    {
        std::this_thread::sleep_for(timeout);
        return {};
    }
    SourceStats stats() override { return {7, 3}; }
    std::string lastError() const override { return {}; }
};

// Records on which CPUs the thread ran its idle() turns.
class CpuRecordingProcessor final : public FrameProcessor {
public:
    FrameDisposition process(std::span<const std::uint8_t>, std::span<std::uint8_t>, std::chrono::microseconds) noexcept override
    {
        return {};
    }
    void idle(std::chrono::microseconds) noexcept override
    {
        const int cpu = sched_getcpu();
        idleCalls.fetch_add(1);
        if (cpu >= 0 && cpu < 64)
            cpus.fetch_or(std::uint64_t(1) << cpu);
    }
    std::atomic<int> idleCalls{0};
    std::atomic<std::uint64_t> cpus{0}; // bit n: ran on CPU n
};

// Delivers scripted batch sizes, one per receive(), then ends like a recorded capture; records
// when each receive() began, for the batching tests.
class ScriptedSource final : public PacketSource {
public:
    explicit ScriptedSource(std::vector<int> batches) : m_batches(std::move(batches)) {}
    Batch receive(FrameReceiver &receiver, int maxFrames, std::chrono::milliseconds) override
    {
        calls.push_back(std::chrono::steady_clock::now());
        if (m_next == m_batches.size())
            return {Status::Exhausted, 0};
        const int n = std::min(m_batches[m_next++], maxFrames);
        for (int i = 0; i < n; ++i) {
            const Bytes frame = udpFrame(kVmac, std::uint16_t(i));
            receiver.onFrame(frame);
        }
        return {Status::Ok, n};
    }
    SourceStats stats() override { return {}; }
    std::string lastError() const override { return {}; }
    std::vector<std::chrono::steady_clock::time_point> calls; // the dispatcher thread's, read after it ended

private:
    std::vector<int> m_batches;
    std::size_t m_next = 0;
};

bool waitUntil(const std::function<bool()> &condition, int timeoutMs)
{
    for (int waited = 0; waited < timeoutMs; waited += 5) {
        if (condition())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return condition();
}

// Removes `capability` from the calling thread's effective set (capabilities are per thread).
bool dropEffectiveCapability(int capability)
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0)
        return false;
    data[capability / 32].effective &= ~(1u << (capability % 32));
    return ::syscall(SYS_capset, &header, data) == 0;
}

Bytes expectedAnnouncement(const MacAddress &vmac, std::uint32_t vip)
{
    Bytes f = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    f.insert(f.end(), vmac.begin(), vmac.end());
    const std::uint8_t vipBytes[4] = {std::uint8_t(vip >> 24), std::uint8_t(vip >> 16), std::uint8_t(vip >> 8),
                                      std::uint8_t(vip)};
    const std::uint8_t header[] = {0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
    f.insert(f.end(), std::begin(header), std::end(header));
    f.insert(f.end(), vmac.begin(), vmac.end());
    f.insert(f.end(), std::begin(vipBytes), std::end(vipBytes));
    f.insert(f.end(), 6, 0);
    f.insert(f.end(), std::begin(vipBytes), std::end(vipBytes));
    return f;
}

QByteArray hex(const Bytes &b)
{
    return QByteArray(reinterpret_cast<const char *>(b.data()), qsizetype(b.size())).toHex(' ');
}

} // namespace

class TestPacketIo : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void fileSourceReplay_data();
    void fileSourceReplay();
    void fileSourceRejectsBadInput();
    void cutFramesAreDroppedAndCounted();
    void dispatcherThreadReplay();
    void arpThroughTheThread_data();
    void arpThroughTheThread();
    void questionIsAnsweredWithWhoDispatches();
    void fastPathThroughTheThread_data();
    void fastPathThroughTheThread();
    void dispatcherThreadCountsSinkFailures();
    void dispatcherThreadStopsPromptly();
    void dispatcherThreadEndsOnRequest();
    void dispatcherThreadPinnedToCpu_data();
    void dispatcherThreadPinnedToCpu();
    void dispatcherThreadBatchWait_data();
    void dispatcherThreadBatchWait();
    void localDeliverySinkAddressesLo();
    void vmacAnnouncementBytes();
    void vmacAnnouncedForEveryVip();
    void vmacAnnouncementSchedule();
    void privilegeErrorsNameTheCapability();
    void injectionMethodNames_data();
    void injectionMethodNames();
    void liveCaptureAndInject_data();
    void liveCaptureAndInject();
    void localDelivery_data();
    void localDelivery();

private:
    QTemporaryDir m_dir;
};

void TestPacketIo::fileSourceReplay_data()
{
    QTest::addColumn<QString>("filter");
    QTest::addColumn<int>("batch");
    QTest::addColumn<QList<int>>("expected"); // indexes into the recorded frames

    // Recorded: 0,1,2 to the VMAC; 3 to another MAC; 4 the ARP announcement; 5 to the VMAC;
    // 6 a router's broadcast ARP request for the VIP; 7 one for another address.
    const std::string vmac = vmacFilter(kVmac);
    QTest::newRow("no filter, every frame in order") << QString() << 64 << QList<int>{0, 1, 2, 3, 4, 5, 6, 7};
    QTest::newRow("VMAC filter keeps only frames to the VMAC") << QString::fromStdString(vmac) << 64
                                                              << QList<int>{0, 1, 2, 5};
    QTest::newRow("VMAC filter, batches of one") << QString::fromStdString(vmac) << 1 << QList<int>{0, 1, 2, 5};
    QTest::newRow("VMAC filter, batches of two") << QString::fromStdString(vmac) << 2 << QList<int>{0, 1, 2, 5};
    QTest::newRow("filter matching nothing") << QStringLiteral("ether dst 02:00:00:00:00:42") << 64 << QList<int>{};
    QTest::newRow("dispatcher filter: frames to the VMAC, VMAC announcements, ARP requests for the VIP")
        << QString::fromStdString(dispatcherFilter(kVmac, kVip)) << 64 << QList<int>{0, 1, 2, 4, 5, 6};
    // The announcement is a request for the VIP too (a gratuitous one): the thread ignores it.
    QTest::newRow("VIP ARP request filter: the router's request and the announcement")
        << QString::fromStdString(vipArpRequestFilter(kVip)) << 64 << QList<int>{4, 6};
    QTest::newRow("announcement filter (an idle node): only the VMAC announcement")
        << QString::fromStdString(vmacAnnouncementFilter(kVmac)) << 64 << QList<int>{4};
}

void TestPacketIo::fileSourceReplay()
{
    QFETCH(QString, filter);
    QFETCH(int, batch);
    QFETCH(QList<int>, expected);

    std::string error;
    const std::vector<Bytes> recorded = {udpFrame(kVmac, 0), udpFrame(kVmac, 1), udpFrame(kVmac, 2),
                                         udpFrame(kOtherMac, 3), VmacAnnouncer::buildGratuitousArp(kVmac, kVip, error),
                                         udpFrame(kVmac, 5), buildArpFrame(ArpSpec{}),
                                         buildArpFrame(arpRequestFor(kClientIp))};
    const QString path = m_dir.filePath(QStringLiteral("replay.pcap"));
    QVERIFY(writeCapture(path, recorded));
    auto source = PcapFileSource::open(path.toStdString(), filter.toStdString(), error);
    QVERIFY2(source, error.c_str());

    RecordingReceiver receiver;
    int batches = 0;
    PacketSource::Batch b;
    do {
        b = source->receive(receiver, batch, std::chrono::milliseconds(10));
        QVERIFY(b.frames <= batch);
        QVERIFY(b.status != PacketSource::Status::Failed);
    } while (b.status == PacketSource::Status::Ok && ++batches < 100);
    QCOMPARE(b.status, PacketSource::Status::Exhausted);

    QCOMPARE(receiver.frames.size(), std::size_t(expected.size()));
    for (int i = 0; i < expected.size(); ++i)
        QCOMPARE(hex(receiver.frames[std::size_t(i)]), hex(recorded[std::size_t(expected[i])]));
}

void TestPacketIo::fileSourceRejectsBadInput()
{
    std::string error;
    QVERIFY(!PcapFileSource::open(m_dir.filePath(QStringLiteral("missing.pcap")).toStdString(), {}, error));
    QVERIFY2(error.find("missing.pcap") != std::string::npos, error.c_str());

    const QString path = m_dir.filePath(QStringLiteral("one.pcap"));
    QVERIFY(writeCapture(path, {udpFrame(kVmac, 0)}));
    error.clear();
    QVERIFY(!PcapFileSource::open(path.toStdString(), "ether dst nonsense", error));
    QVERIFY2(error.find("bad capture filter") != std::string::npos, error.c_str());

    QFile garbage(m_dir.filePath(QStringLiteral("garbage.pcap")));
    QVERIFY(garbage.open(QIODevice::WriteOnly));
    garbage.write("this is not a capture file");
    garbage.close();
    error.clear();
    QVERIFY(!PcapFileSource::open(garbage.fileName().toStdString(), {}, error));
    QVERIFY(!error.empty());
}

void TestPacketIo::cutFramesAreDroppedAndCounted()
{
    // A frame longer than the snapshot length reaches us cut short; forwarding it would send a
    // frame whose IP length lies. It is dropped and counted as oversized.
    const std::vector<Bytes> recorded = {udpFrame(kVmac, 0), udpFrame(kVmac, 1), udpFrame(kVmac, 2)};
    const QString path = m_dir.filePath(QStringLiteral("cut.pcap"));
    QVERIFY(writeCapture(path, recorded, 1));
    std::string error;
    auto source = PcapFileSource::open(path.toStdString(), {}, error);
    QVERIFY2(source, error.c_str());
    MacRewriteProcessor processor(kServerMac);
    RecordingSink network;
    DispatcherThread thread(*source, processor, network, nullptr, nullptr, nullptr);
    thread.start();
    QVERIFY(waitUntil([&] { return thread.finished(); }, 5000));
    thread.stop();
    QCOMPARE(read(thread.counters().captured), std::uint64_t(2));
    QCOMPARE(read(thread.counters().oversized), std::uint64_t(1));
    QCOMPARE(network.frames.size(), std::size_t(2));
    QCOMPARE(hex(network.frames[1]), hex(withMacs(recorded[2], kServerMac, kClientMac)));
}

void TestPacketIo::dispatcherThreadReplay()
{
    // 5 forwarded, 2 delivered locally (UDP port 7), 1 dropped (port 9), 2 not for the VMAC.
    std::vector<Bytes> recorded;
    for (std::uint16_t i = 0; i < 5; ++i)
        recorded.push_back(udpFrame(kVmac, i));
    recorded.push_back(udpFrame(kVmac, 5, kVip, 7));
    recorded.push_back(udpFrame(kOtherMac, 6));
    recorded.push_back(udpFrame(kVmac, 7, kVip, 9));
    recorded.push_back(udpFrame(kVmac, 8, kVip, 7));
    recorded.push_back(udpFrame(kOtherMac, 9));
    const QString path = m_dir.filePath(QStringLiteral("dispatch.pcap"));
    QVERIFY(writeCapture(path, recorded));

    std::string error;
    auto source = PcapFileSource::open(path.toStdString(), vmacFilter(kVmac), error);
    QVERIFY2(source, error.c_str());
    MacRewriteProcessor processor(kServerMac);
    RecordingSink network, local;
    VmacAnnouncer announcer(kVmac, kVip, std::chrono::seconds(1));
    QVERIFY2(announcer.valid(), announcer.error().c_str());
    DispatcherThreadConfig config;
    config.batchFrames = 3;
    DispatcherThread thread(*source, processor, network, &local, &announcer, nullptr, config);
    thread.start();
    QVERIFY(waitUntil([&] { return thread.finished(); }, 5000));
    thread.stop();
    QCOMPARE(thread.error(), std::string("the capture ended"));

    const auto &c = thread.counters();
    QCOMPARE(read(c.captured), std::uint64_t(8));
    QCOMPARE(read(c.injected), std::uint64_t(6)); // 5 frames + the announcement
    QCOMPARE(read(c.deliveredLocal), std::uint64_t(2));
    QCOMPARE(read(c.dropped), std::uint64_t(1));
    QCOMPARE(read(c.injectErrors), std::uint64_t(0));
    QCOMPARE(read(c.localErrors), std::uint64_t(0));
    QCOMPARE(read(c.announcements), std::uint64_t(1));
    QCOMPARE(read(c.batches), std::uint64_t(3)); // 8 frames in batches of 3
    QVERIFY(processor.idleCalls.load() >= 3);

    QCOMPARE(network.frames.size(), std::size_t(6));
    QCOMPARE(hex(network.frames[0]), hex(announcer.frame())); // announced before the first frame
    for (std::uint16_t i = 0; i < 5; ++i)
        QCOMPARE(hex(network.frames[1 + i]), hex(withMacs(recorded[i], kServerMac, kClientMac)));
    QCOMPARE(local.frames.size(), std::size_t(2));
    QCOMPARE(hex(local.frames[0]), hex(withMacs(recorded[5], kServerMac, kClientMac)));
    QCOMPARE(hex(local.frames[1]), hex(withMacs(recorded[8], kServerMac, kClientMac)));
}

void TestPacketIo::arpThroughTheThread_data()
{
    QTest::addColumn<bool>("announcing");
    QTest::newRow("announcing: the router's requests answered with the VMAC") << true;
    QTest::newRow("not announcing (a successor waiting, a dispatcher handing over): silent") << false;
}

void TestPacketIo::arpThroughTheThread()
{
    // Through the dispatching capture's filter: a router's broadcast request for the VIP, its
    // unicast re-check to the VMAC, another dispatcher's announcement, a request for another
    // address (filtered out), a malformed request to the VMAC, and one data frame.
    QFETCH(bool, announcing);
    ArpSpec recheck;
    recheck.ethDst = kVmac;
    ArpSpec broken;
    broken.ethDst = kVmac;
    broken.hlen = 8;
    std::string error;
    const std::vector<Bytes> recorded = {
        buildArpFrame(ArpSpec{}),
        buildArpFrame(recheck),
        VmacAnnouncer::buildGratuitousArp(kVmac, kVip, error, {10, 0, 0, 9, 0, 3}),
        buildArpFrame(arpRequestFor(kClientIp)),
        buildArpFrame(broken),
        udpFrame(kVmac, 1),
    };
    const QString path = m_dir.filePath(QStringLiteral("arp.pcap"));
    QVERIFY(writeCapture(path, recorded));
    auto source = PcapFileSource::open(path.toStdString(), dispatcherFilter(kVmac, kVip), error);
    QVERIFY2(source, error.c_str());
    MacRewriteProcessor processor(kServerMac);
    RecordingSink network;
    ArpResponder arp(kVmac, kVip);
    QVERIFY2(arp.valid(), arp.error().c_str());
    DispatcherThread thread(*source, processor, network, nullptr, nullptr, &arp);
    thread.setAnnouncing(announcing);
    thread.start();
    QVERIFY(waitUntil([&] { return thread.finished(); }, 5000));
    thread.stop();

    const auto &c = thread.counters();
    QCOMPARE(read(c.captured), std::uint64_t(5)); // the request for another address is filtered out
    QCOMPARE(read(c.arpAnswered), std::uint64_t(announcing ? 2 : 0));
    QCOMPARE(read(c.arpIgnored), std::uint64_t(announcing ? 1 : 3)); // the announcement (+ the 2 requests)
    QCOMPARE(read(c.arpMalformed), std::uint64_t(1));
    ArpSpec reply;
    reply.ethDst = kRouterMac;
    reply.ethSrc = kVmac;
    reply.op = 2;
    reply.sha = kVmac;
    reply.spa = kVip;
    reply.tha = kRouterMac;
    reply.tpa = kRouterIp;
    reply.padTo = 0;
    std::vector<Bytes> expected;
    if (announcing)
        expected = {buildArpFrame(reply), buildArpFrame(reply)};
    // MacRewriteProcessor forwards whatever reaches it; ARP it is handed (not answered) goes out
    // rewritten too, which shows exactly which frames the thread passed on.
    for (std::size_t i : announcing ? std::vector<std::size_t>{2, 4, 5} : std::vector<std::size_t>{0, 1, 2, 4, 5}) {
        Bytes f = recorded[i];
        std::copy(kServerMac.begin(), kServerMac.end(), f.begin());
        expected.push_back(f);
    }
    QCOMPARE(network.frames.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i)
        QCOMPARE(hex(network.frames[i]), hex(expected[i]));
}

// A node whose ring broke asks for the VIP (DispatcherService::ask, an RFC 5227 probe); a live
// dispatcher's answer says who it is after the reply (60 bytes), and a router's question (sender
// address set) is answered with the plain 42-byte reply. Silent while not announcing.
void TestPacketIo::questionIsAnsweredWithWhoDispatches()
{
    const MacAddress asker{0x02, 0x00, 0x0a, 0x4d, 0x00, 0x03};
    const MacAddress who{10, 0, 0, 1, 0x80, 5};
    std::string error;
    const Bytes question = ArpResponder::buildQuestion(asker, kVip, error);
    QVERIFY2(!question.empty(), error.c_str());
    const QString path = m_dir.filePath(QStringLiteral("question.pcap"));
    QVERIFY(writeCapture(path, {question, buildArpFrame(ArpSpec{})}));
    for (const bool announcing : {true, false}) {
        auto source = PcapFileSource::open(path.toStdString(), dispatcherFilter(kVmac, kVip), error);
        QVERIFY2(source, error.c_str());
        MacRewriteProcessor processor(kServerMac);
        RecordingSink network;
        ArpResponder arp(kVmac, kVip);
        VmacAnnouncer announcer(kVmac, kVip, std::chrono::seconds(60), who);
        QVERIFY(announcer.valid());
        DispatcherThread thread(*source, processor, network, nullptr, &announcer, &arp);
        thread.setAnnouncing(announcing);
        thread.start();
        QVERIFY(waitUntil([&] { return thread.finished(); }, 5000));
        thread.stop();
        QCOMPARE(read(thread.counters().arpAnswered), std::uint64_t(announcing ? 2 : 0));
        if (!announcing) {
            QCOMPARE(network.frames.size(), std::size_t(2)); // both handed on, none answered
            for (const Bytes &f : network.frames)
                QVERIFY(!VmacAnnouncer::answererOf(f, kVmac));
            continue;
        }
        ArpSpec reply;
        reply.ethDst = asker;
        reply.ethSrc = kVmac;
        reply.op = 2;
        reply.sha = kVmac;
        reply.spa = kVip;
        reply.tha = asker;
        reply.tpa = 0;
        reply.padTo = 0;
        Bytes answered = buildArpFrame(reply);
        answered.insert(answered.end(), {'S', 'S', 'H', 'A'});
        answered.insert(answered.end(), who.begin(), who.end());
        answered.resize(60, 0);
        ArpSpec routerReply = reply;
        routerReply.ethDst = kRouterMac;
        routerReply.tha = kRouterMac;
        routerReply.tpa = kRouterIp;
        const std::vector<Bytes> expected = {VmacAnnouncer::buildGratuitousArp(kVmac, kVip, error, who), answered,
                                             buildArpFrame(routerReply)};
        QCOMPARE(network.frames.size(), expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i)
            QCOMPARE(hex(network.frames[i]), hex(expected[i]));
        QCOMPARE(*VmacAnnouncer::answererOf(network.frames[1], kVmac), who);
        QVERIFY(!VmacAnnouncer::answererOf(network.frames[2], kVmac)); // a router's reply says nothing more
        QVERIFY(!VmacAnnouncer::answererOf(network.frames[0], kVmac)); // an announcement is not an answer
        QVERIFY(!VmacAnnouncer::announcerOf(network.frames[1], kVmac)); // nor an answer an announcement
        QVERIFY(!VmacAnnouncer::answererOf(network.frames[1], MacAddress{0x02, 0x5a, 0x5a, 0, 0, 9})); // another VMAC
    }
}

void TestPacketIo::fastPathThroughTheThread_data()
{
    QTest::addColumn<bool>("selfOnly");
    QTest::addColumn<bool>("toVip");
    QTest::addColumn<QString>("expected"); // network, local or dropped
    QTest::newRow("remote server: forwarded with its MAC") << false << true << QStringLiteral("network");
    QTest::newRow("this node alone: delivered locally") << true << true << QStringLiteral("local");
    QTest::newRow("not for the VIP: dropped") << false << false << QStringLiteral("dropped");
}

void TestPacketIo::fastPathThroughTheThread()
{
    // The real FastPath behind FastPathProcessor, fed by a recorded capture: its verdicts reach
    // the right sink, and its rewrite is what leaves.
    QFETCH(bool, selfOnly);
    QFETCH(bool, toVip);
    QFETCH(QString, expected);
    ServerTableHandoff tables;
    FastPath fastPath(FastPathConfig{}, tables);
    ServerInfo server;
    server.id = 7;
    server.slot = 0;
    server.mac = kServerMac;
    server.isSelf = selfOnly;
    DispatchPolicy policy;
    policy.vip = kVip;
    policy.dispatcherMac = kDispatcherMac;
    QVERIFY(tables.publish(ServerTable::build({server}, policy, 1)));

    FrameSpec syn; // TCP SYN from the client to the VIP
    syn.dstIp = toVip ? kVip : ip4(10, 0, 0, 99);
    const Bytes frame = buildFrame(syn);
    const QString path = m_dir.filePath(QStringLiteral("fastpath.pcap"));
    QVERIFY(writeCapture(path, {frame}));
    std::string error;
    auto source = PcapFileSource::open(path.toStdString(), vmacFilter(kVmac), error);
    QVERIFY2(source, error.c_str());
    FastPathProcessor processor(fastPath);
    RecordingSink network, local;
    DispatcherThread thread(*source, processor, network, &local, nullptr, nullptr);
    thread.start();
    QVERIFY(waitUntil([&] { return thread.finished(); }, 5000));
    thread.stop();

    QCOMPARE(read(thread.counters().captured), std::uint64_t(1));
    QCOMPARE(network.frames.size(), std::size_t(expected == QLatin1String("network")));
    QCOMPARE(local.frames.size(), std::size_t(expected == QLatin1String("local")));
    QCOMPARE(read(thread.counters().dropped), std::uint64_t(expected == QLatin1String("dropped")));
    const Bytes rewritten = withMacs(frame, kServerMac, kDispatcherMac);
    if (!network.frames.empty())
        QCOMPARE(hex(network.frames[0]), hex(rewritten));
    if (!local.frames.empty())
        QCOMPARE(hex(local.frames[0]), hex(rewritten)); // LocalDeliverySink would zero the MAC
    QCOMPARE(read(fastPath.counters().framesIn), std::uint64_t(1));
}

void TestPacketIo::dispatcherThreadCountsSinkFailures()
{
    std::vector<Bytes> recorded;
    for (std::uint16_t i = 0; i < 6; ++i)
        recorded.push_back(udpFrame(kVmac, i, kVip, i % 2 ? 7 : 80)); // 3 forward, 3 local
    const QString path = m_dir.filePath(QStringLiteral("failures.pcap"));
    QVERIFY(writeCapture(path, recorded));
    std::string error;
    auto source = PcapFileSource::open(path.toStdString(), {}, error);
    QVERIFY2(source, error.c_str());
    MacRewriteProcessor processor(kServerMac);
    RecordingSink network(2); // takes two, fails the rest
    // No local sink: local frames are counted as errors, not lost silently.
    DispatcherThread thread(*source, processor, network, nullptr, nullptr, nullptr);
    thread.start();
    QVERIFY(waitUntil([&] { return thread.finished(); }, 5000));
    thread.stop();
    QCOMPARE(read(thread.counters().injected), std::uint64_t(2));
    QCOMPARE(read(thread.counters().injectErrors), std::uint64_t(1));
    QCOMPARE(read(thread.counters().localErrors), std::uint64_t(3));
    QCOMPARE(read(thread.counters().deliveredLocal), std::uint64_t(0));
}

void TestPacketIo::dispatcherThreadStopsPromptly()
{
    IdleSource source;
    MacRewriteProcessor processor(kServerMac);
    RecordingSink network;
    DispatcherThreadConfig config;
    config.statsInterval = std::chrono::milliseconds(0);
    DispatcherThread thread(source, processor, network, nullptr, nullptr, nullptr, config);
    thread.start();
    QVERIFY(thread.running());
    QVERIFY(waitUntil([&] { return read(thread.counters().kernelDropped) == 7; }, 2000));
    QCOMPARE(read(thread.counters().interfaceDropped), std::uint64_t(3));
    const auto begin = std::chrono::steady_clock::now();
    thread.stop();
    const auto took = std::chrono::steady_clock::now() - begin;
    QVERIFY(!thread.running());
    // The poll timeout (20 ms) bounds it; 100 ms is the contract, with room for a loaded machine.
    QVERIFY2(took < std::chrono::milliseconds(100),
             qPrintable(QStringLiteral("stop took %1 ms").arg(
                 std::chrono::duration_cast<std::chrono::milliseconds>(took).count())));
    QVERIFY(processor.idleCalls.load() >= 1);
    thread.stop(); // idempotent
}

// requestStop() returns at once; the thread ends by itself (finished()), and stop() then only
// joins: how a planned handover stops the data path without waiting on the ring's thread.
void TestPacketIo::dispatcherThreadEndsOnRequest()
{
    IdleSource source;
    MacRewriteProcessor processor(kServerMac);
    RecordingSink network;
    DispatcherThread thread(source, processor, network, nullptr, nullptr, nullptr);
    thread.start();
    QVERIFY(waitUntil([&] { return processor.idleCalls.load() >= 1; }, 2000));
    QVERIFY(!thread.finished());
    thread.requestStop();
    QVERIFY(thread.running()); // asked, not joined
    QVERIFY(waitUntil([&] { return thread.finished(); }, 2000));
    const int idleCalls = processor.idleCalls.load();
    QTest::qWait(60); // three poll timeouts: an ended loop makes no more turns
    QCOMPARE(processor.idleCalls.load(), idleCalls);
    thread.stop();
    QVERIFY(!thread.running());
}

void TestPacketIo::dispatcherThreadPinnedToCpu_data()
{
    QTest::addColumn<int>("cpu");
    QTest::addColumn<bool>("pinned");
    const int last = int(std::min(63u, std::max(1u, std::thread::hardware_concurrency()) - 1));
    QTest::newRow("CPU 0") << 0 << true;
    QTest::newRow("the last CPU") << last << true;
    QTest::newRow("no such CPU: runs unpinned") << 1023 << false;
}

// [dispatcher] cpu: the packet thread stays on its CPU (every turn of its loop ran there).
void TestPacketIo::dispatcherThreadPinnedToCpu()
{
    QFETCH(int, cpu);
    QFETCH(bool, pinned);
    IdleSource source;
    CpuRecordingProcessor processor;
    RecordingSink network;
    DispatcherThreadConfig config;
    config.pollTimeout = std::chrono::milliseconds(2);
    config.cpu = cpu;
    DispatcherThread thread(source, processor, network, nullptr, nullptr, nullptr, config);
    thread.start();
    QCOMPARE(thread.pinned(), pinned);
    QVERIFY(waitUntil([&] { return processor.idleCalls.load() >= 20; }, 3000));
    thread.stop();
    if (pinned)
        QCOMPARE(processor.cpus.load(), std::uint64_t(1) << cpu);
    else
        QVERIFY(processor.cpus.load() != 0); // it ran all the same
}

void TestPacketIo::dispatcherThreadBatchWait_data()
{
    QTest::addColumn<int>("firstBatch");  // frames in the first receive(); batchFrames is 4
    QTest::addColumn<int>("batchWaitMs"); // DispatcherThreadConfig::batchWait
    QTest::addColumn<bool>("waits");      // the second receive() comes at least batchWait later
    QTest::newRow("partial batch: waits before reading again") << 2 << 200 << true;
    QTest::newRow("full batch: the ring has more, reads again at once") << 4 << 200 << false;
    QTest::newRow("empty batch: poll already waited, reads again at once") << 0 << 200 << false;
    QTest::newRow("batch wait 0: reads again at once") << 2 << 0 << false;
}

void TestPacketIo::dispatcherThreadBatchWait()
{
    QFETCH(int, firstBatch);
    QFETCH(int, batchWaitMs);
    QFETCH(bool, waits);
    ScriptedSource source({firstBatch, 1});
    MacRewriteProcessor processor(kServerMac);
    RecordingSink network;
    DispatcherThreadConfig config;
    config.batchFrames = 4;
    config.batchWait = std::chrono::milliseconds(batchWaitMs);
    DispatcherThread thread(source, processor, network, nullptr, nullptr, nullptr, config);
    thread.start();
    QVERIFY(waitUntil([&] { return thread.finished(); }, 5000));
    thread.stop();
    QCOMPARE(read(thread.counters().captured), std::uint64_t(firstBatch + 1));
    QCOMPARE(network.frames.size(), std::size_t(firstBatch + 1));
    QVERIFY(source.calls.size() >= 2);
    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(source.calls[1] - source.calls[0]);
    const QString why = QStringLiteral("second read %1 ms after the first").arg(gap.count());
    // A sleep never ends early; "at once" gets the whole wait as room for a loaded machine.
    if (waits)
        QVERIFY2(gap >= std::chrono::milliseconds(batchWaitMs), qPrintable(why));
    else
        QVERIFY2(gap < std::chrono::milliseconds(200), qPrintable(why));
}

void TestPacketIo::localDeliverySinkAddressesLo()
{
    // lo's address is 00:00:00:00:00:00; any other destination is an "other host" frame.
    auto recorder = std::make_unique<RecordingSink>();
    RecordingSink &inner = *recorder;
    LocalDeliverySink sink(std::move(recorder));
    const Bytes frame = udpFrame(kServerMac, 1);
    QVERIFY(sink.enqueue(frame));
    QCOMPARE(sink.flush().sent, std::uint64_t(1));
    QCOMPARE(inner.frames.size(), std::size_t(1));
    QCOMPARE(hex(inner.frames[0]), hex(withMacs(frame, MacAddress{}, kClientMac)));
}

// Services on two VIPs: each announcement round sends one gratuitous ARP per VIP, in order,
// and none between rounds.
void TestPacketIo::vmacAnnouncedForEveryVip()
{
    const std::uint32_t vip1 = ip4(10, 77, 0, 200), vip2 = ip4(10, 77, 0, 201);
    const MacAddress vmac{0x02, 0x5a, 0x5a, 0x00, 0x00, 0x01};
    VmacAnnouncer announcer(vmac, std::vector<std::uint32_t>{vip1, vip2}, std::chrono::seconds(1));
    QVERIFY2(announcer.valid(), announcer.error().c_str());
    QCOMPARE(announcer.vipCount(), std::size_t(2));
    RecordingSink sink;
    using std::chrono::microseconds;
    QVERIFY(announcer.tick(sink, microseconds(1'000'000)));
    QVERIFY(!announcer.tick(sink, microseconds(1'500'000))); // within the interval
    QVERIFY(announcer.tick(sink, microseconds(2'000'000)));
    QCOMPARE(sink.frames.size(), std::size_t(4));
    for (std::size_t round = 0; round < 2; ++round) {
        QCOMPARE(hex(sink.frames[2 * round]), hex(expectedAnnouncement(vmac, vip1)));
        QCOMPARE(hex(sink.frames[2 * round + 1]), hex(expectedAnnouncement(vmac, vip2)));
    }
    QCOMPARE(announcer.sent(), std::uint64_t(2));
}

void TestPacketIo::vmacAnnouncementBytes()
{
    const std::uint32_t vip = ip4(10, 77, 0, 200);
    const MacAddress vmac{0x02, 0x5a, 0x5a, 0x00, 0x00, 0x01};
    std::string error;
    const Bytes frame = VmacAnnouncer::buildGratuitousArp(vmac, vip, error);
    QVERIFY2(error.empty(), error.c_str());
    const Bytes expected = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // Ethernet destination: broadcast
        0x02, 0x5a, 0x5a, 0x00, 0x00, 0x01, // Ethernet source: the VMAC (what the switch learns)
        0x08, 0x06,                         // ARP
        0x00, 0x01, 0x08, 0x00, 6, 4,       // Ethernet / IPv4, lengths 6 and 4
        0x00, 0x01,                         // request (gratuitous, as VRRP sends)
        0x02, 0x5a, 0x5a, 0x00, 0x00, 0x01, // sender MAC: VMAC
        10, 77, 0, 200,                     // sender IP: VIP
        0, 0, 0, 0, 0, 0,                   // target MAC: unknown
        10, 77, 0, 200,                     // target IP: VIP
    };
    QCOMPARE(hex(frame), hex(expected));
    QCOMPARE(hex(frame), hex(expectedAnnouncement(vmac, vip)));

    // With who announces in the target MAC field (ring address 10.77.0.1, a ring of 5), read back.
    const MacAddress own{10, 77, 0, 1, 0, 5};
    Bytes withOwn = expected;
    std::copy(own.begin(), own.end(), withOwn.begin() + 32);
    QCOMPARE(hex(VmacAnnouncer::buildGratuitousArp(vmac, vip, error, own)), hex(withOwn));
    QCOMPARE(VmacAnnouncer::announcerOf(withOwn, vmac), std::optional<MacAddress>(own));
    QCOMPARE(VmacAnnouncer::announcerOf(frame, vmac), std::optional<MacAddress>(MacAddress{}));
    // Not an announcement of this VMAC: another VMAC, an IPv4 frame, a truncated ARP.
    QVERIFY(!VmacAnnouncer::announcerOf(withOwn, MacAddress{0x02, 0x5a, 0x5a, 0, 0, 2}));
    Bytes ipv4 = withOwn;
    ipv4[12] = 0x08;
    ipv4[13] = 0x00;
    QVERIFY(!VmacAnnouncer::announcerOf(ipv4, vmac));
    QVERIFY(!VmacAnnouncer::announcerOf(std::span<const std::uint8_t>(withOwn).first(41), vmac));
    // A dispatcher's ARP reply about the NAT gateway to a server (op 2, the server's MAC and
    // address as target): from the VMAC too, but no announcement (a server that took it for
    // one yielded its ability to dispatch).
    Bytes reply = expected;
    reply[21] = 0x02;
    const Bytes server{0x02, 0x5a, 0x00, 0x00, 0x00, 0x03, 10, 77, 0, 3};
    std::copy(server.begin(), server.end(), reply.begin() + 32);
    QVERIFY(!VmacAnnouncer::announcerOf(reply, vmac));
    Bytes notGratuitous = withOwn;
    notGratuitous[41] = 3;
    QVERIFY(!VmacAnnouncer::announcerOf(notGratuitous, vmac));
}

void TestPacketIo::vmacAnnouncementSchedule()
{
    using namespace std::chrono;
    VmacAnnouncer announcer(kVmac, kVip, milliseconds(1000));
    RecordingSink sink;
    QVERIFY(announcer.tick(sink, seconds(100)));           // takeover: at once
    QVERIFY(!announcer.tick(sink, seconds(100) + milliseconds(999)));
    QVERIFY(announcer.tick(sink, seconds(101)));           // one interval later
    announcer.announceNow();
    QVERIFY(announcer.tick(sink, seconds(101) + milliseconds(1)));
    QVERIFY(!announcer.tick(sink, seconds(101) + milliseconds(2)));
    QCOMPARE(sink.frames.size(), std::size_t(3));
    QCOMPARE(announcer.sent(), std::uint64_t(3));
    for (const Bytes &f : sink.frames)
        QCOMPARE(hex(f), hex(announcer.frame()));

    VmacAnnouncer once(kVmac, kVip, milliseconds(0));
    QVERIFY(once.tick(sink, seconds(1)));
    QVERIFY(!once.tick(sink, seconds(1000)));

    // Who announces, set from another thread, goes out in the next announcement.
    announcer.setAnnouncer(0x0a4d0003, 4);
    announcer.announceNow();
    QVERIFY(announcer.tick(sink, seconds(102)));
    QCOMPARE(VmacAnnouncer::announcerOf(sink.frames.back(), kVmac),
             std::optional<MacAddress>(MacAddress{10, 77, 0, 3, 0, 4}));
}

void TestPacketIo::privilegeErrorsNameTheCapability()
{
    QVERIFY(needsNetRaw("capture on eth0").find("CAP_NET_RAW") != std::string::npos);
    QVERIFY(needsNetAdmin("capture on eth0").find("CAP_NET_ADMIN") != std::string::npos);
    QVERIFY(socketError("x", EPERM).find("CAP_NET_RAW") != std::string::npos);
    // As root, drop CAP_NET_RAW in a thread of our own (capabilities are per thread) and open
    // there; unprivileged, simply open.
    const bool root = ::geteuid() == 0;
    std::string captureError, injectError, ringError, pcapInjectError;
    bool dropped = false;
    std::thread worker([&] {
        dropped = root && dropEffectiveCapability(CAP_NET_RAW);
        LiveCaptureOptions options;
        options.interface = "lo";
        PcapLiveSource::open(options, captureError);
        AfPacketSink::open({"lo", AfPacketSink::Mode::Sendmmsg, true, 64}, injectError);
        AfPacketSink::open({"lo", AfPacketSink::Mode::TxRing, true, 64}, ringError);
        PcapInjectSink::open("lo", pcapInjectError);
    });
    worker.join();
    QCOMPARE(dropped, root);
    for (const std::string *e : {&captureError, &injectError, &ringError, &pcapInjectError})
        QVERIFY2(e->find("needs CAP_NET_RAW") != std::string::npos, e->c_str());
}

void TestPacketIo::injectionMethodNames_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("valid");
    QTest::newRow("pcap") << QStringLiteral("pcap") << true;
    QTest::newRow("sendmmsg") << QStringLiteral("sendmmsg") << true;
    QTest::newRow("tx-ring") << QStringLiteral("tx-ring") << true;
    QTest::newRow("wrong case refused") << QStringLiteral("TX-RING") << false;
    QTest::newRow("libnet refused (measured slow, not offered)") << QStringLiteral("libnet") << false;
    QTest::newRow("empty refused") << QString() << false;
}

void TestPacketIo::injectionMethodNames()
{
    QFETCH(QString, name);
    QFETCH(bool, valid);
    const auto method = parseInjectionMethod(name.toStdString());
    QCOMPARE(method.has_value(), valid);
    if (valid)
        QCOMPARE(QString::fromLatin1(injectionMethodName(*method)), name);
    QCOMPARE(QString::fromLatin1(injectionMethodName(kDefaultInjection)), QStringLiteral("tx-ring"));
}

void TestPacketIo::liveCaptureAndInject_data()
{
    QTest::addColumn<QString>("sink");
    QTest::newRow("pcap_inject") << QStringLiteral("pcap");
    QTest::newRow("AF_PACKET sendmmsg") << QStringLiteral("sendmmsg");
    QTest::newRow("AF_PACKET TX ring (default)") << QStringLiteral("tx-ring");
}

void TestPacketIo::liveCaptureAndInject()
{
    QFETCH(QString, sink);
    if (::geteuid() != 0)
        QSKIP("needs root (creates two network namespaces and a veth pair); CI runs it as root");
    testlab::NetnsLab lab('c');
    QVERIFY2(lab.ok(), lab.error.c_str());

    // B is the dispatcher: captures the VMAC's frames, sends them back to A rewritten.
    std::string error;
    std::unique_ptr<PcapLiveSource> source;
    std::unique_ptr<PacketSink> network;
    {
        testlab::NetnsScope in(lab.nsB);
        QVERIFY(in.ok());
        LiveCaptureOptions options;
        options.interface = lab.ifB;
        options.filter = vmacFilter(kVmac);
        source = PcapLiveSource::open(options, error);
        QVERIFY2(source, error.c_str());
        const auto method = parseInjectionMethod(sink.toStdString());
        QVERIFY(method);
        network = openInjectionSink(*method, lab.ifB, error);
        QVERIFY2(network, error.c_str());
    }
    // A is client and server: sends, and records what comes back to its MAC or is broadcast.
    std::unique_ptr<PcapLiveSource> observer;
    std::unique_ptr<PacketSink> client;
    {
        testlab::NetnsScope in(lab.nsA);
        QVERIFY(in.ok());
        LiveCaptureOptions options;
        options.interface = lab.ifA;
        options.filter = "ether src " + testlab::NetnsLab::macText(kClientMac) + " or arp";
        observer = PcapLiveSource::open(options, error);
        QVERIFY2(observer, error.c_str());
        client = AfPacketSink::open({lab.ifA, AfPacketSink::Mode::Sendmmsg, true, 64}, error);
        QVERIFY2(client, error.c_str());
    }

    MacRewriteProcessor processor(lab.macA);
    VmacAnnouncer announcer(kVmac, kVip, std::chrono::seconds(10));
    DispatcherThread thread(*source, processor, *network, nullptr, &announcer, nullptr);
    thread.start();

    constexpr int kFrames = 200;
    std::vector<Bytes> sent;
    for (int i = 0; i < kFrames; ++i) {
        sent.push_back(udpFrame(kVmac, std::uint16_t(i)));
        QVERIFY(client->enqueue(sent.back()));
        QVERIFY(client->enqueue(udpFrame(kOtherMac, std::uint16_t(i)))); // must not be captured
        if (i % 32 == 31)
            QCOMPARE(client->flush().failed, std::uint64_t(0));
    }
    QCOMPARE(client->flush().failed, std::uint64_t(0));

    RecordingReceiver back;
    const bool arrived = waitUntil(
        [&] {
            observer->receive(back, 512, std::chrono::milliseconds(5));
            return back.frames.size() >= std::size_t(kFrames + 1);
        },
        5000);
    thread.stop();
    QVERIFY2(thread.error().empty(), thread.error().c_str());
    QVERIFY2(arrived, qPrintable(QStringLiteral("%1 of %2 frames came back").arg(back.frames.size()).arg(kFrames + 1)));

    const auto &c = thread.counters();
    QCOMPARE(read(c.captured), std::uint64_t(kFrames)); // none of the frames to another MAC
    QCOMPARE(read(c.injected), std::uint64_t(kFrames + 1));
    QCOMPARE(read(c.injectErrors), std::uint64_t(0));
    QCOMPARE(read(c.kernelDropped), std::uint64_t(0));

    // The announcement, byte by byte as it arrived, then the frames in order, rewritten.
    std::deque<Bytes> frames(back.frames.begin(), back.frames.end());
    QCOMPARE(hex(frames.front()), hex(expectedAnnouncement(kVmac, kVip)));
    frames.pop_front();
    QCOMPARE(frames.size(), std::size_t(kFrames));
    for (int i = 0; i < kFrames; ++i)
        QCOMPARE(hex(frames[std::size_t(i)]), hex(withMacs(sent[std::size_t(i)], lab.macA, kClientMac)));
}

void TestPacketIo::localDelivery_data()
{
    QTest::addColumn<int>("rpFilter");
    QTest::addColumn<bool>("delivered");
    QTest::newRow("loose rp_filter=2: the local stack receives them") << 2 << true;
    QTest::newRow("no rp_filter=0: the local stack receives them") << 0 << true;
    QTest::newRow("strict rp_filter=1: dropped, and the problem is reported") << 1 << false;
}

void TestPacketIo::localDelivery()
{
    QFETCH(int, rpFilter);
    QFETCH(bool, delivered);
    if (::geteuid() != 0)
        QSKIP("needs root (creates two network namespaces and a veth pair); CI runs it as root");
    testlab::NetnsLab lab('l');
    QVERIFY2(lab.ok(), lab.error.c_str());
    // B is a dispatcher that serves too: the VIP on its loopback, as on every lab node.
    const std::uint32_t vip = ip4(10, 254, 250, 200);
    const std::string r = std::to_string(rpFilter);
    QVERIFY(lab.execIn(lab.nsB, "ip addr add 10.254.250.200/32 dev lo"));
    QVERIFY(lab.execIn(lab.nsB, "sysctl -qw net.ipv4.conf.all.rp_filter=" + r + " net.ipv4.conf.lo.rp_filter=" + r));

    std::string error, problem;
    std::unique_ptr<PcapLiveSource> source;
    std::unique_ptr<PacketSink> network, local;
    int server = -1;
    {
        testlab::NetnsScope in(lab.nsB);
        QVERIFY(in.ok());
        problem = localDeliveryProblem();
        LiveCaptureOptions options;
        options.interface = lab.ifB;
        options.filter = vmacFilter(kVmac);
        source = PcapLiveSource::open(options, error);
        QVERIFY2(source, error.c_str());
        network = AfPacketSink::open({lab.ifB, AfPacketSink::Mode::TxRing, true, 256}, error);
        QVERIFY2(network, error.c_str());
        local = LocalDeliverySink::open(error);
        QVERIFY2(local, error.c_str());
        server = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(7);
        address.sin_addr.s_addr = htonl(vip);
        QVERIFY(::bind(server, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
    }
    auto closeServer = qScopeGuard([server] { ::close(server); });
    QCOMPARE(problem.empty(), delivered);

    std::unique_ptr<PacketSink> client;
    {
        testlab::NetnsScope in(lab.nsA);
        client = AfPacketSink::open({lab.ifA, AfPacketSink::Mode::Sendmmsg, true, 64}, error);
        QVERIFY2(client, error.c_str());
    }
    MacRewriteProcessor processor(lab.macB); // UDP port 7 -> DeliverLocal
    DispatcherThread thread(*source, processor, *network, local.get(), nullptr, nullptr);
    thread.start();
    constexpr int kFrames = 20;
    for (int i = 0; i < kFrames; ++i)
        QVERIFY(client->enqueue(udpFrame(kVmac, std::uint16_t(i), vip, 7, lab.macA, lab.ipA)));
    QCOMPARE(client->flush().sent, std::uint64_t(kFrames));

    int received = 0;
    char buffer[2048];
    waitUntil(
        [&] {
            while (::recv(server, buffer, sizeof buffer, 0) > 0)
                ++received;
            return received >= kFrames;
        },
        delivered ? 5000 : 500);
    thread.stop();
    QCOMPARE(read(thread.counters().captured), std::uint64_t(kFrames));
    QCOMPARE(read(thread.counters().deliveredLocal), std::uint64_t(kFrames)); // sent on lo either way
    QCOMPARE(received, delivered ? kFrames : 0);
}

QTEST_GUILESS_MAIN(TestPacketIo)
#include "tst_packetio.moc"
