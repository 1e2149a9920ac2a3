#include "transport/backgroundwork.h"

#include "transport/threadpriority.h"

namespace sasha {

BackgroundWork::BackgroundWork(int maxThreads)
{
    m_pool.setMaxThreadCount(std::max(1, maxThreads));
    // Threads are made once and kept: QThreadPool ends a thread idle for 30 s and makes a new one
    // for the next job inside run(), on the caller's thread (the ring's), and pthread_create maps
    // a stack (a system call that waits for the process's memory-map lock).
    m_pool.setExpiryTimeout(-1);
}

BackgroundWork::~BackgroundWork()
{
    m_pool.waitForDone();
}

void BackgroundWork::run(std::function<void()> job)
{
    m_pool.start([job = std::move(job)] {
        // A pool thread is lowered once: Linux keeps a niceness per thread, and lowering it again
        // for each job would take it to 19.
        thread_local bool lowered = false;
        if (!lowered) {
            yieldToRingThread();
            lowered = true;
        }
        job();
    });
}

void BackgroundWork::waitForDone()
{
    m_pool.waitForDone();
}

} // namespace sasha
