#include "notifyrunner.h"

#include "config/logcategories.h"

#include <QDateTime>
#include <QProcess>
#include <QProcessEnvironment>
#include <QTimer>

#include <algorithm>
#include <csignal>
#include <deque>
#include <memory>
#include <unistd.h>

namespace sasha {
namespace {
constexpr qsizetype kStderrTail = 512; // bytes of a failed script's stderr kept for the log
} // namespace

struct NotifyJob {
    QString program;
    QStringList arguments;
    QProcessEnvironment environment;
    QString event;
    int timeoutMs = 5000;
};

// Lives in NotifyRunner's thread: runs the jobs one at a time. Everything here is called in that
// thread (queued from the runner); results go back queued to the runner.
class NotifyWorker : public QObject {
public:
    // m_timeout is a child, so that moveToThread() takes it along.
    explicit NotifyWorker(NotifyRunner *runner) : m_runner(runner), m_timeout(this)
    {
        m_timeout.setSingleShot(true);
        QObject::connect(&m_timeout, &QTimer::timeout, this, [this] { onTimeout(); });
    }

    void enqueue(NotifyJob job)
    {
        m_queue.push_back(std::move(job));
        if (!m_process)
            startNext();
    }

    // The daemon is going: kill what runs, forget what waits.
    void abortAll()
    {
        m_queue.clear();
        m_timeout.stop();
        if (m_process) {
            killGroup();
            m_process->waitForFinished(1000);
            m_process->disconnect(this);
            m_process.reset();
        }
    }

private:
    void startNext()
    {
        while (!m_process && !m_queue.empty()) {
            NotifyJob job = std::move(m_queue.front());
            m_queue.pop_front();
            m_job = job;
            m_stderr.clear();
            m_timedOut = false;
            m_process = std::make_unique<QProcess>();
            m_process->setProgram(job.program);
            m_process->setArguments(job.arguments);
            m_process->setProcessEnvironment(job.environment);
            m_process->setStandardOutputFile(QProcess::nullDevice());
            m_process->setStandardInputFile(QProcess::nullDevice());
            // Its own session and process group, so a timeout kills what it started too.
            m_process->setChildProcessModifier([] { ::setsid(); });
            QObject::connect(m_process.get(), &QProcess::readyReadStandardError, this, [this] {
                m_stderr += m_process->readAllStandardError();
                if (m_stderr.size() > 4 * kStderrTail)
                    m_stderr = m_stderr.right(kStderrTail);
            });
            QObject::connect(m_process.get(), &QProcess::finished, this,
                             [this](int code, QProcess::ExitStatus status) { onFinished(code, status); });
            QObject::connect(m_process.get(), &QProcess::errorOccurred, this, [this](QProcess::ProcessError e) {
                if (e == QProcess::FailedToStart)
                    done(false, QStringLiteral("cannot start: %1").arg(m_process->errorString()));
            });
            m_timeout.start(job.timeoutMs);
            m_process->start();
        }
    }

    void killGroup()
    {
        const qint64 pid = m_process ? m_process->processId() : 0;
        if (pid > 0)
            ::kill(-pid_t(pid), SIGKILL);
    }

    void onTimeout()
    {
        if (!m_process)
            return;
        m_timedOut = true;
        killGroup(); // finished() follows
    }

    void onFinished(int code, QProcess::ExitStatus status)
    {
        m_stderr += m_process->readAllStandardError();
        if (m_timedOut)
            return done(false, QStringLiteral("killed after the %1 ms timeout ([notify] timeout_ms)").arg(m_job.timeoutMs));
        if (status == QProcess::CrashExit)
            return done(false, QStringLiteral("killed by a signal"));
        if (code != 0)
            return done(false, QStringLiteral("exit code %1").arg(code));
        done(true, {});
    }

    void done(bool ok, QString why)
    {
        m_timeout.stop();
        if (!ok) {
            const QByteArray tail = m_stderr.right(kStderrTail).trimmed();
            if (!tail.isEmpty())
                why += QStringLiteral("; stderr: ") + QString::fromUtf8(tail).replace(QLatin1Char('\n'), QStringLiteral(" | "));
        }
        const bool timedOut = m_timedOut;
        QProcess *p = m_process.release();
        p->disconnect(this);
        p->deleteLater(); // not deleted inside its own signal
        deliver(m_job.program, m_job.event, ok, timedOut, why);
        startNext();
    }

    void deliver(const QString &script, const QString &event, bool ok, bool timedOut, const QString &why);

