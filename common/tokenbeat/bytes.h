#pragma once
// Big-endian (network order) field codec shared by every SASHA wire format: TokenBeat bodies,
// the reliable out-of-band exchange, connection queries/reports, fault commands and server
// stats. Fields are written and read in order, with no padding and no length prefixes of their
// own; each format's header documents its layout. Pure: no I/O, no allocation beyond the output.

#include <QByteArray>
#include <QByteArrayView>
#include <QtEndian>

namespace sasha {

// Appends big-endian fields to a QByteArray.
class ByteWriter {
public:
    explicit ByteWriter(qsizetype reserve = 0) { m_out.reserve(reserve); }
    void u8(quint8 v) { m_out.append(char(v)); }
    void u16(quint16 v) { put(v); }
    void u32(quint32 v) { put(v); }
    void u64(quint64 v) { put(v); }
    void bytes(QByteArrayView b) { m_out.append(b); }
    // n zero bytes (reserved fields).
    void zeros(qsizetype n) { m_out.append(n, '\0'); }
    qsizetype size() const { return m_out.size(); }
    QByteArray take() { return std::move(m_out); }

private:
    template <typename T>
    void put(T v)
    {
        char b[sizeof(T)];
        qToBigEndian(v, b);
        m_out.append(b, qsizetype(sizeof(T)));
    }
    QByteArray m_out;
};

// Reads big-endian fields from a view it does not own (the bytes must outlive the reader).
// A read that would run past the end returns 0 (or an empty view) and leaves ok() false for
// good, so a decoder can read every field and check ok() once at the end.
class ByteReader {
public:
    explicit ByteReader(QByteArrayView in) : m_in(in) {}
    // True while nothing has failed and n more bytes are present.
    bool need(qsizetype n) const { return m_ok && n >= 0 && n <= m_in.size() - m_pos; }
    quint8 u8() { return take(1) ? quint8(m_in[m_pos - 1]) : 0; }
    quint16 u16() { return get<quint16>(); }
    quint32 u32() { return get<quint32>(); }
    quint64 u64() { return get<quint64>(); }
    QByteArrayView bytes(qsizetype n) { return take(n) ? m_in.sliced(m_pos - n, n) : QByteArrayView(); }
    void skip(qsizetype n) { take(n); }
    qsizetype pos() const { return m_pos; }
    qsizetype remaining() const { return m_in.size() - m_pos; }
    bool ok() const { return m_ok; }

private:
    template <typename T>
    T get()
    {
        return take(qsizetype(sizeof(T))) ? qFromBigEndian<T>(m_in.data() + m_pos - qsizetype(sizeof(T))) : T(0);
    }
    bool take(qsizetype n)
    {
        if (!need(n)) {
            m_ok = false;
            return false;
        }
        m_pos += n;
        return true;
    }
    QByteArrayView m_in;
    qsizetype m_pos = 0;
    bool m_ok = true;
};

} // namespace sasha
