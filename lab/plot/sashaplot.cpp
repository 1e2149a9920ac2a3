// sasha-plot: the charts of `sasha-lab experiment` (docs/experiment.md), drawn offscreen with
// Qt Charts into PNG files.
//
//   sasha-plot bars RESULTS.csv OUT.png [--preset P]
//       Figure 4 of the SASHA paper, ours beside it: one group per offered rate and scenario, a
//       bar for the paper's figure and one per timer preset of ours (fault cases: the average
//       during detection and recovery; "none": the achieved rate). A scaled run's figures are
//       divided by its scale and the title says so.
//   sasha-plot series SERIES.csv OUT.png [--case PRESET:RATE:SCENARIO]...
//       ok replies per second against the seconds since the load started, one line per case
//       (default: every case in the file, at most 8), the fault's second marked.
//
// Run it with QT_QPA_PLATFORM=offscreen on a machine without a display. Exit codes: 0 written,
// 2 usage, 3 a file that cannot be read or written (the message names it, and the line).
#include <QApplication>
#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QFile>
#include <QHash>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QMap>
#include <QPainter>
#include <QPixmap>
#include <QScatterSeries>
#include <QStringList>
#include <QTextStream>
#include <QValueAxis>

#include <cstdio>
#include <optional>

namespace {

constexpr int kUsage = 2;
constexpr int kFileError = 3;

struct Table {
    QStringList header;
    QList<QStringList> rows;
    int column(const QString &name) const { return header.indexOf(name); }
};

// A plain comma-separated file as experiment_report.py writes it (no quoted commas).
std::optional<Table> readCsv(const QString &path, QString *error)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly | QIODevice::Text)) {
        *error = QStringLiteral("%1: cannot read: %2").arg(path, f.errorString());
        return std::nullopt;
    }
    Table t;
    QTextStream in(&f);
    int line = 0;
    while (!in.atEnd()) {
        const QString text = in.readLine();
        ++line;
        if (text.trimmed().isEmpty())
            continue;
        const QStringList cells = text.split(QLatin1Char(','));
        if (t.header.isEmpty()) {
            t.header = cells;
            continue;
        }
        if (cells.size() != t.header.size()) {
            *error = QStringLiteral("%1:%2: %3 fields, the header has %4").arg(path).arg(line).arg(cells.size()).arg(t.header.size());
            return std::nullopt;
        }
        t.rows.append(cells);
    }
    if (t.header.isEmpty())
        *error = QStringLiteral("%1: empty").arg(path);
    return t.header.isEmpty() ? std::nullopt : std::optional<Table>(t);
}

bool requireColumns(const Table &t, const QString &path, const QStringList &names, QString *error)
{
    for (const QString &n : names) {
        if (t.column(n) < 0) {
            *error = QStringLiteral("%1: no column '%2' (a results file of sasha-lab experiment has it)").arg(path, n);
            return false;
        }
    }
    return true;
}

bool save(QChart *chart, const QString &out, QSize size, QString *error)
{
    QChartView view(chart);
    view.setRenderHint(QPainter::Antialiasing);
    view.resize(size);
    view.show();   // lays the chart out (offscreen)
    QApplication::processEvents();
    const QPixmap pixmap = view.grab();
    if (pixmap.isNull() || !pixmap.save(out, "PNG")) {
        *error = QStringLiteral("%1: cannot write the PNG").arg(out);
        return false;
    }
    return true;
}

QString scenarioLabel(const QString &s)
{
    if (s == QLatin1String("none"))
        return QStringLiteral("no fault");
    if (s.startsWith(QLatin1String("server")))
        return QStringLiteral("%1 server%2").arg(s.mid(6), s.mid(6) == QLatin1String("1") ? QString() : QStringLiteral("s"));
    return s;
}

