#include "consolecommandline.h"

#include "config/nodesettings.h"

#include <QCommandLineParser>
#include <QFile>

namespace sasha::console {

std::optional<CommandLine> parseCommandLine(const QStringList &arguments, QString *error, bool *exitNow)
{
    *exitNow = false;
    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral("SASHA console: watch a SASHA cluster live as a TokenBeat observer, and inject faults."));
    const QCommandLineOption help = p.addHelpOption();
    const QCommandLineOption version = p.addVersionOption();
    const QCommandLineOption key({QStringLiteral("k"), QStringLiteral("key")}, QStringLiteral("Cluster key file (as written by `sashactl keygen`)."), QStringLiteral("FILE"));
    const QCommandLineOption seed({QStringLiteral("s"), QStringLiteral("seed")}, QStringLiteral("A ring node to contact, ADDR[:PORT]; repeatable."), QStringLiteral("ADDR[:PORT]"));
    const QCommandLineOption broadcast(QStringLiteral("broadcast"), QStringLiteral("Find the ring by broadcast, e.g. 10.0.0.255."), QStringLiteral("ADDR[:PORT]"));
    const QCommandLineOption port(QStringLiteral("port"), QStringLiteral("The ring's TokenBeat port (default 7400)."), QStringLiteral("P"), QStringLiteral("7400"));
    const QCommandLineOption bind(QStringLiteral("bind"), QStringLiteral("Local IPv4 address to observe from; also this observer's ring address."), QStringLiteral("ADDR"));
    const QCommandLineOption readOnly(QStringLiteral("read-only"), QStringLiteral("Watch only: no fault injection."));
    const QCommandLineOption lab(QStringLiteral("lab"), QStringLiteral("The cluster is a lab (sasha-lab): no confirmation before destructive faults."));
    const QCommandLineOption presentation(QStringLiteral("presentation"),
                                          QStringLiteral("Layout for a projector: ring, cps chart and failover phases in text scaled with the window; tables in tabs."));
    const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size in pixels, e.g. 1280x720 (default 1600x1000)."), QStringLiteral("WxH"));
    const QCommandLineOption screenshot(QStringLiteral("screenshot"), QStringLiteral("Write the window as a PNG to FILE after --screenshot-after seconds, then quit."),
                                        QStringLiteral("FILE"));
    const QCommandLineOption screenshotAfter(QStringLiteral("screenshot-after"), QStringLiteral("Seconds before --screenshot (default 5)."),
                                             QStringLiteral("S"), QStringLiteral("5"));
    const QCommandLineOption demo(QStringLiteral("demo"), QStringLiteral("Show a simulated 5-node cluster instead of a real ring."));
    const QCommandLineOption controlSocket(QStringLiteral("control-socket"),
                                           QStringLiteral("A sashad control socket to read exact events from (same host); repeatable."),
                                           QStringLiteral("PATH"));
    const QCommandLineOption noRing(QStringLiteral("no-ring-timeout"), QStringLiteral("Seconds before saying no ring answered (default 3)."), QStringLiteral("S"), QStringLiteral("3"));
    // Hidden: for checking the connection map by hand or in a script (docs/console.md).
    QCommandLineOption dumpConnections(QStringLiteral("dump-connections"),
                                       QStringLiteral("Print the connection map's figures to stdout every S seconds."),
                                       QStringLiteral("S"));
    dumpConnections.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption snapshot(QStringLiteral("snapshot"),
                                QStringLiteral("With --dump-connections: write the window as a PNG to FILE at every tick (replaced)."),
                                QStringLiteral("FILE"));
    snapshot.setFlags(QCommandLineOption::HiddenFromHelp);
    p.addOptions({key, seed, broadcast, port, bind, readOnly, lab, presentation, size, screenshot, screenshotAfter, demo, noRing,
                  controlSocket, dumpConnections, snapshot});
    if (!p.parse(arguments)) {
        *error = p.errorText();
        return std::nullopt;
    }
    if (p.isSet(help) || p.isSet(version)) {
        *exitNow = true;
        *error = p.isSet(help) ? p.helpText().replace(QStringLiteral("<executable_name>"), QStringLiteral("sasha-console")) : QStringLiteral("sasha-console ") + QStringLiteral(SASHA_VERSION_STRING);
        return std::nullopt;
    }
    CommandLine c;
    c.ui.readOnly = p.isSet(readOnly);
    c.ui.lab = p.isSet(lab);
    c.ui.presentation = p.isSet(presentation);
    c.demo = p.isSet(demo);
    if (p.isSet(dumpConnections)) {
        bool okDump = false;
        const double s = p.value(dumpConnections).toDouble(&okDump);
        if (!okDump || s < 0.1 || s > 3600) {
            *error = QStringLiteral("--dump-connections %1: seconds from 0.1 to 3600").arg(p.value(dumpConnections));
            return std::nullopt;
        }
        c.dumpConnectionsMs = int(s * 1000);
    }
    if (p.isSet(snapshot)) {
        c.snapshotPath = p.value(snapshot);
        if (c.snapshotPath.isEmpty() || !c.dumpConnectionsMs) {
            *error = QStringLiteral("--snapshot FILE is written at every --dump-connections tick: give both (e.g. --dump-connections 1 --snapshot console.png)");
            return std::nullopt;
        }
    }
    if (p.isSet(size)) {
        const QStringList wh = p.value(size).split(QLatin1Char('x'));
        bool okW = false, okH = false;
        const int w = wh.size() == 2 ? wh[0].toInt(&okW) : 0;
        const int h = wh.size() == 2 ? wh[1].toInt(&okH) : 0;
        if (!okW || !okH || w < 320 || h < 240 || w > 7680 || h > 4320) {
            *error = QStringLiteral("--size %1: expected WIDTHxHEIGHT in pixels, 320x240 to 7680x4320 (e.g. 1280x720)").arg(p.value(size));
            return std::nullopt;
        }
        c.windowSize = QSize(w, h);
    }
    if (p.isSet(screenshot)) {
        c.screenshotPath = p.value(screenshot);
        if (c.screenshotPath.isEmpty()) {
            *error = QStringLiteral("--screenshot FILE: give the PNG file to write");
            return std::nullopt;
        }
    }
    if (p.isSet(screenshotAfter)) {
        bool okAfter = false;
        const double s = p.value(screenshotAfter).toDouble(&okAfter);
        if (!okAfter || s < 0.5 || s > 3600 || !p.isSet(screenshot)) {
            *error = p.isSet(screenshot) ? QStringLiteral("--screenshot-after %1: seconds from 0.5 to 3600").arg(p.value(screenshotAfter))
                                         : QStringLiteral("--screenshot-after needs --screenshot FILE");
            return std::nullopt;
        }
        c.screenshotAfterMs = int(s * 1000);
    }
    if (!p.positionalArguments().isEmpty()) {
        *error = QStringLiteral("unexpected argument %1 (see --help)").arg(p.positionalArguments().first());
        return std::nullopt;
    }
    if (c.demo)
        return c;

