#pragma once
// Selecting how the dispatcher injects (config key, e.g. `[dispatcher] injection = "sendmmsg"`).
// The default is the fastest measured by bench_inject on the lab (docs/dispatcher.md):
// sendmmsg and the TX ring are within noise of each other (~0.45 Mpps drained by one thread,
// ~1.6 us of CPU per packet), pcap_inject is ~35% slower (~0.3 Mpps, ~2.2 us); sendmmsg won
// the median and needs no ring memory, so it is the default.

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
