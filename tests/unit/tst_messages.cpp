// Wire codecs of the TokenBeat bodies (common/tokenbeat/messages.h): round trip of every
// message type, size limits, truncation at every length, forward-compatible trailing bytes.

#include "tokenbeat/envelope.h"
#include "tokenbeat/messages.h"

#include <QTest>

using namespace sasha::tb;

namespace {

Member member(quint32 i, Role role)
{
    Member m;
    m.addr = 0x0A000001 + i;
    m.endpoint = Endpoint{0x0A000001 + i, quint16(7000 + i)};
    m.caps = kCanDispatch | kCanServe;
    m.status = NodeStatus{role, Health::Healthy, 1000 + i, 50 + i};
    return m;
}

RingView bigView(int members, int observers)
{
    RingView v;
    v.ringEpoch = 0xDEADBEEF;
    v.viewVersion = 77;
    for (int i = 0; i < members; ++i)
        v.members.push_back(member(quint32(i), i == 0 ? Role::Dispatcher : Role::Server));
    for (int i = 0; i < observers; ++i) {
        Member o = member(quint32(200 + i), Role::Observer);
        o.caps = kObserver;
        v.observers.push_back(o);
    }
    v.master = v.members.empty() ? kNoNode : v.members.front().addr;
    v.dispatcher = v.master;
    return v;
}

TokenMsg fullToken(int updates)
{
    TokenMsg t{5, 9, 123456, 0x0A000001, 0x0A000002, {}};
    for (int i = 0; i < updates; ++i)
        t.updates.push_back(StatusUpdate{0x0A000001 + quint32(i), kCanServe,
                                         NodeStatus{Role::Server, Health::Draining, quint32(i), 7}});
    return t;
}

// Encodes, decodes and compares one message; returns the body for further checks.
template <typename Msg>
bool roundTrip(const Msg &m, QByteArray *bodyOut = nullptr)
{
    const QByteArray body = encodeBody(m);
    Msg back;
    if (bodyOut)
        *bodyOut = body;
    return decodeBody(body, back) && back == m;
}

// A type-erased message under test: encode, and decode-and-compare.
struct Case {
    std::function<QByteArray()> encode;
    std::function<bool(QByteArrayView)> decodesEqual;
    std::function<bool(QByteArrayView)> decodes;
};

template <typename Msg>
Case makeCase(Msg m)
{
    return Case{[m] { return encodeBody(m); },
                [m](QByteArrayView b) {
                    Msg back;
                    return decodeBody(b, back) && back == m;
                },
                [](QByteArrayView b) {
                    Msg back;
                    return decodeBody(b, back);
                }};
}

std::map<QString, Case> allCases()
{
    std::map<QString, Case> c;
    c["join plain"] = makeCase(JoinMsg{0x0A000003, Endpoint{0x0A000003, 7000}, kCanServe, Role::None, 4, 0});
    c["join forwarded with dispatcher claim"] =
        makeCase(JoinMsg{0x0A000009, Endpoint{0x0A000009, 7001}, kCanDispatch | kCanServe, Role::Dispatcher, 0xFFFFFFFF, kJoinForwarded});
    c["view one member"] = makeCase(ViewMsg{bigView(1, 0)});
    c["view 5 members 2 observers"] = makeCase(ViewMsg{bigView(5, 2)});
    c["view at limits"] = makeCase(ViewMsg{bigView(kMaxMembers, kMaxViewObservers)});
    c["viewack"] = makeCase(ViewAckMsg{3, 0x01020304});
    c["token idle"] = makeCase(fullToken(0));
    c["token 3 updates"] = makeCase(fullToken(3));
    c["token full"] = makeCase(fullToken(kMaxMembers));
    c["purge/leave/viewrequest epoch"] = makeCase(EpochMsg{0x80000001});
    c["observer hello"] = makeCase(ObserverHelloMsg{0x0A000105, Endpoint{0x0A000105, 40000}});
    c["beacon"] = makeCase(BeaconMsg{12, 0x0A000001, Endpoint{0x0A000001, 7000}, 0x0A000002, 5});
    return c;
}

} // namespace

class TestMessages : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void roundTrip_data();
    void roundTrip();
    void truncatedIsMalformed_data();
    void truncatedIsMalformed();
    void trailingBytesIgnored_data();
    void trailingBytesIgnored();
    void fixedSizes_data();
    void fixedSizes();
    void maxViewFitsSealedDatagram();
    void maxTokenFitsSealedDatagram();
    void countsAboveLimitsAreMalformed_data();
    void countsAboveLimitsAreMalformed();
    void unknownEnumValuesDecodeAsNone();
};

void TestMessages::roundTrip_data()
{
    QTest::addColumn<QString>("name");
    for (const auto &[name, c] : allCases())
        QTest::newRow(qPrintable(name)) << name;
}

void TestMessages::roundTrip()
{
    QFETCH(QString, name);
    const Case c = allCases().at(name);
    QVERIFY(c.decodesEqual(c.encode()));
}

void TestMessages::truncatedIsMalformed_data() { roundTrip_data(); }

void TestMessages::truncatedIsMalformed()
{
    QFETCH(QString, name);
    const Case c = allCases().at(name);
    const QByteArray body = c.encode();
    for (qsizetype len = 0; len < body.size(); ++len)
        QVERIFY2(!c.decodes(QByteArrayView(body.constData(), len)),
                 qPrintable(QStringLiteral("%1 bytes of %2 accepted").arg(len).arg(body.size())));
}

