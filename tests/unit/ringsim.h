#pragma once
// A seeded, simulated network for TokenBeatNode: N nodes and observers, per-datagram delay,
// loss and duplication, partitions, node crash / hang / restart, graceful leave. Simulated
// time only, so an hour of faults runs in a second, and a seed reproduces a run exactly.
// Test code only (header-only because tests/CMakeLists.txt builds one source per test).
//
// The simulator checks safety invariants after EVERY step (one delivery or one tick) and
// records the first violation in failure(); tst_ringsim prints it with seed and scenario.

#include "tokenbeat/envelope.h"
#include "tokenbeat/messages.h"
#include "tokenbeat/node.h"

#include <QString>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <vector>

namespace sasha::tb::sim {

using namespace std::chrono_literals;

constexpr quint16 kPort = 7000;
constexpr quint32 kBroadcastIp = 0x0A0000FF; // 10.0.0.255

inline QString fmtMs(Time t) { return QString::number(double(t.count()) / 1000.0, 'f', 1) + QStringLiteral("ms"); }

struct SimOptions {
    Timers timers;
    bool broadcast = true;
    bool seedsOnly = false;      // no broadcast: every node knows nodes 0 and 1 as seeds
    bool allSeeds = false;       // no broadcast: every node lists every ring node as a seed (the lab kit)
    // Real processes on a shared host: each datagram or tick costs procCost of the node's CPU, a
    // node busy with earlier work queues new datagrams (at most rxQueue, like a socket's receive
    // buffer; beyond that they are lost, 0 = unbounded), and with stallChance per step a node is
    // descheduled for up to maxStall.
    Time procCost = 0us;
    int rxQueue = 0;
    double stallChance = 0;
    Time maxStall = 0us;
    int cores = 0; // > 0: all nodes share this many CPUs (a busy host), each step takes one
    Time minDelay = 100us;
    Time maxDelay = 700us;
    std::size_t maxDatagram = 1400;
};

struct EventRecord {
    int node; // simulator index
    Event event;
};

class RingSim {
public:
    struct SimNode {
        int index = 0;
        NodeAddr addr = kNoNode;
        quint8 caps = 0;
        std::unique_ptr<TokenBeatNode> node;
        bool alive = false; // started and not crashed
        bool hung = false;  // alive but neither receiving nor ticking (a stalled process)
        quint64 boots = 0;
        int group = 0;      // partition group: delivery only within a group
        Time busyUntil{0};  // simulated CPU: the node handles nothing before this
        int queued = 0;     // datagrams waiting in its receive queue
    };

    RingSim(quint64 seed, SimOptions opt) : m_rng(seed), m_opt(std::move(opt)) {}

    // Nodes are 10.0.0.(index+1); observers 10.0.1.(index+1). Address = IPv4, as the daemon does.
    int addNode(quint8 caps = kCanDispatch | kCanServe)
    {
        SimNode n;
        n.index = int(m_nodes.size());
        n.caps = caps;
        n.addr = (caps & kObserver) ? 0x0A000101 + quint32(n.index) : 0x0A000001 + quint32(n.index);
        m_nodes.push_back(std::move(n));
        return m_nodes.back().index;
    }

    void start(int i)
    {
        SimNode &n = m_nodes[i];
        NodeConfig c;
        c.self = n.addr;
        c.endpoint = Endpoint{n.addr, kPort};
        c.caps = n.caps;
        c.key = QByteArray(32, 'k');
        c.bootEpoch = ++n.boots;
        c.timers = m_opt.timers;
        c.maxDatagram = m_opt.maxDatagram;
        n.busyUntil = m_now;
        n.queued = 0;
        if (m_opt.allSeeds) {
            for (const SimNode &s : m_nodes)
                if (s.index != i && !(s.caps & kObserver))
                    c.seeds.push_back(Endpoint{s.addr, kPort});
        } else if (m_opt.seedsOnly) {
            for (int s = 0; s < std::min<int>(2, int(m_nodes.size())); ++s)
                if (s != i && !(m_nodes[s].caps & kObserver))
                    c.seeds.push_back(Endpoint{m_nodes[s].addr, kPort});
        } else if (m_opt.broadcast) {
            c.broadcast = Endpoint{kBroadcastIp, kPort};
        }
        n.node = std::make_unique<TokenBeatNode>(c);
        n.alive = true;
        n.hung = false;
        apply(i, n.node->start(m_now));
    }

