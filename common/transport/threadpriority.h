#pragma once
// Background work in sashad (copying and encoding the flow table, building a data path, dumping
// sockets for a reconstruction report) runs on worker threads that must never delay the thread
// that relays the token (docs/dispatcher.md "The ring's thread"). On a 2-core machine under load
// a worker at the same priority took the CPU from it for more than a token timeout (140 ms). A
// worker calls this first: Linux keeps a niceness per thread, so only the calling thread drops
// to `steps` nicer than it was (at most 19). Failures are harmless and ignored.

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sasha {

inline void yieldToRingThread(int steps = 10)
{
    const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
    errno = 0;
    const int now = ::getpriority(PRIO_PROCESS, tid);
    if (errno == 0)
        ::setpriority(PRIO_PROCESS, tid, std::min(19, now + steps));
}

} // namespace sasha
