#pragma once
// FailoverPhasesPanel: the last failover as a room reads it from afar, one tile per phase
// (detection, re-formation, election, reconstruction, first packet, total) with its time in large
// bold figures under the phase's name, and the cause above. The presentation layout's answer to
// the one-line summary under the ring. Shows a Failover (failovertracker.h); owns nothing else.

#include <QFrame>

#include <array>

QT_BEGIN_NAMESPACE
class QLabel;
QT_END_NAMESPACE

namespace sasha::console {

struct Failover;

class FailoverPhasesPanel : public QFrame {
    Q_OBJECT
public:
    static constexpr int kPhases = 6;

    explicit FailoverPhasesPanel(QWidget *parent = nullptr);
    // nullptr: no failover yet.
    void showFailover(const Failover *f);
    QString valueText(int phase) const; // the figure shown for phase 0..kPhases-1 ("142 ms", "—")
    QString causeText() const;

protected:
    void changeEvent(QEvent *event) override;

private:
    void applyFonts();

    QLabel *m_cause;
    std::array<QLabel *, kPhases> m_names{};
    std::array<QLabel *, kPhases> m_values{};
};

} // namespace sasha::console
