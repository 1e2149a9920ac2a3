// sasha-junkflood: unauthenticated datagrams at TokenBeat ports for a while (lab/kit/junkflooder.h),
// for the namespace lab's hostile-network test and by hand: aim it only at a lab you made.
//   sasha-junkflood --seconds 10 [--rate R] [--forged SENDER] 10.77.0.1:7400 10.77.0.2:7400 ...
// Prints one line: datagrams sent, seconds, rate.

#include "junkflooder.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QHostAddress>
#include <QThread>

#include <cstdio>

using namespace sasha::lab;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Sends junk datagrams to TokenBeat ports (lab use only: aim it at a lab you made)."));
    parser.addHelpOption();
    QCommandLineOption secondsOpt(QStringLiteral("seconds"), QStringLiteral("How long (default 10, at most 3600)."),
                                  QStringLiteral("S"), QStringLiteral("10"));
    QCommandLineOption rateOpt(QStringLiteral("rate"), QStringLiteral("Datagrams/s over all targets (default 0 = as fast as possible)."),
                               QStringLiteral("R"), QStringLiteral("0"));
    QCommandLineOption forgedOpt(QStringLiteral("forged"),
                                 QStringLiteral("Well-formed envelope headers naming SENDER (a member's address); only the MAC is wrong."),
                                 QStringLiteral("SENDER"));
    parser.addOptions({secondsOpt, rateOpt, forgedOpt});
    parser.addPositionalArgument(QStringLiteral("target"), QStringLiteral("ADDRESS:PORT, one or more."));
    parser.process(app);
    JunkFlooder::Options o;
    for (const QString &t : parser.positionalArguments()) {
        const qsizetype colon = t.lastIndexOf(QLatin1Char(':'));
        QHostAddress a(t.left(colon));
        bool ok = false;
        const uint port = t.mid(colon + 1).toUInt(&ok);
        if (colon < 0 || a.protocol() != QAbstractSocket::IPv4Protocol || !ok || port == 0 || port > 65535) {
            std::fprintf(stderr, "sasha-junkflood: bad target \"%s\": expected IPV4:PORT\n", qPrintable(t));
            return 2;
        }
        o.targets.push_back({a.toIPv4Address(), quint16(port)});
    }
    if (o.targets.empty()) {
        std::fprintf(stderr, "sasha-junkflood: no target (ADDRESS:PORT)\n");
        return 2;
    }
    o.rate = std::max(0.0, parser.value(rateOpt).toDouble());
    if (parser.isSet(forgedOpt)) {
        o.kind = JunkFlooder::Kind::Forged;
        o.forgedSender = QHostAddress(parser.value(forgedOpt)).toIPv4Address();
    }
    const int seconds = std::clamp(parser.value(secondsOpt).toInt(), 1, 3600);
    JunkFlooder f(o);
    QString err;
    if (!f.start(&err)) {
        std::fprintf(stderr, "sasha-junkflood: %s\n", qPrintable(err));
        return 3;
    }
    QElapsedTimer t;
    t.start();
    QThread::sleep(seconds);
    f.stop();
    const double s = t.nsecsElapsed() / 1e9;
    std::printf("sent %llu datagrams in %.1f s (%.0f/s), %llu send errors\n", static_cast<unsigned long long>(f.sent()), s,
                double(f.sent()) / s, static_cast<unsigned long long>(f.sendErrors()));
    return 0;
}
