#pragma once
// SignalWatcher: turns SIGTERM/SIGINT/SIGHUP into a Qt signal safely. The handler only write()s the
// signal number to a socketpair (async-signal-safe); a QSocketNotifier reads it in the event
// loop (Qt docs: "Calling Qt Functions From Unix Signal Handlers"). One per process.

#include <QObject>
#include <QSocketNotifier>

#include <initializer_list>
#include <memory>

namespace sasha {

class SignalWatcher : public QObject {
    Q_OBJECT
public:
    // Installs handlers for the given signals. Returns false from ok() if the socketpair or
    // sigaction failed (the daemon then cannot leave gracefully and says so).
    explicit SignalWatcher(std::initializer_list<int> signals, QObject *parent = nullptr);
    ~SignalWatcher() override;
    bool ok() const { return m_ok; }

Q_SIGNALS:
    void received(int signalNumber);

private:
    void drain();

    std::unique_ptr<QSocketNotifier> m_notifier;
    bool m_ok = false;
};

} // namespace sasha
