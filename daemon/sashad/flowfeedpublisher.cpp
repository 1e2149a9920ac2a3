#include "flowfeedpublisher.h"

#include <algorithm>

namespace sasha {

FlowFeedPublisher::FlowFeedPublisher(FlowSource flows, ObserverSource observers, Sender send, Clock clock,
                                     QObject *parent)
    : QObject(parent), m_flows(std::move(flows)), m_observers(std::move(observers)), m_send(std::move(send)),
      m_clock(std::move(clock))
{
    m_timer.setInterval(kTickMs);
    connect(&m_timer, &QTimer::timeout, this, &FlowFeedPublisher::tick);
}

void FlowFeedPublisher::start(tb::NodeAddr self, quint32 runId)
{
    stop();
    m_running = true;
    m_self = self;
    m_runId = runId;
    m_timer.start();
}

void FlowFeedPublisher::stop()
{
    m_timer.stop();
    m_running = false;
    m_seq = 0;
    m_snapshotSeq = 0;
    m_haveBase = false;
    m_known.clear();
    m_served.clear();
}

FlowFeedEntry FlowFeedPublisher::withAge(const Known &k, qint64 nowMs) const
{
    FlowFeedEntry e = k.entry;
    e.ageMs = quint32(std::clamp<qint64>(nowMs - k.firstSeenMs, 0, 0xFFFFFFFFll));
    return e;
}

void FlowFeedPublisher::sendSnapshot(tb::NodeAddr to, qint64 nowMs)
{
    std::vector<FlowFeedEntry> all;
    all.reserve(std::size_t(m_known.size()));
    for (auto it = m_known.cbegin(); it != m_known.cend(); ++it)
        all.push_back(withAge(*it, nowMs));
    const auto parts = encodeFlowFeedSnapshot(m_self, m_runId, ++m_snapshotSeq, all);
    for (const QByteArray &p : parts)
        m_send(to, p, true);
    m_served.insert(to);
    ++m_stats.snapshots;
    m_stats.snapshotParts += parts.size();
}

void FlowFeedPublisher::tick()
{
    if (!m_running)
        return;
    const std::vector<tb::NodeAddr> observers = m_observers();
    // Forget observers that left: if one comes back it is owed a snapshot again.
    for (auto it = m_served.begin(); it != m_served.end();) {
        if (std::find(observers.begin(), observers.end(), *it) == observers.end())
            it = m_served.erase(it);
        else
            ++it;
    }
    if (observers.empty()) {
        // Nobody watches: no copies asked of the fast path. The next observer gets a fresh base.
        m_haveBase = false;
        m_known.clear();
        return;
    }
    std::optional<std::vector<FlowFeedEntry>> copy = m_flows(std::size_t(m_maxFlows));
    if (!copy)
        return; // the fast-path thread copies between batches; collected next tick
    ++m_stats.copies;
    if (copy->size() > std::size_t(m_maxFlows)) {
        copy->resize(std::size_t(m_maxFlows));
        ++m_stats.truncated;
    }
    const qint64 now = m_clock();

    // Diff the copy against the last one. Removal marks for flows gone, then new and changed.
    QHash<quint64, Known> next;
    next.reserve(qsizetype(copy->size()));
    std::vector<FlowFeedEntry> changes;
    for (FlowFeedEntry e : *copy) {
        e.ageMs = 0;
        const quint64 key = e.key();
        const auto old = m_known.constFind(key);
        Known k{e, old == m_known.cend() ? now : old->firstSeenMs};
        if (m_haveBase && (old == m_known.cend() || old->entry != e))
            changes.push_back(withAge(k, now));
        next.insert(key, k);
    }
    if (m_haveBase) {
        for (auto it = m_known.cbegin(); it != m_known.cend(); ++it) {
            if (!next.contains(it.key())) {
                FlowFeedEntry gone = withAge(*it, now);
                gone.state = FlowFeedState::Closed;
                changes.push_back(gone);
            }
        }
    }
    m_known = std::move(next);
    m_haveBase = true;

    const bool tooMany = changes.size() > std::size_t(kFlowFeedMaxEntries);
    QByteArray batch;
    if (!changes.empty() && !tooMany) {
        FlowFeedMessage m;
        m.type = FlowFeedMessage::Type::Changes;
        m.dispatcher = m_self;
        m.runId = m_runId;
        m.seq = ++m_seq;
        m.entries = std::move(changes);
        m_stats.changes += m.entries.size();
        batch = encodeFlowFeed(m);
    }
    for (tb::NodeAddr o : observers) {
        if (tooMany || !m_served.contains(o)) {
            sendSnapshot(o, now);
        } else if (!batch.isEmpty()) {
            m_send(o, batch, true);
            ++m_stats.batches;
        }
    }
}

} // namespace sasha
