#include "cpschartview.h"

#include "clusterfeed.h"
#include "cpshistory.h"

#include <QLineSeries>
#include <QEvent>
#include <QPainter>
#include <QValueAxis>

#include <cmath>

namespace sasha::console {

namespace {
const QColor kServerColors[] = {QColor(0x1e, 0x88, 0xe5), QColor(0x43, 0xa0, 0x47), QColor(0xf4, 0x51, 0x1e),
                                QColor(0x8e, 0x24, 0xaa), QColor(0x00, 0x89, 0x7b), QColor(0xc0, 0xca, 0x33),
                                QColor(0x6d, 0x4c, 0x41), QColor(0xec, 0x40, 0x7a)};
}

CpsChartView::CpsChartView(const CpsHistory *history, QWidget *parent) : QChartView(parent), m_history(history)
{
    auto *chart = new QChart;
    chart->setTitle(QStringLiteral("Connections per second"));
    chart->legend()->setAlignment(Qt::AlignBottom);
    chart->setMargins(QMargins(4, 4, 4, 4));
    chart->setAnimationOptions(QChart::NoAnimation);
    m_x = new QValueAxis;
    m_x->setRange(-double(history->windowUs()) / 1e6, 0);
    m_x->setTitleText(QStringLiteral("seconds"));
    m_x->setLabelFormat(QStringLiteral("%d"));
    m_x->setTickType(QValueAxis::TicksDynamic);
    m_x->setTickAnchor(0);
    m_x->setTickInterval(20);
    m_y = new QValueAxis;
    m_y->setRange(0, 10);
    m_y->setLabelFormat(QStringLiteral("%d"));
    chart->addAxis(m_x, Qt::AlignBottom);
    chart->addAxis(m_y, Qt::AlignLeft);
    m_total = new QLineSeries;
    m_total->setName(QStringLiteral("total"));
    m_total->setPen(QPen(QColor(0x26, 0x32, 0x38), 3));
    chart->addSeries(m_total);
    m_total->attachAxis(m_x);
    m_total->attachAxis(m_y);
    setChart(chart);
    setRenderHint(QPainter::Antialiasing);
    setMinimumSize(360, 240);
    connect(history, &CpsHistory::changed, this, &CpsChartView::rebuild);
}

void CpsChartView::changeEvent(QEvent *event)
{
    QChartView::changeEvent(event);
    if (event->type() == QEvent::FontChange && m_presentation)
        setPresentation(true);
}

void CpsChartView::setPresentation(bool on)
{
    m_presentation = on;
    QFont f = font();
    chart()->setTitleFont(f);
    for (auto *axis : {m_x, m_y}) {
        axis->setLabelsFont(f);
        axis->setTitleFont(f);
    }
    chart()->legend()->setFont(f);
    m_total->setPen(QPen(QColor(0x26, 0x32, 0x38), on ? 5 : 3));
}

int CpsChartView::seriesCount() const { return int(chart()->series().size()); }

QLineSeries *CpsChartView::serverSeries(tb::NodeAddr server)
{
    if (auto *s = m_servers.value(server))
        return s;
    auto *s = new QLineSeries;
    s->setName(ipToString(server));
    s->setPen(QPen(kServerColors[m_servers.size() % std::size(kServerColors)], 2));
    chart()->addSeries(s);
    s->attachAxis(m_x);
    s->attachAxis(m_y);
    m_servers.insert(server, s);
    return s;
}

void CpsChartView::rebuild()
{
    const auto &samples = m_history->samples();
    if (samples.empty())
        return;
    m_nowUs = samples.back().atUs;
    QList<QPointF> total;
    QMap<tb::NodeAddr, QList<QPointF>> per; // sorted: series (and colours) are created in address order
    quint64 top = 10;
    for (const auto &s : samples) {
        const double x = double(s.atUs - m_nowUs) / 1e6;
        total.append({x, double(s.total)});
        top = std::max(top, s.total);
        for (auto it = s.perServer.cbegin(); it != s.perServer.cend(); ++it)
            per[it.key()].append({x, double(it.value())});
    }
    // Until the window fills, the axis spans the data (at least 30 s) so the lines use the width.
    const double span = double(m_nowUs - samples.front().atUs) / 1e6;
    const double window = double(m_history->windowUs()) / 1e6;
    const double shown = std::min(window, std::max(30.0, std::ceil(span / 10.0) * 10.0));
    m_x->setRange(-shown, 0);
    m_x->setTickInterval(shown <= 60 ? 10 : 20); // ticks on round seconds, anchored at 0
    m_x->setTickAnchor(0);
    m_total->replace(total);
    for (auto it = per.cbegin(); it != per.cend(); ++it)
        serverSeries(it.key())->replace(it.value());
    for (auto it = m_servers.cbegin(); it != m_servers.cend(); ++it)
        if (!per.contains(it.key()))
            it.value()->clear();
    // A round upper bound with some headroom so the line does not touch the title.
    const double raw = double(top) * 1.15;
    const double step = std::pow(10.0, std::floor(std::log10(raw)));
    m_y->setRange(0, std::ceil(raw / step) * step);
    viewport()->update();
}

void CpsChartView::drawForeground(QPainter *painter, const QRectF &rect)
{
    QChartView::drawForeground(painter, rect);
    const QRectF plot = chart()->plotArea();
    painter->save();
    painter->setRenderHint(QPainter::Antialiasing);
    QFont f = font();
    f.setBold(true);
    painter->setFont(f);
    const QFontMetrics fm(f);
    double lastLabelRight = -1e9;
    int row = 0;
    for (const auto &m : m_history->markers()) {
        const double x = double(m.atUs - m_nowUs) / 1e6;
        const QPointF at = chart()->mapToPosition(QPointF(x, 0), m_total);
        const QPointF scene(at.x(), plot.top());
        if (scene.x() < plot.left() || scene.x() > plot.right() + 1)
            continue;
        QPen pen(m.color, 2, Qt::DashLine);
        painter->setPen(pen);
        painter->drawLine(QPointF(scene.x(), plot.top()), QPointF(scene.x(), plot.bottom()));
        // Labels near each other stack downwards instead of overlapping.
        row = scene.x() - fm.horizontalAdvance(m.label) - 12 < lastLabelRight ? row + 1 : 0;
        const QString text = m.label;
        const double w = fm.horizontalAdvance(text) + 8;
        // Right of the line, or left of it when it would run out of the plot.
        const double left = scene.x() + 3 + w > plot.right() ? scene.x() - 3 - w : scene.x() + 3;
        const QRectF box(left, plot.top() + 2 + row * (fm.height() + 2), w, fm.height() + 2);
        QColor bg = Qt::white;
        bg.setAlpha(210);
        painter->fillRect(box, bg);
        painter->setPen(m.color);
        painter->drawText(box, Qt::AlignCenter, text);
        lastLabelRight = std::max(lastLabelRight, box.right());
    }
    painter->restore();
}

bool CpsChartView::exportPng(const QString &path, QString *error)
{
    if (grab().save(path, "PNG"))
        return true;
    if (error)
        *error = QStringLiteral("cannot write PNG %1").arg(path);
    return false;
}

} // namespace sasha::console
