#pragma once
// LoopbackCluster: N real sashad processes on 127.x.y.1..N (one loopback address per node, one
// UDP port shared by all), each with its own config and control socket in a temporary folder.
// Used by the integration tests, the ring demo and the TokenBeat benchmark. Everything it starts
// is killed and removed by its destructor, also when a test fails half-way.

#include <QJsonArray>
#include <QJsonObject>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace sasha::lab {

// Microseconds on CLOCK_MONOTONIC: the clock sashad stamps its events with (monoUs).
qint64 monotonicUs();

class LoopbackCluster {
public:
    struct Options {
        int nodes = 5;
        QString sashad;   // path to the sashad binary
        QString sashactl; // path to the sashactl binary
        QString timersToml; // extra lines for the [timers] table, e.g. "preset = \"paper\""
        QStringList extraToml; // extra lines appended to every config
        bool quiet = true; // discard the daemons' logs unless keepLogs
        bool keepLogs = false; // logs go to <workdir>/nodeN.log
        // Extra environment of one node's sashad (0-based index -> "VAR=value"), e.g. the
        // NOTIFY_SOCKET and WATCHDOG_USEC systemd would set.
        std::map<int, QStringList> environment;
    };

    explicit LoopbackCluster(Options options);
    ~LoopbackCluster();
    LoopbackCluster(const LoopbackCluster &) = delete;
    LoopbackCluster &operator=(const LoopbackCluster &) = delete;

    // Writes the key and configs and starts every node. False with *error on failure.
    bool start(QString *error);
    // Starts (again) node i (0-based) with its existing config.
    bool startNode(int i, QString *error);

    int size() const { return m_options.nodes; }
    QString address(int i) const;      // "127.x.y.(i+1)"
    QString socketPath(int i) const;
    QString configPath(int i) const;
    QString logPath(int i) const;
    QString workDir() const { return m_dir.path(); }
    QString keyPath() const { return m_dir.filePath(QStringLiteral("cluster.key")); }
    quint16 port() const { return m_port; } // the TokenBeat port every node listens on
    qint64 pid(int i) const;
    bool isRunning(int i) const;

    // Sends a signal to node i's process (SIGKILL, SIGSTOP, SIGCONT, SIGTERM).
    void signal(int i, int sig);
    // Waits for node i's process to exit (after SIGTERM/SIGKILL); returns its exit code or -1.
    int waitExit(int i, int timeoutMs);

    // One request on node i's control socket; empty object when it does not answer.
    QJsonObject request(int i, const QJsonObject &req, int timeoutMs = 1000) const;
    QJsonObject status(int i, int timeoutMs = 1000) const { return request(i, {{"cmd", "status"}}, timeoutMs); }
    QJsonArray events(int i, int limit = 2000) const;

    // Runs sashactl with args against node i's socket; returns exit code (-1: timed out or
    // crashed), stdout in *out and stderr in *err when given.
    int sashactl(int i, const QStringList &args, QByteArray *out, int timeoutMs = 5000, QByteArray *err = nullptr) const;
    // Prints the last `bytes` of every node's log with qWarning (a failed test's evidence).
    void printLogTails(qsizetype bytes = 4000) const;

    // Polls until pred() is true or timeoutMs passes (bounded; polls every stepMs).
    static bool waitUntil(const std::function<bool()> &pred, int timeoutMs, int stepMs = 10);

    // Helpers over status(): the dispatcher a live node reports, and whether every node in
    // `live` reports the same ring with exactly `live` as members.
    QString dispatcherSeenBy(int i) const;
    bool ringIs(const std::vector<int> &live, QString *why = nullptr) const;

private:
    Options m_options;
    QTemporaryDir m_dir;
    QString m_prefix; // "127.x.y."
    quint16 m_port = 0;
    std::vector<std::unique_ptr<QProcess>> m_procs;
};

}  // namespace sasha::lab