    void crash(int i)
    {
        m_nodes[i].alive = false;
        m_nodes[i].node.reset();
        if (!(m_nodes[i].caps & kObserver))
            markFault();
    }
    void hang(int i) { m_nodes[i].hung = true; markFault(); }
    void unhang(int i) { m_nodes[i].hung = false; markFault(); }
    void leave(int i) { apply(i, m_nodes[i].node->leave(m_now)); }
    void partition(const std::vector<int> &groupOf)
    {
        for (std::size_t i = 0; i < m_nodes.size(); ++i)
            m_nodes[i].group = i < groupOf.size() ? groupOf[i] : 0;
        markFault(true);
    }
    void heal()
    {
        for (SimNode &n : m_nodes)
            n.group = 0;
        markFault(true);
    }
    // Per-datagram delay from now on (a slower or faster network; not a fault).
    void setDelay(Time minDelay, Time maxDelay)
    {
        m_opt.minDelay = minDelay;
        m_opt.maxDelay = maxDelay;
    }
    void setLoss(double loss, double dup)
    {
        m_loss = loss;
        m_dup = dup;
        markFault();
    }

    // Feeds the actions returned by a direct call on node i (sendOob, setLocalStatus...) into
    // the simulated network.
    void act(int i, Actions acts) { apply(i, std::move(acts)); }
    // Hands node i a datagram as if it came from `from` (forged or crafted by a test).
    void inject(int i, const Endpoint &from, const QByteArray &datagram)
    {
        apply(i, m_nodes[i].node->onDatagram(m_now, from, datagram));
    }

    // Sees every datagram a node sends, as sent (before broadcast fan-out and loss): a capture
    // on the wire, for tests that replay traffic elsewhere.
    using Tap = std::function<void(int sender, const Outgoing &out)>;
    void setTap(Tap tap) { m_tap = std::move(tap); }

    // Schedules fn at simulated time t (runs before datagrams and ticks due at the same time).
    void at(Time t, std::function<void()> fn) { m_actions.emplace(std::make_pair(t, m_seq++), std::move(fn)); }

    // Runs until simulated time t or the first invariant violation. Bounded by a step budget.
    bool runUntil(Time t)
    {
        for (quint64 steps = 0; m_failure.isEmpty(); ++steps) {
            if (steps > 50'000'000) {
                fail(QStringLiteral("step budget exhausted (livelock?)"));
                break;
            }
            const Time tAction = m_actions.empty() ? Time::max() : m_actions.begin()->first.first;
            const Time tNet = m_queue.empty() ? Time::max() : m_queue.begin()->first.first;
            Time tNode = Time::max();
            int tickNode = -1;
            for (const SimNode &n : m_nodes) {
                if (!n.alive || n.hung)
                    continue;
                const Time d = std::max({n.node->nextDeadline(), n.busyUntil, m_now});
                if (d < tNode) {
                    tNode = d;
                    tickNode = n.index;
                }
            }
            const Time next = std::min({tAction, tNet, tNode});
            if (next > t) {
                m_now = t;
                break;
            }
            m_now = next;
            if (tAction == next) {
                auto fn = std::move(m_actions.begin()->second);
                m_actions.erase(m_actions.begin());
                fn();
            } else if (tNode == next) {
                if (m_now == m_lastTickAt && tickNode == m_lastTickNode) {
                    if (++m_sameTick > 1000) {
                        fail(QStringLiteral("node %1 timer does not advance").arg(tickNode));
                        break;
                    }
                } else {
                    m_sameTick = 0;
                }
                m_lastTickAt = m_now;
                m_lastTickNode = tickNode;
                apply(tickNode, m_nodes[tickNode].node->onTick(m_now));
                if (m_nodes[tickNode].node)
                    spend(m_nodes[tickNode]);
            } else {
                auto it = m_queue.begin();
                Packet p = std::move(it->second);
                m_queue.erase(it);
                deliver(p);
            }
            checkInvariants();
        }
        return m_failure.isEmpty();
    }

