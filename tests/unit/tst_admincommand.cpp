// Specification of the admin command codec (common/control/admincommand.h): round trips of
// commands, replies and reports, the exact wire layout, and every malformed payload rejected
// with a reason.

#include "control/admincommand.h"

#include <QTest>

using namespace sasha;

namespace {
constexpr quint32 kTarget = 0x0a000003; // 10.0.0.3

QByteArray hex(const char *h) { return QByteArray::fromHex(h); }
} // namespace

class TestAdminCommand : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void commandRoundTrip_data()
    {
        QTest::addColumn<int>("action");
        QTest::addColumn<quint16>("weight");
        QTest::newRow("drain") << int(AdminAction::Drain) << quint16(0);
        QTest::newRow("undrain") << int(AdminAction::Undrain) << quint16(0);
        QTest::newRow("weight 0 (no new flows)") << int(AdminAction::Weight) << quint16(0);
        QTest::newRow("weight 1") << int(AdminAction::Weight) << quint16(1);
        QTest::newRow("weight 65535 (largest)") << int(AdminAction::Weight) << quint16(65535);
    }
    void commandRoundTrip()
    {
        QFETCH(int, action);
        QFETCH(quint16, weight);
        const AdminCommand c{AdminAction(action), 0xdeadbeef, kTarget, weight};
        const QByteArray wire = encodeAdminCommand(c);
        QCOMPARE(wire.size(), kAdminCommandSize);
        QCOMPARE(adminMessageType(wire), quint8(1));
        QString error;
        const auto back = decodeAdminCommand(wire, &error);
        QVERIFY2(back.has_value(), qPrintable(error));
        QVERIFY(*back == c);
    }

    void commandWireLayout()
    {
        const QByteArray wire = encodeAdminCommand({AdminAction::Weight, 0x01020304, kTarget, 0x0506});
        QCOMPARE(wire.toHex(), QByteArray("01010300010203040a00000305060000"));
    }

    // weight NODE clear: flag kAdminClearWeight, weight 0 on the wire whatever the struct holds.
    void clearWeightWireLayoutAndRoundTrip()
    {
        const AdminCommand c{AdminAction::Weight, 0x01020304, kTarget, 0, true};
        const QByteArray wire = encodeAdminCommand(c);
        QCOMPARE(wire.toHex(), QByteArray("01010301010203040a00000300000000"));
        QString error;
        const auto back = decodeAdminCommand(wire, &error);
        QVERIFY2(back.has_value(), qPrintable(error));
        QVERIFY(*back == c);
        QCOMPARE(encodeAdminCommand({AdminAction::Weight, 0x01020304, kTarget, 7, true}), wire);
    }

    void malformedCommand_data()
    {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<QString>("reason");
        const QByteArray good = hex("01010300010203040a00000305060000");
        QTest::newRow("empty") << QByteArray() << "truncated: 0 bytes, need 16";
        QTest::newRow("15 bytes") << good.left(15) << "truncated: 15 bytes, need 16";
        QTest::newRow("version 2") << QByteArray(good).replace(0, 1, "\x02") << "unknown admin message version 2";
        QTest::newRow("reply type") << QByteArray(good).replace(1, 1, "\x02") << "type 2, expected 1";
        QTest::newRow("action 0") << QByteArray(good).replace(2, 1, QByteArray(1, '\0')) << "unknown admin action 0";
        QTest::newRow("action 4") << QByteArray(good).replace(2, 1, "\x04") << "unknown admin action 4";
        QTest::newRow("drain with a weight") << QByteArray(good).replace(2, 1, "\x01") << "drain takes no weight; got 1286";
        QTest::newRow("undrain with a weight") << QByteArray(good).replace(2, 1, "\x02") << "undrain takes no weight";
        QTest::newRow("no target") << QByteArray(good).replace(8, 4, QByteArray(4, '\0')) << "without a target";
        QTest::newRow("clear with a weight") << QByteArray(good).replace(3, 1, "\x01")
                                             << "clear-weight flag on weight with weight 1286";
        QTest::newRow("clear on drain") << hex("01010101010203040a00000300000000") << "clear-weight flag on drain";
    }
    void malformedCommand()
    {
        QFETCH(QByteArray, payload);
        QFETCH(QString, reason);
        QString error;
        QVERIFY(!decodeAdminCommand(payload, &error).has_value());
        QVERIFY2(error.contains(reason), qPrintable(error));
        QVERIFY(!decodeAdminCommand(payload).has_value()); // error may be null
    }

    void replyRoundTrip_data()
    {
        QTest::addColumn<int>("action");
        QTest::addColumn<int>("result");
        QTest::addColumn<QString>("message");
        QTest::newRow("drain accepted, no message") << int(AdminAction::Drain) << int(AdminResult::Accepted) << QString();
        QTest::newRow("undrain wrong target") << int(AdminAction::Undrain) << int(AdminResult::WrongTarget)
                                              << QStringLiteral("this is node2 (10.0.0.2), not 10.0.0.3");
        QTest::newRow("weight failed, UTF-8 message") << int(AdminAction::Weight) << int(AdminResult::Failed)
                                                      << QStringLiteral("état non enregistré: /var/lib/sasha");
    }
    void replyRoundTrip()
    {
        QFETCH(int, action);
        QFETCH(int, result);
        QFETCH(QString, message);
        const AdminReply r{AdminAction(action), AdminResult(result), 42, kTarget, message};
        const QByteArray wire = encodeAdminReply(r);
        QCOMPARE(wire.size(), kAdminReplyFixedSize + message.toUtf8().size());
        QCOMPARE(adminMessageType(wire), quint8(2));
        QString error;
        const auto back = decodeAdminReply(wire, &error);
        QVERIFY2(back.has_value(), qPrintable(error));
        QVERIFY(*back == r);
    }

    void replyWireLayoutAndTruncation()
    {
        QCOMPARE(encodeAdminReply({AdminAction::Drain, AdminResult::Failed, 7, kTarget, QStringLiteral("ab")}).toHex(),
                 QByteArray("01020102000000070a00000300000002" "6162"));
        const AdminReply longer{AdminAction::Drain, AdminResult::Accepted, 1, kTarget, QString(kMaxAdminMessage + 10, QLatin1Char('x'))};
        const auto back = decodeAdminReply(encodeAdminReply(longer));
        QVERIFY(back.has_value());
        QCOMPARE(back->message.size(), kMaxAdminMessage);
    }

    void malformedReply_data()
    {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<QString>("reason");
        const QByteArray good = hex("01020102000000070a00000300000002" "6162");
        QTest::newRow("15 bytes") << good.left(15) << "truncated: 15 bytes, need 16";
        QTest::newRow("version 0") << QByteArray(good).replace(0, 1, QByteArray(1, '\0')) << "unknown admin message version 0";
        QTest::newRow("command type") << QByteArray(good).replace(1, 1, "\x01") << "type 1, expected 2";
        QTest::newRow("action 9") << QByteArray(good).replace(2, 1, "\x09") << "unknown admin action 9";
        QTest::newRow("result 3") << QByteArray(good).replace(3, 1, "\x03") << "unknown admin result 3";
        QTest::newRow("message longer than the bytes") << good.left(17) << "length 2 exceeds the 1 bytes present";
        QTest::newRow("message beyond the limit") << QByteArray(good).replace(14, 2, hex("0201")) + QByteArray(600, 'x')
                                                  << "length 513 exceeds";
    }
    void malformedReply()
    {
        QFETCH(QByteArray, payload);
        QFETCH(QString, reason);
        QString error;
        QVERIFY(!decodeAdminReply(payload, &error).has_value());
        QVERIFY2(error.contains(reason), qPrintable(error));
    }

    void reportRoundTrip_data()
    {
        QTest::addColumn<bool>("drained");
        QTest::addColumn<int>("weight"); // -1: none set
        QTest::addColumn<quint32>("openFlows");
        QTest::newRow("in service, no weight, idle") << false << -1 << 0u;
        QTest::newRow("drained, flows left") << true << -1 << 1234u;
        QTest::newRow("weight 0") << false << 0 << 5u;
        QTest::newRow("drained and weight 65535") << true << 65535 << 0xffffffffu;
    }
    void reportRoundTrip()
    {
        QFETCH(bool, drained);
        QFETCH(int, weight);
        QFETCH(quint32, openFlows);
        AdminReport r;
        r.drained = drained;
        if (weight >= 0)
            r.weight = quint16(weight);
        r.openFlows = openFlows;
        const QByteArray wire = encodeAdminReport(r);
        QCOMPARE(wire.size(), kAdminReportSize);
        QString error;
        const auto back = decodeAdminReport(wire, &error);
        QVERIFY2(back.has_value(), qPrintable(error));
        QVERIFY(*back == r);
    }

    void reportWireLayout()
    {
        AdminReport r;
        r.drained = true;
        r.weight = 0x0102;
        r.openFlows = 0x03040506;
        QCOMPARE(encodeAdminReport(r).toHex(), QByteArray("0103010203040506"));
    }

    void malformedReport_data()
    {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<QString>("reason");
        QTest::newRow("empty") << QByteArray() << "truncated: 0 bytes, need 8";
        QTest::newRow("7 bytes") << hex("01030102030405") << "truncated: 7 bytes, need 8";
        QTest::newRow("version 2") << hex("0203010203040506") << "unknown admin report version 2";
    }
    void malformedReport()
    {
        QFETCH(QByteArray, payload);
        QFETCH(QString, reason);
        QString error;
        QVERIFY(!decodeAdminReport(payload, &error).has_value());
        QVERIFY2(error.contains(reason), qPrintable(error));
    }

    void trailingBytesAndUnknownFlagsIgnored()
    {
        const AdminCommand c{AdminAction::Drain, 9, kTarget, 0};
        QVERIFY(decodeAdminCommand(encodeAdminCommand(c) + "later") == c);
        QByteArray flagged = encodeAdminCommand(c);
        flagged[3] = char(0x80);
        QVERIFY(decodeAdminCommand(flagged) == c);
        const AdminReply r{AdminAction::Undrain, AdminResult::Accepted, 9, kTarget, QStringLiteral("ok")};
        QVERIFY(decodeAdminReply(encodeAdminReply(r) + "later") == r);
        const auto report = decodeAdminReport(hex("01fc000000000007") + "later"); // unknown flag bits, weight unset
        QVERIFY(report.has_value());
        QVERIFY(!report->drained);
        QVERIFY(!report->weight.has_value());
        QCOMPARE(report->openFlows, 7u);
    }

    void names()
    {
        for (auto a : {AdminAction::Drain, AdminAction::Undrain, AdminAction::Weight})
            QCOMPARE(adminActionFromName(adminActionName(a)), std::optional<AdminAction>(a));
        QVERIFY(!adminActionFromName(QStringLiteral("restore")).has_value());
        QCOMPARE(adminResultName(AdminResult::WrongTarget), QStringLiteral("wrong-target"));
        QCOMPARE(adminMessageType(QByteArray("\x01", 1)), quint8(0));
        QCOMPARE(adminMessageType(hex("0902")), quint8(0));
    }
};

QTEST_GUILESS_MAIN(TestAdminCommand)
#include "tst_admincommand.moc"
