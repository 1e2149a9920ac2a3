#pragma once
// FailoverTracker: times the phases of each failover from the event stream (pure: events in,
// records out; no clock). Phases, each from the end of the previous one (µs, feed clock):
//   detection       fault-injected -> first token-timeout / purge-started (only when the console
//                   injected the fault: nobody else knows when a crash happened)
//   re-formation    token-timeout / purge-started -> ring-formed
//   election        ring-formed -> dispatcher-elected (only when the dispatcher changed)
//   reconstruction  dispatcher-elected -> reconstruction-completed (sashad event)
//   first packet    dispatcher-elected -> first-forward (sashad event)
// Events come from the daemons (the event feed, or --control-socket), each on this console's
// clock, in any order across daemons: a detection stamped before the open failover's
// ring-formed belongs to it, and the earliest report of each phase counts. Without daemon
// events (views only: an observer is never sent a Purge) a ring-formed outside a failover also
// opens one (detection and re-formation then count as one span from the injected fault, if any).
// A fault-injected reported by a daemon (e.g. sent by sashactl) times detection like one
// injected by this console.
// A failover opens at the first detection event and closes once both reconstruction-completed and
// first-forward were seen, or
// kCloseAfterUs after detection with the phases that were seen ("—" for the rest).

#include "control/controlprotocol.h"

#include <QString>

#include <optional>
#include <vector>

namespace sasha::console {

struct Failover {
    qint64 faultUs = 0;    // 0 = not injected by the console
    qint64 detectedUs = 0;
    qint64 formedUs = 0;
    qint64 electedUs = 0;
    qint64 reconstructedUs = 0;
    qint64 firstPacketUs = 0;
    QString cause;         // "crash 127.0.0.1" / "token timeout"
    QString newDispatcher; // empty when the dispatcher did not change
    bool closed = false;

    static qint64 span(qint64 from, qint64 to) { return from && to ? std::max<qint64>(0, to - from) : -1; }
    qint64 detectionUs() const { return span(faultUs, detectedUs); }
    qint64 reformationUs() const { return span(detectedUs, formedUs); }
    qint64 electionUs() const { return span(formedUs ? formedUs : detectedUs, electedUs); }
    qint64 reconstructionUs() const { return span(electedUs, reconstructedUs); }
    qint64 firstPacketAfterUs() const { return span(electedUs, firstPacketUs); }
    qint64 startUs() const { return faultUs ? faultUs : detectedUs ? detectedUs : formedUs; }
    qint64 totalUs() const; // start -> last phase seen
};

QString formatPhase(qint64 us); // "142 ms", "1.52 s", "—" for -1
// A fault-injected event as the failover's cause and the chart's marker say it: a daemon reports
// its own fault as node = itself, detail = "crash by <sender>", so the node is named first.
QString faultCause(const ControlEvent &fault);

class FailoverTracker {
public:
    static constexpr qint64 kCloseAfterUs = 10'000'000;
    static constexpr qint64 kFaultRelevanceUs = 10'000'000; // a fault older than this caused nothing

    // Feeds one event; returns the phase it completes as text for the timeline ("re-formation
    // 41 ms"), or an empty string.
    QString onEvent(const ControlEvent &e);
    // Closes a failover that has been open longer than kCloseAfterUs at nowUs.
    bool closeStale(qint64 nowUs);

    const std::vector<Failover> &failovers() const { return m_failovers; }
    bool isOpen() const { return !m_failovers.empty() && !m_failovers.back().closed; }

private:
    std::vector<Failover> m_failovers;
    std::optional<ControlEvent> m_lastFault;
};

} // namespace sasha::console
