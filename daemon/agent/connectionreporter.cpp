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
    QElapsedTimer timer;
    timer.start();
    const ConnectionDump dump = m_dumper.dump(query->vip, query->ports);
    const qint64 dumpMicros = timer.nsecsElapsed() / 1000;
    if (dump.error) {
        // No answer: the dispatcher retries, and its timeout bounds the wait.
        ++m_rejected;
        Q_EMIT queryFailed(from, *dump.error);
        return;
    }
    const std::vector<ConnEntry> entries = ConnectionDumper::toEntries(dump.live);
    const std::vector<QByteArray> parts = encodeConnReports(*query, m_self, m_mac, entries, dump.skippedDead);
    for (const QByteArray &p : parts)
        m_send(from, kConnReportChannel, p);
    ++m_answered;
    Q_EMIT answered(from, query->queryId, int(entries.size()), int(dump.skippedDead), int(parts.size()), dumpMicros);
}

} // namespace sasha
