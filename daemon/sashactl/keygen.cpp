#include "keygen.h"

#include <QFile>
#include <QRandomGenerator>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sasha {

QByteArray generateClusterKeyText()
{
    QByteArray raw(32, Qt::Uninitialized);
    QRandomGenerator::system()->generate(reinterpret_cast<quint32 *>(raw.data()),
                                         reinterpret_cast<quint32 *>(raw.data() + raw.size()));
    return raw.toHex() + '\n';
}

std::optional<QString> writeClusterKeyFile(const QString &path, bool force)
{
    const QByteArray native = QFile::encodeName(path);
    // O_EXCL: never follow or replace something already there unless asked to.
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL);
    const int fd = ::open(native.constData(), flags, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return QStringLiteral("%1 exists; refusing to overwrite a cluster key (use --force to replace it)").arg(path);
        return QStringLiteral("cannot create %1: %2").arg(path, QString::fromLocal8Bit(std::strerror(errno)));
    }
    // An existing file replaced with --force keeps its old mode otherwise.
    if (::fchmod(fd, 0600) != 0) {
        const int e = errno;
        ::close(fd);
        return QStringLiteral("cannot chmod 600 %1: %2").arg(path, QString::fromLocal8Bit(std::strerror(e)));
    }
    const QByteArray text = generateClusterKeyText();
    const ssize_t n = ::write(fd, text.constData(), size_t(text.size()));
    const int e = errno;
    if (::close(fd) != 0 || n != text.size())
        return QStringLiteral("cannot write %1: %2").arg(path, QString::fromLocal8Bit(std::strerror(e)));
    return std::nullopt;
}

} // namespace sasha
