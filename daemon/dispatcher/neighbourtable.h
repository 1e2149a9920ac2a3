#pragma once
// The MAC address of each server's node address, for the L4/2 rewrite, read from the kernel's
// neighbour table (the ARP cache). TokenBeat traffic to every member keeps those entries fresh;
// when one is missing, solicit() sends a UDP datagram to the discard port (9) of that node,
// which makes the kernel resolve it, and the caller looks again a little later.
//
// Sources, in order: netlink RTM_GETNEIGH (a dump of the AF_INET table), then /proc/net/arp.
// Thread: any one thread (the control plane); each call opens and closes its sockets.

#include "fastpath/flowkey.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sasha {

struct Neighbour {
    std::uint32_t address = 0; // IPv4, host byte order
    MacAddress mac{};
    int ifindex = 0;           // 0 when unknown (/proc/net/arp names the device instead)
    std::string device;
};

class NeighbourLookup {
public:
    virtual ~NeighbourLookup() = default;
    virtual std::optional<MacAddress> lookup(std::uint32_t address) = 0;
    // Makes the kernel resolve `address`; false (with a reason) if it will not try.
    virtual bool solicit(std::uint32_t address) = 0;
};

class KernelNeighbourTable final : public NeighbourLookup {
public:
    // clusterNetwork/prefixLength: solicit() only ever sends inside this subnet (the cluster's
    // member addresses). interface: restrict lookups to it (empty = any).
    KernelNeighbourTable(std::uint32_t clusterNetwork, int prefixLength, std::string interface = {});

    std::optional<MacAddress> lookup(std::uint32_t address) override;
    // Every usable entry on the interface, from one dump (a lookup of many addresses at once).
    std::map<std::uint32_t, MacAddress> resolved();
    bool solicit(std::uint32_t address) override;
    // lookup, and if missing solicit and look again every `wait`, at most `attempts` times.
    // Blocks up to attempts * wait: for start-up and tests, not for the control plane's event loop.
    std::optional<MacAddress> resolveBlocking(std::uint32_t address, int attempts, std::chrono::milliseconds wait);

    // The usable entries (resolved: reachable, stale, delay, probe, permanent, noarp).
    std::vector<Neighbour> dump();
    std::string lastError() const { return m_error; }

    static std::vector<Neighbour> dumpNetlink(std::string &error);
    // A permanent entry address -> mac on `interface` (RTM_NEWNEIGH, created or replaced; needs
    // CAP_NET_ADMIN). For the NAT gateway on the dispatcher itself: its own stack's replies go to
    // the VMAC without an ARP request that only it could answer. False with `error` set on failure.
    static bool setPermanent(const std::string &interface, std::uint32_t address, const MacAddress &mac,
                             std::string &error);
    static std::vector<Neighbour> parseProcNetArp(std::string_view text);

private:
    bool inCluster(std::uint32_t address) const noexcept;

    std::uint32_t m_network;
    std::uint32_t m_mask;
    std::string m_interface;
    int m_ifindex = 0;
    std::string m_error;
};

} // namespace sasha
