#include "agent/reconstructioncoordinator.h"

#include <QHostAddress>

#include <algorithm>
#include <limits>

namespace sasha {

namespace {

QString addr(tb::NodeAddr a) { return QHostAddress(a).toString(); }

qint64 ms(tb::Time t) { return std::chrono::duration_cast<std::chrono::milliseconds>(t).count(); }

} // namespace

QString reconstructionEventKindName(ReconstructionCoordinator::Event::Kind k)
{
    using K = ReconstructionCoordinator::Event::Kind;
    switch (k) {
    case K::Started: return QStringLiteral("reconstruction-started");
    case K::QueryRetried: return QStringLiteral("reconstruction-query-retried");
    case K::ServerAnswered: return QStringLiteral("reconstruction-server-answered");
    case K::ServerGaveUp: return QStringLiteral("reconstruction-server-gave-up");
    case K::ServerLeft: return QStringLiteral("reconstruction-server-left");
    case K::Completed: return QStringLiteral("reconstruction-completed");
    case K::LateServerQueried: return QStringLiteral("reconstruction-late-server-queried");
    }
    return QStringLiteral("reconstruction-event(%1)").arg(int(k));
}

ReconstructionCoordinator::ReconstructionCoordinator(ReconstructionConfig config) : m_config(config)
{
    m_config.maxAttempts = std::max(1, m_config.maxAttempts);
}

ReconstructionCoordinator::ClaimKey ReconstructionCoordinator::flowKey(quint32 clientIp, quint16 clientPort, quint32 vip,
                                                                        quint16 vport, bool udp)
{
    return {(quint64(clientIp) << 32) | (quint64(clientPort) << 16) | vport, vip, udp};
}

ReconstructionCoordinator::Output ReconstructionCoordinator::start(tb::Time now, quint32 vip,
                                                                   std::vector<quint16> ports,
                                                                   const std::vector<tb::NodeAddr> &servers)
{
    std::vector<std::pair<quint32, quint16>> services;
    for (quint16 p : ports)
        services.emplace_back(vip, p);
    Output out = start(now, services, servers);
    m_vip = vip; // also when ports is empty
    return out;
}

ReconstructionCoordinator::Output ReconstructionCoordinator::start(tb::Time now,
                                                                   const std::vector<std::pair<quint32, quint16>> &services,
                                                                   const std::vector<tb::NodeAddr> &servers)
{
    return start(now, services, {}, servers);
}

ReconstructionCoordinator::Output ReconstructionCoordinator::start(tb::Time now, const ServicePorts &services,
                                                                   const ServicePorts &udpServices,
                                                                   const std::vector<tb::NodeAddr> &servers)
{
    Output out;
    m_started = true;
    m_running = true;
    m_startedAt = now;
    m_services = services;
    m_udpServices = udpServices;
    m_vip = !services.empty() ? services.front().first : !udpServices.empty() ? udpServices.front().first : 0;
    const quint32 vip = m_vip;
    m_servers.clear();
    m_claims.clear();
    m_pending.clear();
    m_runConflicts = 0;
    for (tb::NodeAddr s : servers)
        if (s != tb::kNoNode)
            m_servers.try_emplace(s).first->second.serial = m_nextSerial++;
    Event e;
    e.kind = Event::Kind::Started;
    e.at = now;
    e.count = m_servers.size();
    e.detail = QStringLiteral("reconstruction started: querying %1 server(s) for %2")
                   .arg(m_servers.size()).arg(addr(vip));
    out.events.push_back(std::move(e));
    for (auto &[server, run] : m_servers)
        query(now, server, run, out);
    checkCompletion(now, out); // no servers: complete at once
    return out;
}

void ReconstructionCoordinator::query(tb::Time now, tb::NodeAddr server, ServerRun &run, Output &out)
{
    ConnQuery q;
    q.queryId = m_nextQueryId++;
    if (m_nextQueryId == 0)
        m_nextQueryId = 1;
    q = connQueryFor(q.queryId, m_services, m_udpServices);
    q.vip = m_vip;
    if (run.attempts == 0)
        run.firstQueryAt = now;
    ++run.attempts;
    run.queryIds.push_back(q.queryId);
    run.nextRetryAt = now + m_config.queryRetry;
    out.send.push_back({server, encodeConnQuery(q)});
    ++m_stats.queriesSent;
}

bool ReconstructionCoordinator::reject(Output &out, quint64 &counter, const QString &why)
{
    ++counter;
    out.malformed = true;
    out.error = why;
    return false;
}

ReconstructionCoordinator::Output ReconstructionCoordinator::onReport(tb::Time now, tb::NodeAddr from,
                                                                      QByteArrayView payload)
{
    QString error;
    std::optional<ConnReport> report = decodeConnReport(payload, &error);
    if (!report)
        return onUndecodable(error);
    return onDecodedReport(now, from, std::move(*report), std::numeric_limits<std::size_t>::max());
}

ReconstructionCoordinator::Output ReconstructionCoordinator::onUndecodable(const QString &error)
{
    Output out;
    reject(out, m_stats.reportsMalformed, error);
    return out;
}

bool ReconstructionCoordinator::ServerRun::allReceived() const
{
    return !partsSeen.empty() && std::all_of(partsSeen.begin(), partsSeen.end(), [](bool b) { return b; });
}

ReconstructionCoordinator::Output ReconstructionCoordinator::onDecodedReport(tb::Time now, tb::NodeAddr from,
                                                                             ConnReport report, std::size_t budget)
{
    Output out;
    if (report.server != from) {
        reject(out, m_stats.reportsUnexpected, QStringLiteral("connection report from %1 names server %2")
                                                   .arg(addr(from), addr(report.server)));
        return out;
    }
    const auto it = m_servers.find(from);
    if (!m_started || it == m_servers.end()) {
        reject(out, m_stats.reportsUnexpected, QStringLiteral("connection report from %1, which was not queried").arg(addr(from)));
        return out;
    }
    ServerRun &run = it->second;
    if (std::find(run.queryIds.begin(), run.queryIds.end(), report.queryId) == run.queryIds.end()) {
        reject(out, m_stats.reportsUnexpected, QStringLiteral("connection report from %1 answers query %2, not one of ours")
                                                   .arg(addr(from)).arg(report.queryId));
        return out;
    }
    if (report.vip != m_vip) {
        reject(out, m_stats.reportsUnexpected, QStringLiteral("connection report from %1 is for %2, not %3")
                                                   .arg(addr(from), addr(report.vip), addr(m_vip)));
        return out;
    }
    if (run.state == ServerState::Answered || run.state == ServerState::Left) {
        ++m_stats.reportsDuplicate; // a retried query's second answer: already merged
        return out;
    }
    if (run.answeringQuery != report.queryId) {
        // The first part of an answer (to any of our queries to it): collect this one's parts.
        run.answeringQuery = report.queryId;
        run.partsSeen.assign(report.partCount, false);
        m_claims.reserve(m_claims.size() + report.totalEntries);
    }
    if (report.partCount != run.partsSeen.size()) {
        reject(out, m_stats.reportsMalformed, QStringLiteral("connection report from %1: part count changed from %2 to %3")
                                                  .arg(addr(from)).arg(run.partsSeen.size()).arg(report.partCount));
        return out;
    }
    if (run.partsSeen[report.part]) {
        ++m_stats.reportsDuplicate;
        return out;
    }
    run.partsSeen[report.part] = true;
    ++m_stats.reportsAccepted;
    run.skippedDead = report.skippedDead;
    run.flowsReported += report.entries.size();
    ++run.partsMerging;
    m_pending.push_back(PendingPart{from, run.serial, std::move(report), 0});
    mergeSome(now, budget, out);
    checkCompletion(now, out);
    return out;
}

ReconstructionCoordinator::Output ReconstructionCoordinator::mergeMore(tb::Time now, std::size_t budget)
{
    Output out;
    mergeSome(now, budget, out);
    checkCompletion(now, out);
    return out;
}

// Merges up to `budget` entries of the pending parts, oldest first; a server whose every part is
// received and merged has answered.
void ReconstructionCoordinator::mergeSome(tb::Time now, std::size_t budget, Output &out)
{
    while (budget > 0 && !m_pending.empty()) {
        PendingPart &p = m_pending.front();
        const std::size_t end = p.report.entries.size() - p.next <= budget ? p.report.entries.size() : p.next + budget;
        budget -= end - p.next;
        out.flows.reserve(out.flows.size() + (end - p.next));
        for (; p.next < end; ++p.next) {
            const ConnEntry &e = p.report.entries[p.next];
            const quint32 vip = e.vip ? e.vip : p.report.vip;
            const ServicePorts &asked = e.udp ? m_udpServices : m_services;
            if (std::find(asked.begin(), asked.end(), std::pair{vip, e.vport}) == asked.end())
                continue; // not asked (the decoder checked the report's own table, not our query)
            const auto [claim, inserted] = m_claims.try_emplace(flowKey(e.clientIp, e.clientPort, vip, e.vport, e.udp),
                                                                Claim{p.from, e.idleCode});
            if (!inserted) {
                Claim &c = claim->second;
                if (c.server == p.from)
                    continue; // the same server twice (two answers mixed): nothing to decide
                ++m_runConflicts;
                ++m_stats.conflicts;
                const bool wins = e.idleCode < c.idleCode || (e.idleCode == c.idleCode && p.from < c.server);
                if (!wins)
                    continue;
                c = Claim{p.from, e.idleCode};
            }
            out.flows.push_back({e.clientIp, e.clientPort, vip, e.vport, p.from, e.udp});
        }
        if (p.next < p.report.entries.size())
            break; // budget spent
        const tb::NodeAddr from = p.from;
        const quint32 serial = p.serial;
        m_pending.pop_front();
        const auto it = m_servers.find(from);
        if (it == m_servers.end() || it->second.serial != serial)
            continue; // that server's run was restarted (it rejoined): its new answer counts
        ServerRun &run = it->second;
        if (run.partsMerging > 0)
            --run.partsMerging;
        maybeAnswered(now, from, run, out);
    }
}

void ReconstructionCoordinator::maybeAnswered(tb::Time now, tb::NodeAddr server, ServerRun &run, Output &out)
{
    // A server that was given up on and answered late has answered too; one that left is left.
    if ((run.state != ServerState::Waiting && run.state != ServerState::GaveUp) || run.partsMerging > 0
        || !run.allReceived())
        return;
    run.state = ServerState::Answered;
    Event e;
    e.kind = Event::Kind::ServerAnswered;
    e.at = now;
    e.server = server;
    e.count = run.flowsReported;
    e.skipped = run.skippedDead;
    e.elapsed = now - run.firstQueryAt;
    e.detail = QStringLiteral("%1 reported %2 connection(s) (%3 dead left out) in %4 ms")
                   .arg(addr(server)).arg(run.flowsReported).arg(run.skippedDead).arg(ms(e.elapsed));
    out.events.push_back(std::move(e));
}

ReconstructionCoordinator::Output ReconstructionCoordinator::onServerJoined(tb::Time now, tb::NodeAddr server)
{
    Output out;
    if (!m_started || server == tb::kNoNode)
        return out;
    ServerRun &run = m_servers[server];
    if (run.state == ServerState::Waiting && run.attempts > 0 && !run.allReceived())
        return out; // already being asked (an answer received and still merging is from before)
    run = ServerRun{};
    run.serial = m_nextSerial++;
    run.late = !m_running;
    Event e;
    e.kind = Event::Kind::LateServerQueried;
    e.at = now;
    e.server = server;
    e.count = 1;
    e.detail = QStringLiteral("%1 joined: querying its connections").arg(addr(server));
    out.events.push_back(std::move(e));
    query(now, server, run, out);
    return out;
}

ReconstructionCoordinator::Output ReconstructionCoordinator::onServerLeft(tb::Time now, tb::NodeAddr server)
{
    Output out;
    const auto it = m_servers.find(server);
    if (it == m_servers.end() || it->second.state != ServerState::Waiting)
        return out;
    it->second.state = ServerState::Left;
    Event e;
    e.kind = Event::Kind::ServerLeft;
    e.at = now;
    e.server = server;
    e.detail = QStringLiteral("%1 left before answering").arg(addr(server));
    out.events.push_back(std::move(e));
    checkCompletion(now, out);
    return out;
}

ReconstructionCoordinator::Output ReconstructionCoordinator::onTick(tb::Time now)
{
    Output out;
    for (auto &[server, run] : m_servers) {
        if (run.state != ServerState::Waiting || now < run.nextRetryAt || run.allReceived())
            continue; // (an answer received and being merged is not asked for again)
        if (run.attempts >= m_config.maxAttempts) {
            run.state = ServerState::GaveUp;
            Event e;
            e.kind = Event::Kind::ServerGaveUp;
            e.at = now;
            e.server = server;
            e.count = run.attempts;
            e.detail = QStringLiteral("%1 did not answer %2 queries").arg(addr(server)).arg(run.attempts);
            out.events.push_back(std::move(e));
            continue;
        }
        query(now, server, run, out);
        Event e;
        e.kind = Event::Kind::QueryRetried;
        e.at = now;
        e.server = server;
        e.count = run.attempts;
        e.detail = QStringLiteral("%1 silent: query %2 of %3").arg(addr(server)).arg(run.attempts).arg(m_config.maxAttempts);
        out.events.push_back(std::move(e));
    }
    checkCompletion(now, out);
    return out;
}

void ReconstructionCoordinator::checkCompletion(tb::Time now, Output &out)
{
    if (!m_running)
        return;
    if (now - m_startedAt >= m_config.overallTimeout && !m_pending.empty())
        mergeSome(now, std::numeric_limits<std::size_t>::max(), out); // what arrived counts
    quint32 answered = 0, missing = 0;
    bool waiting = false;
    for (const auto &[server, run] : m_servers) {
        if (run.late)
            continue;
        if (run.state == ServerState::Answered)
            ++answered;
        else
            ++missing;
        waiting = waiting || run.state == ServerState::Waiting;
    }
    const bool timedOut = now - m_startedAt >= m_config.overallTimeout;
    if (waiting && !timedOut)
        return;
    m_running = false;
    Event e;
    e.kind = Event::Kind::Completed;
    e.at = now;
    e.count = m_claims.size();
    e.conflicts = m_runConflicts;
    e.answered = answered;
    e.missing = missing;
    e.elapsed = now - m_startedAt;
    e.detail = QStringLiteral("reconstruction %1 in %2 ms: %3 flow(s) from %4 server(s), %5 missing, %6 conflict(s)")
                   .arg(timedOut && waiting ? QStringLiteral("timed out") : QStringLiteral("completed"))
                   .arg(ms(e.elapsed)).arg(e.count).arg(answered).arg(missing).arg(m_runConflicts);
    out.events.push_back(std::move(e));
}

tb::Time ReconstructionCoordinator::nextDeadline() const
{
    tb::Time next = tb::Time::max();
    for (const auto &[server, run] : m_servers)
        if (run.state == ServerState::Waiting && !run.allReceived())
            next = std::min(next, run.nextRetryAt);
    if (m_running)
        next = std::min(next, m_startedAt + m_config.overallTimeout);
    return next;
}

std::vector<ReconstructionCoordinator::Flow> ReconstructionCoordinator::mergedFlows() const
{
    std::vector<Flow> out;
    out.reserve(m_claims.size());
    for (const auto &[key, claim] : m_claims)
        out.push_back({quint32(key.flow >> 32), quint16(key.flow >> 16), key.vip, quint16(key.flow), claim.server, key.udp});
    return out;
}

} // namespace sasha
