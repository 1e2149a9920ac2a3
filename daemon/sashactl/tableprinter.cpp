#include "tableprinter.h"

namespace sasha {

QString TablePrinter::toString() const
{
    QList<qsizetype> width;
    for (const QStringList &r : m_rows) {
        for (qsizetype c = 0; c < r.size(); ++c) {
            if (width.size() <= c)
                width.append(0);
            width[c] = std::max(width[c], r[c].size());
        }
    }
    QString out;
    for (const QStringList &r : m_rows) {
        QString line;
        for (qsizetype c = 0; c < r.size(); ++c)
            line += c + 1 == r.size() ? r[c] : r[c].leftJustified(width[c] + 2);
        out += line.trimmed() + QLatin1Char('\n');
    }
    return out;
}

} // namespace sasha
