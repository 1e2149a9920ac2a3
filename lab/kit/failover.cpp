#include "failover.h"

#include <QJsonObject>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <limits>

namespace sasha::lab {

int currentDispatcher(const LoopbackCluster &cluster, const std::vector<int> &live)
{
    if (live.empty())
        return -1;
    const QString d = cluster.dispatcherSeenBy(live.front());
    for (int i : live)
        if (cluster.address(i) == d)
            return i;
    return -1;
}

double percentile(std::vector<double> values, double p)
{
    if (values.empty())
        return std::numeric_limits<double>::quiet_NaN();
    std::sort(values.begin(), values.end());
    const double rank = p / 100.0 * double(values.size() - 1);
    const auto lo = std::size_t(std::floor(rank));
    const auto hi = std::size_t(std::ceil(rank));
    return values[lo] + (values[hi] - values[lo]) * (rank - double(lo));
}

FailoverTiming killDispatcherAndTime(LoopbackCluster &cluster, std::vector<int> &live, int timeoutMs)
{
    FailoverTiming r;
    const int victim = currentDispatcher(cluster, live);
    if (victim < 0) {
        r.error = QStringLiteral("no agreed dispatcher before the kill");
        return r;
    }
    r.killed = victim;
    r.oldDispatcher = cluster.address(victim);
    const qint64 t0 = monotonicUs();
    cluster.signal(victim, SIGKILL);
    cluster.waitExit(victim, 2000);
    live.erase(std::remove(live.begin(), live.end(), victim), live.end());

    QString why;
    const bool settled = LoopbackCluster::waitUntil(
        [&] {
            if (!cluster.ringIs(live, &why))
                return false;
            const QString d = cluster.dispatcherSeenBy(live.front());
            return !d.isEmpty() && d != r.oldDispatcher;
        },
        timeoutMs, 5);
    r.settledMs = double(monotonicUs() - t0) / 1000.0;
    if (!settled) {
        r.error = QStringLiteral("survivors did not agree on a new ring within %1 ms: %2").arg(timeoutMs).arg(why);
        return r;
    }
    r.newDispatcher = cluster.dispatcherSeenBy(live.front());

    std::vector<QJsonObject> evs;
    for (int i : live) {
        for (const auto &v : cluster.events(i)) {
            QJsonObject e = v.toObject();
            const qint64 us = e.value(QStringLiteral("monoUs")).toInteger();
            if (us < t0)
                continue;
            e.insert(QStringLiteral("tMs"), double(us - t0) / 1000.0);
            e.insert(QStringLiteral("seenBy"), cluster.address(i));
            evs.push_back(e);
        }
    }
    std::sort(evs.begin(), evs.end(), [](const QJsonObject &a, const QJsonObject &b) {
        return a.value(QStringLiteral("tMs")).toDouble() < b.value(QStringLiteral("tMs")).toDouble();
    });
    std::vector<QString> purged;
    for (const auto &e : evs) {
        r.timeline.append(e);
        const QString kind = e.value(QStringLiteral("kind")).toString();
        const double t = e.value(QStringLiteral("tMs")).toDouble();
        const QString by = e.value(QStringLiteral("seenBy")).toString();
        if (kind == QLatin1String("token-timeout") && r.detectMs < 0)
            r.detectMs = t;
        if (kind == QLatin1String("purge-started")
            && std::find(purged.begin(), purged.end(), by) == purged.end()) {
            purged.push_back(by);
            r.purgeMs = t;
        }
        if (kind == QLatin1String("ring-formed") && r.reformMs < 0)
            r.reformMs = t;
        if (kind == QLatin1String("dispatcher-elected") && r.electMs < 0
            && e.value(QStringLiteral("node")).toString() == r.newDispatcher && by == r.newDispatcher)
            r.electMs = t;
    }
    if (r.detectMs < 0 && !evs.empty())
        r.detectMs = evs.front().value(QStringLiteral("tMs")).toDouble();
    r.ok = r.electMs >= 0;
    if (!r.ok)
        r.error = QStringLiteral("the new dispatcher %1 logged no dispatcher-elected event").arg(r.newDispatcher);
    return r;
}

}  // namespace sasha::lab
