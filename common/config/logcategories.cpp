#include "config/logcategories.h"

namespace sasha {
Q_LOGGING_CATEGORY(lcRing, "sasha.ring")
Q_LOGGING_CATEGORY(lcTransport, "sasha.transport")
Q_LOGGING_CATEGORY(lcControl, "sasha.control")
Q_LOGGING_CATEGORY(lcConfig, "sasha.config")
} // namespace sasha
