// Specification of sashad's journal records: priorities from Qt's message types and from event
// kinds, the structured fields, and the JOURNAL_STREAM check systemd documents.

#include "log/journalfields.h"

#include <QTest>

using namespace sasha;

class TestJournalFields : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void messageTypePriority_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("priority");
        QTest::newRow("debug") << int(QtDebugMsg) << 7;
        QTest::newRow("info") << int(QtInfoMsg) << 6;
        QTest::newRow("warning") << int(QtWarningMsg) << 4;
        QTest::newRow("critical is err") << int(QtCriticalMsg) << 3;
        QTest::newRow("fatal is crit") << int(QtFatalMsg) << 2;
    }
    void messageTypePriority()
    {
        QFETCH(int, type);
        QFETCH(int, priority);
        QCOMPARE(journalPriority(QtMsgType(type)), priority);
    }

    void eventPriority_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<int>("priority");
        QTest::newRow("purge warning") << QStringLiteral("purge-started") << 4;
        QTest::newRow("token timeout warning") << QStringLiteral("token-timeout") << 4;
        QTest::newRow("member lost warning") << QStringLiteral("member-lost") << 4;
        QTest::newRow("fault injected warning") << QStringLiteral("fault-injected") << 4;
        QTest::newRow("dispatcher failed err") << QStringLiteral("dispatcher-failed") << 3;
        QTest::newRow("dispatcher elected notice") << QStringLiteral("dispatcher-elected") << 5;
        QTest::newRow("drained notice") << QStringLiteral("node-drained") << 5;
        QTest::newRow("first forward info") << QStringLiteral("first-forward") << 6;
        QTest::newRow("unknown kind info") << QStringLiteral("something-new") << 6;
    }
    void eventPriority()
    {
        QFETCH(QString, kind);
        QFETCH(int, priority);
        QCOMPARE(sasha::eventPriority(kind), priority);
    }

    void fieldsOfAnEventLine()
    {
        const auto f = journalFields(kLogWarning, "sasha.ring", QStringLiteral("sasha.ring: purge-started 10.0.0.3"),
                                     JournalContext{QStringLiteral("10.0.0.1"), 42, QStringLiteral("purge-started")});
        const std::vector<QByteArray> expected{"MESSAGE=sasha.ring: purge-started 10.0.0.3", "PRIORITY=4",
                                               "SYSLOG_IDENTIFIER=sashad", "SASHA_CATEGORY=sasha.ring",
                                               "SASHA_NODE=10.0.0.1", "SASHA_EPOCH=42", "SASHA_EVENT=purge-started"};
        QCOMPARE(f, expected);
    }

    void plainLineHasNoEventField()
    {
        const auto f = journalFields(kLogInfo, "sasha.config", QStringLiteral("running"), JournalContext{QStringLiteral("10.0.0.1"), 0, {}});
        QCOMPARE(f.size(), std::size_t(6));
        for (const QByteArray &field : f)
            QVERIFY2(!field.startsWith("SASHA_EVENT="), field.constData());
        QCOMPARE(f[5], QByteArray("SASHA_EPOCH=0"));
    }

    void multiLineMessageStaysOneField()
    {
        const auto f = journalFields(kLogErr, "sasha.ring", QStringLiteral("a\nb"), JournalContext{});
        QCOMPARE(f[0], QByteArray("MESSAGE=a\nb")); // sd_journal_sendv carries it in binary form
    }

    void journalStream_data()
    {
        QTest::addColumn<QByteArray>("env");
        QTest::addColumn<bool>("matches");
        QTest::newRow("same device and inode") << QByteArray("64769:123456") << true;
        QTest::newRow("other inode") << QByteArray("64769:123457") << false;
        QTest::newRow("other device") << QByteArray("1:123456") << false;
        QTest::newRow("unset") << QByteArray() << false;
        QTest::newRow("no colon") << QByteArray("64769") << false;
        QTest::newRow("junk") << QByteArray("a:b") << false;
    }
    void journalStream()
    {
        QFETCH(QByteArray, env);
        QFETCH(bool, matches);
        QCOMPARE(journalStreamMatches(env, dev_t(64769), ino_t(123456)), matches);
    }
};

QTEST_APPLESS_MAIN(TestJournalFields)
#include "tst_journalfields.moc"
