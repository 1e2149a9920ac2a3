#pragma once
// AF_PACKET injection without libpcap, in one of two ways:
//  - Sendmmsg: frames are queued in a batch of kBatchFrames and sent with one sendmmsg();
//  - TxRing: frames are written into a PACKET_TX_RING (TPACKET_V2) mapped into our memory and
//    the kernel is kicked once per flush() with one send().
// Both set PACKET_QDISC_BYPASS (frames go straight to the driver's queue; we do our own
// batching and a qdisc would only add a lock and a copy of the decision), and bind with
// protocol 0, so the socket never receives anything (libnet's link writer, an unbound
// ETH_P_ALL socket, filled with copies of all traffic). docs/dispatcher.md has the rates.

#include "packetsink.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace sasha {

class AfPacketSink final : public PacketSink {
public:
    enum class Mode : std::uint8_t { Sendmmsg, TxRing };
    struct Options {
        std::string interface;
        Mode mode = Mode::Sendmmsg;
        bool qdiscBypass = true;
        unsigned ringFrames = 4096; // TxRing: slots of 2 KiB
    };
    static constexpr std::size_t kBatchFrames = 64; // Sendmmsg: frames per system call

    static std::unique_ptr<AfPacketSink> open(const Options &options, std::string &error);
    ~AfPacketSink() override;

    std::span<std::uint8_t> acquire() noexcept override;
    void commit(std::size_t length) noexcept override;
    SinkResult flush() noexcept override;
    std::string lastError() const override { return m_error; }

    int ifindex() const noexcept { return m_ifindex; }

private:
    AfPacketSink(int fd, int ifindex, const Options &options);
    bool setUpRing(std::string &error);
    void sendBatch() noexcept;
    void kickRing(bool wait) noexcept;
    void noteError(const char *what, int error) noexcept;

    int m_fd;
    int m_ifindex;
    Options m_options;
    std::string m_error;
    SinkResult m_pending;

    // Sendmmsg
    std::vector<std::array<std::uint8_t, kMaxFrameBytes>> m_frames;
    std::array<iovec, kBatchFrames> m_iov{};
    std::array<mmsghdr, kBatchFrames> m_messages{};
    std::size_t m_queued = 0;

    // TxRing
    std::uint8_t *m_ring = nullptr;
    std::size_t m_ringBytes = 0;
    std::size_t m_frameSize = 0;
    std::size_t m_cursor = 0;
    std::size_t m_ringQueued = 0; // committed since the last kick
};

const char *afPacketModeName(AfPacketSink::Mode mode) noexcept;

} // namespace sasha
