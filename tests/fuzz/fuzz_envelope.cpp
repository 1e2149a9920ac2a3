// libFuzzer target: the TokenBeat envelope (tokenbeat/envelope.h) with a fixed key. The first
// byte picks what the rest is:
//   even: one datagram for a long-lived Opener. open() and authenticate() must agree: a
//         datagram authenticate() refuses is refused by open() for the same reason, and one
//         open() accepts carries the MAC of its bytes under the key.
//   odd:  a script of up to kMaxRecords records, each a datagram signed with the key whose sender, boot epoch,
//         sequence, destination and body the fuzzer chose, opened by a fresh Opener that
//         remembers 3 senders. Every verdict must match a model of the replay rules written
//         apart here (sets of seen sequences instead of a bitmap); the first record's body sealed
//         by a Sealer must open to the same fields, and with any one byte changed must not open.
// Run: fuzz_envelope -max_len=2048 [corpus dir]

#include "fuzzinput.h"
#include "tokenbeat/envelope.h"

#include <QMessageAuthenticationCode>
#include <QtEndian>

#include <list>
#include <map>
#include <set>

using namespace sasha;
using namespace sasha::tb;
using sasha::fuzz::FuzzInput;

namespace {

const QByteArray kKey("fuzz-cluster-key-0123456789abcdef");
constexpr Endpoint kSelf{0x7F000001, 7400};
constexpr Endpoint kOther{0x7F000002, 7400};
constexpr std::size_t kMaxDatagram = 1400;
constexpr std::size_t kModelSenders = 3;
constexpr int kMaxRecords = 10; // enough to fill and slide windows; more only slows the run

QByteArray macOf(QByteArrayView signedBytes)
{
    return QMessageAuthenticationCode::hash(signedBytes.toByteArray(), kKey, QCryptographicHash::Sha256).left(kMacSize);
}

// The envelope laid out from its documented wire format, independently of Sealer.
QByteArray signedDatagram(quint8 type, NodeAddr sender, Endpoint to, quint64 epoch, quint64 seq, QByteArrayView body)
{
    QByteArray d(kEnvelopeHeaderSize, '\0');
    auto *p = reinterpret_cast<uchar *>(d.data());
    p[0] = 0x53;
    p[1] = 0x42;
    p[2] = kEnvelopeVersion;
    p[3] = type;
    qToBigEndian<quint32>(sender, p + 4);
    qToBigEndian<quint32>(to.ip, p + 8);
    qToBigEndian<quint16>(to.port, p + 12);
    qToBigEndian<quint64>(epoch, p + 14);
    qToBigEndian<quint64>(seq, p + 22);
    qToBigEndian<quint16>(quint16(body.size()), p + 30);
    d.append(body);
    d.append(macOf(d));
    return d;
}

// The replay rules of envelope.h: per sender a boot epoch and the 64 sequences below the
// highest accepted one; the least recently accepted sender is forgotten first.
class ReplayModel {
public:
    std::optional<DropReason> accept(NodeAddr sender, quint64 epoch, quint64 seq)
    {
        if (seq == 0)
            return DropReason::Replay;
        auto it = m_senders.find(sender);
        if (it == m_senders.end()) {
            while (m_senders.size() >= kModelSenders) {
                m_senders.erase(m_lru.back());
                m_lru.pop_back();
            }
            m_senders[sender] = {epoch, seq, {seq}};
        } else {
            Sender &s = it->second;
            if (epoch < s.epoch)
                return DropReason::StaleEpoch;
            if (epoch > s.epoch) {
                s = {epoch, seq, {seq}};
            } else if (seq > s.highest) {
                s.highest = seq;
                s.seen.insert(seq);
                s.seen.erase(s.seen.begin(), s.seen.lower_bound(seq >= 63 ? seq - 63 : 0));
            } else if (s.highest - seq >= 64 || s.seen.contains(seq)) {
                return DropReason::Replay;
            } else {
                s.seen.insert(seq);
            }
            m_lru.remove(sender);
        }
        m_lru.push_front(sender);
        return std::nullopt;
    }

private:
    struct Sender {
        quint64 epoch = 0;
        quint64 highest = 0;
        std::set<quint64> seen;
    };
    std::map<NodeAddr, Sender> m_senders;
    std::list<NodeAddr> m_lru; // front: most recently accepted
};

void checkRaw(QByteArrayView datagram)
{
    static Opener opener(kKey, {kSelf, Endpoint{0, 7401}}, kMaxDatagram, 64);
    const std::optional<DropReason> bad = opener.authenticate(datagram);
    const Opener::Result r = opener.open(datagram);
    if (bad) {
        FUZZ_CHECK(!r.envelope && r.reason == *bad);
        return;
    }
    FUZZ_CHECK(std::size_t(datagram.size()) <= kMaxDatagram);
    FUZZ_CHECK(datagram.last(kMacSize) == macOf(datagram.first(datagram.size() - kMacSize)));
    if (r.envelope)
        FUZZ_CHECK(r.envelope->body.size() + kEnvelopeOverhead == datagram.size());
    else
        FUZZ_CHECK(r.reason == DropReason::WrongDestination || r.reason == DropReason::Replay
                   || r.reason == DropReason::StaleEpoch);
}

void checkSealed(quint8 type, const Endpoint &to, QByteArrayView body, std::size_t flipAt, quint8 flipBits)
{
    Sealer sealer(kKey, 0x0A000001, 42);
    const QByteArray d = sealer.seal(type, to, body);
    FUZZ_CHECK(d.size() == body.size() + kEnvelopeOverhead && sealer.lastSeq() == 1);
    Opener opener(kKey, {to}, kMaxDatagram);
    const Opener::Result r = opener.open(d);
    if (std::size_t(d.size()) > kMaxDatagram) {
        FUZZ_CHECK(!r.envelope && r.reason == DropReason::Oversized);
        return;
    }
    FUZZ_CHECK(r.envelope);
    const Envelope &e = *r.envelope;
    FUZZ_CHECK(e.type == type && e.sender == 0x0A000001 && e.destination == to && e.bootEpoch == 42
               && e.seq == 1 && e.body == body);
    QByteArray changed = d;
    changed[qsizetype(flipAt % std::size_t(d.size()))] ^= char(flipBits | 1);
    Opener fresh(kKey, {to}, kMaxDatagram);
    FUZZ_CHECK(fresh.authenticate(changed).has_value() && !fresh.open(changed).envelope);
}

void runScript(FuzzInput &in)
{
    Opener opener(kKey, {kSelf}, kMaxDatagram, kModelSenders);
    ReplayModel model;
    for (int i = 0; i < kMaxRecords && !in.done(); ++i) {
        const quint8 type = in.u8();
        const NodeAddr sender = 1 + in.u8() % 5;
        const quint64 epoch = in.u8() % 4;
        const quint8 seqHigh = in.u8();
        // Mostly small sequences, so that windows fill and slide; sometimes far ones.
        const quint64 seq = seqHigh & 0x80 ? (quint64(seqHigh) << 56 | in.u16()) : quint64(seqHigh) << 8 | in.u8();
        const bool toSelf = !(type & 0x80);
        const quint8 bodyLen = in.u8() % 32;
        const QByteArrayView body = in.bytes(bodyLen);
        const QByteArray d = signedDatagram(type, sender, toSelf ? kSelf : kOther, epoch, seq, body);
        const Opener::Result r = opener.open(d);
        const std::optional<DropReason> expected =
            toSelf ? model.accept(sender, epoch, seq) : std::optional(DropReason::WrongDestination);
        FUZZ_CHECK(r.envelope.has_value() == !expected.has_value());
        if (expected) {
            FUZZ_CHECK(r.reason == *expected);
        } else {
            const Envelope &e = *r.envelope;
            FUZZ_CHECK(e.type == type && e.sender == sender && e.bootEpoch == epoch && e.seq == seq && e.body == body);
        }
        if (i == 0)
            checkSealed(type, toSelf ? kSelf : kOther, body, seq, quint8(epoch << 4 | sender));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    FuzzInput in(data, size);
    const quint8 mode = in.u8();
    if (mode & 1) {
        runScript(in);
    } else {
        const QByteArrayView datagram = in.rest();
        checkRaw(datagram);
        checkSealed(mode, kSelf, datagram, size, mode);
    }
    return 0;
}
