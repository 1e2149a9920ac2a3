#pragma once
// JournalLog: sashad's log lines to the systemd journal, with syslog priorities and structured
// fields (log/journalfields.h lists them), through libsystemd's sd_journal_sendv. Installed by
// main() when [log] target says so ("journal", or "auto" with stderr connected to the journal:
// JournalLog::wanted). Otherwise nothing changes: Qt's handler writes today's stderr lines.
//
// Qt's message handler is one plain function per process, so the installed JournalLog is
// reached through one static pointer; there is at most one instance, created and destroyed by
// main(). Lines may come from any thread: the handler only reads the node (fixed), the epoch
// (atomic) and the calling thread's EventScope.

#include "config/nodesettings.h"

#include <QString>
#include <QtGlobal>

#include <atomic>

namespace sasha {

class JournalLog {
public:
    // Whether lines should go to the journal: Journal yes, Stderr no, Auto when $JOURNAL_STREAM
    // names the stream stderr (fd 2) is (systemd sets it for units whose stderr is the journal).
    static bool wanted(LogTarget target);

    // Installs the handler; the destructor puts the previous one back.
    explicit JournalLog(QString node);
    ~JournalLog();
    JournalLog(const JournalLog &) = delete;
    JournalLog &operator=(const JournalLog &) = delete;

    // The ring epoch sent as SASHA_EPOCH from now on. Any thread.
    void setEpoch(quint32 epoch) { m_epoch.store(epoch, std::memory_order_relaxed); }
    // An event that sashad does not write to stderr (its services' events: dispatcher-started,
    // first-forward, fault-injected...) as a journal record of its own, with SASHA_EVENT = kind.
    void sendEvent(const QString &kind, const QString &text) const;

    // While one lives, the lines this thread logs carry SASHA_EVENT = kind (they report that
    // event). Harmless, and cheap, without a JournalLog.
    class EventScope {
    public:
        explicit EventScope(const QString &kind);
        ~EventScope();
        EventScope(const EventScope &) = delete;
        EventScope &operator=(const EventScope &) = delete;

    private:
        QString m_previous;
    };

private:
    static void handler(QtMsgType type, const QMessageLogContext &context, const QString &message);
    void send(int priority, const QByteArray &category, const QString &message, const QString &event) const;

    QString m_node;
    std::atomic<quint32> m_epoch{0};
    QtMessageHandler m_previous = nullptr;
};

} // namespace sasha
