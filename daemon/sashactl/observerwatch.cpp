#include "observerwatch.h"

#include "config/nodesettings.h"
#include "control/controlprotocol.h"
#include "control/eventfeed.h"
#include "humanformat.h"
#include "transport/ringdriver.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QJsonDocument>
#include <QTimer>

#include <algorithm>
#include <cstdio>

namespace sasha::ctl {

namespace {

void emitLine(const QByteArray &line)
{
    std::fwrite(line.constData(), 1, size_t(line.size()), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

} // namespace

int observerWatch(const ObserverWatchOptions &o)
{
    tb::NodeConfig cfg;
    cfg.self = o.bindIp;
    cfg.endpoint = {o.bindIp, 0};
    cfg.caps = tb::kObserver;
    cfg.seeds = o.seeds;
    cfg.key = o.key;
    cfg.bootEpoch = quint64(QDateTime::currentMSecsSinceEpoch());
    RingDriver driver(cfg);
    if (const auto err = driver.start()) {
        const QString from = tb::Endpoint{o.bindIp, 0}.toString();
        std::fprintf(stderr, "sashactl: cannot observe from %s: %s\n", qPrintable(from), qPrintable(err->message));
        return 1;
    }

    ControlStatus last;
    bool sawRing = false;
    auto snapshot = [&] { return ControlStatus::fromNode(driver.node(), QString(), 0, 0); };
    // The daemons' own events (common/control/eventfeed.h): subscribe to every member of the
    // last view each second; while they arrive, the observer's own view-derived events would
    // only repeat them late, so they are not printed.
    EventFeedReceiver feed;
    const auto feedFlowing = [&] {
        return feed.lastHeardUs() != 0 && driver.now().count() - feed.lastHeardUs() < 3'000'000;
    };
    QTimer subscribe;
    QObject::connect(&subscribe, &QTimer::timeout, &driver, [&] {
        const QByteArray msg = encodeEventFeedSubscribe();
        for (const tb::Member &m : driver.node().view().members)
            driver.sendOob(m.addr, kEventFeedChannel, msg, false);
    });
    subscribe.start(kEventFeedSubscribeMs);
    QObject::connect(&driver, &RingDriver::oobReceived, &driver, [&](tb::NodeAddr from, quint8 channel, const QByteArray &payload) {
        if (channel != kEventFeedChannel)
            return;
        const EventFeedReceiver::Result r = feed.onMessage(from, payload, driver.now().count());
        if (!r.error.isEmpty()) {
            if (feed.stats().rejected % 100 == 1)
                std::fprintf(stderr, "sashactl: event feed message refused (%llu so far): %s\n",
                             static_cast<unsigned long long>(feed.stats().rejected), qPrintable(feed.lastError()));
            return;
        }
        const QString sender = ipv4ToString(from);
        for (const ControlEvent &ce : r.events) {
            if (o.json)
                emitLine(QJsonDocument(QJsonObject{{QStringLiteral("event"), ce.toJson()}, {QStringLiteral("from"), sender}})
                             .toJson(QJsonDocument::Compact));
            else
                emitLine((formatEventLine(ce) + QStringLiteral("  [from %1]").arg(sender)).toUtf8());
        }
    });
    QObject::connect(&driver, &RingDriver::eventOccurred, &driver, [&](const tb::Event &e) {
        if (e.kind == tb::Event::Kind::DatagramDropped || e.kind == tb::Event::Kind::OobReceived
            || e.kind == tb::Event::Kind::OobDelivered || e.kind == tb::Event::Kind::OobFailed)
            return;
        using K = tb::Event::Kind;
        static constexpr K kReportedByDaemons[] = {K::RingFormed, K::MemberJoined, K::MemberLost, K::MemberLeft,
                                                   K::DispatcherElected, K::PurgeStarted, K::TokenTimeout, K::Abdicated};
        if (feedFlowing() && std::find(std::begin(kReportedByDaemons), std::end(kReportedByDaemons), e.kind) != std::end(kReportedByDaemons))
            return;
        const ControlEvent ce = ControlEvent::fromCore(e, QDateTime::currentMSecsSinceEpoch());
        if (o.json)
            emitLine(QJsonDocument(QJsonObject{{QStringLiteral("event"), ce.toJson()}}).toJson(QJsonDocument::Compact));
        else
            emitLine(formatEventLine(ce).toUtf8());
    });
    QObject::connect(&driver, &RingDriver::viewChanged, &driver, [&] {
        const ControlStatus s = snapshot();
        if (s.ringEpoch != 0)
            sawRing = true;
        if (o.json) {
            if (s.ringEpoch != last.ringEpoch || s.viewVersion != last.viewVersion || s.dispatcher != last.dispatcher)
                emitLine(QJsonDocument(QJsonObject{{QStringLiteral("status"), s.toJson()}}).toJson(QJsonDocument::Compact));
        } else {
            const QString change = formatStatusChange(last, s);
            if (!change.isEmpty())
                emitLine(change.toUtf8());
        }
        last = s;
    });
    QTimer noRing;
    noRing.setSingleShot(true);
    QObject::connect(&noRing, &QTimer::timeout, &driver, [&] {
        if (sawRing)
            return;
        const tb::Counters c = driver.counters();
        const quint64 badMac = c.dropped[int(tb::DropReason::BadMac)];
        std::fprintf(stderr, "sashactl: no ring answered within %d s%s\n", o.noRingSeconds,
                     badMac ? qPrintable(QStringLiteral(" (%1 datagrams failed authentication: wrong --key?)").arg(badMac))
                            : " (check --seed and that the nodes run)");
    });
    noRing.start(o.noRingSeconds * 1000);
    if (o.seconds > 0)
        QTimer::singleShot(o.seconds * 1000, &driver, [] { QCoreApplication::quit(); });
    QCoreApplication::exec();
    return sawRing ? 0 : 1;
}

}  // namespace sasha::ctl
