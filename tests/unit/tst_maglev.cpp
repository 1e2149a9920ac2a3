// Maglev consistent hashing, specified by its properties (as Katran's CHHelpersTest does):
// balance, weights, minimal disruption, determinism, and the edge cases.

#include "fastpath/maglev.h"

#include <QTest>

#include <algorithm>
#include <map>
#include <random>

using namespace sasha;

namespace {

std::vector<MaglevBackend> equalBackends(int n, std::uint32_t firstId = 0x0A000001)
{
    std::vector<MaglevBackend> v;
    for (int i = 0; i < n; ++i)
        v.push_back({firstId + std::uint32_t(i) * 7, std::uint16_t(i), 1});
    return v;
}

std::map<std::uint16_t, int> shares(const MaglevTable &t)
{
    std::map<std::uint16_t, int> s;
    for (const std::uint16_t slot : t.entries())
        ++s[slot];
    return s;
}

} // namespace

class TestMaglev : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void equalWeightsBalance_data();
    void equalWeightsBalance();
    void weightsAreRespected_data();
    void weightsAreRespected();
    void zeroWeightTakesNothing();
    void removingOneServerMovesAboutOneNth_data();
    void removingOneServerMovesAboutOneNth();
    void addingOneServerMovesAboutOneNth();
    void sameSetAnyOrderSameTable();
    void emptySetGivesNoServer();
    void smallPrimeTableIsFull();
};

void TestMaglev::equalWeightsBalance_data()
{
    QTest::addColumn<int>("servers");
    QTest::addColumn<double>("maxDeviation"); // relative to the ideal share M/N
    QTest::newRow("2 servers") << 2 << 0.01;
    QTest::newRow("5 servers (the paper's cluster)") << 5 << 0.01;
    QTest::newRow("10 servers") << 10 << 0.02;
    QTest::newRow("100 servers") << 100 << 0.05;
    QTest::newRow("655 servers (M/100)") << 655 << 0.10;
}

void TestMaglev::equalWeightsBalance()
{
    QFETCH(int, servers);
    QFETCH(double, maxDeviation);
    const MaglevTable t(equalBackends(servers));
    QCOMPARE(t.size(), std::size_t(kMaglevTableSize));
    const auto s = shares(t);
    QCOMPARE(int(s.size()), servers);
    QVERIFY(!s.contains(kNoServerSlot));
    const double ideal = double(kMaglevTableSize) / servers;
    double worst = 0;
    for (const auto &[slot, count] : s)
        worst = std::max(worst, std::abs(count - ideal) / ideal);
    qInfo("%d servers: worst share deviation %.3f %%", servers, worst * 100);
    QVERIFY2(worst <= maxDeviation, qPrintable(QString::number(worst)));
}

void TestMaglev::weightsAreRespected_data()
{
    QTest::addColumn<QList<int>>("weights");
    QTest::newRow("1:2:3:4") << QList<int>{1, 2, 3, 4};
    QTest::newRow("one heavy of five, 5:1:1:1:1") << QList<int>{5, 1, 1, 1, 1};
    QTest::newRow("100:50") << QList<int>{100, 50};
    QTest::newRow("7:3:1") << QList<int>{7, 3, 1};
}

void TestMaglev::weightsAreRespected()
{
    QFETCH(QList<int>, weights);
    std::vector<MaglevBackend> b;
    int total = 0;
    for (int i = 0; i < weights.size(); ++i) {
        b.push_back({std::uint32_t(1000 + i), std::uint16_t(i), std::uint32_t(weights[i])});
        total += weights[i];
    }
    const auto s = shares(MaglevTable(b));
    for (int i = 0; i < weights.size(); ++i) {
        const double want = double(kMaglevTableSize) * weights[i] / total;
        const double got = s.contains(std::uint16_t(i)) ? s.at(std::uint16_t(i)) : 0;
        QVERIFY2(std::abs(got - want) / want <= 0.03,
                 qPrintable(QStringLiteral("server %1: %2 entries, want %3").arg(i).arg(got).arg(want)));
    }
}