    NotifyRunner *m_runner;
    std::deque<NotifyJob> m_queue;
    std::unique_ptr<QProcess> m_process;
    NotifyJob m_job;
    QByteArray m_stderr;
    QTimer m_timeout;
    bool m_timedOut = false;
};

NotifyRunner::NotifyRunner(NotifySettings settings, QObject *parent) : QObject(parent), m_settings(std::move(settings))
{
    m_thread.setObjectName(QStringLiteral("notify"));
    m_worker = new NotifyWorker(this);
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread.start();
}

NotifyRunner::~NotifyRunner()
{
    NotifyWorker *w = m_worker;
    QMetaObject::invokeMethod(w, [w] { w->abortAll(); }, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
}

void NotifyRunner::setSettings(const NotifySettings &settings)
{
    m_settings = settings;
}

int NotifyRunner::notify(const NotifyEvent &e)
{
    // The event's own script (member-left and member-lost share member_lost), then the catch-all.
    QString own;
    if (e.event == QLatin1String("role-changed"))
        own = m_settings.roleChange;
    else if (e.event == QLatin1String("member-joined"))
        own = m_settings.memberJoined;
    else if (e.isMemberEvent())
        own = m_settings.memberLost;
    else if (e.event == QLatin1String("health-changed"))
        own = m_settings.healthChange;
    QStringList scripts;
    if (!own.isEmpty() && own != m_settings.script)
        scripts << own;
    if (!m_settings.script.isEmpty())
        scripts << m_settings.script;
    if (scripts.isEmpty())
        return 0;

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SASHA_EVENT"), e.event);
    env.insert(QStringLiteral("SASHA_NODE"), e.node);
    env.insert(QStringLiteral("SASHA_ROLE"), e.role);
    env.insert(QStringLiteral("SASHA_OLD_ROLE"), e.oldRole);
    env.insert(QStringLiteral("SASHA_HEALTH"), e.health);
    env.insert(QStringLiteral("SASHA_MEMBER"), e.isMemberEvent() ? e.node : QString());
    env.insert(QStringLiteral("SASHA_EPOCH"), QString::number(e.epoch));
    env.insert(QStringLiteral("SASHA_SELF"), e.self);
    env.insert(QStringLiteral("SASHA_NAME"), e.name);
    env.insert(QStringLiteral("SASHA_DETAIL"), e.detail);
    env.insert(QStringLiteral("SASHA_TIME_MS"), QString::number(e.wallMs ? e.wallMs : QDateTime::currentMSecsSinceEpoch()));

    int droppedNow = 0;
    for (const QString &script : std::as_const(scripts)) {
        if (m_pending >= m_settings.queue) {
            ++m_dropped;
            ++droppedNow;
            qCWarning(lcConfig, "notify: %s for %s %s dropped: %d script(s) already waiting or running ([notify] queue)",
                      qPrintable(script), qPrintable(e.event), qPrintable(e.node), m_pending);
            continue;
        }
        NotifyJob job;
        job.program = script;
        job.arguments = {e.event, e.node, e.role};
        job.environment = env;
        job.event = e.event;
        job.timeoutMs = m_settings.timeoutMs;
        ++m_pending;
        ++m_started;
        NotifyWorker *w = m_worker;
        QMetaObject::invokeMethod(w, [w, job] { w->enqueue(job); }, Qt::QueuedConnection);
    }
    return droppedNow;
}

// The runner outlives the worker (~NotifyRunner waits for the thread), and a queued call to it
// that is still pending when it is destroyed is discarded with it.
void NotifyWorker::deliver(const QString &script, const QString &event, bool ok, bool timedOut, const QString &why)
{
    NotifyRunner *runner = m_runner;
    QMetaObject::invokeMethod(
        runner, [runner, script, event, ok, timedOut, why] { runner->onFinished(script, event, ok, timedOut, why); },
        Qt::QueuedConnection);
}

void NotifyRunner::onFinished(const QString &script, const QString &event, bool ok, bool timedOut, const QString &why)
{
    m_pending = std::max(0, m_pending - 1);
    if (ok) {
        ++m_ok;
        qCInfo(lcConfig, "notify: %s %s: ok", qPrintable(script), qPrintable(event));
    } else {
        ++m_failed;
        if (timedOut)
            ++m_timedOut;
        qCWarning(lcConfig, "notify: %s %s failed: %s", qPrintable(script), qPrintable(event), qPrintable(why));
    }
    Q_EMIT scriptFinished(script, event, ok, why);
}

QJsonObject NotifyRunner::statusJson() const
{
    return QJsonObject{{QStringLiteral("started"), qint64(m_started)}, {QStringLiteral("ok"), qint64(m_ok)},
                       {QStringLiteral("failed"), qint64(m_failed)},   {QStringLiteral("timedOut"), qint64(m_timedOut)},
                       {QStringLiteral("dropped"), qint64(m_dropped)}, {QStringLiteral("pending"), m_pending}};
}

} // namespace sasha
