#pragma once
// sashad's QCoreApplication: times every event the main thread (the one that relays the token)
// handles, and remembers the slowest, so whatever holds that thread shows up by name: the event's
// type and its receiver's class (and the receiver's parent's, for a QTimer or a socket notifier).
// A handling of >= 50 ms is logged (at most every 5 s, unless twice the last one logged) and the
// slowest is in the status JSON (transport.slowestEvent), each with the thread's CPU time
// during it: far less than the wall time means the thread waited (starved of CPU, or blocked in
// the kernel), not that the handler worked. Four clock reads per event.

#include <QCoreApplication>
#include <QJsonObject>

namespace sasha {

class TimedApplication : public QCoreApplication {
public:
    TimedApplication(int &argc, char **argv);
    bool notify(QObject *receiver, QEvent *event) override;
    // {"maxMs", "maxCpuMs", "what", "slow": handlings >= 20 ms}; main thread.
    QJsonObject stats() const;

private:
    qint64 m_maxUs = 0;
    qint64 m_maxCpuUs = 0; // of the slowest: the part on the CPU
    QString m_maxWhat;
    quint64 m_slow = 0;
    qint64 m_lastWarnMs = 0;
    qint64 m_lastWarnUs = 0;
    int m_depth = 0; // a nested event loop's events are timed inside their outer event: only the outer counts
};

} // namespace sasha