void TestMessages::trailingBytesIgnored_data() { roundTrip_data(); }

void TestMessages::trailingBytesIgnored()
{
    QFETCH(QString, name);
    const Case c = allCases().at(name);
    QVERIFY(c.decodesEqual(c.encode() + QByteArray("\x01\x02\x03future-field", 15)));
}

void TestMessages::fixedSizes_data()
{
    QTest::addColumn<int>("size");
    QTest::addColumn<int>("expected");
    QTest::newRow("join 17") << int(encodeBody(JoinMsg{}).size()) << 17;
    QTest::newRow("view header 14") << int(encodeBody(ViewMsg{RingView{}}).size()) << kViewHeaderSize;
    QTest::newRow("view entry 21") << int(encodeBody(ViewMsg{bigView(1, 0)}).size() - kViewHeaderSize) << kViewEntrySize;
    QTest::newRow("viewack 8") << int(encodeBody(ViewAckMsg{}).size()) << 8;
    QTest::newRow("token header 21") << int(encodeBody(TokenMsg{}).size()) << kTokenHeaderSize;
    QTest::newRow("token update 15") << int(encodeBody(fullToken(1)).size() - kTokenHeaderSize) << kTokenUpdateSize;
    QTest::newRow("epoch 4") << int(encodeBody(EpochMsg{}).size()) << 4;
    QTest::newRow("observer hello 10") << int(encodeBody(ObserverHelloMsg{}).size()) << 10;
    QTest::newRow("beacon 19") << int(encodeBody(BeaconMsg{}).size()) << 19;
}

void TestMessages::fixedSizes()
{
    QFETCH(int, size);
    QFETCH(int, expected);
    QCOMPARE(size, expected);
}

void TestMessages::maxViewFitsSealedDatagram()
{
    const Endpoint to{0x0A000002, 7000};
    Sealer sealer(QByteArray(32, 'k'), 0x0A000001, 1);
    const QByteArray dg = sealer.seal(quint8(MessageType::View), to, encodeBody(ViewMsg{bigView(kMaxMembers, kMaxViewObservers)}));
    QVERIFY(!dg.isEmpty());
    QVERIFY2(dg.size() <= 1400, qPrintable(QString::number(dg.size())));
    // One more observer would not fit: the limit is the largest that does.
    QVERIFY2(dg.size() + kViewEntrySize > 1400, qPrintable(QString::number(dg.size())));
    Opener opener(QByteArray(32, 'k'), {to}, 1400);
    QVERIFY(opener.open(dg).envelope.has_value());
}

void TestMessages::maxTokenFitsSealedDatagram()
{
    Sealer sealer(QByteArray(32, 'k'), 0x0A000001, 1);
    const QByteArray dg = sealer.seal(quint8(MessageType::Token), Endpoint{0x0A000002, 7000}, encodeBody(fullToken(kMaxMembers)));
    QVERIFY2(dg.size() <= 1400, qPrintable(QString::number(dg.size())));
}

void TestMessages::countsAboveLimitsAreMalformed_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("isView");
    // Headers claiming more entries than allowed, padded with enough bytes for them.
    QByteArray view = encodeBody(ViewMsg{RingView{}});
    QByteArray tooManyMembers = view;
    tooManyMembers[12] = char(kMaxMembers + 1);
    tooManyMembers += QByteArray((kMaxMembers + 1) * kViewEntrySize, '\0');
    QByteArray tooManyObservers = view;
    tooManyObservers[13] = char(kMaxViewObservers + 1);
    tooManyObservers += QByteArray((kMaxViewObservers + 1) * kViewEntrySize, '\0');
    QByteArray token = encodeBody(TokenMsg{});
    token[20] = char(kMaxMembers + 1);
    token += QByteArray((kMaxMembers + 1) * kTokenUpdateSize, '\0');
    QByteArray tokenShort = encodeBody(TokenMsg{});
    tokenShort[20] = char(3);
    tokenShort += QByteArray(2 * kTokenUpdateSize, '\0');
    QTest::newRow("view with 57 members") << tooManyMembers << true;
    QTest::newRow("view with 9 observers") << tooManyObservers << true;
    QTest::newRow("token with 57 updates") << token << false;
    QTest::newRow("token claiming 3 updates carrying 2") << tokenShort << false;
}

void TestMessages::countsAboveLimitsAreMalformed()
{
    QFETCH(QByteArray, body);
    QFETCH(bool, isView);
    if (isView) {
        ViewMsg m;
        QVERIFY(!decodeBody(body, m));
    } else {
        TokenMsg m;
        QVERIFY(!decodeBody(body, m));
    }
}

void TestMessages::unknownEnumValuesDecodeAsNone()
{
    QByteArray body = encodeBody(fullToken(1));
    body[kTokenHeaderSize + 5] = char(0x7f); // role
    body[kTokenHeaderSize + 6] = char(0x7f); // health
    TokenMsg t;
    QVERIFY(decodeBody(body, t));
    QCOMPARE(int(t.updates.front().status.role), int(Role::None));
    QCOMPARE(int(t.updates.front().status.health), int(Health::Unknown));
}

QTEST_GUILESS_MAIN(TestMessages)
#include "tst_messages.moc"
