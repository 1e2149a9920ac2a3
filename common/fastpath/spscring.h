#pragma once
// A bounded single-producer single-consumer ring: the one way data crosses from the control
// plane into the fast-path thread besides the ServerTable handoff (reconstructed flows from
// agents, paper §3.4). Storage is allocated at construction; push/pop never allocate or lock.

#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>

namespace sasha {

template <typename T>
class SpscRing {
public:
    // Capacity is rounded up to a power of two.
    explicit SpscRing(std::size_t capacity)
        : m_mask(std::bit_ceil(capacity < 2 ? std::size_t(2) : capacity) - 1)
        , m_items(new T[m_mask + 1])
    {
    }
    SpscRing(const SpscRing &) = delete;
    SpscRing &operator=(const SpscRing &) = delete;

    // Producer thread only. false when full: the producer retries later (back-pressure).
    bool push(const T &item) noexcept
    {
        const std::size_t tail = m_tail.load(std::memory_order_relaxed);
        if (tail - m_head.load(std::memory_order_acquire) > m_mask)
            return false;
        m_items[tail & m_mask] = item;
        m_tail.store(tail + 1, std::memory_order_release);
        return true;
    }

    // Consumer thread only.
    bool pop(T &item) noexcept
    {
        const std::size_t head = m_head.load(std::memory_order_relaxed);
        if (head == m_tail.load(std::memory_order_acquire))
            return false;
        item = m_items[head & m_mask];
        m_head.store(head + 1, std::memory_order_release);
        return true;
    }

    std::size_t capacity() const noexcept { return m_mask + 1; }
    // Producer thread only: true when the consumer has popped everything pushed so far.
    bool drainedForProducer() const noexcept
    {
        return m_head.load(std::memory_order_acquire) == m_tail.load(std::memory_order_relaxed);
    }

private:
    const std::size_t m_mask;
    std::unique_ptr<T[]> m_items;
    alignas(64) std::atomic<std::size_t> m_head{0}; // next to pop; written by the consumer
    alignas(64) std::atomic<std::size_t> m_tail{0}; // next to push; written by the producer
};

} // namespace sasha
