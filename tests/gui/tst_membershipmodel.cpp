// Specification of MembershipModel: rows follow RingView snapshots by diffing (never a reset),
// nodes that vanish stay as dead/left, a purge makes members suspect.

#include "membershipmodel.h"

#include <QAbstractItemModelTester>
#include <QItemSelectionModel>
#include <QSignalSpy>
#include <QTest>

using namespace sasha;
using namespace sasha::console;

namespace {

tb::Member member(quint32 last, tb::Role role, tb::Health health = tb::Health::Healthy, quint32 cps = 0)
{
    tb::Member m;
    m.addr = 0x7f000000 | last;
    m.endpoint = {m.addr, 7400};
    m.caps = tb::kCanDispatch | tb::kCanServe;
    m.status = {role, health, cps * 10, cps};
    return m;
}

tb::RingView view(std::initializer_list<quint32> nodes, quint32 dispatcher, quint32 epoch = 1)
{
    tb::RingView v;
    v.ringEpoch = epoch;
    for (quint32 n : nodes)
        v.members.push_back(member(n, n == dispatcher ? tb::Role::Dispatcher : tb::Role::Server, tb::Health::Healthy, 100 * n));
    v.master = v.members.empty() ? tb::kNoNode : v.members.front().addr;
    v.dispatcher = 0x7f000000 | dispatcher;
    return v;
}

QString cell(const MembershipModel &m, int row, int col) { return m.index(row, col).data().toString(); }

} // namespace

class TestMembershipModel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void snapshotsApplied_data();
    void snapshotsApplied();
    void diffNeverResetsAndKeepsSelection();
    void vanishedNodeIsDeadThenAliveAgain();
    void gracefulLeaveShowsLeft();
    void purgeMarksMembersSuspect();
    void observersListedWithObserverRole();
    void healthMapsToState_data();
    void healthMapsToState();
    void adminReportColumns_data();
    void adminReportColumns();
};

void TestMembershipModel::snapshotsApplied_data()
{
    QTest::addColumn<QList<quint32>>("nodes");
    QTest::newRow("single standalone") << QList<quint32>{1};
    QTest::newRow("paper's five nodes") << QList<quint32>{1, 2, 3, 4, 5};
    QTest::newRow("unsorted input, gaps") << QList<quint32>{9, 3, 200, 7};
}

void TestMembershipModel::snapshotsApplied()
{
    QFETCH(QList<quint32>, nodes);
    MembershipModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    tb::RingView v;
    for (quint32 n : nodes)
        v.members.push_back(member(n, tb::Role::Server, tb::Health::Healthy, n));
    model.setView(v, 1000);
    QCOMPARE(model.rowCount(), nodes.size());
    QList<quint32> sorted = nodes;
    std::sort(sorted.begin(), sorted.end());
    for (int r = 0; r < model.rowCount(); ++r) {
        QCOMPARE(cell(model, r, MembershipModel::Node), QStringLiteral("127.0.0.%1").arg(sorted[r]));
        QCOMPARE(cell(model, r, MembershipModel::Address), QStringLiteral("127.0.0.%1:7400").arg(sorted[r]));
        QCOMPARE(cell(model, r, MembershipModel::State), QStringLiteral("alive"));
        QCOMPARE(cell(model, r, MembershipModel::Cps), QString::number(sorted[r]));
        QCOMPARE(cell(model, r, MembershipModel::Capabilities), QStringLiteral("dispatch,serve"));
    }
}

