#include "ringwidget.h"

#include "clusterfeed.h"
#include "membershipmodel.h"

#include <QEvent>
#include <QPainter>
#include <QPainterPath>
#include <QtMath>

#include <cmath>

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
    const double r = m_layout.nodeRadius * 0.38 + 2; // the dot's radius plus its pen and antialiasing
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
    return m_layout.center + QPointF(std::cos(a) * m_layout.ringRadius, std::sin(a) * m_layout.ringRadius);
}

void RingWidget::resizeEvent(QResizeEvent *event)
{
    m_cacheDirty = true;
    QWidget::resizeEvent(event);
}

void RingWidget::changeEvent(QEvent *event)
{
    if (event->type() == QEvent::FontChange || event->type() == QEvent::PaletteChange) {
        m_cacheDirty = true;
        update();
    }
    QWidget::changeEvent(event);
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
    p.drawEllipse(*dot, m_layout.nodeRadius * 0.38, m_layout.nodeRadius * 0.38);
}

namespace {

// font at k times its size, whether it was set in points or in pixels.
QFont scaledFont(const QFont &font, double k)
{
    QFont f = font;
    if (font.pixelSize() > 0)
        f.setPixelSize(std::max(6, int(std::lround(font.pixelSize() * k))));
    else
        f.setPointSizeF(std::max(5.0, font.pointSizeF() * k));
    return f;
}

QRectF squareAround(QPointF c, double r) { return {c.x() - r, c.y() - r, 2 * r, 2 * r}; }

constexpr double kGap = 6;           // px: node edge to its label; least space between two nodes
constexpr double kMinFontScale = 0.5; // labels shrink down to half the widget's font, no further
constexpr double kSideCos = 0.35;     // nodes further left or right than this have labels beside them

} // namespace

