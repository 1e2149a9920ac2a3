// sashactl: the operators' and scripts' command line for a running sashad (docs/sashactl.md).
// Exit codes: 0 ok, 1 the daemon failed or could not be reached, 2 usage.

#include "config/nodesettings.h"
#include "control/controlclient.h"
#include "humanformat.h"
#include "observerwatch.h"
#include "transport/observeraddress.h"
#include "keygen.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QThread>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QTextStream>

#include <cstdio>

using namespace sasha;

namespace {
constexpr int kExitOk = 0;
constexpr int kExitDaemon = 1;
constexpr int kExitUsage = 2;

int usage(const QString &message)
{
    std::fprintf(stderr, "sashactl: %s (see sashactl --help)\n", qPrintable(message));
    return kExitUsage;
}

int daemonError(const QString &message)
{
    std::fprintf(stderr, "sashactl: %s\n", qPrintable(message));
    return kExitDaemon;
}

void print(const QString &text)
{
    QTextStream(stdout) << text << Qt::flush;
}

void printJson(const QJsonObject &o, bool pretty)
{
    const QByteArray doc = QJsonDocument(o).toJson(pretty ? QJsonDocument::Indented : QJsonDocument::Compact);
    std::fwrite(doc.constData(), 1, size_t(doc.size()), stdout);
    if (!pretty)
        std::fputc('\n', stdout);
    std::fflush(stdout);
}

int keygen(const QString &output, bool force)
{
    if (output.isEmpty()) {
        const QByteArray key = generateClusterKeyText();
        std::fwrite(key.constData(), 1, size_t(key.size()), stdout);
        return kExitOk;
    }
    if (const auto err = writeClusterKeyFile(output, force))
        return daemonError(*err);
    std::fprintf(stderr, "sashactl: wrote a new cluster key to %s (mode 0600); copy it to every node\n",
                 qPrintable(output));
    return kExitOk;
}

// `fault NODE ACTION [--duration S] [--if-dispatcher]` into req; an error for usage() otherwise.
std::optional<QString> parseFaultArguments(const QString &node, const QString &actionName, bool haveDuration,
                                           const QString &durationText, bool ifDispatcher, ControlRequest &req)
{
    const auto target = parseIpv4(node);
    if (!target)
        return QStringLiteral("fault: NODE must be the node's ring address (IPv4), got \"%1\"").arg(node);
    const auto action = faultActionFromName(actionName);
    if (!action)
        return QStringLiteral("fault: unknown action \"%1\"; accepted: crash, hang, unplug, drain, restore").arg(actionName);
    quint32 ms = 0;
    if (faultActionTakesDuration(*action)) {
        if (!haveDuration)
            return QStringLiteral("fault %1 needs --duration S").arg(actionName);
        bool ok = false;
        const double s = durationText.toDouble(&ok);
        const double max = kMaxFaultDurationMs / 1000.0;
        if (!ok || !(s >= 0.001) || s > max)
            return QStringLiteral("--duration must be seconds in 0.001..%1, got \"%2\"").arg(max).arg(durationText);
        ms = quint32(s * 1000.0 + 0.5);
    } else if (haveDuration) {
        return QStringLiteral("fault %1 takes no --duration").arg(actionName);
    }
    req.faultTarget = *target;
    req.faultAction = *action;
    req.faultDurationMs = ms;
    req.faultOnlyIfDispatcher = ifDispatcher;
    return std::nullopt;
}

// `drain|undrain|weight NODE [W]` into req; an error for usage() otherwise.
std::optional<QString> parseAdminArguments(const QString &command, const QStringList &args, ControlRequest &req)
{
    const bool weight = command == QLatin1String("weight");
    if (args.size() != (weight ? 3 : 2))
        return weight ? QStringLiteral("usage: sashactl weight NODE W|clear (W in 0..%1; 0 = no new flows)").arg(kMaxOperatorWeight)
                      : QStringLiteral("usage: sashactl %1 NODE%2").arg(command, command == QLatin1String("drain")
                                                                                  ? QStringLiteral(" [--wait] [--timeout S]")
                                                                                  : QString());
    const auto target = parseIpv4(args.at(1));
    if (!target)
        return QStringLiteral("%1: NODE must be the node's ring address (IPv4), got \"%2\"").arg(command, args.at(1));
    req.command = weight ? ControlRequest::Command::Weight
                : command == QLatin1String("drain") ? ControlRequest::Command::Drain
                                                    : ControlRequest::Command::Undrain;
    req.adminTarget = *target;
    if (weight && args.at(2) == QLatin1String("clear")) {
        req.adminClearWeight = true;
    } else if (weight) {
        bool ok = false;
        const uint w = args.at(2).toUInt(&ok);
        if (!ok || w > kMaxOperatorWeight)
            return QStringLiteral("weight: W must be an integer in 0..%1 (0 = no new flows), got \"%2\"")
                .arg(kMaxOperatorWeight).arg(args.at(2));
        req.adminWeight = w;
    }
    return std::nullopt;
}

// `drain --wait`: polls members every kWaitPollMs until NODE has no active flow; 1 on timeout.
int waitForDrain(ControlClient &client, const QString &node, int timeoutS, bool json)
{
    constexpr int kWaitPollMs = 200;
    QElapsedTimer clock;
    clock.start();
    DrainProgress last;
    bool printed = false;
    for (;;) {
        QString error;
        const auto answer = client.request(ControlRequest{ControlRequest::Command::Members}, &error);
        if (!answer)
            return daemonError(error);
        if (answer->contains(QLatin1String("error")))
            return daemonError(QStringLiteral("sashad: %1").arg(answer->value(QLatin1String("error")).toString()));
        const ControlStatus s = ControlStatus::fromJson(*answer); // same member keys
        const DrainProgress now = drainProgressOf(s.members, node);
        const qint64 elapsed = clock.elapsed();
        if (!printed || now != last) {
            auto count = [](std::optional<quint32> v) { return v ? QJsonValue(qint64(*v)) : QJsonValue(QJsonValue::Null); };
            if (json)
                printJson(QJsonObject{{QStringLiteral("node"), node},
                                      {QStringLiteral("elapsedMs"), elapsed},
                                      {QStringLiteral("activeFlows"), count(now.active)},
                                      {QStringLiteral("openFlows"), count(now.open)}},
                          false);
            else
                print(formatDrainProgress(node, now, elapsed) + QLatin1Char('\n'));
            last = now;
            printed = true;
        }
        if (now.drained())
            return kExitOk;
        if (elapsed >= qint64(timeoutS) * 1000) {
            return daemonError(now.active ? QStringLiteral("%1 still has %2 active flow(s) after %3 s; wait longer (--timeout S) "
                                                           "or see them with sashactl connections on the dispatcher")
                                                .arg(node).arg(*now.active).arg(timeoutS)
                                          : QStringLiteral("%1's flows are not known here after %2 s (no admin report "
                                                           "from it: is it a member, and does it serve?)").arg(node).arg(timeoutS));
        }
        QThread::msleep(kWaitPollMs);
    }
}

int watch(ControlClient &client, bool json)
{
    client.sendRequest(ControlRequest{ControlRequest::Command::Watch});
    ControlStatus last;
    bool haveStatus = false;
    // Runs until the daemon goes away or the user presses Ctrl-C (default SIGINT action).
    // The daemon sends a status line every second, so a 5 s silence means it is stuck or gone.
    for (;;) {
        QString error;
        const auto o = client.readObject(&error, 5000);
        if (!o)
            return daemonError(error);
        if (o->contains(QLatin1String("error")))
            return daemonError(o->value(QLatin1String("error")).toString());
        if (json) {
            printJson(*o, false);
            continue;
        }
        if (o->contains(QLatin1String("event"))) {
            print(formatEventLine(ControlEvent::fromJson(o->value(QLatin1String("event")).toObject())) + QLatin1Char('\n'));
        } else if (o->contains(QLatin1String("status"))) {
            const ControlStatus s = ControlStatus::fromJson(o->value(QLatin1String("status")).toObject());
            const QString change = haveStatus ? formatStatusChange(last, s) : formatStatusChange(ControlStatus{}, s);
            if (!change.isEmpty())
                print(change + QLatin1Char('\n'));
            last = s;
            haveStatus = true;
        }
    }
}
int watchAsObserver(const QString &keyFile, const QStringList &seeds, const QString &portText,
                    const QString &bindText, const QString &forText, bool json)
{
    ctl::ObserverWatchOptions o;
    o.json = json;
    QFile f(keyFile);
    if (!f.open(QIODevice::ReadOnly))
        return usage(QStringLiteral("--key %1: %2").arg(keyFile, f.errorString()));
    QString why;
    o.key = decodeClusterKey(f.readAll(), &why);
    if (o.key.isEmpty())
        return usage(QStringLiteral("--key %1: %2").arg(keyFile, why));
    bool ok = false;
    const int port = portText.toInt(&ok);
    if (!ok || port < 1 || port > 65535)
        return usage(QStringLiteral("--port takes 1..65535, got \"%1\"").arg(portText));
    if (seeds.isEmpty())
        return usage(QStringLiteral("watch --key needs at least one --seed ADDR[:PORT] (a ring node)"));
    for (const QString &s : seeds) {
        const auto e = parseHostPort(s, quint16(port));
        if (!e)
            return usage(QStringLiteral("--seed %1: expected a.b.c.d or a.b.c.d:port").arg(s));
        o.seeds.push_back(*e);
    }
    if (!bindText.isEmpty()) {
        const auto ip = parseIpv4(bindText);
        if (!ip)
            return usage(QStringLiteral("--bind %1: expected a local IPv4 address").arg(bindText));
        o.bindIp = *ip;
    } else {
        o.bindIp = defaultObserverAddress(o.seeds, QCoreApplication::applicationPid());
    }
    if (!forText.isEmpty()) {
        o.seconds = forText.toInt(&ok);
        if (!ok || o.seconds < 1 || o.seconds > 86400)
            return usage(QStringLiteral("--for takes 1..86400 seconds, got \"%1\"").arg(forText));
    }
    return ctl::observerWatch(o);
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("sashactl"));
    QCoreApplication::setApplicationVersion(QStringLiteral(SASHA_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Control a running sashad.\n\nCommands:\n"
        "  status             node, state, role, ring and members\n"
        "  services           the virtual services ([[service]]): VIP, protocol, ports, mode,\n"
        "                     scheduler, persistence; new flows and CPS on the dispatcher\n"
        "  members            the ring's members (and observers)\n"
        "  events [--limit N] recent ring events, oldest first (default 100, max 2000)\n"
        "  watch              stream events as they happen (Ctrl-C ends)\n"
        "  watch --key FILE --seed ADDR[:PORT]...  watch the ring from anywhere on the cluster's\n"
        "                     network as a TokenBeat observer, without a local sashad\n"
        "  counters           datagram, drop and ring counters\n"
        "  connections [--limit N]  the dispatcher's connection map: client, server, state, idle\n"
        "                     (default 1000, max 100000; only on the dispatching node)\n"
        "  fault NODE ACTION [--duration S] [--if-dispatcher]  fault injection (lab use):\n"
        "                     ACTION is crash, hang, unplug (both need --duration), drain or\n"
        "                     restore; NODE is the target's ring address. The node must have\n"
        "                     [faults] enabled = true; the answer comes from the node itself.\n"
        "  drain NODE [--wait] [--timeout S]  take NODE out of service: no new flows, existing\n"
        "                     flows finish (dispatch capability kept); kept across its restarts.\n"
        "                     --wait: until NODE has no active flow (closing ones may linger;\n"
        "                     default timeout 300 s; exit 1)\n"
        "  undrain NODE       put NODE back in service\n"
        "  weight NODE W      NODE's operator weight for new flows, 0..65535 (0 = none); wins\n"
        "                     over [dispatcher] weights, also across reloads, until cleared:\n"
        "  weight NODE clear  NODE's [dispatcher] weights apply again.\n"
        "                     drain/undrain/weight need no [faults].\n"
        "  handover [NODE]    on the dispatcher: hand the role to NODE (a dispatch-capable member;\n"
        "                     default: the ring's next choice) without stopping: this node sends\n"
        "                     it the flow table, it takes the VMAC once the table is in, this node\n"
        "                     forwards until then, then serves. A SIGTERM of the dispatcher's\n"
        "                     sashad (systemctl stop) hands over the same way.\n"
        "  reload             re-read sashad's config file (as SIGHUP does): weights, [health],\n"
        "                     [log] rules, [notify], [faults] and [node] name apply at once; a\n"
        "                     bad file, or a change to a key that needs a restart (address, port,\n"
        "                     key, VIP, [log] target, ...), is refused naming the key, and the\n"
        "                     running config stays.\n"
        "                     Prints what changed, or \"no change\"; exit 1 when refused.\n"
        "  keygen [--output FILE] [--force]  new cluster key (stdout without --output)"));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption socketOpt({QStringLiteral("s"), QStringLiteral("socket")},
                                       QStringLiteral("sashad's control socket (default /run/sasha/sashad.sock)."),
                                       QStringLiteral("PATH"));
    const QCommandLineOption configOpt({QStringLiteral("c"), QStringLiteral("config")},
                                       QStringLiteral("Take the control socket from this sashad config file."),
                                       QStringLiteral("FILE"));
    const QCommandLineOption jsonOpt(QStringLiteral("json"), QStringLiteral("Print the daemon's JSON instead of tables."));
    const QCommandLineOption limitOpt(QStringLiteral("limit"), QStringLiteral("events: how many (1..2000, default 100); connections: 1..100000, default 1000."),
                                      QStringLiteral("N"));
    const QCommandLineOption outputOpt({QStringLiteral("o"), QStringLiteral("output")},
                                       QStringLiteral("keygen: write the key to FILE (mode 0600)."), QStringLiteral("FILE"));
    const QCommandLineOption forceOpt(QStringLiteral("force"), QStringLiteral("keygen: replace an existing key file."));
    const QCommandLineOption durationOpt(QStringLiteral("duration"),
                                         QStringLiteral("fault hang/unplug: seconds (decimals allowed, at most 600)."),
                                         QStringLiteral("S"));
    const QCommandLineOption ifDispatcherOpt(QStringLiteral("if-dispatcher"),
                                             QStringLiteral("fault: act only if NODE is the dispatcher right now."));
    const QCommandLineOption waitOpt(QStringLiteral("wait"), QStringLiteral("drain: wait until NODE has no active flow."));
    const QCommandLineOption timeoutOpt(QStringLiteral("timeout"),
                                        QStringLiteral("drain --wait: give up after S seconds (default 300), exit 1."),
                                        QStringLiteral("S"));
    const QCommandLineOption keyOpt({QStringLiteral("k"), QStringLiteral("key")},
                                    QStringLiteral("watch as an observer: the cluster key file."), QStringLiteral("FILE"));
    const QCommandLineOption seedOpt(QStringLiteral("seed"), QStringLiteral("watch as an observer: a ring node, ADDR[:PORT]; repeatable."),
                                     QStringLiteral("ADDR[:PORT]"));
    const QCommandLineOption portOpt(QStringLiteral("port"), QStringLiteral("watch as an observer: the ring's port (default 7400)."),
                                     QStringLiteral("P"), QStringLiteral("7400"));
    const QCommandLineOption bindOpt(QStringLiteral("bind"), QStringLiteral("watch as an observer: local IPv4 address to observe from."),
                                     QStringLiteral("ADDR"));
    const QCommandLineOption forOpt(QStringLiteral("for"), QStringLiteral("watch as an observer: stop after S seconds."),
                                    QStringLiteral("S"));
    parser.addOptions({socketOpt, configOpt, jsonOpt, limitOpt, outputOpt, forceOpt, durationOpt, ifDispatcherOpt,
                       waitOpt, timeoutOpt, keyOpt, seedOpt, portOpt, bindOpt, forOpt});
    parser.addPositionalArgument(QStringLiteral("command"), QStringLiteral("status | services | members | events | watch | counters | connections | fault | drain | undrain | weight | handover | reload | keygen"));
    if (!parser.parse(app.arguments()))
        return usage(parser.errorText());
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(0);
    if (parser.isSet(QStringLiteral("version")))
        parser.showVersion();

