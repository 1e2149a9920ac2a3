#include "agent/reconstructionrunner.h"

#include <algorithm>

namespace sasha {

ReconstructionRunner::ReconstructionRunner(ReconstructionConfig config, SendFn send, FlowSink sink, Clock clock,
                                           QObject *parent)
    : QObject(parent), m_config(config), m_coordinator(config), m_send(std::move(send)), m_sink(std::move(sink)),
      m_clock(std::move(clock))
{
    m_timer.setSingleShot(true);
    m_timer.setTimerType(Qt::PreciseTimer);
    connect(&m_timer, &QTimer::timeout, this, &ReconstructionRunner::onTimer);
}

void ReconstructionRunner::start(quint32 vip, std::vector<quint16> ports, const std::vector<tb::NodeAddr> &servers)
{
    apply(m_coordinator.start(m_clock(), vip, std::move(ports), servers));
}

void ReconstructionRunner::start(const std::vector<std::pair<quint32, quint16>> &services,
                                 const std::vector<tb::NodeAddr> &servers)
{
    apply(m_coordinator.start(m_clock(), services, servers));
}

void ReconstructionRunner::serverJoined(tb::NodeAddr server)
{
    apply(m_coordinator.onServerJoined(m_clock(), server));
}

void ReconstructionRunner::serverLeft(tb::NodeAddr server)
{
    apply(m_coordinator.onServerLeft(m_clock(), server));
}

void ReconstructionRunner::stop()
{
    m_timer.stop();
    m_coordinator = ReconstructionCoordinator(m_config);
}

void ReconstructionRunner::onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload)
{
    if (channel != kConnReportChannel)
        return;
    apply(m_coordinator.onReport(m_clock(), from, payload), from);
}

void ReconstructionRunner::onTimer()
{
    apply(m_coordinator.onTick(m_clock()));
}

void ReconstructionRunner::apply(ReconstructionCoordinator::Output out, tb::NodeAddr from)
{
    if (out.malformed)
        Q_EMIT reportRejected(from, out.error);
    for (const auto &q : out.send)
        m_send(q.to, kConnQueryChannel, q.payload);
    if (!out.flows.empty() && m_sink)
        m_sink(out.flows);
    for (const auto &e : out.events) {
        Q_EMIT eventOccurred(e);
        if (e.kind == ReconstructionCoordinator::Event::Kind::Completed)
            Q_EMIT completed(e.count, e.answered, e.missing,
                             std::chrono::duration_cast<std::chrono::milliseconds>(e.elapsed).count());
    }
    rearm();
}

void ReconstructionRunner::rearm()
{
    const tb::Time next = m_coordinator.nextDeadline();
    if (next == tb::Time::max()) {
        m_timer.stop();
        return;
    }
    const auto waitMs = std::chrono::ceil<std::chrono::milliseconds>(std::max(tb::Time(0), next - m_clock()));
    m_timer.start(int(std::min<qint64>(waitMs.count(), 60000)));
}

} // namespace sasha
