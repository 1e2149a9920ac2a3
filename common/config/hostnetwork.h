#pragma once
// HostNetwork: what the config loader asks of the host it runs on, for the checks that only
// hold there (is this interface present, is this address ours). sashad passes
// SystemHostNetwork for --check and at start; tests describe any host they like; without one
// the loader skips these checks (a config may be validated away from its node).

#include <QString>
#include <QStringList>
#include <QtGlobal>

namespace sasha {

class HostNetwork {
public:
    enum class AddressUse {
        Assigned,  // a socket can bind it here: on an interface, or inside a loopback
                   // interface's subnet (Linux's lo answers for all of 127.0.0.0/8)
        Broadcast, // the broadcast address of one of this host's interfaces
        Foreign,   // neither: another host's address (or one in another network namespace)
    };
    virtual ~HostNetwork() = default;
    virtual bool hasInterface(const QString &name) const = 0;
    virtual AddressUse addressUse(quint32 ip) const = 0; // ip in host byte order
    // For messages: the interface names and the IPv4 addresses assigned here.
    virtual QStringList interfaceNames() const = 0;
    virtual QStringList addresses() const = 0;
};

// The host (network namespace) this process runs in: if_nametoindex and the kernel's interface
// list, read at each call.
class SystemHostNetwork final : public HostNetwork {
public:
    bool hasInterface(const QString &name) const override;
    AddressUse addressUse(quint32 ip) const override;
    QStringList interfaceNames() const override;
    QStringList addresses() const override;
};

} // namespace sasha
