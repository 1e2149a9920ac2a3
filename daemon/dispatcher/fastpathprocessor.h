#pragma once
// Connects the fast path (common/fastpath: parse, flow table, scheduler, rewrite) to the
// dispatcher thread. Both run on the dispatcher thread; the FastPath is owned by the caller.

#include "dispatcherthread.h"
#include "fastpath/fastpath.h"

namespace sasha {

class FastPathProcessor final : public FrameProcessor {
public:
    explicit FastPathProcessor(FastPath &fastPath) : m_fastPath(fastPath) {}

    FrameDisposition process(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                             std::chrono::microseconds now) noexcept override
    {
        const ProcessResult r = m_fastPath.process(in, out, now);
        switch (r.verdict) {
        case Verdict::Forward:
            return {FrameDisposition::Action::Forward, r.outLength};
        case Verdict::DeliverLocal:
            return {FrameDisposition::Action::DeliverLocal, r.outLength};
        case Verdict::Drop:
            break;
        }
        return {FrameDisposition::Action::Drop, 0};
    }
    void idle(std::chrono::microseconds now) noexcept override { m_fastPath.housekeeping(now); }

private:
    FastPath &m_fastPath;
};

} // namespace sasha
