#include "observerwatch.h"

#include "control/controlprotocol.h"
#include "humanformat.h"
#include "transport/ringdriver.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QJsonDocument>
#include <QTimer>

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
    QObject::connect(&driver, &RingDriver::eventOccurred, &driver, [&](const tb::Event &e) {
        if (e.kind == tb::Event::Kind::DatagramDropped || e.kind == tb::Event::Kind::OobReceived)
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
        const auto &c = driver.node().counters();
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
