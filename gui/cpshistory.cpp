#include "cpshistory.h"

#include "clusterfeed.h"

#include <QSaveFile>
#include <QSet>
#include <QTextStream>

#include <algorithm>

namespace sasha::console {

CpsHistory::CpsHistory(qint64 windowUs, QObject *parent) : QObject(parent), m_windowUs(windowUs) {}

QColor CpsHistory::markerColor(const QString &kind)
{
    if (kind == kKindFaultInjected || kind == QLatin1String("member-lost"))
        return QColor(0xc6, 0x28, 0x28);
    if (kind == QLatin1String("purge-started") || kind == QLatin1String("token-timeout"))
        return QColor(0xe0, 0x8a, 0x00);
    if (kind == QLatin1String("dispatcher-elected"))
        return QColor(0x6a, 0x1b, 0x9a);
    return QColor(0x54, 0x6e, 0x7a);
}

void CpsHistory::trim(qint64 nowUs)
{
    while (!m_samples.empty() && nowUs - m_samples.front().atUs > m_windowUs)
        m_samples.pop_front();
    while (!m_markers.empty() && nowUs - m_markers.front().atUs > m_windowUs)
        m_markers.pop_front();
}

void CpsHistory::addSample(qint64 atUs, const QMap<tb::NodeAddr, quint32> &perServer)
{
    Sample s{atUs, 0, perServer};
    for (quint32 v : perServer)
        s.total += v;
    m_samples.push_back(std::move(s));
    trim(atUs);
    Q_EMIT changed();
}

void CpsHistory::addMarker(qint64 atUs, const QString &kind, const QString &label)
{
    for (auto it = m_markers.rbegin(); it != m_markers.rend() && atUs - it->atUs < kMarkerMergeUs; ++it)
        if (it->kind == kind)
            return;
    m_markers.push_back({atUs, kind, label, markerColor(kind)});
    trim(atUs);
    Q_EMIT changed();
}

QList<tb::NodeAddr> CpsHistory::servers() const
{
    QSet<tb::NodeAddr> set;
    for (const auto &s : m_samples)
        for (auto it = s.perServer.keyBegin(); it != s.perServer.keyEnd(); ++it)
            set.insert(*it);
    QList<tb::NodeAddr> out(set.begin(), set.end());
    std::sort(out.begin(), out.end());
    return out;
}

bool CpsHistory::exportCsv(const QString &path, QString *error) const
{
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Text)) {
        if (error)
            *error = QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
        return false;
    }
    const QList<tb::NodeAddr> servers = this->servers();
    QTextStream out(&f);
    out << "mono_us,total_cps";
    for (auto s : servers)
        out << ",cps_" << ipToString(s);
    out << '\n';
    for (const auto &s : m_samples) {
        out << s.atUs << ',' << s.total;
        for (auto a : servers) {
            out << ',';
            if (s.perServer.contains(a))
                out << s.perServer.value(a);
        }
        out << '\n';
    }
    out << "\nmarker_mono_us,kind,label\n";
    for (const auto &m : m_markers)
        out << m.atUs << ',' << m.kind << ',' << m.label << '\n';
    out.flush();
    if (!f.commit()) {
        if (error)
            *error = QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
        return false;
    }
    return true;
}

} // namespace sasha::console
