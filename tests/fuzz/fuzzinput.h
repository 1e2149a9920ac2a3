#pragma once
// What the libFuzzer targets share: the check that stops a run, and a reader that cuts the
// fuzzer's bytes into the fields of a script. Reads past the end return 0 / an empty view, so a
// target can read a whole step and check done() once, like tb::ByteReader.

#include <QByteArray>
#include <QByteArrayView>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

// A broken promise stops the run with the check's text; libFuzzer saves the input as a crash.
#define FUZZ_CHECK(condition)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition);     \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)

namespace sasha::fuzz {

class FuzzInput {
public:
    FuzzInput(const std::uint8_t *data, std::size_t size) : m_data(data), m_size(size) {}
    bool done() const { return m_pos >= m_size; }
    std::size_t remaining() const { return m_size - m_pos; }
    std::uint8_t u8() { return m_pos < m_size ? m_data[m_pos++] : 0; }
    std::uint16_t u16() { return std::uint16_t(u8() << 8 | u8()); }
    std::uint32_t u32() { return std::uint32_t(u16()) << 16 | u16(); }
    std::uint64_t u64() { return std::uint64_t(u32()) << 32 | u32(); }
    // Up to n bytes (fewer at the end of the input).
    QByteArrayView bytes(std::size_t n)
    {
        const std::size_t k = n < remaining() ? n : remaining();
        const QByteArrayView v(reinterpret_cast<const char *>(m_data + m_pos), qsizetype(k));
        m_pos += k;
        return v;
    }
    QByteArrayView rest() { return bytes(remaining()); }

private:
    const std::uint8_t *m_data;
    std::size_t m_size;
    std::size_t m_pos = 0;
};

} // namespace sasha::fuzz
