#include "tokenbeat/messages.h"

#include "tokenbeat/bytes.h"

namespace sasha::tb {

namespace {

void writeEndpoint(ByteWriter &w, const Endpoint &e)
{
    w.u32(e.ip);
    w.u16(e.port);
}

Endpoint readEndpoint(ByteReader &r)
{
    Endpoint e;
    e.ip = r.u32();
    e.port = r.u16();
    return e;
}

void writeStatus(ByteWriter &w, const NodeStatus &s)
{
    w.u8(quint8(s.role));
    w.u8(quint8(s.health));
    w.u32(s.activeConnections);
    w.u32(s.connectionsPerSecond);
}

// Unknown role/health numbers from a newer peer are read as None/Unknown rather than
// rejected, so a later version may add values.
NodeStatus readStatus(ByteReader &r)
{
    NodeStatus s;
    const quint8 role = r.u8();
    const quint8 health = r.u8();
    s.role = role <= quint8(Role::Observer) ? Role(role) : Role::None;
    s.health = health <= quint8(Health::Draining) ? Health(health) : Health::Unknown;
    s.activeConnections = r.u32();
    s.connectionsPerSecond = r.u32();
    return s;
}

void writeEntry(ByteWriter &w, const Member &m)
{
    w.u32(m.addr);
    writeEndpoint(w, m.endpoint);
    w.u8(m.caps);
    writeStatus(w, m.status);
}

Member readEntry(ByteReader &r)
{
    Member m;
    m.addr = r.u32();
    m.endpoint = readEndpoint(r);
    m.caps = r.u8();
    m.status = readStatus(r);
    return m;
}

} // namespace

QString messageTypeToString(quint8 type)
{
    switch (MessageType(type)) {
    case MessageType::Join: return QStringLiteral("Join");
    case MessageType::View: return QStringLiteral("View");
    case MessageType::ViewAck: return QStringLiteral("ViewAck");
    case MessageType::Token: return QStringLiteral("Token");
    case MessageType::Purge: return QStringLiteral("Purge");
    case MessageType::Leave: return QStringLiteral("Leave");
    case MessageType::ObserverHello: return QStringLiteral("ObserverHello");
    case MessageType::Beacon: return QStringLiteral("Beacon");
    case MessageType::OobData: return QStringLiteral("OobData");
    case MessageType::OobAck: return QStringLiteral("OobAck");
    case MessageType::ViewRequest: return QStringLiteral("ViewRequest");
    }
    return QStringLiteral("type(%1)").arg(type);
}

bool operator==(const ViewMsg &a, const ViewMsg &b)
{
    return a.view.ringEpoch == b.view.ringEpoch && a.view.viewVersion == b.view.viewVersion
        && a.view.master == b.view.master && a.view.dispatcher == b.view.dispatcher
        && a.view.members == b.view.members && a.view.observers == b.view.observers;
}

QByteArray encodeBody(const JoinMsg &m)
{
    ByteWriter w(17);
    w.u32(m.addr);
    writeEndpoint(w, m.endpoint);
    w.u8(m.caps);
    w.u8(quint8(m.claim));
    w.u32(m.lastRingEpoch);
    w.u8(m.flags);
    return w.take();
}

bool decodeBody(QByteArrayView body, JoinMsg &m)
{
    ByteReader r(body);
    m.addr = r.u32();
    m.endpoint = readEndpoint(r);
    m.caps = r.u8();
    const quint8 claim = r.u8();
    m.claim = claim <= quint8(Role::Observer) ? Role(claim) : Role::None;
    m.lastRingEpoch = r.u32();
    m.flags = r.u8();
    return r.ok();
}

QByteArray encodeBody(const ViewMsg &m)
{
    const RingView &v = m.view;
    Q_ASSERT(v.members.size() <= std::size_t(kMaxMembers));
    Q_ASSERT(v.observers.size() <= std::size_t(kMaxViewObservers));
    const int nMembers = int(std::min<std::size_t>(v.members.size(), kMaxMembers));
    const int nObservers = int(std::min<std::size_t>(v.observers.size(), kMaxViewObservers));
    ByteWriter w(kViewHeaderSize + (nMembers + nObservers) * kViewEntrySize);
    w.u32(v.ringEpoch);
    w.u32(v.viewVersion);
    w.u32(v.dispatcher);
    w.u8(quint8(nMembers));
    w.u8(quint8(nObservers));
    for (int i = 0; i < nMembers; ++i)
        writeEntry(w, v.members[i]);
    for (int i = 0; i < nObservers; ++i)
        writeEntry(w, v.observers[i]);
    return w.take();
}

bool decodeBody(QByteArrayView body, ViewMsg &m)
{
    ByteReader r(body);
    RingView &v = m.view;
    v = RingView{};
    v.ringEpoch = r.u32();
    v.viewVersion = r.u32();
    v.dispatcher = r.u32();
    const int nMembers = r.u8();
    const int nObservers = r.u8();
    if (!r.ok() || nMembers > kMaxMembers || nObservers > kMaxViewObservers
        || !r.need(qsizetype(nMembers + nObservers) * kViewEntrySize))
        return false;
    v.members.reserve(nMembers);
    for (int i = 0; i < nMembers; ++i)
        v.members.push_back(readEntry(r));
    v.observers.reserve(nObservers);
    for (int i = 0; i < nObservers; ++i)
        v.observers.push_back(readEntry(r));
    v.master = v.members.empty() ? kNoNode : v.members.front().addr;
    return r.ok();
}

QByteArray encodeBody(const ViewAckMsg &m)
{
    ByteWriter w(8);
    w.u32(m.ringEpoch);
    w.u32(m.viewVersion);
    return w.take();
}

bool decodeBody(QByteArrayView body, ViewAckMsg &m)
{
    ByteReader r(body);
    m.ringEpoch = r.u32();
    m.viewVersion = r.u32();
    return r.ok();
}

QByteArray encodeBody(const TokenMsg &m)
{
    Q_ASSERT(m.updates.size() <= std::size_t(kMaxMembers));
    const int n = int(std::min<std::size_t>(m.updates.size(), kMaxMembers));
    ByteWriter w(kTokenHeaderSize + n * kTokenUpdateSize);
    w.u32(m.ringEpoch);
    w.u32(m.viewVersion);
    w.u32(m.rotation);
    w.u32(m.master);
    w.u32(m.dispatcher);
    w.u8(quint8(n));
    for (int i = 0; i < n; ++i) {
        const StatusUpdate &u = m.updates[i];
        w.u32(u.addr);
        w.u8(u.caps);
        writeStatus(w, u.status);
    }
    return w.take();
}

bool decodeBody(QByteArrayView body, TokenMsg &m)
{
    ByteReader r(body);
    m.ringEpoch = r.u32();
    m.viewVersion = r.u32();
    m.rotation = r.u32();
    m.master = r.u32();
    m.dispatcher = r.u32();
    const int n = r.u8();
    if (!r.ok() || n > kMaxMembers || !r.need(qsizetype(n) * kTokenUpdateSize))
        return false;
    m.updates.clear();
    m.updates.reserve(n);
    for (int i = 0; i < n; ++i) {
        StatusUpdate u;
        u.addr = r.u32();
        u.caps = r.u8();
        u.status = readStatus(r);
        m.updates.push_back(u);
    }
    return r.ok();
}

QByteArray encodeBody(const EpochMsg &m)
{
    ByteWriter w(4);
    w.u32(m.ringEpoch);
    return w.take();
}

bool decodeBody(QByteArrayView body, EpochMsg &m)
{
    ByteReader r(body);
    m.ringEpoch = r.u32();
    return r.ok();
}

QByteArray encodeBody(const ObserverHelloMsg &m)
{
    ByteWriter w(10);
    w.u32(m.addr);
    writeEndpoint(w, m.endpoint);
    return w.take();
}

bool decodeBody(QByteArrayView body, ObserverHelloMsg &m)
{
    ByteReader r(body);
    m.addr = r.u32();
    m.endpoint = readEndpoint(r);
    return r.ok();
}

QByteArray encodeBody(const BeaconMsg &m)
{
    ByteWriter w(19);
    w.u32(m.ringEpoch);
    w.u32(m.master);
    writeEndpoint(w, m.masterEndpoint);
    w.u32(m.dispatcher);
    w.u8(m.nMembers);
    return w.take();
}

bool decodeBody(QByteArrayView body, BeaconMsg &m)
{
    ByteReader r(body);
    m.ringEpoch = r.u32();
    m.master = r.u32();
    m.masterEndpoint = readEndpoint(r);
    m.dispatcher = r.u32();
    m.nMembers = r.u8();
    return r.ok();
}

} // namespace sasha::tb
