// The flow feed codec (common/control/flowfeed.h): round trips, snapshot splitting, and
// malformed or truncated input refused with an error, never a crash.

#include "control/flowfeed.h"

#include <QRandomGenerator>
#include <QTest>

using namespace sasha;

Q_DECLARE_METATYPE(sasha::FlowFeedMessage)

namespace {

FlowFeedEntry entry(quint32 i, FlowFeedState s = FlowFeedState::Established)
{
    return FlowFeedEntry{0x0a4d0000u + i, quint16(1024 + i), 0x0a4d0102u, s, quint8(i & 0x07), i * 7};
}

FlowFeedMessage changes(int n)
{
    FlowFeedMessage m;
    m.type = FlowFeedMessage::Type::Changes;
    m.dispatcher = 0x0a4d0001;
    m.runId = 0xdeadbeef;
    m.seq = 42;
    for (int i = 0; i < n; ++i)
        m.entries.push_back(entry(quint32(i), FlowFeedState(i % 4)));
    return m;
}

} // namespace

class TestFlowFeed : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void roundTrip_data()
    {
        QTest::addColumn<FlowFeedMessage>("message");
        QTest::newRow("empty changes") << changes(0);
        QTest::newRow("one change") << changes(1);
        QTest::newRow("every state and flag") << changes(8);
        FlowFeedMessage extremes = changes(0);
        extremes.entries.push_back(FlowFeedEntry{0xffffffffu, 0xffff, 0xffffffffu, FlowFeedState::Closed, 0xff, 0xffffffffu});
        extremes.dispatcher = 0xffffffffu;
        extremes.runId = 0;
        extremes.seq = 0xffffffffu;
        QTest::newRow("extreme values") << extremes;
        FlowFeedMessage part = changes(3);
        part.type = FlowFeedMessage::Type::SnapshotPart;
        part.part = 2;
        part.parts = 5;
        QTest::newRow("snapshot part 3 of 5") << part;
        QTest::newRow("largest message") << changes(kFlowFeedMaxEntries);
        FlowFeedMessage sub;
        sub.type = FlowFeedMessage::Type::Subscribe;
        sub.dispatcher = 0x0a4d0002;
        sub.runId = 99;
        QTest::newRow("subscription") << sub;
    }
    void roundTrip()
    {
        QFETCH(FlowFeedMessage, message);
        const QByteArray bytes = encodeFlowFeed(message);
        QCOMPARE(bytes.size(), kFlowFeedHeaderBytes + int(message.entries.size()) * kFlowFeedEntryBytes);
        QVERIFY(bytes.size() <= (1 << 20));
        QString error;
        const auto back = decodeFlowFeed(bytes, &error);
        QVERIFY2(back.has_value(), qPrintable(error));
        QVERIFY(*back == message);
    }

    void wireLayoutIsFixed()
    {
        FlowFeedMessage m = changes(0);
        m.entries.push_back(FlowFeedEntry{0x0a4d0005, 0x1234, 0x0a4d0102, FlowFeedState::Closing, kFlowFeedHashed, 0x01020304});
        const QByteArray b = encodeFlowFeed(m);
        QCOMPARE(b.toHex(), QByteArray("01020010000000010a4d0001deadbeef0000002a00000001"
                                       "0a4d000512340a4d0102020201020304"));
    }

    void subscriptionIsHeaderOnly()
    {
        const auto m = decodeFlowFeed(encodeFlowFeedSubscribe(0x0a4d0002, 5));
        QVERIFY(m.has_value());
        QCOMPARE(m->type, FlowFeedMessage::Type::Subscribe);
        QCOMPARE(m->dispatcher, 0x0a4d0002u);
        QCOMPARE(m->runId, 5u);
        QVERIFY(m->entries.empty());
    }

    void tooManyEntriesIsNotEncoded() { QVERIFY(encodeFlowFeed(changes(kFlowFeedMaxEntries + 1)).isEmpty()); }

    void snapshotSplits_data()
    {
        QTest::addColumn<int>("flows");
        QTest::addColumn<int>("perPart");
        QTest::addColumn<int>("parts");
        QTest::newRow("empty map is one empty part") << 0 << 10 << 1;
        QTest::newRow("exactly one part") << 10 << 10 << 1;
        QTest::newRow("one over spills into a second part") << 11 << 10 << 2;
        QTest::newRow("100k flows at the 1 MiB limit") << 100000 << kFlowFeedMaxEntries << 2;
        QTest::newRow("per-part limit clamped up to 1") << 3 << 0 << 3;
    }
    void snapshotSplits()
    {
        QFETCH(int, flows);
        QFETCH(int, perPart);
        QFETCH(int, parts);
        std::vector<FlowFeedEntry> all;
        for (int i = 0; i < flows; ++i)
            all.push_back(entry(quint32(i)));
        const auto encoded = encodeFlowFeedSnapshot(7, 8, 9, all, perPart);
        QCOMPARE(int(encoded.size()), parts);
        std::vector<FlowFeedEntry> back;
        for (int i = 0; i < parts; ++i) {
            QVERIFY(encoded[std::size_t(i)].size() <= (1 << 20));
            const auto m = decodeFlowFeed(encoded[std::size_t(i)]);
            QVERIFY(m.has_value());
            QCOMPARE(m->type, FlowFeedMessage::Type::SnapshotPart);
            QCOMPARE(int(m->part), i);
            QCOMPARE(int(m->parts), parts);
            QCOMPARE(m->dispatcher, 7u);
            QCOMPARE(m->runId, 8u);
            QCOMPARE(m->seq, 9u);
            back.insert(back.end(), m->entries.begin(), m->entries.end());
        }
        QVERIFY(back == all);
    }

    void longerEntriesAreReadByOldReaders()
    {
        // A future version appends fields to each entry and says so in entryBytes.
        QByteArray b = encodeFlowFeed(changes(2));
        b[3] = char(20);
        QByteArray longer = b.left(kFlowFeedHeaderBytes);
        for (int i = 0; i < 2; ++i)
            longer += b.mid(kFlowFeedHeaderBytes + i * kFlowFeedEntryBytes, kFlowFeedEntryBytes) + QByteArray(4, 'x');
        const auto m = decodeFlowFeed(longer);
        QVERIFY(m.has_value());
        QVERIFY(m->entries == changes(2).entries);
    }

    void malformed_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("errorPart");
        const QByteArray good = encodeFlowFeed(changes(2));
        auto with = [&good](int at, char v) {
            QByteArray b = good;
            b[at] = v;
            return b;
        };
        QTest::newRow("empty") << QByteArray() << "shorter than";
        QTest::newRow("header cut short") << good.left(23) << "shorter than";
        QTest::newRow("entry cut short") << good.left(good.size() - 1) << "announces";
        QTest::newRow("trailing byte") << good + 'x' << "announces";
        QTest::newRow("unknown version") << with(0, 2) << "version 2";
        QTest::newRow("unknown type") << with(1, 9) << "type 9";
        QTest::newRow("subscription with entries") << with(1, 3) << "subscription with 2 entries";
        QTest::newRow("entries too small") << with(3, 8) << "entries of 8";
        QTest::newRow("zero parts") << with(7, 0) << "part 0 of 0";
        QTest::newRow("part beyond parts") << with(5, 1) << "part 1 of 1";
        QTest::newRow("changes in two parts") << with(7, 2) << "in 2 parts";
        QTest::newRow("huge count") << with(20, char(0xff)) << "announces";
        QTest::newRow("state out of range") << with(kFlowFeedHeaderBytes + 10, 4) << "state 4";
    }
    void malformed()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, errorPart);
        QString error;
        QVERIFY(!decodeFlowFeed(bytes, &error).has_value());
        QVERIFY2(error.contains(errorPart), qPrintable(error));
    }

    void randomTruncationsAndFlipsNeverCrash()
    {
        const QByteArray good = encodeFlowFeed(changes(20));
        QRandomGenerator rng(20261127);
        int refused = 0;
        for (int i = 0; i < 5000; ++i) {
            QByteArray b = good.left(int(rng.bounded(good.size() + 1)));
            for (int f = 0, flips = int(rng.bounded(4)); f < flips && !b.isEmpty(); ++f)
                b[int(rng.bounded(b.size()))] = char(rng.bounded(256));
            if (!decodeFlowFeed(b).has_value())
                ++refused;
        }
        QVERIFY(refused > 4000); // nearly every truncation is refused; none crashed
    }
};

QTEST_GUILESS_MAIN(TestFlowFeed)
#include "tst_flowfeed.moc"
