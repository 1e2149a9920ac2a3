#include "transport/observeraddress.h"

#include <QHostAddress>
#include <QNetworkInterface>

#include <algorithm>

namespace sasha {

quint32 defaultObserverAddress(const std::vector<tb::Endpoint> &seeds, qint64 pid)
{
    const bool loopback = seeds.empty() || std::all_of(seeds.begin(), seeds.end(), [](const tb::Endpoint &e) { return (e.ip >> 24) == 127; });
    if (loopback) {
        quint32 low = quint32(pid) & 0xffff;
        if (low == 0 || low == 0xffff) // not the network nor the broadcast address
            low = 1;
        return 0x7fff0000u | low;
    }
    for (const QHostAddress &a : QNetworkInterface::allAddresses())
        if (a.protocol() == QAbstractSocket::IPv4Protocol && !a.isLoopback())
            return a.toIPv4Address();
    return 0x7fff0001u;
}

}  // namespace sasha
