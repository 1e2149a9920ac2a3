#pragma once
// Background work in sashad (copying and encoding the flow table, building a data path, dumping
// sockets for a reconstruction report) runs on worker threads that must never delay the thread
// that relays the token (docs/dispatcher.md "The ring's thread"). On a 2-core machine under load
// a worker at the same priority took the CPU from it for more than a token timeout (140 ms). A
// worker calls this first: Linux keeps a niceness per thread, so only the calling thread drops
// to `steps` nicer than it was (at most 19). Failures are harmless and ignored.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

namespace sasha {

inline void yieldToRingThread(int steps = 10)
{
    const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
    errno = 0;
    const int now = ::getpriority(PRIO_PROCESS, tid);
    if (errno == 0)
        ::setpriority(PRIO_PROCESS, tid, std::min(19, now + steps));
}

// Linux's autogroups (kernel.sched_autogroup_enabled = 1, the default of Debian's kernels): the
// scheduler first shares the CPU between sessions (setsid), equally whatever their threads'
// niceness, and only then between the threads of one session by their niceness. A sashad started
// in a session of its own (sasha-lab, a shell's `setsid`) then weighs no more than an nginx or an
// httperf, and a nice of -10 orders only its own threads: on a busy 2-core machine its ring
// thread waited 75 ms for the CPU with 1 ms of work (lab_bigtables). The session's own nice
// (/proc/self/autogroup) gives the whole session that weight. It has no effect on a process in a
// cgroup other than the root one (systemd's services): there the unit's CPUWeight counts.

// "/autogroup-97 nice 0" -> 0; nullopt when the text is not that.
inline std::optional<int> parseAutogroupNice(const char *text)
{
    const char *n = text ? std::strstr(text, " nice ") : nullptr;
    int nice = 0;
    if (!n || std::sscanf(n + 6, "%d", &nice) != 1 || nice < -20 || nice > 19)
        return std::nullopt;
    return nice;
}

// The calling process's session's nice; nullopt without autogroups (no /proc/self/autogroup).
inline std::optional<int> sessionNice()
{
    const int fd = ::open("/proc/self/autogroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    char buffer[128] = {};
    const ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    ::close(fd);
    return n > 0 ? parseAutogroupNice(buffer) : std::nullopt;
}

// Sets it. A lower value than now needs CAP_SYS_NICE; the kernel allows one change per 100 ms
// on the whole host to a process without CAP_SYS_ADMIN (EAGAIN: tried again, 3 times at most).
// Empty on success, else why not.
inline std::string setSessionNice(int nice)
{
    std::string why;
    for (int attempt = 0; attempt < 4; ++attempt) {
        const int fd = ::open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return std::string("/proc/self/autogroup: ") + std::strerror(errno);
        const std::string text = std::to_string(nice) + "\n";
        const ssize_t n = ::write(fd, text.data(), text.size());
        const int error = n < 0 ? errno : 0;
        ::close(fd);
        if (n >= 0)
            return {};
        why = std::string("writing /proc/self/autogroup: ") + std::strerror(error);
        if (error != EAGAIN)
            break;
        ::usleep(110'000);
    }
    return why;
}

} // namespace sasha