void TestMembershipModel::diffNeverResetsAndKeepsSelection()
{
    MembershipModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setView(view({1, 2, 3, 4, 5}, 1), 1000);
    QItemSelectionModel selection(&model);
    selection.select(model.index(3, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    QSignalSpy inserts(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy removes(&model, &QAbstractItemModel::rowsRemoved);
    model.setView(view({1, 2, 3, 4, 5}, 1, 1), 2000);       // same members, new statuses
    model.setView(view({0, 1, 2, 3, 4, 5}, 1, 2), 3000);    // a lower node joins: inserted at row 0
    QCOMPARE(resets.count(), 0);
    QCOMPARE(removes.count(), 0);
    QCOMPARE(inserts.count(), 1);
    QCOMPARE(model.rowCount(), 6);
    QVERIFY(selection.isRowSelected(4, {}));
    QCOMPARE(cell(model, 4, MembershipModel::Node), QStringLiteral("127.0.0.4"));
}

void TestMembershipModel::vanishedNodeIsDeadThenAliveAgain()
{
    MembershipModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setView(view({1, 2, 3}, 1), 1000);
    model.setView(view({2, 3}, 2, 2), 2000);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(cell(model, 0, MembershipModel::State), QStringLiteral("dead"));
    QCOMPARE(cell(model, 0, MembershipModel::Role), QStringLiteral("—"));
    QCOMPARE(cell(model, 0, MembershipModel::Cps), QStringLiteral("0"));
    QCOMPARE(cell(model, 1, MembershipModel::Role), QStringLiteral("dispatcher"));
    QCOMPARE(model.dispatcher(), tb::NodeAddr(0x7f000002));
    model.setView(view({1, 2, 3}, 2, 3), 3000);
    QCOMPARE(cell(model, 0, MembershipModel::State), QStringLiteral("alive"));
    QCOMPARE(cell(model, 0, MembershipModel::Role), QStringLiteral("server"));
}

void TestMembershipModel::gracefulLeaveShowsLeft()
{
    MembershipModel model;
    model.setView(view({1, 2, 3}, 1), 1000);
    model.markLeft(0x7f000003);
    model.setView(view({1, 2}, 1, 1), 2000);
    QCOMPARE(cell(model, 2, MembershipModel::State), QStringLiteral("left"));
}

void TestMembershipModel::purgeMarksMembersSuspect()
{
    MembershipModel model;
    model.setView(view({1, 2, 3}, 1), 1000);
    QSignalSpy changed(&model, &MembershipModel::membershipChanged);
    model.markRingBroken();
    QCOMPARE(changed.count(), 1);
    for (int r = 0; r < 3; ++r)
        QCOMPARE(cell(model, r, MembershipModel::State), QStringLiteral("suspect"));
    model.setView(view({1, 2, 3}, 1, 2), 2000);
    for (int r = 0; r < 3; ++r)
        QCOMPARE(cell(model, r, MembershipModel::State), QStringLiteral("alive"));
}

void TestMembershipModel::observersListedWithObserverRole()
{
    MembershipModel model;
    tb::RingView v = view({1, 2}, 1);
    tb::Member o = member(50, tb::Role::None);
    o.caps = tb::kObserver;
    v.observers.push_back(o);
    model.setView(v, 1000);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(cell(model, 2, MembershipModel::Role), QStringLiteral("observer"));
    model.markRingBroken();
    QCOMPARE(cell(model, 2, MembershipModel::State), QStringLiteral("alive")); // not on the token's path
}

void TestMembershipModel::healthMapsToState_data()
{
    QTest::addColumn<int>("health");
    QTest::addColumn<QString>("state");
    QTest::newRow("unknown health is alive") << int(tb::Health::Unknown) << "alive";
    QTest::newRow("healthy") << int(tb::Health::Healthy) << "alive";
    QTest::newRow("unhealthy") << int(tb::Health::Unhealthy) << "unhealthy";
    QTest::newRow("draining") << int(tb::Health::Draining) << "draining";
}

void TestMembershipModel::healthMapsToState()
{
    QFETCH(int, health);
    QFETCH(QString, state);
    MembershipModel model;
    tb::RingView v;
    v.members.push_back(member(1, tb::Role::Server, tb::Health(health)));
    model.setView(v, 0);
    QCOMPARE(cell(model, 0, MembershipModel::State), state);
}

void TestMembershipModel::adminReportColumns_data()
{
    QTest::addColumn<bool>("haveReport");
    QTest::addColumn<bool>("drained");
    QTest::addColumn<int>("weight"); // -1: none set
    QTest::addColumn<quint32>("openFlows");
    QTest::addColumn<QStringList>("cells"); // Active, Open, Drained, Weight
    QTest::newRow("no report yet: dashes") << false << false << -1 << 0u
                                           << QStringList{"2000", "—", "—", "—"};
    QTest::newRow("in service, no operator weight") << true << false << -1 << 210u
                                                    << QStringList{"2000", "210", "no", "—"};
    QTest::newRow("drained, weight 0, flows closing") << true << true << 0 << 5u
                                                      << QStringList{"2000", "5", "yes", "0"};
}

void TestMembershipModel::adminReportColumns()
{
    QFETCH(bool, haveReport);
    QFETCH(bool, drained);
    QFETCH(int, weight);
    QFETCH(quint32, openFlows);
    QFETCH(QStringList, cells);
    MembershipModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    m.setView(view({1, 2}, 1), 0);
    QCOMPARE(m.headerData(MembershipModel::Connections, Qt::Horizontal, Qt::DisplayRole).toString(), QStringLiteral("Active"));
    QCOMPARE(m.headerData(MembershipModel::OpenFlows, Qt::Horizontal, Qt::DisplayRole).toString(), QStringLiteral("Open"));
    if (haveReport) {
        AdminReport r;
        r.drained = drained;
        if (weight >= 0)
            r.weight = quint16(weight);
        r.openFlows = openFlows;
        QSignalSpy changed(&m, &QAbstractItemModel::dataChanged);
        m.setAdminReport(0x7f000002, r);
        QCOMPARE(changed.size(), 1);
        m.setAdminReport(0x7f000002, r); // the same again: no change
        QCOMPARE(changed.size(), 1);
    }
    const int row = m.rowOf(0x7f000002);
    const QStringList got{cell(m, row, MembershipModel::Connections), cell(m, row, MembershipModel::OpenFlows),
                          cell(m, row, MembershipModel::Drained), cell(m, row, MembershipModel::Weight)};
    QCOMPARE(got, cells);
    // The report survives the next view, and goes with the node when it vanishes.
    m.setView(view({1, 2}, 1), 1000);
    QCOMPARE(cell(m, row, MembershipModel::Drained), cells[2]);
    m.setView(view({1}, 1), 2000);
    QCOMPARE(cell(m, row, MembershipModel::Drained), QStringLiteral("—"));
}

QTEST_MAIN(TestMembershipModel)
#include "tst_membershipmodel.moc"
