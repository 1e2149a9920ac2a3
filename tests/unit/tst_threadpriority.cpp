// threadpriority.h: a worker yields to the ring's thread (its own niceness only), and the
// session's (autogroup) niceness is read and set (in a child of its own session, so that this
// test's session is left as it was).
#include "transport/threadpriority.h"

#include <QTest>

#include <sys/wait.h>

#include <thread>

using namespace sasha;

class TestThreadPriority : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void workerYieldsAlone();
    void autogroupParsed_data();
    void autogroupParsed();
    void sessionNiceSet();
};

namespace {
int threadNice()
{
    errno = 0;
    const int n = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
    return errno == 0 ? n : -100;
}
} // namespace

void TestThreadPriority::workerYieldsAlone()
{
    const int before = threadNice();
    QVERIFY(before != -100);
    int inWorker = -100, capped = -100;
    std::thread([&] {
        yieldToRingThread();
        inWorker = threadNice();
        yieldToRingThread(30);
        capped = threadNice();
    }).join();
    QCOMPARE(inWorker, std::min(19, before + 10));
    QCOMPARE(capped, 19);
    QCOMPARE(threadNice(), before); // the calling thread only
}

void TestThreadPriority::autogroupParsed_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<int>("nice"); // 100: nullopt
    QTest::newRow("zero") << QByteArray("/autogroup-97 nice 0\n") << 0;
    QTest::newRow("negative") << QByteArray("/autogroup-1 nice -10\n") << -10;
    QTest::newRow("highest") << QByteArray("/autogroup-5 nice 19") << 19;
    QTest::newRow("out of range") << QByteArray("/autogroup-5 nice 20") << 100;
    QTest::newRow("no number") << QByteArray("/autogroup-5 nice x") << 100;
    QTest::newRow("no nice") << QByteArray("/autogroup-5") << 100;
    QTest::newRow("empty") << QByteArray("") << 100;
}

void TestThreadPriority::autogroupParsed()
{
    QFETCH(QByteArray, text);
    QFETCH(int, nice);
    const std::optional<int> got = parseAutogroupNice(text.constData());
    QCOMPARE(got.value_or(100), nice);
}

// A child in a session of its own raises its session's nice by 3 (no privilege needed), reads
// it back, and (as root) lowers it to -5. Exit codes say which step failed.
void TestThreadPriority::sessionNiceSet()
{
    if (!sessionNice())
        QSKIP("this kernel has no autogroups (no /proc/self/autogroup): nothing to set");
    const bool root = ::geteuid() == 0;
    const pid_t child = ::fork();
    QVERIFY(child >= 0);
    if (child == 0) {
        if (::setsid() < 0)
            ::_exit(10);
        const std::optional<int> start = sessionNice();
        if (!start)
            ::_exit(11);
        const int raised = std::min(19, *start + 3);
        if (!setSessionNice(raised).empty())
            ::_exit(12);
        if (sessionNice() != raised)
            ::_exit(13);
        if (root && (!setSessionNice(-5).empty() || sessionNice() != -5))
            ::_exit(14);
        ::_exit(0);
    }
    int status = 0;
    QCOMPARE(::waitpid(child, &status, 0), child);
    QVERIFY(WIFEXITED(status));
    QCOMPARE(WEXITSTATUS(status), 0);
}

QTEST_GUILESS_MAIN(TestThreadPriority)
#include "tst_threadpriority.moc"