    // --- inspection -------------------------------------------------------------------------
    Time now() const { return m_now; }
    const QString &failure() const { return m_failure; }
    std::vector<SimNode> &nodes() { return m_nodes; }
    const std::vector<EventRecord> &events() const { return m_events; }
    std::size_t maxDatagramSeen() const { return m_maxDatagram; }
    quint64 datagramsSent() const { return m_sent; }
    quint64 rxDropped() const { return m_rxDropped; }
    Time lastFaultAt() const { return m_lastFault; }

    bool isRingNode(const SimNode &n) const { return n.alive && !(n.caps & kObserver); }
    static bool dispatches(Role r) { return r == Role::Dispatcher || r == Role::Standalone; }

    // Live, non-hung, non-observer nodes that hold a dispatch role.
    std::vector<int> dispatchers() const
    {
        std::vector<int> out;
        for (const SimNode &n : m_nodes)
            if (isRingNode(n) && !n.hung && dispatches(n.node->role()))
                out.push_back(n.index);
        return out;
    }

    // True when every live ring node is a Member of one ring (same epoch, master, version and
    // member set) that holds exactly the live ring nodes, with one dispatcher among them.
    bool converged(QString *why = nullptr) const
    {
        const RingView *ref = nullptr;
        std::set<NodeAddr> live;
        for (const SimNode &n : m_nodes)
            if (isRingNode(n) && !n.hung)
                live.insert(n.addr);
        for (const SimNode &n : m_nodes) {
            if (!isRingNode(n) || n.hung)
                continue;
            if (n.node->state() != NodeState::Member)
                return setWhy(why, QStringLiteral("node %1 is %2").arg(n.index).arg(nodeStateToString(n.node->state())));
            const RingView &v = n.node->view();
            if (!ref)
                ref = &v;
            if (v.ringEpoch != ref->ringEpoch || v.master != ref->master || v.viewVersion != ref->viewVersion)
                return setWhy(why, QStringLiteral("node %1 in view %2.%3 (master %4), others %5.%6")
                                       .arg(n.index).arg(v.ringEpoch).arg(v.viewVersion).arg(v.master & 0xff)
                                       .arg(ref->ringEpoch).arg(ref->viewVersion));
        }
        if (!ref)
            return true;
        std::set<NodeAddr> members;
        for (const Member &m : ref->members)
            members.insert(m.addr);
        if (members != live)
            return setWhy(why, QStringLiteral("ring has %1 members, %2 live nodes").arg(members.size()).arg(live.size()));
        if (dispatchers().size() != 1)
            return setWhy(why, QStringLiteral("%1 dispatchers").arg(dispatchers().size()));
        return true;
    }

    // Purge events (PurgeStarted) at or after t.
    int purgesSince(Time t) const
    {
        int n = 0;
        for (const EventRecord &r : m_events)
            if (r.event.kind == Event::Kind::PurgeStarted && r.event.at >= t)
                ++n;
        return n;
    }

    // Invariant windows: a purge after the network has been quiet for quietForPurge is a
    // violation (no loss, partition, crash, hang or restart in that window).
    void setQuietWindow(Time quietForPurge) { m_quiet = quietForPurge; }
    void setCheckPurges(bool on) { m_checkPurges = on; }

private:
    struct Packet {
        Endpoint from;
        Endpoint to;
        int fromGroup = 0;
        QByteArray datagram;
        bool queued = false; // waiting in the receiver's queue (counted in SimNode::queued)
    };

    static bool setWhy(QString *why, const QString &s)
    {
        if (why)
            *why = s;
        return false;
    }

    void fail(const QString &s)
    {
        if (m_failure.isEmpty())
            m_failure = QStringLiteral("t=%1: %2").arg(fmtMs(m_now), s);
    }

    void markFault(bool partition = false)
    {
        m_lastFault = m_now;
        if (partition)
            m_lastPartition = m_now;
    }

