#pragma once
// One logging category per subsystem. Select with [log] rules or QT_LOGGING_RULES, e.g.
// "sasha.ring.debug=true". Later subsystems (sasha.dispatcher, sasha.agent) add theirs here.

#include <QLoggingCategory>

namespace sasha {
Q_DECLARE_LOGGING_CATEGORY(lcRing)      // "sasha.ring": ring events, state changes
Q_DECLARE_LOGGING_CATEGORY(lcTransport) // "sasha.transport": sockets, drops
Q_DECLARE_LOGGING_CATEGORY(lcControl)   // "sasha.control": control socket
Q_DECLARE_LOGGING_CATEGORY(lcConfig)    // "sasha.config": configuration, start-up
} // namespace sasha
