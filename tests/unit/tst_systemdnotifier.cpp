// SystemdNotifier with a fake sd_notify and a given watchdog interval: what reaches systemd and
// how often the watchdog is fed (half the interval, sd_watchdog_enabled(3)).

#include "systemdnotifier.h"

#include <QTest>


using namespace sasha;
using namespace std::chrono_literals;

class TestSystemdNotifier : public QObject {
    Q_OBJECT

private:
    QByteArrayList m_sent;
    SystemdNotifier make(tb::Time interval)
    {
        return SystemdNotifier([this](const QByteArray &s) { m_sent.push_back(s); return 1; },
                               [interval] { return interval; });
    }

private Q_SLOTS:
    void init() { m_sent.clear(); }

    void readyOnceThenStatusOnChangeOnly()
    {
        SystemdNotifier n = make(0us);
        QVERIFY(!n.isReady());
        n.ready(QStringLiteral("server in a ring of 3"));
        n.ready(QStringLiteral("server in a ring of 3 again"));
        QVERIFY(n.isReady());
        n.status(QStringLiteral("server in a ring of 3"));
        n.status(QStringLiteral("dispatcher in a ring of 2"));
        n.status(QStringLiteral("dispatcher in a ring of 2"));
        n.status(QStringLiteral("two\nlines"));
        n.stopping();
        const QByteArrayList expected{
            "READY=1\nSTATUS=server in a ring of 3",
            "STATUS=dispatcher in a ring of 2",
            "STATUS=two lines",
            "STOPPING=1\nSTATUS=leaving the ring",
        };
        QCOMPARE(m_sent.join('|'), expected.join('|'));
    }

    void watchdog_data()
    {
        QTest::addColumn<qint64>("intervalMs");
        QTest::addColumn<QList<qint64>>("beatsAtMs");
        QTest::addColumn<QList<qint64>>("fedAtMs");
        QTest::newRow("no watchdog: never fed") << qint64(0) << QList<qint64>{0, 1000, 5000} << QList<qint64>{};
        QTest::newRow("5 s: first beat feeds, then every 2.5 s")
            << qint64(5000) << QList<qint64>{0, 100, 2400, 2500, 2600, 4999, 5000, 9000}
            << QList<qint64>{0, 2500, 5000, 9000};
        QTest::newRow("a late beat feeds at once") << qint64(1000) << QList<qint64>{10, 4000, 4100, 4500}
                                                   << QList<qint64>{10, 4000, 4500};
    }
    void watchdog()
    {
        QFETCH(qint64, intervalMs);
        QFETCH(QList<qint64>, beatsAtMs);
        QFETCH(QList<qint64>, fedAtMs);
        SystemdNotifier n = make(std::chrono::milliseconds(intervalMs));
        QCOMPARE(n.watchdogInterval(), tb::Time(std::chrono::milliseconds(intervalMs)));
        QCOMPARE(n.beatEvery(), tb::Time(std::chrono::milliseconds(intervalMs / 2)));
        QList<qint64> fed;
        for (qint64 at : beatsAtMs) {
            const qsizetype before = m_sent.size();
            n.beat(std::chrono::milliseconds(at));
            if (m_sent.size() > before) {
                QCOMPARE(m_sent.back(), QByteArray("WATCHDOG=1"));
                fed.append(at);
            }
        }
        QCOMPARE(fed, fedAtMs);
        QCOMPARE(n.watchdogSent(), quint64(fedAtMs.size()));
    }
};

QTEST_GUILESS_MAIN(TestSystemdNotifier)
#include "tst_systemdnotifier.moc"
