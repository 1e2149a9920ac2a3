#pragma once
// The ring address an observer (sasha-console, `sashactl watch --key`) uses when none is given.

#include "tokenbeat/types.h"

#include <vector>

namespace sasha {

// For loopback seeds (or none): a loopback address of its own, 127.255.x.y derived from pid
// (never a node's, never .0 or .255); else the host's first non-loopback IPv4.
quint32 defaultObserverAddress(const std::vector<tb::Endpoint> &seeds, qint64 pid);

}  // namespace sasha
