#include "transport/udptransport.h"

#include "config/logcategories.h"

#include <QDateTime>
#include <QHostAddress>
#include <QJsonArray>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <utility>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

namespace sasha {
namespace {
constexpr int kBatch = 64;             // datagrams per recvmmsg
constexpr int kMaxDatagram = 9216;     // jumbo frame; longer ones arrive cut (MSG_TRUNC) and count as oversized
constexpr std::size_t kMaxInbox = 8192; // admitted datagrams waiting for the owner's thread
constexpr qint64 kLogEveryMs = 5000;
constexpr qint64 kNoticeEveryMs = 1000; // datagramsRejected, per reason
// A batch of datagrams that waited this long for the owner's thread is "late" (counted; a
// warning at most every kLagLogEveryMs). The default token timeout is 140 ms: 50 ms of it
// spent waiting for our own thread is worth an operator's attention.
constexpr qint64 kLateUs = 50'000;
constexpr qint64 kLagLogEveryMs = 5000;
// A batch whose datagrams waited this long between their arrival on the interface and the
// receive thread's read is counted (receiveWaitLate) and worth a warning (rate-limited as above).
constexpr qint64 kLateReceiveUs = 20'000;

qint64 steadyMicros()
{
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

QString endpointText(const tb::Endpoint &e)
{
    return QStringLiteral("%1:%2").arg(QHostAddress(e.ip).toString()).arg(e.port);
}

QString errnoText(int err)
{
    return QString::fromLocal8Bit(std::strerror(err));
}
} // namespace

UdpTransport::UdpTransport(QObject *parent) : QObject(parent) {}

UdpTransport::~UdpTransport()
{
    close();
    if (m_schedstatFd >= 0)
        ::close(m_schedstatFd);
}

std::optional<TransportError> UdpTransport::bind(const tb::Endpoint &endpoint)
{
    close();
    TransportError e;
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        e.message = QStringLiteral("cannot open a UDP socket: %1").arg(errnoText(errno));
        return e;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    // Each datagram's arrival time (taken when the interface queued it, before the softirq that
    // delivers it to the socket), so the wait in the kernel and for this receive thread shows.
    ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    // The kernel doubles what it is given (bookkeeping) and caps SO_RCVBUF at net.core.rmem_max;
    // SO_RCVBUFFORCE (CAP_NET_ADMIN) is not capped.
    const int want = std::max(m_receiveBufferBytes / 2, 1024);
    m_receiveBufferForced = ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0;
    if (!m_receiveBufferForced)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    socklen_t len = sizeof m_receiveBufferActual;
    ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &m_receiveBufferActual, &len);

    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(endpoint.ip);
    sa.sin_port = htons(endpoint.port);
    if (::bind(fd, reinterpret_cast<const sockaddr *>(&sa), sizeof sa) != 0) {
        const int err = errno;
        ::close(fd);
        switch (err) {
        case EADDRNOTAVAIL:
            e.kind = TransportError::Kind::AddressNotAvailable;
            e.message = QStringLiteral("address %1 is not on this host").arg(QHostAddress(endpoint.ip).toString());
            break;
        case EADDRINUSE:
            e.kind = TransportError::Kind::AddressInUse;
            e.message = QStringLiteral("%1 is in use by another process").arg(endpointText(endpoint));
            break;
        default:
            e.message = QStringLiteral("cannot bind %1: %2").arg(endpointText(endpoint), errnoText(err));
            break;
        }
        return e;
    }
    socklen_t salen = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr *>(&sa), &salen);
    m_local = {ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port)};
    m_wakeFd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m_wakeFd < 0) {
        ::close(fd);
        e.message = QStringLiteral("cannot create an eventfd: %1").arg(errnoText(errno));
        return e;
    }
    m_fd = fd;
    m_stopping = false;
    m_receiver = std::thread(&UdpTransport::receiveLoop, this);
    const bool capped = !m_receiveBufferForced && m_receiveBufferActual < m_receiveBufferBytes;
    qCInfo(lcTransport, "bound %s, receive buffer %d KiB%s", qPrintable(endpointText(m_local)),
           m_receiveBufferActual / 1024,
           capped ? " (capped by net.core.rmem_max: SO_RCVBUFFORCE needs CAP_NET_ADMIN)" : "");
    return std::nullopt;
}

