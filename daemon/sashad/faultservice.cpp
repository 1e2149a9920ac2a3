#include "faultservice.h"

#include "config/logcategories.h"
#include "oobrouter.h"
#include "transport/ringdriver.h"

#include <QDateTime>
#include <QFile>
#include <QFileInfo>
#include <QNetworkInterface>
#include <QProcess>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sasha {
namespace {
constexpr qint64 kMalformedLogEveryMs = 5000;
constexpr int kIpTimeoutMs = 3000;
// The hang helper re-sends SIGCONT while the parent is still stopped (it may have stopped after
// the first one, if it was descheduled between fork and raise), every kHelperPollMs, at most
// kHelperPolls times; the parent kills the helper as soon as it runs again.
constexpr int kHelperPollMs = 50;
constexpr int kHelperPolls = 100;
constexpr int kCapNetAdmin = 12; // linux/capability.h

QString errnoText(int e) { return QString::fromLocal8Bit(std::strerror(e)); }

void sleepMs(long ms)
{
    timespec ts{ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

// Async-signal-safe: whether /proc/<pid>/stat says the process is stopped ('T').
bool processStopped(pid_t pid)
{
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *close = std::strrchr(buf, ')'); // "pid (comm) S ..."; comm may hold spaces
    return close && close[1] == ' ' && (close[2] == 'T' || close[2] == 't');
}

std::optional<QString> realHang(quint32 ms)
{
    const pid_t self = ::getpid();
    const pid_t helper = ::fork();
    if (helper < 0)
        return QStringLiteral("cannot fork the wake-up helper: %1").arg(errnoText(errno));
    if (helper == 0) {
        // Child of a multi-threaded process: async-signal-safe calls only.
        sleepMs(long(ms));
        ::kill(self, SIGCONT);
        for (int i = 0; i < kHelperPolls; ++i) {
            sleepMs(kHelperPollMs);
            if (processStopped(self))
                ::kill(self, SIGCONT);
        }
        ::_exit(0);
    }
    ::raise(SIGSTOP);
    // Running again: the helper's work is done.
    ::kill(helper, SIGKILL);
    ::waitpid(helper, nullptr, 0);
    return std::nullopt;
}

std::optional<QString> realSetLink(const QString &iface, bool up)
{
    QProcess ip;
    ip.start(QStringLiteral("ip"), {QStringLiteral("link"), QStringLiteral("set"), QStringLiteral("dev"), iface,
                                    up ? QStringLiteral("up") : QStringLiteral("down")});
    if (!ip.waitForStarted(kIpTimeoutMs))
        return QStringLiteral("cannot run ip: %1").arg(ip.errorString());
    if (!ip.waitForFinished(kIpTimeoutMs)) {
        ip.kill();
        ip.waitForFinished(kIpTimeoutMs);
        return QStringLiteral("ip link set dev %1 %2 did not finish").arg(iface, up ? "up" : "down");
    }
    if (ip.exitStatus() != QProcess::NormalExit || ip.exitCode() != 0)
        return QStringLiteral("ip link set dev %1 %2 failed: %3")
            .arg(iface, up ? "up" : "down", QString::fromLocal8Bit(ip.readAllStandardError()).trimmed());
    return std::nullopt;
}

bool hasCapNetAdmin()
{
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return false;
    for (int i = 0; i < 200 && !f.atEnd(); ++i) {
        const QByteArray line = f.readLine();
        if (line.startsWith("CapEff:")) {
            bool ok = false;
            const quint64 caps = line.mid(7).trimmed().toULongLong(&ok, 16);
            return ok && (caps & (quint64(1) << kCapNetAdmin));
        }
    }
    return false;
}

std::optional<QString> realLinkUnusable(const QString &iface)
{
    if (iface.isEmpty())
        return QStringLiteral("no [node] interface configured");
    const QNetworkInterface ni = QNetworkInterface::interfaceFromName(iface);
    if (!ni.isValid())
        return QStringLiteral("no interface %1").arg(iface);
    if (ni.flags() & QNetworkInterface::IsLoopBack)
        return QStringLiteral("%1 is a loopback interface").arg(iface);
    const QString ours = QFileInfo(QStringLiteral("/proc/self/ns/net")).symLinkTarget();
    const QString init = QFileInfo(QStringLiteral("/proc/1/ns/net")).symLinkTarget();
    if (ours.isEmpty() || init.isEmpty() || ours == init)
        return QStringLiteral("not in a network namespace of its own (the host's links are never touched)");
    if (!hasCapNetAdmin())
        return QStringLiteral("no CAP_NET_ADMIN");
    return std::nullopt;
}

QString actionText(FaultAction a, quint32 ms)
{
    return faultActionTakesDuration(a) ? QStringLiteral("%1 %2 ms").arg(faultActionName(a)).arg(ms) : faultActionName(a);
}
} // namespace

FaultService::Effects FaultService::processEffects()
{
    Effects e;
    e.crash = [] { ::kill(::getpid(), SIGKILL); };
    e.hang = realHang;
    e.setLink = realSetLink;
    e.linkUnusable = realLinkUnusable;
    return e;
}

FaultService::FaultService(const NodeSettings &settings, RingDriver &driver, OobRouter &oob, Effects effects,
                           QObject *parent)
    : QObject(parent), m_settings(settings), m_driver(driver), m_oob(oob), m_effects(std::move(effects))
{
    m_unplugTimer.setSingleShot(true);
    connect(&m_unplugTimer, &QTimer::timeout, this, [this] { endUnplug(QStringLiteral("duration over")); });
    connect(&m_oob, &OobRouter::received, this, &FaultService::onOob);
}

FaultService::~FaultService()
{
    // A daemon stopping mid-unplug leaves the link as it found it.
    if (!m_linkDown.isEmpty() && m_effects.setLink)
        m_effects.setLink(m_linkDown, true);
}

bool FaultService::isUnplugged() const { return m_unplugged; }

QString FaultService::selfName() const
{
    const QString addr = ipv4ToString(m_settings.address);
    return m_settings.name.isEmpty() ? addr : QStringLiteral("%1 (%2)").arg(m_settings.name, addr);
}

void FaultService::request(const ControlRequest &r, const ControlServer::AnswerFn &answer)
{
    const tb::NodeAddr target = r.faultTarget;
    const QString targetText = ipv4ToString(target);
    if (target != m_settings.address) {
        if (m_unplugged) {
            answer(controlError(QStringLiteral("this node is unplugged (fault injection): it cannot reach %1").arg(targetText)));
            return;
        }
        const bool known = m_driver.isRunning() && m_driver.node().view().find(target);
        if (!known) {
            QStringList members;
            if (m_driver.isRunning())
                for (const tb::Member &m : m_driver.node().view().members)
                    members << ipv4ToString(m.addr);
            answer(controlError(QStringLiteral("%1 is not a member of the ring this node sees (members: %2)")
                                    .arg(targetText, members.isEmpty() ? QStringLiteral("none") : members.join(QStringLiteral(", ")))));
            return;
        }
    }
    FaultCommand c;
    c.action = r.faultAction;
    c.flags = r.faultOnlyIfDispatcher ? kOnlyIfDispatcher : 0;
    c.commandId = m_nextId++;
    c.target = target;
    c.durationMs = r.faultDurationMs;
    Pending p;
    p.target = target;
    p.action = c.action;
    p.answer = answer;
    p.timeout = std::make_unique<QTimer>();
    p.timeout->setSingleShot(true);
    const quint32 id = c.commandId;
    connect(p.timeout.get(), &QTimer::timeout, this, [this, id, targetText] {
        auto it = m_pending.find(id);
        if (it == m_pending.end())
            return;
        const ControlServer::AnswerFn a = it->second.answer;
        it->second.timeout.release()->deleteLater(); // not deleted inside its own signal
        m_pending.erase(it);
        a(controlError(QStringLiteral("no reply from %1 within %2 s").arg(targetText).arg(kReplyTimeoutMs / 1000)));
    });
    p.timeout->start(kReplyTimeoutMs);
    m_pending.emplace(id, std::move(p));
    qCInfo(lcControl, "fault command %u to %s: %s", id, qPrintable(targetText), qPrintable(actionText(c.action, c.durationMs)));
    m_oob.send(target, kFaultChannel, encodeFaultCommand(c), true);
}

void FaultService::onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload)
{
    if (channel != kFaultChannel)
        return;
    QString error;
    switch (faultMessageType(payload)) {
    case 1:
        if (const auto c = decodeFaultCommand(payload, &error))
            onCommand(from, *c);
        else
            logMalformed(from, error);
        break;
    case 2:
        if (const auto r = decodeFaultReply(payload, &error))
            onReply(from, *r);
        else
            logMalformed(from, error);
        break;
    default:
        logMalformed(from, QStringLiteral("unknown fault message type (%1 bytes)").arg(payload.size()));
        break;
    }
}

void FaultService::logMalformed(tb::NodeAddr from, const QString &why)
{
    ++m_malformed;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (m_lastMalformedLogMs >= 0 && now - m_lastMalformedLogMs < kMalformedLogEveryMs)
        return;
    m_lastMalformedLogMs = now;
    qCWarning(lcControl, "malformed fault message from %s dropped (%llu so far): %s", qPrintable(ipv4ToString(from)),
              static_cast<unsigned long long>(m_malformed), qPrintable(why));
}

FaultReply FaultService::judge(const FaultCommand &c) const
{
    FaultReply r;
    r.action = c.action;
    r.commandId = c.commandId;
    r.target = c.target;
    r.result = FaultResult::WrongTarget;
    if (!m_settings.faultsEnabled) {
        r.result = FaultResult::Disabled;
        r.message = QStringLiteral("fault injection is off on %1: set [faults] enabled = true (sasha-lab does)").arg(selfName());
        return r;
    }
    if (c.target != m_settings.address) {
        r.message = QStringLiteral("this is %1, not %2").arg(selfName(), ipv4ToString(c.target));
        return r;
    }
    if (c.flags & kOnlyIfDispatcher) {
        const tb::Role role = m_driver.isRunning() ? m_driver.node().role() : tb::Role::None;
        if (role != tb::Role::Dispatcher && role != tb::Role::Standalone) {
            const tb::NodeAddr d = m_driver.isRunning() ? m_driver.node().view().dispatcher : tb::kNoNode;
            r.message = QStringLiteral("not the dispatcher (the dispatcher is %1)")
                            .arg(d == tb::kNoNode ? QStringLiteral("none") : ipv4ToString(d));
            return r;
        }
    }
    r.result = FaultResult::Accepted;
    switch (c.action) {
    case FaultAction::Crash:
        if (!m_effects.crash) {
            r.result = FaultResult::Unsupported;
            r.message = QStringLiteral("crash is not available here");
        }
        break;
    case FaultAction::Hang:
        if (!m_effects.hang) {
            r.result = FaultResult::Unsupported;
            r.message = QStringLiteral("hang is not available here");
        }
        break;
    case FaultAction::Unplug: {
        const auto why = m_effects.linkUnusable ? m_effects.linkUnusable(m_settings.interfaceName)
                                                : std::optional<QString>(QStringLiteral("no link control"));
        r.message = why ? QStringLiteral("ring datagrams dropped and data path paused; link untouched: %1").arg(*why)
                        : QStringLiteral("ring datagrams dropped, data path paused, %1 down").arg(m_settings.interfaceName);
        break;
    }
    case FaultAction::Drain:
        if (m_draining)
            r.message = QStringLiteral("already draining");
        break;
    case FaultAction::Restore:
        if (!m_draining && !m_unplugged)
            r.message = QStringLiteral("nothing to restore");
        break;
    }
    return r;
}

void FaultService::onCommand(tb::NodeAddr from, const FaultCommand &c)
{
    const FaultReply reply = judge(c);
    // The reply goes first (reliable: a lost datagram is retransmitted while we still run).
    m_oob.send(from, kFaultChannel, encodeFaultReply(reply), true);
    const QString what = actionText(c.action, c.durationMs);
    const QString sender = ipv4ToString(from);
    if (reply.result != FaultResult::Accepted) {
        qCInfo(lcControl, "fault command from %s refused (%s): %s: %s", qPrintable(sender),
               qPrintable(faultResultName(reply.result)), qPrintable(what), qPrintable(reply.message));
        Q_EMIT logEvent(QStringLiteral("fault-refused"), ipv4ToString(m_settings.address),
                        QStringLiteral("%1 from %2: %3").arg(what, sender, faultResultName(reply.result)));
        return;
    }
    ++m_accepted;
    qCWarning(lcControl, "fault injected by %s: %s", qPrintable(sender), qPrintable(what));
    Q_EMIT logEvent(QStringLiteral("fault-injected"), ipv4ToString(m_settings.address),
                    QStringLiteral("%1 by %2%3").arg(what, sender, reply.message.isEmpty() ? QString() : QStringLiteral(": ") + reply.message));
    QTimer::singleShot(kActDelayMs, this, [this, c] { act(c); });
}

void FaultService::act(const FaultCommand &c)
{
    switch (c.action) {
    case FaultAction::Crash:
        qCWarning(lcControl, "crashing now (SIGKILL)");
        m_effects.crash();
        break;
    case FaultAction::Hang:
        qCWarning(lcControl, "hanging for %u ms (SIGSTOP)", c.durationMs);
        if (const auto err = m_effects.hang(c.durationMs)) {
            qCWarning(lcControl, "hang failed: %s", qPrintable(*err));
            Q_EMIT logEvent(QStringLiteral("fault-failed"), ipv4ToString(m_settings.address), QStringLiteral("hang: %1").arg(*err));
        } else {
            qCWarning(lcControl, "resumed after the hang");
            Q_EMIT logEvent(QStringLiteral("fault-ended"), ipv4ToString(m_settings.address),
                            QStringLiteral("hang %1 ms over").arg(c.durationMs));
        }
        break;
    case FaultAction::Unplug:
        startUnplug(c.durationMs);
        break;
    case FaultAction::Drain:
        setDrain(true);
        break;
    case FaultAction::Restore:
        if (m_unplugged)
            endUnplug(QStringLiteral("restored"));
        if (m_draining)
            setDrain(false);
        break;
    }
}

void FaultService::startUnplug(quint32 ms)
{
    if (!m_unplugged) {
        m_unplugged = true;
        m_driver.setUnplugged(true);
        if (m_effects.pauseDataPath)
            m_effects.pauseDataPath(true);
        const QString iface = m_settings.interfaceName;
        if (m_effects.linkUnusable && m_effects.setLink && !m_effects.linkUnusable(iface)) {
            if (const auto err = m_effects.setLink(iface, false))
                qCWarning(lcControl, "unplug: %s; ring datagrams are dropped anyway", qPrintable(*err));
            else
                m_linkDown = iface;
        }
    }
    // A second unplug while unplugged restarts the clock with the new duration.
    m_unplugTimer.start(int(ms));
    qCWarning(lcControl, "unplugged for %u ms%s", ms,
              m_linkDown.isEmpty() ? "" : qPrintable(QStringLiteral(" (%1 down)").arg(m_linkDown)));
}

void FaultService::endUnplug(const QString &why)
{
    m_unplugTimer.stop();
    if (!m_unplugged)
        return;
    if (!m_linkDown.isEmpty()) {
        if (const auto err = m_effects.setLink(m_linkDown, true))
            qCWarning(lcControl, "plugging back: %s", qPrintable(*err));
        m_linkDown.clear();
    }
    m_driver.setUnplugged(false);
    if (m_effects.pauseDataPath)
        m_effects.pauseDataPath(false);
    m_unplugged = false;
    qCWarning(lcControl, "plugged back in (%s); %llu datagram(s) dropped while unplugged", qPrintable(why),
              static_cast<unsigned long long>(m_driver.unpluggedDrops()));
    Q_EMIT logEvent(QStringLiteral("fault-ended"), ipv4ToString(m_settings.address), QStringLiteral("unplug: %1").arg(why));
}

void FaultService::setDrain(bool on)
{
    if (m_draining == on)
        return;
    m_draining = on;
    if (m_effects.setDraining)
        m_effects.setDraining(on);
    m_driver.withdrawCapabilities(QStringLiteral("drain fault"), tb::kCanDispatch, on);
    qCWarning(lcControl, "%s", on ? "draining: health draining, no dispatch capability"
                                  : "drain undone: health and capabilities back");
    if (!on)
        Q_EMIT logEvent(QStringLiteral("fault-ended"), ipv4ToString(m_settings.address), QStringLiteral("drain undone"));
}

void FaultService::onReply(tb::NodeAddr from, const FaultReply &r)
{
    auto it = m_pending.find(r.commandId);
    if (it == m_pending.end() || it->second.target != from)
        return; // an answer to someone else's command id, or one that came too late
    const ControlServer::AnswerFn answer = it->second.answer;
    it->second.timeout->stop();
    m_pending.erase(it);
    qCInfo(lcControl, "fault command %u: %s answered %s%s", r.commandId, qPrintable(ipv4ToString(from)),
           qPrintable(faultResultName(r.result)), r.message.isEmpty() ? "" : qPrintable(QStringLiteral(": ") + r.message));
    answer(QJsonObject{{QStringLiteral("result"), faultResultName(r.result)},
                       {QStringLiteral("message"), r.message},
                       {QStringLiteral("node"), ipv4ToString(from)},
                       {QStringLiteral("action"), faultActionName(r.action)}});
}

} // namespace sasha
