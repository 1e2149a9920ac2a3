#pragma once
// Selecting how a benchmark injects (sashad's own choice is `[dispatcher] injector`, default
// "tx-ring"). The default is the fastest measured by bench_inject (docs/dispatcher.md, 64-byte
// frames, one thread): with the receiver on its own NAPI thread (--switch-threads) the TX ring
// costs ~1.0-1.35 us of CPU per packet and drains 0.97-1.33 Mpps, sendmmsg 2.4-2.7 us (one
// receiver wake-up per message); with the receive inside the send both ~1.8 us.

#include "packetsink.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sasha {

enum class InjectionMethod : std::uint8_t { PcapInject, Sendmmsg, TxRing };
constexpr InjectionMethod kDefaultInjection = InjectionMethod::TxRing;

// "pcap", "sendmmsg", "tx-ring".
const char *injectionMethodName(InjectionMethod method) noexcept;
std::optional<InjectionMethod> parseInjectionMethod(std::string_view name) noexcept;
// What a config error should list.
constexpr const char *kInjectionMethodsAccepted = "\"tx-ring\" (default), \"sendmmsg\", \"pcap\"";

// Opens the network sink on `interface`. Null on failure, with `error` set (naming the capability
// if one is missing).
std::unique_ptr<PacketSink> openInjectionSink(InjectionMethod method, const std::string &interface, std::string &error);

} // namespace sasha
