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
// Thread: the daemon's main thread. The flow sink is called synchronously from onOob.

#include "agent/reconstructioncoordinator.h"

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
    void serverJoined(tb::NodeAddr server);
    void serverLeft(tb::NodeAddr server);
    // Forget the run (abdication): later reports are rejected as unexpected.
    void stop();

    const ReconstructionCoordinator &coordinator() const { return m_coordinator; }

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

    ReconstructionConfig m_config;
    ReconstructionCoordinator m_coordinator;
    SendFn m_send;
    FlowSink m_sink;
    Clock m_clock;
    QTimer m_timer;
};

} // namespace sasha