int bars(const QString &csvPath, const QString &out, const QString &onlyPreset)
{
    QString error;
    const auto t = readCsv(csvPath, &error);
    if (!t || !requireColumns(*t, csvPath, {"preset", "scale", "paper_rate", "scenario", "achieved_cps", "window_avg_cps", "paper_cps"}, &error)) {
        std::fprintf(stderr, "sasha-plot: error: %s\n", qPrintable(error));
        return kFileError;
    }
    const int cPreset = t->column("preset"), cScale = t->column("scale"), cRate = t->column("paper_rate"),
              cScenario = t->column("scenario"), cAchieved = t->column("achieved_cps"), cWindow = t->column("window_avg_cps"),
              cPaper = t->column("paper_cps");
    // Groups in the order of the file; a repeated case is averaged.
    QStringList groups, presets;
    QHash<QString, double> paper;
    QHash<QString, QPair<double, int>> ours;   // preset|group -> sum, count
    double scale = 1;
    for (const QStringList &r : t->rows) {
        if (!onlyPreset.isEmpty() && r[cPreset] != onlyPreset)
            continue;
        const QString group = QStringLiteral("%1 %2").arg(r[cRate], scenarioLabel(r[cScenario]));
        if (!groups.contains(group))
            groups << group;
        if (!presets.contains(r[cPreset]))
            presets << r[cPreset];
        scale = r[cScale].toDouble() > 0 ? r[cScale].toDouble() : 1;
        const QString v = r[cScenario] == QLatin1String("none") ? r[cAchieved] : r[cWindow];
        if (!v.isEmpty()) {
            auto &acc = ours[r[cPreset] + QLatin1Char('|') + group];
            acc.first += v.toDouble() / scale;
            acc.second += 1;
        }
        if (!r[cPaper].isEmpty())
            paper[group] = r[cPaper].toDouble();
    }
    if (groups.isEmpty()) {
        std::fprintf(stderr, "sasha-plot: error: %s: no rows%s\n", qPrintable(csvPath),
                     onlyPreset.isEmpty() ? "" : qPrintable(QStringLiteral(" with preset %1").arg(onlyPreset)));
        return kFileError;
    }
    auto *series = new QBarSeries;
    auto *paperSet = new QBarSet(QStringLiteral("paper (2010, Figure 4)"));
    paperSet->setColor(QColor(0x9e, 0x9e, 0x9e));
    double top = 0;
    for (const QString &g : groups) {
        *paperSet << paper.value(g, 0);
        top = qMax(top, paper.value(g, 0));
    }
    series->append(paperSet);
    const QList<QColor> colours{QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e), QColor(0x2c, 0xa0, 0x2c)};
    for (int i = 0; i < presets.size(); ++i) {
        auto *set = new QBarSet(QStringLiteral("ours, %1 timers").arg(presets[i]));
        set->setColor(colours[i % colours.size()]);
        for (const QString &g : groups) {
            const auto acc = ours.value(presets[i] + QLatin1Char('|') + g);
            const double v = acc.second ? acc.first / acc.second : 0;
            *set << v;
            top = qMax(top, v);
        }
        series->append(set);
    }
    auto *chart = new QChart;
    chart->addSeries(series);
    QString title = QStringLiteral("Average level of service during fault detection and recovery (cps); "
                                   "no fault: the whole run. No grey bar: the paper's text gives no figure");
    if (scale != 1)
        title += QStringLiteral("\nSCALED RUN: ours measured at %1 x the paper's rates and capacity, shown divided by %1").arg(scale);
    chart->setTitle(title);
    auto *x = new QBarCategoryAxis;
    x->append(groups);
    x->setLabelsAngle(-60);
    chart->addAxis(x, Qt::AlignBottom);
    series->attachAxis(x);
    auto *y = new QValueAxis;
    y->setRange(0, top * 1.08 + 1);
    y->applyNiceNumbers();
    y->setTitleText(QStringLiteral("connections/s (ok replies)"));
    y->setLabelFormat(QStringLiteral("%.0f"));
    chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(y);
    chart->legend()->setAlignment(Qt::AlignTop);
    if (!save(chart, out, QSize(qMax(900, 90 * int(groups.size()) + 200), 620), &error)) {
        std::fprintf(stderr, "sasha-plot: error: %s\n", qPrintable(error));
        return kFileError;
    }
    return 0;
}

