#pragma once
// RingDriver: runs one TokenBeatNode on real time and a real socket. It feeds received
// datagrams and timer ticks into the pure core, sends what the core returns, and turns the
// core's events into Qt signals. Used by sashad and by the console (as an observer).
// Thread: lives in, and must be used from, the thread that created it; queued connections to
// other threads work (the signal argument types are registered metatypes).

#include "tokenbeat/node.h"
#include "tokenbeat/types.h"
#include "transport/udptransport.h"

#include <QObject>
#include <QTimer>

#include <functional>
#include <map>
#include <memory>
#include <optional>

namespace sasha {

class RingDriver : public QObject {
    Q_OBJECT
public:
    using Clock = std::function<tb::Time()>;
    // CLOCK_MONOTONIC in microseconds: the same clock for every process on one machine, so
    // event stamps (monoUs) from several daemons can be compared.
    static tb::Time steadyNow();

    // clock defaults to steadyNow. config.endpoint.port may be 0: the OS picks, and the node
    // is built with the port actually bound.
    explicit RingDriver(tb::NodeConfig config, Clock clock = {}, QObject *parent = nullptr);
    ~RingDriver() override;

    // Binds the socket (idempotent). Separate from start() so several drivers on OS-chosen
    // ports can learn each other's endpoints before any of them starts.
    std::optional<TransportError> bind();
    tb::Endpoint localEndpoint() const { return m_transport.localEndpoint(); }
    // Before bind(): the socket's receive buffer (UdpTransport; [node] receive_buffer_kb).
    void setReceiveBufferBytes(int bytes) { m_transport.setReceiveBufferBytes(bytes); }
    // The receive path's figures ("transport" in the status JSON).
    QJsonObject transportStats() const { return m_transport.stats(); }
    // Only before start().
    void setSeeds(std::vector<tb::Endpoint> seeds) { m_config.seeds = std::move(seeds); }

    // Binds if needed and starts the protocol (Joining, or Observing for an observer).
    std::optional<TransportError> start();
    bool isRunning() const { return m_node != nullptr; }
    // Graceful leave; stopped() follows when the core reaches Stopped.
    void leave();
    // Out-of-band message (see TokenBeatNode::sendOob); returns the transfer id (reliable).
    quint64 sendOob(tb::NodeAddr to, quint8 channel, const QByteArray &payload, bool reliable);
    void setLocalStatus(const tb::NodeStatus &status);
    // Capabilities withdrawn for a while, each for its own reason (a planned handover, a drain
    // fault, a data path that cannot run: docs/dispatcher.md "A node that cannot dispatch"):
    // the ring sees the configured capabilities minus every bit some reason withdraws
    // (TokenBeatNode::setCapabilities). Applied at start() too.
    void withdrawCapabilities(const QString &reason, quint8 bits, bool withdrawn);
    // Reason -> bits currently withdrawn.
    const std::map<QString, quint8> &withdrawnCapabilities() const { return m_withdrawn; }
    // Fault injection: drop every datagram in and out (UdpTransport::setUnplugged).
    void setUnplugged(bool on) { m_transport.setUnplugged(on); }
    bool isUnplugged() const { return m_transport.isUnplugged(); }
    quint64 unpluggedDrops() const { return m_transport.unpluggedDrops(); }

    // The core's counters with the datagrams the receive thread rejected added to datagramsIn and
    // to dropped[reason] (they never reach the core). Only valid after start().
    tb::Counters counters() const;
    // The core, for reading state, view and counters. Only valid after start().
    const tb::TokenBeatNode &node() const { return *m_node; }
    const tb::NodeConfig &config() const { return m_config; }
    tb::Time now() const { return m_clock(); }
    quint64 sendErrors() const { return m_transport.sendErrors(); }
    // A heartbeat of the thread that relays the token (sashad feeds systemd's watchdog with it):
    // `beat` runs on this thread after every datagram and every timer tick the core handled, and
    // the timer fires at least every `every` (> 0), so a quiet ring still beats. A hung thread
    // stops beating. `beat` must be cheap: it runs for every datagram.
    void setHeartbeat(std::function<void(tb::Time now)> beat, tb::Time every);

Q_SIGNALS:
    void eventOccurred(const sasha::tb::Event &event);
    void viewChanged();
    void stateChanged();
    void oobReceived(sasha::tb::NodeAddr from, quint8 channel, const QByteArray &payload);
    void stopped();

private:
    void onDatagram(const tb::Endpoint &from, const QByteArray &datagram);
    void onTimer();
    void apply(tb::Actions actions);
    void rearm();
    void beat();

    tb::NodeConfig m_config;
    Clock m_clock;
    UdpTransport m_transport;
    std::unique_ptr<tb::TokenBeatNode> m_node;
    qint64 m_timerDueUs = 0; // steady µs at which m_timer is due (0: not armed)
    qint64 m_timerArmedMs = 0; // the interval it was last armed with
    QTimer m_timer;
    tb::NodeState m_lastState = tb::NodeState::Stopped;
    quint32 m_lastEpoch = 0;
    quint32 m_lastVersion = 0;
    // An observer's last members: the master re-sends an unchanged view version with new
    // statuses (cps, connections), and an observer learns of them only that way.
    std::vector<tb::Member> m_lastObservedMembers;
    std::map<QString, quint8> m_withdrawn;
    bool m_stoppedEmitted = false;
    std::function<void(tb::Time)> m_heartbeat;
    tb::Time m_heartbeatEvery{0};
};

} // namespace sasha

Q_DECLARE_METATYPE(sasha::tb::Event)
Q_DECLARE_METATYPE(sasha::tb::Endpoint)
