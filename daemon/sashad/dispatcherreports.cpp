// DispatcherService's reports, read by the control socket and the observers' feed: the status
// JSON ("dataPath"), the connection map ("connections", built off the event loop) and the flow
// feed's copies. The role's life cycle is in dispatcherservice.cpp.

#include "dispatcherrunning.h"

#include "config/logcategories.h"
#include "control/controlprotocol.h"
#include "transport/ringdriver.h"

#include <QElapsedTimer>
#include <QJsonArray>

namespace sasha {
namespace {
constexpr std::chrono::milliseconds kSnapshotWait{200};

const char *stateName(FlowState s)
{
    switch (s) {
    case FlowState::SynSeen: return "syn-seen";
    case FlowState::Established: return "established";
    case FlowState::Closing: return "closing";
    case FlowState::Udp: return "udp";
    case FlowState::Empty: break;
    }
    return "empty";
}

const char *originName(FlowOrigin o)
{
    switch (o) {
    case FlowOrigin::Scheduled: return "scheduled";
    case FlowOrigin::Hashed: return "hashed";
    case FlowOrigin::Reconstructed: return "reconstructed";
    case FlowOrigin::Transferred: return "transferred";
    }
    return "?";
}

qint64 u(const Counter &c) { return qint64(read(c)); }

} // namespace

QJsonArray DispatcherService::servicesJson() const
{
    const DispatcherSettings &d = m_settings.dispatcher;
    QJsonArray out;
    for (std::size_t i = 0; i < d.services.size(); ++i) {
        const ServiceSettings &svc = d.services[i];
        QJsonArray ports;
        for (const auto &[first, last] : svc.ports)
            ports.append(first == last ? QString::number(first) : QStringLiteral("%1-%2").arg(first).arg(last));
        QJsonObject o{
            {QStringLiteral("vip"), ipv4ToString(svc.vip)},
            {QStringLiteral("protocol"), svc.protocolName()},
            {QStringLiteral("ports"), ports},
            {QStringLiteral("mode"), svc.modeName()},
            {QStringLiteral("scheduler"), schedulerText(svc.scheduler)},
            {QStringLiteral("persistenceS"), svc.persistenceS},
            // Made from the legacy [dispatcher] vip and ports keys (docs/config.md).
            {QStringLiteral("legacy"), svc.fromLegacyKeys},
            {QStringLiteral("line"), svc.line},
        };
        // [[service]] weights: the servers whose weight in this service is not their cluster
        // weight's source (an operator weight still wins over them; docs/config.md "Weights").
        QJsonObject weights;
        for (const auto &[addr, weight] : svc.weights)
            weights.insert(ipv4ToString(addr), qint64(weight));
        o.insert(QStringLiteral("weights"), weights);
        if (m_run && i < kMaxServices) {
            o.insert(QStringLiteral("newFlows"), u(m_run->fastPath->counters().serviceNewFlows[i]));
            o.insert(QStringLiteral("cps"), qint64(m_serviceCps[i]));
        }
        out.append(o);
    }
    return out;
}

QJsonObject DispatcherService::stats() const
{
    if (!m_run)
        return {};
    const DispatcherSettings &d = m_settings.dispatcher;
    const FastPathCounters &c = m_run->fastPath->counters();
    const FlowTable &flows = m_run->fastPath->flows();
    QJsonArray servers;
    quint64 active = 0, open = 0;
    for (const ServerRow &row : m_published) {
        const auto cps = m_cps.find(row.slot);
        active += flows.activeFlows(row.slot);
        open += flows.openFlows(row.slot);
        servers.append(QJsonObject{
            {QStringLiteral("addr"), ipv4ToString(row.addr)},
            {QStringLiteral("slot"), int(row.slot)},
            {QStringLiteral("mac"), macToString(row.mac)},
            {QStringLiteral("weight"), qint64(row.weight)},
            {QStringLiteral("healthy"), row.healthy},
            {QStringLiteral("self"), row.self},
            // Left the ring, its flows still forwarded (docs/dispatcher.md "Membership changes"):
            // "probe" is the dispatcher's own check of its service.
            {QStringLiteral("departed"), row.departed},
            {QStringLiteral("probe"), row.departed ? controlHealthName(m_departed.probeHealth(row.addr)) : QString()},
            {QStringLiteral("packets"), u(c.serverPackets[row.slot])},
            {QStringLiteral("newFlows"), u(c.serverNewFlows[row.slot])},
            {QStringLiteral("cps"), qint64(cps == m_cps.end() ? 0 : cps->second)},
            {QStringLiteral("activeFlows"), qint64(flows.activeFlows(row.slot))},
            {QStringLiteral("openFlows"), qint64(flows.openFlows(row.slot))},
        });
    }
    QJsonObject malformed;
    for (std::size_t v = 1; v < kParseVerdictCount; ++v) {
        if (ParseVerdict(v) != ParseVerdict::Icmp) // not a refusal: counted in icmp below
            malformed.insert(QLatin1String(parseVerdictName(ParseVerdict(v))), u(c.malformed[v]));
    }
    QJsonObject icmp;
    for (std::size_t v = 1; v < kIcmpVerdictCount; ++v)
        icmp.insert(QLatin1String(icmpVerdictName(IcmpVerdict(v))), u(c.icmpDropped[v]));
    QJsonObject bogus;
    for (std::size_t v = 1; v < kBogusVerdictCount; ++v)
        bogus.insert(QLatin1String(bogusVerdictName(BogusVerdict(v))), u(c.bogusDropped[v]));
    const QJsonObject dropped{
        {QStringLiteral("noTable"), u(c.noTable)},
        {QStringLiteral("notForVip"), u(c.notForVip)},
        {QStringLiteral("serverToClient"), u(c.serverToClient)},
        {QStringLiteral("unknownFlow"), u(c.unknownFlowDropped)},
        {QStringLiteral("serverGone"), u(c.serverGone)},
        {QStringLiteral("noServer"), u(c.noServer)},
        {QStringLiteral("tableFull"), u(c.tableFull)},
        {QStringLiteral("outputTooSmall"), u(c.outputTooSmall)},
        {QStringLiteral("noService"), u(c.noService)},
        {QStringLiteral("noClientMac"), u(c.noClientMac)},
        {QStringLiteral("malformed"), malformed},
        {QStringLiteral("icmp"), icmp},
        {QStringLiteral("bogus"), bogus},
    };
    const QJsonObject fastPath{
        {QStringLiteral("framesIn"), u(c.framesIn)},
        {QStringLiteral("forwarded"), u(c.forwarded)},
        {QStringLiteral("deliveredLocal"), u(c.deliveredLocal)},
        {QStringLiteral("icmpForwarded"), u(c.icmpForwarded)},
        {QStringLiteral("natReplies"), u(c.natReplies)},
        {QStringLiteral("newFlows"), u(c.newFlows)},
        {QStringLiteral("hashedFlows"), u(c.hashedFlows)},
        {QStringLiteral("expiredFlows"), u(c.expiredFlows)},
        {QStringLiteral("synSeenEvicted"), u(c.synSeenEvicted)},
        {QStringLiteral("readmittedFlows"), u(c.readmittedFlows)},
        {QStringLiteral("persistentFlows"), u(c.persistentFlows)},
        {QStringLiteral("reconstructedInserted"), u(c.reconstructedInserted)},
        {QStringLiteral("reconstructedCorrected"), u(c.reconstructedCorrected)},
        {QStringLiteral("transferredInserted"), u(c.transferredInserted)},
        {QStringLiteral("transferredKnown"), u(c.transferredKnown)},
        {QStringLiteral("transferredUpdated"), u(c.transferredUpdated)},
        {QStringLiteral("reusedDuringHandover"), u(c.reusedDuringHandover)},
        {QStringLiteral("reconstructedFull"), u(c.reconstructedFull)},
        {QStringLiteral("dropped"), dropped},
    };
    const DispatcherCounters &t = m_run->thread->counters();
    const QJsonObject thread{
        {QStringLiteral("captured"), u(t.captured)},
        {QStringLiteral("injected"), u(t.injected)},
        {QStringLiteral("injectErrors"), u(t.injectErrors)},
        {QStringLiteral("deliveredLocal"), u(t.deliveredLocal)},
        {QStringLiteral("localErrors"), u(t.localErrors)},
        {QStringLiteral("dropped"), u(t.dropped)},
        {QStringLiteral("kernelDropped"), u(t.kernelDropped)},
        {QStringLiteral("interfaceDropped"), u(t.interfaceDropped)},
        {QStringLiteral("oversized"), u(t.oversized)},
        {QStringLiteral("announcements"), u(t.announcements)},
        {QStringLiteral("arpAnswered"), u(t.arpAnswered)},
        {QStringLiteral("arpIgnored"), u(t.arpIgnored)},
        {QStringLiteral("arpMalformed"), u(t.arpMalformed)},
        {QStringLiteral("cpuMs"), qint64(m_run->thread->cpuTime().count() / 1000000)},
        // [dispatcher] cpu: the CPU the thread is pinned to, -1 if it is not (not asked, or refused).
        {QStringLiteral("cpu"), m_run->thread->pinned() ? d.cpu : -1},
    };
    QJsonArray vipsJson; // every VIP announced and answered for, the first = "vip"
    for (quint32 v : d.vips())
        vipsJson.append(ipv4ToString(v));
    const QString recon = m_completionPublished ? QStringLiteral("complete")
                        : m_reconstructionDone  ? QStringLiteral("merging")
                                                : QStringLiteral("running");
    return QJsonObject{
        {QStringLiteral("running"), true},
        {QStringLiteral("interface"), d.interfaceName},
        {QStringLiteral("vip"), ipv4ToString(d.vip)},
        {QStringLiteral("vips"), vipsJson},
        // NAT services' floating gateway (announced and answered for like a VIP); "" without NAT.
        {QStringLiteral("gateway"), d.hasNat() ? ipv4ToString(d.gateway) : QString()},
        {QStringLiteral("vmac"), macToString(d.vmac)},
        {QStringLiteral("scheduler"), QLatin1String(schedulerName(d.scheduler))},
        {QStringLiteral("injector"), d.injector == DispatcherSettings::Injector::Pcap     ? QStringLiteral("pcap")
                                     : d.injector == DispatcherSettings::Injector::TxRing ? QStringLiteral("tx-ring")
                                                                                          : QStringLiteral("afpacket")},
        {QStringLiteral("serveWhileDispatching"), d.serveWhileDispatching},
        {QStringLiteral("tableGeneration"), qint64(m_generation)},
        {QStringLiteral("reconstruction"), recon},
        {QStringLiteral("reconstructionSummary"), m_reconstructionSummary},
        // ms from the takeover to the merged table (-1 while running): reconstruction-completed's.
        {QStringLiteral("reconstructionMs"), m_reconstructionMs},
        {QStringLiteral("uptimeMs"), (RingDriver::steadyNow().count() - m_run->startedMonoUs) / 1000},
        {QStringLiteral("startedMonoUs"), m_run->startedMonoUs},
        {QStringLiteral("firstForwardMonoUs"), qint64(m_run->processor->firstForwardMonoUs())},
        {QStringLiteral("activeFlows"), qint64(active)},
        {QStringLiteral("openFlows"), qint64(open)},
        // The SYN-flood defence (docs/fastpath.md "SYN floods"): unanswered flows, and whether
        // there are enough of them to shorten their lifetime.
        {QStringLiteral("synSeenFlows"), qint64(flows.synSeenFlows())},
        {QStringLiteral("synPressure"), flows.underSynPressure()},
        {QStringLiteral("maxFlows"), qint64(flows.maxFlows())},
        {QStringLiteral("cps"), qint64(m_totalCps)},
        {QStringLiteral("packetsPerSecond"), qint64(m_packetsPerSecond)},
        {QStringLiteral("servers"), servers},
        {QStringLiteral("fastPath"), fastPath},
        {QStringLiteral("thread"), thread},
    };
}

qint64 DispatcherService::firstForwardMonoUs() const
{
    return m_run ? qint64(m_run->processor->firstForwardMonoUs()) : 0;
}

std::optional<std::vector<FlowFeedEntry>> DispatcherService::pollFeedFlows(std::size_t limit)
{
    if (!m_run)
        return std::nullopt;
    auto snap = m_run->processor->pollSnapshot(limit);
    if (!snap)
        return std::nullopt;
    std::map<std::uint16_t, tb::NodeAddr> owner;
    for (const ServerRow &row : m_published)
        owner[row.slot] = row.addr;
    std::vector<FlowFeedEntry> out;
    out.reserve(snap->flows.size());
    for (const FlowEntry &e : snap->flows) {
        FlowFeedEntry f;
        f.clientIp = e.srcIp;
        f.clientPort = e.srcPort;
        const auto o = owner.find(e.slot);
        f.server = o == owner.end() ? 0 : o->second;
        switch (e.state()) {
        case FlowState::SynSeen: f.state = FlowFeedState::SynSeen; break;
        case FlowState::Closing: f.state = FlowFeedState::Closing; break;
        case FlowState::Udp: f.flags |= kFlowFeedUdp; f.state = FlowFeedState::Established; break;
        case FlowState::Established:
        case FlowState::Empty: f.state = FlowFeedState::Established; break;
        }
        if (e.origin() == FlowOrigin::Reconstructed)
            f.flags |= kFlowFeedReconstructed;
        else if (e.origin() == FlowOrigin::Hashed)
            f.flags |= kFlowFeedHashed;
        out.push_back(f);
    }
    return out;
}

// The control protocol's "connections": the copy of the flow table is waited for (up to
// kSnapshotWait) and turned into JSON (100k flows: tens of ms) on a worker thread, never on this
// one, which relays the token; the answer comes back through the event loop.
void DispatcherService::connections(int limit, const ControlServer::LineAnswerFn &answer)
{
    if (!m_run) {
        const tb::NodeAddr disp = m_driver.isRunning() ? m_driver.node().view().dispatcher : tb::kNoNode;
        answer(controlLine(controlError(QStringLiteral("this node is not dispatching; the dispatcher is %1")
                                            .arg(disp ? ipv4ToString(disp) : QStringLiteral("unknown")))));
        return;
    }
    // Built and serialised on the worker: only the finished line reaches this thread.
    snapshotOnWorker("connections: the answer written", std::size_t(std::max(limit, 1)), kSnapshotWait,
                     [answer](const std::optional<FlowMapProcessor::Snapshot> &snap,
                              const std::map<std::uint16_t, tb::NodeAddr> &owner) -> std::function<void()> {
                         return [answer, line = controlLine(connectionsJson(snap, owner))] { answer(line); };
                     });
}

void DispatcherService::snapshotOnWorker(const char *label, std::size_t limit, std::chrono::milliseconds wait, SnapshotWork work)
{
    std::map<std::uint16_t, tb::NodeAddr> owner;
    for (const ServerRow &row : m_published)
        owner[row.slot] = row.addr;
    // Shared: the worker may outlive this run (stop() does not wait for it). snapshot() reads only
    // the processor's own buffer, never the FastPath that goes with the run.
    std::shared_ptr<FlowMapProcessor> processor = m_run->processor;
    m_background.run([this, processor = std::move(processor), owner = std::move(owner), limit, wait, label,
                      work = std::move(work)] {
        std::function<void()> then = work(processor->snapshot(limit, wait), owner);
        // Timed: what comes back here runs on the thread that relays the token (issue 8 item 6).
        QMetaObject::invokeMethod(this, [then = std::move(then), label] {
            QElapsedTimer held;
            held.start();
            then();
            if (const qint64 ms = held.elapsed(); ms >= 20)
                qCInfo(lcRing, "%s: held the ring's thread %lld ms", label, static_cast<long long>(ms));
        }, Qt::QueuedConnection);
    });
}

QJsonObject DispatcherService::connectionsJson(const std::optional<FlowMapProcessor::Snapshot> &snap,
                                               const std::map<std::uint16_t, tb::NodeAddr> &owner)
{
    if (!snap)
        return QJsonObject{{QStringLiteral("error"), QStringLiteral("the dispatcher thread did not answer within %1 ms")
                                                         .arg(kSnapshotWait.count())}};
    QJsonArray list;
    for (const FlowEntry &e : snap->flows) {
        const auto o = owner.find(e.slot);
        list.append(QJsonObject{
            {QStringLiteral("client"), QStringLiteral("%1:%2").arg(ipv4ToString(e.srcIp)).arg(e.srcPort)},
            {QStringLiteral("service"), QStringLiteral("%1:%2").arg(ipv4ToString(e.dstIp)).arg(e.dstPort)},
            {QStringLiteral("proto"), e.proto == kIpProtoTcp ? QStringLiteral("tcp") : QStringLiteral("udp")},
            {QStringLiteral("server"), o == owner.end() ? QStringLiteral("(gone, slot %1)").arg(e.slot) : ipv4ToString(o->second)},
            {QStringLiteral("state"), QLatin1String(stateName(e.state()))},
            {QStringLiteral("origin"), QLatin1String(originName(e.origin()))},
            {QStringLiteral("idleMs"), qint64(std::uint32_t(snap->nowMs - e.lastSeenMs))},
        });
    }
    return QJsonObject{{QStringLiteral("connections"), list},
                       {QStringLiteral("total"), qint64(snap->tableSize)},
                       {QStringLiteral("shown"), qint64(list.size())}};
}

} // namespace sasha
