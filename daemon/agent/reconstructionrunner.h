#pragma once
// The dispatcher's side of state reconstruction on real time: runs a ReconstructionCoordinator
// (pure, common/agent) with a QTimer for its retries and timeout, sends its queries as reliable
// out-of-band messages, feeds it the reports, and hands the flows to a sink (the dispatcher maps
// each flow's server to a fast-path slot and pushes it to FastPath::reconstructionQueue()).
//
// Wiring (sashad, when this node becomes dispatcher):
//   runner.start(vip, ports, serverAddresses)         on election (paper §3.4)
//   RingDriver::oobReceived -> runner.onOob           reports arrive on kConnReportChannel
//   runner.serverJoined(addr) / serverLeft(addr)      on membership changes
//   runner.stop()                                     on abdication
// Thread: the daemon's main thread, which relays the token. So that a 100k-connection report
// never holds it for long (docs/dispatcher.md "The ring's thread"), a report is decoded on a
// worker (BackgroundWork) and merged kMergeSlice entries per event-loop turn; the flow sink gets
// each slice's flows as they are merged. A report that comes back from the worker after stop()
// or a new start() is dropped.

#include "agent/reconstructioncoordinator.h"
#include "transport/backgroundwork.h"

#include <QObject>
#include <QTimer>

#include <functional>

namespace sasha {

class ReconstructionRunner : public QObject {
    Q_OBJECT
public:
    using SendFn = std::function<void(tb::NodeAddr to, quint8 channel, const QByteArray &payload)>;
    using FlowSink = std::function<void(const std::vector<ReconstructionCoordinator::Flow> &flows)>;
    using Clock = std::function<tb::Time()>;

    // clock: the same monotonic microseconds as the ring (RingDriver::steadyNow).
    ReconstructionRunner(ReconstructionConfig config, SendFn send, FlowSink sink, Clock clock,
                         QObject *parent = nullptr);

    void start(quint32 vip, std::vector<quint16> ports, const std::vector<tb::NodeAddr> &servers);
    void start(const std::vector<std::pair<quint32, quint16>> &services, const std::vector<tb::NodeAddr> &servers);
    // TCP services and UDP services (their connected sockets are asked too).
    void start(const ServicePorts &services, const ServicePorts &udpServices, const std::vector<tb::NodeAddr> &servers);
    void serverJoined(tb::NodeAddr server);
    void serverLeft(tb::NodeAddr server);
    // Forget the run (abdication): later reports are rejected as unexpected.
    void stop();

    const ReconstructionCoordinator &coordinator() const { return m_coordinator; }
    // Entries merged per event-loop turn: ~1-2 ms of the ring's thread on this machine.
    static constexpr std::size_t kMergeSlice = 8192;

public Q_SLOTS:
    void onOob(sasha::tb::NodeAddr from, quint8 channel, const QByteArray &payload);

Q_SIGNALS:
    // Every coordinator event (started, server answered with N flows, retried, completed in X ms):
    // for the event log and the console's timeline.
    void eventOccurred(const sasha::ReconstructionCoordinator::Event &event);
    void completed(quint64 flows, quint32 answered, quint32 missing, qint64 elapsedMs);
    void reportRejected(sasha::tb::NodeAddr from, const QString &error);

private:
    void apply(ReconstructionCoordinator::Output out, tb::NodeAddr from = tb::kNoNode);
    void rearm();
    void onTimer();
    void onDecoded(quint64 generation, tb::NodeAddr from, std::optional<ConnReport> report, const QString &error);
    void mergeNext();

    ReconstructionConfig m_config;
    ReconstructionCoordinator m_coordinator;
    SendFn m_send;
    FlowSink m_sink;
    Clock m_clock;
    QTimer m_timer;
    QTimer m_mergeTimer;         // 0 ms: the next slice, after whatever else waits on this thread
    quint64 m_generation = 0;    // start() and stop() make earlier decodes stale
    // Last: destroyed (and waited for) first, while this object can still take queued results.
    BackgroundWork m_decoder{1};
};

} // namespace sasha
