// Specification of the Prometheus text writer: HELP and TYPE once per family before its samples
// whatever the order samples are added in, label values and HELP escaped as the format says,
// counters printed exactly, histograms with cumulative buckets, +Inf, _sum and _count.

#include "metrics/prometheustext.h"

#include <QTest>

#include <limits>

using namespace sasha;

class TestPrometheusText : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void labelValueEscaping_data()
    {
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("escaped");
        QTest::newRow("plain") << QStringLiteral("10.0.0.1") << QStringLiteral("10.0.0.1");
        QTest::newRow("double quote") << QStringLiteral("a\"b") << QStringLiteral("a\\\"b");
        QTest::newRow("backslash") << QStringLiteral("a\\b") << QStringLiteral("a\\\\b");
        QTest::newRow("newline") << QStringLiteral("a\nb") << QStringLiteral("a\\nb");
        QTest::newRow("all three") << QStringLiteral("\\\"\n") << QStringLiteral("\\\\\\\"\\n");
        QTest::newRow("utf-8 kept") << QStringLiteral("nœud") << QStringLiteral("nœud");
    }
    void labelValueEscaping()
    {
        QFETCH(QString, value);
        QFETCH(QString, escaped);
        QCOMPARE(PrometheusText::escapeLabelValue(value), escaped);
    }

    void helpEscapesBackslashAndNewlineOnly()
    {
        QCOMPARE(PrometheusText::escapeHelp(QStringLiteral("a \"q\" \\ b\nc")), QStringLiteral("a \"q\" \\\\ b\\nc"));
    }

    void values_data()
    {
        QTest::addColumn<double>("value");
        QTest::addColumn<QString>("text");
        QTest::newRow("zero") << 0.0 << QStringLiteral("0");
        QTest::newRow("large counter exactly") << 9007199254740991.0 << QStringLiteral("9007199254740991");
        QTest::newRow("fraction shortest") << 0.05 << QStringLiteral("0.05");
        QTest::newRow("negative") << -2.5 << QStringLiteral("-2.5");
        QTest::newRow("+Inf") << std::numeric_limits<double>::infinity() << QStringLiteral("+Inf");
        QTest::newRow("-Inf") << -std::numeric_limits<double>::infinity() << QStringLiteral("-Inf");
        QTest::newRow("NaN") << std::numeric_limits<double>::quiet_NaN() << QStringLiteral("NaN");
    }
    void values()
    {
        QFETCH(double, value);
        QFETCH(QString, text);
        QCOMPARE(PrometheusText::formatValue(value), text);
    }

    void names_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<bool>("metric");
        QTest::addColumn<bool>("label");
        QTest::newRow("snake case") << QStringLiteral("sasha_ring_epoch") << true << true;
        QTest::newRow("colon only in metric names") << QStringLiteral("a:b") << true << false;
        QTest::newRow("leading digit") << QStringLiteral("9a") << false << false;
        QTest::newRow("dash") << QStringLiteral("a-b") << false << false;
        QTest::newRow("empty") << QString() << false << false;
        QTest::newRow("reserved label prefix") << QStringLiteral("__name") << true << false;
    }
    void names()
    {
        QFETCH(QString, name);
        QFETCH(bool, metric);
        QFETCH(bool, label);
        QCOMPARE(PrometheusText::isValidMetricName(name), metric);
        QCOMPARE(PrometheusText::isValidLabelName(name), label);
    }

    void familiesAreGroupedWithHelpAndTypeOnce()
    {
        PrometheusText t;
        t.family(QStringLiteral("sasha_a_total"), PrometheusText::Type::Counter, QStringLiteral("A."));
        t.family(QStringLiteral("sasha_b"), PrometheusText::Type::Gauge, QStringLiteral("B."));
        t.add(QStringLiteral("sasha_a_total"), {{QStringLiteral("reason"), QStringLiteral("x")}}, 1);
        t.add(QStringLiteral("sasha_b"), {}, 7);
        t.family(QStringLiteral("sasha_a_total"), PrometheusText::Type::Counter, QStringLiteral("ignored"));
        t.add(QStringLiteral("sasha_a_total"), {{QStringLiteral("reason"), QStringLiteral("y\"z")}}, 2);
        t.family(QStringLiteral("sasha_empty"), PrometheusText::Type::Gauge, QStringLiteral("No samples."));
        const QByteArray expected = "# HELP sasha_a_total A.\n"
                                    "# TYPE sasha_a_total counter\n"
                                    "sasha_a_total{reason=\"x\"} 1\n"
                                    "sasha_a_total{reason=\"y\\\"z\"} 2\n"
                                    "# HELP sasha_b B.\n"
                                    "# TYPE sasha_b gauge\n"
                                    "sasha_b 7\n";
        QCOMPARE(t.text(), expected);
        QCOMPARE(t.familyNames().size(), std::size_t(3)); // declared, even without samples
    }

    void histogramHasCumulativeBucketsInfSumAndCount()
    {
        PrometheusText t;
        t.family(QStringLiteral("sasha_x_seconds"), PrometheusText::Type::Histogram, QStringLiteral("X."));
        t.addHistogram(QStringLiteral("sasha_x_seconds"), {{QStringLiteral("node"), QStringLiteral("n1")}}, {0.1, 1},
                       {1, 2}, 3, 4.25);
        const QByteArray expected = "# HELP sasha_x_seconds X.\n"
                                    "# TYPE sasha_x_seconds histogram\n"
                                    "sasha_x_seconds_bucket{node=\"n1\",le=\"0.1\"} 1\n"
                                    "sasha_x_seconds_bucket{node=\"n1\",le=\"1\"} 2\n"
                                    "sasha_x_seconds_bucket{node=\"n1\",le=\"+Inf\"} 3\n"
                                    "sasha_x_seconds_sum{node=\"n1\"} 4.25\n"
                                    "sasha_x_seconds_count{node=\"n1\"} 3\n";
        QCOMPARE(t.text(), expected);
    }
};

QTEST_APPLESS_MAIN(TestPrometheusText)
#include "tst_prometheustext.moc"
