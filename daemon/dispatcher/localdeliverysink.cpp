#include "localdeliverysink.h"

#include "afpacketsink.h"

#include <algorithm>
#include <fstream>

namespace sasha {

LocalDeliverySink::LocalDeliverySink(std::unique_ptr<PacketSink> loopbackSink) : m_inner(std::move(loopbackSink))
{
}

std::unique_ptr<LocalDeliverySink> LocalDeliverySink::open(std::string &error)
{
    AfPacketSink::Options options;
    options.interface = "lo";
    options.mode = AfPacketSink::Mode::Sendmmsg;
    options.qdiscBypass = false; // lo has no queue anyway
    auto inner = AfPacketSink::open(options, error);
    if (!inner)
        return nullptr;
    return std::make_unique<LocalDeliverySink>(std::move(inner));
}

std::span<std::uint8_t> LocalDeliverySink::acquire() noexcept
{
    const auto buffer = m_inner->acquire();
    m_current = buffer.data();
    return buffer;
}

void LocalDeliverySink::commit(std::size_t length) noexcept
{
    // lo's address is all zeros: with any other destination the frame is "other host".
    if (m_current && length >= 6)
        std::fill_n(m_current, 6, std::uint8_t(0));
    m_inner->commit(length);
}

std::string localDeliveryProblem()
{
    auto readValue = [](const char *path) {
        std::ifstream in(path);
        int value = -1;
        in >> value;
        return value;
    };
    const int all = readValue("/proc/sys/net/ipv4/conf/all/rp_filter");
    const int lo = readValue("/proc/sys/net/ipv4/conf/lo/rp_filter");
    if (std::max(all, lo) == 1)
        return "local delivery needs loose reverse-path filtering: sysctl -w net.ipv4.conf.all.rp_filter=2 "
               "net.ipv4.conf.lo.rp_filter=2 (strict filtering, 1, drops the frames injected on lo)";
    return {};
}

} // namespace sasha
