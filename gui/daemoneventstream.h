#pragma once
// DaemonEventStream: one sashad's own events, read from its control socket ("watch"), for the
// timeline. A node knows exactly when its token timed out, when it purged, when the ring formed,
// and (as dispatcher) when it forwarded its first frame; an observer only sees the next view, up
// to 200 ms later. So when the console runs where the daemons' sockets are (a lab, a node), these
// streams give exact failover phases. Reconnects every kRetryMs while the daemon is away (a
// crashed node restarting). Lines that are not JSON objects are dropped and counted.
// GUI thread only.

#include "control/controlprotocol.h"

#include <QJsonObject>
#include <QLocalSocket>
#include <QObject>
#include <QTimer>

namespace sasha::console {

class DaemonEventStream : public QObject {
    Q_OBJECT
public:
    static constexpr int kRetryMs = 2000;
    explicit DaemonEventStream(QString socketPath, QObject *parent = nullptr);

    void start();
    const QString &path() const { return m_path; }
    bool isConnected() const { return m_socket.state() == QLocalSocket::ConnectedState; }
    quint64 badLines() const { return m_badLines; }

Q_SIGNALS:
    void eventReceived(const sasha::ControlEvent &event);
    // The daemon's status object, sent by `watch` every second (ControlStatus::toJson(); the
    // console's services view reads its "services", ServiceModel).
    void statusReceived(const QJsonObject &status);

private:
    void onReadyRead();
    void connectNow();

    QString m_path;
    QLocalSocket m_socket;
    QTimer m_retry;
    quint64 m_badLines = 0;
};

// Whether a daemon event kind belongs on the timeline (ring and dispatcher milestones, faults),
// as opposed to bookkeeping (view-changed, state-changed, oob-*, datagram-dropped).
bool isTimelineKind(const QString &kind);

} // namespace sasha::console