    Time delay()
    {
        std::uniform_int_distribution<qint64> d(m_opt.minDelay.count(), m_opt.maxDelay.count());
        return Time(d(m_rng));
    }

    void enqueue(const Endpoint &from, int fromGroup, const Endpoint &to, const QByteArray &dg)
    {
        std::uniform_real_distribution<double> u(0, 1);
        if (m_loss > 0 && u(m_rng) < m_loss)
            return;
        m_queue.emplace(std::make_pair(m_now + delay(), m_seq++), Packet{from, to, fromGroup, dg});
        if (m_dup > 0 && u(m_rng) < m_dup)
            m_queue.emplace(std::make_pair(m_now + delay(), m_seq++), Packet{from, to, fromGroup, dg});
    }

    void apply(int i, Actions acts)
    {
        const SimNode &n = m_nodes[i];
        for (Outgoing &o : acts.send) {
            ++m_sent;
            m_maxDatagram = std::max<std::size_t>(m_maxDatagram, o.datagram.size());
            if (std::size_t(o.datagram.size()) > m_opt.maxDatagram)
                fail(QStringLiteral("node %1 sent a %2-byte datagram").arg(i).arg(o.datagram.size()));
            if (m_tap)
                m_tap(i, o);
            const Endpoint from{n.addr, kPort};
            if (o.to.ip == kBroadcastIp) {
                for (const SimNode &peer : m_nodes)
                    if (peer.index != i)
                        enqueue(from, n.group, Endpoint{peer.addr, kPort}, o.datagram);
            } else {
                enqueue(from, n.group, o.to, o.datagram);
            }
        }
        for (Event &e : acts.events) {
            if (m_trace)
                qInfo("%9.3f n%-2d %-18s node=%-3u %s", double(m_now.count()) / 1000.0, i,
                      qPrintable(kindName(e.kind)), e.node & 0xff,
                      qPrintable(e.kind == Event::Kind::RoleChanged ? roleToString(e.role) : e.detail));
            if (e.kind == Event::Kind::PurgeStarted && m_checkPurges && m_loss == 0 && m_now - m_lastFault >= m_quiet
                && !(n.caps & kObserver))
                fail(QStringLiteral("purge on node %1 on a healthy network (%2 since the last fault): %3")
                         .arg(i).arg(fmtMs(m_now - m_lastFault), e.detail));
            m_events.push_back(EventRecord{i, std::move(e)});
        }
    }

    void deliver(const Packet &p)
    {
        for (SimNode &n : m_nodes) {
            if (n.addr != p.to.ip)
                continue;
            if (!n.alive || n.hung || (!p.queued && n.group != p.fromGroup))
                return;
            if (n.busyUntil > m_now) {
                Packet q = p;
                if (!q.queued) {
                    if (m_opt.rxQueue > 0 && n.queued >= m_opt.rxQueue) {
                        ++m_rxDropped;
                        tracePacket("lost", n.index, p);
                        return;
                    }
                    ++n.queued;
                    q.queued = true;
                }
                m_queue.emplace(std::make_pair(n.busyUntil, m_seq++), std::move(q));
                return;
            }
            if (p.queued && n.queued > 0)
                --n.queued;
            tracePacket("recv", n.index, p);
            apply(n.index, n.node->onDatagram(m_now, p.from, p.datagram));
            if (n.node)
                spend(n);
            return;
        }
    }

    // SASHA_SIM_TRACE=2 also prints every delivered datagram and every one lost to a full
    // receive queue (envelope: type at byte 3, sender at bytes 4..7, body from kEnvelopeHeaderSize).
    void tracePacket(const char *what, int to, const Packet &p) const
    {
        if (!m_tracePackets || p.datagram.size() < kEnvelopeHeaderSize)
            return;
        static const char *types[] = {"?", "Join", "View", "ViewAck", "Token", "Purge", "Leave",
                                      "ObserverHello", "Beacon", "OobData", "OobAck", "ViewRequest"};
        const auto u8 = [&](int i) { return quint32(quint8(p.datagram[i])); };
        const quint8 type = quint8(p.datagram[3]);
        QString body;
        for (int i = kEnvelopeHeaderSize; i < std::min<int>(p.datagram.size() - kMacSize, kEnvelopeHeaderSize + 14); ++i)
            body += QString::number(u8(i), 16).rightJustified(2, QLatin1Char('0'));
        qInfo("%9.3f n%-2d %s %-12s from node=%-3u body %s", double(m_now.count()) / 1000.0, to, what,
              type < std::size(types) ? types[type] : "?", u8(7), qPrintable(body));
    }