int lines(const QString &csvPath, const QString &out, const QStringList &cases)
{
    QString error;
    const auto t = readCsv(csvPath, &error);
    if (!t || !requireColumns(*t, csvPath, {"preset", "paper_rate", "scenario", "repeat", "second", "ok_replies", "fault"}, &error)) {
        std::fprintf(stderr, "sasha-plot: error: %s\n", qPrintable(error));
        return kFileError;
    }
    const int cPreset = t->column("preset"), cRate = t->column("paper_rate"), cScenario = t->column("scenario"),
              cRepeat = t->column("repeat"), cSecond = t->column("second"), cOk = t->column("ok_replies"), cFault = t->column("fault");
    constexpr int kMaxLines = 8;
    QStringList order;
    QHash<QString, QList<QPointF>> points, faults;
    for (const QStringList &r : t->rows) {
        const QString key = QStringLiteral("%1:%2:%3").arg(r[cPreset], r[cRate], r[cScenario]);
        if (!cases.isEmpty() && !cases.contains(key))
            continue;
        const QString name = r[cRepeat] == QLatin1String("1") ? key : key + QStringLiteral(" #") + r[cRepeat];
        if (!order.contains(name)) {
            if (order.size() == kMaxLines)
                continue;
            order << name;
        }
        const QPointF p(r[cSecond].toDouble(), r[cOk].toDouble());
        points[name] << p;
        if (r[cFault] == QLatin1String("1"))
            faults[name] << p;
    }
    if (order.isEmpty()) {
        std::fprintf(stderr, "sasha-plot: error: %s: no rows for %s\n", qPrintable(csvPath),
                     cases.isEmpty() ? "any case" : qPrintable(cases.join(QLatin1Char(' '))));
        return kFileError;
    }
    auto *chart = new QChart;
    chart->setTitle(QStringLiteral("ok replies per second (dots: the second a fault was injected)"));
    auto *x = new QValueAxis;
    x->setTitleText(QStringLiteral("seconds since the load started"));
    x->setLabelFormat(QStringLiteral("%.0f"));
    auto *y = new QValueAxis;
    y->setTitleText(QStringLiteral("replies/s"));
    y->setLabelFormat(QStringLiteral("%.0f"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    double top = 0, right = 0;
    for (const QString &name : order) {
        auto *s = new QLineSeries;
        s->setName(name);
        for (const QPointF &p : points[name]) {
            *s << p;
            top = qMax(top, p.y());
            right = qMax(right, p.x());
        }
        chart->addSeries(s);
        s->attachAxis(x);
        s->attachAxis(y);
        if (!faults[name].isEmpty()) {
            auto *marks = new QScatterSeries;
            marks->setMarkerSize(9);
            marks->setColor(s->color());
            for (const QPointF &p : faults[name])
                *marks << p;
            chart->addSeries(marks);
            marks->attachAxis(x);
            marks->attachAxis(y);
            chart->legend()->markers(marks).constFirst()->setVisible(false);
        }
    }
    x->setRange(0, right);
    x->applyNiceNumbers();
    y->setRange(0, top * 1.08 + 1);
    y->applyNiceNumbers();
    chart->legend()->setAlignment(Qt::AlignBottom);
    if (!save(chart, out, QSize(1000, 560), &error)) {
        std::fprintf(stderr, "sasha-plot: error: %s\n", qPrintable(error));
        return kFileError;
    }
    return 0;
}

void usage(FILE *to)
{
    std::fputs("usage: sasha-plot bars RESULTS.csv OUT.png [--preset P]\n"
               "       sasha-plot series SERIES.csv OUT.png [--case PRESET:RATE:SCENARIO]...\n"
               "Files of `sasha-lab experiment` (docs/experiment.md); run with QT_QPA_PLATFORM=offscreen without a display.\n",
               to);
}

} // namespace

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    const QStringList args = QApplication::arguments().mid(1);
    if (args.size() == 1 && (args[0] == QLatin1String("-h") || args[0] == QLatin1String("--help"))) {
        usage(stdout);
        return 0;
    }
    if (args.size() < 3) {
        usage(stderr);
        return kUsage;
    }
    QString preset;
    QStringList cases;
    for (int i = 3; i < args.size(); i += 2) {
        if (i + 1 >= args.size()) {
            std::fprintf(stderr, "sasha-plot: error: %s needs a value\n", qPrintable(args[i]));
            return kUsage;
        }
        if (args[i] == QLatin1String("--preset") && args[0] == QLatin1String("bars"))
            preset = args[i + 1];
        else if (args[i] == QLatin1String("--case") && args[0] == QLatin1String("series"))
            cases << args[i + 1];
        else {
            std::fprintf(stderr, "sasha-plot: error: unknown option '%s' for %s\n", qPrintable(args[i]), qPrintable(args[0]));
            usage(stderr);
            return kUsage;
        }
    }
    if (args[0] == QLatin1String("bars"))
        return bars(args[1], args[2], preset);
    if (args[0] == QLatin1String("series"))
        return lines(args[1], args[2], cases);
    usage(stderr);
    return kUsage;
}
