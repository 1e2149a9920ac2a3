// Specification of the fault-injection command codec (common/control/faultcommand.h): round
// trips, the exact wire layout, and every malformed payload rejected with a reason.

#include "control/faultcommand.h"

#include <QTest>

using namespace sasha;

class TestFaultCommand : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void commandRoundTrip_data();
    void commandRoundTrip();
    void commandWireLayout();
    void malformedCommand_data();
    void malformedCommand();
    void replyRoundTrip_data();
    void replyRoundTrip();
    void replyMessageTruncatedOnEncode();
    void malformedReply_data();
    void malformedReply();
    void trailingBytesIgnored();
    void actionNames();
    void messageType();
};

void TestFaultCommand::commandRoundTrip_data()
{
    QTest::addColumn<int>("action");
    QTest::addColumn<int>("flags");
    QTest::addColumn<quint32>("duration");
    QTest::newRow("crash") << int(FaultAction::Crash) << 0 << 0u;
    QTest::newRow("kill dispatcher: crash only if dispatcher") << int(FaultAction::Crash) << int(kOnlyIfDispatcher) << 0u;
    QTest::newRow("hang 1 ms (shortest)") << int(FaultAction::Hang) << 0 << 1u;
    QTest::newRow("hang 10 min (longest)") << int(FaultAction::Hang) << 0 << kMaxFaultDurationMs;
    QTest::newRow("unplug 5 s") << int(FaultAction::Unplug) << 0 << 5000u;
    QTest::newRow("drain") << int(FaultAction::Drain) << 0 << 0u;
    QTest::newRow("restore") << int(FaultAction::Restore) << 0 << 0u;
}

void TestFaultCommand::commandRoundTrip()
{
    QFETCH(int, action);
    QFETCH(int, flags);
    QFETCH(quint32, duration);
    FaultCommand c{FaultAction(action), quint8(flags), 0xdeadbeef, 0x7f000102, duration};
    const QByteArray wire = encodeFaultCommand(c);
    QCOMPARE(wire.size(), kFaultCommandSize);
    QString error;
    const auto back = decodeFaultCommand(wire, &error);
    QVERIFY2(back.has_value(), qPrintable(error));
    QVERIFY(*back == c);
}

void TestFaultCommand::commandWireLayout()
{
    const FaultCommand c{FaultAction::Unplug, kOnlyIfDispatcher, 0x01020304, 0x7f000003, 2500};
    QCOMPARE(encodeFaultCommand(c).toHex(),
             QByteArray("01" "01" "03" "01" "01020304" "7f000003" "000009c4"));
}

void TestFaultCommand::malformedCommand_data()
{
    QTest::addColumn<QByteArray>("hex");
    QTest::addColumn<QString>("reason");
    QTest::newRow("empty") << QByteArray("") << "truncated";
    QTest::newRow("15 bytes") << QByteArray("010101000000000100000002000000") << "truncated";
    QTest::newRow("version 2") << QByteArray("02010100000000017f00000200000000") << "version";
    QTest::newRow("reply type where a command is expected") << QByteArray("01020100000000017f00000200000000") << "type";
    QTest::newRow("action 0") << QByteArray("01010000000000017f00000200000000") << "action";
    QTest::newRow("action 6") << QByteArray("01010600000000017f00000200000000") << "action";
    QTest::newRow("hang without duration") << QByteArray("01010200000000017f00000200000000") << "duration";
    QTest::newRow("unplug beyond 10 min") << QByteArray("01010300000000017f000002000927c1") << "duration";
    QTest::newRow("crash with a duration") << QByteArray("01010100000000017f00000200000001") << "no duration";
    QTest::newRow("no target") << QByteArray("01010100000000010000000000000000") << "target";
}

void TestFaultCommand::malformedCommand()
{
    QFETCH(QByteArray, hex);
    QFETCH(QString, reason);
    QString error;
    QVERIFY(!decodeFaultCommand(QByteArray::fromHex(hex), &error).has_value());
    QVERIFY2(error.contains(reason), qPrintable(error));
    QVERIFY(!decodeFaultCommand(QByteArray::fromHex(hex)).has_value()); // null error pointer is fine
}

