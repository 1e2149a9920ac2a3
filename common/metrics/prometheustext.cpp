#include "metrics/prometheustext.h"

#include <QLocale>

#include <cmath>

namespace sasha {
namespace {

const char *typeWord(PrometheusText::Type t)
{
    switch (t) {
    case PrometheusText::Type::Counter: return "counter";
    case PrometheusText::Type::Gauge: return "gauge";
    case PrometheusText::Type::Histogram: return "histogram";
    }
    return "untyped";
}

bool isNameChar(QChar c, bool first, bool colonAllowed)
{
    const char16_t u = c.unicode();
    const bool alpha = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || (colonAllowed && u == ':');
    return alpha || (!first && u >= '0' && u <= '9');
}

bool isValidName(const QString &name, bool colonAllowed)
{
    if (name.isEmpty())
        return false;
    for (qsizetype i = 0; i < name.size(); ++i) {
        if (!isNameChar(name.at(i), i == 0, colonAllowed))
            return false;
    }
    return true;
}

} // namespace

bool PrometheusText::isValidMetricName(const QString &name) { return isValidName(name, true); }

bool PrometheusText::isValidLabelName(const QString &name)
{
    return isValidName(name, false) && !name.startsWith(QLatin1String("__"));
}

QString PrometheusText::escapeLabelValue(const QString &value)
{
    QString out;
    out.reserve(value.size());
    for (QChar c : value) {
        if (c == QLatin1Char('\\'))
            out += QLatin1String("\\\\");
        else if (c == QLatin1Char('"'))
            out += QLatin1String("\\\"");
        else if (c == QLatin1Char('\n'))
            out += QLatin1String("\\n");
        else
            out += c;
    }
    return out;
}

QString PrometheusText::escapeHelp(const QString &help)
{
    QString out;
    out.reserve(help.size());
    for (QChar c : help) {
        if (c == QLatin1Char('\\'))
            out += QLatin1String("\\\\");
        else if (c == QLatin1Char('\n'))
            out += QLatin1String("\\n");
        else
            out += c;
    }
    return out;
}

QString PrometheusText::formatValue(double value)
{
    if (std::isnan(value))
        return QStringLiteral("NaN");
    if (std::isinf(value))
        return value > 0 ? QStringLiteral("+Inf") : QStringLiteral("-Inf");
    // Counters are integers: print them exactly (up to 2^53), without an exponent.
    if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0)
        return QString::number(qint64(value));
    return QString::number(value, 'g', QLocale::FloatingPointShortest);
}

PrometheusText::Family *PrometheusText::find(const QString &name)
{
    const auto it = m_index.find(name);
    return it == m_index.end() ? nullptr : &m_families[it->second];
}

void PrometheusText::family(const QString &name, Type type, const QString &help)
{
    Q_ASSERT_X(isValidMetricName(name), "PrometheusText::family", qPrintable(name));
    if (!isValidMetricName(name))
        return;
    if (const Family *f = find(name)) {
        Q_ASSERT_X(f->type == type, "PrometheusText::family", "declared twice with different types");
        return;
    }
    m_index.emplace(name, m_families.size());
    m_families.push_back(Family{name, type, help, {}});
}

QByteArray PrometheusText::sampleLine(const QString &name, const Labels &labels, double value)
{
    QString line = name;
    if (!labels.empty()) {
        line += QLatin1Char('{');
        bool first = true;
        for (const auto &[k, v] : labels) {
            Q_ASSERT_X(isValidLabelName(k), "PrometheusText", qPrintable(k));
            if (!first)
                line += QLatin1Char(',');
            first = false;
            line += k + QLatin1String("=\"") + escapeLabelValue(v) + QLatin1Char('"');
        }
        line += QLatin1Char('}');
    }
    line += QLatin1Char(' ') + formatValue(value) + QLatin1Char('\n');
    return line.toUtf8();
}

void PrometheusText::add(const QString &name, const Labels &labels, double value)
{
    Family *f = find(name);
    Q_ASSERT_X(f && f->type != Type::Histogram, "PrometheusText::add", qPrintable(name));
    if (!f || f->type == Type::Histogram)
        return;
    f->samples += sampleLine(name, labels, value);
}

void PrometheusText::addHistogram(const QString &name, const Labels &labels, const std::vector<double> &bounds,
                                  const std::vector<quint64> &bucketCounts, quint64 count, double sum)
{
    Family *f = find(name);
    Q_ASSERT_X(f && f->type == Type::Histogram && bounds.size() == bucketCounts.size(), "PrometheusText::addHistogram",
               qPrintable(name));
    if (!f || f->type != Type::Histogram || bounds.size() != bucketCounts.size())
        return;
    const QString bucket = name + QLatin1String("_bucket");
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        Labels l = labels;
        l.emplace_back(QStringLiteral("le"), formatValue(bounds[i]));
        f->samples += sampleLine(bucket, l, double(bucketCounts[i]));
    }
    Labels inf = labels;
    inf.emplace_back(QStringLiteral("le"), QStringLiteral("+Inf"));
    f->samples += sampleLine(bucket, inf, double(count));
    f->samples += sampleLine(name + QLatin1String("_sum"), labels, sum);
    f->samples += sampleLine(name + QLatin1String("_count"), labels, double(count));
}

QByteArray PrometheusText::text() const
{
    QByteArray out;
    for (const Family &f : m_families) {
        if (f.samples.isEmpty())
            continue; // a family with no series (no server yet): nothing to describe
        out += "# HELP " + f.name.toUtf8() + ' ' + escapeHelp(f.help).toUtf8() + '\n';
        out += "# TYPE " + f.name.toUtf8() + ' ' + typeWord(f.type) + '\n';
        out += f.samples;
    }
    return out;
}

std::vector<QString> PrometheusText::familyNames() const
{
    std::vector<QString> names;
    for (const Family &f : m_families)
        names.push_back(f.name);
    return names;
}

} // namespace sasha
