#pragma once
// SyntheticFeed: a simulated cluster on a virtual clock, for the tests, the benchmark and
// `sasha-console --demo`. It produces what a real ring would: views with per-node cps, the events
// of a failover with realistic timing (LAN timers), and a dispatcher's flow stream (new flows at
// a chosen rate, each living a random time, flows of a dead server closed, a new dispatcher
// re-reporting the surviving flows after reconstruction), and each second the dispatcher's status
// with one service (the Services tab). Deterministic for a given seed.
// Time advances only through advance() (tests) or the live timer (demo).

#include "clusterfeed.h"

#include <QElapsedTimer>
#include <QHash>
#include <QRandomGenerator>
#include <QTimer>

#include <functional>
#include <map>
#include <vector>

namespace sasha::console {

class SyntheticFeed : public ClusterFeed {
    Q_OBJECT
public:
    struct Options {
        int nodes = 5;
        quint32 firstAddr = 0x0a000001; // 10.0.0.1, .2, ...
        double cps = 500;               // new connections per second across the cluster
        double meanLifetimeS = 20;      // mean flow lifetime; 5k cps x 20 s = 100k flows
        quint32 seed = 1;
        qint64 viewIntervalUs = 200'000;
    };

    explicit SyntheticFeed(Options options, QObject *parent = nullptr);

    qint64 nowUs() const override { return m_now; }
    double rotationsPerSecond() const override { return 25.0; }
    bool sendFault(const FaultCommand &cmd, QString *error) override;
    // Accepted at once; the node's report follows (drained, weight), as a real node's would.
    bool sendAdmin(const AdminCommand &cmd, QString *error) override;
    QString describe() const override;

    // Fills the map with n flows of random ages, as if the cluster had been running.
    void prefill(int flows);
    // Moves the virtual clock forward in steps of at most 10 ms, producing events, views and flows.
    void advance(qint64 us);
    // Runs advance() on a wall-clock timer (demo mode).
    void startLive(int periodMs = 50);

    // Faults, as a real node would execute them (also reachable through sendFault()).
    void crash(tb::NodeAddr node);
    void restore(tb::NodeAddr node);
    void setCps(double cps) { m_options.cps = cps; }

    tb::NodeAddr addrOf(int i) const { return m_options.firstAddr + quint32(i); }
    tb::NodeAddr dispatcher() const { return m_dispatcher; }
    int activeFlows() const { return int(m_flows.size()); }
    const tb::RingView &view() const { return m_view; }

private:
    struct Flow {
        FlowRecord record;
        qint64 endUs;
    };
    void at(qint64 whenUs, std::function<void()> action);
    void emitEvent(const QString &kind, tb::NodeAddr node, const QString &detail = {});
    void rebuildView();
    void openFlows(qint64 fromUs, qint64 toUs);
    void closeFlows();
    void flushFlows();
    void emitDispatcherStatus(); // each simulated second: statusReported for the Services tab
    tb::NodeAddr pickServer(quint64 key) const;

    Options m_options;
    QRandomGenerator m_rng;
    qint64 m_now = 1'000'000;
    qint64 m_lastViewUs = 0;
    double m_carry = 0; // fractional flows not yet opened
    std::vector<bool> m_alive;
    std::map<tb::NodeAddr, AdminReport> m_adminReports; // sendAdmin: each node's operator state
    std::vector<quint32> m_opened; // flows opened in the current second, per node (cps status)
    std::vector<quint32> m_cps;
    qint64 m_secondStartUs = 0;
    quint64 m_newFlowsTotal = 0; // the simulated dispatcher's new flows (its status)
    bool m_ringWhole = true;
    tb::NodeAddr m_dispatcher = tb::kNoNode;
    tb::RingView m_view;
    std::multimap<qint64, std::function<void()>> m_schedule;
    QHash<quint64, Flow> m_flows;
    std::multimap<qint64, quint64> m_endings; // endUs -> flow key
    QList<FlowRecord> m_outgoing;
    quint32 m_nextClient = 0;
    QTimer m_live;
    QElapsedTimer m_liveClock;
    qint64 m_liveLastMs = 0;
};

} // namespace sasha::console
