#pragma once
// The authenticated envelope every TokenBeat datagram travels in, and the replay guard.
// Wire layout (big-endian, docs/tokenbeat.md "Envelope"):
//
//   offset size  field
//   0      2     magic 0x53 0x42 ("SB")
//   2      1     version, currently 1; a receiver drops other versions (counted)
//   3      1     message type (MessageType)
//   4      4     sender NodeAddr
//   8      8     sender boot epoch: strictly greater at every start of the sender
//   16     8     sequence number, starts at 1 per boot epoch, +1 per datagram
//   24     2     body length n
//   26     n     body (per message type, see messages.h)
//   26+n   16    HMAC-SHA256 over bytes [0, 26+n) with the cluster key, first 16 bytes
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

namespace sasha::tb {

constexpr quint8 kEnvelopeVersion = 1;
constexpr int kEnvelopeHeaderSize = 26;
constexpr int kMacSize = 16;
constexpr int kEnvelopeOverhead = kEnvelopeHeaderSize + kMacSize;
constexpr int kMinKeySize = 16;

struct Envelope {
    quint8 type = 0;
    NodeAddr sender = kNoNode;
    quint64 bootEpoch = 0;
    quint64 seq = 0;
    QByteArray body;
};

// Seals outgoing bodies for one sender. Not thread-safe; one per node.
class Sealer {
public:
    Sealer(QByteArray key, NodeAddr self, quint64 bootEpoch);
    QByteArray seal(quint8 type, QByteArrayView body); // takes the next sequence number
    quint64 lastSeq() const { return m_seq; }

private:
    QByteArray m_key;
    NodeAddr m_self;
    quint64 m_bootEpoch;
    quint64 m_seq = 0;
};

// Verifies incoming datagrams: size, magic, version, MAC, then replay (per sender: boot epoch
// and a 64-entry sliding window of sequence numbers, as IPsec does). The replay state is
// updated only for datagrams whose MAC verified. Remembers at most maxSenders senders (least
// recently heard forgotten first).
class Opener {
public:
    struct Result {
        std::optional<Envelope> envelope; // set when accepted
        DropReason reason = DropReason::Truncated; // meaningful when rejected
    };
    explicit Opener(QByteArray key, std::size_t maxDatagram = 1400, std::size_t maxSenders = 4096);
    Result open(QByteArrayView datagram);
    // Everything open() checks except replay: size, magic, version, length and MAC. nullopt when
    // the datagram is authentic. Touches no state, so a receive thread with its own Opener can
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

    QByteArray m_key;
    std::size_t m_maxDatagram;
    std::size_t m_maxSenders;
    std::unordered_map<NodeAddr, Window> m_windows;
    std::list<NodeAddr> m_lru; // front = most recently heard
};

}  // namespace sasha::tb
