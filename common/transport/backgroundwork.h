#pragma once
// Work that must not run on the thread that relays the token (copying and encoding the flow
// table, building or closing a data path, a socket dump, reading a config file): run on a small
// pool of threads, each at a lower priority than the ring's (yieldToRingThread), and never joined
// from the ring's thread. A job hands its result back with a queued call to an object of the
// ring's thread; the owner waits for every job only when it is destroyed.
//
// Why not a std::thread joined when its result comes back: the result is posted before the thread
// has returned, and a worker at a lower priority can be kept off the CPU for tens of milliseconds
// in between (a busy 2-core machine), so the ring's thread waited in join() for the thread it had
// made nicer: a priority inversion that cost a token timeout under load (lab_membership in CI).

#include <QThreadPool>

#include <functional>

namespace sasha {

class BackgroundWork {
public:
    // maxThreads: jobs beyond it wait in the pool's queue, in order.
    explicit BackgroundWork(int maxThreads);
    ~BackgroundWork();                 // waits for every job
    BackgroundWork(const BackgroundWork &) = delete;
    BackgroundWork &operator=(const BackgroundWork &) = delete;

    void run(std::function<void()> job);
    // Blocks until every job has finished: only where nothing else can proceed (destructors).
    void waitForDone();
    int activeJobs() const { return m_pool.activeThreadCount(); }

private:
    QThreadPool m_pool;
};

} // namespace sasha
