#pragma once
// TablePrinter: aligned plain-text tables in the style of `ss` and `ipvsadm -L`: a header row of
// upper-case names, columns separated by two spaces, the last column not padded.

#include <QString>
#include <QStringList>

namespace sasha {

class TablePrinter {
public:
    explicit TablePrinter(QStringList header) : m_rows{std::move(header)} {}
    void addRow(QStringList row) { m_rows.append(std::move(row)); }
    QString toString() const;

private:
    QList<QStringList> m_rows;
};

} // namespace sasha
