#include "log/journalfields.h"

#include <array>

namespace sasha {

int journalPriority(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg: return kLogDebug;
    case QtInfoMsg: return kLogInfo;
    case QtWarningMsg: return kLogWarning;
    case QtCriticalMsg: return kLogErr;
    case QtFatalMsg: return kLogCrit;
    }
    return kLogInfo;
}

int eventPriority(const QString &kind)
{
    static const std::array<const char *, 5> errors = {"dispatcher-failed", "dispatcher-unable", "fault-failed",
                                                       "query-failed", "oob-failed"};
    static const std::array<const char *, 13> warnings = {
        "purge-started", "token-timeout", "member-lost", "fault-injected", "fault-refused", "server-dead",
        "dispatcher-yielded", "admin-refused", "health-changed", "abdicated", "observer-dropped",
        "handover-requested", "stood-aside"};
    static const std::array<const char *, 6> notices = {"node-drained", "node-undrained", "weight-changed",
                                                        "fault-ended", "dispatcher-elected", "role-changed"};
    for (const char *k : errors) {
        if (kind == QLatin1String(k))
            return kLogErr;
    }
    for (const char *k : warnings) {
        if (kind == QLatin1String(k))
            return kLogWarning;
    }
    for (const char *k : notices) {
        if (kind == QLatin1String(k))
            return kLogNotice;
    }
    return kLogInfo;
}

std::vector<QByteArray> journalFields(int priority, const QByteArray &category, const QString &message,
                                      const JournalContext &context)
{
    std::vector<QByteArray> f;
    f.reserve(7);
    f.push_back("MESSAGE=" + message.toUtf8());
    f.push_back("PRIORITY=" + QByteArray::number(priority));
    f.push_back(QByteArrayLiteral("SYSLOG_IDENTIFIER=sashad"));
    f.push_back("SASHA_CATEGORY=" + category);
    f.push_back("SASHA_NODE=" + context.node.toUtf8());
    f.push_back("SASHA_EPOCH=" + QByteArray::number(context.epoch));
    if (!context.event.isEmpty())
        f.push_back("SASHA_EVENT=" + context.event.toUtf8());
    return f;
}

bool journalStreamMatches(const QByteArray &env, dev_t device, ino_t inode)
{
    const qsizetype colon = env.indexOf(':');
    if (colon <= 0)
        return false;
    bool okDev = false, okIno = false;
    const qulonglong dev = env.left(colon).toULongLong(&okDev);
    const qulonglong ino = env.mid(colon + 1).toULongLong(&okIno);
    return okDev && okIno && dev == qulonglong(device) && ino == qulonglong(inode);
}

} // namespace sasha
