#pragma once
// CpsChartView: connections/s in total and per server over CpsHistory's rolling window, with the
// history's markers (faults, purges, elections) as labelled vertical lines: a live version of the
// paper's Figure 4. The x axis is seconds before the newest sample.

#include "tokenbeat/types.h"

#include <QChartView>
#include <QHash>

QT_BEGIN_NAMESPACE
class QLineSeries;
class QValueAxis;
QT_END_NAMESPACE

namespace sasha::console {

class CpsHistory;

class CpsChartView : public QChartView {
    Q_OBJECT
public:
    explicit CpsChartView(const CpsHistory *history, QWidget *parent = nullptr);
    // Thicker total line, and the title, axes, legend and markers in the widget's font, followed
    // when it changes (the presentation layout scales it with the window).
    void setPresentation(bool on);
    bool exportPng(const QString &path, QString *error);
    int seriesCount() const;

protected:
    void drawForeground(QPainter *painter, const QRectF &rect) override;
    void changeEvent(QEvent *event) override;

private:
    void rebuild();
    QLineSeries *serverSeries(tb::NodeAddr server);

    const CpsHistory *m_history;
    QLineSeries *m_total = nullptr;
    QHash<tb::NodeAddr, QLineSeries *> m_servers;
    QValueAxis *m_x = nullptr;
    QValueAxis *m_y = nullptr;
    qint64 m_nowUs = 0;
    bool m_presentation = false;
};

} // namespace sasha::console
