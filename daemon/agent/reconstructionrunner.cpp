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
    m_mergeTimer.setSingleShot(true);
    m_mergeTimer.setInterval(0);
    connect(&m_mergeTimer, &QTimer::timeout, this, &ReconstructionRunner::mergeNext);
}

void ReconstructionRunner::start(quint32 vip, std::vector<quint16> ports, const std::vector<tb::NodeAddr> &servers)
{
    ++m_generation;
    m_mergeTimer.stop();
    apply(m_coordinator.start(m_clock(), vip, std::move(ports), servers));
}

void ReconstructionRunner::start(const std::vector<std::pair<quint32, quint16>> &services,
                                 const std::vector<tb::NodeAddr> &servers)
{
    ++m_generation;
    m_mergeTimer.stop();
    apply(m_coordinator.start(m_clock(), services, servers));
}

void ReconstructionRunner::start(const ServicePorts &services, const ServicePorts &udpServices,
                                 const std::vector<tb::NodeAddr> &servers)
{
    ++m_generation;
    m_mergeTimer.stop();
    apply(m_coordinator.start(m_clock(), services, udpServices, servers));
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
    ++m_generation;
    m_timer.stop();
    m_mergeTimer.stop();
    m_coordinator = ReconstructionCoordinator(m_config);
}

void ReconstructionRunner::onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload)
{
    if (channel != kConnReportChannel)
        return;
    const quint64 generation = m_generation;
    m_decoder.run([this, generation, from, payload] {
        QString error;
        std::optional<ConnReport> report = decodeConnReport(payload, &error);
        QMetaObject::invokeMethod(
            this, [this, generation, from, report = std::move(report), error]() mutable {
                onDecoded(generation, from, std::move(report), error);
            },
            Qt::QueuedConnection);
    });
}

void ReconstructionRunner::onDecoded(quint64 generation, tb::NodeAddr from, std::optional<ConnReport> report,
                                     const QString &error)
{
    if (generation != m_generation)
        return; // for a run that is over
    if (!report) {
        apply(m_coordinator.onUndecodable(error), from);
        return;
    }
    apply(m_coordinator.onDecodedReport(m_clock(), from, std::move(*report), kMergeSlice), from);
}

void ReconstructionRunner::mergeNext()
{
    apply(m_coordinator.mergeMore(m_clock(), kMergeSlice));
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
    if (m_coordinator.hasPendingMerge() && !m_mergeTimer.isActive())
        m_mergeTimer.start();
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
