#include "tokenbeat/envelope.h"

#include <QMessageAuthenticationCode>
#include <QtEndian>

#include <algorithm>
#include <limits>

namespace sasha::tb {

namespace {

constexpr quint8 kMagic0 = 0x53; // 'S'
constexpr quint8 kMagic1 = 0x42; // 'B'
constexpr int kWindowSize = 64;   // replay window, in sequence numbers (bits of Window::bitmap)

// Offsets of the header fields (see the layout in envelope.h).
constexpr int kOffMagic = 0;
constexpr int kOffVersion = 2;
constexpr int kOffType = 3;
constexpr int kOffSender = 4;
constexpr int kOffDestIp = 8;
constexpr int kOffDestPort = 12;
constexpr int kOffEpoch = 14;
constexpr int kOffSeq = 22;
constexpr int kOffBodyLen = 30;
static_assert(kOffBodyLen + 2 == kEnvelopeHeaderSize);

// HMAC-SHA256 over data with key, truncated to kMacSize bytes.
QByteArray computeMac(const QByteArray &key, const char *data, qsizetype size)
{
    QMessageAuthenticationCode mac(QCryptographicHash::Sha256, key);
    mac.addData(data, size);
    return mac.result().left(kMacSize);
}

// Constant-time comparison: the time taken does not depend on where the first difference is,
// so an attacker cannot learn a valid MAC byte by byte from response timing.
bool equalConstantTime(const char *a, const char *b, int size)
{
    unsigned char diff = 0;
    for (int i = 0; i < size; ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

} // namespace

Sealer::Sealer(QByteArray key, NodeAddr self, quint64 bootEpoch)
    : m_key(std::move(key)), m_self(self), m_bootEpoch(bootEpoch)
{
}

// Returns an empty QByteArray (and consumes no sequence number) when the key is shorter than
// kMinKeySize or the body does not fit the u16 length field: a datagram we cannot
// authenticate properly, or describe truthfully, is never produced.
QByteArray Sealer::seal(quint8 type, const Endpoint &to, QByteArrayView body)
{
    if (m_key.size() < kMinKeySize || body.size() > std::numeric_limits<quint16>::max())
        return {};
    ++m_seq;
    const auto n = static_cast<quint16>(body.size());
    QByteArray out(kEnvelopeHeaderSize + n, Qt::Uninitialized);
    auto *p = reinterpret_cast<uchar *>(out.data());
    p[kOffMagic] = kMagic0;
    p[kOffMagic + 1] = kMagic1;
    p[kOffVersion] = kEnvelopeVersion;
    p[kOffType] = type;
    qToBigEndian<quint32>(m_self, p + kOffSender);
    qToBigEndian<quint32>(to.ip, p + kOffDestIp);
    qToBigEndian<quint16>(to.port, p + kOffDestPort);
    qToBigEndian<quint64>(m_bootEpoch, p + kOffEpoch);
    qToBigEndian<quint64>(m_seq, p + kOffSeq);
    qToBigEndian<quint16>(n, p + kOffBodyLen);
    if (n > 0)
        std::copy_n(body.data(), n, out.data() + kEnvelopeHeaderSize);
    out.append(computeMac(m_key, out.constData(), out.size()));
    return out;
}

Opener::Opener(QByteArray key, std::vector<Endpoint> accepts, std::size_t maxDatagram, std::size_t maxSenders)
    : m_key(std::move(key)), m_accepts(std::move(accepts)), m_maxDatagram(maxDatagram),
      m_maxSenders(std::max<std::size_t>(1, maxSenders))
{
}

bool Opener::accepts(const Endpoint &destination) const
{
    return std::any_of(m_accepts.begin(), m_accepts.end(), [&](const Endpoint &e) {
        return e.port == destination.port && (e.ip == destination.ip || e.ip == 0);
    });
}

// Checks run cheapest and least trusting first; nothing after the MAC check runs for a
// datagram whose MAC failed, so unauthenticated input never touches the replay state.
std::optional<DropReason> Opener::authenticate(QByteArrayView datagram) const
{
    const auto size = static_cast<std::size_t>(datagram.size());
    if (size < static_cast<std::size_t>(kEnvelopeOverhead))
        return DropReason::Truncated;
    if (size > m_maxDatagram)
        return DropReason::Oversized;
    const auto *p = reinterpret_cast<const uchar *>(datagram.data());
    if (p[kOffMagic] != kMagic0 || p[kOffMagic + 1] != kMagic1)
        return DropReason::BadMagic;
    if (p[kOffVersion] != kEnvelopeVersion)
        return DropReason::UnknownVersion;
    // The body length must account for the datagram exactly: fewer bytes than it announces is
    // Truncated (the tail was cut), more is Malformed (trailing bytes nobody signed up for).
    const std::size_t n = qFromBigEndian<quint16>(p + kOffBodyLen);
    const std::size_t expected = kEnvelopeOverhead + n;
    if (size < expected)
        return DropReason::Truncated;
    if (size > expected)
        return DropReason::Malformed;
    // A short key cannot authenticate anything: every datagram fails as BadMac.
    if (m_key.size() < kMinKeySize)
        return DropReason::BadMac;
    const qsizetype signedSize = kEnvelopeHeaderSize + static_cast<qsizetype>(n);
    const QByteArray mac = computeMac(m_key, datagram.data(), signedSize);
    if (!equalConstantTime(mac.constData(), datagram.data() + signedSize, kMacSize))
        return DropReason::BadMac;
    return std::nullopt;
}

// authenticate() first. The destination is checked after the MAC: only an authentic datagram
// sent to another endpoint (a replay across links) is counted as WrongDestination, never forged
// junk. It is checked before the replay window, which a datagram meant for another receiver
// must not move.
Opener::Result Opener::open(QByteArrayView datagram)
{
    Result r;
    if (const auto bad = authenticate(datagram)) {
        r.reason = *bad;
        return r;
    }
    const auto *p = reinterpret_cast<const uchar *>(datagram.data());
    const std::size_t n = qFromBigEndian<quint16>(p + kOffBodyLen);
    Envelope env;
    env.type = p[kOffType];
    env.sender = qFromBigEndian<quint32>(p + kOffSender);
    env.destination = Endpoint{qFromBigEndian<quint32>(p + kOffDestIp), qFromBigEndian<quint16>(p + kOffDestPort)};
    if (!accepts(env.destination)) {
        r.reason = DropReason::WrongDestination;
        return r;
    }
    env.bootEpoch = qFromBigEndian<quint64>(p + kOffEpoch);
    env.seq = qFromBigEndian<quint64>(p + kOffSeq);
    if (!acceptReplay(env.sender, env.bootEpoch, env.seq, r.reason))
        return r;
    env.body = QByteArray(datagram.data() + kEnvelopeHeaderSize, static_cast<qsizetype>(n));
    r.envelope = std::move(env);
    return r;
}

// Per sender: a higher boot epoch restarts the window, a lower one is StaleEpoch. Within one
// epoch, the RFC 4303 (IPsec ESP) anti-replay window: `highest` is the largest sequence
// accepted, bit i of `bitmap` says whether highest - i was seen. Sequence 0 is never sent.
bool Opener::acceptReplay(NodeAddr sender, quint64 epoch, quint64 seq, DropReason &reason)
{
    if (seq == 0) {
        reason = DropReason::Replay;
        return false;
    }
    auto it = m_windows.find(sender);
    if (it == m_windows.end()) {
        while (m_windows.size() >= m_maxSenders && !m_lru.empty()) {
            m_windows.erase(m_lru.back());
            m_lru.pop_back();
        }
        m_lru.push_front(sender);
        Window w;
        w.bootEpoch = epoch;
        w.highest = seq;
        w.bitmap = 1;
        w.lru = m_lru.begin();
        m_windows.emplace(sender, w);
        return true;
    }
    Window &w = it->second;
    if (epoch < w.bootEpoch) {
        reason = DropReason::StaleEpoch;
        return false;
    }
    if (epoch > w.bootEpoch) {
        w.bootEpoch = epoch;
        w.highest = seq;
        w.bitmap = 1;
    } else if (seq > w.highest) {
        const quint64 shift = seq - w.highest;
        w.bitmap = shift >= kWindowSize ? 1 : (w.bitmap << shift) | 1;
        w.highest = seq;
    } else {
        const quint64 age = w.highest - seq;
        if (age >= kWindowSize || (w.bitmap & (quint64(1) << age))) {
            reason = DropReason::Replay;
            return false;
        }
        w.bitmap |= quint64(1) << age;
    }
    m_lru.splice(m_lru.begin(), m_lru, w.lru); // most recently heard to the front
    return true;
}

} // namespace sasha::tb
