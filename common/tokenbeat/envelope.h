#pragma once
// The authenticated envelope every TokenBeat datagram travels in, and the replay guard.
// Wire layout (big-endian, docs/tokenbeat.md "Envelope"):
//
//   offset size  field
//   0      2     magic 0x53 0x42 ("SB")
//   2      1     version, currently 2; a receiver drops other versions (counted)
//   3      1     message type (MessageType)
//   4      4     sender NodeAddr
//   8      4     destination IPv4 address: the endpoint the sender sent this datagram to
//   12     2     destination UDP port
//   14     8     sender boot epoch: strictly greater at every start of the sender
//   22     8     sequence number, starts at 1 per boot epoch, +1 per datagram
//   30     2     body length n
//   32     n     body (per message type, see messages.h)
//   32+n   16    HMAC-SHA256 over bytes [0, 32+n) with the cluster key, first 16 bytes
//
// The destination binds a datagram to its link: the MAC covers it, and a receiver accepts only
// datagrams addressed to one of its own endpoints, so a datagram captured on its way to one node
// and replayed to another is dropped as WrongDestination before any replay state or protocol
// logic sees it. The destination is an endpoint, not a NodeAddr, because a joiner announcing
// itself to a seed or a broadcast address does not know who listens there.
// Version 1 (no destination, 26-byte header) is not accepted.
//
// Extending: new message types take new type numbers; a body may grow at its end (decoders
// ignore trailing bytes they do not know); anything else bumps the version.

#include "tokenbeat/node.h" // DropReason
#include "tokenbeat/types.h"

#include <QByteArray>
#include <QByteArrayView>

#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

namespace sasha::tb {

constexpr quint8 kEnvelopeVersion = 2;
constexpr int kEnvelopeHeaderSize = 32;
constexpr int kMacSize = 16;
constexpr int kEnvelopeOverhead = kEnvelopeHeaderSize + kMacSize;
constexpr int kMinKeySize = 16;

struct Envelope {
    quint8 type = 0;
    NodeAddr sender = kNoNode;
    Endpoint destination; // where the sender addressed it (one of the opener's endpoints)
    quint64 bootEpoch = 0;
    quint64 seq = 0;
    QByteArray body;
};

// Seals outgoing bodies for one sender. Not thread-safe; one per node.
class Sealer {
public:
    Sealer(QByteArray key, NodeAddr self, quint64 bootEpoch);
    // Seals body for the endpoint it is sent to; takes the next sequence number. A datagram
    // for several endpoints is sealed once per endpoint.
    QByteArray seal(quint8 type, const Endpoint &to, QByteArrayView body);
    quint64 lastSeq() const { return m_seq; }

private:
    QByteArray m_key;
    NodeAddr m_self;
    quint64 m_bootEpoch;
    quint64 m_seq = 0;
};

// Verifies incoming datagrams: size, magic, version, MAC, destination, then replay (per sender:
// boot epoch and a 64-entry sliding window of sequence numbers, as IPsec does). The replay state
// is updated only for datagrams whose MAC verified and that were addressed to this receiver.
// Remembers at most maxSenders senders (least recently heard forgotten first).
class Opener {
public:
    struct Result {
        std::optional<Envelope> envelope; // set when accepted
        DropReason reason = DropReason::Truncated; // meaningful when rejected
    };
    // accepts: the endpoints this receiver is reached at (its own; the broadcast endpoint it
    // listens on, if any). One with ip 0 (a socket bound to the wildcard address) accepts any
    // destination address at its port.
    Opener(QByteArray key, std::vector<Endpoint> accepts, std::size_t maxDatagram = 1400,
           std::size_t maxSenders = 4096);
    Result open(QByteArrayView datagram);
    // What open() checks before the destination and the replay window: size, magic, version,
    // length and MAC. nullopt when the datagram is authentic. Touches no state, so a receive thread with its own Opener can
    // reject junk before the ring's thread sees it (docs/tokenbeat.md "Receive path").
    std::optional<DropReason> authenticate(QByteArrayView datagram) const;

private:
    struct Window {
        quint64 bootEpoch = 0;
        quint64 highest = 0;
        quint64 bitmap = 0; // bit i set: sequence (highest - i) was seen
        std::list<NodeAddr>::iterator lru;
    };
    bool acceptReplay(NodeAddr sender, quint64 epoch, quint64 seq, DropReason &reason);
    bool accepts(const Endpoint &destination) const;

    QByteArray m_key;
    std::vector<Endpoint> m_accepts;
    std::size_t m_maxDatagram;
    std::size_t m_maxSenders;
    std::unordered_map<NodeAddr, Window> m_windows;
    std::list<NodeAddr> m_lru; // front = most recently heard
};

}  // namespace sasha::tb
