#include "agent/connectionreporter.h"

#include <QElapsedTimer>

namespace sasha {

ConnectionReporter::ConnectionReporter(ConnectionDumper dumper, SendFn send, QObject *parent)
    : QObject(parent), m_dumper(std::move(dumper)), m_send(std::move(send))
{
}

void ConnectionReporter::onOob(tb::NodeAddr from, quint8 channel, const QByteArray &payload)
{
    if (channel != kConnQueryChannel)
        return;
    QString error;
    const std::optional<ConnQuery> query = decodeConnQuery(payload, &error);
    if (!query) {
        ++m_rejected;
        Q_EMIT queryFailed(from, error);
        return;
    }
    // A dispatcher asks again when the answer is slow (after 250 ms; a 100k-connection dump takes
    // about 450 ms here): a query still waiting behind the dump in progress is replaced by the
    // newer one of the same dispatcher for the same service, so each retry does not cost one more
    // dump and one more report (lab_bigtables saw 3 of each per reconstruction). The newest id
    // is answered: it belongs to the dispatcher's current reconstruction.
    // The same holds for the dump in progress: its answer carries the query it started for, which
    // the dispatcher takes as the answer to any of its queries of the same reconstruction. A
    // dispatcher that started a new reconstruction meanwhile rejects it and asks again, and
    // that query then gets a dump of its own.
    const auto sameServices = [&](const ConnQuery &q) {
        return q.services() == query->services() && q.udpServices() == query->udpServices();
    };
    if (m_busy && m_running.from == from && sameServices(m_running.query)) {
        ++m_coalesced;
        return;
    }
    for (Pending &waiting : m_queue) {
        if (waiting.from == from && sameServices(waiting.query)) {
            waiting.query.queryId = query->queryId;
            ++m_coalesced;
            return;
        }
    }
    m_queue.push_back(Pending{from, *query});
    startNext();
}

ConnectionReporter::~ConnectionReporter()
{
    m_worker.waitForDone(); // its queued answer dies with this object
}

// The dump (the kernel walks every established socket: ~2 µs each, so 100k connections take a
// few hundred ms) and its encoding run on a worker thread, one query at a time, never on the
// thread that relays the ring's token; the parts are sent from this thread when it is done.
void ConnectionReporter::startNext()
{
    if (m_busy || m_queue.empty())
        return;
    const Pending job = m_queue.front();
    m_queue.pop_front();
    m_busy = true;
    m_running = job;
    m_worker.run([this, job, dumper = m_dumper, self = m_self, mac = m_mac] {
        QElapsedTimer timer;
        timer.start();
        const ConnectionDump dump = dumper.dump(job.query.services(), job.query.udpServices());
        Result r;
        r.dumpMicros = timer.nsecsElapsed() / 1000;
        if (dump.error) {
            r.error = *dump.error;
        } else {
            const std::vector<ConnEntry> entries = ConnectionDumper::toEntries(dump.live);
            r.connections = int(entries.size());
            r.skippedDead = int(dump.skippedDead);
            r.spared = int(dump.sparedOutage);
            for (const QString &line : dump.deadSamples)
                r.deadSamples.push_back(line);
            r.parts = encodeConnReports(job.query, self, mac, entries, dump.skippedDead);
        }
        QMetaObject::invokeMethod(this, [this, job, r] { finish(job, r); }, Qt::QueuedConnection);
    });
}

void ConnectionReporter::finish(const Pending &job, const Result &r)
{
    m_busy = false;
    if (r.error) {
        // No answer: the dispatcher retries, and its timeout bounds the wait.
        ++m_rejected;
        Q_EMIT queryFailed(job.from, *r.error);
    } else {
        for (const QByteArray &p : r.parts)
            m_send(job.from, kConnReportChannel, p);
        ++m_answered;
        if (!r.deadSamples.isEmpty())
            Q_EMIT deadClientsFiltered(job.from, job.query.queryId, r.spared, r.deadSamples);
        Q_EMIT answered(job.from, job.query.queryId, r.connections, r.skippedDead, int(r.parts.size()), r.dumpMicros);
    }
    startNext();
}

} // namespace sasha