RingLayout RingWidget::layOut(QSizeF area, const QFont &base, const std::vector<std::pair<QString, QString>> &labels,
                              const QString &caption)
{
    const QRectF bounds = QRectF(QPointF(0, 0), area).adjusted(4, 4, -4, -4);
    const int n = int(labels.size());
    auto angleOf = [n](int i) { return -M_PI / 2 + 2 * M_PI * i / std::max(1, n); };
    auto scales = [] {
        std::vector<double> v;
        for (double s = 1.0; s > kMinFontScale - 1e-9; s -= 0.05)
            v.push_back(std::max(s, kMinFontScale));
        return v;
    }();
    RingLayout fallback;
    for (double scale : scales) {
        QFont bold = scaledFont(base, scale);
        bold.setBold(true);
        const QFontMetricsF fb(bold), fs(scaledFont(base, scale * 0.85));
        const double nodeR = std::clamp(fb.height() * 1.3, 10.0, 60.0);
        std::vector<QSizeF> sizes;
        for (const auto &[address, status] : labels)
            sizes.emplace_back(std::max(fb.horizontalAdvance(address), fs.horizontalAdvance(status)) + 2, fb.height() + fs.height());

        // Nodes and labels around (0, 0) for a ring of radius ringR. Labels beside a node on the
        // left or right (the width a wide widget has to spare); the top and bottom node's label
        // above or below it (radial), or beside it too when the height is short (beside).
        auto place = [&](double ringR, bool beside) {
            RingLayout l;
            l.ringRadius = ringR;
            l.nodeRadius = nodeR;
            l.fontScale = l.captionScale = scale;
            for (int i = 0; i < n; ++i) {
                const double a = angleOf(i), ca = std::cos(a), sa = std::sin(a);
                const QPointF pos = QPointF(ca, sa) * ringR;
                const QSizeF &box = sizes[std::size_t(i)];
                QPointF topLeft(pos.x() - box.width() / 2, pos.y() - box.height() / 2);
                if (ca > kSideCos || (beside && ca >= 0))
                    topLeft.setX(pos.x() + nodeR + kGap);
                else if (ca < -kSideCos || beside)
                    topLeft.setX(pos.x() - nodeR - kGap - box.width());
                else if (sa < 0)
                    topLeft.setY(pos.y() - nodeR - kGap - box.height());
                else
                    topLeft.setY(pos.y() + nodeR + kGap);
                l.nodeCenters.push_back(pos);
                l.labelRects.emplace_back(topLeft, box);
            }
            return l;
        };
        auto extent = [&](const RingLayout &l) {
            QRectF r = squareAround({}, l.ringRadius + 2); // the ring's line, with its pen
            for (int i = 0; i < n; ++i)
                r |= l.labelRects[std::size_t(i)] | squareAround(l.nodeCenters[std::size_t(i)], nodeR);
            return r;
        };
        auto inside = [&](double ringR, bool beside) {
            const QRectF e = extent(place(ringR, beside));
            return e.width() <= bounds.width() && e.height() <= bounds.height();
        };
        auto apart = [&](const RingLayout &l) {
            for (int i = 0; i < n; ++i) {
                for (int j = i + 1; j < n; ++j) {
                    const QPointF d = l.nodeCenters[std::size_t(i)] - l.nodeCenters[std::size_t(j)];
                    if (std::hypot(d.x(), d.y()) < 2 * nodeR + kGap || l.labelRects[std::size_t(i)].intersects(l.labelRects[std::size_t(j)]))
                        return false;
                }
                for (int j = 0; j < n; ++j)
                    if (i != j && l.labelRects[std::size_t(i)].intersects(squareAround(l.nodeCenters[std::size_t(j)], nodeR)))
                        return false;
            }
            return true;
        };
        // The larger ring of the two label styles, each as large as the area allows (its extent
        // only grows with the radius).
        std::optional<RingLayout> best;
        for (bool beside : {false, true}) {
            if (!inside(0, beside))
                continue;
            double lo = 0, hi = std::max(bounds.width(), bounds.height());
            for (int step = 0; step < 30; ++step) {
                const double mid = (lo + hi) / 2;
                (inside(mid, beside) ? lo : hi) = mid;
            }
            RingLayout l = place(lo, beside);
            if (apart(l) && (!best || l.ringRadius > best->ringRadius + 0.5))
                best = std::move(l);
        }
        if (!best)
            continue;
        // Centre what was drawn (the top label makes a ring of 5 taller above than below).
        const QRectF e = extent(*best);
        const QPointF shift = bounds.center() - e.center();
        best->center = shift;
        for (auto &p : best->nodeCenters)
            p += shift;
        for (auto &r : best->labelRects)
            r.translate(shift);
        if (caption.isEmpty())
            return *best;
        // The caption inside the ring's line, clear of every node and label: at the labels'
        // size, or smaller (it matters less than the nodes).
        for (double cs : scales) {
            if (cs > scale)
                continue;
            QFont cf = scaledFont(base, cs);
            cf.setBold(true);
            const QSizeF size = QFontMetricsF(cf).boundingRect(QRectF(0, 0, 1e4, 1e4), Qt::AlignCenter, caption).size();
            const QRectF rect(best->center - QPointF(size.width(), size.height()) / 2, size);
            bool clear = std::hypot(size.width() / 2, size.height() / 2) <= best->ringRadius - 4;
            for (int i = 0; clear && i < n; ++i)
                clear = !rect.intersects(best->labelRects[std::size_t(i)]) && !rect.intersects(squareAround(best->nodeCenters[std::size_t(i)], nodeR));
            if (clear) {
                best->captionRect = rect;
                best->captionScale = cs;
                return *best;
            }
        }
        if (fallback.nodeCenters.empty() && n > 0)
            fallback = *best; // labels fit, the caption does not: keep looking for one where both do
    }
    if (!fallback.nodeCenters.empty() || n == 0) {
        // No room for the caption beside the labels: it goes to the top-left corner.
        QFont cf = scaledFont(base, kMinFontScale);
        cf.setBold(true);
        const QSizeF size = QFontMetricsF(cf).boundingRect(QRectF(0, 0, 1e4, 1e4), Qt::AlignLeft, caption).size();
        fallback.captionRect = caption.isEmpty() ? QRectF() : QRectF(bounds.topLeft(), size);
        fallback.captionScale = kMinFontScale;
        return fallback;
    }
    // Too small even for the smallest labels: keep the nodes apart at least, labels may overlap.
    RingLayout l;
    l.center = bounds.center();
    l.fontScale = l.captionScale = kMinFontScale;
    l.ringRadius = std::max(10.0, std::min(bounds.width(), bounds.height()) / 2 - 12);
    l.nodeRadius = n >= 2 ? std::max(3.0, std::min(12.0, l.ringRadius * std::sin(M_PI / n) - kGap / 2)) : 12.0;
    for (int i = 0; i < n; ++i) {
        const QPointF pos = l.center + QPointF(std::cos(angleOf(i)), std::sin(angleOf(i))) * l.ringRadius;
        l.nodeCenters.push_back(pos);
        l.labelRects.emplace_back(pos + QPointF(l.nodeRadius + kGap, -8), QSizeF(60, 16));
    }
    return l;
}

