#pragma once
// The sasha-console command line (QCommandLineParser), parsed into values so that it can be
// tested without starting a window:
//   sasha-console --key FILE [--seed ADDR[:PORT]]... [--broadcast ADDR[:PORT]] [--port P]
//                 [--bind ADDR] [--read-only] [--lab] [--presentation] [--no-ring-timeout S]
//   sasha-console --demo [--presentation] [--read-only]
// --port is the ring's TokenBeat port (default 7400), used for seeds and broadcast without a port.
// The observer itself listens on --bind (see docs/console.md for the default) with an OS-chosen port.

#include "clusterobserver.h"
#include "transport/observeraddress.h"
#include "mainwindow.h"

#include <QStringList>

#include <optional>

namespace sasha::console {

struct CommandLine {
    ConsoleOptions ui;
    bool demo = false;
    ClusterObserver::Options observer; // key read and decoded, seeds parsed, bind chosen
    int dumpConnectionsMs = 0; // hidden --dump-connections S: print the map's figures this often
};

// nullopt with *error (a one-line message naming the option and what is accepted), or
// *exitNow set for --help/--version (text in *error, exit code 0).
std::optional<CommandLine> parseCommandLine(const QStringList &arguments, QString *error, bool *exitNow);

// The observer's address when --bind is not given (shared with `sashactl watch --key`).
using sasha::defaultObserverAddress;

} // namespace sasha::console
