// Specification of the sashad config loader: every error class names file, line, key and what
// is accepted; valid files, defaults and presets produce the expected settings.

#include "config/hostnetwork.h"
#include "config/nodesettings.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace sasha;
using namespace std::chrono_literals;

namespace {
enum class KeyFile { Good, Missing, WorldReadable, GroupReadable, GroupWritable, RawBytes, SixteenHexDigits, Directory };

// A host with lo (127.0.0.1/8) and eth0 (10.0.0.2/24, broadcast 10.0.0.255).
class FakeHost final : public HostNetwork {
public:
    bool hasInterface(const QString &name) const override { return interfaceNames().contains(name); }
    AddressUse addressUse(quint32 ip) const override
    {
        if ((ip >> 24) == 127 || ip == 0x0a000002u)
            return AddressUse::Assigned;
        return ip == 0x0a0000ffu ? AddressUse::Broadcast : AddressUse::Foreign;
    }
    QStringList interfaceNames() const override { return {QStringLiteral("lo"), QStringLiteral("eth0")}; }
    QStringList addresses() const override { return {QStringLiteral("127.0.0.1"), QStringLiteral("10.0.0.2")}; }
};
}
Q_DECLARE_METATYPE(KeyFile)

class TestConfig : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

    // Writes the key file as asked and the config with KEY replaced by its path.
    QString writeFiles(const QString &name, const QString &toml, KeyFile kind)
    {
        const QString keyPath = m_dir.filePath(name + QStringLiteral(".key"));
        QFile::remove(keyPath);
        QDir(keyPath).removeRecursively();
        if (kind == KeyFile::Directory && !QDir().mkpath(keyPath))
            return {};
        if (kind != KeyFile::Missing && kind != KeyFile::Directory) {
            QFile key(keyPath);
            if (!key.open(QIODevice::WriteOnly))
                return {};
            if (kind == KeyFile::RawBytes)
                key.write(QByteArray(24, '\x5a'));
            else if (kind == KeyFile::SixteenHexDigits) // an 8-byte key, as `openssl rand -hex 8` writes it
                key.write("0123456789abcdef\n");
            else
                key.write(QByteArray(32, '\x01').toHex() + '\n');
            key.close();
            QFile::Permissions p = QFile::ReadOwner | QFile::WriteOwner;
            if (kind == KeyFile::WorldReadable)
                p |= QFile::ReadOther;
            if (kind == KeyFile::GroupReadable)
                p |= QFile::ReadGroup;
            if (kind == KeyFile::GroupWritable)
                p |= QFile::ReadGroup | QFile::WriteGroup;
            QFile::setPermissions(keyPath, p);
        }
        QString text = toml;
        text.replace(QStringLiteral("KEY"), keyPath);
        const QString cfgPath = m_dir.filePath(name + QStringLiteral(".toml"));
        QFile cfg(cfgPath);
        if (!cfg.open(QIODevice::WriteOnly | QIODevice::Truncate))
            return {};
        cfg.write(text.toUtf8());
        return cfgPath;
    }

    // The name a data row's files are written under.
    static QString rowFileName() { return QString::fromLatin1(QTest::currentDataTag()).replace(QLatin1Char(' '), QLatin1Char('_')); }

    // r must be one error at path:line whose text contains every string of mustContain.
    static void verifyError(const ConfigResult &r, const QString &path, int line, const QStringList &mustContain)
    {
        QVERIFY(!r.ok());
        QVERIFY(r.error.has_value());
        const QString text = r.error->toString();
        QCOMPARE(r.error->line, line);
        QVERIFY2(text.startsWith(path + QLatin1Char(':') + QString::number(line) + QStringLiteral(": ")), qPrintable(text));
        for (const QString &s : mustContain)
            QVERIFY2(text.contains(s), qPrintable(QStringLiteral("'%1' not in: %2").arg(s, text)));
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void errors_data()
    {
        QTest::addColumn<QString>("toml");
        QTest::addColumn<KeyFile>("keyFile");
        QTest::addColumn<int>("line");
        QTest::addColumn<QStringList>("mustContain");

        const QString head = QStringLiteral("[node]\naddress = \"127.0.0.2\"\n[cluster]\nkey_file = \"KEY\"\n");
        QTest::newRow("syntax error reports line and column")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\nport = = 3\n") << KeyFile::Good << 3
            << QStringList{QStringLiteral("syntax error"), QStringLiteral("column")};
        QTest::newRow("unknown table lists accepted tables")
            << head + QStringLiteral("[bogus]\nx = 1\n") << KeyFile::Good << 5
            << QStringList{QStringLiteral("[bogus]"), QStringLiteral("node, cluster, timers, log, faults")};
        QTest::newRow("unknown key lists the table's keys")
            << head + QStringLiteral("[timers]\nrotation = 40\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[timers] rotation"), QStringLiteral("rotation_ms"), QStringLiteral("token_timeout_ms")};
        QTest::newRow("port of wrong type")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\nport = \"7400\"\n[cluster]\nkey_file = \"KEY\"\n")
            << KeyFile::Good << 3 << QStringList{QStringLiteral("[node] port"), QStringLiteral("integer"), QStringLiteral("1..65535")};
        QTest::newRow("nice out of range")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\nnice = -21\n[cluster]\nkey_file = \"KEY\"\n")
            << KeyFile::Good << 3 << QStringList{QStringLiteral("[node] nice"), QStringLiteral("-20..19"), QStringLiteral("-21")};
        QTest::newRow("port out of range")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\nport = 70000\n[cluster]\nkey_file = \"KEY\"\n")
            << KeyFile::Good << 3 << QStringList{QStringLiteral("[node] port"), QStringLiteral("1..65535"), QStringLiteral("70000")};
        QTest::newRow("timer out of range")
            << head + QStringLiteral("[timers]\nbeacon_ms = 0\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[timers] beacon_ms"), QStringLiteral("1..600000")};
        QTest::newRow("token timeout not above rotation")
            << head + QStringLiteral("[timers]\nrotation_ms = 40\ntoken_timeout_ms = 30\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[timers] token_timeout_ms"), QStringLiteral("greater than rotation_ms (40); got 30")};
        QTest::newRow("paper preset with too small token timeout")
            << head + QStringLiteral("[timers]\npreset = \"paper\"\ntoken_timeout_ms = 400\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("token_timeout_ms"), QStringLiteral("rotation_ms (500); got 400")};
        QTest::newRow("unknown preset")
            << head + QStringLiteral("[timers]\npreset = \"wan\"\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[timers] preset"), QStringLiteral("\"lan\", \"paper\"")};
        QTest::newRow("missing key file")
            << head << KeyFile::Missing << 4
            << QStringList{QStringLiteral("[cluster] key_file"), QStringLiteral("does not exist"), QStringLiteral("sashactl keygen")};
        QTest::newRow("world-readable key file")
            << head << KeyFile::WorldReadable << 4
            << QStringList{QStringLiteral("[cluster] key_file"), QStringLiteral("chmod 600")};
        QTest::newRow("group-writable key file")
            << head << KeyFile::GroupWritable << 4
            << QStringList{QStringLiteral("[cluster] key_file"), QStringLiteral("chmod 640")};
        QTest::newRow("missing key_file key")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\n[cluster]\nseeds = []\n") << KeyFile::Good << 3
            << QStringList{QStringLiteral("[cluster] key_file"), QStringLiteral("required")};
        QTest::newRow("bad seed syntax")
            << head + QStringLiteral("seeds = [\"127.0.0.1:7400\", \"127.0.0:99999\"]\n") << KeyFile::Good << 5
            << QStringList{QStringLiteral("[cluster] seeds"), QStringLiteral("127.0.0:99999"), QStringLiteral("IPv4:port")};
        QTest::newRow("seed port out of range")
            << head + QStringLiteral("seeds = [\"127.0.0.1:0\"]\n") << KeyFile::Good << 5
            << QStringList{QStringLiteral("[cluster] seeds"), QStringLiteral("port 1..65535")};
        QTest::newRow("bad capability word")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\ncapabilities = [\"dispatch\", \"cook\"]\n[cluster]\nkey_file = \"KEY\"\n")
            << KeyFile::Good << 3
            << QStringList{QStringLiteral("[node] capabilities"), QStringLiteral("\"cook\""), QStringLiteral("\"dispatch\", \"serve\", \"observer\"")};
        QTest::newRow("observer combined with serve")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\ncapabilities = [\"observer\", \"serve\"]\n[cluster]\nkey_file = \"KEY\"\n")
            << KeyFile::Good << 3 << QStringList{QStringLiteral("[node] capabilities"), QStringLiteral("cannot be combined")};
        QTest::newRow("bad address")
            << QStringLiteral("[node]\naddress = \"10.1\"\n[cluster]\nkey_file = \"KEY\"\n") << KeyFile::Good << 2
            << QStringList{QStringLiteral("[node] address"), QStringLiteral("IPv4 address"), QStringLiteral("\"10.1\"")};
        QTest::newRow("no address and no interface")
            << QStringLiteral("[node]\nport = 7400\n[cluster]\nkey_file = \"KEY\"\n") << KeyFile::Good << 1
            << QStringList{QStringLiteral("[node] address"), QStringLiteral("interface")};
        QTest::newRow("unknown interface")
            << QStringLiteral("[node]\ninterface = \"nosuchif0\"\n[cluster]\nkey_file = \"KEY\"\n") << KeyFile::Good << 2
            << QStringList{QStringLiteral("[node] interface"), QStringLiteral("nosuchif0"), QStringLiteral("present: ")};
        QTest::newRow("bad broadcast")
            << head + QStringLiteral("broadcast = \"everyone\"\n") << KeyFile::Good << 5
            << QStringList{QStringLiteral("[cluster] broadcast"), QStringLiteral("\"auto\"")};
        QTest::newRow("faults enabled not a boolean")
            << head + QStringLiteral("[faults]\nenabled = \"yes\"\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[faults] enabled"), QStringLiteral("true or false")};
        QTest::newRow("metrics listen without a port")
            << head + QStringLiteral("[metrics]\nlisten = \"127.0.0.1\"\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[metrics] listen"), QStringLiteral("\"ADDRESS:PORT\""), QStringLiteral("got \"127.0.0.1\"")};
        QTest::newRow("metrics listen with a host name")
            << head + QStringLiteral("[metrics]\nlisten = \"localhost:9477\"\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[metrics] listen"), QStringLiteral("IPv4"), QStringLiteral("got \"localhost:9477\"")};
        QTest::newRow("metrics port out of range")
            << head + QStringLiteral("[metrics]\nlisten = \"127.0.0.1:70000\"\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[metrics] listen"), QStringLiteral("1..65535"), QStringLiteral("got \"127.0.0.1:70000\"")};
        QTest::newRow("metrics listen not a string")
            << head + QStringLiteral("[metrics]\nlisten = 9477\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[metrics] listen"), QStringLiteral("must be a string")};
        QTest::newRow("unknown log target")
            << head + QStringLiteral("[log]\ntarget = \"syslog\"\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[log] target"), QStringLiteral("\"auto\", \"journal\" or \"stderr\""),
                           QStringLiteral("got \"syslog\"")};
        QTest::newRow("relative control socket")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\ncontrol_socket = \"sashad.sock\"\n[cluster]\nkey_file = \"KEY\"\n")
            << KeyFile::Good << 3 << QStringList{QStringLiteral("[node] control_socket"), QStringLiteral("absolute")};
        QTest::newRow("relative state file")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\nstate_file = \"state.json\"\n[cluster]\nkey_file = \"KEY\"\n")
            << KeyFile::Good << 3
            << QStringList{QStringLiteral("[node] state_file"), QStringLiteral("absolute path"), QStringLiteral("\"state.json\"")};
        QTest::newRow("state file not a string")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\nstate_file = 3\n[cluster]\nkey_file = \"KEY\"\n")
            << KeyFile::Good << 3 << QStringList{QStringLiteral("[node] state_file")};

        const QString disp = head + QStringLiteral("[dispatcher]\ninterface = \"eth0\"\n");
        QTest::newRow("dispatcher vip not an address")
            << disp + QStringLiteral("vip = \"10.77.0\"\nvmac = \"02:5a:5a:00:00:01\"\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] vip"), QStringLiteral("IPv4 address")};
        QTest::newRow("dispatcher vmac malformed")
            << disp + QStringLiteral("vip = \"10.77.0.200\"\nvmac = \"02:5a:5a:00:01\"\n") << KeyFile::Good << 8
            << QStringList{QStringLiteral("[dispatcher] vmac"), QStringLiteral("02:5a:5a:00:00:01")};
        QTest::newRow("dispatcher vmac multicast")
            << disp + QStringLiteral("vip = \"10.77.0.200\"\nvmac = \"01:00:5e:00:00:01\"\n") << KeyFile::Good << 8
            << QStringList{QStringLiteral("[dispatcher] vmac"), QStringLiteral("unicast")};
        QTest::newRow("dispatcher vip without vmac")
            << disp + QStringLiteral("vip = \"10.77.0.200\"\n") << KeyFile::Good << 5
            << QStringList{QStringLiteral("[dispatcher] vmac"), QStringLiteral("required when vip is set")};
        QTest::newRow("dispatcher vmac without vip")
            << disp + QStringLiteral("vmac = \"02:5a:5a:00:00:01\"\n") << KeyFile::Good << 5
            << QStringList{QStringLiteral("[dispatcher] vip"), QStringLiteral("required when vmac is set")};
        QTest::newRow("dispatcher unknown scheduler lists the accepted ones")
            << disp + QStringLiteral("scheduler = \"random\"\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] scheduler"), QStringLiteral("\"maglev\", \"wlc\", \"rr\"")};
        QTest::newRow("dispatcher unknown injector lists the accepted ones")
            << disp + QStringLiteral("injector = \"libnet\"\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] injector"), QStringLiteral("\"afpacket\", \"tx-ring\", \"pcap\"")};
        QTest::newRow("dispatcher port out of range")
            << disp + QStringLiteral("ports = [80, 70000]\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] ports"), QStringLiteral("1..65535"), QStringLiteral("70000")};
        QTest::newRow("dispatcher empty ports")
            << disp + QStringLiteral("ports = []\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] ports"), QStringLiteral("empty array")};
        QTest::newRow("dispatcher weight of a non-address")
            << disp + QStringLiteral("weights = { node2 = 3 }\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] weights"), QStringLiteral("node2")};
        QTest::newRow("dispatcher serve_while_dispatching not a boolean")
            << disp + QStringLiteral("serve_while_dispatching = 1\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] serve_while_dispatching"), QStringLiteral("true or false")};
        QTest::newRow("dispatcher capture buffer too large")
            << disp + QStringLiteral("capture_buffer_mb = 4096\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] capture_buffer_mb"), QStringLiteral("1..1024")};
        QTest::newRow("dispatcher batch wait above 1 ms")
            << disp + QStringLiteral("batch_us = 5000\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] batch_us"), QStringLiteral("0..1000")};
        QTest::newRow("dispatcher negative batch wait")
            << disp + QStringLiteral("batch_us = -1\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] batch_us"), QStringLiteral("0..1000")};
        QTest::newRow("dispatcher cpu below -1")
            << disp + QStringLiteral("cpu = -2\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] cpu"), QStringLiteral("-1..1023")};
        QTest::newRow("dispatcher without any interface")
            << head + QStringLiteral("[dispatcher]\nvip = \"10.77.0.200\"\nvmac = \"02:5a:5a:00:00:01\"\n") << KeyFile::Good << 5
            << QStringList{QStringLiteral("[dispatcher] interface"), QStringLiteral("[node] interface")};
        QTest::newRow("dispatcher unknown key")
            << disp + QStringLiteral("announce = 5\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] announce"), QStringLiteral("announce_ms")};
        QTest::newRow("health url not http")
            << head + QStringLiteral("[health]\nurl = \"ftp://x\"\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[health] url"), QStringLiteral("http://")};
        QTest::newRow("health timeout above interval")
            << head + QStringLiteral("[health]\ninterval_ms = 100\ntimeout_ms = 200\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[health] timeout_ms"), QStringLiteral("must not exceed interval_ms")};
        QTest::newRow("health rise zero")
            << head + QStringLiteral("[health]\nrise = 0\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[health] rise"), QStringLiteral("1..100")};
        QTest::newRow("agent backoff out of range")
            << head + QStringLiteral("[agent]\ndead_max_backoff = 300\n") << KeyFile::Good << 6
            << QStringList{QStringLiteral("[agent] dead_max_backoff"), QStringLiteral("0..255")};

        // Issue 11: what --check used to accept or explain wrongly.
        QTest::newRow("8-byte key written as 16 hex digits")
            << head << KeyFile::SixteenHexDigits << 4
            << QStringList{QStringLiteral("[cluster] key_file"), QStringLiteral("16 hex digits, which is 8 bytes"),
                           QStringLiteral("at least 16 bytes (32 hex digits)"), QStringLiteral("sashactl keygen")};
        QTest::newRow("key file that is a directory")
            << head << KeyFile::Directory << 4
            << QStringList{QStringLiteral("[cluster] key_file"), QStringLiteral("is a directory, not a key file"),
                           QStringLiteral("sashactl keygen --output")};
        QTest::newRow("empty capabilities")
            << QStringLiteral("[node]\naddress = \"127.0.0.2\"\ncapabilities = []\n[cluster]\nkey_file = \"KEY\"\n")
            << KeyFile::Good << 3
            << QStringList{QStringLiteral("[node] capabilities"), QStringLiteral("at least one"), QStringLiteral("got []"),
                           QStringLiteral("\"observer\"")};
        QTest::newRow("multicast address")
            << QStringLiteral("[node]\naddress = \"224.0.0.5\"\n[cluster]\nkey_file = \"KEY\"\n") << KeyFile::Good << 2
            << QStringList{QStringLiteral("[node] address"), QStringLiteral("\"224.0.0.5\""), QStringLiteral("multicast"),
                           QStringLiteral("own address")};
        QTest::newRow("broadcast address 255.255.255.255")
            << QStringLiteral("[node]\naddress = \"255.255.255.255\"\n[cluster]\nkey_file = \"KEY\"\n") << KeyFile::Good << 2
            << QStringList{QStringLiteral("[node] address"), QStringLiteral("\"255.255.255.255\""), QStringLiteral("broadcast")};
        QTest::newRow("address in the this-network block 0.0.0.0")
            << QStringLiteral("[node]\naddress = \"0.0.0.0\"\n[cluster]\nkey_file = \"KEY\"\n") << KeyFile::Good << 2
            << QStringList{QStringLiteral("[node] address"), QStringLiteral("\"0.0.0.0\""), QStringLiteral("0.0.0.0/8")};
        QTest::newRow("address in the reserved block 240.0.0.0")
            << QStringLiteral("[node]\naddress = \"250.1.2.3\"\n[cluster]\nkey_file = \"KEY\"\n") << KeyFile::Good << 2
            << QStringList{QStringLiteral("[node] address"), QStringLiteral("\"250.1.2.3\""), QStringLiteral("240.0.0.0/4")};
        QTest::newRow("dispatcher multicast vip")
            << disp + QStringLiteral("vip = \"239.1.1.1\"\nvmac = \"02:5a:5a:00:00:01\"\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] vip"), QStringLiteral("\"239.1.1.1\""), QStringLiteral("multicast")};
        QTest::newRow("dispatcher all-zero vmac")
            << disp + QStringLiteral("vip = \"10.77.0.200\"\nvmac = \"00:00:00:00:00:00\"\n") << KeyFile::Good << 8
            << QStringList{QStringLiteral("[dispatcher] vmac"), QStringLiteral("all zero"), QStringLiteral("\"00:00:00:00:00:00\""),
                           QStringLiteral("02:5a:5a:00:00:01")};
        QTest::newRow("dispatcher broadcast vmac")
            << disp + QStringLiteral("vip = \"10.77.0.200\"\nvmac = \"ff:ff:ff:ff:ff:ff\"\n") << KeyFile::Good << 8
            << QStringList{QStringLiteral("[dispatcher] vmac"), QStringLiteral("unicast"), QStringLiteral("\"ff:ff:ff:ff:ff:ff\"")};
        QTest::newRow("dispatcher weight of 70000 quotes the value")
            << disp + QStringLiteral("weights = { \"10.0.0.2\" = 70000 }\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] weights"), QStringLiteral("\"10.0.0.2\" = 70000"),
                           QStringLiteral("0..65535"), QStringLiteral("got 70000")};
        QTest::newRow("dispatcher weight not an integer")
            << disp + QStringLiteral("weights = { \"10.0.0.2\" = \"heavy\" }\n") << KeyFile::Good << 7
            << QStringList{QStringLiteral("[dispatcher] weights"), QStringLiteral("\"10.0.0.2\""), QStringLiteral("integer 0..65535"),
                           QStringLiteral("got a string")};
        QTest::newRow("dispatcher weight entry reported at its own line")
            << disp + QStringLiteral("[dispatcher.weights]\n\"10.0.0.2\" = 3\n\"10.0.0.3\" = -1\n") << KeyFile::Good << 9
            << QStringList{QStringLiteral("[dispatcher] weights"), QStringLiteral("\"10.0.0.3\" = -1"), QStringLiteral("got -1")};

        // [[service]] tables: lines 5-7 are [dispatcher], the first [[service]] is at line 8.
        const QString svc = head + QStringLiteral("[dispatcher]\ninterface = \"eth0\"\nvmac = \"02:5a:5a:00:00:01\"\n[[service]]\n");
        const QString web = QStringLiteral("vip = \"10.77.0.200\"\nport = 80\n");
        QTest::newRow("service nat mode without a gateway")
            << svc + web + QStringLiteral("mode = \"nat\"\n") << KeyFile::Good << 5
            << QStringList{QStringLiteral("[dispatcher] gateway"), QStringLiteral("is required"), QStringLiteral("mode = \"nat\""),
                           QStringLiteral("gateway = \"10.0.0.254\"")};
        const QString natDisp = head + QStringLiteral("[dispatcher]\ninterface = \"eth0\"\nvmac = \"02:5a:5a:00:00:01\"\n");
        QTest::newRow("gateway without a nat service")
            << natDisp + QStringLiteral("gateway = \"10.77.0.253\"\n[[service]]\n") + web << KeyFile::Good << 8
            << QStringList{QStringLiteral("[dispatcher] gateway"), QStringLiteral("only by [[service]] tables with mode = \"nat\"")};
        QTest::newRow("gateway that is a VIP")
            << natDisp + QStringLiteral("gateway = \"10.77.0.200\"\n[[service]]\n") + web + QStringLiteral("mode = \"nat\"\n")
            << KeyFile::Good << 8
            << QStringList{QStringLiteral("[dispatcher] gateway"), QStringLiteral("\"10.77.0.200\" is a VIP")};
        QTest::newRow("gateway not unicast")
            << natDisp + QStringLiteral("gateway = \"224.0.0.1\"\n[[service]]\n") + web + QStringLiteral("mode = \"nat\"\n")
            << KeyFile::Good << 8
            << QStringList{QStringLiteral("[dispatcher] gateway"), QStringLiteral("\"224.0.0.1\""), QStringLiteral("multicast")};
        QTest::newRow("two nat services on one port")
            << natDisp + QStringLiteral("gateway = \"10.77.0.253\"\n[[service]]\n") + web + QStringLiteral("mode = \"nat\"\n")
                   + QStringLiteral("[[service]]\nvip = \"10.77.0.201\"\nport = 80\nmode = \"nat\"\n")
            << KeyFile::Good << 15
            << QStringList{QStringLiteral("[[service]] port"), QStringLiteral("port 80/tcp"), QStringLiteral("NAT service of 10.77.0.200"),
                           QStringLiteral("mapped back")};
        QTest::newRow("service unknown mode")
            << svc + web + QStringLiteral("mode = \"tun\"\n") << KeyFile::Good << 11
            << QStringList{QStringLiteral("[[service]] mode"), QStringLiteral("unknown value \"tun\""), QStringLiteral("accepted: \"dr\"")};
        QTest::newRow("service unknown key lists the service keys")
            << svc + web + QStringLiteral("weight = 3\n") << KeyFile::Good << 11
            << QStringList{QStringLiteral("[[service]] weight"), QStringLiteral("unknown key"),
                           QStringLiteral("vip, protocol, port, mode, scheduler, persistence_s, udp_idle_s")};
        // [[service]] weights: the [dispatcher] weights checks, named as the service's key.
        QTest::newRow("service weight of a non-address")
            << svc + web + QStringLiteral("weights = { node2 = 3 }\n") << KeyFile::Good << 11
            << QStringList{QStringLiteral("[[service]] weights"), QStringLiteral("\"node2\""),
                           QStringLiteral("server's IPv4 address like \"10.0.0.2\"")};
        QTest::newRow("service weight of 70000 quotes the value")
            << svc + web + QStringLiteral("weights = { \"10.77.0.3\" = 70000 }\n") << KeyFile::Good << 11
            << QStringList{QStringLiteral("[[service]] weights"), QStringLiteral("\"10.77.0.3\" = 70000"),
                           QStringLiteral("0..65535 (0 = no new flows)")};
        QTest::newRow("service weight not an integer")
            << svc + web + QStringLiteral("weights = { \"10.77.0.3\" = 0.5 }\n") << KeyFile::Good << 11
            << QStringList{QStringLiteral("[[service]] weights"), QStringLiteral("\"10.77.0.3\""), QStringLiteral("integer 0..65535")};
        QTest::newRow("service weights not a table")
            << svc + web + QStringLiteral("weights = 3\n") << KeyFile::Good << 11
            << QStringList{QStringLiteral("[[service]] weights"), QStringLiteral("must be a table like { \"10.0.0.2\" = 2 }"),
                           QStringLiteral("an integer")};
        QTest::newRow("service weight entry reported at its own line")
            << svc + web + QStringLiteral("[service.weights]\n\"10.77.0.3\" = 1\n\"10.77.0.4\" = -2\n") << KeyFile::Good << 13
            << QStringList{QStringLiteral("[[service]] weights"), QStringLiteral("\"10.77.0.4\" = -2"), QStringLiteral("got -2")};
        {
            // Eight different weights tables (and a repeat of one) are fine; a ninth is refused.
            QString many = svc + web + QStringLiteral("weights = { \"10.77.0.3\" = 0 }\n");
            for (int i = 1; i < 8; ++i)
                many += QStringLiteral("[[service]]\nvip = \"10.77.0.200\"\nport = %1\nweights = { \"10.77.0.3\" = %2 }\n")
                            .arg(100 + i).arg(i);
            many += QStringLiteral("[[service]]\nvip = \"10.77.0.200\"\nport = 200\nweights = { \"10.77.0.3\" = 0 }\n");
            many += QStringLiteral("[[service]]\nvip = \"10.77.0.200\"\nport = 201\nweights = { \"10.77.0.3\" = 9 }\n");
            QTest::newRow("a ninth different service weights table")
                << many << KeyFile::Good << 47 // 11, then 9 services of 4 lines
                << QStringList{QStringLiteral("[[service]] weights"), QStringLiteral("at most 8 different weights tables"),
                               QStringLiteral("this is table 9")};
        }
        QTest::newRow("service without vip")
            << svc + QStringLiteral("port = 80\n") << KeyFile::Good << 8
            << QStringList{QStringLiteral("[[service]]:"), QStringLiteral("vip is required")};
        QTest::newRow("service without port")
            << svc + QStringLiteral("vip = \"10.77.0.200\"\n") << KeyFile::Good << 8
            << QStringList{QStringLiteral("[[service]]:"), QStringLiteral("port is required"), QStringLiteral("\"8000-8010\"")};
        QTest::newRow("service vip not an address")
            << svc + QStringLiteral("vip = \"10.77.0\"\nport = 80\n") << KeyFile::Good << 9
            << QStringList{QStringLiteral("[[service]] vip"), QStringLiteral("IPv4 address"), QStringLiteral("\"10.77.0\"")};
        QTest::newRow("service multicast vip")
            << svc + QStringLiteral("vip = \"239.1.1.1\"\nport = 80\n") << KeyFile::Good << 9
            << QStringList{QStringLiteral("[[service]] vip"), QStringLiteral("multicast")};
        QTest::newRow("service unknown protocol")
            << svc + web + QStringLiteral("protocol = \"sctp\"\n") << KeyFile::Good << 11
            << QStringList{QStringLiteral("[[service]] protocol"), QStringLiteral("\"sctp\""), QStringLiteral("\"tcp\", \"udp\"")};
        QTest::newRow("service port 0")
            << svc + QStringLiteral("vip = \"10.77.0.200\"\nport = 0\n") << KeyFile::Good << 10
            << QStringList{QStringLiteral("[[service]] port"), QStringLiteral("1..65535"), QStringLiteral("got 0")};
        QTest::newRow("service reversed range")
            << svc + QStringLiteral("vip = \"10.77.0.200\"\nport = \"8010-8000\"\n") << KeyFile::Good << 10
            << QStringList{QStringLiteral("[[service]] port"), QStringLiteral("range like \"8000-8010\""), QStringLiteral("got \"8010-8000\"")};
        QTest::newRow("service bad list entry at its own line")
            << svc + QStringLiteral("vip = \"10.77.0.200\"\nport = [\n  80,\n  \"http\",\n]\n") << KeyFile::Good << 12
            << QStringList{QStringLiteral("[[service]] port"), QStringLiteral("the list has \"http\"")};
        QTest::newRow("service empty port list")
            << svc + QStringLiteral("vip = \"10.77.0.200\"\nport = []\n") << KeyFile::Good << 10
            << QStringList{QStringLiteral("[[service]] port"), QStringLiteral("empty list")};
        QTest::newRow("service persistence out of range")
            << svc + web + QStringLiteral("persistence_s = 100000\n") << KeyFile::Good << 11
            << QStringList{QStringLiteral("[[service]] persistence_s"), QStringLiteral("0..86400"), QStringLiteral("got 100000")};
        QTest::newRow("service udp_idle_s 0")
            << svc + web + QStringLiteral("protocol = \"udp\"\nudp_idle_s = 0\n") << KeyFile::Good << 12
            << QStringList{QStringLiteral("[[service]] udp_idle_s"), QStringLiteral("1..86400"), QStringLiteral("got 0")};
        QTest::newRow("service udp_idle_s above a day")
            << svc + web + QStringLiteral("protocol = \"udp\"\nudp_idle_s = 86401\n") << KeyFile::Good << 12
            << QStringList{QStringLiteral("[[service]] udp_idle_s"), QStringLiteral("1..86400"), QStringLiteral("got 86401")};
        QTest::newRow("service udp_idle_s not an integer")
            << svc + web + QStringLiteral("protocol = \"udp\"\nudp_idle_s = \"60s\"\n") << KeyFile::Good << 12
            << QStringList{QStringLiteral("[[service]] udp_idle_s"), QStringLiteral("an integer in 1..86400"), QStringLiteral("got a string")};
        QTest::newRow("service udp_idle_s on a tcp service")
            << svc + web + QStringLiteral("udp_idle_s = 30\n") << KeyFile::Good << 11
            << QStringList{QStringLiteral("[[service]] udp_idle_s"), QStringLiteral("protocol = \"udp\" services only"),
                           QStringLiteral("1..86400")};
        QTest::newRow("service overlapping port of another service")
            << svc + QStringLiteral("vip = \"10.77.0.200\"\nport = \"8000-8010\"\n[[service]]\nvip = \"10.77.0.200\"\nport = [443, 8005]\n")
            << KeyFile::Good << 13
            << QStringList{QStringLiteral("[[service]] port"), QStringLiteral("port 8005/tcp of 10.77.0.200"),
                           QStringLiteral("service at line 8")};
        QTest::newRow("service more than 64 TCP ports")
            << svc + QStringLiteral("vip = \"10.77.0.200\"\nport = \"1000-1100\"\n") << KeyFile::Good << 10
            << QStringList{QStringLiteral("[[service]] port"), QStringLiteral("at most 64 TCP ports"), QStringLiteral("got 101")};
        QTest::newRow("service with dispatcher vip")
            << head + QStringLiteral("[dispatcher]\ninterface = \"eth0\"\nvmac = \"02:5a:5a:00:00:01\"\nvip = \"10.77.0.200\"\n[[service]]\n") + web
            << KeyFile::Good << 8
            << QStringList{QStringLiteral("[dispatcher] vip"), QStringLiteral("must not be set with [[service]] tables"),
                           QStringLiteral("[[service]] vip = \"10.0.0.200\", protocol = \"tcp\", port = 80")};
        QTest::newRow("service without dispatcher vmac")
            << head + QStringLiteral("[dispatcher]\ninterface = \"eth0\"\n[[service]]\n") + web << KeyFile::Good << 5
            << QStringList{QStringLiteral("[dispatcher] vmac"), QStringLiteral("required with [[service]] tables")};
        QTest::newRow("service as a plain table")
            << head + QStringLiteral("[service]\nvip = \"10.77.0.200\"\n") << KeyFile::Good << 5
            << QStringList{QStringLiteral("[[service]]"), QStringLiteral("array of tables")};
    }

    // The checks that only hold on the node itself (sashad --check and start pass the host).
    void hostChecks_data()
    {
        QTest::addColumn<QString>("toml");
        QTest::addColumn<int>("line"); // 0: valid
        QTest::addColumn<QStringList>("mustContain");
        const QString key = QStringLiteral("[cluster]\nkey_file = \"KEY\"\n");
        const QString dispatcher = QStringLiteral("[dispatcher]\nvip = \"10.0.0.200\"\nvmac = \"02:5a:5a:00:00:01\"\n");
        QTest::newRow("address assigned to an interface")
            << QStringLiteral("[node]\naddress = \"10.0.0.2\"\n") + key << 0 << QStringList{};
        QTest::newRow("address in the loopback subnet (the loopback test rings)")
            << QStringLiteral("[node]\naddress = \"127.0.5.3\"\n") + key << 0 << QStringList{};
        QTest::newRow("metrics on an address of this host")
            << QStringLiteral("[node]\naddress = \"10.0.0.2\"\n") + key + QStringLiteral("[metrics]\nlisten = \"10.0.0.2:9477\"\n")
            << 0 << QStringList{};
        QTest::newRow("metrics on every address")
            << QStringLiteral("[node]\naddress = \"10.0.0.2\"\n") + key + QStringLiteral("[metrics]\nlisten = \"0.0.0.0:9477\"\n")
            << 0 << QStringList{};
        QTest::newRow("metrics on a foreign address")
            << QStringLiteral("[node]\naddress = \"10.0.0.2\"\n") + key + QStringLiteral("[metrics]\nlisten = \"10.9.9.9:9477\"\n")
            << 6 << QStringList{QStringLiteral("[metrics] listen"), QStringLiteral("\"10.9.9.9\" is not an address of this host"),
                                QStringLiteral("addresses here: 127.0.0.1, 10.0.0.2")};
        QTest::newRow("foreign address")
            << QStringLiteral("[node]\naddress = \"10.9.9.9\"\n") + key << 2
            << QStringList{QStringLiteral("[node] address"), QStringLiteral("\"10.9.9.9\" is not an address of this host"),
                           QStringLiteral("addresses here: 127.0.0.1, 10.0.0.2"), QStringLiteral("network namespace")};
        QTest::newRow("address is an interface's broadcast address")
            << QStringLiteral("[node]\nport = 7400\naddress = \"10.0.0.255\"\n") + key << 3
            << QStringList{QStringLiteral("[node] address"), QStringLiteral("\"10.0.0.255\" is the broadcast address")};
        QTest::newRow("dispatcher interface present")
            << QStringLiteral("[node]\naddress = \"10.0.0.2\"\n") + key + dispatcher + QStringLiteral("interface = \"eth0\"\n")
            << 0 << QStringList{};
        QTest::newRow("dispatcher interface missing")
            << QStringLiteral("[node]\naddress = \"10.0.0.2\"\n") + key + dispatcher + QStringLiteral("interface = \"eth9\"\n")
            << 8
            << QStringList{QStringLiteral("[dispatcher] interface"), QStringLiteral("no interface \"eth9\" on this host;"),
                           QStringLiteral("present: lo, eth0")};
        QTest::newRow("dispatcher interface inherited from a missing [node] interface")
            << QStringLiteral("[node]\naddress = \"10.0.0.2\"\ninterface = \"eth9\"\n") + key + dispatcher << 6
            << QStringList{QStringLiteral("[dispatcher] interface"), QStringLiteral("\"eth9\""),
                           QStringLiteral("inherited from [node] interface"), QStringLiteral("present: lo, eth0")};
        QTest::newRow("interface without vip and vmac is not used, not checked")
            << QStringLiteral("[node]\naddress = \"10.0.0.2\"\n") + key + QStringLiteral("[dispatcher]\ninterface = \"eth9\"\n")
            << 0 << QStringList{};
    }

    void hostChecks()
    {
        QFETCH(QString, toml);
        QFETCH(int, line);
        QFETCH(QStringList, mustContain);
        const QString path = writeFiles(rowFileName(), toml, KeyFile::Good);
        QVERIFY(!path.isEmpty());
        const FakeHost host;
        const ConfigResult r = loadNodeSettings(path, &host);
        // Without a host (a config checked away from its node) none of this is checked.
        const ConfigResult unchecked = loadNodeSettings(path);
        QVERIFY2(unchecked.ok(), unchecked.error ? qPrintable(unchecked.error->toString()) : "");
        if (line == 0) {
            QVERIFY2(r.ok(), r.error ? qPrintable(r.error->toString()) : "");
            return;
        }
        verifyError(r, path, line, mustContain);
    }

    void systemHostKnowsLoopback()
    {
        const SystemHostNetwork host;
        if (!host.hasInterface(QStringLiteral("lo")))
            QSKIP("no loopback interface named lo here");
        QVERIFY(!host.hasInterface(QStringLiteral("nosuchif0")));
        QVERIFY(!host.hasInterface(QString()));
        const auto use = [&](quint32 ip) { return int(host.addressUse(ip)); };
        QCOMPARE(use(0x7f000001u), int(HostNetwork::AddressUse::Assigned));
        QCOMPARE(use(0x7f050603u), int(HostNetwork::AddressUse::Assigned)); // all of 127/8 binds on lo
        QCOMPARE(use(0xc0000201u), int(HostNetwork::AddressUse::Foreign));  // 192.0.2.1, TEST-NET-1
        QVERIFY(host.interfaceNames().contains(QStringLiteral("lo")));
        QVERIFY(host.addresses().contains(QStringLiteral("127.0.0.1")));
    }

    // [cluster] key_file content: hex (two digits per byte, at least 32 digits) or raw bytes.
    void clusterKey_data()
    {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QByteArray>("key"); // empty: refused
        QTest::addColumn<QString>("whyPart");
        const QByteArray keygen = QByteArray(32, '\x01').toHex();
        QTest::newRow("sashactl keygen: 64 hex digits and a newline") << keygen + '\n' << QByteArray(32, '\x01') << QString();
        QTest::newRow("upper-case hex") << keygen.toUpper() << QByteArray(32, '\x01') << QString();
        QTest::newRow("32 hex digits: 16 bytes") << QByteArray(16, '\x02').toHex() + "\r\n" << QByteArray(16, '\x02') << QString();
        QTest::newRow("16 hex digits: an 8-byte key") << QByteArray("0123456789abcdef\n") << QByteArray()
                                                      << QStringLiteral("16 hex digits, which is 8 bytes");
        QTest::newRow("odd number of hex digits") << QByteArray(63, 'a') << QByteArray() << QStringLiteral("63 hex digits, an odd number");
        QTest::newRow("few hex digits, odd") << QByteArray("abc") << QByteArray()
                                             << QStringLiteral("3 hex digits, which is 1.5 bytes; at least 16 bytes");
        QTest::newRow("empty file") << QByteArray() << QByteArray() << QStringLiteral("empty");
        QTest::newRow("only whitespace") << QByteArray(" \n\t\n") << QByteArray() << QStringLiteral("empty");
        QTest::newRow("raw bytes as stored") << QByteArray(24, '\x5a') << QByteArray(24, '\x5a') << QString();
        QTest::newRow("raw text keeps its newline") << QByteArray("correct horse battery\n") << QByteArray("correct horse battery\n")
                                                   << QString();
        QTest::newRow("raw bytes too short") << QByteArray("tooshort") << QByteArray() << QStringLiteral("8 bytes; at least 16");
    }

    void clusterKey()
    {
        QFETCH(QByteArray, content);
        QFETCH(QByteArray, key);
        QFETCH(QString, whyPart);
        QString why;
        QCOMPARE(decodeClusterKey(content, &why), key);
        if (key.isEmpty()) {
            QVERIFY2(why.contains(whyPart), qPrintable(why));
            QVERIFY2(why.contains(QStringLiteral("sashactl keygen")), qPrintable(why));
        }
    }

    void errors()
    {
        QFETCH(QString, toml);
        QFETCH(KeyFile, keyFile);
        QFETCH(int, line);
        QFETCH(QStringList, mustContain);
        const QString path = writeFiles(rowFileName(), toml, keyFile);
        QVERIFY(!path.isEmpty());
        verifyError(loadNodeSettings(path), path, line, mustContain);
    }

    void metricsAndLogTargetAreRead()
    {
        const QString path = writeFiles(QStringLiteral("metrics"),
                                        QStringLiteral("[node]\naddress = \"127.0.0.2\"\n[cluster]\nkey_file = \"KEY\"\n"
                                                       "[log]\ntarget = \"journal\"\n[metrics]\nlisten = \"127.0.0.2:9477\"\n"),
                                        KeyFile::Good);
        const ConfigResult r = loadNodeSettings(path);
        QVERIFY2(r.ok(), r.error ? qPrintable(r.error->toString()) : "");
        QVERIFY(r.settings->metrics.enabled);
        QCOMPARE(r.settings->metrics.address, 0x7f000002u);
        QCOMPARE(r.settings->metrics.port, quint16(9477));
        QVERIFY(r.settings->logTarget == LogTarget::Journal);
    }

    void shortKeyIsRefused()
    {
        const QString path = m_dir.filePath(QStringLiteral("short.toml"));
        const QString keyPath = m_dir.filePath(QStringLiteral("short.key"));
        QFile key(keyPath);
        QVERIFY(key.open(QIODevice::WriteOnly));
        key.write("tooshort");
        key.close();
        QFile::setPermissions(keyPath, QFile::ReadOwner | QFile::WriteOwner);
        QFile cfg(path);
        QVERIFY(cfg.open(QIODevice::WriteOnly));
        cfg.write(QStringLiteral("[node]\naddress = \"127.0.0.2\"\n[cluster]\nkey_file = \"%1\"\n").arg(keyPath).toUtf8());
        cfg.close();
        const ConfigResult r = loadNodeSettings(path);
        QVERIFY(!r.ok());
        QCOMPARE(r.error->line, 4);
        QVERIFY2(r.error->toString().contains(QStringLiteral("[cluster] key_file")), qPrintable(r.error->toString()));
        QVERIFY2(r.error->toString().contains(QStringLiteral("8 bytes; at least 16")), qPrintable(r.error->toString()));
    }

    void unreadableConfigFile()
    {
        const ConfigResult r = loadNodeSettings(m_dir.filePath(QStringLiteral("absent.toml")));
        QVERIFY(!r.ok());
        QVERIFY(r.error->toString().contains(QStringLiteral("cannot read config file")));
    }

    void fullValidFile()
    {
        const QString path = writeFiles(QStringLiteral("full"), QStringLiteral(R"(
[node]
address = "127.0.0.2"
port = 7411
capabilities = ["serve"]
control_socket = "/tmp/sasha-test/x.sock"
state_file = "/tmp/sasha-test/state.json"
name = "node2"
[cluster]
key_file = "KEY"
seeds = ["127.0.0.1:7400", "127.0.0.3"]
broadcast = "127.255.255.255"
[timers]
rotation_ms = 50
token_timeout_ms = 200
reform_ms = 60
join_repeat_ms = 10
beacon_ms = 900
observer_timeout_ms = 2000
[log]
rules = "sasha.ring.debug=true"
[faults]
enabled = true
)"), KeyFile::Good);
        const ConfigResult r = loadNodeSettings(path);
        QVERIFY2(r.ok(), r.error ? qPrintable(r.error->toString()) : "");
        const NodeSettings &s = *r.settings;
        QCOMPARE(ipv4ToString(s.address), QStringLiteral("127.0.0.2"));
        QCOMPARE(s.port, quint16(7411));
        QCOMPARE(s.caps, quint8(tb::kCanServe));
        QCOMPARE(s.controlSocket, QStringLiteral("/tmp/sasha-test/x.sock"));
        QCOMPARE(s.stateFile, QStringLiteral("/tmp/sasha-test/state.json"));
        QCOMPARE(s.name, QStringLiteral("node2"));
        QCOMPARE(s.key, QByteArray(32, '\x01'));
        QCOMPARE(s.seeds.size(), std::size_t(2));
        QCOMPARE(s.seeds[0], (tb::Endpoint{0x7f000001u, 7400}));
        QCOMPARE(s.seeds[1], (tb::Endpoint{0x7f000003u, 7411})); // default port is [node] port
        QVERIFY(s.broadcast.has_value());
        QCOMPARE(*s.broadcast, (tb::Endpoint{0x7fffffffu, 7411}));
        QCOMPARE(s.timers.rotationInterval, tb::Time(50ms));
        QCOMPARE(s.timers.tokenTimeout, tb::Time(200ms));
        QCOMPARE(s.timers.reformInterval, tb::Time(60ms));
        QCOMPARE(s.timers.joinRepeat, tb::Time(10ms));
        QCOMPARE(s.timers.beaconInterval, tb::Time(900ms));
        QCOMPARE(s.timers.observerTimeout, tb::Time(2000ms));
        QCOMPARE(s.logRules, QStringLiteral("sasha.ring.debug=true"));
        QVERIFY(s.faultsEnabled);
        const tb::NodeConfig nc = s.toNodeConfig(1234);
        QCOMPARE(nc.self, 0x7f000002u);
        QCOMPARE(nc.bootEpoch, quint64(1234));
        QCOMPARE(nc.endpoint, (tb::Endpoint{0x7f000002u, 7411}));
    }

    // The packaged daemon runs as the user sasha and reads the key through its group (0640
    // root:sasha, docs/packaging.md).
    void groupReadableKeyIsAccepted()
    {
        const QString path = writeFiles(QStringLiteral("groupkey"),
                                        QStringLiteral("[node]\naddress = \"127.0.0.2\"\n[cluster]\nkey_file = \"KEY\"\n"),
                                        KeyFile::GroupReadable);
        const ConfigResult r = loadNodeSettings(path);
        QVERIFY2(r.ok(), r.error ? qPrintable(r.error->toString()) : "");
        QCOMPARE(r.settings->key, QByteArray(32, '\x01'));
    }

    void defaults()
    {
        const QString path = writeFiles(QStringLiteral("defaults"),
                                        QStringLiteral("[node]\naddress = \"127.0.0.2\"\n[cluster]\nkey_file = \"KEY\"\n"),
                                        KeyFile::RawBytes);
        const ConfigResult r = loadNodeSettings(path);
        QVERIFY2(r.ok(), r.error ? qPrintable(r.error->toString()) : "");
        const NodeSettings &s = *r.settings;
        const tb::Timers lan;
        QCOMPARE(s.port, quint16(7400));
        QCOMPARE(s.caps, quint8(tb::kCanDispatch | tb::kCanServe));
        QCOMPARE(s.controlSocket, QStringLiteral("/run/sasha/sashad.sock"));
        QCOMPARE(s.stateFile, QStringLiteral("/var/lib/sasha/state.json"));
        QCOMPARE(s.nice, -10);
        QCOMPARE(s.key, QByteArray(24, '\x5a')); // not hex: taken as raw bytes
        QVERIFY(s.seeds.empty());
        QVERIFY(!s.broadcast.has_value());
        QCOMPARE(s.preset, QStringLiteral("lan"));
        QCOMPARE(s.timers.rotationInterval, lan.rotationInterval);
        QCOMPARE(s.timers.tokenTimeout, lan.tokenTimeout);
        QCOMPARE(s.timers.reformInterval, lan.reformInterval);
        QVERIFY(!s.faultsEnabled);
        QVERIFY(!s.metrics.enabled);
        QVERIFY(s.logTarget == LogTarget::Auto);
        QVERIFY(!s.dispatcher.configured);
        QCOMPARE(s.dispatcher.ports, std::vector<quint16>{80});
        QCOMPARE(int(s.dispatcher.scheduler), int(SchedulerKind::Maglev));
        QVERIFY(!s.dispatcher.serveWhileDispatching);
        QCOMPARE(s.dispatcher.announceMs, 1000);
        QCOMPARE(s.dispatcher.captureBufferMb, 32);
        QVERIFY(s.dispatcher.prepare);
        QVERIFY(s.health.enabled);
        QCOMPARE(s.health.url, QStringLiteral("http://127.0.0.1:80/health"));
        QCOMPARE(s.health.rise, 2);
        QCOMPARE(s.health.fall, 3);
        QCOMPARE(s.agent.deadUnackedSilenceMs, 3000u);
        QCOMPARE(s.agent.deadMaxIdleMs, 0u);
    }

    void dispatcherSections()
    {
        // Plain literals: moc cannot parse braces inside a raw string.
        const QString path = writeFiles(QStringLiteral("dispatcher"), QStringLiteral(
            "[node]\n"
            "address = \"127.0.0.2\"\n"
            "interface = \"lo\"\n"
            "[cluster]\n"
            "key_file = \"KEY\"\n"
            "[dispatcher]\n"
            "vip = \"10.77.0.200\"\n"
            "vmac = \"02-5A-5a-00-00-01\"\n"
            "ports = [80, 443, 80]\n"
            "scheduler = \"wlc\"\n"
            "injector = \"pcap\"\n"
            "weights = { \"10.77.0.2\" = 3, \"10.77.0.3\" = 0 }\n"
            "announce_ms = 250\n"
            "capture_buffer_mb = 64\n"
            "serve_while_dispatching = true\n"
            "max_flows = 1000\n"
            "prepare = false\n"
            "batch_us = 300\n"
            "cpu = 1\n"
            "[health]\n"
            "enabled = false\n"
            "url = \"http://127.0.0.1:8080/ok\"\n"
            "interval_ms = 1000\n"
            "timeout_ms = 900\n"
            "rise = 1\n"
            "fall = 5\n"
            "[agent]\n"
            "dead_unacked_silence_ms = 0\n"
            "dead_max_backoff = 4\n"
            "dead_max_probes = 0\n"
            "dead_max_idle_ms = 60000\n"), KeyFile::Good);
        const ConfigResult r = loadNodeSettings(path);
        QVERIFY2(r.ok(), r.error ? qPrintable(r.error->toString()) : "");
        const DispatcherSettings &d = r.settings->dispatcher;
        QVERIFY(d.configured);
        QCOMPARE(d.interfaceName, QStringLiteral("lo")); // from [node] interface
        QCOMPARE(ipv4ToString(d.vip), QStringLiteral("10.77.0.200"));
        QCOMPARE(macToString(d.vmac), QStringLiteral("02:5a:5a:00:00:01"));
        QCOMPARE(d.ports, (std::vector<quint16>{80, 443})); // duplicates removed
        QCOMPARE(int(d.scheduler), int(SchedulerKind::WeightedLeastConnections));
        QCOMPARE(int(d.injector), int(DispatcherSettings::Injector::Pcap));
        QCOMPARE(d.weights.size(), std::size_t(2));
        QCOMPARE(d.weights.at(*parseIpv4(QStringLiteral("10.77.0.2"))), 3u);
        QCOMPARE(d.weights.at(*parseIpv4(QStringLiteral("10.77.0.3"))), 0u);
        QCOMPARE(d.announceMs, 250);
        QCOMPARE(d.captureBufferMb, 64);
        QVERIFY(d.serveWhileDispatching);
        QCOMPARE(d.maxFlows, 1000);
        QVERIFY(!d.prepare);
        QCOMPARE(d.batchUs, 300);
        QCOMPARE(d.cpu, 1);
        const HealthSettings &h = r.settings->health;
        QVERIFY(!h.enabled);
        QCOMPARE(h.url, QStringLiteral("http://127.0.0.1:8080/ok"));
        QCOMPARE(h.intervalMs, 1000);
        QCOMPARE(h.timeoutMs, 900);
        QCOMPARE(h.rise, 1);
        QCOMPARE(h.fall, 5);
        const AgentSettings &a = r.settings->agent;
        QCOMPARE(a.deadUnackedSilenceMs, 0u);
        QCOMPARE(a.deadMaxBackoff, 4);
        QCOMPARE(a.deadMaxProbes, 0);
        QCOMPARE(a.deadMaxIdleMs, 60000u);
    }

    // [[service]] tables: two VIPs, a list, a range, UDP, persistence, the scheduler inherited
    // from [dispatcher]; and the legacy keys making one TCP and one UDP service.
    void services()
    {
        const QString path = writeFiles(QStringLiteral("services"), QStringLiteral(
            "[node]\naddress = \"127.0.0.2\"\ninterface = \"lo\"\n[cluster]\nkey_file = \"KEY\"\n"
            "[dispatcher]\nvmac = \"02:5a:5a:00:00:01\"\nscheduler = \"wlc\"\n"
            "[[service]]\nvip = \"10.77.0.200\"\nport = [80, \"8000-8010\"]\npersistence_s = 300\n"
            "[[service]]\nvip = \"10.77.0.201\"\nprotocol = \"tcp\"\nport = 80\nmode = \"dr\"\nscheduler = \"rr\"\n"
            "weights = { \"10.77.0.3\" = 0, \"10.77.0.4\" = 5 }\n"
            "[[service]]\nvip = \"10.77.0.201\"\nprotocol = \"udp\"\nport = \"53\"\nudp_idle_s = 15\n"), KeyFile::Good);
        const ConfigResult r = loadNodeSettings(path);
        QVERIFY2(r.ok(), r.error ? qPrintable(r.error->toString()) : "");
        const DispatcherSettings &d = r.settings->dispatcher;
        QVERIFY(d.configured);
        QCOMPARE(d.services.size(), std::size_t(3));
        QCOMPARE(ipv4ToString(d.vip), QStringLiteral("10.77.0.200")); // the first service's
        QCOMPARE(d.vips(), (std::vector<quint32>{*parseIpv4(QStringLiteral("10.77.0.200")), *parseIpv4(QStringLiteral("10.77.0.201"))}));
        const ServiceSettings &a = d.services[0], &b = d.services[1], &c = d.services[2];
        QCOMPARE(a.portsText(), QStringLiteral("80, 8000-8010"));
        QCOMPARE(a.portCount(), 12);
        QCOMPARE(a.persistenceS, 300);
        QCOMPARE(schedulerText(a.scheduler), QStringLiteral("wlc")); // from [dispatcher]
        QCOMPARE(a.line, 9);
        QCOMPARE(schedulerText(b.scheduler), QStringLiteral("rr"));
        QCOMPARE(b.protocolName(), QStringLiteral("tcp"));
        QCOMPARE(c.protocolName(), QStringLiteral("udp"));
        QCOMPARE(c.portsText(), QStringLiteral("53"));
        QCOMPARE(a.udpIdleS, 0); // not set: the flow table's 60 s
        QCOMPARE(c.udpIdleS, 15);
        // [[service]] weights: the second service's own; the others have none.
        const quint32 s3 = *parseIpv4(QStringLiteral("10.77.0.3")), s4 = *parseIpv4(QStringLiteral("10.77.0.4"));
        QCOMPARE(b.weights, (std::map<quint32, quint32>{{s3, 0}, {s4, 5}}));
        QVERIFY(a.weights.empty() && c.weights.empty());
        DispatchPolicy policy;
        fillServicePolicy(d, policy);
        QVERIFY(policy.udpIdlePerService);
        const quint32 vip201 = *parseIpv4(QStringLiteral("10.77.0.201"));
        QCOMPARE(policy.udpIdleOf(FlowKey{1, vip201, 1000, 53, kIpProtoUdp}).count(), std::int64_t(15'000'000));
        QCOMPARE(policy.udpIdleOf(FlowKey{1, vip201, 1000, 80, kIpProtoTcp}).count(), std::int64_t(0));
        // Every TCP port of every service is reported at reconstruction, in the TCP list; the
        // UDP services' ports in a list of their own (their connected sockets).
        QCOMPARE(d.reportedUdpPorts(), (std::vector<std::pair<quint32, quint16>>{{vip201, 53}}));
        const auto reported = d.reportedPorts();
        QCOMPARE(reported.size(), std::size_t(13));
        QVERIFY(std::find(reported.begin(), reported.end(), std::pair{*parseIpv4(QStringLiteral("10.77.0.201")), quint16(80)})
                != reported.end());
        QVERIFY(std::find(reported.begin(), reported.end(), std::pair{*parseIpv4(QStringLiteral("10.77.0.201")), quint16(53)})
                == reported.end());

        const QString legacy = writeFiles(QStringLiteral("legacy"), QStringLiteral(
            "[node]\naddress = \"127.0.0.2\"\ninterface = \"lo\"\n[cluster]\nkey_file = \"KEY\"\n"
            "[dispatcher]\nvip = \"10.77.0.200\"\nvmac = \"02:5a:5a:00:00:01\"\nports = [80, 443]\nscheduler = \"rr\"\n"), KeyFile::Good);
        const ConfigResult l = loadNodeSettings(legacy);
        QVERIFY2(l.ok(), l.error ? qPrintable(l.error->toString()) : "");
        const auto &ls = l.settings->dispatcher.services;
        QCOMPARE(ls.size(), std::size_t(2));
        QCOMPARE(ls[0].protocolName(), QStringLiteral("tcp"));
        QCOMPARE(ls[1].protocolName(), QStringLiteral("udp"));
        for (const ServiceSettings &x : ls) {
            QCOMPARE(ipv4ToString(x.vip), QStringLiteral("10.77.0.200"));
            QCOMPARE(x.portsText(), QStringLiteral("80, 443"));
            QCOMPARE(schedulerText(x.scheduler), QStringLiteral("rr"));
            QVERIFY(x.fromLegacyKeys);
        }
        QCOMPARE(l.settings->dispatcher.reportedPorts().size(), std::size_t(2));
        QCOMPARE(l.settings->dispatcher.reportedUdpPorts().size(), std::size_t(2)); // the legacy UDP service
        QCOMPARE(ls[1].udpIdleS, 0);
    }

    // docs/config.md "Weights": a server's weight in a service is 0 where the service says 0,
    // else the operator's if set, else the service's, else [dispatcher] weights, else 1. The fast path gets the services' entries
    // only for servers without an operator weight (ServerTable::build applies them).
    void serviceWeightPrecedence()
    {
        DispatcherSettings d;
        const quint32 a = 0x0a000002, b = 0x0a000003, c = 0x0a000004;
        d.weights = {{a, 4}};
        ServiceSettings web, api;
        api.weights = {{a, 0}, {b, 7}};
        web.weights = {{c, 2}};
        d.services = {web, api};
        QCOMPARE(clusterWeight(d, {}, a), 4u);
        QCOMPARE(clusterWeight(d, {}, b), 1u);
        QCOMPARE(clusterWeight(d, {{a, 9}}, a), 9u);
        const auto list = [](const std::vector<ServiceWeight> &v) {
            QStringList out;
            for (const ServiceWeight &w : v)
                out << QStringLiteral("%1 %2=%3").arg(w.service).arg(ipv4ToString(w.id)).arg(w.weight);
            return out;
        };
        QCOMPARE(list(serviceWeightOverrides(d, {})),
                 (QStringList{"0 10.0.0.4=2", "1 10.0.0.2=0", "1 10.0.0.3=7"}));
        // An operator weight wins in every service, except over a service's 0: a stays out of api.
        QCOMPARE(list(serviceWeightOverrides(d, {{a, 5}})),
                 (QStringList{"0 10.0.0.4=2", "1 10.0.0.2=0", "1 10.0.0.3=7"}));
        QCOMPARE(list(serviceWeightOverrides(d, {{b, 0}, {c, 3}})), (QStringList{"1 10.0.0.2=0"}));
        QCOMPARE(list(serviceWeightOverrides(d, {{a, 5}, {b, 2}})), (QStringList{"0 10.0.0.4=2", "1 10.0.0.2=0"}));
    }

    // mode = "nat" with the [dispatcher] gateway: announced beside the VIPs, the service's mode
    // reaches the fast path's policy, and an L4/2 service on the same port of another VIP is fine.
    void natServices()
    {
        const QString path = writeFiles(QStringLiteral("nat"), QStringLiteral(
            "[node]\naddress = \"127.0.0.2\"\ninterface = \"lo\"\n[cluster]\nkey_file = \"KEY\"\n"
            "[dispatcher]\nvmac = \"02:5a:5a:00:00:01\"\ngateway = \"10.77.0.253\"\n"
            "[[service]]\nvip = \"10.77.0.200\"\nport = 80\nmode = \"nat\"\n"
            "[[service]]\nvip = \"10.77.0.201\"\nport = 80\nmode = \"dr\"\n"), KeyFile::Good);
        const ConfigResult r = loadNodeSettings(path);
        QVERIFY2(r.ok(), r.error ? qPrintable(r.error->toString()) : "");
        const DispatcherSettings &d = r.settings->dispatcher;
        QVERIFY(d.hasNat());
        QCOMPARE(d.services[0].modeName(), QStringLiteral("nat"));
        QCOMPARE(d.services[1].modeName(), QStringLiteral("dr"));
        QCOMPARE(ipv4ToString(d.gateway), QStringLiteral("10.77.0.253"));
        const auto announced = d.announcedAddresses();
        QCOMPARE(announced.size(), std::size_t(3));
        QCOMPARE(ipv4ToString(announced.back()), QStringLiteral("10.77.0.253"));
        DispatchPolicy p;
        fillServicePolicy(d, p);
        QVERIFY(p.nat);
        QCOMPARE(int(p.services[0].mode), int(ForwardMode::Nat));
        QCOMPARE(int(p.services[1].mode), int(ForwardMode::Direct));
        QCOMPARE(ipv4ToString(p.natReplyVip(kIpProtoTcp, 80)), QStringLiteral("10.77.0.200"));
        QCOMPARE(p.natReplyVip(kIpProtoUdp, 80), 0u);
    }

    void paperPreset_data()
    {
        QTest::addColumn<QString>("timers");
        QTest::addColumn<qint64>("tokenTimeoutMs");
        QTest::addColumn<qint64>("reformMs");
        QTest::addColumn<qint64>("rotationMs");
        QTest::newRow("paper preset alone") << QStringLiteral("preset = \"paper\"") << 2000LL << 2500LL << 500LL;
        QTest::newRow("explicit key overrides paper preset")
            << QStringLiteral("token_timeout_ms = 3000\npreset = \"paper\"") << 3000LL << 2500LL << 500LL;
        QTest::newRow("lan preset is the defaults") << QStringLiteral("preset = \"lan\"") << 140LL << 40LL << 40LL;
    }

    void paperPreset()
    {
        QFETCH(QString, timers);
        QFETCH(qint64, tokenTimeoutMs);
        QFETCH(qint64, reformMs);
        QFETCH(qint64, rotationMs);
        const QString path = writeFiles(QStringLiteral("preset"),
                                        QStringLiteral("[node]\naddress = \"127.0.0.2\"\n[cluster]\nkey_file = \"KEY\"\n[timers]\n")
                                            + timers + QLatin1Char('\n'),
                                        KeyFile::Good);
        const ConfigResult r = loadNodeSettings(path);
        QVERIFY2(r.ok(), r.error ? qPrintable(r.error->toString()) : "");
        QCOMPARE(r.settings->timers.tokenTimeout, tb::Time(std::chrono::milliseconds(tokenTimeoutMs)));
        QCOMPARE(r.settings->timers.reformInterval, tb::Time(std::chrono::milliseconds(reformMs)));
        QCOMPARE(r.settings->timers.rotationInterval, tb::Time(std::chrono::milliseconds(rotationMs)));
    }

    void hostPort_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<bool>("valid");
        QTest::addColumn<quint32>("ip");
        QTest::addColumn<int>("port");
        QTest::newRow("address only takes default port") << QStringLiteral("10.0.0.1") << true << 0x0a000001u << 7400;
        QTest::newRow("address and port") << QStringLiteral("10.0.0.1:9") << true << 0x0a000001u << 9;
        QTest::newRow("short form refused") << QStringLiteral("10.1") << false << 0u << 0;
        QTest::newRow("octet above 255 refused") << QStringLiteral("10.0.0.256") << false << 0u << 0;
        QTest::newRow("hostname refused") << QStringLiteral("node1:7400") << false << 0u << 0;
        QTest::newRow("empty port refused") << QStringLiteral("10.0.0.1:") << false << 0u << 0;
        QTest::newRow("port zero refused") << QStringLiteral("10.0.0.1:0") << false << 0u << 0;
    }

    void hostPort()
    {
        QFETCH(QString, text);
        QFETCH(bool, valid);
        QFETCH(quint32, ip);
        QFETCH(int, port);
        const auto ep = parseHostPort(text, 7400);
        QCOMPARE(ep.has_value(), valid);
        if (valid) {
            QCOMPARE(ep->ip, ip);
            QCOMPARE(int(ep->port), port);
        }
    }
};

QTEST_GUILESS_MAIN(TestConfig)
#include "tst_config.moc"
