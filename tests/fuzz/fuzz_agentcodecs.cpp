// libFuzzer target: the agent's reconstruction codec (agent/connmessages.h) and the handover's
// flow transfer codec (agent/flowtransfer.h). The first byte picks the decoder and, for the
// multi-part encoders, how many entries a part may hold (1..8, so that parts split). Whatever
// decodes is encoded again: a query must decode to itself (less repeated ports); a report's or a flow table's entries
// must come back, in order, from all the parts the encoder writes, each part carrying the same
// header fields and numbered 0..partCount-1 with the total entry count.
// Run: fuzz_agentcodecs -max_len=4096 [corpus dir]

#include "agent/connmessages.h"
#include "agent/flowtransfer.h"
#include "fuzzinput.h"

#include <algorithm>

using namespace sasha;
using sasha::fuzz::FuzzInput;

namespace {

void checkQuery(QByteArrayView payload)
{
    const auto q = decodeConnQuery(payload);
    if (!q)
        return;
    // The encoder drops repeated (vip, port) pairs (the decoder keeps them): compare the pairs.
    const auto again = decodeConnQuery(encodeConnQuery(*q));
    FUZZ_CHECK(again && again->queryId == q->queryId && again->vip == q->vip && again->services() == q->services());
}

void checkReport(QByteArrayView payload, int perPart)
{
    const auto r = decodeConnReport(payload);
    if (!r)
        return;
    FUZZ_CHECK(r->part < r->partCount);
    // A query asking exactly the report's (vip, port) pairs, its vip the report's.
    ConnQuery query{r->queryId, r->vip, {}, {}};
    // UDP entries (the report's protocol table) into the query's UDP field, by VIP.
    auto addTo = [](std::vector<ConnQueryVip> &list, quint32 vip, quint16 port) {
        auto it = std::find_if(list.begin(), list.end(), [&](const ConnQueryVip &m) { return m.vip == vip; });
        if (it == list.end())
            it = list.insert(list.end(), ConnQueryVip{vip, {}});
        if (std::find(it->ports.begin(), it->ports.end(), port) == it->ports.end())
            it->ports.push_back(port);
    };
    for (const ConnEntry &e : r->entries) {
        if (e.udp) {
            addTo(query.udp, e.vip == 0 ? r->vip : e.vip, e.vport);
            continue;
        }
        if (e.vip == 0) { // the report's own VIP
            if (std::find(query.ports.begin(), query.ports.end(), e.vport) == query.ports.end())
                query.ports.push_back(e.vport);
            continue;
        }
        addTo(query.moreVips, e.vip, e.vport);
    }
    FUZZ_CHECK(query.services().size() <= std::size_t(kMaxServicePorts));
    FUZZ_CHECK(query.udpServices().size() <= std::size_t(kMaxServicePorts));
    const std::vector<QByteArray> parts = encodeConnReports(query, r->server, r->mac, r->entries, r->skippedDead, perPart);
    std::vector<ConnEntry> entries;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto p = decodeConnReport(parts[i]);
        FUZZ_CHECK(p && p->queryId == r->queryId && p->server == r->server && p->vip == r->vip && p->mac == r->mac
                   && p->skippedDead == r->skippedDead && p->part == i && p->partCount == parts.size()
                   && p->totalEntries == r->entries.size() && p->entries.size() <= std::size_t(perPart));
        entries.insert(entries.end(), p->entries.begin(), p->entries.end());
    }
    FUZZ_CHECK(entries == r->entries);
}

void checkFlowTransfer(QByteArrayView payload, int perPart)
{
    const auto m = decodeFlowTransfer(payload);
    if (!m)
        return;
    if (const auto *a = std::get_if<FlowTransferStandAside>(&*m)) {
        const auto again = decodeFlowTransfer(encodeFlowTransferStandAside(*a));
        FUZZ_CHECK(again && std::get_if<FlowTransferStandAside>(&*again) && *std::get_if<FlowTransferStandAside>(&*again) == *a);
        return;
    }
    if (const auto *a = std::get_if<FlowTransferAnnounced>(&*m)) {
        const auto again = decodeFlowTransfer(encodeFlowTransferAnnounced(*a));
        FUZZ_CHECK(again && std::get_if<FlowTransferAnnounced>(&*again) && *std::get_if<FlowTransferAnnounced>(&*again) == *a);
        return;
    }
    const auto &t = std::get<FlowTransferTable>(*m);
    FUZZ_CHECK(t.part < t.partCount);
    const std::vector<QByteArray> parts = encodeFlowTransferTable(t.transferId, t.vip, t.entries, perPart);
    std::vector<FlowTransferEntry> entries;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto d = decodeFlowTransfer(parts[i]);
        const auto *p = d ? std::get_if<FlowTransferTable>(&*d) : nullptr;
        FUZZ_CHECK(p && p->transferId == t.transferId && p->vip == t.vip && p->part == i && p->partCount == parts.size()
                   && p->totalEntries == t.entries.size() && p->entries.size() <= std::size_t(perPart));
        entries.insert(entries.end(), p->entries.begin(), p->entries.end());
    }
    FUZZ_CHECK(entries == t.entries);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    FuzzInput in(data, size);
    const quint8 which = in.u8();
    const int perPart = 1 + (which >> 4) % 8;
    const QByteArrayView payload = in.rest();
    switch (which % 3) {
    case 0: checkQuery(payload); break;
    case 1: checkReport(payload, perPart); break;
    case 2: checkFlowTransfer(payload, perPart); break;
    }
    return 0;
}