void TestMaglev::zeroWeightTakesNothing()
{
    auto b = equalBackends(4);
    b[2].weight = 0;
    const auto s = shares(MaglevTable(b));
    QVERIFY(!s.contains(2));
    QCOMPARE(int(s.size()), 3);
}

void TestMaglev::removingOneServerMovesAboutOneNth_data()
{
    QTest::addColumn<int>("servers");
    QTest::addColumn<int>("removed");
    QTest::newRow("5 servers, first removed") << 5 << 0;
    QTest::newRow("5 servers, last removed") << 5 << 4;
    QTest::newRow("10 servers, one removed") << 10 << 3;
    QTest::newRow("50 servers, one removed") << 50 << 17;
}

void TestMaglev::removingOneServerMovesAboutOneNth()
{
    QFETCH(int, servers);
    QFETCH(int, removed);
    const auto before = equalBackends(servers);
    auto after = before;
    after.erase(after.begin() + removed);
    const MaglevTable a(before);
    const MaglevTable b(after);
    int moved = 0;
    int movedFromSurvivors = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a.entries()[i] != b.entries()[i]) {
            ++moved;
            if (a.entries()[i] != std::uint16_t(removed))
                ++movedFromSurvivors;
        }
        QVERIFY(b.entries()[i] != std::uint16_t(removed));
    }
    const double movedShare = double(moved) / a.size();
    const double survivorShare = double(movedFromSurvivors) / a.size();
    qInfo("%d servers, one removed: %.2f %% of entries moved (ideal %.2f %%), %.2f %% from surviving servers",
          servers, movedShare * 100, 100.0 / servers, survivorShare * 100);
    // Maglev trades a little disruption for balance (paper §3.4, Fig. 11): the removed server's
    // entries move, and only a small fraction of the others.
    QVERIFY(movedShare <= 1.0 / servers + 0.02);
    QVERIFY(survivorShare <= 0.01);
}

void TestMaglev::addingOneServerMovesAboutOneNth()
{
    const auto before = equalBackends(5);
    auto after = before;
    after.push_back({0x0B000001, 5, 1});
    const MaglevTable a(before);
    const MaglevTable b(after);
    int moved = 0;
    int movedNotToNew = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a.entries()[i] != b.entries()[i]) {
            ++moved;
            if (b.entries()[i] != 5)
                ++movedNotToNew;
        }
    }
    QVERIFY(double(moved) / a.size() <= 1.0 / 6 + 0.02);
    QVERIFY(double(movedNotToNew) / a.size() <= 0.02);
}

void TestMaglev::sameSetAnyOrderSameTable()
{
    auto b = equalBackends(8);
    b[3].weight = 3;
    const MaglevTable reference(b);
    std::mt19937 rng(12345);
    for (int round = 0; round < 5; ++round) {
        std::shuffle(b.begin(), b.end(), rng);
        const MaglevTable t(b);
        QVERIFY(std::equal(t.entries().begin(), t.entries().end(), reference.entries().begin()));
    }
    // And the lookup is a pure function of the hash.
    QCOMPARE(reference.lookup(123456789), MaglevTable(b).lookup(123456789));
}

void TestMaglev::emptySetGivesNoServer()
{
    QCOMPARE(MaglevTable().lookup(42), kNoServerSlot);
    QCOMPARE(MaglevTable(std::vector<MaglevBackend>{}).lookup(42), kNoServerSlot);
    QCOMPARE(MaglevTable(std::vector<MaglevBackend>{{1, 0, 0}}).lookup(42), kNoServerSlot);
}

void TestMaglev::smallPrimeTableIsFull()
{
    const MaglevTable t(equalBackends(3), 13);
    QCOMPARE(t.size(), std::size_t(13));
    const auto s = shares(t);
    QVERIFY(!s.contains(kNoServerSlot));
    for (const auto &[slot, count] : s)
        QVERIFY(count >= 4 && count <= 5);
}

QTEST_GUILESS_MAIN(TestMaglev)
#include "tst_maglev.moc"
