#include "timedapplication.h"

#include "config/logcategories.h"

#include <QElapsedTimer>
#include <QEvent>
#include <QMetaEnum>
#include <QThread>

#include <chrono>

#include <time.h>

namespace sasha {
namespace {
constexpr qint64 kSlowUs = 20'000;
constexpr qint64 kWarnUs = 50'000; // a third of the default 140 ms token timeout
constexpr qint64 kWarnEveryMs = 5000;

// This thread's CPU time: a handling much longer than its CPU time waited (off the CPU, or
// blocked in the kernel), rather than worked.
qint64 threadCpuUs()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return qint64(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

qint64 steadyMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// What an event was, from what was read before it was handled: the handler may delete its
// receiver (a DeferredDelete, a socket closing itself), so only static class names are kept.
QString describe(const char *receiverClass, const char *parentClass, QEvent::Type type)
{
    const QMetaEnum types = QMetaEnum::fromType<QEvent::Type>();
    const char *typeName = types.valueToKey(type);
    QString what = QStringLiteral("%1 to %2").arg(typeName ? QLatin1String(typeName) : QString::number(int(type)),
                                                  QLatin1String(receiverClass));
    if (parentClass)
        what += QStringLiteral(" (child of %1)").arg(QLatin1String(parentClass));
    return what;
}
} // namespace

TimedApplication::TimedApplication(int &argc, char **argv) : QCoreApplication(argc, argv) {}

bool TimedApplication::notify(QObject *receiver, QEvent *event)
{
    if (m_depth > 0 || QThread::currentThread() != thread())
        return QCoreApplication::notify(receiver, event);
    // Read before: the handler may delete the receiver. metaObject() data is static.
    const char *receiverClass = receiver->metaObject()->className();
    const char *parentClass = receiver->parent() ? receiver->parent()->metaObject()->className() : nullptr;
    const QEvent::Type type = event->type();
    ++m_depth;
    QElapsedTimer t;
    t.start();
    const qint64 cpu0 = threadCpuUs();
    const bool handled = QCoreApplication::notify(receiver, event);
    --m_depth;
    const qint64 us = t.nsecsElapsed() / 1000;
    if (us < kSlowUs)
        return handled;
    ++m_slow;
    const qint64 cpuUs = threadCpuUs() - cpu0;
    QString what;
    if (us > m_maxUs) {
        what = describe(receiverClass, parentClass, type);
        m_maxUs = us;
        m_maxCpuUs = cpuUs;
        m_maxWhat = what;
    }
    const qint64 now = steadyMs();
    if (us >= kWarnUs && (m_lastWarnMs == 0 || now - m_lastWarnMs >= kWarnEveryMs || us >= 2 * m_lastWarnUs)) {
        if (what.isEmpty())
            what = describe(receiverClass, parentClass, type);
        qCWarning(lcRing, "the ring's thread spent %.1f ms (%.1f ms of it on the CPU) on one event: %s",
                  double(us) / 1000.0, double(cpuUs) / 1000.0, qPrintable(what));
        m_lastWarnMs = now;
        m_lastWarnUs = us;
    }
    return handled;
}

QJsonObject TimedApplication::stats() const
{
    return QJsonObject{{QStringLiteral("maxMs"), double(m_maxUs) / 1000.0},
                       {QStringLiteral("maxCpuMs"), double(m_maxCpuUs) / 1000.0},
                       {QStringLiteral("what"), m_maxWhat},
                       {QStringLiteral("slow"), qint64(m_slow)}};
}

} // namespace sasha