    const QStringList args = parser.positionalArguments();
    if (args.isEmpty())
        return usage(QStringLiteral("no command given"));
    const QString command = args.first();
    const bool admin = command == QLatin1String("drain") || command == QLatin1String("undrain") || command == QLatin1String("weight");
    if (command != QLatin1String("drain") && (parser.isSet(waitOpt) || parser.isSet(timeoutOpt)))
        return usage(QStringLiteral("--wait and --timeout belong to the drain command"));
    if (parser.isSet(timeoutOpt) && !parser.isSet(waitOpt))
        return usage(QStringLiteral("--timeout S goes with drain --wait"));
    int waitTimeoutS = 300;
    if (parser.isSet(timeoutOpt)) {
        bool ok = false;
        waitTimeoutS = parser.value(timeoutOpt).toInt(&ok);
        if (!ok || waitTimeoutS < 1 || waitTimeoutS > 86400)
            return usage(QStringLiteral("--timeout takes 1..86400 seconds, got \"%1\"").arg(parser.value(timeoutOpt)));
    }
    if (admin || command == QLatin1String("handover")) {
        // NODE (and W) are checked below; the count here only keeps other commands to one word.
    } else if (command == QLatin1String("fault") ? args.size() != 3 : args.size() != 1)
        return usage(command == QLatin1String("fault") ? QStringLiteral("usage: sashactl fault NODE ACTION [--duration S] [--if-dispatcher]")
                                                       : QStringLiteral("one command at a time"));
    if (command != QLatin1String("fault") && (parser.isSet(durationOpt) || parser.isSet(ifDispatcherOpt)))
        return usage(QStringLiteral("--duration and --if-dispatcher belong to the fault command"));
    if (command == QLatin1String("keygen"))
        return keygen(parser.value(outputOpt), parser.isSet(forceOpt));
    const bool observing = parser.isSet(keyOpt);
    if (!observing && (parser.isSet(seedOpt) || parser.isSet(bindOpt) || parser.isSet(forOpt)))
        return usage(QStringLiteral("--seed, --bind and --for belong to watch --key FILE"));
    if (observing) {
        if (command != QLatin1String("watch"))
            return usage(QStringLiteral("--key belongs to watch (as an observer)"));
        return watchAsObserver(parser.value(keyOpt), parser.values(seedOpt), parser.value(portOpt),
                               parser.value(bindOpt), parser.value(forOpt), parser.isSet(jsonOpt));
    }

