#pragma once
// Error texts that name the missing capability (docs/design.md habit 9). Capture and injection need
// CAP_NET_RAW; promiscuous mode needs CAP_NET_ADMIN as well.

#include <string>

namespace sasha {

// "<what>: permission denied: needs CAP_NET_RAW (...)". `what` says which operation and interface.
std::string needsNetRaw(const std::string &what);
// "<what>: permission denied: promiscuous mode needs CAP_NET_ADMIN (...)".
std::string needsNetAdmin(const std::string &what);
// For a failed socket()/bind()/setsockopt(): names CAP_NET_RAW on EPERM/EACCES, else strerror.
std::string socketError(const std::string &what, int error);

} // namespace sasha
