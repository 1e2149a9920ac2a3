#pragma once
// DispatcherService::Running: everything that exists only while this node dispatches. Private to
// the two files that implement DispatcherService (dispatcherservice.cpp: the role's life cycle,
// tables and handover; dispatcherreports.cpp: the status JSON, the connection map, the flow feed).

#include "dispatcherservice.h"

#include "dispatcher/arpresponder.h"
#include "dispatcher/dispatcherthread.h"
#include "dispatcher/localdeliverysink.h"
#include "dispatcher/pcapsource.h"
#include "dispatcher/vmacannouncer.h"
#include "fastpath/fastpath.h"
#include "flowmapprocessor.h"

#include <memory>

namespace sasha {

// The [dispatcher] scheduler's name, as in the config and the status JSON.
inline const char *schedulerName(SchedulerKind k)
{
    switch (k) {
    case SchedulerKind::Maglev: return "maglev";
    case SchedulerKind::WeightedLeastConnections: return "wlc";
    case SchedulerKind::RoundRobin: return "rr";
    }
    return "?";
}

// Everything that exists only while this node dispatches. Members are declared in dependency
// order: the thread (declared last) is destroyed first, and it is stopped before anything else.
struct DispatcherService::Running {
    ServerTableHandoff tables;
    std::unique_ptr<FastPath> fastPath;
    // Shared with the "connections" and handover-copy workers (snapshotOnWorker), which may outlive
    // this run: stop() does not wait for them (a 100k-flow JSON takes seconds on a busy machine,
    // and stop() runs on the thread that relays the token).
    std::shared_ptr<FlowMapProcessor> processor;
    std::unique_ptr<PacketSource> source;
    PcapLiveSource *capture = nullptr; // == source, typed: the takeover switches its filter
    std::unique_ptr<PacketSink> sink;
    std::unique_ptr<LocalDeliverySink> local;
    std::unique_ptr<VmacAnnouncer> announcer;
    std::unique_ptr<ArpResponder> arp; // answers ARP for the VIP while the thread announces
    std::unique_ptr<DispatcherThread> thread;
    qint64 startedMonoUs = 0;
    qint64 electedMonoUs = 0; // start() entered: the ring had just made this node the dispatcher
    bool takeoverLogged = false;
    bool reused = false; // capture and injector are the last run's (Recycled)

    ~Running()
    {
        if (thread)
            thread->stop();
    }
};

// A stopped run's capture and injector, kept for the next preparation (DispatcherService::
// recycle). Opening a capture maps its ring (32 MiB) and closing packet sockets waits for the
// kernel. In lab_bigtables the ring's thread was 148 ms late (a purge) exactly while a worker at
// a lower priority rebuilt them after a handover, likely because both hold the process's
// memory-map lock, which the ring's thread needs for its next large allocation (not proven). A
// node that hands over keeps them: no ring mapped or unmapped per handover.
struct DispatcherService::Recycled {
    std::unique_ptr<PacketSource> source;
    PcapLiveSource *capture = nullptr;
    std::unique_ptr<PacketSink> sink;
    unsigned ifindex = 0; // the interface they are bound to: reused only if it is still that one
};

} // namespace sasha
