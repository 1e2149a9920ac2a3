#pragma once
// TokenBeat message bodies and their codecs: pure encode/decode over byte spans, no socket,
// no state (like Mumble's MumbleProtocol.h). The envelope around a body (magic, type, sender,
// destination, boot epoch, sequence, MAC) is in envelope.h. All integers are big-endian.
//
// Type  Body (sizes in bytes)                                                   fixed part
// 1  Join          addr 4 | ip 4 | port 2 | caps 1 | claim 1 | lastRingEpoch 4 | flags 1    17
//                  claim: the Role the sender holds now (2 Dispatcher / 3 Standalone = it
//                  claims the dispatcher role). flags bit0: forwarded by another node on the
//                  joiner's behalf (then the envelope sender is the forwarder, addr the joiner).
// 2  View          ringEpoch 4 | viewVersion 4 | dispatcher 4 | nMembers 1 | nObservers 1   14
//                  then nMembers + nObservers entries of 21 bytes (members sorted by address,
//                  the first is the master; then observers):
//                  addr 4 | ip 4 | port 2 | caps 1 | role 1 | health 1 | conns 4 | cps 4
// 3  ViewAck       ringEpoch 4 | viewVersion 4                                              8
// 4  Token         ringEpoch 4 | viewVersion 4 | rotation 4 | master 4 | dispatcher 4 |
//                  nUpdates 1, then nUpdates entries of 15 bytes:                          21
//                  addr 4 | caps 1 | role 1 | health 1 | conns 4 | cps 4
// 5  Purge         ringEpoch 4                                                              4
// 6  Leave         ringEpoch 4                                                              4
// 7  ObserverHello addr 4 | ip 4 | port 2                                                   10
// 8  Beacon        ringEpoch 4 | master 4 | masterIp 4 | masterPort 2 | dispatcher 4 |
//                  nMembers 1                                                               19
// 9  OobData, 10 OobAck: bodies defined in reliable.h
// 11 ViewRequest   ringEpoch 4                                                              4
//
// Decoding: a body shorter than its fixed part, or than its counts require, is Malformed; a
// count above its limit (kMaxMembers members, kMaxViewObservers observers, kMaxMembers token
// updates) is Malformed; bytes after the last known field are ignored, so a later version may
// append fields. Extending: new fields go at the end of a body; new messages take new type
// numbers; any other change bumps the envelope version.

#include "tokenbeat/types.h"

#include <QByteArray>
#include <QByteArrayView>

#include <vector>

namespace sasha::tb {

enum class MessageType : quint8 {
    Join = 1,
    View = 2,
    ViewAck = 3,
    Token = 4,
    Purge = 5,
    Leave = 6,
    ObserverHello = 7,
    Beacon = 8,
    OobData = 9,
    OobAck = 10,
    ViewRequest = 11,
};
QString messageTypeToString(quint8 type);

// Largest ring: 56 members of 21 bytes plus 7 observers fill a View to 1,385 bytes once sealed
// (14 + 63 * 21 + 48 envelope bytes), within the default maxDatagram of 1,400.
constexpr int kMaxMembers = 56;
constexpr int kMaxViewObservers = 7;
constexpr int kViewHeaderSize = 14;
constexpr int kViewEntrySize = 21;
constexpr int kTokenHeaderSize = 21;
constexpr int kTokenUpdateSize = 15;

constexpr quint8 kJoinForwarded = 0x01;

struct JoinMsg {
    NodeAddr addr = kNoNode;
    Endpoint endpoint;
    quint8 caps = 0;
    Role claim = Role::None;
    quint32 lastRingEpoch = 0;
    quint8 flags = 0;
    friend bool operator==(const JoinMsg &, const JoinMsg &) = default;
};

struct ViewMsg {
    RingView view; // master is derived from members.front() on decode
    friend bool operator==(const ViewMsg &a, const ViewMsg &b);
};

struct ViewAckMsg {
    quint32 ringEpoch = 0;
    quint32 viewVersion = 0;
    friend bool operator==(const ViewAckMsg &, const ViewAckMsg &) = default;
};

struct StatusUpdate {
    NodeAddr addr = kNoNode;
    quint8 caps = 0;
    NodeStatus status;
    friend bool operator==(const StatusUpdate &, const StatusUpdate &) = default;
};

struct TokenMsg {
    quint32 ringEpoch = 0;
    quint32 viewVersion = 0;
    quint32 rotation = 0;
    NodeAddr master = kNoNode;
    NodeAddr dispatcher = kNoNode;
    std::vector<StatusUpdate> updates;
    friend bool operator==(const TokenMsg &, const TokenMsg &) = default;
};

// Purge, Leave and ViewRequest carry only the ring epoch they are about.
struct EpochMsg {
    quint32 ringEpoch = 0;
    friend bool operator==(const EpochMsg &, const EpochMsg &) = default;
};

struct ObserverHelloMsg {
    NodeAddr addr = kNoNode;
    Endpoint endpoint;
    friend bool operator==(const ObserverHelloMsg &, const ObserverHelloMsg &) = default;
};

struct BeaconMsg {
    quint32 ringEpoch = 0;
    NodeAddr master = kNoNode;
    Endpoint masterEndpoint;
    NodeAddr dispatcher = kNoNode;
    quint8 nMembers = 0;
    friend bool operator==(const BeaconMsg &, const BeaconMsg &) = default;
};

QByteArray encodeBody(const JoinMsg &m);
QByteArray encodeBody(const ViewMsg &m);   // asserts the member/observer limits
QByteArray encodeBody(const ViewAckMsg &m);
QByteArray encodeBody(const TokenMsg &m);  // asserts updates.size() <= kMaxMembers
QByteArray encodeBody(const EpochMsg &m);
QByteArray encodeBody(const ObserverHelloMsg &m);
QByteArray encodeBody(const BeaconMsg &m);

// Each returns false (message left in an unspecified state) when the body is Malformed.
bool decodeBody(QByteArrayView body, JoinMsg &m);
bool decodeBody(QByteArrayView body, ViewMsg &m);
bool decodeBody(QByteArrayView body, ViewAckMsg &m);
bool decodeBody(QByteArrayView body, TokenMsg &m);
bool decodeBody(QByteArrayView body, EpochMsg &m);
bool decodeBody(QByteArrayView body, ObserverHelloMsg &m);
bool decodeBody(QByteArrayView body, BeaconMsg &m);

} // namespace sasha::tb
