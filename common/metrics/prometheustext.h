#pragma once
// PrometheusText: builds a page in the Prometheus text exposition format, version 0.0.4
// (docs/metrics.md). Samples may be added in any order; text() groups them by family, so each
// family's HELP and TYPE lines appear exactly once, before all of its samples, as the format
// requires. Label values are escaped (backslash, double quote, newline); HELP text too
// (backslash, newline). Names follow the conventions of node_exporter and HAProxy's exporter:
// a `sasha_` prefix, `_total` on counters, base units (seconds).
// Pure: no I/O. Not thread-safe; one page per instance.

#include <QByteArray>
#include <QString>

#include <map>
#include <utility>
#include <vector>

namespace sasha {

class PrometheusText {
public:
    enum class Type { Counter, Gauge, Histogram };
    using Labels = std::vector<std::pair<QString, QString>>;

    // Declares a family (before its samples). Declaring it again with the same type is harmless;
    // a name that is not a valid metric name, or a different type, is a programming error
    // (Q_ASSERT) and the family is ignored in release builds.
    void family(const QString &name, Type type, const QString &help);
    // One sample of a counter or gauge family declared before.
    void add(const QString &name, const Labels &labels, double value);
    // One histogram series: upper bounds ascending (without +Inf), bucketCounts[i] the number of
    // observations <= bounds[i] (cumulative) and count the total (the +Inf bucket).
    void addHistogram(const QString &name, const Labels &labels, const std::vector<double> &bounds,
                      const std::vector<quint64> &bucketCounts, quint64 count, double sum);

    // The page; families without samples are left out.
    QByteArray text() const;
    // The families declared, in order (for tests and the dashboard check).
    std::vector<QString> familyNames() const;

    static QString escapeLabelValue(const QString &value);
    static QString escapeHelp(const QString &help);
    static QString formatValue(double value);
    static bool isValidMetricName(const QString &name);
    static bool isValidLabelName(const QString &name);

private:
    struct Family {
        QString name;
        Type type = Type::Gauge;
        QString help;
        QByteArray samples; // rendered sample lines
    };
    Family *find(const QString &name);
    static QByteArray sampleLine(const QString &name, const Labels &labels, double value);

    std::vector<Family> m_families;     // declaration order
    std::map<QString, std::size_t> m_index; // name -> m_families index
};

} // namespace sasha
