#include "config/hostnetwork.h"

#include <QHostAddress>
#include <QNetworkInterface>

#include <net/if.h>

namespace sasha {

bool SystemHostNetwork::hasInterface(const QString &name) const
{
    return !name.isEmpty() && ::if_nametoindex(name.toLocal8Bit().constData()) != 0;
}

HostNetwork::AddressUse SystemHostNetwork::addressUse(quint32 ip) const
{
    bool broadcast = false;
    for (const QNetworkInterface &iface : QNetworkInterface::allInterfaces()) {
        const bool loopback = iface.flags().testFlag(QNetworkInterface::IsLoopBack);
        for (const QNetworkAddressEntry &e : iface.addressEntries()) {
            if (e.ip().protocol() != QAbstractSocket::IPv4Protocol)
                continue;
            const quint32 own = e.ip().toIPv4Address();
            const quint32 mask = e.netmask().toIPv4Address();
            if (own == ip || (loopback && (own & mask) == (ip & mask)))
                return AddressUse::Assigned;
            if (!e.broadcast().isNull() && e.broadcast().toIPv4Address() == ip)
                broadcast = true;
        }
    }
    return broadcast ? AddressUse::Broadcast : AddressUse::Foreign;
}

QStringList SystemHostNetwork::interfaceNames() const
{
    QStringList names;
    for (const QNetworkInterface &iface : QNetworkInterface::allInterfaces())
        names << iface.name();
    return names;
}

QStringList SystemHostNetwork::addresses() const
{
    QStringList out;
    for (const QHostAddress &a : QNetworkInterface::allAddresses())
        if (a.protocol() == QAbstractSocket::IPv4Protocol)
            out << a.toString();
    return out;
}

} // namespace sasha
