// sasha-console: parses the command line, picks a feed (the real ring through ClusterObserver,
// or the simulated cluster for --demo) and shows the main window. Everything else is in sasha_gui.

#include "clusterobserver.h"
#include "connectionmapmodel.h"
#include "consolecommandline.h"
#include "eventmodel.h"
#include "mainwindow.h"
#include "servicemodel.h"
#include "syntheticfeed.h"

#include <QApplication>
#include <QPixmap>
#include <QSaveFile>
#include <QTimer>

#include <cstdio>

using namespace sasha::console;

int main(int argc, char **argv)
{
    // The command line is checked before QApplication exists, so --help and a bad --key answer
    // without a display. (Qt's own -platform etc. are not accepted; use QT_QPA_PLATFORM.)
    QStringList args;
    for (int i = 0; i < argc; ++i)
        args << QString::fromLocal8Bit(argv[i]);
    QString message;
    bool exitNow = false;
    const auto cl = parseCommandLine(args, &message, &exitNow);
    if (!cl) {
        std::fprintf(exitNow ? stdout : stderr, "%s%s\n", exitNow ? "" : "sasha-console: ", qPrintable(message));
        return exitNow ? 0 : 2;
    }
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("sasha-console"));
    QApplication::setApplicationVersion(QStringLiteral(SASHA_VERSION_STRING));

    std::unique_ptr<ClusterFeed> feed;
    if (cl->demo) {
        auto demo = std::make_unique<SyntheticFeed>(SyntheticFeed::Options{5, 0x0a000001, 2000, 20, 1, 200'000});
        demo->prefill(40'000);
        demo->startLive();
        feed = std::move(demo);
    } else {
        auto observer = std::make_unique<ClusterObserver>(cl->observer);
        if (auto err = observer->start()) {
            std::fprintf(stderr, "sasha-console: cannot observe from %s: %s (choose another --bind)\n",
                         qPrintable(ipToString(cl->observer.bind.ip)), qPrintable(*err));
            return 2;
        }
        feed = std::move(observer);
    }
    MainWindow window(feed.get(), cl->ui);
    if (cl->windowSize.isValid())
        window.resize(cl->windowSize);
    window.show();
    if (!cl->screenshotPath.isEmpty()) {
        QTimer::singleShot(cl->screenshotAfterMs, &window, [&window, path = cl->screenshotPath] {
            QSaveFile f(path);
            if (!f.open(QIODevice::WriteOnly) || !window.grab().save(&f, "PNG") || !f.commit()) {
                std::fprintf(stderr, "sasha-console: --screenshot %s: %s\n", qPrintable(path), qPrintable(f.errorString()));
                QCoreApplication::exit(1);
                return;
            }
            std::printf("screenshot %s %dx%d\n", qPrintable(path), window.width(), window.height());
            std::fflush(stdout);
            QCoreApplication::exit(0);
        });
    }
    QTimer dump;
    if (cl->dumpConnectionsMs > 0) {
        QObject::connect(&dump, &QTimer::timeout, &window, [&window, &feed, snapshot = cl->snapshotPath] {
            const ConnectionMapModel *m = window.connectionMap();
            QStringList perServer;
            for (auto it = m->activePerServer().cbegin(); it != m->activePerServer().cend(); ++it)
                perServer << QStringLiteral("%1=%2").arg(ipToString(it.key())).arg(it.value());
            perServer.sort();
            std::printf("connections t=%.1f dispatcher=%s active=%d rows=%d servers=[%s] %s\n", feed->nowUs() / 1e6,
                        qPrintable(ipToString(m->dispatcher())), m->activeFlows(), m->rowCount(),
                        qPrintable(perServer.join(QLatin1Char(' '))), qPrintable(failoverDumpText(window.events()->tracker())));
            // The Services tab, as one line (from the daemons' statuses; --control-socket).
            QStringList services;
            for (const ServiceModel::Row &r : window.services()->rows())
                services << QStringLiteral("%1/%2/%3/%4 new=%5 cps=%6")
                                .arg(r.vip, r.protocol, r.ports.join(QLatin1Char(',')), r.mode,
                                     r.newFlows ? QString::number(*r.newFlows) : QStringLiteral("-"),
                                     r.cps ? QString::number(*r.cps) : QStringLiteral("-"));
            std::printf("services from=%s dispatching=%d [%s]\n", qPrintable(window.services()->sourceNode()),
                        int(window.services()->fromDispatcher()), qPrintable(services.join(QStringLiteral("; "))));
            std::fflush(stdout);
            if (snapshot.isEmpty())
                return;
            // Written whole and renamed into place, so a reader never sees half a PNG.
            QSaveFile f(snapshot);
            if (!f.open(QIODevice::WriteOnly) || !window.grab().save(&f, "PNG") || !f.commit())
                std::fprintf(stderr, "sasha-console: --snapshot %s: %s\n", qPrintable(snapshot), qPrintable(f.errorString()));
        });
        dump.start(cl->dumpConnectionsMs);
    }
    return app.exec();
}
