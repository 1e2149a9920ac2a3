#pragma once
// The agent's answer to state reconstruction queries (paper §3.4): a ConnQuery arriving on
// kConnQueryChannel is answered, at once, with this node's established connections to the
// asked VIP and ports (ConnectionDumper: sock_diag, dead clients left out), encoded as one or
// more ConnReports sent reliable on kConnReportChannel to the node that asked.
//
// Wiring (sashad): connect RingDriver::oobReceived to onOob, and give a SendFn that calls
// RingDriver::sendOob(to, channel, payload, true). Other channels are ignored, so one
// oobReceived connection can feed every OOB service.
// Thread: the daemon's main thread (queries in, reports out). The dump itself (100k sockets take
// a few hundred ms) and the encoding run on a worker thread, one query at a time; queries that
// arrive meanwhile wait in order, and a dispatcher's retry replaces its query still waiting.

#include "agent/connectiondumper.h"
#include "agent/connmessages.h"
#include "tokenbeat/types.h"
#include "transport/backgroundwork.h"

#include <QObject>
#include <QStringList>

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

namespace sasha {

class ConnectionReporter : public QObject {
    Q_OBJECT
public:
    using SendFn = std::function<void(tb::NodeAddr to, quint8 channel, const QByteArray &payload)>;

    ConnectionReporter(ConnectionDumper dumper, SendFn send, QObject *parent = nullptr);
    ~ConnectionReporter() override; // waits for a dump in progress

    // This node's ring address (reports carry it; the dispatcher checks it against the sender).
    // The ring assigns it at join time, so it may be set after construction.
    void setSelf(tb::NodeAddr self) { m_self = self; }
    // This node's MAC on the cluster link, sent in reports (zero = unknown).
    void setMac(const std::array<quint8, 6> &mac) { m_mac = mac; }
    void setFilter(const DeadClientFilter &f) { m_dumper.setFilter(f); }
    // NAT services' connections to this node's own address (ConnectionDumper::setLocalAliases).
    void setLocalAliases(std::vector<ConnectionDumper::LocalAlias> aliases) { m_dumper.setLocalAliases(std::move(aliases)); }
    // This node saw the ring's dispatcher lost now (ConnectionDumper::setDispatcherLostAt): the
    // dumps from now on spare connections whose silence began then.
    void dispatcherLost() { m_dumper.setDispatcherLostAt(std::chrono::steady_clock::now()); }

    quint64 queriesAnswered() const { return m_answered; }
    quint64 queriesRejected() const { return m_rejected; }
    // Queries that replaced an identical one still waiting, or that the dump in progress answers
    // (see onOob): one dump for them all.
    quint64 queriesCoalesced() const { return m_coalesced; }

public Q_SLOTS:
    void onOob(sasha::tb::NodeAddr from, quint8 channel, const QByteArray &payload);

Q_SIGNALS:
    // One answer sent: connections reported, dead ones left out, parts, dump time in µs.
    void answered(sasha::tb::NodeAddr to, quint32 queryId, int connections, int skippedDead, int parts,
                  qint64 dumpMicros);
    // Emitted before answered() when a dead-client rule held for some connections: how many of
    // them were reported all the same (silent since the dispatcher was lost), and the first few
    // "client:port: reason" lines.
    void deadClientsFiltered(sasha::tb::NodeAddr to, quint32 queryId, int spared, const QStringList &samples);
    // A query that did not decode, or a dump that failed; error names the cause.
    void queryFailed(sasha::tb::NodeAddr from, const QString &error);

private:
    struct Pending {
        tb::NodeAddr from = tb::kNoNode;
        ConnQuery query;
    };
    struct Result {
        std::optional<QString> error;
        std::vector<QByteArray> parts;
        int connections = 0, skippedDead = 0, spared = 0;
        QStringList deadSamples;
        qint64 dumpMicros = 0;
    };
    void startNext();
    void finish(const Pending &job, const Result &r);

    ConnectionDumper m_dumper;
    SendFn m_send;
    tb::NodeAddr m_self = tb::kNoNode;
    std::array<quint8, 6> m_mac{};
    quint64 m_answered = 0, m_rejected = 0, m_coalesced = 0;
    std::deque<Pending> m_queue; // decoded queries waiting for the worker
    bool m_busy = false;         // a dump in progress (finish() comes back)
    Pending m_running;           // the query it answers, while m_busy
    BackgroundWork m_worker{1};  // one dump at a time; never joined from this thread. Last member:
                                 // destroyed (and waited for) first
};

} // namespace sasha
