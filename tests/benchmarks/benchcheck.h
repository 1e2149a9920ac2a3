#pragma once
// A benchmark's figure is worth printing only if the work it timed was right: a fast path that
// dropped every frame, or a merge that lost flows, would look fast. BENCH_ASSERT_TRUE checks the
// work (not the speed: speed goals are printed beside their baselines, never asserted) and stops
// the program with exit status 1, naming the check, when it fails.

#include <cstdio>
#include <cstdlib>

#define BENCH_ASSERT_TRUE(condition, what)                                                            \
    do {                                                                                              \
        if (!(condition)) {                                                                           \
            std::fprintf(stderr, "benchmark check failed: %s (%s, %s:%d)\n", what, #condition,       \
                         __FILE__, __LINE__);                                                         \
            std::exit(1);                                                                             \
        }                                                                                             \
    } while (0)
