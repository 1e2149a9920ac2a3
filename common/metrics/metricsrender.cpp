#include "metrics/metricsrender.h"

#include <QJsonArray>

namespace sasha {
namespace {

using Type = PrometheusText::Type;
using Labels = PrometheusText::Labels;

// camelCase JSON key -> kebab-case label value: "notForVip" -> "not-for-vip".
QString kebab(const QString &key)
{
    QString out;
    for (QChar c : key) {
        if (c.isUpper()) {
            out += QLatin1Char('-');
            out += c.toLower();
        } else {
            out += c;
        }
    }
    return out;
}

double num(const QJsonObject &o, const char *key) { return o.value(QLatin1String(key)).toDouble(); }

class Page {
public:
    explicit Page(PrometheusText &t) : m_t(t) {}
    void counter(const char *name, const char *help, double v, const Labels &l = {})
    {
        declare(name, Type::Counter, help);
        m_t.add(QLatin1String(name), l, v);
    }
    void gauge(const char *name, const char *help, double v, const Labels &l = {})
    {
        declare(name, Type::Gauge, help);
        m_t.add(QLatin1String(name), l, v);
    }
    void declare(const char *name, Type type, const char *help) { m_t.family(QLatin1String(name), type, QLatin1String(help)); }
    PrometheusText &text() { return m_t; }

private:
    PrometheusText &m_t;
};

void ringMetrics(Page &p, const MetricsInput &in)
{
    const ControlStatus &s = in.status;
    p.gauge("sasha_build_info", "sashad's version (always 1).", 1, {{QStringLiteral("version"), in.version}});
    p.gauge("sasha_node_info", "This node's ring address and name (always 1).", 1,
            {{QStringLiteral("node"), s.node}, {QStringLiteral("name"), s.name}});
    p.gauge("sasha_uptime_seconds", "Seconds since sashad started.", double(s.uptimeMs) / 1000.0);
    p.declare("sasha_node_state", Type::Gauge, "TokenBeat state of this node: 1 for the current state, 0 for the others.");
    for (tb::NodeState st : {tb::NodeState::Stopped, tb::NodeState::Joining, tb::NodeState::AwaitingRing,
                             tb::NodeState::Member, tb::NodeState::Leaving, tb::NodeState::Observing}) {
        const QString name = controlStateName(st);
        p.gauge("sasha_node_state", "", name == s.state ? 1 : 0, {{QStringLiteral("state"), name}});
    }
    p.declare("sasha_node_role", Type::Gauge, "Role of this node in the ring: 1 for the current role, 0 for the others.");
    for (tb::Role r : {tb::Role::None, tb::Role::Server, tb::Role::Dispatcher, tb::Role::Standalone, tb::Role::Observer}) {
        const QString name = controlRoleName(r);
        p.gauge("sasha_node_role", "", name == s.role ? 1 : 0, {{QStringLiteral("role"), name}});
    }
    p.gauge("sasha_ring_epoch", "Epoch of the ring this node is in (0: none); it changes at every re-formation.",
            double(s.ringEpoch));
    p.gauge("sasha_ring_view_version", "Version of the ring's membership view within the epoch.", double(s.viewVersion));
    p.declare("sasha_ring_members", Type::Gauge, "Members of the ring as this node sees it, by role.");
    for (tb::Role r : {tb::Role::Server, tb::Role::Dispatcher, tb::Role::Standalone}) {
        const QString name = controlRoleName(r);
        int n = 0;
        for (const ControlMember &m : s.members)
            n += m.role == name ? 1 : 0;
        p.gauge("sasha_ring_members", "", n, {{QStringLiteral("role"), name}});
    }
    p.gauge("sasha_ring_observers", "Observers (consoles, sashactl watch) of the ring as this node sees it.",
            double(s.observers.size()));
    p.gauge("sasha_ring_dispatcher_known", "1 when the ring has an elected dispatcher, 0 otherwise.",
            s.dispatcher.isEmpty() ? 0 : 1);
    if (!s.dispatch.isEmpty())
        p.gauge("sasha_dispatch_capable", "1 when this node may be elected dispatcher now (configured, nothing withdrawn).",
                s.dispatch.value(QLatin1String("capable")).toBool() ? 1 : 0);

    const ControlCounters &c = s.counters;
    p.counter("sasha_ring_purges_total", "Ring purges this node took part in (token lost somewhere, ring re-formed).",
              double(c.purges));
    p.counter("sasha_ring_formations_total", "Rings this node became a member of (start-up and every re-formation).",
              double(c.ringsFormed));
    p.counter("sasha_token_timeouts_total", "Times this node's own token timeout fired (it declared the purge).",
              double(in.daemon.tokenTimeouts));
    p.counter("sasha_tokens_relayed_total", "Tokens this node relayed.", double(c.tokensRelayed));
    p.counter("sasha_ring_late_tokens_total",
              "Master: tokens of its own earlier rotation that came back after it had regenerated them (a slow ring).",
              double(c.lateTokens));
    p.counter("sasha_ring_self_stalls_total",
              "Token timeouts this node postponed once because it had not run itself for a quarter of the token timeout or more (its process or machine stalled).",
              double(c.selfStalls));
    p.counter("sasha_token_rotations_total", "Token rotations this node completed as ring master.", double(c.rotations));
    p.counter("sasha_ring_datagrams_received_total", "TokenBeat datagrams received on the ring socket.",
              double(c.datagramsIn));
    p.counter("sasha_ring_datagrams_sent_total", "TokenBeat datagrams sent.", double(c.datagramsOut));
    p.counter("sasha_ring_received_bytes_total", "Bytes of TokenBeat datagrams received.", double(c.bytesIn));
    p.counter("sasha_ring_sent_bytes_total", "Bytes of TokenBeat datagrams sent.", double(c.bytesOut));
    p.declare("sasha_ring_datagrams_dropped_total", Type::Counter,
              "TokenBeat datagrams dropped, by reason (bad-mac: wrong key or forged; replay; stale-epoch; ...).");
    for (const auto &[reason, n] : c.dropped)
        p.counter("sasha_ring_datagrams_dropped_total", "", double(n), {{QStringLiteral("reason"), reason}});
    p.counter("sasha_oob_messages_sent_total", "Out-of-band messages sent (reports, queries, admin).", double(c.oobSent));
    p.counter("sasha_oob_messages_received_total", "Out-of-band messages received.", double(c.oobReceived));
    p.counter("sasha_oob_retransmits_total", "Retransmitted chunks of reliable out-of-band messages.", double(c.retransmits));
    p.gauge("sasha_ring_thread_lag_max_seconds",
            "Longest delay of the thread that relays the token since start (ring datagrams waiting for it, or its timer firing late).",
            s.transport.value(QLatin1String("deliveryLagMaxMs")).toDouble() / 1000.0);
    p.counter("sasha_ring_thread_late_total",
              "Times the thread that relays the token was 50 ms or more behind (datagrams waiting, or its timer late).",
              s.transport.value(QLatin1String("lateDeliveries")).toDouble());
    p.gauge("sasha_ring_receive_wait_max_seconds",
            "Longest wait of ring datagrams between their arrival on the interface and the receive thread's read, since start.",
            s.transport.value(QLatin1String("receiveWaitMaxMs")).toDouble() / 1000.0);
    p.counter("sasha_ring_receive_wait_late_total",
              "Batches of ring datagrams that waited 20 ms or more between their arrival and the receive thread's read.",
              s.transport.value(QLatin1String("receiveWaitLate")).toDouble());

    p.counter("sasha_dispatcher_starts_total", "Times this node started the dispatcher role.",
              double(in.daemon.dispatcherStarts));
    const Histogram &h = in.daemon.failover;
    p.declare("sasha_failover_duration_seconds", Type::Histogram,
              "Failovers this node took over: from its detection of the broken ring (token timeout or purge) to the "
              "first frame it forwarded as the new dispatcher.");
    p.text().addHistogram(QStringLiteral("sasha_failover_duration_seconds"), {}, h.bounds(), h.cumulativeCounts(),
                          h.count(), h.sum());

    if (!s.admin.isEmpty()) {
        p.gauge("sasha_node_drained", "1 while an operator drained this node (sashactl drain).",
                s.admin.value(QLatin1String("drained")).toBool() ? 1 : 0);
        const QJsonValue w = s.admin.value(QLatin1String("weight"));
        if (w.isDouble())
            p.gauge("sasha_node_operator_weight", "The operator weight of this node (sashactl weight); absent when none is set.",
                    w.toDouble());
    }
}

void dispatcherMetrics(Page &p, const MetricsInput &in)
{
    const QJsonObject &d = in.status.dispatcherStats;
    const bool running = d.value(QLatin1String("running")).toBool();
    p.gauge("sasha_dispatcher_running", "1 while this node runs the dispatcher's data path.", running ? 1 : 0);
    if (!running)
        return;

    std::map<QString, const ControlMember *> members;
    for (const ControlMember &m : in.status.members)
        members[m.addr] = &m;
    p.declare("sasha_server_connections_total", Type::Counter,
              "New connections (flows) this dispatcher scheduled to the server since its data path started.");
    p.declare("sasha_server_connections_per_second", Type::Gauge, "New connections per second to the server (last second).");
    p.declare("sasha_server_packets_total", Type::Counter, "Frames this dispatcher forwarded to the server.");
    p.declare("sasha_server_active_flows", Type::Gauge, "Flows to the server that are not closing.");
    p.declare("sasha_server_open_flows", Type::Gauge, "Every flow to the server in the flow table, closing ones included.");
    p.declare("sasha_server_weight", Type::Gauge, "The server's scheduling weight in the published table.");
    p.declare("sasha_server_healthy", Type::Gauge, "1 when the server takes new connections (healthy, not draining).");
    p.declare("sasha_server_drained", Type::Gauge, "1 while an operator drained the server (sashactl drain).");
    p.declare("sasha_server_departed", Type::Gauge, "1 when the server left the ring but its flows are still forwarded.");
    for (const QJsonValue &v : d.value(QLatin1String("servers")).toArray()) {
        const QJsonObject o = v.toObject();
        const QString addr = o.value(QLatin1String("addr")).toString();
        const Labels l{{QStringLiteral("server"), addr}};
        p.counter("sasha_server_connections_total", "", num(o, "newFlows"), l);
        p.gauge("sasha_server_connections_per_second", "", num(o, "cps"), l);
        p.counter("sasha_server_packets_total", "", num(o, "packets"), l);
        p.gauge("sasha_server_active_flows", "", num(o, "activeFlows"), l);
        p.gauge("sasha_server_open_flows", "", num(o, "openFlows"), l);
        p.gauge("sasha_server_weight", "", num(o, "weight"), l);
        p.gauge("sasha_server_healthy", "", o.value(QLatin1String("healthy")).toBool() ? 1 : 0, l);
        const auto m = members.find(addr);
        const bool drained = m != members.end() && m->second->drained.value_or(false);
        p.gauge("sasha_server_drained", "", drained ? 1 : 0, l);
        p.gauge("sasha_server_departed", "", o.value(QLatin1String("departed")).toBool() ? 1 : 0, l);
    }

    // Per virtual service (docs/config.md "[[service]]"): labelled by VIP, protocol and ports.
    p.declare("sasha_service_connections_total", Type::Counter,
              "New connections (flows) this dispatcher scheduled for the virtual service since its data path started.");
    p.declare("sasha_service_connections_per_second", Type::Gauge, "New connections per second to the service (last second).");
    for (const QJsonValue &v : in.status.services) {
        const QJsonObject o = v.toObject();
        QStringList ports;
        for (const QJsonValue &port : o.value(QLatin1String("ports")).toArray())
            ports << port.toString();
        const Labels l{{QStringLiteral("vip"), o.value(QLatin1String("vip")).toString()},
                       {QStringLiteral("protocol"), o.value(QLatin1String("protocol")).toString()},
                       {QStringLiteral("ports"), ports.join(QLatin1Char(','))}};
        p.counter("sasha_service_connections_total", "", num(o, "newFlows"), l);
        p.gauge("sasha_service_connections_per_second", "", num(o, "cps"), l);
    }

    const QJsonObject fp = d.value(QLatin1String("fastPath")).toObject();
    const QJsonObject th = d.value(QLatin1String("thread")).toObject();
    p.counter("sasha_dispatcher_frames_captured_total", "Frames the dispatcher thread captured.", num(th, "captured"));
    p.counter("sasha_dispatcher_frames_forwarded_total", "Frames the fast path forwarded to a server.", num(fp, "forwarded"));
    p.counter("sasha_dispatcher_nat_replies_total",
              "L4/3 (NAT) replies the fast path sent to their client with the VIP as source.", num(fp, "natReplies"));
    p.counter("sasha_dispatcher_frames_delivered_local_total",
              "Frames the fast path delivered to this node's own server (local delivery).", num(fp, "deliveredLocal"));
    p.counter("sasha_dispatcher_frames_injected_total", "Frames the injector sent out of the interface.", num(th, "injected"));
    p.counter("sasha_dispatcher_inject_errors_total", "Frames the injector failed to send.", num(th, "injectErrors"));
    p.counter("sasha_dispatcher_local_delivery_errors_total", "Frames local delivery failed to hand over.",
              num(th, "localErrors"));
    p.declare("sasha_dispatcher_frames_dropped_total", Type::Counter,
              "Frames the fast path dropped, by reason (malformed-*, icmp-*, bogus-* name the parser's verdicts).");
    const QJsonObject dropped = fp.value(QLatin1String("dropped")).toObject();
    for (auto it = dropped.begin(); it != dropped.end(); ++it) {
        if (it.value().isObject()) {
            const QJsonObject sub = it.value().toObject();
            // The parser's verdicts, prefixed with their group unless their name already is
            // ("icmp-truncated", "bogus-source-vip" stay; "arp" -> "malformed-arp").
            const QString group = it.key() + QLatin1Char('-');
            for (auto s = sub.begin(); s != sub.end(); ++s)
                p.counter("sasha_dispatcher_frames_dropped_total", "", s.value().toDouble(),
                          {{QStringLiteral("reason"), s.key().startsWith(group) ? s.key() : group + s.key()}});
        } else {
            p.counter("sasha_dispatcher_frames_dropped_total", "", it.value().toDouble(),
                      {{QStringLiteral("reason"), kebab(it.key())}});
        }
    }
    p.declare("sasha_dispatcher_capture_dropped_total", Type::Counter,
              "Frames lost before the fast path saw them, by where (kernel: capture buffer full; interface: the NIC; "
              "thread: the dispatcher thread's queue; oversized: larger than a frame may be).");
    p.counter("sasha_dispatcher_capture_dropped_total", "", num(th, "kernelDropped"), {{QStringLiteral("reason"), QStringLiteral("kernel")}});
    p.counter("sasha_dispatcher_capture_dropped_total", "", num(th, "interfaceDropped"), {{QStringLiteral("reason"), QStringLiteral("interface")}});
    p.counter("sasha_dispatcher_capture_dropped_total", "", num(th, "dropped"), {{QStringLiteral("reason"), QStringLiteral("thread")}});
    p.counter("sasha_dispatcher_capture_dropped_total", "", num(th, "oversized"), {{QStringLiteral("reason"), QStringLiteral("oversized")}});
    p.counter("sasha_dispatcher_new_flows_total", "New flows (connections) the fast path scheduled.", num(fp, "newFlows"));
    p.counter("sasha_dispatcher_hashed_flows_total",
              "Flows of unknown connections sent by the consistent hash (before reconstruction completed).",
              num(fp, "hashedFlows"));
    p.counter("sasha_dispatcher_expired_flows_total", "Flows removed from the table after their idle timeout.",
              num(fp, "expiredFlows"));
    p.counter("sasha_dispatcher_reconstructed_flows_total", "Flows inserted from the servers' connection reports.",
              num(fp, "reconstructedInserted"));
    p.counter("sasha_dispatcher_transferred_flows_total", "Flows inserted from the previous dispatcher's table (handover).",
              num(fp, "transferredInserted"));
    p.counter("sasha_dispatcher_announcements_total", "VMAC announcements sent.", num(th, "announcements"));
    p.declare("sasha_dispatcher_arp_frames_total", Type::Counter,
              "ARP frames the dispatcher thread saw, by what it did (answered: a request for the VIP answered with the "
              "VMAC; ignored: not a question for the VIP, or asked while not announcing; malformed).");
    p.counter("sasha_dispatcher_arp_frames_total", "", num(th, "arpAnswered"), {{QStringLiteral("result"), QStringLiteral("answered")}});
    p.counter("sasha_dispatcher_arp_frames_total", "", num(th, "arpIgnored"), {{QStringLiteral("result"), QStringLiteral("ignored")}});
    p.counter("sasha_dispatcher_arp_frames_total", "", num(th, "arpMalformed"), {{QStringLiteral("result"), QStringLiteral("malformed")}});
    p.counter("sasha_dispatcher_thread_cpu_seconds_total", "CPU time of the dispatcher thread.", num(th, "cpuMs") / 1000.0);
    p.gauge("sasha_dispatcher_active_flows", "Flows in the table that are not closing.", num(d, "activeFlows"));
    p.gauge("sasha_dispatcher_open_flows", "Every flow in the table, closing ones included.", num(d, "openFlows"));
    p.gauge("sasha_dispatcher_syn_seen_flows", "Flows whose connection was not answered yet (SYN seen).",
            num(d, "synSeenFlows"));
    p.gauge("sasha_dispatcher_flow_table_capacity", "Flows the table holds at most ([dispatcher] max_flows).",
            num(d, "maxFlows"));
    p.gauge("sasha_dispatcher_connections_per_second", "New connections per second through this dispatcher (last second).",
            num(d, "cps"));
    p.gauge("sasha_dispatcher_frames_per_second", "Frames per second captured (last second).", num(d, "packetsPerSecond"));
    p.gauge("sasha_dispatcher_table_generation", "Server tables published to the fast path in this run.",
            num(d, "tableGeneration"));
    p.gauge("sasha_dispatcher_reconstruction_complete",
            "1 once state reconstruction of this run is merged into the flow table.",
            d.value(QLatin1String("reconstruction")).toString() == QLatin1String("complete") ? 1 : 0);
    const QJsonValue recMs = d.value(QLatin1String("reconstructionMs"));
    if (recMs.isDouble() && recMs.toDouble() >= 0)
        p.gauge("sasha_dispatcher_reconstruction_duration_seconds",
                "How long this run's state reconstruction took, from the takeover to the merged table.",
                recMs.toDouble() / 1000.0);
}

} // namespace

PrometheusText buildMetrics(const MetricsInput &in)
{
    PrometheusText t;
    Page p(t);
    ringMetrics(p, in);
    dispatcherMetrics(p, in);
    return t;
}

} // namespace sasha
