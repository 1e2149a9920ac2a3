// Specification of the handover's flow-transfer codec (common/agent/flowtransfer.h): round trips
// of tables (one part, several parts, empty) and of the announcement, the exact wire layout, and
// every malformed payload rejected with a reason.

#include "agent/flowtransfer.h"

#include <QTest>

using namespace sasha;

namespace {
constexpr quint32 kVip = 0x0a4d00c8; // 10.77.0.200

QByteArray hex(const char *h) { return QByteArray::fromHex(h); }

std::vector<FlowTransferEntry> someEntries(int n)
{
    std::vector<FlowTransferEntry> out;
    for (int i = 0; i < n; ++i) {
        const auto state = FlowTransferState(1 + i % 4);
        out.push_back({quint32(0x0a4d0064 + i), quint16(40000 + i), quint16(80 + i % 2), quint32(0x0a4d0001 + i % 5),
                       quint8(state == FlowTransferState::Udp ? 17 : 6), state});
    }
    return out;
}

constexpr quint32 kVip2 = 0x0a4d00c9; // 10.77.0.201

FlowTransferEntry otherVip(FlowTransferEntry e)
{
    e.vip = kVip2;
    return e;
}

FlowTransferTable decodeTable(const QByteArray &b)
{
    QString error;
    const auto m = decodeFlowTransfer(b, &error);
    if (!m || !std::holds_alternative<FlowTransferTable>(*m))
        qFatal("not a table: %s", qPrintable(error));
    return std::get<FlowTransferTable>(*m);
}
} // namespace