    // Simulated CPU time of one step, and now and then the node is descheduled.
    void spend(SimNode &n)
    {
        if (m_opt.procCost == 0us && m_opt.stallChance == 0)
            return;
        if (m_opt.cores > 0) {
            if (m_cores.empty())
                m_cores.assign(std::size_t(m_opt.cores), Time{0});
            Time &core = *std::min_element(m_cores.begin(), m_cores.end());
            core = std::max(core, m_now) + m_opt.procCost;
            n.busyUntil = std::max(n.busyUntil, core);
        } else {
            n.busyUntil = std::max(n.busyUntil, m_now) + m_opt.procCost;
        }
        std::uniform_real_distribution<double> u(0, 1);
        if (m_opt.stallChance > 0 && u(m_rng) < m_opt.stallChance)
            n.busyUntil += Time(std::uniform_int_distribution<qint64>(0, m_opt.maxStall.count())(m_rng));
    }

    // Safety after every step: in every ring whose members all agree on the view (settled),
    // at most one member holds a dispatch role.
    void checkInvariants()
    {
        std::map<std::pair<quint32, NodeAddr>, std::vector<const SimNode *>> rings;
        for (const SimNode &n : m_nodes)
            if (isRingNode(n) && !n.hung && n.node->state() == NodeState::Member)
                rings[{n.node->view().ringEpoch, n.node->view().master}].push_back(&n);
        for (const auto &[key, ns] : rings) {
            const quint32 version = ns.front()->node->view().viewVersion;
            bool agreed = ns.size() == ns.front()->node->view().members.size();
            int disp = 0;
            for (const SimNode *n : ns) {
                agreed &= n->node->view().viewVersion == version;
                disp += dispatches(n->node->role());
            }
            if (agreed && disp > 1 && m_now - m_lastFault >= m_opt.timers.tokenTimeout)
                fail(QStringLiteral("%1 dispatchers in settled ring %2 (master %3)").arg(disp).arg(key.first).arg(key.second & 0xff));
        }
    }

    static QString kindName(Event::Kind k)
    {
        static const char *names[] = {"StateChanged", "RingFormed", "MemberJoined", "MemberLeft", "MemberLost",
                                      "PurgeStarted", "TokenTimeout", "DispatcherElected", "Abdicated",
                                      "RoleChanged", "ObserverJoined", "ObserverDropped", "OobReceived",
                                      "OobDelivered", "OobFailed", "DatagramDropped", "ViewChanged"};
        return QString::fromLatin1(names[int(k)]);
    }

    bool m_trace = qEnvironmentVariableIsSet("SASHA_SIM_TRACE");
    bool m_tracePackets = qEnvironmentVariableIntValue("SASHA_SIM_TRACE") >= 2;
    std::mt19937_64 m_rng;
    SimOptions m_opt;
    std::vector<SimNode> m_nodes;
    std::multimap<std::pair<Time, quint64>, Packet> m_queue;
    std::multimap<std::pair<Time, quint64>, std::function<void()>> m_actions;
    quint64 m_seq = 0;
    Time m_now{0};
    Time m_lastFault{0};
    Time m_lastPartition{0};
    Time m_quiet = 2s;
    bool m_checkPurges = true;
    Tap m_tap;
    double m_loss = 0, m_dup = 0;
    std::vector<EventRecord> m_events;
    std::size_t m_maxDatagram = 0;
    quint64 m_sent = 0;
    quint64 m_rxDropped = 0;
    std::vector<Time> m_cores; // when each shared CPU is free again
    QString m_failure;
    Time m_lastTickAt{-1};
    int m_lastTickNode = -1;
    int m_sameTick = 0;
};

} // namespace sasha::tb::sim