void UdpTransport::stopReceiving()
{
    if (!m_receiver.joinable())
        return;
    m_stopping = true;
    const quint64 one = 1;
    [[maybe_unused]] const auto n = ::write(m_wakeFd, &one, sizeof one);
    m_receiver.join();
}

void UdpTransport::close()
{
    stopReceiving();
    if (m_fd >= 0)
        ::close(m_fd);
    if (m_wakeFd >= 0)
        ::close(m_wakeFd);
    m_fd = m_wakeFd = -1;
    std::lock_guard lock(m_inboxMutex);
    m_inbox.clear();
}

bool UdpTransport::send(const tb::Endpoint &to, const QByteArray &datagram)
{
    if (isUnplugged()) {
        m_unpluggedDrops.fetch_add(1, std::memory_order_relaxed);
        return true; // the sender cannot tell a pulled cable from a lost datagram
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(to.ip);
    sa.sin_port = htons(to.port);
    if (m_fd >= 0 && ::sendto(m_fd, datagram.constData(), std::size_t(datagram.size()), 0,
                              reinterpret_cast<const sockaddr *>(&sa), sizeof sa) == datagram.size())
        return true;
    const int err = m_fd >= 0 ? errno : EBADF;
    ++m_sendErrors;
    ++m_sendErrorsSinceLog;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (now - m_lastSendErrorLogMs >= kLogEveryMs) {
        qCWarning(lcTransport, "send to %s failed: %s (%llu send failures in the last %llds)",
                  qPrintable(endpointText(to)), qPrintable(errnoText(err)),
                  static_cast<unsigned long long>(m_sendErrorsSinceLog), kLogEveryMs / 1000);
        m_lastSendErrorLogMs = now;
        m_sendErrorsSinceLog = 0;
    }
    return false;
}

// The receive thread: poll, then drain with recvmmsg until the socket is empty.
void UdpTransport::receiveLoop()
{
    std::vector<char> buffers(std::size_t(kBatch) * kMaxDatagram);
    std::array<mmsghdr, kBatch> msgs{};
    std::array<iovec, kBatch> iov{};
    std::array<sockaddr_in, kBatch> from{};
    // Room for the SO_RXQ_OVFL and SO_TIMESTAMPNS control messages of each datagram.
    std::array<std::array<char, CMSG_SPACE(sizeof(quint32)) + CMSG_SPACE(sizeof(timespec))>, kBatch> control{};
    pollfd fds[2] = {{m_fd, POLLIN, 0}, {m_wakeFd, POLLIN, 0}};
    while (!m_stopping.load(std::memory_order_relaxed)) {
        if (::poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents)
            break;
        for (;;) {
            for (int i = 0; i < kBatch; ++i) {
                iov[i] = {buffers.data() + std::size_t(i) * kMaxDatagram, std::size_t(kMaxDatagram)};
                msgs[i] = {};
                msgs[i].msg_hdr.msg_name = &from[i];
                msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                msgs[i].msg_hdr.msg_control = control[i].data();
                msgs[i].msg_hdr.msg_controllen = control[i].size();
            }
            const int n = ::recvmmsg(m_fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
            if (n <= 0)
                break; // EAGAIN: drained (or an error: poll again)
            m_datagramsIn.fetch_add(quint64(n), std::memory_order_relaxed);
            timespec readAt{};
            ::clock_gettime(CLOCK_REALTIME, &readAt);
            qint64 batchWaitUs = 0;
            for (int i = 0; i < n; ++i) {
                for (cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                        quint32 drops = 0;
                        std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
                        m_kernelDrops.store(drops, std::memory_order_relaxed);
                    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                        timespec arrived{};
                        std::memcpy(&arrived, CMSG_DATA(c), sizeof arrived);
                        const qint64 us = (qint64(readAt.tv_sec) - arrived.tv_sec) * 1000000
                                          + (qint64(readAt.tv_nsec) - arrived.tv_nsec) / 1000;
                        batchWaitUs = std::max(batchWaitUs, us); // < 0: the clock stepped; ignored
                    }
                }
                const tb::Endpoint source{ntohl(from[i].sin_addr.s_addr), ntohs(from[i].sin_port)};
                if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                    reject(source, tb::DropReason::Oversized);
                    continue;
                }
                admit(source, QByteArrayView(static_cast<const char *>(iov[i].iov_base), qsizetype(msgs[i].msg_len)));
            }
            noteReceiveWait(batchWaitUs);
            timespec doneAt{};
            ::clock_gettime(CLOCK_REALTIME, &doneAt);
            const qint64 batchUs = (qint64(doneAt.tv_sec) - readAt.tv_sec) * 1000000 + (qint64(doneAt.tv_nsec) - readAt.tv_nsec) / 1000;
            if (batchUs > m_receiveBatchMaxUs.load(std::memory_order_relaxed))
                m_receiveBatchMaxUs.store(batchUs, std::memory_order_relaxed);
            if (n < kBatch)
                break;
        }
    }
}

