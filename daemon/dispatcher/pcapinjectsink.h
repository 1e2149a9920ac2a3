#pragma once
// pcap_inject: one send() per frame. The baseline of docs/design.md ("~140k packets/s"); kept
// selectable because it works wherever libpcap does.
//
// The handle is a capture handle underneath, so it would also receive a copy of every frame on
// the interface; a reject-all BPF program makes the kernel drop those before copying them.

#include "packetsink.h"

#include <array>
#include <memory>
#include <string>

struct pcap;

namespace sasha {

class PcapInjectSink final : public PacketSink {
public:
    static std::unique_ptr<PcapInjectSink> open(const std::string &interface, std::string &error);
    ~PcapInjectSink() override;

    std::span<std::uint8_t> acquire() noexcept override { return m_buffer; }
    void commit(std::size_t length) noexcept override;
    SinkResult flush() noexcept override;
    std::string lastError() const override { return m_error; }

private:
    PcapInjectSink(pcap *handle, std::string interface);
    pcap *m_handle;
    std::string m_interface;
    std::string m_error;
    SinkResult m_pending;
    std::array<std::uint8_t, kMaxFrameBytes> m_buffer{};
};

} // namespace sasha
