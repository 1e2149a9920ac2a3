// libFuzzer target: the TokenBeat message bodies (tokenbeat/messages.h). The first byte picks
// the decoder, the rest is the body. Whatever decodes must encode to a body no longer than the
// one decoded (decoders ignore trailing bytes; they map unknown role and health values to None
// and Unknown, so the bytes may differ) that decodes to the same message, and that is exactly
// as long as the decoder needs.
// Run: fuzz_messages -max_len=1400 [corpus dir]

#include "fuzzinput.h"
#include "tokenbeat/messages.h"

using namespace sasha::tb;
using sasha::fuzz::FuzzInput;

namespace {

template <class Message>
void roundTrip(QByteArrayView body)
{
    Message m;
    if (!decodeBody(body, m))
        return;
    const QByteArray encoded = encodeBody(m);
    FUZZ_CHECK(encoded.size() <= body.size());
    Message again;
    FUZZ_CHECK(decodeBody(encoded, again) && again == m);
    // The known part is exactly what a decoder needs: one byte less is Malformed.
    Message shorter;
    FUZZ_CHECK(!decodeBody(QByteArrayView(encoded).chopped(1), shorter));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    FuzzInput in(data, size);
    const quint8 which = in.u8();
    const QByteArrayView body = in.rest();
    switch (which % 7) {
    case 0: roundTrip<JoinMsg>(body); break;
    case 1: roundTrip<ViewMsg>(body); break;
    case 2: roundTrip<ViewAckMsg>(body); break;
    case 3: roundTrip<TokenMsg>(body); break;
    case 4: roundTrip<EpochMsg>(body); break;
    case 5: roundTrip<ObserverHelloMsg>(body); break;
    case 6: roundTrip<BeaconMsg>(body); break;
    }
    return 0;
}
