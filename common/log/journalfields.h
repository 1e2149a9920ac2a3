#pragma once
// What sashad sends to the systemd journal (docs/config.md "[log]"): the syslog priority of a
// line and its structured fields, so that `journalctl -u sashad -p warning` and
// `journalctl SASHA_EVENT=dispatcher-elected` work. Pure: the sending is in daemon/sashad
// (JournalLog, through libsystemd's sd_journal_sendv).
//
// Fields of every record:
//   MESSAGE            the line as stderr shows it, without the time stamp (the journal has one)
//   PRIORITY           syslog level: 2 crit (fatal), 3 err (critical), 4 warning, 5 notice,
//                      6 info, 7 debug (journalPriority, eventPriority)
//   SYSLOG_IDENTIFIER  "sashad"
//   SASHA_CATEGORY     the Qt logging category ("sasha.ring")
//   SASHA_NODE         this node's ring address ("10.0.0.1")
//   SASHA_EPOCH        the epoch of the ring the node is in (0: none)
// and, on a line that reports an event of the ring or of the daemon's services:
//   SASHA_EVENT        the event kind as the control protocol names it ("purge-started")

#include <QByteArray>
#include <QString>
#include <QtGlobal>

#include <sys/types.h>

#include <vector>

namespace sasha {

enum SyslogPriority : int {
    kLogCrit = 2,
    kLogErr = 3,
    kLogWarning = 4,
    kLogNotice = 5,
    kLogInfo = 6,
    kLogDebug = 7,
};

// Qt's message type -> syslog priority.
int journalPriority(QtMsgType type);
// An event kind (controlEventKindName, or a daemon service's kind) -> syslog priority: failures
// err, faults, purges and losses warning, operator actions notice, the rest info.
int eventPriority(const QString &kind);

struct JournalContext {
    QString node;   // "10.0.0.1"
    quint32 epoch = 0;
    QString event;  // empty: the line is not an event
};

// The "KEY=value" fields of one record, in the order listed above.
std::vector<QByteArray> journalFields(int priority, const QByteArray &category, const QString &message,
                                      const JournalContext &context);

// Whether stderr is connected to the journal, as systemd documents it: $JOURNAL_STREAM is
// "DEVICE:INODE" (decimal) of the stream stderr is. `env` is the variable's value (may be empty).
bool journalStreamMatches(const QByteArray &env, dev_t device, ino_t inode);

} // namespace sasha
