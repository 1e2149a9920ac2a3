#pragma once
// Cluster key generation for `sashactl keygen`: 32 bytes from the system CSPRNG, written as 64
// hex characters and a newline (the form the config loader decodes), file mode 0600.

#include <QByteArray>
#include <QString>

#include <optional>

namespace sasha {

QByteArray generateClusterKeyText();
// Creates `path` with mode 0600 (refusing to replace an existing file unless force). Returns an
// error message on failure.
std::optional<QString> writeClusterKeyFile(const QString &path, bool force);

} // namespace sasha
