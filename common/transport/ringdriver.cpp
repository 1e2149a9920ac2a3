#include "transport/ringdriver.h"

#include "config/logcategories.h"
#include "tokenbeat/envelope.h"

#include <memory>

#include <ctime>

namespace sasha {

tb::Time RingDriver::steadyNow()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return tb::Time(qint64(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000);
}

RingDriver::RingDriver(tb::NodeConfig config, Clock clock, QObject *parent)
    : QObject(parent), m_config(std::move(config)), m_clock(clock ? std::move(clock) : Clock(&RingDriver::steadyNow))
{
    qRegisterMetaType<sasha::tb::Event>();
    qRegisterMetaType<sasha::tb::Endpoint>();
    qRegisterMetaType<sasha::tb::NodeAddr>("sasha::tb::NodeAddr");
    m_timer.setSingleShot(true);
    m_timer.setTimerType(Qt::PreciseTimer);
    connect(&m_timer, &QTimer::timeout, this, &RingDriver::onTimer);
    connect(&m_transport, &UdpTransport::datagramReceived, this, &RingDriver::onDatagram);
    // The receive thread authenticates with its own Opener (no replay state: the core keeps
    // that), so junk never reaches this thread.
    // The destination (replays across links) and the replay window are the core's.
    auto opener = std::make_shared<const tb::Opener>(m_config.key, std::vector<tb::Endpoint>{}, m_config.maxDatagram);
    m_transport.setAdmission([opener](QByteArrayView datagram) { return opener->authenticate(datagram); });
    // The core reports its own drops as events; the receive thread's are reported the same way
    // (value = how many datagrams the notice stands for).
    connect(&m_transport, &UdpTransport::datagramsRejected, this,
            [this](const tb::Endpoint &from, tb::DropReason why, quint64 count) {
                if (!m_node)
                    return;
                tb::Event e{tb::Event::Kind::DatagramDropped};
                e.at = m_clock();
                e.dropReason = why;
                e.from = from;
                e.value = count;
                e.detail = QStringLiteral("%1 datagram(s) rejected by the receive thread").arg(count);
                Q_EMIT eventOccurred(e);
            });
}

RingDriver::~RingDriver() = default;

std::optional<TransportError> RingDriver::bind()
{
    if (m_transport.isBound())
        return std::nullopt;
    if (auto err = m_transport.bind(m_config.endpoint))
        return err;
    m_config.endpoint = m_transport.localEndpoint();
    return std::nullopt;
}

std::optional<TransportError> RingDriver::start()
{
    if (m_node)
        return std::nullopt;
    if (auto err = bind())
        return err;
    // The core must not announce itself to itself.
    std::erase(m_config.seeds, m_config.endpoint);
    m_node = std::make_unique<tb::TokenBeatNode>(m_config);
    m_stoppedEmitted = false;
    if (!m_withdrawn.empty())
        withdrawCapabilities(m_withdrawn.begin()->first, m_withdrawn.begin()->second, true); // applies them all
    apply(m_node->start(m_clock()));
    return std::nullopt;
}

void RingDriver::leave()
{
    if (!m_node)
        return;
    apply(m_node->leave(m_clock()));
}

quint64 RingDriver::sendOob(tb::NodeAddr to, quint8 channel, const QByteArray &payload, bool reliable)
{
    if (!m_node)
        return 0;
    quint64 id = 0;
    apply(m_node->sendOob(m_clock(), to, channel, payload, reliable, &id));
    return id;
}

void RingDriver::setLocalStatus(const tb::NodeStatus &status)
{
    if (m_node)
        m_node->setLocalStatus(status);
}

void RingDriver::withdrawCapabilities(const QString &reason, quint8 bits, bool withdrawn)
{
    if (withdrawn && bits)
        m_withdrawn[reason] = bits;
    else
        m_withdrawn.erase(reason);
    quint8 gone = 0;
    for (const auto &[why, b] : m_withdrawn)
        gone |= b;
    if (m_node)
        m_node->setCapabilities(quint8(m_config.caps & ~gone));
}

tb::Counters RingDriver::counters() const
{
    tb::Counters c = m_node->counters();
    for (int r = 0; r < static_cast<int>(tb::DropReason::Count_); ++r) {
        const quint64 n = m_transport.rejected(tb::DropReason(r));
        c.dropped[r] += n;
        c.datagramsIn += n;
    }
    return c;
}

void RingDriver::onDatagram(const tb::Endpoint &from, const QByteArray &datagram)
{
    if (!m_node)
        return;
    apply(m_node->onDatagram(m_clock(), from, datagram));
    // A member that is not the master may never see its timer fire: every token re-arms it.
    beat();
}

void RingDriver::setHeartbeat(std::function<void(tb::Time)> beat, tb::Time every)
{
    m_heartbeat = std::move(beat);
    m_heartbeatEvery = every;
    if (m_node && m_timer.isActive())
        rearm();
}

void RingDriver::onTimer()
{
    if (!m_node)
        return;
    // How late this thread came to its deadline (a busy or starved thread, or a stalled machine).
    const qint64 lateUs = m_timerDueUs ? steadyNow().count() - m_timerDueUs : 0;
    if (m_timerDueUs) {
        if (lateUs >= 50'000)
            qCWarning(lcRing, "the ring's timer fired %.1f ms late (armed for %lld ms)", double(lateUs) / 1000.0,
                      static_cast<long long>(m_timerArmedMs));
        m_transport.noteOwnerLag(lateUs);
    }
    // Datagrams that arrived while this thread was busy come before the deadline's verdict (a
    // token waiting in the socket is not a token timeout). Handling them may stop the node.
    m_transport.readQueued();
    if (!m_node)
        return;
    const quint64 stalls = m_node->counters().selfStalls;
    apply(m_node->onTick(m_clock()));
    if (m_node && m_node->counters().selfStalls != stalls) {
        qCWarning(lcRing, "this node did not run for %.1f ms past its ring deadline (its process or its machine "
                          "stalled): its token timeout waits that long again before it purges the ring",
                  double(lateUs) / 1000.0);
    }
    beat();
}

void RingDriver::beat()
{
    if (m_heartbeat && m_node && m_node->state() != tb::NodeState::Stopped)
        m_heartbeat(m_clock());
}

void RingDriver::apply(tb::Actions actions)
{
    for (const tb::Outgoing &out : actions.send)
        m_transport.send(out.to, out.datagram);
    for (const tb::Event &e : actions.events) {
        if (e.kind == tb::Event::Kind::OobReceived)
            Q_EMIT oobReceived(e.node, e.channel, e.payload);
        Q_EMIT eventOccurred(e);
    }
    const tb::RingView &v = m_node->view();
    // Members see status changes in the token and read view() when they need it; an observer's
    // statuses change only by a View of the same version, which is a change for its users too.
    const bool observedStatuses = m_node->state() == tb::NodeState::Observing && v.members != m_lastObservedMembers;
    if (v.ringEpoch != m_lastEpoch || v.viewVersion != m_lastVersion || observedStatuses
        || std::any_of(actions.events.begin(), actions.events.end(),
                       [](const tb::Event &e) { return e.kind == tb::Event::Kind::ViewChanged; })) {
        m_lastEpoch = v.ringEpoch;
        m_lastVersion = v.viewVersion;
        if (m_node->state() == tb::NodeState::Observing)
            m_lastObservedMembers = v.members;
        Q_EMIT viewChanged();
    }
    const tb::NodeState state = m_node->state();
    if (state != m_lastState) {
        m_lastState = state;
        Q_EMIT stateChanged();
    }
    if (state == tb::NodeState::Stopped) {
        m_timer.stop();
        m_timerDueUs = 0;
        if (!m_stoppedEmitted) {
            m_stoppedEmitted = true;
            Q_EMIT stopped();
        }
        return;
    }
    rearm();
}

void RingDriver::rearm()
{
    using namespace std::chrono;
    const tb::Time delta = m_node->nextDeadline() - m_clock();
    // Round up: firing early is harmless but wastes a wake-up; late by < 1 ms is within budget.
    qint64 maxMs = 60000;
    if (m_heartbeat && m_heartbeatEvery.count() > 0)
        maxMs = std::clamp<qint64>(m_heartbeatEvery.count() / 1000, 1, maxMs);
    const qint64 ms = std::clamp<qint64>((delta.count() + 999) / 1000, 0, maxMs);
    m_timer.start(int(ms));
    m_timerDueUs = steadyNow().count() + ms * 1000;
    m_timerArmedMs = ms;
}

} // namespace sasha
