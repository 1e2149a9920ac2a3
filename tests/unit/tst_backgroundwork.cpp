// BackgroundWork (transport/backgroundwork.h): jobs run off the owner's thread at a lower
// priority, hand their results back with a queued call, and are never waited for by the owner
// except when it is destroyed. UdpTransport's lag figures: a busy owner thread is measured.
#include "transport/backgroundwork.h"
#include "transport/udptransport.h"

#include <QElapsedTimer>
#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTest>
#include <QTimer>
#include <QUdpSocket>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace sasha;

namespace {
int threadNice()
{
    errno = 0;
    return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
}
} // namespace

class TestBackgroundWork : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // A worker that is kept off the CPU after it posted its result (here: it sleeps) must not
    // hold up the owner: the result is handled at once and the owner's timers keep firing.
    void ownerNeverWaitsForAWorkerThatPosted()
    {
        BackgroundWork work(2);
        QElapsedTimer clock;
        clock.start();
        qint64 postedAt = -1, handledAt = -1;
        std::atomic<bool> returned{false};
        work.run([&] {
            postedAt = clock.elapsed();
            QMetaObject::invokeMethod(this, [&] { handledAt = clock.elapsed(); }, Qt::QueuedConnection);
            std::this_thread::sleep_for(std::chrono::milliseconds(400)); // "descheduled" after posting
            returned = true;
        });
        qint64 lastTick = clock.elapsed(), worstGap = 0;
        QTimer tick;
        tick.setInterval(10);
        connect(&tick, &QTimer::timeout, this, [&] {
            worstGap = std::max(worstGap, clock.elapsed() - lastTick);
            lastTick = clock.elapsed();
        });
        tick.start();
        QTRY_VERIFY_WITH_TIMEOUT(handledAt >= 0, 2000);
        QVERIFY2(!returned, "the result was handled only after the worker returned");
        QVERIFY2(handledAt - postedAt < 200, qPrintable(QStringLiteral("handled %1 ms after it was posted").arg(handledAt - postedAt)));
        QTest::qWait(100);
        QVERIFY2(worstGap < 150, qPrintable(QStringLiteral("the owner's timer stalled for %1 ms").arg(worstGap)));
        work.waitForDone();
        QVERIFY(returned);
    }

    // Jobs run at a lower priority than the thread that queued them, lowered once per pool thread
    // (not once per job: ten jobs on one thread stay at the same niceness).
    void jobsRunNicerThanTheOwnerOnce()
    {
        const int owner = threadNice();
        if (owner >= 19)
            QSKIP("this process already runs at niceness 19: nothing to lower");
        BackgroundWork work(1);
        std::vector<int> seen;
        std::mutex m;
        for (int i = 0; i < 10; ++i) {
            work.run([&] {
                const int n = threadNice();
                std::lock_guard lock(m);
                seen.push_back(n);
            });
        }
        work.waitForDone();
        QCOMPARE(int(seen.size()), 10);
        for (int n : seen) {
            QVERIFY2(n > owner, qPrintable(QStringLiteral("a job ran at niceness %1, its owner at %2").arg(n).arg(owner)));
            QCOMPARE(n, seen.front());
        }
    }

    // The destructor waits for jobs still running (they may use their owner's members).
    void destructorWaitsForRunningJobs()
    {
        std::atomic<bool> finished{false};
        {
            BackgroundWork work(1);
            work.run([&] {
                std::this_thread::sleep_for(std::chrono::milliseconds(150));
                finished = true;
            });
        }
        QVERIFY(finished);
    }

    // UdpTransport measures how long received datagrams waited for its owner's thread.
    void transportMeasuresTheOwnersLag()
    {
        UdpTransport transport;
        QVERIFY(!transport.bind({QHostAddress(QHostAddress::LocalHost).toIPv4Address(), 0}));
        QSignalSpy received(&transport, &UdpTransport::datagramReceived);
        QUdpSocket sender;
        const auto to = transport.localEndpoint();
        // A datagram handled at once: some lag, far below 50 ms.
        sender.writeDatagram(QByteArray("quick"), QHostAddress(to.ip), to.port);
        QTRY_COMPARE_WITH_TIMEOUT(received.count(), 1, 2000);
        QCOMPARE(transport.stats().value(QLatin1String("lateDeliveries")).toInteger(), 0);
        // The owner busy for 120 ms while a datagram waits: one late batch, lag >= 100 ms.
        sender.writeDatagram(QByteArray("late"), QHostAddress(to.ip), to.port);
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
        QTRY_COMPARE_WITH_TIMEOUT(received.count(), 2, 2000);
        const QJsonObject s = transport.stats();
        QCOMPARE(s.value(QLatin1String("lateDeliveries")).toInteger(), 1);
        QVERIFY2(s.value(QLatin1String("deliveryLagMaxMs")).toDouble() >= 100.0,
                 qPrintable(QString::number(s.value(QLatin1String("deliveryLagMaxMs")).toDouble())));
        // The owner slept: the lag is neither run-queue time nor CPU time (schedstat).
        QJsonObject worst = s.value(QLatin1String("lateWorst")).toObject();
        const auto text = [](const QJsonObject &o) { return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact)); };
        QVERIFY2(worst.value(QLatin1String("runQueueMs")).toDouble() >= 0 && worst.value(QLatin1String("cpuMs")).toDouble() >= 0,
                 qPrintable(text(worst)));
        QVERIFY2(worst.value(QLatin1String("runQueueMs")).toDouble() + worst.value(QLatin1String("cpuMs")).toDouble()
                     < worst.value(QLatin1String("ms")).toDouble() - 50.0,
                 qPrintable(text(worst)));
        // The owner busy on the CPU for 250 ms: the lag is the thread's own CPU time (or, on a
        // loaded machine, partly its wait for one).
        sender.writeDatagram(QByteArray("busy"), QHostAddress(to.ip), to.port);
        QElapsedTimer spin;
        spin.start();
        volatile quint64 sink = 0;
        while (spin.elapsed() < 250)
            sink = sink + 1;
        QTRY_COMPARE_WITH_TIMEOUT(received.count(), 3, 2000);
        worst = transport.stats().value(QLatin1String("lateWorst")).toObject();
        QVERIFY2(worst.value(QLatin1String("ms")).toDouble() >= 200.0, qPrintable(text(worst)));
        QVERIFY2(worst.value(QLatin1String("runQueueMs")).toDouble() + worst.value(QLatin1String("cpuMs")).toDouble() >= 200.0,
                 qPrintable(text(worst)));
    }

    // UdpTransport measures how long datagrams waited between their arrival (the kernel's
    // timestamp) and the receive thread's read: here the receive thread is held 60 ms in the
    // admission check of the first datagram while the second waits in the socket.
    void transportMeasuresTheReceiveWait()
    {
        UdpTransport transport;
        std::atomic<int> admitted{0};
        transport.setAdmission([&admitted](QByteArrayView) -> std::optional<tb::DropReason> {
            if (admitted.fetch_add(1) == 0)
                std::this_thread::sleep_for(std::chrono::milliseconds(60));
            return std::nullopt;
        });
        QVERIFY(!transport.bind({QHostAddress(QHostAddress::LocalHost).toIPv4Address(), 0}));
        QSignalSpy received(&transport, &UdpTransport::datagramReceived);
        QUdpSocket sender;
        const auto to = transport.localEndpoint();
        sender.writeDatagram(QByteArray("first"), QHostAddress(to.ip), to.port);
        for (int i = 0; i < 200 && admitted.load() == 0; ++i) // bounded: 2 s
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        QCOMPARE(admitted.load(), 1);
        QCOMPARE(transport.stats().value(QLatin1String("receiveWaitLate")).toInteger(), 0);
        sender.writeDatagram(QByteArray("second"), QHostAddress(to.ip), to.port);
        QTRY_COMPARE_WITH_TIMEOUT(received.count(), 2, 2000);
        const QJsonObject s = transport.stats();
        QCOMPARE(s.value(QLatin1String("receiveWaitLate")).toInteger(), 1);
        const double waitMs = s.value(QLatin1String("receiveWaitMaxMs")).toDouble();
        QVERIFY2(waitMs >= 30.0 && waitMs < 2000.0, qPrintable(QString::number(waitMs)));
    }
};

QTEST_GUILESS_MAIN(TestBackgroundWork)
#include "tst_backgroundwork.moc"
