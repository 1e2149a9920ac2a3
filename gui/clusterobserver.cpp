#include "clusterobserver.h"

#include "control/controlprotocol.h"

#include <QDateTime>

#include <algorithm>

namespace sasha::console {

namespace {

tb::NodeConfig observerConfig(const ClusterObserver::Options &o)
{
    tb::NodeConfig c;
    c.self = o.self;
    c.endpoint = o.bind;
    c.caps = tb::kObserver;
    c.seeds = o.seeds;
    c.broadcast = o.broadcast;
    c.key = o.key;
    c.bootEpoch = quint64(QDateTime::currentMSecsSinceEpoch());
    c.timers = o.timers;
    return c;
}

bool hasMember(const tb::RingView &v, tb::NodeAddr a)
{
    return std::any_of(v.members.begin(), v.members.end(), [a](const tb::Member &m) { return m.addr == a; });
}

} // namespace

ClusterObserver::ClusterObserver(Options options, RingDriver::Clock clock, QObject *parent)
    : ClusterFeed(parent), m_options(std::move(options)),
      m_driver(std::make_unique<RingDriver>(observerConfig(m_options), std::move(clock)))
{
    connect(m_driver.get(), &RingDriver::eventOccurred, this, &ClusterObserver::onCoreEvent);
    connect(m_driver.get(), &RingDriver::viewChanged, this, &ClusterObserver::onView);
    connect(m_driver.get(), &RingDriver::oobReceived, this, &ClusterObserver::onOob);
    for (const QString &path : std::as_const(m_options.controlSockets)) {
        auto *stream = new DaemonEventStream(path, this);
        connect(stream, &DaemonEventStream::eventReceived, this, &ClusterObserver::onDaemonEvent);
        connect(stream, &DaemonEventStream::statusReceived, this, &ClusterFeed::statusReported);
        m_streams.push_back(stream);
    }
    m_eventSubscribe.setInterval(kEventFeedSubscribeMs);
    connect(&m_eventSubscribe, &QTimer::timeout, this, &ClusterObserver::subscribeToEvents);
    m_flowSubscribe.setInterval(kFlowFeedSubscribeMs);
    connect(&m_flowSubscribe, &QTimer::timeout, this, &ClusterObserver::subscribeToFlows);
    m_noRing.setSingleShot(true);
    connect(&m_noRing, &QTimer::timeout, this, [this] {
        if (m_haveView)
            return;
        QStringList where;
        for (const auto &s : m_options.seeds)
            where << s.toString();
        if (m_options.broadcast)
            where << QStringLiteral("broadcast %1").arg(m_options.broadcast->toString());
        if (m_badMac == 0)
            setProblem(QStringLiteral("No ring answered within %1 s (asked: %2). Is sashad running there, on that port, "
                                      "and reachable from %3? Or is --key not the cluster's key? (nodes then drop our "
                                      "datagrams as bad-mac without answering: see `sashactl counters` on a node)")
                           .arg(m_options.noRingTimeoutMs / 1000.0)
                           .arg(where.isEmpty() ? QStringLiteral("nobody: give --seed or --broadcast") : where.join(QStringLiteral(", ")))
                           .arg(m_driver->localEndpoint().toString()));
    });
}

ClusterObserver::~ClusterObserver()
{
    if (m_driver && m_driver->isRunning())
        m_driver->leave();
}

std::optional<QString> ClusterObserver::start()
{
    if (auto err = m_driver->start())
        return err->message;
    m_noRing.start(m_options.noRingTimeoutMs);
    m_flowSubscribe.start();
    m_eventSubscribe.start();
    for (auto *s : m_streams)
        s->start();
    return std::nullopt;
}

void ClusterObserver::stop()
{
    if (m_driver->isRunning())
        m_driver->leave();
}

qint64 ClusterObserver::nowUs() const { return m_driver->now().count(); }

// Unknown: the ring's rate follows the nodes' [timers] (25/s with the LAN defaults, 2/s with
// the paper's), not this observer's, and neither views nor the event feed carry it. Returning the
// observer's own default (as this did) labelled a paper-timer ring "token 25/s".
double ClusterObserver::rotationsPerSecond() const { return 0; }

QString ClusterObserver::describe() const
{
    return QStringLiteral("observer %1 at %2").arg(ipToString(m_options.self), m_driver->localEndpoint().toString());
}

bool ClusterObserver::sendFault(const FaultCommand &cmd, QString *error)
{
    auto fail = [error](const QString &why) {
        if (error)
            *error = why;
        return false;
    };
    if (m_options.readOnly)
        return fail(QStringLiteral("read-only console"));
    if (!m_driver->isRunning() || !m_haveView)
        return fail(QStringLiteral("not observing a ring yet"));
    if (!hasMember(m_last, cmd.target))
        return fail(QStringLiteral("%1 is not a member of the ring").arg(ipToString(cmd.target)));
    m_driver->sendOob(cmd.target, kFaultChannel, encodeFaultCommand(cmd), true);
    return true;
}

bool ClusterObserver::sendAdmin(const AdminCommand &cmd, QString *error)
{
    auto fail = [error](const QString &why) {
        if (error)
            *error = why;
        return false;
    };
    if (m_options.readOnly)
        return fail(QStringLiteral("read-only console"));
    if (!m_driver->isRunning() || !m_haveView)
        return fail(QStringLiteral("not observing a ring yet"));
    if (!hasMember(m_last, cmd.target))
        return fail(QStringLiteral("%1 is not a member of the ring").arg(ipToString(cmd.target)));
    m_driver->sendOob(cmd.target, kAdminChannel, encodeAdminCommand(cmd), true);
    return true;
}

void ClusterObserver::setProblem(const QString &message)
{
    if (message == m_problem)
        return;
    m_problem = message;
    if (!message.isEmpty())
        qWarning("sasha-console: %s", qPrintable(message));
    Q_EMIT problemChanged(message);
}

bool ClusterObserver::daemonEventsFlowing() const
{
    if (m_eventFeed.lastHeardUs() != 0 && nowUs() - m_eventFeed.lastHeardUs() < kFeedQuietUs)
        return true;
    return std::any_of(m_streams.begin(), m_streams.end(), [](const DaemonEventStream *s) { return s->isConnected(); });
}

void ClusterObserver::subscribeToEvents()
{
    // Every member: each reports its own events (a purge is seen by all, the first-forward only
    // by the dispatcher). The view is the last one held, also while the ring is re-forming, so
    // the subscriptions of the survivors never lapse during a failover.
    if (!m_haveView || !m_driver->isRunning())
        return;
    const QByteArray subscribe = encodeEventFeedSubscribe();
    for (const tb::Member &m : m_last.members)
        if (m.addr != m_options.self)
            m_driver->sendOob(m.addr, kEventFeedChannel, subscribe, false);
}

void ClusterObserver::onEventFeed(tb::NodeAddr from, const QByteArray &payload)
{
    EventFeedReceiver::Result r = m_eventFeed.onMessage(from, payload, nowUs());
    if (!r.error.isEmpty()) {
        if (m_eventFeed.stats().rejected % 100 == 1)
            qWarning("sasha-console: event feed message refused (%llu so far): %s",
                     static_cast<unsigned long long>(m_eventFeed.stats().rejected), qPrintable(m_eventFeed.lastError()));
        return;
    }
    const QString self = ipToString(m_options.self);
    for (const ControlEvent &e : std::as_const(r.events)) {
        if (!isTimelineKind(e.kind))
            continue;
        // A fault this console sent is already on the timeline, stamped when it was sent.
        if (e.kind == kKindFaultInjected
            && (e.detail.endsWith(QStringLiteral(" by ") + self) || e.detail.contains(QStringLiteral(" by %1:").arg(self))))
            continue;
        onDaemonEvent(e);
    }
}

void ClusterObserver::onDaemonEvent(const ControlEvent &e)
{
    // Every daemon reports the same election and formation: show each once.
    constexpr qint64 kSameEventUs = 1'000'000;
    const QString key = e.kind + QLatin1Char('|') + e.node;
    const auto it = m_recentDaemonEvents.constFind(key);
    if (it != m_recentDaemonEvents.cend() && qAbs(e.monoUs - *it) < kSameEventUs)
        return;
    m_recentDaemonEvents.insert(key, e.monoUs);
    if (m_recentDaemonEvents.size() > 1000)
        m_recentDaemonEvents.clear(); // bounded; at worst one duplicate row
    Q_EMIT eventOccurred(e);
}

void ClusterObserver::emitDerived(const QString &kind, tb::NodeAddr node, const QString &detail)
{
    if (daemonEventsFlowing() && kind != QLatin1String("observer-joined"))
        return; // the daemons report it, with their exact time
    ControlEvent e;
    e.monoUs = nowUs();
    e.wallMs = QDateTime::currentMSecsSinceEpoch();
    e.kind = kind;
    e.node = ipToString(node);
    e.detail = detail;
    Q_EMIT eventOccurred(e);
}

void ClusterObserver::onView()
{
    const tb::RingView &v = m_driver->node().view();
    if (v.members.empty())
        return;
    const bool firstView = !m_haveView;
    if (!m_haveView) {
        setProblem({});
        // Not "ring-formed": joining a ring that already runs is no failover.
        emitDerived(QStringLiteral("observer-joined"), m_options.self,
                    QStringLiteral("observing ring epoch %1, %2 members").arg(v.ringEpoch).arg(v.members.size()));
    } else {
        if (v.ringEpoch != m_last.ringEpoch)
            emitDerived(QStringLiteral("ring-formed"), v.master, QStringLiteral("epoch %1").arg(v.ringEpoch));
        for (const auto &m : v.members)
            if (!hasMember(m_last, m.addr))
                emitDerived(QStringLiteral("member-joined"), m.addr);
        for (const auto &m : m_last.members)
            if (!hasMember(v, m.addr))
                emitDerived(QStringLiteral("member-lost"), m.addr);
    }
    if (v.dispatcher != tb::kNoNode && (!m_haveView || v.dispatcher != m_last.dispatcher)) {
        emitDerived(QStringLiteral("dispatcher-elected"), v.dispatcher);
        Q_EMIT flowMapReset(v.dispatcher);
        m_last = v;
        m_haveView = true;
        subscribeToFlows(); // at once: the new dispatcher's snapshot follows within a tick
    }
    m_last = v;
    m_haveView = true;
    if (firstView)
        subscribeToEvents();
    Q_EMIT viewChanged(v);
}

void ClusterObserver::onCoreEvent(const tb::Event &e)
{
    using K = tb::Event::Kind;
    switch (e.kind) {
    case K::PurgeStarted:
    case K::TokenTimeout:
    case K::Abdicated:
    case K::MemberLeft:
        if (daemonEventsFlowing())
            break;
        Q_EMIT eventOccurred(ControlEvent::fromCore(e, QDateTime::currentMSecsSinceEpoch()));
        break;
    case K::DatagramDropped:
        if (e.dropReason == tb::DropReason::BadMac) {
            m_badMac += e.value ? e.value : 1; // the receive thread's notices stand for value datagrams
            m_badMacFrom = e.from;
            if (!m_haveView || m_badMac % 100 == 1)
                setProblem(QStringLiteral("Wrong cluster key? %1 datagram(s) from %2 dropped as bad-mac: they were not "
                                          "signed with the key in --key. Use the cluster's key file.")
                               .arg(m_badMac).arg(e.from.toString()));
        }
        break;
    default:
        break; // derived from views (onView) or not shown
    }
}

void ClusterObserver::subscribeToFlows()
{
    if (!m_haveView || m_last.dispatcher == tb::kNoNode || !m_driver->isRunning())
        return;
    m_driver->sendOob(m_last.dispatcher, kFlowFeedChannel, m_flowFeed.subscription(m_last.dispatcher), false);
}

void ClusterObserver::onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload)
{
    if (channel == kEventFeedChannel) {
        onEventFeed(from, payload);
        return;
    }
    if (channel == kFlowFeedChannel) {
        FlowFeedReceiver::Result r = m_flowFeed.onMessage(from, payload, nowUs());
        if (!r.error.isEmpty()) {
            if (m_flowFeed.rejected() % 100 == 1)
                qWarning("sasha-console: flow feed message from %s refused (%llu so far): %s", qPrintable(ipToString(from)),
                         static_cast<unsigned long long>(m_flowFeed.rejected()), qPrintable(r.error));
            return;
        }
        if (r.reset)
            Q_EMIT flowMapReset(r.dispatcher);
        if (!r.flows.isEmpty())
            Q_EMIT flowsChanged(r.flows);
        return;
    }
    QString error;
    if (channel == kAdminReportChannel) {
        if (const auto report = decodeAdminReport(payload, &error))
            Q_EMIT adminReported(from, *report);
        return;
    }
    if (channel == kAdminChannel) {
        if (adminMessageType(payload) != 2)
            return; // a command: not for an observer
        if (const auto reply = decodeAdminReply(payload, &error))
            Q_EMIT adminReplied(from, *reply);
        else
            qWarning("sasha-console: bad admin reply from %s: %s", qPrintable(ipToString(from)), qPrintable(error));
        return;
    }
    if (channel != kFaultChannel)
        return;
    if (auto reply = decodeFaultReply(payload, &error))
        Q_EMIT faultReplied(from, *reply);
    else
        qWarning("sasha-console: bad fault reply from %s: %s", qPrintable(ipToString(from)), qPrintable(error));
}

} // namespace sasha::console
