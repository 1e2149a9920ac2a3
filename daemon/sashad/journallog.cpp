#include "journallog.h"

#include "log/journalfields.h"

#include <systemd/sd-journal.h>

#include <sys/stat.h>
#include <sys/uio.h>

#include <cstdlib>
#include <vector>

namespace sasha {
namespace {
JournalLog *g_journal = nullptr;  // the installed instance (Qt's handler is a plain function)
thread_local QString t_event;     // EventScope of the calling thread
} // namespace

bool JournalLog::wanted(LogTarget target)
{
    switch (target) {
    case LogTarget::Journal: return true;
    case LogTarget::Stderr: return false;
    case LogTarget::Auto: break;
    }
    const char *env = std::getenv("JOURNAL_STREAM");
    struct stat st {};
    if (!env || ::fstat(2, &st) != 0)
        return false;
    return journalStreamMatches(QByteArray(env), st.st_dev, st.st_ino);
}

JournalLog::JournalLog(QString node) : m_node(std::move(node))
{
    g_journal = this;
    m_previous = qInstallMessageHandler(&JournalLog::handler);
}

JournalLog::~JournalLog()
{
    qInstallMessageHandler(m_previous);
    g_journal = nullptr;
}

JournalLog::EventScope::EventScope(const QString &kind) : m_previous(std::exchange(t_event, kind)) {}

JournalLog::EventScope::~EventScope() { t_event = std::move(m_previous); }

void JournalLog::handler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    const JournalLog *j = g_journal;
    if (!j)
        return;
    const QByteArray category = context.category ? QByteArray(context.category) : QByteArrayLiteral("default");
    j->send(journalPriority(type), category, QString::fromUtf8(category) + QLatin1String(": ") + message, t_event);
}

void JournalLog::sendEvent(const QString &kind, const QString &text) const
{
    send(eventPriority(kind), QByteArrayLiteral("sasha.event"), text, kind);
}

void JournalLog::send(int priority, const QByteArray &category, const QString &message, const QString &event) const
{
    const std::vector<QByteArray> fields =
        journalFields(priority, category, message, JournalContext{m_node, m_epoch.load(std::memory_order_relaxed), event});
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (const QByteArray &f : fields)
        iov.push_back(iovec{const_cast<char *>(f.constData()), size_t(f.size())});
    // Fails only when the journal's socket is gone; nothing sensible is left to tell then.
    sd_journal_sendv(iov.data(), int(iov.size()));
}

} // namespace sasha
