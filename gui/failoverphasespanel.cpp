#include "failoverphasespanel.h"

#include "failovertracker.h"

#include <QEvent>
#include <QGridLayout>
#include <QLabel>

namespace sasha::console {

namespace {
constexpr const char *kPhaseNames[FailoverPhasesPanel::kPhases] = {"detection", "re-formation", "election",
                                                                   "reconstruction", "first packet", "total"};
}

FailoverPhasesPanel::FailoverPhasesPanel(QWidget *parent) : QFrame(parent)
{
    setFrameShape(QFrame::StyledPanel);
    setObjectName(QStringLiteral("failoverPhases"));
    auto *grid = new QGridLayout(this);
    grid->setContentsMargins(8, 4, 8, 4);
    grid->setVerticalSpacing(0);
    m_cause = new QLabel(QStringLiteral("No failover yet."), this);
    m_cause->setTextFormat(Qt::PlainText);
    grid->addWidget(m_cause, 0, 0, 1, kPhases);
    for (int i = 0; i < kPhases; ++i) {
        m_names[std::size_t(i)] = new QLabel(QString::fromLatin1(kPhaseNames[i]), this);
        m_values[std::size_t(i)] = new QLabel(QStringLiteral("—"), this);
        for (QLabel *l : {m_names[std::size_t(i)], m_values[std::size_t(i)]})
            l->setAlignment(Qt::AlignCenter);
        grid->addWidget(m_names[std::size_t(i)], 1, i);
        grid->addWidget(m_values[std::size_t(i)], 2, i);
        grid->setColumnStretch(i, 1);
    }
    applyFonts();
}

void FailoverPhasesPanel::applyFonts()
{
    QFont big = font();
    big.setBold(true);
    if (big.pixelSize() > 0)
        big.setPixelSize(int(big.pixelSize() * 1.4));
    else
        big.setPointSizeF(big.pointSizeF() * 1.4);
    for (QLabel *v : m_values)
        v->setFont(big);
    QFont bold = font();
    bold.setBold(true);
    m_cause->setFont(bold);
}

void FailoverPhasesPanel::changeEvent(QEvent *event)
{
    // The presentation layout scales the window's font with its size: follow it.
    if (event->type() == QEvent::FontChange)
        applyFonts();
    QFrame::changeEvent(event);
}

void FailoverPhasesPanel::showFailover(const Failover *f)
{
    if (!f) {
        m_cause->setText(QStringLiteral("No failover yet."));
        for (QLabel *v : m_values)
            v->setText(QStringLiteral("—"));
        return;
    }
    m_cause->setText(QStringLiteral("Last failover: %1%2%3")
                         .arg(f->cause, f->newDispatcher.isEmpty() ? QString() : QStringLiteral(" → dispatcher ") + f->newDispatcher,
                              f->closed ? QString() : QStringLiteral(" (in progress)")));
    const qint64 us[kPhases] = {f->detectionUs(), f->reformationUs(), f->electionUs(), f->reconstructionUs(), f->firstPacketAfterUs(), f->totalUs()};
    for (int i = 0; i < kPhases; ++i)
        m_values[std::size_t(i)]->setText(formatPhase(us[i]));
}

QString FailoverPhasesPanel::valueText(int phase) const { return m_values.at(std::size_t(phase))->text(); }

QString FailoverPhasesPanel::causeText() const { return m_cause->text(); }

} // namespace sasha::console
