#pragma once
// The 3-byte head shared by the operator-tooling codecs (faultcommand.h, admincommand.h):
// version 1 | type 1 (1 command, 2 reply) | action 1, checked the same way for both, with the
// codec's name in every message ("fault message truncated: ...").

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

namespace sasha::commandhead {

constexpr quint8 kTypeCommand = 1;
constexpr quint8 kTypeReply = 2;

inline bool fail(QString *error, const QString &why)
{
    if (error)
        *error = why;
    return false;
}

// At least `fixed` bytes, the codec's version, the expected type and an action validAction takes.
inline bool check(QByteArrayView p, int fixed, quint8 version, quint8 type, bool (*validAction)(quint8),
                  const char *what, QString *error)
{
    const QString name = QLatin1String(what);
    if (p.size() < fixed)
        return fail(error, QStringLiteral("%1 message truncated: %2 bytes, need %3").arg(name).arg(p.size()).arg(fixed));
    if (quint8(p[0]) != version)
        return fail(error, QStringLiteral("unknown %1 message version %2 (this build speaks %3)")
                               .arg(name).arg(quint8(p[0])).arg(version));
    if (quint8(p[1]) != type)
        return fail(error, QStringLiteral("%1 message type %2, expected %3").arg(name).arg(quint8(p[1])).arg(type));
    if (!validAction(quint8(p[2])))
        return fail(error, QStringLiteral("unknown %1 action %2").arg(name).arg(quint8(p[2])));
    return true;
}

} // namespace sasha::commandhead

namespace sasha::commandhead {

// A message for the wire: UTF-8, at most maxBytes, cut at a character boundary (a cut inside a
// multi-byte character would make it invalid UTF-8, which the decoders refuse).
inline QByteArray utf8Prefix(const QString &text, qsizetype maxBytes)
{
    QByteArray b = text.toUtf8();
    if (b.size() <= maxBytes)
        return b;
    qsizetype cut = maxBytes;
    while (cut > 0 && (quint8(b[cut]) & 0xC0) == 0x80)
        --cut; // b[cut] continues a character: cut before the character starts
    return b.left(cut);
}

} // namespace sasha::commandhead
