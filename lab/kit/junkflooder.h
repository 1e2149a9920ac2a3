#pragma once
// JunkFlooder: unauthenticated datagrams aimed at TokenBeat ports, as fast as one thread can
// send them (or at a given rate), for the flood test and bench_tokenbeat --flood (issue 11
// "Tokens are never lost to junk"). Only ever aimed at loopback or a namespace the caller made.
//
// Kinds: Random = random bytes of random length (16..1400); Forged = a well-formed envelope
// header (magic, version, a token's type, a ring member's address as sender, a fresh sequence)
// with a random body and MAC, so only the HMAC can tell it from the real thing.
// Thread: start() spawns the sending thread, stop() (or the destructor) joins it; the counters
// may be read from any thread.

#include <QtGlobal>

#include <atomic>
#include <thread>
#include <vector>

namespace sasha::lab {

class JunkFlooder {
public:
    enum class Kind { Random, Forged };
    struct Target {
        quint32 ip = 0; // host byte order
        quint16 port = 0;
    };
    struct Options {
        std::vector<Target> targets; // round robin
        Kind kind = Kind::Random;
        double rate = 0;             // datagrams per second over all targets; 0 = as fast as possible
        quint32 forgedSender = 0;    // Forged: the sender address written into the header
        quint32 seed = 1;
    };

    explicit JunkFlooder(Options options);
    ~JunkFlooder();
    JunkFlooder(const JunkFlooder &) = delete;
    JunkFlooder &operator=(const JunkFlooder &) = delete;

    bool start(QString *error);
    void stop();
    quint64 sent() const { return m_sent.load(std::memory_order_relaxed); }
    quint64 sendErrors() const { return m_errors.load(std::memory_order_relaxed); }

private:
    void run();

    Options m_options;
    int m_fd = -1;
    std::thread m_thread;
    std::atomic<bool> m_stop{false};
    std::atomic<quint64> m_sent{0}, m_errors{0};
};

} // namespace sasha::lab
