#!/usr/bin/env bash
# Integration test of sasha-console on the namespace lab: the console (offscreen, in the client
# namespace, exactly as `sasha-lab up` says to start it) watches a 5-node cluster under httperf
# load while the dispatcher is killed. From the console's hidden dump lines (docs/console.md) it
# asserts that the connection map is fed by the real dispatcher over OOB channel 0x20, follows
# the new dispatcher after the kill, and that the failover's phases come timed from the daemons'
# event feed (OOB channel 0x21). With SASHA_SCREENSHOT_DIR set it copies the console's window,
# taken a few seconds after the failover, to $SASHA_SCREENSHOT_DIR/console-lab-failover.png.
# Exit 0 = pass, 1 = fail, 77 = skipped (not root, tools missing, or a lab already up, which this
# test will not tear down). Needs SASHAD, SASHACTL and SASHA_CONSOLE (CTest sets them).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${SASHA_LAB:-$here/../../lab/sasha-lab}
readonly lab
readonly kRate=${SASHA_CONSOLE_RATE:-300}       # connections/s from httperf
readonly kLoadSeconds=20
readonly kKillAfterSeconds=6                     # into the load
readonly kDumpSeconds=0.5                        # the console's --dump-connections period
failures=0

# shellcheck source-path=SCRIPTDIR source=lab_test_lib.sh
source "$here/lab_test_lib.sh"

# The console's dump lines, e.g.
#   connections t=12.5 dispatcher=10.77.0.1 active=812 rows=830 servers=[10.77.0.2=203 ...]
#   failovers=1 last=[detection=167.2 reformation=41.0 election=0.3 reconstruction=5.1 firstForward=2.0 closed=1]
# dumpSummary LINE -> "dispatcher active serversWithFlows failovers detection reformation election
# reconstruction firstForward closed" ("-" for what the line lacks).
dumpSummary() {
    python3 - "$1" <<'EOF'
import re, sys
line = sys.argv[1]
def field(name):
    m = re.search(r'(?:^|\s)' + name + r'=(\S+)', line)
    return m.group(1) if m else '-'
servers = re.search(r'servers=\[([^\]]*)\]', line)
withFlows = sum(1 for kv in (servers.group(1).split() if servers else []) if int(kv.split('=')[1]) > 0)
last = re.search(r'last=\[([^\]]*)\]', line)
phases = dict(kv.split('=', 1) for kv in last.group(1).split()) if last else {}
print(field('dispatcher'), field('active'), withFlows, field('failovers'),
      *[phases.get(k, '-') for k in ('detection', 'reformation', 'election', 'reconstruction', 'firstForward', 'closed')])
EOF
}
consoleOut() { grep '^connections ' "$tmp/console.out" 2>/dev/null; }
lastDump() { consoleOut | tail -n 1; }
# consoleShows DISPATCHER MIN_SERVERS: the newest dump line names DISPATCHER and holds open flows on
# at least MIN_SERVERS servers.
consoleShows() {
    local d _a s _rest
    read -r d _a s _rest <<<"$(dumpSummary "$(lastDump)")"
    [[ $d == "$1" && $s -ge $2 ]]
}
# failoverSettled: the newest dump line has a failover whose election is timed, and either it
# closed (reconstruction and first forward seen) or the tracker's 10 s close is near.
failoverSettled() {
    local _d _a _s n _det _ref ele _rec _ff closed
    read -r _d _a _s n _det _ref ele _rec _ff closed <<<"$(dumpSummary "$(lastDump)")"
    [[ $n != 0 && $n != - && $ele != - && $closed == 1 ]]
}

[[ $(id -u) -eq 0 ]] || skip "lab_console needs root (network namespaces, packet capture); run: sudo $0"
for tool in ip nginx ethtool curl httperf python3; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
for var in SASHAD SASHACTL SASHA_CONSOLE; do
    [[ -n ${!var:-} && -x ${!var:-} ]] || { echo "FAIL - $var must name the built binary (got '${!var:-}')"; exit 1; }
done
if [[ -e /run/sasha-lab/lab.env ]] || ip netns list | grep -qE '^sasha-(sw|client|router|node[0-9]+)( |$)'; then
    skip "a sasha lab is already up; this test will not tear it down (run: $lab down)"
fi

