#include "control/admincommand.h"

#include "control/commandhead.h"
#include "tokenbeat/bytes.h"

namespace sasha {

namespace {

using commandhead::fail;
using commandhead::kTypeCommand;
using commandhead::kTypeReply;

bool validAction(quint8 a) { return a >= quint8(AdminAction::Drain) && a <= quint8(AdminAction::Weight); }
bool validResult(quint8 r) { return r <= quint8(AdminResult::Failed); }

bool checkHead(QByteArrayView p, int fixed, quint8 type, QString *error)
{
    return commandhead::check(p, fixed, kAdminVersion, type, validAction, "admin", error);
}

} // namespace

QString adminActionName(AdminAction a)
{
    switch (a) {
    case AdminAction::Drain: return QStringLiteral("drain");
    case AdminAction::Undrain: return QStringLiteral("undrain");
    case AdminAction::Weight: return QStringLiteral("weight");
    }
    return QStringLiteral("action(%1)").arg(int(a));
}

std::optional<AdminAction> adminActionFromName(const QString &name)
{
    for (quint8 a = quint8(AdminAction::Drain); a <= quint8(AdminAction::Weight); ++a)
        if (adminActionName(AdminAction(a)) == name)
            return AdminAction(a);
    return std::nullopt;
}

QString adminResultName(AdminResult r)
{
    switch (r) {
    case AdminResult::Accepted: return QStringLiteral("accepted");
    case AdminResult::WrongTarget: return QStringLiteral("wrong-target");
    case AdminResult::Failed: return QStringLiteral("failed");
    }
    return QStringLiteral("result(%1)").arg(int(r));
}

QByteArray encodeAdminCommand(const AdminCommand &c)
{
    ByteWriter w(kAdminCommandSize);
    w.u8(kAdminVersion);
    w.u8(kTypeCommand);
    w.u8(quint8(c.action));
    w.u8(c.action == AdminAction::Weight && c.clearWeight ? kAdminClearWeight : 0); // flags
    w.u32(c.commandId);
    w.u32(c.target);
    w.u16(c.action == AdminAction::Weight && !c.clearWeight ? c.weight : 0);
    w.u16(0); // reserved
    return w.take();
}

QByteArray encodeAdminReply(const AdminReply &r)
{
    const QByteArray msg = commandhead::utf8Prefix(r.message, kMaxAdminMessage);
    ByteWriter w(kAdminReplyFixedSize + msg.size());
    w.u8(kAdminVersion);
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

QByteArray encodeAdminReport(const AdminReport &r)
{
    ByteWriter w(kAdminReportSize);
    w.u8(kAdminVersion);
    w.u8(quint8((r.drained ? kReportDrained : 0) | (r.weight ? kReportWeightSet : 0)));
    w.u16(r.weight.value_or(0));
    w.u32(r.openFlows);
    return w.take();
}

std::optional<AdminCommand> decodeAdminCommand(QByteArrayView p, QString *error)
{
    if (!checkHead(p, kAdminCommandSize, kTypeCommand, error))
        return std::nullopt;
    ByteReader in(p);
    in.skip(2); // version and type, checked above
    AdminCommand c;
    c.action = AdminAction(in.u8());
    const quint8 flags = in.u8();
    c.commandId = in.u32();
    c.target = in.u32();
    c.weight = in.u16();
    if (flags & kAdminClearWeight) {
        if (c.action != AdminAction::Weight || c.weight != 0) {
            fail(error, QStringLiteral("clear-weight flag on %1 with weight %2; only on weight, with weight 0")
                            .arg(adminActionName(c.action)).arg(c.weight));
            return std::nullopt;
        }
        c.clearWeight = true;
    }
    if (c.action != AdminAction::Weight && c.weight != 0) {
        fail(error, QStringLiteral("%1 takes no weight; got %2").arg(adminActionName(c.action)).arg(c.weight));
        return std::nullopt;
    }
    if (c.target == tb::kNoNode) {
        fail(error, QStringLiteral("admin command without a target"));
        return std::nullopt;
    }
    return c;
}

std::optional<AdminReply> decodeAdminReply(QByteArrayView p, QString *error)
{
    if (!checkHead(p, kAdminReplyFixedSize, kTypeReply, error))
        return std::nullopt;
    ByteReader in(p);
    in.skip(2); // version and type, checked above
    const quint8 action = in.u8();
    const quint8 result = in.u8();
    if (!validResult(result)) {
        fail(error, QStringLiteral("unknown admin result %1").arg(result));
        return std::nullopt;
    }
    AdminReply r;
    r.action = AdminAction(action);
    r.result = AdminResult(result);
    r.commandId = in.u32();
    r.target = in.u32();
    in.skip(2); // reserved
    const int n = in.u16();
    if (n > kMaxAdminMessage || !in.need(n)) {
        fail(error, QStringLiteral("admin reply message length %1 exceeds the %2 bytes present (limit %3)")
                        .arg(n).arg(p.size() - kAdminReplyFixedSize).arg(kMaxAdminMessage));
        return std::nullopt;
    }
    const QByteArrayView text = in.bytes(n);
    if (!text.isValidUtf8()) {
        // Replacement characters would make the message longer than it came (and than the limit).
        fail(error, QStringLiteral("%1 message is not valid UTF-8").arg(QLatin1String("admin reply")));
        return std::nullopt;
    }
    r.message = QString::fromUtf8(text);
    return r;
}

std::optional<AdminReport> decodeAdminReport(QByteArrayView p, QString *error)
{
    if (p.size() < kAdminReportSize) {
        fail(error, QStringLiteral("admin report truncated: %1 bytes, need %2").arg(p.size()).arg(kAdminReportSize));
        return std::nullopt;
    }
    ByteReader in(p);
    const quint8 version = in.u8();
    if (version != kAdminVersion) {
        fail(error, QStringLiteral("unknown admin report version %1 (this build speaks %2)").arg(version).arg(kAdminVersion));
        return std::nullopt;
    }
    const quint8 flags = in.u8();
    const quint16 weight = in.u16();
    AdminReport r;
    r.drained = flags & kReportDrained;
    if (flags & kReportWeightSet)
        r.weight = weight;
    r.openFlows = in.u32();
    return r;
}

quint8 adminMessageType(QByteArrayView p)
{
    return p.size() >= 2 && quint8(p[0]) == kAdminVersion ? quint8(p[1]) : 0;
}

} // namespace sasha