    ControlRequest req;
    // services: the status, of which only "services" is printed.
    const bool services = command == QLatin1String("services");
    if (command == QLatin1String("status") || services)
        req.command = ControlRequest::Command::Status;
    else if (command == QLatin1String("members"))
        req.command = ControlRequest::Command::Members;
    else if (command == QLatin1String("events"))
        req.command = ControlRequest::Command::Events;
    else if (command == QLatin1String("watch"))
        req.command = ControlRequest::Command::Watch;
    else if (command == QLatin1String("counters"))
        req.command = ControlRequest::Command::Counters;
    else if (command == QLatin1String("connections"))
        req.command = ControlRequest::Command::Connections;
    else if (command == QLatin1String("reload"))
        req.command = ControlRequest::Command::Reload;
    else if (command == QLatin1String("handover")) {
        req.command = ControlRequest::Command::Handover;
        if (args.size() > 2)
            return usage(QStringLiteral("usage: sashactl handover [NODE]"));
        if (args.size() == 2) {
            const auto target = parseIpv4(args.at(1));
            if (!target)
                return usage(QStringLiteral("handover: NODE must be the successor's ring address (IPv4), got \"%1\"").arg(args.at(1)));
            req.handoverTarget = *target;
        }
    }
    else if (command == QLatin1String("fault")) {
        req.command = ControlRequest::Command::Fault;
        if (const auto err = parseFaultArguments(args.at(1), args.at(2), parser.isSet(durationOpt),
                                                 parser.value(durationOpt), parser.isSet(ifDispatcherOpt), req))
            return usage(*err);
    } else if (admin) {
        if (const auto err = parseAdminArguments(command, args, req))
            return usage(*err);
    } else
        return usage(QStringLiteral("unknown command \"%1\"").arg(command));
    if (req.command == ControlRequest::Command::Events || req.command == ControlRequest::Command::Connections) {
        const bool events = req.command == ControlRequest::Command::Events;
        const int max = events ? kMaxEventLimit : kMaxConnectionLimit;
        req.limit = events ? 100 : 1000;
        if (parser.isSet(limitOpt)) {
            bool ok = false;
            req.limit = parser.value(limitOpt).toInt(&ok);
            if (!ok || req.limit < 1 || req.limit > max)
                return usage(QStringLiteral("--limit must be an integer in 1..%1").arg(max));
        }
    }
    if (parser.isSet(socketOpt) && parser.isSet(configOpt))
        return usage(QStringLiteral("give --socket or --config, not both"));

