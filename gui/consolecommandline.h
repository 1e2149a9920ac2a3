#pragma once
// The sasha-console command line (QCommandLineParser), parsed into values so that it can be
// tested without starting a window:
//   sasha-console --key FILE [--seed ADDR[:PORT]]... [--broadcast ADDR[:PORT]] [--port P]
//                 [--bind ADDR] [--read-only] [--lab] [--presentation] [--no-ring-timeout S]
//                 [--size WxH] [--screenshot FILE [--screenshot-after S]]
//   sasha-console --demo [--presentation] [--read-only] [--size WxH] [--screenshot FILE ...]
// --screenshot writes the window as a PNG S seconds (default 5) after the start and quits.
// --port is the ring's TokenBeat port (default 7400), used for seeds and broadcast without a port.
// The observer itself listens on --bind (see docs/console.md for the default) with an OS-chosen port.
// Hidden (scripts and the lab test, docs/console.md): --dump-connections S prints one dump line
// every S seconds; --snapshot FILE also writes the window as a PNG at every such tick.

#include "clusterobserver.h"
#include "failovertracker.h"
#include "transport/observeraddress.h"
#include "mainwindow.h"

#include <QSize>
#include <QStringList>

#include <optional>

namespace sasha::console {

struct CommandLine {
    ConsoleOptions ui;
    bool demo = false;
    ClusterObserver::Options observer; // key read and decoded, seeds parsed, bind chosen
    int dumpConnectionsMs = 0; // hidden --dump-connections S: print the map's figures this often
    QString snapshotPath;      // hidden --snapshot FILE: PNG of the window at every dump tick
    QSize windowSize;          // --size WxH; invalid = the window's default (1600x1000)
    QString screenshotPath;    // --screenshot FILE: PNG of the window, then quit
    int screenshotAfterMs = 5000;
};

// nullopt with *error (a one-line message naming the option and what is accepted), or
// *exitNow set for --help/--version (text in *error, exit code 0).
std::optional<CommandLine> parseCommandLine(const QStringList &arguments, QString *error, bool *exitNow);

// The dump line's failover part: "failovers=N last=[detection=D reformation=R election=E
// reconstruction=C firstForward=F closed=0|1]", phases in ms with one decimal, "-" for a phase not
// seen; "last=[]" before the first failover (failovertracker.h defines the phases).
QString failoverDumpText(const FailoverTracker &tracker);

// The observer's address when --bind is not given (shared with `sashactl watch --key`).
using sasha::defaultObserverAddress;

} // namespace sasha::console
