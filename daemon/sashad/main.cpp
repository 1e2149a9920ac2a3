// sashad: the daemon every SASHA node runs. Exit codes: 0 after a clean stop (or a config that
// passes --check), 2 for anything that prevents starting, with one line saying what to fix.

#include "config/hostnetwork.h"
#include "config/logcategories.h"
#include "config/nodesettings.h"
#include "journallog.h"
#include "sashadaemon.h"
#include "signalwatcher.h"

#include <QCommandLineParser>
#include "timedapplication.h"
#include "transport/threadpriority.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QLoggingCategory>

#include <csignal>
#include <memory>
#include <cstring>
#include <cerrno>
#include <sys/resource.h>
#include <cstdio>

using namespace sasha;

namespace {
constexpr int kExitStartFailure = 2;

int fail(const QString &message)
{
    std::fprintf(stderr, "sashad: %s\n", qPrintable(message));
    return kExitStartFailure;
}
} // namespace

int main(int argc, char *argv[])
{
    TimedApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("sashad"));
    QCoreApplication::setApplicationVersion(QStringLiteral(SASHA_VERSION));
    qSetMessagePattern(QStringLiteral("%{time yyyy-MM-ddThh:mm:ss.zzz} %{category} "
                                      "%{if-debug}debug%{endif}%{if-info}info%{endif}%{if-warning}warning%{endif}"
                                      "%{if-critical}critical%{endif}%{if-fatal}fatal%{endif}: %{message}"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("SASHA node daemon: TokenBeat ring member (docs/config.md).\n"
                                                     "SIGTERM/SIGINT: leave the ring and exit. SIGHUP: reload the config "
                                                     "file (what cannot change live is refused; docs/config.md \"Reload\")."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption configOpt({QStringLiteral("c"), QStringLiteral("config")},
                                       QStringLiteral("Configuration file (TOML)."), QStringLiteral("FILE"),
                                       QStringLiteral("/etc/sasha/sashad.toml"));
    const QCommandLineOption checkOpt(QStringLiteral("check"),
                                      QStringLiteral("Validate the configuration and key file, and that [node] address and "
                                                     "the [dispatcher] interface exist on this host (run it where the "
                                                     "node runs), then exit (0 valid, 2 not)."));
    parser.addOptions({configOpt, checkOpt});
    if (!parser.parse(app.arguments()))
        return fail(parser.errorText());
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(0);
    if (parser.isSet(QStringLiteral("version")))
        parser.showVersion();
    if (!parser.positionalArguments().isEmpty())
        return fail(QStringLiteral("unexpected argument %1 (see --help)").arg(parser.positionalArguments().first()));

    // The same checks on --check and at start, the host's included: a node that would bind a
    // foreign address or capture on a missing interface does not start.
    const SystemHostNetwork host;
    const ConfigResult cfg = loadNodeSettings(parser.value(configOpt), &host);
    if (!cfg.ok())
        return fail(cfg.error->toString());
    const NodeSettings &settings = *cfg.settings;
    if (parser.isSet(checkOpt)) {
        const QString metrics = settings.metrics.enabled
                                    ? QStringLiteral(", metrics on %1:%2").arg(ipv4ToString(settings.metrics.address)).arg(settings.metrics.port)
                                    : QString();
        std::printf("%s: OK (node %s:%u, %zu seeds, control socket %s%s)\n", qPrintable(settings.configFile),
                    qPrintable(ipv4ToString(settings.address)), unsigned(settings.port), settings.seeds.size(),
                    qPrintable(settings.controlSocket), qPrintable(metrics));
        return 0;
    }
    if (!settings.logRules.isEmpty()) {
        QString rules = settings.logRules;
        QLoggingCategory::setFilterRules(rules.replace(QLatin1Char(';'), QLatin1Char('\n')));
    }

    // Under systemd (or [log] target = "journal"): priorities and structured fields, docs/config.md.
    std::unique_ptr<JournalLog> journal;
    if (JournalLog::wanted(settings.logTarget))
        journal = std::make_unique<JournalLog>(ipv4ToString(settings.address));

    // A client closing the control socket mid-write must not kill the daemon.
    std::signal(SIGPIPE, SIG_IGN);

    // Relay the token promptly even when the host is busy ([node] nice, docs/config.md).
    errno = 0;
    const int currentNice = getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && currentNice != settings.nice && setpriority(PRIO_PROCESS, 0, settings.nice) != 0)
        qCWarning(lcConfig, "cannot set [node] nice = %d (%s): needs CAP_SYS_NICE (the packaged unit grants it); running at nice %d",
                  settings.nice, std::strerror(errno), currentNice);
    // And the session's (autogroups, threadpriority.h): else the scheduler shares the CPU equally
    // between this session and every other (nginx, a load generator) whatever the threads' nice.
    if (const std::optional<int> session = sessionNice(); session && *session != settings.nice) {
        if (const std::string why = setSessionNice(settings.nice); why.empty())
            qCInfo(lcConfig, "session (autogroup) nice %d -> %d ([node] nice)", *session, settings.nice);
        else
            qCWarning(lcConfig, "cannot set the session's (autogroup) nice to [node] nice = %d (%s); it stays %d, and this "
                                "session gets no more CPU than any other",
                      settings.nice, why.c_str(), *session);
    }

    SashaDaemon daemon(settings, quint64(QDateTime::currentMSecsSinceEpoch()));
    daemon.setJournal(journal.get());
    SignalWatcher signals({SIGTERM, SIGINT, SIGHUP});
    if (!signals.ok())
        qCWarning(lcConfig, "cannot install SIGTERM/SIGINT/SIGHUP handlers; a stop will not leave the ring gracefully, "
                            "and SIGHUP will not reload");
    QObject::connect(&signals, &SignalWatcher::received, &daemon, [&daemon](int sig) {
        if (sig == SIGHUP) {
            // Reload (docs/config.md "Reload"): the file is read off this thread.
            daemon.reload(QStringLiteral("SIGHUP"));
            return;
        }
        qCInfo(lcConfig, "received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        daemon.shutdown();
    });
    QObject::connect(&daemon, &SashaDaemon::finished, &app, [](int code) { QCoreApplication::exit(code); });
    if (const auto err = daemon.start())
        return fail(*err);
    qCInfo(lcConfig, "sashad %s running, config %s, control socket %s", SASHA_VERSION,
           qPrintable(settings.configFile), qPrintable(settings.controlSocket));
    return app.exec();
}
