// Neighbour lookup for the L4/2 rewrite (daemon/dispatcher/neighbourtable.h): the
// /proc/net/arp fallback parser, the cluster-only solicitation rule and, as root, a real
// resolution inside a private namespace pair (netnslab.h).

#include "dispatcher/neighbourtable.h"
#include "netnslab.h"

#include <QTest>

#include <unistd.h>

using namespace sasha;

namespace {
constexpr std::uint32_t ip4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d)
{
    return (std::uint32_t(a) << 24) | (std::uint32_t(b) << 16) | (std::uint32_t(c) << 8) | d;
}
QString describe(const std::vector<Neighbour> &entries)
{
    QStringList parts;
    for (const Neighbour &n : entries)
        parts << QStringLiteral("%1/%2/%3")
                     .arg(n.address, 8, 16, QLatin1Char('0'))
                     .arg(QByteArray(reinterpret_cast<const char *>(n.mac.data()), 6).toHex(':'))
                     .arg(QString::fromStdString(n.device));
    return parts.join(QLatin1Char(' '));
}
const char *kHeader = "IP address       HW type     Flags       HW address            Mask     Device\n";
} // namespace

class TestNeighbourTable : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void parseProcNetArp_data();
    void parseProcNetArp();
    void solicitOnlyInsideTheCluster_data();
    void solicitOnlyInsideTheCluster();
    void resolvesAPeerInANamespace();
};

void TestNeighbourTable::parseProcNetArp_data()
{
    QTest::addColumn<QString>("body");
    QTest::addColumn<QString>("expected");
    QTest::newRow("header only") << QString() << QString();
    QTest::newRow("one resolved entry")
        << "10.77.0.2        0x1         0x2         02:5a:00:00:00:02     *        eth0\n"
        << "0a4d0002/02:5a:00:00:00:02/eth0";
    QTest::newRow("incomplete entry (flags 0) skipped")
        << "10.77.0.3        0x1         0x0         00:00:00:00:00:00     *        eth0\n"
        << QString();
    QTest::newRow("permanent entry (flags 0x6) kept")
        << "10.77.0.200      0x1         0x6         02:5a:5a:00:00:01     *        eth0\n"
        << "0a4d00c8/02:5a:5a:00:00:01/eth0";
    QTest::newRow("two entries, garbage line between")
        << "10.77.0.1        0x1         0x2         02:5a:00:00:00:01     *        eth0\n"
           "not an arp line\n"
           "10.77.0.5        0x1         0x2         02:5a:00:00:00:05     *        eth1\n"
        << "0a4d0001/02:5a:00:00:00:01/eth0 0a4d0005/02:5a:00:00:00:05/eth1";
    QTest::newRow("bad MAC and bad address skipped")
        << "10.77.0.1        0x1         0x2         02:5a:00:00:00        *        eth0\n"
           "10.77.0.999      0x1         0x2         02:5a:00:00:00:01     *        eth0\n"
        << QString();
}

void TestNeighbourTable::parseProcNetArp()
{
    QFETCH(QString, body);
    QFETCH(QString, expected);
    const std::string text = kHeader + body.toStdString();
    QCOMPARE(describe(KernelNeighbourTable::parseProcNetArp(text)), expected);
}

void TestNeighbourTable::solicitOnlyInsideTheCluster_data()
{
    QTest::addColumn<int>("prefix");
    QTest::addColumn<quint32>("address");
    QTest::addColumn<bool>("allowed");
    // Only "outside" rows run without a namespace: they never send anything.
    QTest::newRow("public address refused") << 24 << quint32(ip4(192, 0, 2, 1)) << false;
    QTest::newRow("neighbouring subnet refused") << 24 << quint32(ip4(10, 77, 1, 1)) << false;
    QTest::newRow("a /0 cluster refuses everything") << 0 << quint32(ip4(10, 77, 0, 1)) << false;
}

void TestNeighbourTable::solicitOnlyInsideTheCluster()
{
    QFETCH(int, prefix);
    QFETCH(quint32, address);
    QFETCH(bool, allowed);
    KernelNeighbourTable table(ip4(10, 77, 0, 0), prefix);
    QCOMPARE(table.solicit(address), allowed);
    QVERIFY2(table.lastError().find("outside the cluster subnet") != std::string::npos, table.lastError().c_str());
}

void TestNeighbourTable::resolvesAPeerInANamespace()
{
    if (::geteuid() != 0)
        QSKIP("needs root (creates two network namespaces and a veth pair); CI runs it as root");
    testlab::NetnsLab lab('n');
    QVERIFY2(lab.ok(), lab.error.c_str());
    testlab::NetnsScope in(lab.nsB);
    QVERIFY(in.ok());
    KernelNeighbourTable table(lab.ipA & 0xffffff00u, 24, lab.ifB);
    QVERIFY(!table.lookup(lab.ipA)); // fresh namespace: nothing resolved yet
    const auto mac = table.resolveBlocking(lab.ipA, 50, std::chrono::milliseconds(20));
    QVERIFY2(mac, table.lastError().c_str());
    QCOMPARE(QByteArray(reinterpret_cast<const char *>(mac->data()), 6).toHex(':'),
             QByteArray(reinterpret_cast<const char *>(lab.macA.data()), 6).toHex(':'));
    const auto entries = table.dump();
    QVERIFY2(table.lastError().empty(), table.lastError().c_str()); // netlink answered, no fallback
    QCOMPARE(entries.size(), std::size_t(1));
    QCOMPARE(entries[0].device, lab.ifB);
    // Another interface's view does not see it.
    KernelNeighbourTable elsewhere(lab.ipA & 0xffffff00u, 24, "lo");
    QVERIFY(!elsewhere.lookup(lab.ipA));
}

QTEST_GUILESS_MAIN(TestNeighbourTable)
#include "tst_neighbourtable.moc"
