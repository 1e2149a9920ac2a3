#pragma once
// UdpTransport: the TokenBeat core's datagram I/O on a UDP socket bound to the node's endpoint
// (docs/tokenbeat.md "Receive path"). Broadcast sends are allowed (SO_BROADCAST). Bind failures
// are values that say what to fix.
//
// Threads. The object lives in the thread that created it (the daemon's main loop, which relays
// the token); sends go out from there. Receiving has a thread of its own, so that nothing
// arriving on the port can delay a token: it drains the socket with recvmmsg, runs the
// admission check (RingDriver: Opener::authenticate, size/magic/version/MAC, no replay state) on
// every datagram, counts and drops what fails, per reason and per source, and hands only what
// passes to the owner's thread through m_inbox (under m_inboxMutex, bounded; one queued call
// when it turns non-empty). Junk therefore never reaches the ring's thread, and the socket is
// emptied as fast as one core can authenticate (~1 µs a datagram), not as fast as the event
// loop turns. The receive buffer is sized (SO_RCVBUFFORCE when permitted, else SO_RCVBUF,
// capped by net.core.rmem_max) and the kernel's overflow count is read with SO_RXQ_OVFL. Each
// datagram's arrival time (SO_TIMESTAMPNS) measures how long it waited before the receive thread
// read it (receiveWaitMaxMs, receiveWaitLate): a host short of CPU for its network shows there.

#include "tokenbeat/node.h" // DropReason
#include "tokenbeat/types.h"

