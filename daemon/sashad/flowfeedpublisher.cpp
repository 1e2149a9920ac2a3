#include "flowfeedpublisher.h"

#include <algorithm>

namespace sasha {

FlowFeedPublisher::FlowFeedPublisher(tb::NodeAddr self, FlowSource flows, Sender send, Clock clock, QObject *parent)
    : QObject(parent), m_flows(std::move(flows)), m_send(std::move(send)), m_clock(std::move(clock)), m_self(self)
{
    m_timer.setInterval(kTickMs);
    connect(&m_timer, &QTimer::timeout, this, &FlowFeedPublisher::tick);
}

void FlowFeedPublisher::onMessage(tb::NodeAddr from, const QByteArray &payload)
{
    const auto m = decodeFlowFeed(payload);
    if (!m || m->type != FlowFeedMessage::Type::Subscribe || m->dispatcher != m_self) {
        ++m_stats.rejected;
        return;
    }
    Subscriber &s = m_subscribers[from];
    s.lastHeardMs = m_clock();
    s.haveRun = m->runId;
}

void FlowFeedPublisher::start(quint32 runId)
{
    stop();
    m_running = true;
    m_runId = runId != 0 ? runId : 1; // 0 means "no run" to subscribers
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
    Subscriber &s = m_subscribers[to];
    s.servedRun = m_runId;
    s.snapshotSentMs = nowMs;
    ++m_stats.snapshots;
    m_stats.snapshotParts += parts.size();
}

void FlowFeedPublisher::tick()
{
    if (!m_running)
        return;
    // Forget observers that went quiet: if one comes back it is owed a snapshot again.
    const qint64 heardBy = m_clock() - kFlowFeedSubscriberTimeoutMs;
    std::vector<tb::NodeAddr> observers;
    for (auto it = m_subscribers.begin(); it != m_subscribers.end();) {
        if (it->second.lastHeardMs < heardBy) {
            it = m_subscribers.erase(it);
        } else {
            observers.push_back(it->first);
            ++it;
        }
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
        const Subscriber &s = m_subscribers[o];
        const bool owed = s.servedRun != m_runId
            || (s.haveRun != m_runId && now - s.snapshotSentMs >= kResnapshotMs);
        if (tooMany || owed) {
            sendSnapshot(o, now);
        } else if (!batch.isEmpty()) {
            m_send(o, batch, true);
            ++m_stats.batches;
        }
    }
}

} // namespace sasha
