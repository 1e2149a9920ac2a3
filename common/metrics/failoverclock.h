#pragma once
// FailoverClock: what sashad's failover histogram measures (docs/metrics.md "Failover time").
// A failover, seen from the node that takes over, runs from the moment this node learned that
// the ring was broken (its own token timeout, or a peer's purge: the first purge-started or
// token-timeout since the last election) to the first frame this node forwards as the new
// dispatcher. The moment of the fault itself is not observable by the survivor; it lies at most
// one token timeout before the detection (docs/tokenbeat.md "Timers").
// A detection is forgotten when the ring elects another node, when this node was already
// dispatching (the role persists through a purge: no takeover), or after kMaxPendingUs.
// Pure: the caller passes the times (CLOCK_MONOTONIC µs, RingDriver::steadyNow()).

#include <QtGlobal>

#include <optional>

namespace sasha {

class FailoverClock {
public:
    static constexpr qint64 kMaxPendingUs = 60'000'000;

    // A purge this node saw start, or its own token timeout, at monoUs.
    void onRingBroken(qint64 monoUs)
    {
        if (!m_detectedUs)
            m_detectedUs = monoUs;
    }
    // The ring elected a dispatcher. self: this node; wasDispatching: its data path already ran.
    void onDispatcherElected(bool self, bool wasDispatching)
    {
        if (!self || wasDispatching)
            m_detectedUs.reset();
    }
    // This node's data path forwarded its first frame of a run at monoUs: the failover's
    // duration in seconds when a detection was pending, else nullopt (a start-up, a handover).
    std::optional<double> onFirstForward(qint64 monoUs)
    {
        const std::optional<qint64> at = m_detectedUs;
        m_detectedUs.reset();
        if (!at || monoUs < *at || monoUs - *at > kMaxPendingUs)
            return std::nullopt;
        return double(monoUs - *at) / 1e6;
    }
    bool pending() const { return m_detectedUs.has_value(); }

private:
    std::optional<qint64> m_detectedUs;
};

} // namespace sasha
