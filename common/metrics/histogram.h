#pragma once
// Histogram: a Prometheus-style histogram of observations (cumulative buckets, sum, count).
// Plain value type; owned and observed by one thread, copied to be rendered elsewhere.

#include <QtGlobal>

#include <vector>

namespace sasha {

class Histogram {
public:
    // bounds: the buckets' upper bounds, ascending (the +Inf bucket is implied).
    explicit Histogram(std::vector<double> bounds) : m_bounds(std::move(bounds)), m_counts(m_bounds.size(), 0) {}

    void observe(double value)
    {
        for (std::size_t i = 0; i < m_bounds.size(); ++i) {
            if (value <= m_bounds[i])
                ++m_counts[i];
        }
        ++m_count;
        m_sum += value;
    }
    const std::vector<double> &bounds() const { return m_bounds; }
    const std::vector<quint64> &cumulativeCounts() const { return m_counts; }
    quint64 count() const { return m_count; }
    double sum() const { return m_sum; }

private:
    std::vector<double> m_bounds;
    std::vector<quint64> m_counts; // cumulative: observations <= m_bounds[i]
    quint64 m_count = 0;
    double m_sum = 0;
};

} // namespace sasha
