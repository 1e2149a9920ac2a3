#pragma once
// ControlClient: the client end of the control protocol, blocking, for sashactl and test tools.
// (The console will use QLocalSocket signals directly with the same protocol functions.)

#include "control/controlprotocol.h"

#include <QLocalSocket>
#include <QString>

#include <optional>

namespace sasha {

class ControlClient {
public:
    explicit ControlClient(QString path) : m_path(std::move(path)) {}

    // Connects; on failure returns a message that names the fix ("is sashad running? ...").
    std::optional<QString> connectToDaemon(int timeoutMs = 2000);
    // Sends one request and reads its one-line answer. A daemon-side failure is an answer too:
    // the caller checks for its "error" key (sashactl exit code 1).
    std::optional<QJsonObject> request(const ControlRequest &r, QString *error, int timeoutMs = 5000);
    // The next line of a stream ("watch"); nullopt with *error on disconnect or timeout.
    std::optional<QJsonObject> readObject(QString *error, int timeoutMs);
    void sendRequest(const ControlRequest &r);

    QLocalSocket &socket() { return m_socket; }
    const QString &path() const { return m_path; }

private:
    QString m_path;
    QLocalSocket m_socket;
};

} // namespace sasha