QString RingWidget::caption() const
{
    QString caption;
    switch (m_phase) {
    case Phase::NoRing: caption = QStringLiteral("no ring yet"); break;
    case Phase::Whole:
        caption = QStringLiteral("ring whole\nepoch %1").arg(m_model->ringEpoch());
        // Only when it is true: the animation is capped, and the feed knows the ring's real rate.
        if (m_rps > kMaxShownRotationsPerSecond)
            caption += QStringLiteral("\ntoken %1/s\nanimation slowed").arg(m_rps, 0, 'f', m_rps < 10 ? 1 : 0);
        else if (m_rps <= 0)
            caption += QStringLiteral("\nanimation not to scale");
        break;
    case Phase::Purging: caption = QStringLiteral("RING PURGE"); break;
    case Phase::Forming: caption = QStringLiteral("re-forming…"); break;
    }
    if (m_electedAtMs >= 0)
        caption += QStringLiteral("\nelected %1").arg(ipToString(m_elected));
    return caption;
}

void RingWidget::paintStatic(QPainter &p)
{
    p.fillRect(rect(), palette().base());

    std::vector<const MembershipModel::Row *> nodes, observers;
    for (const auto &r : m_model->rows())
        (r.observer ? observers : nodes).push_back(&r);

    const QFont base = font();
    const QFont small = scaledFont(base, 0.85);
    // The observers' line at the bottom keeps its own strip.
    const double observerStrip = observers.empty() ? 0 : QFontMetricsF(small).height() + 4;

    auto roleOf = [this](const MembershipModel::Row &r) {
        return r.member.status.role == tb::Role::None ? QString() : tb::roleToString(r.member.status.role) + QStringLiteral(" · ");
    };
    // An operator weight shows as "w N" (0: no new flows); a drain is the Draining state.
    auto weightOf = [](const MembershipModel::Row &r) {
        return r.admin && r.admin->weight ? QStringLiteral(" · w %1").arg(*r.admin->weight) : QString();
    };
    std::vector<std::pair<QString, QString>> labels;
    for (const auto *r : nodes)
        labels.emplace_back(ipToString(r->member.addr), roleOf(*r) + nodeDisplayStateName(r->state) + weightOf(*r));
    const QString text = caption();
    m_layout = layOut(QSizeF(width(), height() - observerStrip), base, labels, text);
    const int n = int(nodes.size());
    const QPointF c = m_layout.center;
    const double ringR = m_layout.ringRadius, nodeR = m_layout.nodeRadius;

    // The ring itself: solid while whole, dashed while purging or forming.
    QPen ringPen(m_phase == Phase::Whole ? QColor(0x90, 0xa4, 0xae) : QColor(0xe0, 0x8a, 0x00), 3);
    if (m_phase != Phase::Whole)
        ringPen.setStyle(Qt::DashLine);
    p.setPen(ringPen);
    p.setBrush(Qt::NoBrush);
    if (n > 0)
        p.drawEllipse(c, ringR, ringR);

    m_aliveAngles.clear();
    for (int i = 0; i < n; ++i)
        if (nodes[std::size_t(i)]->state != NodeDisplayState::Dead && nodes[std::size_t(i)]->state != NodeDisplayState::Left)
            m_aliveAngles.push_back(-M_PI / 2 + 2 * M_PI * i / n);

    QFont bold = scaledFont(base, m_layout.fontScale);
    bold.setBold(true);
    const QFont labelSmall = scaledFont(base, m_layout.fontScale * 0.85);
    for (int i = 0; i < n; ++i) {
        const auto &r = *nodes[std::size_t(i)];
        const QPointF pos = m_layout.nodeCenters[std::size_t(i)];
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
            p.drawText(squareAround(pos, nodeR), Qt::AlignCenter, tag);
        }
        const QRectF box = m_layout.labelRects[std::size_t(i)];
        const double ca = std::cos(-M_PI / 2 + 2 * M_PI * i / n);
        const int halign = ca > kSideCos ? Qt::AlignLeft : ca < -kSideCos ? Qt::AlignRight : Qt::AlignHCenter;
        p.setPen(palette().text().color());
        p.setFont(bold);
        p.drawText(box, halign | Qt::AlignTop, labels[std::size_t(i)].first);
        p.setFont(labelSmall);
        p.setPen(dispatcher ? kDispatcherColor : nodeStateColor(r.state).darker(130));
        p.drawText(box, halign | Qt::AlignBottom, labels[std::size_t(i)].second);
    }

    QColor captionColor = palette().text().color();
    if (m_phase == Phase::NoRing)
        captionColor = Qt::gray;
    else if (m_phase != Phase::Whole)
        captionColor = QColor(0xe0, 0x8a, 0x00);
    QFont captionFont = scaledFont(base, m_layout.captionScale);
    captionFont.setBold(m_phase != Phase::Whole);
    p.setFont(captionFont);
    p.setPen(captionColor);
    p.drawText(m_layout.captionRect, Qt::AlignCenter, text);

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
