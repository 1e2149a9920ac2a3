#include "control/faultcommand.h"

#include <QtEndian>

namespace sasha {

namespace {

constexpr quint8 kTypeCommand = 1;
constexpr quint8 kTypeReply = 2;

bool validAction(quint8 a) { return a >= quint8(FaultAction::Crash) && a <= quint8(FaultAction::Restore); }
bool validResult(quint8 r) { return r <= quint8(FaultResult::Failed); }

void put32(char *p, quint32 v) { qToBigEndian(v, p); }
void put16(char *p, quint16 v) { qToBigEndian(v, p); }
quint32 get32(const char *p) { return qFromBigEndian<quint32>(p); }
quint16 get16(const char *p) { return qFromBigEndian<quint16>(p); }

bool fail(QString *error, const QString &why)
{
    if (error)
        *error = why;
    return false;
}

// The common 4-byte head; checks version, type and action.
bool checkHead(QByteArrayView p, int fixed, quint8 type, QString *error)
{
    if (p.size() < fixed)
        return fail(error, QStringLiteral("fault message truncated: %1 bytes, need %2").arg(p.size()).arg(fixed));
    if (quint8(p[0]) != kFaultVersion)
        return fail(error, QStringLiteral("unknown fault message version %1 (this build speaks %2)")
                               .arg(quint8(p[0])).arg(kFaultVersion));
    if (quint8(p[1]) != type)
        return fail(error, QStringLiteral("fault message type %1, expected %2").arg(quint8(p[1])).arg(type));
    if (!validAction(quint8(p[2])))
        return fail(error, QStringLiteral("unknown fault action %1").arg(quint8(p[2])));
    return true;
}

} // namespace

QString faultActionName(FaultAction a)
{
    switch (a) {
    case FaultAction::Crash: return QStringLiteral("crash");
    case FaultAction::Hang: return QStringLiteral("hang");
    case FaultAction::Unplug: return QStringLiteral("unplug");
    case FaultAction::Drain: return QStringLiteral("drain");
    case FaultAction::Restore: return QStringLiteral("restore");
    }
    return QStringLiteral("action(%1)").arg(int(a));
}

std::optional<FaultAction> faultActionFromName(const QString &name)
{
    for (quint8 a = quint8(FaultAction::Crash); a <= quint8(FaultAction::Restore); ++a)
        if (faultActionName(FaultAction(a)) == name)
            return FaultAction(a);
    return std::nullopt;
}

bool faultActionTakesDuration(FaultAction a) { return a == FaultAction::Hang || a == FaultAction::Unplug; }

bool faultActionIsDestructive(FaultAction a) { return a != FaultAction::Restore; }

QString faultResultName(FaultResult r)
{
    switch (r) {
    case FaultResult::Accepted: return QStringLiteral("accepted");
    case FaultResult::Disabled: return QStringLiteral("disabled");
    case FaultResult::WrongTarget: return QStringLiteral("wrong-target");
    case FaultResult::Unsupported: return QStringLiteral("unsupported");
    case FaultResult::Failed: return QStringLiteral("failed");
    }
    return QStringLiteral("result(%1)").arg(int(r));
}

QByteArray encodeFaultCommand(const FaultCommand &c)
{
    QByteArray out(kFaultCommandSize, '\0');
    char *p = out.data();
    p[0] = char(kFaultVersion);
    p[1] = char(kTypeCommand);
    p[2] = char(c.action);
    p[3] = char(c.flags);
    put32(p + 4, c.commandId);
    put32(p + 8, c.target);
    put32(p + 12, c.durationMs);
    return out;
}

QByteArray encodeFaultReply(const FaultReply &r)
{
    QByteArray msg = r.message.toUtf8().left(kMaxFaultMessage);
    QByteArray out(kFaultReplyFixedSize, '\0');
    char *p = out.data();
    p[0] = char(kFaultVersion);
    p[1] = char(kTypeReply);
    p[2] = char(r.action);
    p[3] = char(r.result);
    put32(p + 4, r.commandId);
    put32(p + 8, r.target);
    put16(p + 12, 0);
    put16(p + 14, quint16(msg.size()));
    out += msg;
    return out;
}

std::optional<FaultCommand> decodeFaultCommand(QByteArrayView p, QString *error)
{
    if (!checkHead(p, kFaultCommandSize, kTypeCommand, error))
        return std::nullopt;
    FaultCommand c;
    c.action = FaultAction(quint8(p[2]));
    c.flags = quint8(p[3]);
    c.commandId = get32(p.data() + 4);
    c.target = get32(p.data() + 8);
    c.durationMs = get32(p.data() + 12);
    if (faultActionTakesDuration(c.action)) {
        if (c.durationMs == 0 || c.durationMs > kMaxFaultDurationMs) {
            fail(error, QStringLiteral("%1: duration must be 1..%2 ms; got %3")
                            .arg(faultActionName(c.action)).arg(kMaxFaultDurationMs).arg(c.durationMs));
            return std::nullopt;
        }
    } else if (c.durationMs != 0) {
        fail(error, QStringLiteral("%1 takes no duration; got %2 ms").arg(faultActionName(c.action)).arg(c.durationMs));
        return std::nullopt;
    }
    if (c.target == tb::kNoNode) {
        fail(error, QStringLiteral("fault command without a target"));
        return std::nullopt;
    }
    return c;
}

std::optional<FaultReply> decodeFaultReply(QByteArrayView p, QString *error)
{
    if (!checkHead(p, kFaultReplyFixedSize, kTypeReply, error))
        return std::nullopt;
    if (!validResult(quint8(p[3]))) {
        fail(error, QStringLiteral("unknown fault result %1").arg(quint8(p[3])));
        return std::nullopt;
    }
    const int n = get16(p.data() + 14);
    if (n > kMaxFaultMessage || p.size() < kFaultReplyFixedSize + n) {
        fail(error, QStringLiteral("fault reply message length %1 exceeds the %2 bytes present (limit %3)")
                        .arg(n).arg(p.size() - kFaultReplyFixedSize).arg(kMaxFaultMessage));
        return std::nullopt;
    }
    FaultReply r;
    r.action = FaultAction(quint8(p[2]));
    r.result = FaultResult(quint8(p[3]));
    r.commandId = get32(p.data() + 4);
    r.target = get32(p.data() + 8);
    r.message = QString::fromUtf8(p.data() + kFaultReplyFixedSize, n);
    return r;
}

quint8 faultMessageType(QByteArrayView p)
{
    return p.size() >= 2 && quint8(p[0]) == kFaultVersion ? quint8(p[1]) : 0;
}

} // namespace sasha