// Receive thread: the longest wait of one batch's datagrams between their arrival on the
// interface and this thread's read (the softirq that delivers them, the socket's queue, this
// thread waiting for a CPU). The ring thread's own lag (noteOwnerLag) comes after it.
void UdpTransport::noteReceiveWait(qint64 waitUs)
{
    if (waitUs > m_receiveWaitMaxUs.load(std::memory_order_relaxed))
        m_receiveWaitMaxUs.store(waitUs, std::memory_order_relaxed);
    if (waitUs < kLateReceiveUs)
        return;
    m_lateReceives.fetch_add(1, std::memory_order_relaxed);
    ++m_lateReceivesSinceLog;
    m_receiveWaitSinceLogMaxUs = std::max(m_receiveWaitSinceLogMaxUs, waitUs);
    const qint64 nowMs = steadyMicros() / 1000;
    if (m_lastReceiveWaitLogMs != 0 && nowMs - m_lastReceiveWaitLogMs < kLagLogEveryMs
        && waitUs < 2 * m_lastLoggedReceiveWaitUs)
        return;
    m_lastLoggedReceiveWaitUs = m_receiveWaitSinceLogMaxUs;
    qCWarning(lcTransport, "ring datagrams waited up to %.1f ms between their arrival and this node's read "
                           "(%llu batch(es) >= %lld ms since %s): the kernel's delivery (softirq) or this node's "
                           "receive thread was short of CPU",
              double(m_receiveWaitSinceLogMaxUs) / 1000.0, static_cast<unsigned long long>(m_lateReceivesSinceLog),
              kLateReceiveUs / 1000, m_lastReceiveWaitLogMs ? "the last such warning" : "start");
    m_lastReceiveWaitLogMs = nowMs;
    m_lateReceivesSinceLog = 0;
    m_receiveWaitSinceLogMaxUs = 0;
}

