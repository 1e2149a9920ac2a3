#include "privilege.h"

#include <cerrno>
#include <cstring>

namespace sasha {

namespace {
constexpr const char *kHowTo = "the packaged unit grants it with AmbientCapabilities=; otherwise run sashad as "
                               "root, or grant it with `setcap cap_net_raw,cap_net_admin,cap_sys_nice+ep <path to sashad>`";
}

std::string needsNetRaw(const std::string &what)
{
    return what + ": permission denied: needs CAP_NET_RAW (" + kHowTo + ")";
}

std::string needsNetAdmin(const std::string &what)
{
    return what + ": permission denied: promiscuous mode needs CAP_NET_ADMIN (" + kHowTo + ")";
}

std::string socketError(const std::string &what, int error)
{
    if (error == EPERM || error == EACCES)
        return needsNetRaw(what);
    return what + ": " + std::strerror(error);
}

} // namespace sasha
