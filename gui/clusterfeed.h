#pragma once
// ClusterFeed: where the console's data comes from. The models never talk to the network; a feed
// turns whatever it receives into these signals, on the GUI thread:
//   - ClusterObserver: the real ring, joined as a TokenBeat observer through RingDriver;
//   - SyntheticFeed: a simulated cluster on a virtual clock (tests, benchmark, --demo).
// The connection map is fed by flowsChanged()/flowMapReset(): the dispatcher streams its flow
// table to observers over TokenBeat out-of-band channel 0x20 (docs/console.md "Connection map
// feed"), which ClusterObserver decodes (FlowFeedReceiver) into these signals; the synthetic feed
// emits the same signals from its simulation.

#include "control/admincommand.h"
#include "control/controlprotocol.h"
#include "control/faultcommand.h"
#include "tokenbeat/types.h"

#include <QJsonObject>
#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>

namespace sasha::console {

// One TCP flow as the dispatcher sees it. Keyed by the client's address and port (the VIP and
// service port are the same for every flow of one cluster).
struct FlowRecord {
    enum class State : quint8 { SynSeen = 0, Established = 1, Closing = 2, Closed = 3 };
    quint32 clientIp = 0; // IPv4, host byte order
    quint16 clientPort = 0;
    tb::NodeAddr server = tb::kNoNode;
    State state = State::SynSeen;
    qint64 startUs = 0; // feed clock (monotonic µs) when the dispatcher first saw it
    quint64 key() const { return (quint64(clientIp) << 16) | clientPort; }
};
QString flowStateName(FlowRecord::State s); // "syn", "established", "closing", "closed"
QString ipToString(quint32 ip);             // "a.b.c.d"

// Event kinds the console adds to those of the control protocol (controlEventKindName):
//   fault-injected          the console sent a fault command (node = target)
//   fault-reply             a node answered a fault command (detail = result and message)
//   reconstruction-completed  the new dispatcher finished state reconstruction (sashad event)
//   first-forward             the new dispatcher forwarded its first frame (sashad event)
inline const QString kKindFaultInjected = QStringLiteral("fault-injected");
inline const QString kKindFaultReply = QStringLiteral("fault-reply");
//   admin-reply             a node answered an operator command (drain, undrain, weight)
inline const QString kKindAdminReply = QStringLiteral("admin-reply");
inline const QString kKindReconstructionDone = QStringLiteral("reconstruction-completed");
inline const QString kKindFirstPacket = QStringLiteral("first-forward");

class ClusterFeed : public QObject {
    Q_OBJECT
public:
    using QObject::QObject;
    ~ClusterFeed() override = default;

    // Monotonic µs on the feed's clock; event monoUs and flow startUs use it.
    virtual qint64 nowUs() const = 0;
    // Token rotations per second while the ring is whole (for the ring animation); 0 = unknown.
    virtual double rotationsPerSecond() const = 0;
    // Sends a fault command to cmd.target. False with *error when it cannot be sent (read-only
    // feed, no ring, unknown target). The answer comes back as faultReplied().
    virtual bool sendFault(const FaultCommand &cmd, QString *error) = 0;
    // Sends an operator command (drain, undrain, weight; common/control/admincommand.h) to
    // cmd.target, like sendFault; the answer comes back as adminReplied().
    virtual bool sendAdmin(const AdminCommand &cmd, QString *error) = 0;
    // One line for the title bar: "observer 127.0.0.9 → ring via 127.0.0.1:7400".
    virtual QString describe() const = 0;

Q_SIGNALS:
    void viewChanged(const sasha::tb::RingView &view);
    void eventOccurred(const sasha::ControlEvent &event);
    // New and changed flows; a flow in state Closed has ended. Batched by the feed as it likes;
    // the model batches again on its refresh timer.
    void flowsChanged(const QList<sasha::console::FlowRecord> &flows);
    // A (new) dispatcher's map starts over; its flows follow through flowsChanged().
    void flowMapReset(sasha::tb::NodeAddr dispatcher);
    void faultReplied(sasha::tb::NodeAddr from, const sasha::FaultReply &reply);
    void adminReplied(sasha::tb::NodeAddr from, const sasha::AdminReply &reply);
    // A serving node's operator state and open flows (kAdminReportChannel), about every 2 s.
    void adminReported(sasha::tb::NodeAddr from, const sasha::AdminReport &report);
    // A condition the operator must see (wrong key, no ring); empty when it cleared.
    void problemChanged(const QString &message);
    // A daemon's status object (ControlStatus::toJson()), when the feed can read one: the
    // observer from its --control-socket streams, about once a second per daemon. The services
    // view (ServiceModel) reads its "services".
    void statusReported(const QJsonObject &status);
};

} // namespace sasha::console

Q_DECLARE_METATYPE(sasha::console::FlowRecord)