    bool ok = false;
    const uint ringPort = p.value(port).toUInt(&ok);
    if (!ok || ringPort == 0 || ringPort > 65535) {
        *error = QStringLiteral("--port: expected 1..65535; got %1").arg(p.value(port));
        return std::nullopt;
    }
    const double timeout = p.value(noRing).toDouble(&ok);
    if (!ok || timeout < 0.5 || timeout > 600) {
        *error = QStringLiteral("--no-ring-timeout: expected 0.5..600 seconds; got %1").arg(p.value(noRing));
        return std::nullopt;
    }
    c.observer.noRingTimeoutMs = int(timeout * 1000);
    if (!p.isSet(key)) {
        *error = QStringLiteral("--key FILE is required: the cluster key file (or --demo for a simulated cluster)");
        return std::nullopt;
    }
    QFile f(p.value(key));
    if (!f.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("--key %1: cannot read: %2").arg(p.value(key), f.errorString());
        return std::nullopt;
    }
    QString why;
    c.observer.key = decodeClusterKey(f.read(4096), &why);
    if (c.observer.key.isEmpty()) {
        *error = QStringLiteral("--key %1: %2").arg(p.value(key), why);
        return std::nullopt;
    }
    for (const QString &s : p.values(seed)) {
        const auto e = parseHostPort(s, quint16(ringPort));
        if (!e) {
            *error = QStringLiteral("--seed %1: expected an IPv4 address with an optional :port, e.g. 10.0.0.1:7400").arg(s);
            return std::nullopt;
        }
        c.observer.seeds.push_back(*e);
    }
    if (p.isSet(broadcast)) {
        const auto e = parseHostPort(p.value(broadcast), quint16(ringPort));
        if (!e) {
            *error = QStringLiteral("--broadcast %1: expected an IPv4 address with an optional :port").arg(p.value(broadcast));
            return std::nullopt;
        }
        c.observer.broadcast = *e;
    }
    if (c.observer.seeds.empty() && !c.observer.broadcast) {
        *error = QStringLiteral("give --seed ADDR[:PORT] (a ring node) or --broadcast ADDR so the console can find the ring");
        return std::nullopt;
    }
    if (p.isSet(bind)) {
        const auto ip = parseIpv4(p.value(bind));
        if (!ip || *ip == 0) {
            *error = QStringLiteral("--bind %1: expected a local IPv4 address").arg(p.value(bind));
            return std::nullopt;
        }
        c.observer.bind = {*ip, 0};
    } else {
        c.observer.bind = {defaultObserverAddress(c.observer.seeds, QCoreApplication::applicationPid()), 0};
    }
    c.observer.self = c.observer.bind.ip;
    c.observer.controlSockets = p.values(controlSocket);
    c.observer.readOnly = c.ui.readOnly;
    return c;
}

QString failoverDumpText(const FailoverTracker &tracker)
{
    const auto &all = tracker.failovers();
    if (all.empty())
        return QStringLiteral("failovers=0 last=[]");
    const Failover &f = all.back();
    const auto ms = [](qint64 us) { return us < 0 ? QStringLiteral("-") : QString::number(double(us) / 1000.0, 'f', 1); };
    return QStringLiteral("failovers=%1 last=[detection=%2 reformation=%3 election=%4 reconstruction=%5 firstForward=%6 closed=%7]")
        .arg(all.size())
        .arg(ms(f.detectionUs()), ms(f.reformationUs()), ms(f.electionUs()), ms(f.reconstructionUs()), ms(f.firstPacketAfterUs()))
        .arg(f.closed ? 1 : 0);
}

} // namespace sasha::console
