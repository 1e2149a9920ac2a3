// libFuzzer target: sashad's config loader (config/nodesettings.h): any bytes as the text of a
// sashad.toml in a temporary directory that holds a valid key file, cluster.key (mode 0600,
// written once per process), checked against a fake host (lo and eth0, 127.0.0.0/8 and
// 10.0.0.1/24). A config is either accepted, with a key of at least kMinKeySize bytes, or
// refused with a message naming the file; never both, never a crash. The same bytes also go
// through the key decoder, whose result is empty (with a reason) or at least 16 bytes.
// Run: fuzz_config -max_len=4096 [corpus dir]

#include "config/hostnetwork.h"
#include "config/nodesettings.h"
#include "fuzzinput.h"
#include "tokenbeat/envelope.h"

#include <QFile>
#include <QTemporaryDir>

using namespace sasha;

namespace {

class FakeHost final : public HostNetwork {
public:
    bool hasInterface(const QString &name) const override { return name == QLatin1String("lo") || name == QLatin1String("eth0"); }
    AddressUse addressUse(quint32 ip) const override
    {
        if ((ip >> 24) == 127 || ip == 0x0A000001)
            return AddressUse::Assigned;
        return ip == 0x0A0000FF ? AddressUse::Broadcast : AddressUse::Foreign;
    }
    QStringList interfaceNames() const override { return {QStringLiteral("lo"), QStringLiteral("eth0")}; }
    QStringList addresses() const override { return {QStringLiteral("127.0.0.1"), QStringLiteral("10.0.0.1")}; }
};

// The directory the fuzzed config lives in, with its key file; removed when the process exits.
const QString &configDir()
{
    static QTemporaryDir dir;
    static const bool written = [] {
        QFile key(dir.filePath(QStringLiteral("cluster.key")));
        const bool ok = dir.isValid() && key.open(QIODevice::WriteOnly)
                        && key.write("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n") == 65
                        && key.setPermissions(QFile::ReadOwner | QFile::WriteOwner);
        return ok;
    }();
    FUZZ_CHECK(written);
    static const QString path = dir.path();
    return path;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static const FakeHost host;
    const QByteArray text(reinterpret_cast<const char *>(data), qsizetype(size));
    const QString path = configDir() + QStringLiteral("/sashad.toml");
    const ConfigResult r = parseNodeSettings(text, path, &host);
    FUZZ_CHECK(r.settings.has_value() != r.error.has_value());
    if (r.settings) {
        FUZZ_CHECK(r.settings->key.size() >= tb::kMinKeySize);
        FUZZ_CHECK(r.settings->toNodeConfig(1).key == r.settings->key);
    } else {
        FUZZ_CHECK(!r.error->message.isEmpty() && r.error->toString().startsWith(path));
    }
    QString why;
    const QByteArray key = decodeClusterKey(text, &why);
    FUZZ_CHECK(key.isEmpty() ? !why.isEmpty() : key.size() >= tb::kMinKeySize);
    return 0;
}
