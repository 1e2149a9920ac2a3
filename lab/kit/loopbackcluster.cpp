#include "loopbackcluster.h"

#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QFile>
#include <QHostAddress>
#include <QJsonDocument>
#include <QLocalSocket>
#include <QRandomGenerator>
#include <QThread>
#include <QUdpSocket>

#include <csignal>
#include <ctime>
#include <set>

namespace sasha::lab {

qint64 monotonicUs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return qint64(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

LoopbackCluster::LoopbackCluster(Options options)
    : m_options(std::move(options))
{
    // A per-run /24 inside 127.0.0.0/8 so concurrent runs never share addresses.
    auto *rng = QRandomGenerator::global();
    m_prefix = QStringLiteral("127.%1.%2.").arg(rng->bounded(100, 250)).arg(rng->bounded(1, 250));
    m_procs.resize(std::size_t(m_options.nodes));
    // SASHA_KEEP_LOGS=1 keeps the folder (configs, logs) for a post-mortem.
    if (qEnvironmentVariableIntValue("SASHA_KEEP_LOGS") == 1)
        m_dir.setAutoRemove(false);
}

LoopbackCluster::~LoopbackCluster()
{
    for (auto &p : m_procs) {
        if (!p || p->state() == QProcess::NotRunning)
            continue;
        ::kill(pid_t(p->processId()), SIGCONT);
        ::kill(pid_t(p->processId()), SIGKILL);
        p->waitForFinished(3000);
    }
}

QString LoopbackCluster::address(int i) const { return m_prefix + QString::number(i + 1); }
QString LoopbackCluster::socketPath(int i) const { return m_dir.filePath(QStringLiteral("node%1.sock").arg(i + 1)); }
QString LoopbackCluster::configPath(int i) const { return m_dir.filePath(QStringLiteral("node%1.toml").arg(i + 1)); }
QString LoopbackCluster::logPath(int i) const { return m_dir.filePath(QStringLiteral("node%1.log").arg(i + 1)); }

qint64 LoopbackCluster::pid(int i) const
{
    const auto &p = m_procs.at(std::size_t(i));
    return p ? p->processId() : 0;
}

bool LoopbackCluster::isRunning(int i) const
{
    const auto &p = m_procs.at(std::size_t(i));
    return p && p->state() == QProcess::Running;
}

bool LoopbackCluster::start(QString *error)
{
    if (!m_dir.isValid()) {
        *error = QStringLiteral("cannot create a temporary folder");
        return false;
    }
    // One free UDP port, chosen by the OS on the first node's address, shared by all nodes.
    {
        QUdpSocket probe;
        if (!probe.bind(QHostAddress(address(0)), 0)) {
            *error = QStringLiteral("cannot bind %1: %2").arg(address(0), probe.errorString());
            return false;
        }
        m_port = probe.localPort();
    }
    QFile key(m_dir.filePath(QStringLiteral("cluster.key")));
    if (!key.open(QIODevice::WriteOnly)) {
        *error = key.errorString();
        return false;
    }
    QByteArray raw(32, Qt::Uninitialized);
    QRandomGenerator::system()->generate(raw.begin(), raw.end());
    key.write(raw.toHex() + '\n');
    key.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    key.close();

    QStringList seeds;
    for (int i = 0; i < m_options.nodes; ++i)
        seeds << QStringLiteral("\"%1:%2\"").arg(address(i)).arg(m_port);
    for (int i = 0; i < m_options.nodes; ++i) {
        QFile f(configPath(i));
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
            *error = f.errorString();
            return false;
        }
        QString text;
        text += QStringLiteral("[node]\naddress = \"%1\"\nport = %2\nname = \"node%3\"\n"
                               "control_socket = \"%4\"\n\n")
                    .arg(address(i)).arg(m_port).arg(i + 1).arg(socketPath(i));
        text += QStringLiteral("[cluster]\nkey_file = \"%1\"\nseeds = [%2]\n\n")
                    .arg(key.fileName(), seeds.join(QStringLiteral(", ")));
        if (!m_options.timersToml.isEmpty())
            text += QStringLiteral("[timers]\n%1\n\n").arg(m_options.timersToml);
        for (const auto &line : m_options.extraToml)
            text += line + QLatin1Char('\n');
        f.write(text.toUtf8());
    }
    for (int i = 0; i < m_options.nodes; ++i)
        if (!startNode(i, error))
            return false;
    return true;
}

bool LoopbackCluster::startNode(int i, QString *error)
{
    auto &p = m_procs.at(std::size_t(i));
    if (p && p->state() != QProcess::NotRunning) {
        *error = QStringLiteral("node%1 is already running").arg(i + 1);
        return false;
    }
    p = std::make_unique<QProcess>();
    if (m_options.keepLogs || !m_options.quiet) {
        p->setStandardOutputFile(logPath(i), QIODevice::Append);
        p->setStandardErrorFile(logPath(i), QIODevice::Append);
    } else {
        p->setStandardOutputFile(QProcess::nullDevice());
        p->setStandardErrorFile(QProcess::nullDevice());
    }
    if (const auto env = m_options.environment.find(i); env != m_options.environment.end()) {
        QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
        for (const QString &kv : env->second)
            e.insert(kv.section(QLatin1Char('='), 0, 0), kv.section(QLatin1Char('='), 1));
        p->setProcessEnvironment(e);
    }
    p->start(m_options.sashad, {QStringLiteral("--config"), configPath(i)});
    if (!p->waitForStarted(5000)) {
        *error = QStringLiteral("cannot start %1: %2").arg(m_options.sashad, p->errorString());
        return false;
    }
    // Ready when the control socket answers.
    const bool up = waitUntil([&] { return !status(i, 200).isEmpty() || p->state() != QProcess::Running; }, 5000, 20);
    if (!up || p->state() != QProcess::Running) {
        *error = QStringLiteral("node%1 did not come up (exit code %2); see %3")
                     .arg(i + 1).arg(p->exitCode()).arg(logPath(i));
        return false;
    }
    return true;
}

void LoopbackCluster::signal(int i, int sig)
{
    const qint64 p = pid(i);
    if (p > 0)
        ::kill(pid_t(p), sig);
}

int LoopbackCluster::waitExit(int i, int timeoutMs)
{
    auto &p = m_procs.at(std::size_t(i));
    if (!p)
        return -1;
    if (p->state() != QProcess::NotRunning && !p->waitForFinished(timeoutMs))
        return -1;
    return p->exitStatus() == QProcess::NormalExit ? p->exitCode() : -1;
}

QJsonObject LoopbackCluster::request(int i, const QJsonObject &req, int timeoutMs) const
{
    QLocalSocket sock;
    sock.connectToServer(socketPath(i));
    if (!sock.waitForConnected(timeoutMs))
        return {};
    sock.write(QJsonDocument(req).toJson(QJsonDocument::Compact) + '\n');
    QDeadlineTimer deadline(timeoutMs);
    QByteArray buf;
    while (!buf.contains('\n') && !deadline.hasExpired()) {
        if (!sock.waitForReadyRead(int(std::max<qint64>(1, deadline.remainingTime()))))
            break;
        buf += sock.readAll();
    }
    const int nl = buf.indexOf('\n');
    if (nl < 0)
        return {};
    return QJsonDocument::fromJson(buf.left(nl)).object();
}

QJsonArray LoopbackCluster::events(int i, int limit) const
{
    return request(i, {{"cmd", "events"}, {"limit", limit}}).value(QStringLiteral("events")).toArray();
}

int LoopbackCluster::sashactl(int i, const QStringList &args, QByteArray *out, int timeoutMs, QByteArray *err) const
{
    QProcess p;
    p.start(m_options.sashactl, QStringList{QStringLiteral("--socket"), socketPath(i)} + args);
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished(1000);
        return -1;
    }
    if (out)
        *out = p.readAllStandardOutput();
    if (err)
        *err = p.readAllStandardError();
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

void LoopbackCluster::printLogTails(qsizetype bytes) const
{
    for (int i = 0; i < size(); ++i) {
        QFile f(logPath(i));
        if (f.open(QIODevice::ReadOnly))
            qWarning().noquote() << "---- node" << i + 1 << "log (tail)\n" << f.readAll().right(bytes);
    }
}

bool LoopbackCluster::waitUntil(const std::function<bool()> &pred, int timeoutMs, int stepMs)
{
    QElapsedTimer t;
    t.start();
    while (true) {
        if (pred())
            return true;
        if (t.elapsed() >= timeoutMs)
            return false;
        QThread::msleep(stepMs);
    }
}

QString LoopbackCluster::dispatcherSeenBy(int i) const
{
    return status(i).value(QStringLiteral("dispatcher")).toString();
}

bool LoopbackCluster::ringIs(const std::vector<int> &live, QString *why) const
{
    std::set<QString> want;
    for (int i : live)
        want.insert(address(i));
    qint64 epoch = -1;
    QString dispatcher;
    for (int i : live) {
        const QJsonObject s = status(i, 500);
        auto fail = [&](const QString &msg) {
            if (why)
                *why = QStringLiteral("node%1: %2").arg(i + 1).arg(msg);
            return false;
        };
        if (s.isEmpty())
            return fail(QStringLiteral("no answer on its control socket"));
        if (s.value(QStringLiteral("state")).toString() != QLatin1String("member"))
            return fail(QStringLiteral("state %1").arg(s.value(QStringLiteral("state")).toString()));
        std::set<QString> got;
        for (const auto &m : s.value(QStringLiteral("members")).toArray())
            got.insert(m.toObject().value(QStringLiteral("addr")).toString());
        if (got != want)
            return fail(QStringLiteral("sees %1 members, expected %2").arg(got.size()).arg(want.size()));
        const qint64 e = s.value(QStringLiteral("ringEpoch")).toInteger();
        const QString d = s.value(QStringLiteral("dispatcher")).toString();
        if (epoch >= 0 && (e != epoch || d != dispatcher))
            return fail(QStringLiteral("ring epoch %1 / dispatcher %2 differ from others (%3 / %4)")
                            .arg(e).arg(d).arg(epoch).arg(dispatcher));
        epoch = e;
        dispatcher = d;
    }
    return true;
}

}  // namespace sasha::lab
