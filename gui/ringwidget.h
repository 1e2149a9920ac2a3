#pragma once
// RingWidget: the ring drawn as nodes on a circle (address, role, state colour), with the token's
// circulation shown as a dot running from node to node while the ring is whole. A purge, the
// re-formation and an election are shown as they happen (caption in the centre, suspect nodes,
// a halo around a newly elected dispatcher). Reads MembershipModel; owns nothing else.
// The real token turns far faster than the eye follows (25 rotations/s with LAN timers), so the
// animation runs at the real rate only up to kMaxShownRotationsPerSecond; the centre caption says
// "animation slowed" when the real rate is known and above that, "animation not to scale" when
// the feed does not know the ring's rate (a real ring: its timers are not the console's).
// The layout scales with the widget: node size, ring radius and label font are chosen so that
// nodes, their labels and the centre caption never overlap (lastLayout() says where they went).

#include "tokenbeat/types.h"

#include <QElapsedTimer>
#include <QPixmap>
#include <QTimer>
#include <QWidget>

#include <optional>
#include <utility>
#include <vector>

namespace sasha::console {

class MembershipModel;

// Where paintStatic() last put things, in widget coordinates.
struct RingLayout {
    QPointF center;
    double ringRadius = 0;
    double nodeRadius = 0;
    double fontScale = 1;             // the labels' font relative to the widget's font
    double captionScale = 1;          // the caption's, at most fontScale
    std::vector<QPointF> nodeCenters; // ring members in address order (master first)
    std::vector<QRectF> labelRects;   // each node's two label lines (address; role · state), same order
    QRectF captionRect;               // the centre caption's text; empty when there is none
};

class RingWidget : public QWidget {
    Q_OBJECT
public:
    enum class Phase { NoRing, Whole, Purging, Forming };
    static constexpr double kMaxShownRotationsPerSecond = 0.5;

    explicit RingWidget(const MembershipModel *model, QWidget *parent = nullptr);

    void setPhase(Phase phase);
    Phase phase() const { return m_phase; }
    void flashElected(tb::NodeAddr addr);
    void setRotationsPerSecond(double rps);
    // Advances the token by dt seconds of animation (the timer calls it; tests may too).
    void advance(double seconds);
    double tokenPosition() const { return m_token; } // in ring hops from the master
    QString caption() const;                          // the centre caption (phase, epoch, rate)
    const RingLayout &lastLayout() const { return m_layout; }

    // The geometry for labels (each {address, role · state}) and a caption in a widget of size
    // area with font base: the largest label font (at most base, down to half of it) and ring at
    // which every label box lies inside area and no label, node or caption overlaps another.
    // Pure: paintStatic() uses it and tests may call it.
    static RingLayout layOut(QSizeF area, const QFont &base, const std::vector<std::pair<QString, QString>> &labels,
                             const QString &caption);

    QSize sizeHint() const override { return {460, 420}; }
    QSize minimumSizeHint() const override { return {260, 240}; }

protected:
    void paintEvent(QPaintEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;
    void changeEvent(QEvent *event) override;

private:
    // Everything but the token, drawn again only when the ring or the size changes: the token
    // moves 25 times a second and redrawing every label each frame cost most of the console's CPU.
    void paintStatic(QPainter &p);
    std::optional<QPointF> tokenCenter() const; // none unless the ring is whole
    QRect tokenRect() const;                     // what the token covers, empty if none

private:
    const MembershipModel *m_model;
    Phase m_phase = Phase::NoRing;
    double m_rps = 0;
    double m_token = 0;
    tb::NodeAddr m_elected = tb::kNoNode;
    qint64 m_electedAtMs = -1;
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_lastTickMs = 0;
    QPixmap m_cache;
    bool m_cacheDirty = true;
    bool m_haloShown = false;
    // Geometry of the last static paint, for placing the token.
    RingLayout m_layout;
    std::vector<double> m_aliveAngles; // in token order
    QRect m_lastTokenRect;             // where the token was last painted
};

} // namespace sasha::console
