// sashactl's human renderings (daemon/sashactl/humanformat.*): what an operator reads in
// `sashactl status` / `counters` must carry the figures the JSON has.

#include "humanformat.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

using namespace sasha;

class TestHumanFormat : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void dispatcherFramesAndDrops_data();
    void dispatcherFramesAndDrops();
};

namespace {
QJsonObject dispatcherStats(const char *fastPathJson)
{
    QJsonObject d{{QStringLiteral("running"), true},
                  {QStringLiteral("interface"), QStringLiteral("eth0")},
                  {QStringLiteral("vip"), QStringLiteral("10.77.0.200")},
                  {QStringLiteral("vmac"), QStringLiteral("02:5a:5a:00:00:01")},
                  {QStringLiteral("scheduler"), QStringLiteral("maglev")},
                  {QStringLiteral("injector"), QStringLiteral("tx-ring")}};
    d.insert(QStringLiteral("fastPath"), QJsonDocument::fromJson(fastPathJson).object());
    d.insert(QStringLiteral("thread"), QJsonObject{{QStringLiteral("captured"), 1200}, {QStringLiteral("injected"), 1100},
                                                   {QStringLiteral("injectErrors"), 2}, {QStringLiteral("kernelDropped"), 3}});
    return d;
}
} // namespace

void TestHumanFormat::dispatcherFramesAndDrops_data()
{
    QTest::addColumn<QByteArray>("fastPath");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("frames line carries forwarded, local and the ICMP part")
        << QByteArray(R"({"framesIn":1200,"forwarded":1090,"deliveredLocal":10,"icmpForwarded":7,"dropped":{}})")
        << QStringList{QStringLiteral("1200 in, 1090 forwarded, 10 local (7 of them ICMP errors)"),
                       QStringLiteral("1200 captured, 1100 injected (2 errors), 3 kernel drops"),
                       QStringLiteral("injector tx-ring"), QStringLiteral("none")};
    QTest::newRow("nested drop reasons listed, zero ones left out")
        << QByteArray(R"({"framesIn":10,"forwarded":4,"deliveredLocal":0,"icmpForwarded":0,)"
                      R"("dropped":{"unknownFlow":3,"icmp":{"icmp-unhandled-type":2,"icmp-quote-not-vip":0},"malformed":{"truncated":1}}})")
        << QStringList{QStringLiteral("unknownFlow 3"), QStringLiteral("icmp-unhandled-type 2"), QStringLiteral("truncated 1")};
}

void TestHumanFormat::dispatcherFramesAndDrops()
{
    QFETCH(QByteArray, fastPath);
    QFETCH(QStringList, expected);
    const QString text = formatDispatcher(dispatcherStats(fastPath.constData()));
    for (const QString &e : expected)
        QVERIFY2(text.contains(e), qPrintable(QStringLiteral("missing '%1' in:\n%2").arg(e, text)));
    QVERIFY2(!text.contains(QStringLiteral("icmp-quote-not-vip")), qPrintable(text));
}

QTEST_GUILESS_MAIN(TestHumanFormat)
#include "tst_humanformat.moc"
