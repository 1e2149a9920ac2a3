#include "injectionmethod.h"

#include "afpacketsink.h"
#include "pcapinjectsink.h"

namespace sasha {

const char *injectionMethodName(InjectionMethod method) noexcept
{
    switch (method) {
    case InjectionMethod::PcapInject:
        return "pcap";
    case InjectionMethod::Sendmmsg:
        return "sendmmsg";
    case InjectionMethod::TxRing:
        return "tx-ring";
    }
    return "?";
}

std::optional<InjectionMethod> parseInjectionMethod(std::string_view name) noexcept
{
    for (const auto m : {InjectionMethod::PcapInject, InjectionMethod::Sendmmsg, InjectionMethod::TxRing}) {
        if (name == injectionMethodName(m))
            return m;
    }
    return std::nullopt;
}

std::unique_ptr<PacketSink> openInjectionSink(InjectionMethod method, const std::string &interface, std::string &error)
{
    if (method == InjectionMethod::PcapInject)
        return PcapInjectSink::open(interface, error);
    AfPacketSink::Options options;
    options.interface = interface;
    options.mode = method == InjectionMethod::TxRing ? AfPacketSink::Mode::TxRing : AfPacketSink::Mode::Sendmmsg;
    return AfPacketSink::open(options, error);
}

} // namespace sasha
