#pragma once
// ClusterObserver: the real ring as a ClusterFeed. It joins as a TokenBeat observer through
// RingDriver (caps = kObserver: it receives views, never the token, and leaving never disturbs
// the ring), and turns what it sees into the console's signals:
//   - the daemons' own events (purge-started, token-timeout, ring-formed, dispatcher-elected,
//     first-forward, fault-injected, ...) from the event feed on kEventFeedChannel
//     (common/control/eventfeed.h): it subscribes to every member of its view each second, maps
//     each event's monoUs to this console's clock, and shows each event reported by several
//     daemons once -> eventOccurred. So a console on any host times a failover's phases exactly;
//   - every view -> viewChanged; view-to-view differences -> ring-formed, dispatcher-elected,
//     member-joined, member-lost events, and the core's own purge-started, token-timeout,
//     abdicated, member-left: only as a fallback while no daemon events arrive (no feed message
//     within kFeedQuietUs and no --control-socket stream connected);
//   - fault replies on kFaultChannel -> faultReplied; admin replies on kAdminChannel ->
//     adminReplied; the nodes' admin reports on kAdminReportChannel -> adminReported;
//   - the dispatcher's flow feed on kFlowFeedChannel (FlowFeedReceiver) -> flowMapReset and
//     flowsChanged: a new dispatcher's snapshot replaces the map, its changes follow;
//   - datagrams dropped as bad-mac, or no view within noRingTimeoutMs -> problemChanged;
//   - the statuses the --control-socket streams receive each second -> statusReported.
// GUI thread only. Time: RingDriver's clock (CLOCK_MONOTONIC µs, the daemons' monoUs clock).

#include "clusterfeed.h"
#include "daemoneventstream.h"
#include "flowfeedreceiver.h"

#include "control/eventfeed.h"

#include "transport/ringdriver.h"

#include <QHash>
#include <QTimer>

#include <memory>
#include <optional>

namespace sasha::console {

class ClusterObserver : public ClusterFeed {
    Q_OBJECT
public:
    struct Options {
        QByteArray key;
        tb::NodeAddr self = tb::kNoNode; // ring address of this observer (unique in the ring)
        tb::Endpoint bind;                // concrete address; port 0 = the OS chooses
        std::vector<tb::Endpoint> seeds;
        std::optional<tb::Endpoint> broadcast;
        bool readOnly = false;
        int noRingTimeoutMs = 3000;
        tb::Timers timers; // the ring's timers, for the rotation rate shown
        // sashad control sockets to read exact events from (DaemonEventStream); while one is
        // connected, ring events are taken from the daemons instead of derived from views.
        QStringList controlSockets;
    };

    explicit ClusterObserver(Options options, RingDriver::Clock clock = {}, QObject *parent = nullptr);
    ~ClusterObserver() override;

    // Binds and starts observing; an error message (bind failure) otherwise.
    std::optional<QString> start();
    void stop();

    qint64 nowUs() const override;
    double rotationsPerSecond() const override;
    bool sendFault(const FaultCommand &cmd, QString *error) override;
    bool sendAdmin(const AdminCommand &cmd, QString *error) override;
    QString describe() const override;

    const RingDriver &driver() const { return *m_driver; }
    quint64 badMacDrops() const { return m_badMac; }
    const FlowFeedReceiver &flowFeed() const { return m_flowFeed; }
    const EventFeedReceiver &eventFeed() const { return m_eventFeed; }
    // Daemon events arrive (feed or control socket): view-derived events are not shown.
    bool daemonEventsFlowing() const;
    // The daemons answer every subscribe (each second) with a clock sample: quiet this long
    // means the feed is gone (an old sashad, or no daemon reachable), and views take over.
    static constexpr qint64 kFeedQuietUs = 3'000'000;

private:
    void onCoreEvent(const tb::Event &e);
    void onView();
    void onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload);
    void emitDerived(const QString &kind, tb::NodeAddr node, const QString &detail = {});
    void setProblem(const QString &message);
    void onDaemonEvent(const ControlEvent &e);
    void onEventFeed(tb::NodeAddr from, const QByteArray &payload);
    void subscribeToEvents();

    Options m_options;
    std::unique_ptr<RingDriver> m_driver;
    tb::RingView m_last;
    bool m_haveView = false;
    quint64 m_badMac = 0;
    tb::Endpoint m_badMacFrom;
    QString m_problem;
    QTimer m_noRing;
    std::vector<DaemonEventStream *> m_streams; // children
    FlowFeedReceiver m_flowFeed;
    QTimer m_flowSubscribe; // kFlowFeedSubscribeMs: subscription to the view's dispatcher
    void subscribeToFlows();
    QHash<QString, qint64> m_recentDaemonEvents; // "kind|node" -> monoUs, to show each once
    EventFeedReceiver m_eventFeed;
    QTimer m_eventSubscribe; // kEventFeedSubscribeMs: subscription to every member of the view
};

} // namespace sasha::console
