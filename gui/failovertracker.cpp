#include "failovertracker.h"

#include "clusterfeed.h"

namespace sasha::console {

qint64 Failover::totalUs() const
{
    const qint64 end = std::max({detectedUs, formedUs, electedUs, reconstructedUs, firstPacketUs});
    return span(startUs(), end);
}

QString faultCause(const ControlEvent &fault)
{
    if (fault.detail.isEmpty())
        return fault.node;
    if (fault.node.isEmpty() || fault.detail.contains(fault.node))
        return fault.detail;
    return QStringLiteral("%1: %2").arg(fault.node, fault.detail);
}

QString formatPhase(qint64 us)
{
    if (us < 0)
        return QStringLiteral("—");
    if (us < 10'000'000)
        return QStringLiteral("%1 ms").arg(double(us) / 1000.0, 0, 'f', us < 10'000 ? 1 : 0);
    return QStringLiteral("%1 s").arg(double(us) / 1e6, 0, 'f', 2);
}

namespace {
QString totalIfClosed(const Failover &f)
{
    return f.closed ? QStringLiteral("; total %1").arg(formatPhase(f.totalUs())) : QString();
}
} // namespace

bool FailoverTracker::closeStale(qint64 nowUs)
{
    if (!isOpen() || nowUs - m_failovers.back().startUs() < kCloseAfterUs)
        return false;
    m_failovers.back().closed = true;
    return true;
}

QString FailoverTracker::onEvent(const ControlEvent &e)
{
    const QString &k = e.kind;
    const qint64 t = e.monoUs;
    if (k == kKindFaultInjected) {
        m_lastFault = e;
        return {};
    }
    closeStale(t);
    if (k == QLatin1String("token-timeout") || k == QLatin1String("purge-started")) {
        if (isOpen() && (!m_failovers.back().formedUs || t < m_failovers.back().formedUs)) {
            // The same failover, seen by another node; several daemons report in any order (a
            // daemon's report can arrive after another's ring-formed: it is stamped before it).
            Failover &open = m_failovers.back();
            if (t < open.detectedUs)
                open.detectedUs = t;
            return {};
        }
        if (isOpen())
            m_failovers.back().closed = true; // a new purge during recovery starts a new record
        Failover f;
        f.detectedUs = t;
        if (m_lastFault && t - m_lastFault->monoUs >= 0 && t - m_lastFault->monoUs < kFaultRelevanceUs) {
            f.faultUs = m_lastFault->monoUs;
            f.cause = faultCause(*m_lastFault);
            m_lastFault.reset();
        } else {
            f.cause = QStringLiteral("%1 (%2)").arg(k, e.node);
        }
        m_failovers.push_back(f);
        return f.faultUs ? QStringLiteral("detection %1").arg(formatPhase(f.detectionUs())) : QString();
    }
    if (!isOpen() && k == QLatin1String("ring-formed")) {
        // Views only (no daemon events: an observer is never sent a Purge): the first it sees of
        // a failover is the new ring.
        Failover f;
        f.formedUs = t;
        if (m_lastFault && t - m_lastFault->monoUs >= 0 && t - m_lastFault->monoUs < kFaultRelevanceUs) {
            f.faultUs = m_lastFault->monoUs;
            f.cause = faultCause(*m_lastFault);
            m_lastFault.reset();
        } else {
            f.cause = QStringLiteral("ring re-formed (%1)").arg(e.detail.isEmpty() ? e.node : e.detail);
        }
        m_failovers.push_back(f);
        return f.faultUs ? QStringLiteral("detection + re-formation %1").arg(formatPhase(Failover::span(f.faultUs, t))) : QString();
    }
    if (!isOpen())
        return {};
    Failover &f = m_failovers.back();
    if (k == QLatin1String("ring-formed") && (!f.formedUs || (t < f.formedUs && !f.electedUs))) {
        f.formedUs = t;
        return QStringLiteral("re-formation %1").arg(formatPhase(f.reformationUs()));
    }
    if (k == QLatin1String("dispatcher-elected") && (!f.electedUs || (t < f.electedUs && e.node == f.newDispatcher))) {
        f.electedUs = t;
        f.newDispatcher = e.node;
        return QStringLiteral("election %1").arg(formatPhase(f.electionUs()));
    }
    if (k == kKindReconstructionDone && f.electedUs && !f.reconstructedUs) {
        f.reconstructedUs = t;
        f.closed = f.firstPacketUs != 0;
        return QStringLiteral("reconstruction %1").arg(formatPhase(f.reconstructionUs())) + totalIfClosed(f);
    }
    if (k == kKindFirstPacket && f.electedUs && !f.firstPacketUs) {
        f.firstPacketUs = t;
        f.closed = f.reconstructedUs != 0;
        return QStringLiteral("first packet %1 after election").arg(formatPhase(f.firstPacketAfterUs())) + totalIfClosed(f);
    }
    return {};
}

} // namespace sasha::console
