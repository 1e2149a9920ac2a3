// DispatcherService: a node that cannot dispatch gives the role away (issue 11 item 4,
// docs/dispatcher.md "A node that cannot dispatch"). When its data path fails to start, its
// thread ends, its interface is gone or down, or every injection fails, the node stops and
// emits ableChanged(false): the daemon withdraws the dispatch capability from its ring status, so
// the ring elects the next capable node within one token round. Meanwhile the data path is built
// again on the worker every kRecoverMs (the recovery probe); once it opens, the node is able
// again (ableChanged(true)) and keeps what it built as its prepared data path.

#include "dispatcherrunning.h"

#include "config/logcategories.h"
#include "transport/ringdriver.h"

#include <QNetworkInterface>

namespace sasha {
namespace {
constexpr int kRecoverMs = 2000;
// Injection is failing when a whole stats tick had at least this many errors and no success.
constexpr quint64 kInjectErrorsPerTick = 100;
} // namespace

void DispatcherService::becomeUnable(const QString &why)
{
    if (m_run)
        stop(why);
    m_prepared.reset();
    m_electedUs = 0;
    const bool changed = m_unable.isEmpty();
    if (why != m_unable) {
        qCCritical(lcRing, "this node cannot dispatch: %s; dispatch capability withdrawn, trying again every %d ms",
                   qPrintable(why), kRecoverMs);
        Q_EMIT logEvent(QStringLiteral("dispatcher-unable"), QString(), why);
    }
    m_unable = why;
    if (changed)
        Q_EMIT ableChanged(false, why);
    m_recoverTimer.start(kRecoverMs);
}

void DispatcherService::probeRecovery()
{
    if (m_unable.isEmpty() || m_run)
        return;
    if (const auto problem = interfaceProblem()) {
        m_unable = *problem;
        m_recoverTimer.start(kRecoverMs);
        return;
    }
    if (m_prepareWorker.joinable()) {
        m_recoverTimer.start(kRecoverMs);
        return;
    }
    m_probing = true;
    buildOnWorker();
}

// collectPrepared() with a probe's result. True when it was a probe (handled here).
bool DispatcherService::collectProbe(std::unique_ptr<Running> &prepared, const QString &error)
{
    if (!m_probing)
        return false;
    m_probing = false;
    if (!prepared) {
        if (error != m_unable)
            qCWarning(lcRing, "the data path still cannot open: %s", qPrintable(error));
        m_unable = error;
        m_recoverTimer.start(kRecoverMs);
        return true;
    }
    const QString was = m_unable;
    m_unable.clear();
    qCInfo(lcRing, "the data path opens again (%s before); dispatch capability restored", qPrintable(was));
    Q_EMIT logEvent(QStringLiteral("dispatcher-able"), QString(),
                    QStringLiteral("the data path opens again (was: %1)").arg(was));
    if (m_settings.dispatcher.prepare && !m_prepared)
        m_prepared = std::move(prepared);
    Q_EMIT ableChanged(true, QString());
    return true;
}

// The dispatcher interface as the kernel sees it now: nullopt when it exists, is up and running.
std::optional<QString> DispatcherService::interfaceProblem() const
{
    const QString &name = m_settings.dispatcher.interfaceName;
    const QNetworkInterface itf = QNetworkInterface::interfaceFromName(name);
    if (!itf.isValid())
        return QStringLiteral("interface %1 does not exist").arg(name);
    const auto flags = itf.flags();
    if (!(flags & QNetworkInterface::IsUp))
        return QStringLiteral("interface %1 is down").arg(name);
    if (!(flags & QNetworkInterface::IsRunning))
        return QStringLiteral("interface %1 has no carrier").arg(name);
    return std::nullopt;
}

// Once a second while dispatching (tickStats): why the data path cannot go on, if it cannot.
std::optional<QString> DispatcherService::runningProblem()
{
    if (m_run->thread->finished())
        return QStringLiteral("the dispatcher thread ended: %1").arg(QString::fromStdString(m_run->thread->error()));
    if (auto problem = interfaceProblem())
        return problem;
    const DispatcherCounters &t = m_run->thread->counters();
    const quint64 injected = read(t.injected), errors = read(t.injectErrors);
    const quint64 newErrors = errors - std::exchange(m_prevInjectErrors, errors);
    const quint64 newInjected = injected - std::exchange(m_prevInjected, injected);
    if (newErrors >= kInjectErrorsPerTick && newInjected == 0)
        return QStringLiteral("injection failing: %1 error(s) in the last second, nothing sent").arg(newErrors);
    return std::nullopt;
}

} // namespace sasha
