#include "flowfeedreceiver.h"

namespace sasha::console {

FlowRecord FlowFeedReceiver::toRecord(const FlowFeedEntry &e, qint64 nowUs)
{
    FlowRecord f;
    f.clientIp = e.clientIp;
    f.clientPort = e.clientPort;
    f.server = e.server;
    f.state = FlowRecord::State(quint8(e.state)); // same numbering, 0..3 (checked by the decoder)
    f.startUs = nowUs - qint64(e.ageMs) * 1000;
    return f;
}

QByteArray FlowFeedReceiver::subscription(tb::NodeAddr dispatcher) const
{
    return encodeFlowFeedSubscribe(dispatcher, dispatcher == m_dispatcher ? m_completeRun : 0);
}

FlowFeedReceiver::Result FlowFeedReceiver::onMessage(tb::NodeAddr from, QByteArrayView payload, qint64 nowUs)
{
    Result r;
    auto m = decodeFlowFeed(payload, &r.error);
    if (!m) {
        ++m_rejected;
        return r;
    }
    if (m->dispatcher != from) {
        ++m_rejected;
        r.error = QStringLiteral("flow feed from %1 claims to come from dispatcher %2")
                      .arg(ipToString(from), ipToString(m->dispatcher));
        return r;
    }
    if (m->type == FlowFeedMessage::Type::Subscribe) {
        ++m_rejected;
        r.error = QStringLiteral("flow feed subscription from %1: observers do not serve the feed").arg(ipToString(from));
        return r;
    }
    const bool isSnapshot = m->type == FlowFeedMessage::Type::SnapshotPart;
    if (isSnapshot) {
        if (!m_haveRun || from != m_dispatcher || m->runId != m_runId || m->seq != m_snapshotSeq) {
            r.reset = from != m_dispatcher || !m_haveRun || m->runId != m_runId;
            m_haveRun = true;
            m_dispatcher = from;
            if (r.reset)
                m_completeRun = 0;
            m_runId = m->runId;
            m_snapshotSeq = m->seq;
            m_partsSeen.clear();
            m_snapshotKeys.clear();
            m_parts = m->parts;
        }
        if (m->parts != m_parts || m_partsSeen.contains(m->part)) {
            ++m_rejected;
            r.reset = false;
            r.error = QStringLiteral("flow feed snapshot part %1 of %2 repeated or inconsistent").arg(m->part).arg(m->parts);
            return r;
        }
        m_partsSeen.insert(m->part);
    } else if (!m_haveRun || from != m_dispatcher || m->runId != m_runId) {
        ++m_stale;
        return r;
    }
    r.dispatcher = m_dispatcher;
    r.flows.reserve(qsizetype(m->entries.size()));
    for (const FlowFeedEntry &e : m->entries) {
        FlowRecord f = toRecord(e, nowUs);
        if (f.state == FlowRecord::State::Closed) {
            m_open.remove(f.key());
        } else {
            m_open.insert(f.key(), f);
            if (isSnapshot)
                m_snapshotKeys.insert(f.key());
        }
        r.flows.push_back(f);
    }
    if (isSnapshot && m_partsSeen.size() == m_parts) {
        // Complete: whatever the console shows that the snapshot did not list has ended.
        ++m_snapshots;
        m_completeRun = m_runId;
        for (auto it = m_open.begin(); it != m_open.end();) {
            if (m_snapshotKeys.contains(it.key())) {
                ++it;
                continue;
            }
            FlowRecord gone = *it;
            gone.state = FlowRecord::State::Closed;
            r.flows.push_back(gone);
            it = m_open.erase(it);
        }
        m_snapshotKeys.clear();
    }
    return r;
}

} // namespace sasha::console