class TestFlowTransfer : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void tableRoundTrip_data()
    {
        QTest::addColumn<int>("entries");
        QTest::addColumn<int>("perPart");
        QTest::addColumn<int>("parts");
        QTest::newRow("empty table: one part, no entries") << 0 << 10 << 1;
        QTest::newRow("one entry") << 1 << 10 << 1;
        QTest::newRow("exactly one full part") << 10 << 10 << 1;
        QTest::newRow("one more than a part") << 11 << 10 << 2;
        QTest::newRow("seven parts") << 61 << 10 << 7;
        QTest::newRow("100k flows at the default part size: 2 parts") << 100000 << kMaxEntriesPerTransferPart << 2;
    }
    void tableRoundTrip()
    {
        QFETCH(int, entries);
        QFETCH(int, perPart);
        QFETCH(int, parts);
        const std::vector<FlowTransferEntry> in = someEntries(entries);
        const std::vector<QByteArray> encoded = encodeFlowTransferTable(77, kVip, in, perPart);
        QCOMPARE(int(encoded.size()), parts);
        std::vector<FlowTransferEntry> back;
        for (int i = 0; i < parts; ++i) {
            QVERIFY(encoded[i].size() <= qsizetype(tb::kMaxOobPayload));
            const FlowTransferTable t = decodeTable(encoded[i]);
            QCOMPARE(t.transferId, 77u);
            QCOMPARE(t.vip, kVip);
            QCOMPARE(int(t.part), i);
            QCOMPARE(int(t.partCount), parts);
            QCOMPARE(int(t.totalEntries), entries);
            back.insert(back.end(), t.entries.begin(), t.entries.end());
        }
        QVERIFY(back == in);
    }

    void tableWireLayout()
    {
        const std::vector<FlowTransferEntry> one{
            {0x0a4d0064, 40001, 80, 0x0a4d0003, 6, FlowTransferState::SynSeen}};
        const std::vector<QByteArray> b = encodeFlowTransferTable(0x01020304, kVip, one);
        QCOMPARE(b.size(), std::size_t(1));
        QCOMPARE(b[0].toHex(), hex("01" "01" "0000" "01020304" "0a4d00c8" "0000" "0001" "00000001" "00000001"
                                   "0a4d0064" "9c41" "0050" "0a4d0003" "06" "01").toHex());
    }

    // The closed-since list is a table with flags bit 0 set; a table has it clear.
    void closedSinceFlag()
    {
        const std::vector<FlowTransferEntry> two = someEntries(2);
        const QByteArray closed = encodeFlowTransferTable(9, kVip, two, kMaxEntriesPerTransferPart, true)[0];
        QCOMPARE(closed.mid(2, 2).toHex(), QByteArray("0001"));
        const FlowTransferTable t = decodeTable(closed);
        QVERIFY(t.closedSince);
        QVERIFY(t.entries == two);
        QVERIFY(!decodeTable(encodeFlowTransferTable(9, kVip, two)[0]).closedSince);
    }

    void announcedRoundTripAndLayout()
    {
        const QByteArray b = encodeFlowTransferAnnounced({0xa1b2c3d4});
        QCOMPARE(b.toHex(), QByteArray("01020000a1b2c3d4"));
        const auto m = decodeFlowTransfer(b);
        QVERIFY(m && std::holds_alternative<FlowTransferAnnounced>(*m));
        QCOMPARE(std::get<FlowTransferAnnounced>(*m).transferId, 0xa1b2c3d4u);
    }

    void standAsideRoundTripAndLayout()
    {
        const QByteArray aside = encodeFlowTransferStandAside({0x0a4d0003, 5000});
        QCOMPARE(aside.toHex(), QByteArray("010300000a4d000300001388"));
        const auto m = decodeFlowTransfer(aside);
        QVERIFY(m && std::holds_alternative<FlowTransferStandAside>(*m));
        QCOMPARE(std::get<FlowTransferStandAside>(*m), (FlowTransferStandAside{0x0a4d0003, 5000}));
        const QByteArray back = encodeFlowTransferStandAside({0x0a4d0003, 0});
        QCOMPARE(back.toHex(), QByteArray("010400000a4d0003"));
        const auto b = decodeFlowTransfer(back);
        QVERIFY(b && std::holds_alternative<FlowTransferStandAside>(*b));
        QCOMPARE(std::get<FlowTransferStandAside>(*b).holdMs, 0u);
    }

    // Services on several VIPs (docs/dispatcher.md "Virtual services"): the other VIPs' flows
    // travel in the appended field (flags bit 1); a table of the first VIP alone is the old
    // layout byte for byte.
    void otherVipsRoundTrip_data()
    {
        QTest::addColumn<int>("first");
        QTest::addColumn<int>("others");
        QTest::addColumn<int>("perPart");
        QTest::addColumn<int>("parts");
        QTest::newRow("one of each") << 1 << 1 << 10 << 1;
        QTest::newRow("other VIPs only") << 0 << 3 << 10 << 1;
        QTest::newRow("a part boundary inside the first VIP's flows") << 15 << 3 << 10 << 2;
        QTest::newRow("a part holding both fields") << 5 << 12 << 10 << 2;
        QTest::newRow("100k of each at the default part size: 4 parts") << 100000 << 100000 << kMaxEntriesPerTransferPart << 4;
    }
    void otherVipsRoundTrip()
    {
        QFETCH(int, first);
        QFETCH(int, others);
        QFETCH(int, perPart);
        QFETCH(int, parts);
        std::vector<FlowTransferEntry> in = someEntries(first);
        std::vector<FlowTransferEntry> more = someEntries(others);
        for (FlowTransferEntry &e : more)
            e = otherVip(e);
        // Interleaved on input: the encoder puts the first VIP's first.
        std::vector<FlowTransferEntry> mixed;
        for (std::size_t i = 0; i < std::max(in.size(), more.size()); ++i) {
            if (i < more.size())
                mixed.push_back(more[i]);
            if (i < in.size())
                mixed.push_back(in[i]);
        }
        const std::vector<QByteArray> encoded = encodeFlowTransferTable(77, kVip, mixed, perPart);
        QCOMPARE(int(encoded.size()), parts);
        std::vector<FlowTransferEntry> back, oldView;
        for (int i = 0; i < parts; ++i) {
            QVERIFY(encoded[i].size() <= qsizetype(tb::kMaxOobPayload));
            QCOMPARE(encoded[i].mid(2, 2).toHex(), QByteArray("0002"));
            const FlowTransferTable t = decodeTable(encoded[i]);
            QCOMPARE(t.vip, kVip);
            QCOMPARE(int(t.totalEntries), first + others);
            back.insert(back.end(), t.entries.begin(), t.entries.end());
            // A successor that predates the field: the flag and the bytes after the entries
            // unknown to it, it reads the first VIP's flows only.
            QByteArray old = encoded[i];
            old[3] = 0;
            const FlowTransferTable o = decodeTable(old);
            oldView.insert(oldView.end(), o.entries.begin(), o.entries.end());
        }
        std::vector<FlowTransferEntry> want = in;
        want.insert(want.end(), more.begin(), more.end());
        QVERIFY(back == want);
        QVERIFY(oldView == in);
        // The first VIP's own flows, flagged with its address, travel in the first field.
        std::vector<FlowTransferEntry> ownVip = someEntries(2);
        for (FlowTransferEntry &e : ownVip)
            e.vip = kVip;
        const QByteArray plain = encodeFlowTransferTable(1, kVip, ownVip)[0];
        QCOMPARE(plain, encodeFlowTransferTable(1, kVip, someEntries(2))[0]);
    }

    void otherVipWireLayout()
    {
        const std::vector<FlowTransferEntry> two{{0x0a4d0064, 40001, 80, 0x0a4d0003, 6, FlowTransferState::SynSeen},
                                                 {0x0a4d0065, 40002, 53, 0x0a4d0004, 17, FlowTransferState::Udp, kVip2}};
        const std::vector<QByteArray> b = encodeFlowTransferTable(0x01020304, kVip, two);
        QCOMPARE(b.size(), std::size_t(1));
        QCOMPARE(b[0].toHex(), hex("01" "01" "0002" "01020304" "0a4d00c8" "0000" "0001" "00000002" "00000001"
                                   "0a4d0064" "9c41" "0050" "0a4d0003" "06" "01"
                                   "00000001" "0a4d00c9" "0a4d0065" "9c42" "0035" "0a4d0004" "11" "04").toHex());
    }

    void trailingBytesIgnored()
    {
        QByteArray b = encodeFlowTransferTable(5, kVip, someEntries(3))[0];
        b.append("later fields");
        QCOMPARE(decodeTable(b).entries, someEntries(3));
    }

    void malformed_data()
    {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<QString>("reason");
        const QByteArray good = encodeFlowTransferTable(5, kVip, someEntries(1))[0];
        auto patched = [&good](int at, const char *bytes) {
            QByteArray b = good;
            const QByteArray p = hex(bytes);
            b.replace(at, p.size(), p);
            return b;
        };
        QTest::newRow("empty") << QByteArray() << "truncated";
        QTest::newRow("unknown version") << patched(0, "02") << "version 2";
        QTest::newRow("unknown type") << patched(1, "07") << "type 7";
        QTest::newRow("table shorter than its fixed part") << good.left(20) << "table truncated";
        QTest::newRow("announcement shorter than 8 bytes") << hex("0102000000") << "announcement truncated";
        QTest::newRow("part count 0") << patched(14, "0000") << "part 0 of 0";
        QTest::newRow("part beyond part count") << patched(12, "0001") << "part 1 of 1";
        QTest::newRow("fewer entries than announced") << good.left(good.size() - 1) << "1 entries announced";
        QTest::newRow("entry count beyond any part") << patched(20, "ffffffff") << "entries announced";
        QTest::newRow("protocol neither tcp nor udp") << patched(36, "01") << "protocol 1";
        QTest::newRow("state 0 (empty)") << patched(37, "00") << "unknown state 0";
        QTest::newRow("state 5") << patched(37, "05") << "unknown state 5";
        QTest::newRow("type 5") << patched(1, "05") << "type 5";
        QTest::newRow("stand-aside shorter than 12 bytes") << hex("010300000a4d0003") << "stand-aside truncated";
        QTest::newRow("stand-aside holding 0 ms") << hex("010300000a4d000300000000") << "holdMs 0";
        const QByteArray withOther = encodeFlowTransferTable(5, kVip, std::vector<FlowTransferEntry>{otherVip(someEntries(1)[0])})[0];
        QTest::newRow("other VIPs' flows announced, count missing") << withOther.left(kFlowTransferTableFixedSize + 2)
                                                                     << "other VIPs' flows announced";
        QTest::newRow("fewer other VIPs' entries than announced") << withOther.left(withOther.size() - 1)
                                                                  << "1 other VIPs' entries announced";
        QByteArray badProto = withOther;
        badProto[kFlowTransferTableFixedSize + 4 + 16] = 1;
        QTest::newRow("other VIP's entry neither tcp nor udp") << badProto << "protocol 1";
        // The appended field's VIP patched to the table's own (0a4d00c8) and to 0: an encoder
        // never writes them there, and they would read back out of order (found by fuzz_agentcodecs).
        QByteArray ownVip = withOther;
        ownVip.replace(kFlowTransferTableFixedSize + 4, 4, hex("0a4d00c8"));
        QTest::newRow("other VIPs' field holding the table's own VIP") << ownVip << "under the table's own VIP";
        QByteArray zeroVip = withOther;
        zeroVip.replace(kFlowTransferTableFixedSize + 4, 4, hex("00000000"));
        QTest::newRow("other VIPs' field holding VIP 0") << zeroVip << "under the table's own VIP";
    }
    void malformed()
    {
        QFETCH(QByteArray, payload);
        QFETCH(QString, reason);
        QString error;
        QVERIFY(!decodeFlowTransfer(payload, &error));
        QVERIFY2(error.contains(reason), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TestFlowTransfer)
#include "tst_flowtransfer.moc"
