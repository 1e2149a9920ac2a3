#pragma once
// Out-of-band messages between nodes, sent at once without waiting for the token (paper
// §3.2), and the reliable exchange on top of them: a payload larger than one datagram is cut
// into chunks, each acknowledged, lost ones retransmitted with a doubling timeout, until all
// arrived or Timers::maxRetransmits attempts failed. Pure: (now, input) -> bodies to send.
//
// Bodies (big-endian), carried in envelopes of type OobData / OobAck (messages.h):
//   OobData: transferId u64 | channel u8 | flags u8 (bit0 reliable) | index u16 | count u16 |
//            totalLength u32 | data (rest of body)
//   OobAck:  transferId u64 | index u16
// A receiver delivers a transfer once every chunk arrived, exactly once (duplicates are
// re-acknowledged but not re-delivered); transfer ids are unique per sender and boot epoch.

#include "tokenbeat/types.h"

#include <QByteArray>
#include <QByteArrayView>

#include <map>
#include <memory>
#include <vector>

namespace sasha::tb {

constexpr std::size_t kMaxOobPayload = 1 << 20; // 1 MiB per reliable transfer

class ReliableExchange {
public:
    struct Out {
        NodeAddr to = kNoNode;
        quint8 type = 0;   // MessageType::OobData or MessageType::OobAck
        QByteArray body;
    };
    struct Delivered {
        NodeAddr from = kNoNode;
        quint8 channel = 0;
        QByteArray payload;
    };
    struct Result {
        std::vector<Out> send;
        std::vector<Delivered> delivered;
        std::vector<quint64> completed; // our reliable transfers fully acknowledged
        std::vector<quint64> failed;    // our reliable transfers given up
        quint64 retransmits = 0;
        bool malformed = false;         // an input body did not decode (caller counts it)
    };

    // maxChunkData: payload bytes per chunk, so that envelope + OobData header + data fits the
    // datagram limit. dataType/ackType: the MessageType numbers to put in Out::type.
    ReliableExchange(const Timers &timers, std::size_t maxChunkData, quint8 dataType, quint8 ackType);

    // Returns the transfer id. Unreliable sends must fit one chunk (else nothing is sent and 0
    // is returned). Payloads above kMaxOobPayload are refused (0).
    quint64 send(Time now, NodeAddr to, quint8 channel, const QByteArray &payload, bool reliable,
                 Result &out);
    void onData(Time now, NodeAddr from, QByteArrayView body, Result &out);
    void onAck(Time now, NodeAddr from, QByteArrayView body, Result &out);
    void onTick(Time now, Result &out);
    Time nextDeadline() const; // Time::max() when nothing is pending
    // A peer known to be gone: fail its pending transfers now, drop its partial receptions.
    void forgetPeer(NodeAddr peer, Result &out);

private:
    struct Pending;   // our outgoing reliable transfer
    struct Incoming;  // a transfer being reassembled
    Timers m_timers;
    std::size_t m_maxChunkData;
    quint8 m_dataType, m_ackType;
    quint64 m_nextId = 1;
    std::map<quint64, std::shared_ptr<Pending>> m_pending;
    std::map<std::pair<NodeAddr, quint64>, std::shared_ptr<Incoming>> m_incoming;
    std::map<std::pair<NodeAddr, quint64>, Time> m_recentlyDone; // dedup of completed transfers
};

}  // namespace sasha::tb
