#pragma once
// Selecting how the dispatcher injects (config key, e.g. `[dispatcher] injection = "sendmmsg"`).
// The default is the fastest measured by bench_inject (docs/dispatcher.md, 64-byte frames, one
// thread): sendmmsg drained 0.42-0.79 Mpps at ~1.6 us of CPU per packet, the TX ring 0.32-0.71
// Mpps (sendmmsg ahead in 5 of 7 runs), pcap_inject 0.20-0.45 Mpps at ~2.2 us.

#include "packetsink.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sasha {

enum class InjectionMethod : std::uint8_t { PcapInject, Sendmmsg, TxRing };
constexpr InjectionMethod kDefaultInjection = InjectionMethod::Sendmmsg;

// "pcap", "sendmmsg", "tx-ring".
const char *injectionMethodName(InjectionMethod method) noexcept;
std::optional<InjectionMethod> parseInjectionMethod(std::string_view name) noexcept;
// What a config error should list.
constexpr const char *kInjectionMethodsAccepted = "\"sendmmsg\" (default), \"tx-ring\", \"pcap\"";

// Opens the network sink on `interface`. Null on failure, with `error` set (naming the capability
// if one is missing).
std::unique_ptr<PacketSink> openInjectionSink(InjectionMethod method, const std::string &interface, std::string &error);

} // namespace sasha
