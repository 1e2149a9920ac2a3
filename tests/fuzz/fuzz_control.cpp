// libFuzzer target: the control protocol (control/controlprotocol.h). The first byte picks:
//   0: the rest is a request line for parseControlRequest(). Every line gets a request or an
//      error text (the control socket answers every line); a request, written back with its
//      toJson() as a line, parses to the same request.
//   1: the rest is JSON for ControlStatus::fromJson(); 2: for ControlEvent::fromJson(). What
//      fromJson() makes of any object, toJson() and fromJson() must give back unchanged.
// Run: fuzz_control -max_len=4096 [corpus dir]

#include "control/controlprotocol.h"
#include "fuzzinput.h"

#include <QJsonDocument>

using namespace sasha;
using sasha::fuzz::FuzzInput;

namespace {

void checkRequest(const QByteArray &line)
{
    QString error;
    const auto r = parseControlRequest(line, &error);
    FUZZ_CHECK(r.has_value() == error.isEmpty());
    if (!r)
        return;
    QString again;
    const auto back = parseControlRequest(controlLine(r->toJson()), &again);
    FUZZ_CHECK(back && back->toJson() == r->toJson());
}

template <class Value>
void checkFromJson(const QByteArray &json)
{
    const QJsonDocument doc = QJsonDocument::fromJson(json);
    const Value v = Value::fromJson(doc.object());
    FUZZ_CHECK(Value::fromJson(v.toJson()) == v);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    FuzzInput in(data, size);
    const quint8 which = in.u8();
    const QByteArray text = in.rest().toByteArray();
    switch (which % 3) {
    case 0: checkRequest(text); break;
    case 1: checkFromJson<ControlStatus>(text); break;
    case 2: checkFromJson<ControlEvent>(text); break;
    }
    return 0;
}
