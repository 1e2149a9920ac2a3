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

#include <QTimer>

#include <set>

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
    // Closed on a worker, like a stopped run (closing packet sockets waits for the kernel); the
    // kept capture goes too: the next preparation opens everything anew.
    if (m_prepared)
        tearDownOnWorker(std::move(m_prepared));
    if (m_recycled)
        m_background.run([old = std::shared_ptr<Recycled>(std::move(m_recycled))]() mutable { old.reset(); });
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
    if (m_preparing) {
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
    else
        tearDownOnWorker(std::move(prepared));
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

// One dispatcher on the data network (issue 11 item 2, docs/dispatcher.md). Every dispatcher
// announces the VMAC once per announce_ms with its ring address and ring size in it; every capable
// node sees the others' announcements (the dispatching capture lets them in, an idle node polls
// its prepared capture). An announcement from a node that is not a member of this node's ring
// (and has not been for kLeftGraceMs: a dispatcher that just died sent its last one before it
// left the view) is a second dispatcher on the same data network: a ring partitioned on the
// ring port only. The election rule decides (a ring of several before a ring of one, then the
// lower address): when the other wins, this node yields (it stops dispatching if it does, and
// withdraws the dispatch capability until that dispatcher has been silent for
// kConflictHoldAnnouncements periods); when this node wins, the other will yield.
namespace sasha {
namespace {
// An announcement read less than this after its sender left our ring may have been sent before
// (a dispatcher that died sent its last one before the ring noticed). Announcements are read at
// most kAnnouncementPollMs (50 ms) after they arrive, and a member is noted as leaving when this
// node's ring is purged, at least a token timeout after a death: 150 ms leaves room for a late poll.
constexpr qint64 kLeftGraceMs = 150;
// After this node's ring lost members while it dispatches: announce every kLossAnnounceStepMs for
// kLossAnnounceSteps steps (announceAfterLoss()).
constexpr int kLossAnnounceStepMs = 100;
constexpr int kLossAnnounceSteps = 10;
constexpr int kConflictHoldAnnouncements = 3;
// ask(): how long after the question a node elected because its ring lost the dispatcher waits
// for a live dispatcher's answer before it announces the VMAC, and how often it reads its capture
// meanwhile. A dispatcher answers within a millisecond on a quiet network (immediate-mode
// capture, the answer queued by the same turn). The question goes out at the purge, so the
// wait has usually passed by the election.
constexpr int kAskWaitMs = 30;
constexpr int kAnswerPollMs = 5;
// What is read this long after the question still counts as fresh.
constexpr qint64 kAskFreshMs = 2000;
// A dispatcher that has forwarded this long, or since before its ring last formed, announces
// itself as established (the top bit of the announcement's member count).
constexpr qint64 kEstablishedUs = 1'000'000;
constexpr int kEstablishedBit = 0x8000;

qint64 steadyMs() { return RingDriver::steadyNow().count() / 1000; }

// Reads the prepared (idle) capture's frames: VMAC announcements only (its filter).
class AnnouncementReceiver final : public FrameReceiver {
public:
    explicit AnnouncementReceiver(const MacAddress &vmac) : m_vmac(vmac) {}
    void onFrame(std::span<const std::uint8_t> frame) noexcept override
    {
        // An announcement, or the answer to this node's question (ask()): both say who dispatches.
        if (const auto a = VmacAnnouncer::announcerOf(frame, m_vmac)) {
            announcers.push_back(*a);
        } else if (const auto b = VmacAnnouncer::answererOf(frame, m_vmac)) {
            announcers.push_back(*b);
            ++answers;
        }
    }
    std::vector<MacAddress> announcers;
    int answers = 0; // of announcers, how many were answers to a question

private:
    MacAddress m_vmac;
};
} // namespace

// At every view and state change, and every poll: when each member was last one. Only while this
// node is a member of a formed ring, and once more at the moment it leaves that state (a purge),
// with the view it had then: the view a joining node still holds is stale, and counting it would
// push back the moment a partitioned dispatcher's announcements are believed.
void DispatcherService::noteMembers()
{
    const bool member = m_driver.isRunning() && m_driver.node().state() == tb::NodeState::Member;
    if (!member && !m_wasMember)
        return;
    if (!member && !m_run && m_ringDispatcherKnown)
        ask(); // the ring broke: who dispatches now is asked while the next ring forms
    m_wasMember = member;
    const qint64 now = steadyMs();
    for (const tb::Member &m : m_driver.node().view().members)
        m_lastMemberMs[m.addr] = now;
}

// Every 50 ms (m_announcementPoll, started with the service when it may dispatch).
void DispatcherService::watchAnnouncements()
{
    noteMembers();
    if (m_run) {
        const quint64 seen = m_run->processor->foreignAnnouncements();
        if (seen != m_foreignSeen) {
            m_foreignSeen = seen;
            const std::uint64_t mac = m_run->processor->lastForeignAnnouncer();
            MacAddress a{};
            for (int i = 0; i < 6; ++i)
                a[std::size_t(i)] = std::uint8_t(mac >> (8 * (5 - i)));
            onAnnouncement(a, false);
        }
    } else if (m_prepared) {
        AnnouncementReceiver r(m_settings.dispatcher.vmac);
        m_prepared->source->receive(r, 64, std::chrono::milliseconds(0));
        if (!r.announcers.empty() && askedRecently())
            qCDebug(lcRing, "who dispatches: %zu announcement(s), %d of them answers, read %lld ms after the question",
                    r.announcers.size(), r.answers, static_cast<long long>(steadyMs() - m_askedMs));
        for (const MacAddress &a : r.announcers)
            onAnnouncement(a, askedRecently());
    }
    judgeAnnouncements();
    expireConflict();
}

// Who this node announces as (vmacannouncer.h: ring address, ring size), with the established bit
// once it has dispatched for kEstablishedUs or through a change of its ring (publish(), and every
// second from tickStats()).
bool DispatcherService::established() const
{
    return m_run && (m_driver.node().view().ringEpoch != m_runEpoch
                     || RingDriver::steadyNow().count() - m_run->startedMonoUs >= kEstablishedUs);
}

void DispatcherService::updateAnnouncer()
{
    if (!m_run || !m_driver.isRunning())
        return;
    const tb::TokenBeatNode &node = m_driver.node();
    const bool weEstablished = established();
    const int members = int(std::min<std::size_t>(node.view().members.size(), kEstablishedBit - 1));
    m_run->announcer->setAnnouncer(node.self(), quint16(members | (weEstablished ? kEstablishedBit : 0)));
}

// A ring-port partition looks the same as a crash from inside the ring, but the lost dispatcher
// may still forward on the data network, and an announcement from a node elected on the other
// side pulls the switch's VMAC entry to its port for as long as it takes the two to settle: every
// flow that reaches the wrong one meanwhile is reset (a soak of 14 partitions lost 28 connections
// so). So a node asks: an ARP question for the VIP (an RFC 5227 probe), which a live dispatcher
// answers with who it is after the reply (DispatcherThread, VmacAnnouncer::appendAnswerer). What
// is read after the question was sent is fresh (judged without kLeftGraceMs: sent by a dispatcher
// alive after our ring broke); one that wins by the rule makes this node yield without ever
// announcing the VMAC. Each asker gets its own answer (unicast): several nodes asking at once
// cannot take each other's.
//
// The question goes out when this node's ring breaks (noteMembers(): a purge), from every idle
// capable node with a prepared data path (its injector sends, its capture reads): the answer is in
// before the new ring has formed (~40 ms), so a real crash costs no time. A node elected because
// the ring lost its dispatcher (not a handover: that one is still a member) waits, if need be,
// until kAskWaitMs after the question, or asks then if it had not.
bool DispatcherService::ask()
{
    if (m_run || !m_prepared || !m_prepared->sink || !m_unable.isEmpty())
        return false;
    // What the capture holds was sent before the question: judged the usual way, not as fresh
    // (a dead dispatcher's last announcement may wait there).
    {
        AnnouncementReceiver r(m_settings.dispatcher.vmac);
        m_prepared->source->receive(r, 64, std::chrono::milliseconds(0));
        for (const MacAddress &a : r.announcers)
            onAnnouncement(a, false);
    }
    std::string error;
    const std::vector<std::uint8_t> question = ArpResponder::buildQuestion(m_ownMac, m_settings.dispatcher.vip, error);
    if (question.empty() || !m_prepared->sink->enqueue(question) || m_prepared->sink->flush().sent == 0) {
        qCWarning(lcRing, "could not ask the data network who dispatches: %s",
                  error.empty() ? m_prepared->sink->lastError().c_str() : error.c_str());
        return false;
    }
    m_askedMs = steadyMs();
    qCDebug(lcRing, "asked the data network who dispatches (an ARP probe for %s)", qPrintable(ipv4ToString(m_settings.dispatcher.vip)));
    return true;
}

bool DispatcherService::askedRecently() const
{
    return m_askedMs != 0 && steadyMs() - m_askedMs < kAskFreshMs;
}

// True while the answers are awaited (pollAnswers() comes back to onViewChanged()).
bool DispatcherService::askBeforeTakeover()
{
    if (m_answerPoll.isActive())
        return true;
    const tb::TokenBeatNode &node = m_driver.node();
    const tb::NodeAddr lost = m_lastRingDispatcher;
    if (lost == tb::kNoNode || lost == node.self() || node.view().find(lost))
        return false;
    if (!askedRecently()) {
        if (!ask())
            return false;
        qCInfo(lcRing, "the ring lost its dispatcher %s: asked the data network whether it still dispatches",
               qPrintable(ipv4ToString(lost)));
    }
    const qint64 since = steadyMs() - m_askedMs;
    if (since >= kAskWaitMs) {
        m_askInfo = QStringLiteral("asked the data network %1 ms before, no answer").arg(since);
        return false;
    }
    if (!m_electedUs)
        m_electedUs = RingDriver::steadyNow().count();
    m_askWaitStartMs = steadyMs();
    m_answerPoll.start(kAnswerPollMs);
    return true;
}

// Every kAnswerPollMs while askBeforeTakeover()'s answers are awaited.
void DispatcherService::pollAnswers()
{
    watchAnnouncements(); // judges what was read, as fresh
    const qint64 since = steadyMs() - m_askedMs;
    const bool yielded = !m_conflict.isEmpty();
    if (!yielded && since < kAskWaitMs && shouldRun())
        return;
    m_answerPoll.stop();
    if (yielded || !shouldRun()) {
        if (yielded)
            qCInfo(lcRing, "answered %lld ms after the question: not taking over", static_cast<long long>(since));
        m_electedUs = 0;
        return;
    }
    m_askInfo = QStringLiteral("asked the data network %1 ms before, waited %2 ms, no answer")
                    .arg(since)
                    .arg(steadyMs() - m_askWaitStartMs);
    onViewChanged(); // no answer: take over (if this node is still the one)
}

// The ring lost members while this node dispatches: they may be alive on the other side of a
// ring-port partition, where their ring elects a dispatcher of its own. That one yields at the
// first of our announcements it counts, which must come kLeftGraceMs after it saw us leave; the
// periodic announcement could be up to announce_ms later, so for a second after the loss one goes
// out every kLossAnnounceStepMs (keepalived, too, repeats its gratuitous ARPs after a transition).
// docs/dispatcher.md "One dispatcher on the data network": the other side stops forwarding
// within 1 s of the partition.
void DispatcherService::announceAfterLoss(bool takeover)
{
    if (!m_run || !m_driver.isRunning())
        return;
    std::set<tb::NodeAddr> now;
    for (const tb::Member &m : m_driver.node().view().members)
        now.insert(m.addr);
    // A takeover's first announcement reaches a dispatcher that still forwards across a ring
    // partition within kLeftGraceMs of its losing us, so it is not believed there ("perhaps sent
    // before"); the next periodic one came a second later, and both forwarded meanwhile (soaks
    // of 29 partitions: 1.01-1.05 s of two dispatchers when the dispatcher was cut off alone, one
    // connection reset). With the series: 142-146 ms, 0 errors.
    bool lost = takeover;
    for (const tb::NodeAddr a : m_announcedTo) {
        if (!now.count(a)) {
            lost = true;
            break;
        }
    }
    m_announcedTo = std::move(now);
    if (!lost)
        return;
    for (int step = 1; step <= kLossAnnounceSteps; ++step) {
        QTimer::singleShot(std::chrono::milliseconds(step * kLossAnnounceStepMs), this, [this] {
            if (m_run && m_run->thread)
                m_run->thread->requestAnnouncement();
        });
    }
}

// Remembers who announced and when it was read; judgeAnnouncements() decides once this node is a
// member (a node still joining has no ring to compare with, but what it read then counts).
void DispatcherService::onAnnouncement(const MacAddress &announcer, bool fresh)
{
    // Who announces: its ring address and its ring's size (vmacannouncer.h); zero from a sender
    // that does not say, which cannot be judged and is left alone.
    const tb::NodeAddr who = (tb::NodeAddr(announcer[0]) << 24) | (tb::NodeAddr(announcer[1]) << 16)
                             | (tb::NodeAddr(announcer[2]) << 8) | announcer[3];
    if (who == tb::kNoNode || (m_driver.isRunning() && who == m_driver.node().self()))
        return;
    const int field = (announcer[4] << 8) | announcer[5];
    HeardAnnouncement &heard = m_heardAnnouncers[who];
    fresh = fresh || heard.fresh; // a later periodic one does not make an answer stale
    heard = HeardAnnouncement{steadyMs(), field & (kEstablishedBit - 1), (field & kEstablishedBit) != 0, fresh};
}

void DispatcherService::judgeAnnouncements()
{
    const qint64 now = steadyMs();
    // Forget what is older than two announcement periods (and a second dispatcher's next one
    // refreshes it).
    const qint64 keep = 2 * qint64(std::max(m_settings.dispatcher.announceMs, 100));
    std::erase_if(m_heardAnnouncers, [&](const auto &e) { return now - e.second.readMs > keep; });
    if (!m_driver.isRunning() || m_driver.node().state() != tb::NodeState::Member)
        return;
    const tb::TokenBeatNode &node = m_driver.node();
    for (auto it = m_heardAnnouncers.begin(); it != m_heardAnnouncers.end();) {
        const tb::NodeAddr who = it->first;
        const HeardAnnouncement heard = it->second;
        it = m_heardAnnouncers.erase(it);
        if (node.view().find(who))
            continue; // this ring's own dispatcher (we are not dispatching, or it is handing over)
        if (const auto last = m_lastMemberMs.find(who);
            !heard.fresh && last != m_lastMemberMs.end() && heard.readMs - last->second < kLeftGraceMs)
            continue; // read within kLeftGraceMs of its leaving our ring: perhaps sent before
        // The election rule (docs/tokenbeat.md "Election"): the dispatcher of a ring of several (a
        // strong claim) wins over one alone (a weak claim); then the one that was forwarding
        // already (established: it holds the flows, the other has just started); then the lower
        // address.
        const int ourMembers = int(node.view().members.size());
        const bool theyStrong = heard.members > 1, weStrong = ourMembers > 1;
        const bool weEstablished = established();
        const bool theyWin = theyStrong != weStrong                   ? theyStrong
                             : heard.established != weEstablished ? heard.established
                                                                   : who < node.self();
        const QString name = ipv4ToString(who);
        if (!theyWin) {
            if (m_run)
                qCInfo(lcRing, "another dispatcher (%s, outside our ring, ring of %d%s) announces the VMAC; it will yield",
                       qPrintable(name), heard.members, heard.established ? ", established" : "");
            if (who == m_conflictWith && !m_conflict.isEmpty()) {
                // The one we yielded to now loses by the rule (say its ring shrank to itself):
                // no need to wait for its silence.
                qCInfo(lcRing, "%s now loses by the election rule (ring of %d): dispatch capability restored",
                       qPrintable(name), heard.members);
                Q_EMIT logEvent(QStringLiteral("dispatcher-conflict-over"), name, m_conflict);
                m_conflict.clear();
                m_conflictWith = tb::kNoNode;
                Q_EMIT dataNetworkConflict(false, QString());
            }
            continue;
        }
        m_conflictSeenMs = std::max(m_conflictSeenMs, heard.readMs);
        if (!m_conflict.isEmpty())
            continue;
        m_conflict = QStringLiteral("dispatcher %1 (ring of %2), outside this ring, announces the VMAC on the data network")
                         .arg(name).arg(heard.members);
        m_conflictWith = who;
        qCCritical(lcRing, "%s: yielding (no dispatching until it has been silent for %d announcements)",
                   qPrintable(m_conflict), kConflictHoldAnnouncements);
        Q_EMIT logEvent(QStringLiteral("dispatcher-yielded"), name, m_conflict);
        if (m_run)
            stop(m_conflict);
        Q_EMIT dataNetworkConflict(true, m_conflict);
    }
}

void DispatcherService::expireConflict()
{
    if (m_conflict.isEmpty())
        return;
    const qint64 hold = qint64(kConflictHoldAnnouncements) * std::max(m_settings.dispatcher.announceMs, 100);
    if (steadyMs() - m_conflictSeenMs < hold)
        return;
    qCInfo(lcRing, "the other dispatcher has been silent for %lld ms; dispatch capability restored",
           static_cast<long long>(hold));
    Q_EMIT logEvent(QStringLiteral("dispatcher-conflict-over"), QString(), m_conflict);
    m_conflict.clear();
    m_conflictWith = tb::kNoNode;
    Q_EMIT dataNetworkConflict(false, QString());
}

} // namespace sasha