tmp=$(mktemp -d /tmp/lab_console.XXXXXX)
consolePid=""
loadPid=""
cleanup() {
    local rc=$?
    [[ -n $consolePid ]] && kill -TERM "$consolePid" 2>/dev/null
    [[ -n $loadPid ]] && kill -TERM "$loadPid" 2>/dev/null
    "$lab" down >/dev/null 2>&1 || true
    if ((rc != 0)) && [[ -s $tmp/console.out ]]; then
        echo "     console dump lines (last 12):"
        consoleOut | tail -n 12 | sed 's/^/       /'
        tail -n 5 "$tmp/console.err" 2>/dev/null | sed 's/^/       console: /'
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! "$lab" up --nodes 5 --large-mb 1 >"$tmp/up.log" 2>&1; then
    cat "$tmp/up.log"
    echo "FAIL - sasha-lab up"
    exit 1
fi
# The command `up` prints for watching the lab, with the hidden scripting options added.
watchLine=$(grep -o 'watch it: .*' "$tmp/up.log" | sed 's/^watch it: //')
[[ $watchLine == *"exec client -- "*" --key /run/sasha-lab/cluster.key --seed 10.77.0.1:7400 --lab" ]] \
    || fail "'sasha-lab up' prints how to start the console (got: '$watchLine')"
if waitFor 15 ringOf 1 5; then pass "5 nodes form a ring with a dispatcher"; else fail "ring of 5 did not form"; exit 1; fi
disp=$(dispatcherOf 1)
dk=$(nodeIndex "$disp")
dataPathReady() { [[ $(nodeCtl "$dk" --json status | jsonField '["dataPath"]["reconstruction"]') == complete ]]; }
waitFor 10 dataPathReady || fail "the dispatcher's data path is not ready"
note "dispatcher: node$dk ($disp)"

"$lab" exec client -- env QT_QPA_PLATFORM=offscreen "$SASHA_CONSOLE" --key /run/sasha-lab/cluster.key \
    --seed 10.77.0.1:7400 --lab --dump-connections "$kDumpSeconds" --snapshot "$tmp/console.png" \
    >"$tmp/console.out" 2>"$tmp/console.err" &
consolePid=$!
if waitFor 15 consoleShows "$disp" 0; then
    pass "the console joined the ring and shows dispatcher $disp"
else
    fail "the console does not show dispatcher $disp: $(lastDump)"
    exit 1
fi

"$lab" load --rate "$kRate" --duration "$kLoadSeconds" --json >"$tmp/load.json" 2>/dev/null &
loadPid=$!
sleep "$kKillAfterSeconds"

# 1. Before the kill: the map is the dispatcher's, with open flows on the servers.
line=$(lastDump)
read -r d active servers rest <<<"$(dumpSummary "$line")"
note "before the kill: $line"
if [[ $d == "$disp" && $servers -ge 3 ]]; then
    pass "before the kill the map is $disp's: $active open flows on $servers servers"
else
    fail "before the kill: dispatcher=$d (expected $disp), open flows on $servers servers (expected >= 3)"
fi

# 2. The dispatcher is killed. A fault command through another node makes the dispatcher's sashad
# SIGKILL itself and report fault-injected first, so that the console can time detection (a bare
# SIGKILL tells nobody when it happened); `sasha-lab fault crash` then takes its nginx too.
other=$((dk == 1 ? 2 : 1))
killedAt=$SECONDS
nodeCtl "$other" fault "$disp" crash >"$tmp/fault.out" || fail "sashactl fault $disp crash: $(cat "$tmp/fault.out")"
sashadPid=$(tr -dc '0-9' <"/run/sasha-lab/node$dk/sashad.pid" 2>/dev/null)
sashadGone() { [[ -n $sashadPid ]] && ! kill -0 "$sashadPid"; }
waitFor 3 sashadGone || note "node$dk's sashad (pid ${sashadPid:-?}) survived its crash command; sasha-lab kills it"
"$lab" fault "node$dk" crash >/dev/null || fail "sasha-lab fault node$dk crash"
newDisp=""
newDispatcherKnown() { newDisp=$(dispatcherOf "$other"); [[ -n $newDisp && $newDisp != "$disp" ]]; }
if waitFor 5 newDispatcherKnown; then
    newDisp=$(dispatcherOf "$other")
    pass "sashactl on node$other reports the new dispatcher $newDisp"
else
    fail "no new dispatcher within 5 s of killing $disp"
    exit 1
fi

# 3. After the kill: the console names the new dispatcher and its map fills again from it.
if waitFor 10 consoleShows "$newDisp" 3; then
    line=$(lastDump)
    read -r d active servers rest <<<"$(dumpSummary "$line")"
    pass "the console followed dispatcher $newDisp within $((SECONDS - killedAt)) s: $active open flows on $servers servers"
    note "after the kill: $line"
else
    fail "the console did not follow $newDisp with open flows on >= 3 servers: $(lastDump)"
fi

# 4. A few seconds later the window shows the refilled map and the chart's markers (cps is sampled
# every second): that picture is the README's screenshot.
sleep 3
if [[ -n ${SASHA_SCREENSHOT_DIR:-} ]]; then
    if mkdir -p "$SASHA_SCREENSHOT_DIR" && cp "$tmp/console.png" "$SASHA_SCREENSHOT_DIR/console-lab-failover.png"; then
        note "screenshot: $SASHA_SCREENSHOT_DIR/console-lab-failover.png (taken $((SECONDS - killedAt)) s after the kill)"
    else
        fail "copying the console's snapshot to $SASHA_SCREENSHOT_DIR"
    fi
fi

# 5. The failover, timed from the daemons' events: exactly one, detection 50-1000 ms, an election.
waitFor 10 failoverSettled || note "the failover did not close (reconstruction or first forward missing)"
read -r d active servers nFailovers det ref ele rec ff closed <<<"$(dumpSummary "$(lastDump)")"
note "failover phases (ms): detection=$det re-formation=$ref election=$ele reconstruction=$rec first-forward=$ff closed=$closed"
if [[ $nFailovers == 1 ]]; then pass "exactly one failover"; else fail "failovers=$nFailovers, expected 1"; fi
if [[ $det != - ]] && python3 -c "import sys; sys.exit(not 50 <= float('$det') <= 1000)"; then
    pass "detection $det ms (50-1000 ms)"
else
    fail "detection '$det' ms, expected 50-1000 ms"
fi
if [[ $ele != - ]]; then pass "election timed ($ele ms)"; else fail "no election phase"; fi

# The load ends; its figures are informative (lab_dispatcher bounds the connections lost).
deadline=$((SECONDS + kLoadSeconds + 15))
while kill -0 "$loadPid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
if kill -0 "$loadPid" 2>/dev/null; then
    fail "httperf still running $((kLoadSeconds + 15)) s after it started"
else
    wait "$loadPid"
    loadPid=""
    note "httperf: $(jsonField '["cps"]' <"$tmp/load.json") cps, $(jsonField '["errors"]["total"]' <"$tmp/load.json") errors; console at the end: $(lastDump)"
fi

echo
if [[ $failures -eq 0 ]]; then echo "lab_console: all checks passed"; exit 0; fi
echo "lab_console: $failures check(s) failed"
exit 1
