#pragma once
// EventLog: the daemon's memory of recent ring events for "sashactl events" and the console's
// timeline. A fixed-capacity ring buffer: the oldest entry goes when a new one arrives.
// Dropped datagrams are not stored one by one (a flood would wash out everything else);
// they are counted. Owned and used by one thread (the daemon's event loop).

#include "control/controlprotocol.h"

#include <deque>

namespace sasha {

class EventLog {
public:
    explicit EventLog(std::size_t capacity = 2000) : m_capacity(capacity) {}

    void add(ControlEvent e)
    {
        if (m_capacity == 0)
            return;
        if (m_events.size() == m_capacity)
            m_events.pop_front();
        m_events.push_back(std::move(e));
        ++m_total;
    }
    void countDroppedDatagram() { ++m_droppedDatagrams; }

    // The last `limit` events, oldest first.
    QList<ControlEvent> last(std::size_t limit) const
    {
        QList<ControlEvent> out;
        const std::size_t n = std::min(limit, m_events.size());
        for (auto it = m_events.end() - std::ptrdiff_t(n); it != m_events.end(); ++it)
            out.append(*it);
        return out;
    }
    std::size_t size() const { return m_events.size(); }
    std::size_t capacity() const { return m_capacity; }
    quint64 totalAdded() const { return m_total; }
    quint64 droppedDatagrams() const { return m_droppedDatagrams; }

private:
    std::size_t m_capacity;
    std::deque<ControlEvent> m_events;
    quint64 m_total = 0;
    quint64 m_droppedDatagrams = 0;
};

} // namespace sasha
