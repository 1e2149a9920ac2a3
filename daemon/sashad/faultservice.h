#pragma once
// FaultService: sashad's end of fault injection (issue 4, docs/console.md "How sashad executes
// fault commands"). It answers fault commands arriving on OOB channel kFaultChannel (from the
// console, or from another sashad relaying `sashactl fault`) and carries out the accepted ones:
// crash (SIGKILL self), hang (SIGSTOP self, a forked helper SIGCONTs after N ms), unplug (every
// TokenBeat datagram dropped and the dispatcher's data path paused for N ms; in a lab namespace
// also the cluster interface set down), drain (health Draining, no dispatch capability) and
// restore. Nothing is executed unless the config says [faults] enabled = true: otherwise the
// answer is Disabled. It also sends commands for the control protocol's "fault" request and
// answers that request when the node's reply arrives (or after kReplyTimeoutMs).
// Thread: the daemon's main thread.

#include "config/nodesettings.h"
#include "control/controlserver.h"
#include "control/faultcommand.h"
#include "tokenbeat/types.h"

#include <QObject>
#include <QTimer>

#include <functional>
#include <map>
#include <memory>
#include <optional>

namespace sasha {

class OobRouter;
class RingDriver;

class FaultService : public QObject {
    Q_OBJECT
public:
    // How long "fault" on the control socket waits for the target's reply.
    static constexpr int kReplyTimeoutMs = 2000;
    // Accepted commands act this long after the reply is sent, so that the reply leaves first.
    static constexpr int kActDelayMs = 50;

    // What acting does to the process and the host, injected so that tests can run the service
    // without being killed or frozen (processEffects() gives the real ones). Every member may be
    // empty: that effect is then skipped.
    struct Effects {
        std::function<void()> crash;                                   // SIGKILL self
        std::function<std::optional<QString>(quint32 ms)> hang;        // freeze ms; error text on failure
        // The lab's cable: `ip link set dev IF down|up`. nullopt = done; else why not (logged).
        std::function<std::optional<QString>(const QString &iface, bool up)> setLink;
        // Whether setLink may be used at all here: CAP_NET_ADMIN, and a network namespace of
        // our own (never the host's: unplugging the host's interface is not a lab fault).
        std::function<std::optional<QString>(const QString &iface)> linkUnusable;
        std::function<void(bool on)> setDraining;   // the agent's health override
        std::function<void(bool on)> pauseDataPath; // the dispatcher's capture and injection
    };
    // crash, hang, setLink and linkUnusable as a real sashad does them; the others empty.
    static Effects processEffects();

    FaultService(const NodeSettings &settings, RingDriver &driver, OobRouter &oob, Effects effects,
                 QObject *parent = nullptr);
    ~FaultService() override;

    // The control protocol's "fault" request (r.command == Fault): sends the command to
    // r.faultTarget (delivered locally when it is this node) and calls answer once.
    void request(const ControlRequest &r, const ControlServer::AnswerFn &answer);

    bool isUnplugged() const;
    bool isDraining() const { return m_draining; }
    quint64 malformed() const { return m_malformed; }
    quint64 accepted() const { return m_accepted; }

Q_SIGNALS:
    // For the event log: "fault-injected" (accepted here), "fault-refused" (answered but not
    // executed), "fault-ended" (an unplug or drain undone).
    void logEvent(const QString &kind, const QString &node, const QString &detail);

private:
    struct Pending {
        tb::NodeAddr target = tb::kNoNode;
        FaultAction action = FaultAction::Restore;
        ControlServer::AnswerFn answer;
        std::unique_ptr<QTimer> timeout;
    };

    void onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload);
    void onCommand(tb::NodeAddr from, const FaultCommand &c);
    void onReply(tb::NodeAddr from, const FaultReply &r);
    // Accepted, or why not (Disabled, WrongTarget, Unsupported) with the message.
    FaultReply judge(const FaultCommand &c) const;
    void act(const FaultCommand &c);
    void startUnplug(quint32 ms);
    void endUnplug(const QString &why);
    void setDrain(bool on);
    void logMalformed(tb::NodeAddr from, const QString &why);
    QString selfName() const;

    const NodeSettings &m_settings;
    RingDriver &m_driver;
    OobRouter &m_oob;
    Effects m_effects;
    std::map<quint32, Pending> m_pending; // by commandId
    quint32 m_nextId = 1;
    QTimer m_unplugTimer;
    bool m_unplugged = false;
    QString m_linkDown; // interface set down by the unplug in progress, "" when none
    bool m_draining = false;
    quint64 m_malformed = 0;
    quint64 m_accepted = 0;
    qint64 m_lastMalformedLogMs = -1;
};

} // namespace sasha
