#include "tokenbeat/node.h"

// Early stub so that the daemon, the CLI and the console can link; the state machine follows.

namespace sasha::tb {

struct TokenBeatNode::Impl {
    NodeConfig config;
    NodeState state = NodeState::Stopped;
    Role role = Role::None;
    RingView view;
    Counters counters;
};

TokenBeatNode::TokenBeatNode(NodeConfig config) : d(std::make_unique<Impl>())
{
    d->config = std::move(config);
}
TokenBeatNode::~TokenBeatNode() = default;
Actions TokenBeatNode::start(Time) { return {}; }
Actions TokenBeatNode::onDatagram(Time, const Endpoint &, QByteArrayView) { return {}; }
Actions TokenBeatNode::onTick(Time) { return {}; }
Time TokenBeatNode::nextDeadline() const { return Time::max(); }
Actions TokenBeatNode::leave(Time) { return {}; }
Actions TokenBeatNode::sendOob(Time, NodeAddr, quint8, const QByteArray &, bool, quint64 *) { return {}; }
void TokenBeatNode::setLocalStatus(const NodeStatus &) {}
void TokenBeatNode::setCapabilities(quint8 caps) { d->config.caps = caps; }
NodeAddr TokenBeatNode::self() const { return d->config.self; }
NodeState TokenBeatNode::state() const { return d->state; }
Role TokenBeatNode::role() const { return d->role; }
const RingView &TokenBeatNode::view() const { return d->view; }
const Counters &TokenBeatNode::counters() const { return d->counters; }
const NodeConfig &TokenBeatNode::config() const { return d->config; }

} // namespace sasha::tb
