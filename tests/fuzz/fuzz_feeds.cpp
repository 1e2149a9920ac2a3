// libFuzzer target: the console's feeds (control/flowfeed.h, control/eventfeed.h) and the
// operator command codecs (control/admincommand.h, control/faultcommand.h). The first byte picks
// the decoder; for the flow feed's snapshot encoder it also gives the entries per part (1..8).
// Whatever decodes must encode to bytes that decode to the same value; a flow snapshot split
// into parts must give its entries back in order; every event message also goes through one
// long-lived EventFeedReceiver, whose counters must add up.
// Run: fuzz_feeds -max_len=4096 [corpus dir]

#include "control/admincommand.h"
#include "control/eventfeed.h"
#include "control/faultcommand.h"
#include "control/flowfeed.h"
#include "fuzzinput.h"

using namespace sasha;
using sasha::fuzz::FuzzInput;

namespace {

void checkFlowFeed(QByteArrayView bytes, int perPart)
{
    const auto m = decodeFlowFeed(bytes);
    if (!m)
        return;
    FUZZ_CHECK(decodeFlowFeed(encodeFlowFeed(*m)) == m);
    if (m->type == FlowFeedMessage::Type::Subscribe) {
        FUZZ_CHECK(m->entries.empty());
        const auto subscribe = decodeFlowFeed(encodeFlowFeedSubscribe(m->dispatcher, m->runId));
        FUZZ_CHECK(subscribe && subscribe->type == m->type && subscribe->dispatcher == m->dispatcher
                   && subscribe->runId == m->runId);
        return;
    }
    const std::vector<QByteArray> parts = encodeFlowFeedSnapshot(m->dispatcher, m->runId, m->seq, m->entries, perPart);
    std::vector<FlowFeedEntry> entries;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto p = decodeFlowFeed(parts[i]);
        FUZZ_CHECK(p && p->type == FlowFeedMessage::Type::SnapshotPart && p->dispatcher == m->dispatcher
                   && p->runId == m->runId && p->part == i && p->parts == parts.size()
                   && p->entries.size() <= std::size_t(perPart));
        entries.insert(entries.end(), p->entries.begin(), p->entries.end());
    }
    FUZZ_CHECK(entries == m->entries);
}

void checkEventFeed(QByteArrayView bytes, quint8 from)
{
    static EventFeedReceiver receiver;
    static qint64 nowUs = 1'000'000;
    nowUs += 1000 * (from >> 2);
    const auto m = decodeEventFeed(bytes);
    if (m)
        FUZZ_CHECK(decodeEventFeed(encodeEventFeed(*m)) == m);
    const EventFeedReceiver::Stats before = receiver.stats();
    const EventFeedReceiver::Result r = receiver.onMessage(from % 4, bytes, nowUs);
    const EventFeedReceiver::Stats &after = receiver.stats();
    FUZZ_CHECK(after.messages + after.rejected == before.messages + before.rejected + 1);
    FUZZ_CHECK(r.error.isEmpty() == (after.messages == before.messages + 1));
    FUZZ_CHECK(after.events == before.events + quint64(r.events.size()));
    if (!r.error.isEmpty())
        FUZZ_CHECK(r.events.isEmpty());
    else
        FUZZ_CHECK(m && r.events.size() == m->events.size());
}

template <class Value, class Encode>
void roundTrip(const std::optional<Value> &v, std::optional<Value> (*decode)(QByteArrayView, QString *), Encode encode)
{
    if (v)
        FUZZ_CHECK(decode(encode(*v), nullptr) == v);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    FuzzInput in(data, size);
    const quint8 which = in.u8();
    const QByteArrayView bytes = in.rest();
    QString error;
    switch (which % 7) {
    case 0: checkFlowFeed(bytes, 1 + (which >> 4) % 8); break;
    case 1: checkEventFeed(bytes, which); break;
    case 2: roundTrip(decodeAdminCommand(bytes, &error), decodeAdminCommand, encodeAdminCommand); break;
    case 3: roundTrip(decodeAdminReply(bytes, &error), decodeAdminReply, encodeAdminReply); break;
    case 4: roundTrip(decodeAdminReport(bytes, &error), decodeAdminReport, encodeAdminReport); break;
    case 5: roundTrip(decodeFaultCommand(bytes, &error), decodeFaultCommand, encodeFaultCommand); break;
    case 6: roundTrip(decodeFaultReply(bytes, &error), decodeFaultReply, encodeFaultReply); break;
    }
    return 0;
}
