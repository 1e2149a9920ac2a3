// DispatcherService's planned handover (docs/dispatcher.md "Membership changes"), both sides:
//  - the dispatcher that hands over (beginHandover, sendFlowTransfer): it stops announcing the
//    VMAC but forwards on, and sends its flow table to the successor once the ring elected one;
//  - the successor (onFlowTransfer, announceHandover): it applies the previous dispatcher's table
//    as it arrives, announces the VMAC once all of it is in the flow table (or its deadline
//    passed), and then tells the previous dispatcher that it forwards.
// The role's life cycle is in dispatcherservice.cpp, the reports in dispatcherreports.cpp.

#include "dispatcherrunning.h"

#include "config/logcategories.h"
#include "control/controlprotocol.h"
#include "oobrouter.h"
#include "transport/ringdriver.h"

#include <QElapsedTimer>

namespace sasha {
namespace {
constexpr std::chrono::milliseconds kTransferSnapshotWait{200};
// The copy buffer's size (FlowMapProcessor): flows beyond it come from the agents' reports.
constexpr std::size_t kMaxTransferFlows = kMaxConnectionLimit;

FlowTransferState transferState(FlowState s)
{
    switch (s) {
    case FlowState::SynSeen: return FlowTransferState::SynSeen;
    case FlowState::Closing: return FlowTransferState::Closing;
    case FlowState::Udp: return FlowTransferState::Udp;
    case FlowState::Established:
    case FlowState::Empty: break;
    }
    return FlowTransferState::Established;
}

// A transferred flow's VIP (0: the table's, which the caller checked) is one of `vips`, this
// node's; a flow of a VIP it does not serve (a predecessor with another config) is left out.
bool servesVip(const std::vector<quint32> &vips, quint32 vip)
{
    return vip == 0 || std::find(vips.begin(), vips.end(), vip) != vips.end();
}

FlowState flowState(FlowTransferState s)
{
    switch (s) {
    case FlowTransferState::SynSeen: return FlowState::SynSeen;
    case FlowTransferState::Closing: return FlowState::Closing;
    case FlowTransferState::Udp: return FlowState::Udp;
    case FlowTransferState::Established: break;
    }
    return FlowState::Established;
}
} // namespace

bool DispatcherService::beginHandover()
{
    if (!m_run)
        return false;
    m_handingOver = true;
    publish(); // keepServerOnReuse: the successor's copy must stay right for reused ports
    m_run->thread->setAnnouncing(false);
    m_healthPoll.stop();
    m_resolveTimer.stop();
    Q_EMIT logEvent(QStringLiteral("handover-started"), QString(),
                    QStringLiteral("leaving the ring; forwarding until the successor has the VMAC"));
    return true;
}

void DispatcherService::sendFlowTransfer(tb::NodeAddr successor)
{
    if (!m_run || !m_handingOver)
        return;
    QElapsedTimer since;
    since.start();
    const quint32 vip = m_settings.dispatcher.vip;
    // On the worker: the copy's entries become the transfer's parts (100k flows: 1.4 MB).
    snapshotOnWorker("handover: the flow table sent", kMaxTransferFlows, kTransferSnapshotWait, [this, successor, since, vip](
                         const std::optional<FlowMapProcessor::Snapshot> &snap,
                         const std::map<std::uint16_t, tb::NodeAddr> &owner) -> std::function<void()> {
        if (!snap) {
            return [] {
                qCWarning(lcRing, "handover: the dispatcher thread did not copy its flow table within %lld ms; the successor rebuilds it from the agents",
                          static_cast<long long>(kTransferSnapshotWait.count()));
            };
        }
        std::vector<FlowTransferEntry> entries;
        entries.reserve(snap->flows.size());
        quint64 orphaned = 0;
        for (const FlowEntry &e : snap->flows) {
            // Every VIP's flows: the first VIP's in the table's own field, the others' in the
            // appended one (docs/dispatcher.md "Virtual services").
            const auto o = owner.find(e.slot);
            if (o == owner.end()) {
                ++orphaned; // its server left the table: nobody to send it to
                continue;
            }
            entries.push_back({e.srcIp, e.srcPort, e.dstPort, o->second, e.proto, transferState(e.state()), e.dstIp});
        }
        const quint32 id = quint32(RingDriver::steadyNow().count()) | 1u; // new for each transfer of a sender
        auto parts = std::make_shared<std::vector<QByteArray>>(encodeFlowTransferTable(id, vip, entries));
        const std::uint32_t copiedMs = snap->nowMs;
        const QString detail = QStringLiteral("%1 flow(s) of %2 in %3 part(s) sent to %4, %5 ms after it was elected%6")
                                   .arg(entries.size()).arg(snap->tableSize).arg(parts->size())
                                   .arg(ipv4ToString(successor)).arg(since.elapsed())
                                   .arg(orphaned ? QStringLiteral(" (%1 without a server left out)").arg(orphaned) : QString());
        return [this, successor, parts, detail, copiedMs] {
            m_transferCopyMs = copiedMs;
            for (const QByteArray &part : *parts)
                m_oob.send(successor, kFlowTransferChannel, part, true);
            qCInfo(lcRing, "handover: %s", qPrintable(detail));
            Q_EMIT logEvent(QStringLiteral("handover-transfer-sent"), ipv4ToString(successor), detail);
        };
    });
}

void DispatcherService::sendClosedSince(tb::NodeAddr successor, bool last, std::function<void(std::vector<quint64>)> sent)
{
    if (!m_run) {
        sent({});
        return;
    }
    const quint32 vip = m_settings.dispatcher.vip;
    // The first list: closing flows and flows touched since the table's copy. The last: flows
    // touched since the first list's copy. Without the copy's time every flow goes (as if all
    // were touched since).
    const std::optional<std::uint32_t> since = last && m_closedSinceCopyMs ? m_closedSinceCopyMs : m_transferCopyMs;
    const std::uint32_t copiedMs = since.value_or(0);
    const bool sinceCopy = since.has_value();
    const char *what = last ? "handover: the last closed-since list sent" : "handover: the closed-since list sent";
    snapshotOnWorker(what, kMaxTransferFlows, kTransferSnapshotWait, [this, successor, vip, sent, copiedMs, sinceCopy, last](
                         const std::optional<FlowMapProcessor::Snapshot> &snap,
                         const std::map<std::uint16_t, tb::NodeAddr> &owner) -> std::function<void()> {
        // Closing flows, and every flow a packet touched after the copy: a FIN it forwarded,
        // a SYN that reused a closing flow's port and was scheduled afresh, a connection made
        // after the copy. The successor takes this node's server and state for each.
        std::vector<FlowTransferEntry> closed;
        if (snap) {
            for (const FlowEntry &e : snap->flows) {
                const auto o = owner.find(e.slot);
                if (o == owner.end() || e.state() == FlowState::Empty)
                    continue;
                const bool touched = !sinceCopy || std::int32_t(e.lastSeenMs - copiedMs) >= 0;
                if (!touched && (last || e.state() != FlowState::Closing))
                    continue;
                closed.push_back({e.srcIp, e.srcPort, e.dstPort, o->second, e.proto, transferState(e.state()), e.dstIp});
            }
        }
        const quint32 id = quint32(RingDriver::steadyNow().count()) | 1u;
        auto parts = std::make_shared<std::vector<QByteArray>>(
            closed.empty() ? std::vector<QByteArray>{}
                           : encodeFlowTransferTable(id, vip, closed, kMaxEntriesPerTransferPart, true));
        const std::optional<std::uint32_t> copiedAt = snap ? std::optional<std::uint32_t>(snap->nowMs) : std::nullopt;
        const std::size_t count = closed.size();
        return [this, successor, parts, sent, copiedAt, count, last] {
            std::vector<quint64> ids;
            for (const QByteArray &part : *parts)
                ids.push_back(m_oob.send(successor, kFlowTransferChannel, part, true));
            if (!copiedAt) {
                qCWarning(lcRing, "handover: the dispatcher thread did not copy its flow table in time; no %sclosed-since list sent",
                          last ? "last " : "");
            } else {
                m_closedSinceCopyMs = copiedAt;
                qCInfo(lcRing, "handover: %zu flow(s) %s sent to %s", count,
                       last ? "touched since the closed-since list (the last list)" : "closing or touched since the table was copied",
                       qPrintable(ipv4ToString(successor)));
            }
            sent(ids);
        };
    });
}

void DispatcherService::onFlowTransfer(tb::NodeAddr from, const QByteArray &payload)
{
    QString error;
    const std::optional<FlowTransferMessage> m = decodeFlowTransfer(payload, &error);
    if (!m) {
        ++m_transferRejected;
        qCWarning(lcRing, "flow transfer from %s dropped: %s", qPrintable(ipv4ToString(from)), qPrintable(error));
        return;
    }
    if (const auto *aside = std::get_if<FlowTransferStandAside>(&*m)) {
        Q_EMIT standAsideRequested(from, aside->successor, aside->holdMs);
        return;
    }
    if (std::holds_alternative<FlowTransferAnnounced>(*m)) {
        if (m_handingOver)
            Q_EMIT successorAnnounced(from);
        return;
    }
    const auto &part = std::get<FlowTransferTable>(*m);
    if (part.closedSince) {
        applyClosedSince(from, part);
        return;
    }
    if (part.vip != m_settings.dispatcher.vip) {
        ++m_transferRejected;
        qCWarning(lcRing, "flow transfer from %s dropped: it is for VIP %s, ours is %s", qPrintable(ipv4ToString(from)),
                  qPrintable(ipv4ToString(part.vip)), qPrintable(ipv4ToString(m_settings.dispatcher.vip)));
        return;
    }
    if (!m_run) {
        // Elected, data path still being built: keep the latest transfer of each sender for start().
        std::erase_if(m_earlyTransfer, [&](const auto &p) { return p.first == from && p.second.transferId != part.transferId; });
        m_earlyTransfer.emplace_back(from, part);
        return;
    }
    if (from != m_handoverFrom) {
        ++m_transferRejected;
        qCWarning(lcRing, "flow transfer from %s dropped: this node is not taking over from it", qPrintable(ipv4ToString(from)));
        return;
    }
    applyTransferPart(part);
}

void DispatcherService::applyTransferPart(const FlowTransferTable &part)
{
    if (part.transferId != m_transferId) { // a newer transfer replaces a partial older one
        m_transferId = part.transferId;
        m_transferParts.clear();
        m_transferPartCount = part.partCount;
        m_transferComplete = false;
    }
    if (m_transferComplete || !m_transferParts.insert(part.part).second || part.partCount != m_transferPartCount)
        return;
    const std::vector<quint32> vips = m_settings.dispatcher.vips();
    for (const FlowTransferEntry &e : part.entries) {
        const std::uint16_t slot = m_slots.slotFor(e.server);
        if (slot == kNoServerSlot || !servesVip(vips, e.vip))
            continue;
        m_backlog.push_back(ReconstructedFlow{FlowKey{e.clientIp, e.vip ? e.vip : part.vip, e.clientPort, e.vport, e.proto},
                                              slot, flowState(e.state), true});
        ++m_transferFlows;
    }
    m_transferComplete = m_transferParts.size() == m_transferPartCount;
    if (m_transferComplete) {
        const qint64 ms = (RingDriver::steadyNow().count() - m_run->startedMonoUs) / 1000;
        Q_EMIT logEvent(QStringLiteral("handover-transfer-received"), ipv4ToString(m_handoverFrom),
                        QStringLiteral("%1 flow(s) in %2 part(s), %3 ms after takeover")
                            .arg(m_transferFlows).arg(m_transferPartCount).arg(ms));
    }
    drainBacklog();
}

// The previous dispatcher's closed-since list: flows it saw close while this node took the VMAC
// over. Only from the node this run took over from; unknown flows are not inserted.
void DispatcherService::applyClosedSince(tb::NodeAddr from, const FlowTransferTable &part)
{
    if (!m_run || from != m_tookOverFrom || part.vip != m_settings.dispatcher.vip) {
        ++m_transferRejected;
        qCWarning(lcRing, "closed-since list from %s dropped: %s", qPrintable(ipv4ToString(from)),
                  !m_run ? "not dispatching" : from != m_tookOverFrom ? "this node did not take over from it" : "another VIP");
        return;
    }
    const std::vector<quint32> vips = m_settings.dispatcher.vips();
    for (const FlowTransferEntry &e : part.entries) {
        const std::uint16_t slot = m_slots.slotFor(e.server);
        if (slot == kNoServerSlot || !servesVip(vips, e.vip))
            continue;
        ReconstructedFlow rf{FlowKey{e.clientIp, e.vip ? e.vip : part.vip, e.clientPort, e.vport, e.proto}, slot,
                             flowState(e.state), true};
        rf.fromPrevious = true;
        m_backlog.push_back(rf);
    }
    qCInfo(lcRing, "handover from %s: %zu flow(s) it had closing or touched since its copy applied",
           qPrintable(ipv4ToString(from)), part.entries.size());
    drainBacklog();
}

// The previous dispatcher's whole table is in the flow table, and so are the agents' reports
// (connections the old dispatcher made after it copied its table): take the VMAC.
void DispatcherService::maybeAnnounceTransferred()
{
    if (!m_run || !m_announcePending || !m_transferComplete || !m_reconstructionDone)
        return;
    if (!m_backlog.empty() || !m_run->fastPath->reconstructionQueue().drainedForProducer())
        return; // drainBacklog() comes back
    announceHandover(QStringLiteral("the previous dispatcher's table is in"));
}

void DispatcherService::announceHandover(const QString &why)
{
    if (!m_run || !m_announcePending)
        return;
    m_announcePending = false;
    m_announceDeadline.stop();
    m_run->thread->setAnnouncing(true);
    m_completionGrace.start();
    const qint64 ms = (RingDriver::steadyNow().count() - m_run->startedMonoUs) / 1000;
    qCInfo(lcRing, "handover from %s: VMAC announced %lld ms after takeover (%s)",
           qPrintable(ipv4ToString(m_handoverFrom)), static_cast<long long>(ms), qPrintable(why));
    Q_EMIT logEvent(QStringLiteral("handover-announced"), ipv4ToString(m_handoverFrom),
                    QStringLiteral("VMAC taken over %1 ms after takeover (%2)").arg(ms).arg(why));
    // The previous dispatcher forwards until it hears this (and then until no frame reaches it).
    if (m_handoverFrom != tb::kNoNode)
        m_oob.send(m_handoverFrom, kFlowTransferChannel, encodeFlowTransferAnnounced({m_transferId}), true);
}

} // namespace sasha