    QString socketPath = QStringLiteral("/run/sasha/sashad.sock");
    if (parser.isSet(socketOpt)) {
        // QLocalSocket would look a bare relative name up in the temp folder; mean the file here.
        socketPath = QFileInfo(parser.value(socketOpt)).absoluteFilePath();
    } else if (parser.isSet(configOpt)) {
        ConfigError err;
        const auto p = readControlSocketPath(parser.value(configOpt), &err);
        if (!p)
            return usage(err.toString());
        socketPath = *p;
    }

    ControlClient client(socketPath);
    if (const auto err = client.connectToDaemon())
        return daemonError(*err);
    const bool json = parser.isSet(jsonOpt);
    if (req.command == ControlRequest::Command::Watch)
        return watch(client, json);

    QString error;
    // A handover answers once the successor has the VMAC: up to ~5 s (election, its table, the
    // switch moving); everything else within 5 s.
    const auto answer = client.request(req, &error, req.command == ControlRequest::Command::Handover ? 15000 : 5000);
    if (!answer)
        return daemonError(error);
    if (answer->contains(QLatin1String("error")))
        return daemonError(QStringLiteral("sashad: %1").arg(answer->value(QLatin1String("error")).toString()));
    if (req.command == ControlRequest::Command::Fault) {
        // The node answered; anything but "accepted" is a failure for scripts too.
        const bool accepted = answer->value(QLatin1String("result")).toString() == QLatin1String("accepted");
        if (json)
            printJson(*answer, true);
        else if (accepted)
            print(formatFaultAnswer(*answer) + QLatin1Char('\n'));
        else
            std::fprintf(stderr, "sashactl: %s\n", qPrintable(formatFaultAnswer(*answer)));
        return accepted ? kExitOk : kExitDaemon;
    }
    if (req.isAdmin()) {
        // "failed" = carried out but not persisted: a failure for scripts, with the fix in the message.
        const bool accepted = answer->value(QLatin1String("result")).toString() == QLatin1String("accepted");
        if (json)
            printJson(*answer, !parser.isSet(waitOpt));
        else if (accepted)
            print(formatFaultAnswer(*answer) + QLatin1Char('\n'));
        else
            std::fprintf(stderr, "sashactl: %s\n", qPrintable(formatFaultAnswer(*answer)));
        if (!accepted)
            return kExitDaemon;
        return parser.isSet(waitOpt) ? waitForDrain(client, args.at(1), waitTimeoutS, json) : kExitOk;
    }
    if (services) {
        const ControlStatus s = ControlStatus::fromJson(*answer);
        if (json)
            printJson(QJsonObject{{QStringLiteral("node"), s.node},
                                  {QStringLiteral("dispatching"), !s.dispatcherStats.isEmpty()},
                                  {QStringLiteral("services"), s.services}},
                      true);
        else
            print(formatServices(s));
        return kExitOk;
    }
    if (json) {
        printJson(*answer, true);
        return kExitOk;
    }
    switch (req.command) {
    case ControlRequest::Command::Status:
        print(formatStatus(ControlStatus::fromJson(*answer)));
        break;
    case ControlRequest::Command::Members: {
        ControlStatus s;
        s = ControlStatus::fromJson(*answer); // same member/observer keys
        print(formatMembersTable(s.members));
        if (!s.observers.isEmpty())
            print(QStringLiteral("\nobservers:\n") + formatMembersTable(s.observers));
        break;
    }
    case ControlRequest::Command::Events: {
        QList<ControlEvent> events;
        for (const QJsonValue &v : answer->value(QLatin1String("events")).toArray())
            events.append(ControlEvent::fromJson(v.toObject()));
        print(formatEvents(events));
        break;
    }
    case ControlRequest::Command::Counters:
        print(formatCounters(answer->value(QLatin1String("counters")).toObject()));
        break;
    case ControlRequest::Command::Connections:
        print(formatConnections(*answer));
        break;
    case ControlRequest::Command::Handover:
        print(QStringLiteral("handed over to %1 in %2 ms; this node serves on\n")
                  .arg(answer->value(QLatin1String("successor")).toString())
                  .arg(answer->value(QLatin1String("ms")).toInteger()));
        break;
    case ControlRequest::Command::Reload: {
        const QJsonArray changes = answer->value(QLatin1String("changes")).toArray();
        if (changes.isEmpty())
            print(QStringLiteral("no change\n"));
        for (const QJsonValue &c : changes)
            print(c.toString() + QLatin1Char('\n'));
        break;
    }
    case ControlRequest::Command::Watch:
    case ControlRequest::Command::Fault:
    case ControlRequest::Command::Drain:
    case ControlRequest::Command::Undrain:
    case ControlRequest::Command::Weight:
        break;
    }
    return kExitOk;
}
