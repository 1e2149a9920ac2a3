// sasha-ringdemo: starts a ring of real sashad processes on loopback, kills the dispatcher,
// and prints what the ring did and how long each phase took; then shows a graceful leave.
// It is the README's demo until the namespace lab carries the dispatcher's data path.

#include "failover.h"
#include "loopbackcluster.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFileInfo>
#include <QJsonObject>
#include <QTextStream>

#include <csignal>
#include <cstdio>

using namespace sasha::lab;

namespace {

QTextStream &out()
{
    static QTextStream s(stdout);
    return s;
}

QString defaultTool(const char *compiled, const QString &name)
{
    const QString beside = QCoreApplication::applicationDirPath() + QStringLiteral("/../daemon/") + name;
    if (QFileInfo::exists(beside))
        return QFileInfo(beside).canonicalFilePath();
    return QString::fromUtf8(compiled);
}

void printMembers(LoopbackCluster &c, int via)
{
    QByteArray table;
    c.sashactl(via, {QStringLiteral("members")}, &table);
    out() << "\n$ sashactl --socket " << c.socketPath(via) << " members\n" << table << Qt::flush;
}

QString nodeName(const LoopbackCluster &c, const QString &addr)
{
    for (int i = 0; i < c.size(); ++i)
        if (c.address(i) == addr)
            return QStringLiteral("node%1 (%2)").arg(i + 1).arg(addr);
    return addr;
}

}  // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("sasha-ringdemo"));
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Starts N sashad nodes on loopback, kills the dispatcher and prints each failover phase,\n"
        "then stops one node gracefully. Everything it starts is stopped when it ends."));
    parser.addHelpOption();
    QCommandLineOption nodesOpt(QStringLiteral("nodes"), QStringLiteral("Ring size (2..50, default 5)."),
                                QStringLiteral("N"), QStringLiteral("5"));
    QCommandLineOption paperOpt(QStringLiteral("paper-timers"),
                                QStringLiteral("Use the paper's timers (token timeout 2,000 ms, reform 2,500 ms)."));
    QCommandLineOption sashadOpt(QStringLiteral("sashad"), QStringLiteral("sashad binary."), QStringLiteral("PATH"),
                                 defaultTool(SASHAD_PATH, QStringLiteral("sashad")));
    QCommandLineOption sashactlOpt(QStringLiteral("sashactl"), QStringLiteral("sashactl binary."), QStringLiteral("PATH"),
                                   defaultTool(SASHACTL_PATH, QStringLiteral("sashactl")));
    parser.addOptions({nodesOpt, paperOpt, sashadOpt, sashactlOpt});
    parser.process(app);

    bool okN = false;
    const int n = parser.value(nodesOpt).toInt(&okN);
    if (!okN || n < 2 || n > 50) {
        std::fprintf(stderr, "sasha-ringdemo: --nodes takes 2..50, got %s\n", qPrintable(parser.value(nodesOpt)));
        return 2;
    }
    LoopbackCluster::Options o;
    o.nodes = n;
    o.sashad = parser.value(sashadOpt);
    o.sashactl = parser.value(sashactlOpt);
    o.keepLogs = true;
    if (parser.isSet(paperOpt))
        o.timersToml = QStringLiteral("preset = \"paper\"");
    LoopbackCluster c(o);

    out() << "SASHA ring demo: " << n << " sashad processes on loopback"
          << (parser.isSet(paperOpt) ? " (paper timers)" : " (default LAN timers)") << "\n" << Qt::flush;
    const qint64 t0 = monotonicUs();
    QString err;
    if (!c.start(&err)) {
        std::fprintf(stderr, "sasha-ringdemo: %s\n", qPrintable(err));
        return 1;
    }
    std::vector<int> live;
    for (int i = 0; i < n; ++i)
        live.push_back(i);
    QString why;
    if (!LoopbackCluster::waitUntil([&] { return c.ringIs(live, &why); }, 15000, 10)) {
        std::fprintf(stderr, "sasha-ringdemo: the ring did not form within 15 s: %s (logs in %s)\n",
                     qPrintable(why), qPrintable(c.workDir()));
        return 1;
    }
    out() << QStringLiteral("ring formed with all %1 nodes %2 ms after the first process started\n")
                 .arg(n).arg(double(monotonicUs() - t0) / 1000.0, 0, 'f', 0);
    printMembers(c, 0);

    const FailoverTiming f = killDispatcherAndTime(c, live);
    out() << "\n== SIGKILL of the dispatcher " << nodeName(c, f.oldDispatcher) << "\n";
    if (!f.ok) {
        out() << "failover FAILED: " << f.error << "\n" << Qt::flush;
        return 1;
    }
    out() << "what the survivors logged (ms after the kill):\n";
    QString lastLine;
    for (const auto &v : f.timeline) {
        const QJsonObject e = v.toObject();
        const QString kind = e.value(QStringLiteral("kind")).toString();
        if (kind == QLatin1String("datagram-dropped") || kind == QLatin1String("view-changed"))
            continue;
        const QString line = QStringLiteral("  %1 ms  %2  %3  %4")
                                 .arg(e.value(QStringLiteral("tMs")).toDouble(), 7, 'f', 1)
                                 .arg(e.value(QStringLiteral("seenBy")).toString(), -14)
                                 .arg(kind, -19)
                                 .arg(e.value(QStringLiteral("detail")).toString());
        if (line != lastLine)
            out() << line << "\n";
        lastLine = line;
    }
    out() << "\nfailover phases (ms after the kill):\n"
          << QStringLiteral("  detected (first token timeout)   %1\n").arg(f.detectMs, 7, 'f', 1)
          << QStringLiteral("  ring purged (last node re-enters) %1\n").arg(f.purgeMs, 6, 'f', 1)
          << QStringLiteral("  new ring formed                  %1\n").arg(f.reformMs, 7, 'f', 1)
          << QStringLiteral("  new dispatcher elected           %1   -> %2\n").arg(f.electMs, 7, 'f', 1).arg(nodeName(c, f.newDispatcher))
          << QStringLiteral("  all survivors agree (polled)     %1\n").arg(f.settledMs, 7, 'f', 1)
          << "  for comparison: the paper's token timeout alone is 2,000 ms (+2,500 ms reform);\n"
          << "  VRRP (keepalived) declares a master dead after ~3.6 s with default timers.\n";
    printMembers(c, live.front());

    // A graceful leave: the node splices itself out, no purge.
    const int leaver = live.back();
    out() << "\n== SIGTERM (graceful leave) of " << nodeName(c, c.address(leaver)) << "\n";
    const auto purgesBefore = c.status(live.front()).value(QStringLiteral("counters")).toObject()
                                  .value(QStringLiteral("purges")).toInteger();
    const qint64 tl = monotonicUs();
    c.signal(leaver, SIGTERM);
    const int code = c.waitExit(leaver, 3000);
    live.pop_back();
    const bool left = LoopbackCluster::waitUntil([&] { return c.ringIs(live, &why); }, 5000, 5);
    const auto purgesAfter = c.status(live.front()).value(QStringLiteral("counters")).toObject()
                                 .value(QStringLiteral("purges")).toInteger();
    out() << QStringLiteral("  exit code %1; ring of %2 agreed %3 ms after SIGTERM; purges during the leave: %4\n")
                 .arg(code).arg(live.size()).arg(double(monotonicUs() - tl) / 1000.0, 0, 'f', 1)
                 .arg(purgesAfter - purgesBefore);
    if (!left) {
        out() << "graceful leave FAILED: " << why << "\n" << Qt::flush;
        return 1;
    }
    printMembers(c, live.front());
    out() << "\ndone; every process started here is stopped now. Logs were in " << c.workDir() << "\n" << Qt::flush;
    return 0;
}
