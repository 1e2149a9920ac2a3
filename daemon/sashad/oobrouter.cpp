#include "oobrouter.h"

#include "agent/connmessages.h"
#include "agent/flowtransfer.h"
#include "control/admincommand.h"
#include "control/eventfeed.h"
#include "control/faultcommand.h"
#include "control/flowfeed.h"
#include "config/logcategories.h"
#include "config/nodesettings.h"
#include "serverstats.h"
#include "transport/ringdriver.h"

#include <QElapsedTimer>
#include <QTimer>

namespace sasha {
namespace {
constexpr qint64 kSlowUs = 20'000;   // counted as slow
constexpr qint64 kWarnUs = 50'000;   // worth a warning: a third of the default token timeout
constexpr qint64 kWarnEveryMs = 5000;

QString channelName(quint8 channel)
{
    switch (channel) {
    case kConnQueryChannel: return QStringLiteral("conn-query");
    case kConnReportChannel: return QStringLiteral("conn-report");
    case kServerStatsChannel: return QStringLiteral("server-stats");
    case kAdminReportChannel: return QStringLiteral("admin-report");
    case kFlowTransferChannel: return QStringLiteral("flow-transfer");
    case kFlowFeedChannel: return QStringLiteral("flow-feed");
    case kEventFeedChannel: return QStringLiteral("event-feed");
    case kFaultChannel: return QStringLiteral("fault");
    case kAdminChannel: return QStringLiteral("admin");
    default: return QStringLiteral("channel-0x%1").arg(channel, 2, 16, QLatin1Char('0'));
    }
}
} // namespace

OobRouter::OobRouter(RingDriver &driver, tb::NodeAddr self, QObject *parent)
    : QObject(parent), m_driver(driver), m_self(self)
{
    connect(&m_driver, &RingDriver::oobReceived, this, &OobRouter::deliver);
}

void OobRouter::deliver(tb::NodeAddr from, quint8 channel, const QByteArray &payload)
{
    QElapsedTimer t;
    t.start();
    Q_EMIT received(from, channel, payload);
    const qint64 us = t.nsecsElapsed() / 1000;
    ChannelTime &c = m_times[channel];
    ++c.handled;
    c.maxUs = std::max(c.maxUs, us);
    if (us < kSlowUs)
        return;
    ++c.slow;
    const qint64 nowMs = RingDriver::steadyNow().count() / 1000;
    if (us < kWarnUs || (m_lastWarnMs && nowMs - m_lastWarnMs < kWarnEveryMs && us < 2 * m_lastWarnUs))
        return;
    m_lastWarnMs = nowMs;
    m_lastWarnUs = us;
    qCWarning(lcRing, "a %s message (%lld bytes) from %s held the ring's thread for %.1f ms",
              qPrintable(channelName(channel)), static_cast<long long>(payload.size()),
              qPrintable(ipv4ToString(from)), double(us) / 1000.0);
}

QJsonObject OobRouter::stats() const
{
    QJsonObject out;
    for (std::size_t ch = 0; ch < m_times.size(); ++ch) {
        const ChannelTime &c = m_times[ch];
        if (c.handled == 0)
            continue;
        out.insert(channelName(quint8(ch)), QJsonObject{{QStringLiteral("maxMs"), double(c.maxUs) / 1000.0},
                                                         {QStringLiteral("handled"), qint64(c.handled)},
                                                         {QStringLiteral("slow"), qint64(c.slow)}});
    }
    return out;
}

quint64 OobRouter::send(tb::NodeAddr to, quint8 channel, const QByteArray &payload, bool reliable)
{
    if (to == m_self) {
        ++m_local;
        // Queued, not direct: a sender must never be re-entered from its own send().
        QTimer::singleShot(0, this, [this, from = m_self, channel, payload] { deliver(from, channel, payload); });
        return 0;
    }
    return m_driver.isRunning() ? m_driver.sendOob(to, channel, payload, reliable) : 0;
}

} // namespace sasha
