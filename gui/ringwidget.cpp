#include "ringwidget.h"

#include "clusterfeed.h"
#include "membershipmodel.h"

#include <QPainter>
#include <QPainterPath>
#include <QtMath>

namespace sasha::console {

namespace {
constexpr qint64 kElectionHaloMs = 2500;
constexpr int kFrameMs = 50; // 20 frames/s
const QColor kDispatcherColor(0x6a, 0x1b, 0x9a);
} // namespace

RingWidget::RingWidget(const MembershipModel *model, QWidget *parent) : QWidget(parent), m_model(model)
{
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    // paintStatic() fills every pixel: Qt need not paint the parents behind us first (the group
    // box behind the ring cost ~0.8 ms per animation frame).
    setAttribute(Qt::WA_OpaquePaintEvent);
    connect(model, &MembershipModel::membershipChanged, this, [this] {
        m_cacheDirty = true;
        update();
    });
    m_clock.start();
    m_timer.setTimerType(Qt::CoarseTimer);
    connect(&m_timer, &QTimer::timeout, this, [this] {
        const qint64 now = m_clock.elapsed();
        advance(double(now - m_lastTickMs) / 1000.0);
        m_lastTickMs = now;
    });
    m_timer.start(kFrameMs);
}

void RingWidget::setPhase(Phase phase)
{
    if (phase == m_phase)
        return;
    m_phase = phase;
    m_cacheDirty = true;
    update();
}

void RingWidget::flashElected(tb::NodeAddr addr)
{
    m_elected = addr;
    m_electedAtMs = m_clock.elapsed();
    m_cacheDirty = true;
    update();
}

void RingWidget::setRotationsPerSecond(double rps) { m_rps = std::max(0.0, rps); }

void RingWidget::advance(double seconds)
{
    if (m_phase != Phase::Whole && m_electedAtMs < 0)
        return;
    if (m_phase == Phase::Whole) {
        int hops = 0;
        for (const auto &r : m_model->rows())
            hops += !r.observer && r.state != NodeDisplayState::Dead && r.state != NodeDisplayState::Left;
        const double shown = std::min(m_rps > 0 ? m_rps : kMaxShownRotationsPerSecond, kMaxShownRotationsPerSecond);
        if (hops > 0)
            m_token = std::fmod(m_token + seconds * shown * hops, double(hops));
    }
    if (m_electedAtMs >= 0 && m_clock.elapsed() - m_electedAtMs > kElectionHaloMs) {
        m_electedAtMs = -1;
        m_cacheDirty = true;
    }
    if (!isVisible())
        return;
    if (m_cacheDirty) {
        update();
    } else if (m_phase == Phase::Whole) {
        // Only the token moved: repaint where it was and where it is (20 times a second, a
        // full repaint of the ring cost ~1 ms each).
        const QRect now = tokenRect();
        update(m_lastTokenRect.united(now));
        m_lastTokenRect = now;
    }
}

QRect RingWidget::tokenRect() const
{
    const std::optional<QPointF> dot = tokenCenter();
    if (!dot)
        return {};
    const double r = m_nodeR * 0.38 + 2; // the dot's radius plus its pen and antialiasing
    return QRectF(dot->x() - r, dot->y() - r, 2 * r, 2 * r).toAlignedRect();
}

// The token: between the alive nodes, in address order from the master.
std::optional<QPointF> RingWidget::tokenCenter() const
{
    const int hops = int(m_aliveAngles.size());
    if (m_phase != Phase::Whole || hops == 0)
        return std::nullopt;
    const double t = std::fmod(m_token, double(hops));
    const int from = int(t);
    const double frac = t - from;
    const double a0 = m_aliveAngles[std::size_t(from)];
    double a1 = hops == 1 ? a0 + 2 * M_PI : m_aliveAngles[std::size_t((from + 1) % hops)];
    if (a1 <= a0)
        a1 += 2 * M_PI;
    const double a = a0 + (a1 - a0) * frac;
    return m_center + QPointF(std::cos(a) * m_ringR, std::sin(a) * m_ringR);
}

void RingWidget::resizeEvent(QResizeEvent *event)
{
    m_cacheDirty = true;
    QWidget::resizeEvent(event);
}

void RingWidget::paintEvent(QPaintEvent *)
{
    const qreal dpr = devicePixelRatioF();
    if (m_cacheDirty || m_cache.size() != size() * dpr) {
        m_cache = QPixmap(size() * dpr);
        m_cache.setDevicePixelRatio(dpr);
        QPainter cp(&m_cache);
        cp.setRenderHint(QPainter::Antialiasing);
        paintStatic(cp);
        m_cacheDirty = false;
    }
    QPainter p(this);
    p.drawPixmap(0, 0, m_cache);
    const std::optional<QPointF> dot = tokenCenter();
    m_lastTokenRect = tokenRect();
    if (!dot)
        return;
    p.setRenderHint(QPainter::Antialiasing);
    p.setPen(QPen(QColor(0xb2, 0x6a, 0x00), 2));
    p.setBrush(QColor(0xff, 0xc1, 0x07));
    p.drawEllipse(*dot, m_nodeR * 0.38, m_nodeR * 0.38);
}

void RingWidget::paintStatic(QPainter &p)
{
    p.fillRect(rect(), palette().base());

    std::vector<const MembershipModel::Row *> nodes, observers;
    for (const auto &r : m_model->rows())
        (r.observer ? observers : nodes).push_back(&r);

    const QFont base = font();
    const QFontMetrics fm(base);
    const int n = int(nodes.size());
    const QPointF c(width() / 2.0, height() / 2.0);
    const double nodeR = std::clamp(fm.height() * 1.3, 14.0, 40.0);
    // Labels sit beside left/right nodes and above/below top/bottom ones: leave room for both.
    const double labelW = fm.horizontalAdvance(QStringLiteral("255.255.255.255")) * 1.1;
    const double ringR = std::max(20.0, std::min(width() / 2.0 - nodeR - labelW, height() / 2.0 - nodeR - fm.height() * 2.2 - 10));
    auto angleOf = [n](int i) { return -M_PI / 2 + 2 * M_PI * i / std::max(1, n); };
    auto posOf = [&](double angle) { return c + QPointF(std::cos(angle) * ringR, std::sin(angle) * ringR); };

    // The ring itself: solid while whole, dashed while purging or forming.
    QPen ringPen(m_phase == Phase::Whole ? QColor(0x90, 0xa4, 0xae) : QColor(0xe0, 0x8a, 0x00), 3);
    if (m_phase != Phase::Whole)
        ringPen.setStyle(Qt::DashLine);
    p.setPen(ringPen);
    p.setBrush(Qt::NoBrush);
    if (n > 0)
        p.drawEllipse(c, ringR, ringR);

    m_center = c;
    m_ringR = ringR;
    m_nodeR = nodeR;
    m_aliveAngles.clear();
    for (int i = 0; i < n; ++i)
        if (nodes[std::size_t(i)]->state != NodeDisplayState::Dead && nodes[std::size_t(i)]->state != NodeDisplayState::Left)
            m_aliveAngles.push_back(angleOf(i));

    QFont small = base;
    small.setPointSizeF(base.pointSizeF() * 0.85);
    QFont bold = base;
    bold.setBold(true);
    for (int i = 0; i < n; ++i) {
        const auto &r = *nodes[std::size_t(i)];
        const double a = angleOf(i);
        const QPointF pos = posOf(a);
        const bool dispatcher = r.member.addr == m_model->dispatcher() && r.state != NodeDisplayState::Dead;
        if (r.member.addr == m_elected && m_electedAtMs >= 0) {
            p.setPen(Qt::NoPen);
            QColor halo = kDispatcherColor;
            halo.setAlpha(90);
            p.setBrush(halo);
            p.drawEllipse(pos, nodeR * 1.7, nodeR * 1.7);
        }
        p.setPen(QPen(dispatcher ? kDispatcherColor : QColor(0x37, 0x47, 0x4f), dispatcher ? 5 : 2));
        p.setBrush(nodeStateColor(r.state));
        p.drawEllipse(pos, nodeR, nodeR);
        if (r.state == NodeDisplayState::Dead) {
            p.setPen(QPen(Qt::white, 4));
            const double k = nodeR * 0.45;
            p.drawLine(pos + QPointF(-k, -k), pos + QPointF(k, k));
            p.drawLine(pos + QPointF(-k, k), pos + QPointF(k, -k));
        } else {
            p.setPen(Qt::white);
            p.setFont(bold);
            const QString tag = dispatcher ? QStringLiteral("D") : r.member.addr == m_model->master() ? QStringLiteral("M") : QStringLiteral("S");
            p.drawText(QRectF(pos.x() - nodeR, pos.y() - nodeR, 2 * nodeR, 2 * nodeR), Qt::AlignCenter, tag);
        }
        // Labels outside the circle, anchored on the side facing away from the centre.
        const double ca = std::cos(a), sa = std::sin(a);
        const double lineH = fm.height();
        const QSizeF boxSize(std::max(fm.horizontalAdvance(QStringLiteral("255.255.255.255")) * 1.2, nodeR * 5), lineH * 2.1);
        const QPointF edge = pos + QPointF(ca, sa) * (nodeR + 6);
        QPointF topLeft(edge.x() - boxSize.width() / 2, edge.y() - boxSize.height() / 2);
        int halign = Qt::AlignHCenter;
        if (ca > 0.35) {
            topLeft.setX(edge.x());
            halign = Qt::AlignLeft;
        } else if (ca < -0.35) {
            topLeft.setX(edge.x() - boxSize.width());
            halign = Qt::AlignRight;
        }
        if (sa > 0.35)
            topLeft.setY(edge.y());
        else if (sa < -0.35)
            topLeft.setY(edge.y() - boxSize.height());
        const QRectF box(topLeft, boxSize);
        const QString role = r.member.status.role == tb::Role::None ? QString() : tb::roleToString(r.member.status.role) + QStringLiteral(" · ");
        p.setPen(palette().text().color());
        p.setFont(bold);
        p.drawText(box, halign | Qt::AlignTop, ipToString(r.member.addr));
        p.setFont(small);
        p.setPen(dispatcher ? kDispatcherColor : nodeStateColor(r.state).darker(130));
        // An operator weight shows as "w N" (0: no new flows); a drain is the Draining state.
        const QString weight = r.admin && r.admin->weight ? QStringLiteral(" · w %1").arg(*r.admin->weight) : QString();
        p.drawText(box, halign | Qt::AlignBottom, role + nodeDisplayStateName(r.state) + weight);
    }

    // Centre caption.
    QString caption;
    QColor captionColor = palette().text().color();
    switch (m_phase) {
    case Phase::NoRing: caption = QStringLiteral("no ring yet"); captionColor = Qt::gray; break;
    case Phase::Whole:
        caption = QStringLiteral("ring whole\nepoch %1").arg(m_model->ringEpoch());
        if (m_rps > kMaxShownRotationsPerSecond)
            caption += QStringLiteral("\ntoken %1/s (slowed)").arg(m_rps, 0, 'f', 0);
        break;
    case Phase::Purging: caption = QStringLiteral("RING PURGE"); captionColor = QColor(0xe0, 0x8a, 0x00); break;
    case Phase::Forming: caption = QStringLiteral("re-forming…"); captionColor = QColor(0xe0, 0x8a, 0x00); break;
    }
    if (m_electedAtMs >= 0)
        caption += QStringLiteral("\nelected %1").arg(ipToString(m_elected));
    p.setFont(m_phase == Phase::Whole ? base : bold);
    p.setPen(captionColor);
    const QRectF inside(c.x() - ringR * 0.7, c.y() - ringR * 0.7, 1.4 * ringR, 1.4 * ringR);
    const QRectF needed = QFontMetricsF(p.font()).boundingRect(rect(), Qt::AlignCenter, caption);
    if (needed.width() <= inside.width() && needed.height() <= inside.height())
        p.drawText(inside, Qt::AlignCenter, caption);
    else // a small ring (large fonts): the caption goes to the top-left corner
        p.drawText(QRectF(rect()).adjusted(6, 4, -6, -4), Qt::AlignLeft | Qt::AlignTop, caption);

    if (!observers.empty()) {
        QStringList names;
        for (const auto *o : observers)
            names << ipToString(o->member.addr);
        p.setFont(small);
        p.setPen(Qt::gray);
        p.drawText(rect().adjusted(6, 4, -6, -4), Qt::AlignLeft | Qt::AlignBottom,
                   QStringLiteral("observers: %1").arg(names.join(QStringLiteral(", "))));
    }
}

} // namespace sasha::console