void TestFaultCommand::replyRoundTrip_data()
{
    QTest::addColumn<int>("result");
    QTest::addColumn<QString>("message");
    QTest::newRow("accepted, no message") << int(FaultResult::Accepted) << QString();
    QTest::newRow("disabled with the fix") << int(FaultResult::Disabled)
                                           << QStringLiteral("fault injection is off: set [faults] enabled = true");
    QTest::newRow("wrong target") << int(FaultResult::WrongTarget) << QStringLiteral("not the dispatcher");
    QTest::newRow("failed, non-ASCII message") << int(FaultResult::Failed) << QStringLiteral("échec: ip link → EPERM");
}

void TestFaultCommand::replyRoundTrip()
{
    QFETCH(int, result);
    QFETCH(QString, message);
    const FaultReply r{FaultAction::Hang, FaultResult(result), 42, 0x7f000005, message};
    QString error;
    const auto back = decodeFaultReply(encodeFaultReply(r), &error);
    QVERIFY2(back.has_value(), qPrintable(error));
    QVERIFY(*back == r);
}

void TestFaultCommand::replyMessageTruncatedOnEncode()
{
    const FaultReply r{FaultAction::Crash, FaultResult::Failed, 1, 2, QString(2000, QLatin1Char('x'))};
    const QByteArray wire = encodeFaultReply(r);
    QCOMPARE(wire.size(), kFaultReplyFixedSize + kMaxFaultMessage);
    const auto back = decodeFaultReply(wire);
    QVERIFY(back.has_value());
    QCOMPARE(back->message.size(), kMaxFaultMessage);

    // Cut at a character boundary: 2-byte characters never leave half a character on the wire
    // (the decoder refuses invalid UTF-8), and the message still decodes (found by fuzz_feeds).
    const FaultReply wide{FaultAction::Crash, FaultResult::Failed, 1, 2, QString(2000, QChar(0xE9))};
    const auto wideBack = decodeFaultReply(encodeFaultReply(wide));
    QVERIFY(wideBack.has_value());
    QCOMPARE(wideBack->message, QString(kMaxFaultMessage / 2, QChar(0xE9)));
}

void TestFaultCommand::malformedReply_data()
{
    QTest::addColumn<QByteArray>("hex");
    QTest::addColumn<QString>("reason");
    QTest::newRow("truncated fixed part") << QByteArray("0102010000000001") << "truncated";
    QTest::newRow("message not valid UTF-8") << (QByteArray(encodeFaultReply({FaultAction::Crash, FaultResult::Failed, 1, 2, QStringLiteral("ab")}).toHex())
                                                   .replace(QByteArray("6162"), QByteArray("b3b3")))
                                             << "not valid UTF-8";
    QTest::newRow("command type where a reply is expected") << QByteArray("01010100000000010000000200000000") << "type";
    QTest::newRow("result 9") << QByteArray("01020109000000010000000200000000") << "result";
    QTest::newRow("message longer than the bytes present") << QByteArray("0102010000000001000000020000000561") << "length";
    QTest::newRow("message length beyond the limit") << QByteArray("01020100000000010000000200000201") << "length";
}

void TestFaultCommand::malformedReply()
{
    QFETCH(QByteArray, hex);
    QFETCH(QString, reason);
    QString error;
    QVERIFY(!decodeFaultReply(QByteArray::fromHex(hex), &error).has_value());
    QVERIFY2(error.contains(reason), qPrintable(error));
}

void TestFaultCommand::trailingBytesIgnored()
{
    const FaultCommand c{FaultAction::Drain, 0, 7, 9, 0};
    const auto back = decodeFaultCommand(encodeFaultCommand(c) + QByteArray("later fields"));
    QVERIFY(back.has_value());
    QVERIFY(*back == c);
}

void TestFaultCommand::actionNames()
{
    for (quint8 a = 1; a <= 5; ++a) {
        const auto action = FaultAction(a);
        QCOMPARE(faultActionFromName(faultActionName(action)), std::optional<FaultAction>(action));
    }
    QVERIFY(!faultActionFromName(QStringLiteral("explode")).has_value());
    QVERIFY(faultActionIsDestructive(FaultAction::Crash));
    QVERIFY(!faultActionIsDestructive(FaultAction::Restore));
}

void TestFaultCommand::messageType()
{
    QCOMPARE(faultMessageType(encodeFaultCommand({FaultAction::Crash, 0, 1, 2, 0})), quint8(1));
    QCOMPARE(faultMessageType(encodeFaultReply({})), quint8(2));
    QCOMPARE(faultMessageType(QByteArray("\x01")), quint8(0));
}

QTEST_APPLESS_MAIN(TestFaultCommand)
#include "tst_faultcommand.moc"