#include <QByteArray>
#include <QJsonObject>
#include <QObject>

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace sasha {

struct TransportError {
    enum class Kind { AddressNotAvailable, AddressInUse, Other };
    Kind kind = Kind::Other;
    QString message; // "address 10.1.2.3 is not on this host", "127.0.0.2:7400 is in use by another process"
};

class UdpTransport : public QObject {
    Q_OBJECT
public:
    // Runs on the receive thread: nullopt admits the datagram, a reason drops it.
    using Admission = std::function<std::optional<tb::DropReason>(QByteArrayView datagram)>;
    static constexpr int kDefaultReceiveBufferBytes = 4 << 20;
    static constexpr std::size_t kMaxSourcesTracked = 64; // per-source drop counters kept

    explicit UdpTransport(QObject *parent = nullptr);
    ~UdpTransport() override;

    // Before bind(): the receive buffer to ask for, and the admission check (default: admit all).
    void setReceiveBufferBytes(int bytes) { m_receiveBufferBytes = bytes; }
    void setAdmission(Admission admission) { m_admission = std::move(admission); }

    // Binds exclusively (no SO_REUSEADDR: a second daemon on the same endpoint must fail) and
    // starts the receive thread. Port 0 lets the OS choose; localEndpoint() tells which.
    std::optional<TransportError> bind(const tb::Endpoint &endpoint);
    bool isBound() const { return m_fd >= 0; }
    tb::Endpoint localEndpoint() const { return m_local; }

    // Fire and forget; a failure is counted and logged (rate-limited), never fatal.
    bool send(const tb::Endpoint &to, const QByteArray &datagram);
    void close();
    // Emits, now, what the receive thread has handed over. RingDriver calls it before it judges
    // an expired deadline: when this thread was busy (a slow handler, the machine overloaded),
    // the token that arrived meanwhile must be seen first, or a node purges a healthy ring
    // because of its own stall.
    void readQueued() { deliverInbox(); }
    // The owner's thread ran `lagUs` later than it should have (RingDriver: a timer that fired
    // late); counted with the datagrams' waits in deliveryLagMaxMs / lateDeliveries.
    void noteOwnerLag(qint64 lagUs, bool timer = true);

    quint64 sendErrors() const { return m_sendErrors; }

    // Fault injection (docs/console.md, unplug): while set, every datagram sent is dropped
    // before the socket and every datagram received is read and discarded, as with a pulled
    // cable. Counted in unpluggedDrops().
    void setUnplugged(bool on) { m_unplugged.store(on, std::memory_order_relaxed); }
    bool isUnplugged() const { return m_unplugged.load(std::memory_order_relaxed); }
    quint64 unpluggedDrops() const { return m_unpluggedDrops.load(std::memory_order_relaxed); }

    // The receive path's figures for the status JSON ("transport", docs/sashactl.md).
    QJsonObject stats() const;
    quint64 rejected() const; // every datagram the admission check dropped
    quint64 rejected(tb::DropReason why) const { return m_rejected[static_cast<int>(why)].load(std::memory_order_relaxed); }

Q_SIGNALS:
    void datagramReceived(const sasha::tb::Endpoint &from, const QByteArray &datagram);
    // Rate-limited notice of rejections (at most one per reason per second; the first at once):
    // `count` datagrams rejected for `why` since the last notice, `from` the latest's source.
    void datagramsRejected(const sasha::tb::Endpoint &from, sasha::tb::DropReason why, quint64 count);

private:
    struct Received {
        tb::Endpoint from;
        QByteArray datagram;
    };
    void receiveLoop();
    void admit(const tb::Endpoint &from, QByteArrayView datagram);
    void reject(const tb::Endpoint &from, tb::DropReason why);
    void deliverInbox();
    void stopReceiving();
    void noteReceiveWait(qint64 waitUs);

    int m_fd = -1;
    int m_wakeFd = -1; // eventfd: stopReceiving() wakes the receive thread's poll()
    tb::Endpoint m_local;
    int m_receiveBufferBytes = kDefaultReceiveBufferBytes;
    int m_receiveBufferActual = 0; // what the kernel granted (getsockopt)
    bool m_receiveBufferForced = false;
    Admission m_admission;
    std::thread m_receiver;
    std::atomic<bool> m_stopping{false};

    // Receive thread -> owner's thread. m_inboxPosted: a deliverInbox() call is queued.
    mutable std::mutex m_inboxMutex;
    std::vector<Received> m_inbox;
    bool m_inboxPosted = false;
    qint64 m_inboxSinceUs = 0; // steady µs at which the oldest datagram in m_inbox was admitted

    // Written by the receive thread; atomics read anywhere. m_sources under m_inboxMutex.
    std::atomic<quint64> m_datagramsIn{0}, m_admitted{0}, m_inboxFull{0}, m_kernelDrops{0};
    std::array<std::atomic<quint64>, static_cast<int>(tb::DropReason::Count_)> m_rejected{};
    std::array<quint64, static_cast<int>(tb::DropReason::Count_)> m_unnoticed{}; // receive thread only
    std::array<qint64, static_cast<int>(tb::DropReason::Count_)> m_lastNoticeMs{}; // receive thread only
    std::map<quint32, quint64> m_sources;  // source IPv4 -> datagrams rejected
    quint64 m_otherSources = 0;            // rejected from sources beyond kMaxSourcesTracked
    std::atomic<bool> m_unplugged{false};
    std::atomic<quint64> m_unpluggedDrops{0};

    // The owner's thread's lag: how long admitted datagrams waited for it (a busy or starved
    // thread that relays the token shows here first). Written by the owner, read anywhere.
    std::atomic<qint64> m_lagMaxUs{0};
    std::atomic<quint64> m_lateBatches{0}; // batches that waited >= kLateUs
    // Arrival on the interface (SO_TIMESTAMPNS) to the receive thread's read: the longest wait
    // of a batch, and the batches that waited >= kLateReceiveUs. Written by the receive thread.
    std::atomic<qint64> m_receiveWaitMaxUs{0};
    std::atomic<quint64> m_lateReceives{0};
    // Receive thread only.
    qint64 m_receiveWaitSinceLogMaxUs = 0;
    quint64 m_lateReceivesSinceLog = 0;
    qint64 m_lastReceiveWaitLogMs = 0;
    qint64 m_lastLoggedReceiveWaitUs = 0;
    // The worst late turn of the owner's thread: its lag, and since its previous turn the time it
    // spent runnable in a run queue and on a CPU (schedstat; -1 when unknown). Read anywhere.
    struct {
        std::atomic<qint64> lagUs{0}, queuedUs{0}, cpuUs{0};
        std::atomic<bool> timer{false}; // a timer fired late (else: datagrams waited)
    } m_worstLate;
    // The receive thread's longest batch: from its read to the last datagram handed over (the
    // admission checks, and the thread itself kept off the CPU meanwhile). Written by it.
    std::atomic<qint64> m_receiveBatchMaxUs{0};
    // Owner's thread only.
    int m_schedstatFd = -2; // /proc/thread-self/schedstat of the owner's thread (-2: not opened yet)
    qint64 m_lastCpuNs = -1, m_lastQueuedNs = -1;
    qint64 m_lagSinceLogMaxUs = 0;
    quint64 m_lateSinceLog = 0;
    qint64 m_lastLagLogMs = 0;
    qint64 m_lastLoggedLagUs = 0;
    quint64 m_sendErrors = 0;
    qint64 m_lastSendErrorLogMs = 0;
    quint64 m_sendErrorsSinceLog = 0;
};

} // namespace sasha
