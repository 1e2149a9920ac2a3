#pragma once
// RingWidget: the ring drawn as nodes on a circle (address, role, state colour), with the token's
// circulation shown as a dot running from node to node while the ring is whole. A purge, the
// re-formation and an election are shown as they happen (caption in the centre, suspect nodes,
// a halo around a newly elected dispatcher). Reads MembershipModel; owns nothing else.
// The real token turns far faster than the eye follows (25 rotations/s with LAN timers), so the
// animation runs at the real rate only up to kMaxShownRotationsPerSecond and says so when slowed.

#include "tokenbeat/types.h"

#include <QElapsedTimer>
#include <QPixmap>
#include <QTimer>
#include <QWidget>

#include <optional>

namespace sasha::console {

class MembershipModel;

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

    QSize sizeHint() const override { return {460, 420}; }
    QSize minimumSizeHint() const override { return {260, 240}; }

protected:
    void paintEvent(QPaintEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

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
    QPointF m_center;
    double m_ringR = 0, m_nodeR = 0;
    std::vector<double> m_aliveAngles; // in token order
    QRect m_lastTokenRect;             // where the token was last painted
};

} // namespace sasha::console