// Receive thread.
void UdpTransport::admit(const tb::Endpoint &from, QByteArrayView datagram)
{
    if (isUnplugged()) {
        m_unpluggedDrops.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (const std::optional<tb::DropReason> bad = m_admission ? m_admission(datagram) : std::nullopt) {
        reject(from, *bad);
        return;
    }
    std::lock_guard lock(m_inboxMutex);
    if (m_inbox.size() >= kMaxInbox) {
        m_inboxFull.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    m_admitted.fetch_add(1, std::memory_order_relaxed);
    if (m_inbox.empty())
        m_inboxSinceUs = steadyMicros();
    m_inbox.push_back({from, datagram.toByteArray()});
    if (!m_inboxPosted) {
        m_inboxPosted = true;
        QMetaObject::invokeMethod(this, &UdpTransport::deliverInbox, Qt::QueuedConnection);
    }
}

// Receive thread.
void UdpTransport::reject(const tb::Endpoint &from, tb::DropReason why)
{
    const int r = static_cast<int>(why);
    m_rejected[r].fetch_add(1, std::memory_order_relaxed);
    ++m_unnoticed[r];
    const qint64 nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now().time_since_epoch()).count();
    if (m_lastNoticeMs[r] == 0 || nowMs - m_lastNoticeMs[r] >= kNoticeEveryMs) {
        m_lastNoticeMs[r] = nowMs;
        const quint64 count = std::exchange(m_unnoticed[r], 0);
        QMetaObject::invokeMethod(this, [this, from, why, count] { Q_EMIT datagramsRejected(from, why, count); },
                                  Qt::QueuedConnection);
    }
    std::lock_guard lock(m_inboxMutex);
    if (auto it = m_sources.find(from.ip); it != m_sources.end())
        ++it->second;
    else if (m_sources.size() < kMaxSourcesTracked)
        m_sources.emplace(from.ip, 1);
    else
        ++m_otherSources;
}

// Owner's thread.
void UdpTransport::deliverInbox()
{
    std::vector<Received> batch;
    qint64 since = 0;
    {
        std::lock_guard lock(m_inboxMutex);
        batch.swap(m_inbox);
        m_inboxPosted = false;
        since = m_inboxSinceUs;
    }
    if (!batch.empty())
        noteOwnerLag(steadyMicros() - since, false);
    for (const Received &r : batch)
        Q_EMIT datagramReceived(r.from, r.datagram);
}

// Owner's thread: one batch waited `lagUs` between its first datagram's arrival and now, or a
// timer of the owner fired `lagUs` late.
void UdpTransport::noteOwnerLag(qint64 lagUs, bool timer)
{
    // What the thread did since its previous turn (/proc/thread-self/schedstat: time on a CPU,
    // time runnable in a run queue): a late turn with the run-queue time near the lag was CPU
    // contention in this host; with the CPU time near it (and no slow event), the virtual CPU
    // itself was not running (preempted by the hypervisor, counted as ours); with neither, the
    // thread slept (not woken).
    if (m_schedstatFd == -2)
        m_schedstatFd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    qint64 cpuNs = -1, queuedNs = -1;
    if (m_schedstatFd >= 0) {
        char buf[128];
        const ssize_t n = ::pread(m_schedstatFd, buf, sizeof buf - 1, 0);
        long long a = 0, b = 0;
        if (n > 0 && (buf[n] = '\0', std::sscanf(buf, "%lld %lld", &a, &b) == 2)) {
            cpuNs = a;
            queuedNs = b;
        }
    }
    const bool known = cpuNs >= 0 && m_lastCpuNs >= 0;
    const qint64 cpuUs = known ? (cpuNs - m_lastCpuNs) / 1000 : -1;
    const qint64 queuedUs = known ? (queuedNs - m_lastQueuedNs) / 1000 : -1;
    m_lastCpuNs = cpuNs;
    m_lastQueuedNs = queuedNs;
    if (lagUs > m_lagMaxUs.load(std::memory_order_relaxed))
        m_lagMaxUs.store(lagUs, std::memory_order_relaxed);
    if (lagUs < kLateUs)
        return;
    if (lagUs > m_worstLate.lagUs.load(std::memory_order_relaxed)) {
        m_worstLate.lagUs.store(lagUs, std::memory_order_relaxed);
        m_worstLate.queuedUs.store(queuedUs, std::memory_order_relaxed);
        m_worstLate.cpuUs.store(cpuUs, std::memory_order_relaxed);
        m_worstLate.timer.store(timer, std::memory_order_relaxed);
    }
    m_lateBatches.fetch_add(1, std::memory_order_relaxed);
    ++m_lateSinceLog;
    m_lagSinceLogMaxUs = std::max(m_lagSinceLogMaxUs, lagUs);
    const qint64 nowMs = steadyMicros() / 1000;
    // At most every kLagLogEveryMs, unless this delay is twice the last one reported: the worst
    // stall must not hide behind a smaller one logged just before it.
    if (m_lastLagLogMs != 0 && nowMs - m_lastLagLogMs < kLagLogEveryMs && lagUs < 2 * m_lastLoggedLagUs)
        return;
    m_lastLoggedLagUs = m_lagSinceLogMaxUs;
    qCWarning(lcTransport, "this node's ring thread was late: up to %.1f ms behind (datagrams waiting for it, or "
                           "its timers firing late; %llu time(s) >= %lld ms since %s); busy, or starved of CPU. "
                           "This time %.1f ms (%s); since its previous turn %.1f ms runnable waiting for a CPU, %.1f ms on a CPU",
              double(m_lagSinceLogMaxUs) / 1000.0, static_cast<unsigned long long>(m_lateSinceLog), kLateUs / 1000,
              m_lastLagLogMs ? "the last such warning" : "start", double(lagUs) / 1000.0,
              timer ? "its timer fired late" : "datagrams waited", double(queuedUs) / 1000.0,
              double(cpuUs) / 1000.0);
    m_lastLagLogMs = nowMs;
    m_lateSinceLog = 0;
    m_lagSinceLogMaxUs = 0;
}

quint64 UdpTransport::rejected() const
{
    quint64 sum = 0;
    for (const auto &c : m_rejected)
        sum += c.load(std::memory_order_relaxed);
    return sum;
}

QJsonObject UdpTransport::stats() const
{
    QJsonObject rejected;
    for (int r = 0; r < static_cast<int>(tb::DropReason::Count_); ++r) {
        if (const quint64 n = m_rejected[r].load(std::memory_order_relaxed))
            rejected.insert(tb::dropReasonToString(tb::DropReason(r)), qint64(n));
    }
    QJsonArray sources;
    std::vector<std::pair<quint64, quint32>> bySize;
    quint64 others = 0;
    {
        std::lock_guard lock(m_inboxMutex);
        for (const auto &[ip, n] : m_sources)
            bySize.emplace_back(n, ip);
        others = m_otherSources;
    }
    std::sort(bySize.rbegin(), bySize.rend());
    for (std::size_t i = 0; i < bySize.size() && i < 10; ++i)
        sources.append(QJsonObject{{QStringLiteral("source"), QHostAddress(bySize[i].second).toString()},
                                   {QStringLiteral("rejected"), qint64(bySize[i].first)}});
    return QJsonObject{
        {QStringLiteral("receiveBufferBytes"), m_receiveBufferActual},
        {QStringLiteral("datagramsIn"), qint64(m_datagramsIn.load(std::memory_order_relaxed))},
        {QStringLiteral("admitted"), qint64(m_admitted.load(std::memory_order_relaxed))},
        {QStringLiteral("rejected"), rejected},
        {QStringLiteral("rejectedTotal"), qint64(this->rejected())},
        {QStringLiteral("topRejectedSources"), sources},
        {QStringLiteral("rejectedOtherSources"), qint64(others)},
        {QStringLiteral("inboxFull"), qint64(m_inboxFull.load(std::memory_order_relaxed))},
        {QStringLiteral("kernelQueueDrops"), qint64(m_kernelDrops.load(std::memory_order_relaxed))},
        {QStringLiteral("deliveryLagMaxMs"), double(m_lagMaxUs.load(std::memory_order_relaxed)) / 1000.0},
        {QStringLiteral("lateDeliveries"), qint64(m_lateBatches.load(std::memory_order_relaxed))},
        {QStringLiteral("lateWorst"),
         QJsonObject{{QStringLiteral("ms"), double(m_worstLate.lagUs.load(std::memory_order_relaxed)) / 1000.0},
                     {QStringLiteral("runQueueMs"), double(m_worstLate.queuedUs.load(std::memory_order_relaxed)) / 1000.0},
                     {QStringLiteral("cpuMs"), double(m_worstLate.cpuUs.load(std::memory_order_relaxed)) / 1000.0},
                     {QStringLiteral("what"), m_worstLate.timer.load(std::memory_order_relaxed) ? QStringLiteral("timer")
                                                                                             : QStringLiteral("datagrams")}}},
        {QStringLiteral("receiveBatchMaxMs"), double(m_receiveBatchMaxUs.load(std::memory_order_relaxed)) / 1000.0},
        {QStringLiteral("receiveWaitMaxMs"), double(m_receiveWaitMaxUs.load(std::memory_order_relaxed)) / 1000.0},
        {QStringLiteral("receiveWaitLate"), qint64(m_lateReceives.load(std::memory_order_relaxed))},
    };
}

} // namespace sasha
