#include "control/faultcommand.h"

#include "control/commandhead.h"
#include "tokenbeat/bytes.h"

namespace sasha {

namespace {

using commandhead::fail;
using commandhead::kTypeCommand;
using commandhead::kTypeReply;

bool validAction(quint8 a) { return a >= quint8(FaultAction::Crash) && a <= quint8(FaultAction::Restore); }
bool validResult(quint8 r) { return r <= quint8(FaultResult::Failed); }

bool checkHead(QByteArrayView p, int fixed, quint8 type, QString *error)
{
    return commandhead::check(p, fixed, kFaultVersion, type, validAction, "fault", error);
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
    ByteWriter w(kFaultCommandSize);
    w.u8(kFaultVersion);
    w.u8(kTypeCommand);
    w.u8(quint8(c.action));
    w.u8(c.flags);
    w.u32(c.commandId);
    w.u32(c.target);
    w.u32(c.durationMs);
    return w.take();
}

QByteArray encodeFaultReply(const FaultReply &r)
{
    QByteArray msg = commandhead::utf8Prefix(r.message, kMaxFaultMessage);
    ByteWriter w(kFaultReplyFixedSize + msg.size());
    w.u8(kFaultVersion);
    w.u8(kTypeReply);
    w.u8(quint8(r.action));
    w.u8(quint8(r.result));
    w.u32(r.commandId);
    w.u32(r.target);
    w.u16(0); // reserved
    w.u16(quint16(msg.size()));
    w.bytes(msg);
    return w.take();
}

std::optional<FaultCommand> decodeFaultCommand(QByteArrayView p, QString *error)
{
    if (!checkHead(p, kFaultCommandSize, kTypeCommand, error))
        return std::nullopt;
    ByteReader in(p);
    in.skip(2); // version and type, checked above
    FaultCommand c;
    c.action = FaultAction(in.u8());
    c.flags = in.u8();
    c.commandId = in.u32();
    c.target = in.u32();
    c.durationMs = in.u32();
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
    ByteReader in(p);
    in.skip(2); // version and type, checked above
    const quint8 action = in.u8();
    const quint8 result = in.u8();
    if (!validResult(result)) {
        fail(error, QStringLiteral("unknown fault result %1").arg(result));
        return std::nullopt;
    }
    FaultReply r;
    r.action = FaultAction(action);
    r.result = FaultResult(result);
    r.commandId = in.u32();
    r.target = in.u32();
    in.skip(2); // reserved
    const int n = in.u16();
    if (n > kMaxFaultMessage || !in.need(n)) {
        fail(error, QStringLiteral("fault reply message length %1 exceeds the %2 bytes present (limit %3)")
                        .arg(n).arg(p.size() - kFaultReplyFixedSize).arg(kMaxFaultMessage));
        return std::nullopt;
    }
    const QByteArrayView text = in.bytes(n);
    if (!text.isValidUtf8()) {
        // Replacement characters would make the message longer than it came (and than the limit).
        fail(error, QStringLiteral("%1 message is not valid UTF-8").arg(QLatin1String("fault reply")));
        return std::nullopt;
    }
    r.message = QString::fromUtf8(text);
    return r;
}

quint8 faultMessageType(QByteArrayView p)
{
    return p.size() >= 2 && quint8(p[0]) == kFaultVersion ? quint8(p[1]) : 0;
}

} // namespace sasha
