#!/usr/bin/env bash
# Nothing blocks the ring's thread (issue 8 item 6; docs/dispatcher.md "The ring's thread"), at
# 100k: on a 3-node namespace lab, one server holds >= 100,000 established connections to the
# VIP on a service port (connhold: both ends inside that server's namespace, from 6 addresses on
# its loopback; the server sides wait unaccepted in its accept queue, so they need no descriptor),
# so its agent's reconstruction dump lists 100k connections and every dispatcher that rebuilds
# its map from the agents holds 100k flows. Then, under httperf load through the VIP,
# for kBusySeconds:
#   - the connection map of whoever dispatches is asked for again and again, in full (100,000
#     entries, sashactl's maximum), each answer counted and timed;
#   - the role is handed back and forth between the two nodes that do not hold them (`sashactl handover NODE`):
#     each successor asks every agent for its connections (the 100k dump on the server, 100k
#     reports merged) and takes the previous dispatcher's 100k-flow table (copied, encoded, sent).
# Checks: 0 purges and 0 token timeouts on every node, 0 httperf errors, the answers and the dumps
# really held >= 100,000 entries, and enough of both. Prints the time each answer and dump took.
# Needs root; exit 77 = skipped. Removes the lab it made, also when it fails (SASHA_KEEP_LOGS=DIR
# keeps the nodes' sashad logs of a failed run there).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${SASHA_LAB:-$here/../../lab/sasha-lab}
readonly lab
readonly kHeld=${SASHA_BIGTABLES_CONNECTIONS:-100500}  # a little over 100k: 100k must survive any doubt
readonly kWant=100000                                  # sashactl connections --limit's maximum
readonly kPort=8080                                    # the held connections' service port
readonly kRate=${SASHA_BIGTABLES_RATE:-300}            # httperf connections/s through the VIP
readonly kBusySeconds=${SASHA_BIGTABLES_SECONDS:-40}   # 5 answers of 4-6 s each on a busy machine, with room
readonly kMinAnswers=5 kMinDumps=4   # a 100k-flow answer takes 2-6 s here (JSON built, sent, read)
failures=0

# shellcheck source-path=SCRIPTDIR source=lab_test_lib.sh
source "$here/lab_test_lib.sh"

[[ $(id -u) -eq 0 ]] || skip "lab_bigtables needs root (network namespaces, packet capture, 200k sockets); run: sudo $0"
for tool in ip nginx ethtool curl httperf python3; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
[[ -n ${SASHAD:-} && -x ${SASHAD:-} && -n ${SASHACTL:-} && -x ${SASHACTL:-} && -n ${CONNHOLD:-} && -x ${CONNHOLD:-} ]] \
    || { echo "FAIL - SASHAD, SASHACTL and CONNHOLD must name the built binaries"; exit 1; }
ownLab lab_bigtables

cat >"$tmp/extra.toml" <<EOF
[dispatcher]
interface = "eth0"
vip = "@VIP@"
vmac = "@VMAC@"
ports = [80, $kPort]
scheduler = "maglev"
announce_ms = 1000
EOF
if ! SASHAD_EXTRA_CONFIG=$tmp/extra.toml "$lab" up --nodes 3 --large-mb 1 >"$tmp/up.log" 2>&1; then
    cat "$tmp/up.log"
    echo "FAIL - sasha-lab up"
    exit 1
fi
allMembers() { local k; for k in 1 2 3; do ringOf "$k" 3 || return 1; done; }
if waitFor 15 allMembers; then pass "3 nodes form a ring with a dispatcher"; else fail "ring of 3 did not form"; exit 1; fi
dispatcherNode() { nodeIndex "$(dispatcherOf 1)"; }
dataPathReady() { [[ $(nodeCtl "$1" --json status | jsonField '["dataPath"]["reconstruction"]') == complete ]]; }
isDispatcher() { [[ $(dispatcherNode) == "$1" ]] && dataPathReady "$1"; }
sumOver() {   # sumOver COMMAND PYTHON_PATH : the sum over the 3 nodes of one field of `sashactl --json COMMAND`
    local k total=0 v
    for k in 1 2 3; do
        v=$(nodeCtl "$k" --json "$1" | jsonField "$2")
        [[ $v =~ ^[0-9]+$ ]] || v=0
        total=$((total + v))
    done
    echo "$total"
}
eventsOf() {   # eventsOf KIND : how many KIND events the 3 nodes' logs hold
    local k total=0 v
    for k in 1 2 3; do
        v=$(nodeCtl "$k" --json events --limit 2000 | python3 -c '
import json, sys
print(sum(1 for e in json.load(sys.stdin)["events"] if e["kind"] == sys.argv[1]))' "$1" 2>/dev/null)
        [[ $v =~ ^[0-9]+$ ]] || v=0
        total=$((total + v))
    done
    echo "$total"
}
waitFor 10 dataPathReady "$(dispatcherNode)" || { fail "the dispatcher's data path is not ready"; exit 1; }

# The roles: the first dispatcher and one other node hand the role back and forth; the third
# holds the connections and only serves.
first=$(dispatcherNode)
holder=3
[[ $first == 3 ]] && holder=2
other=$((6 - first - holder))
note "node$first and node$other take turns dispatching; node$holder holds $kHeld connections to 10.77.0.200:$kPort"

sources=()
for i in 1 2 3 4 5 6; do
    "$lab" exec "node$holder" -- ip addr add "10.79.0.$i/32" dev lo
    sources+=("10.79.0.$i")
done
# The server sides wait in connhold's accept queue (no descriptor each): its backlog must hold them.
"$lab" exec "node$holder" -- sysctl -qw net.core.somaxconn=$((kHeld + 1024))
"$lab" exec "node$holder" -- "$CONNHOLD" --listen "10.77.0.200:$kPort" --source "$(IFS=,; echo "${sources[*]}")" \
    --count "$kHeld" --seconds 240 >"$tmp/hold.out" 2>"$tmp/hold.err" &
holdPid=$!
holdSettled() { grep -q '^ready' "$tmp/hold.out" || ! kill -0 "$holdPid" 2>/dev/null; }
waitFor 90 holdSettled
if grep -q '^ready' "$tmp/hold.out"; then
    pass "node$holder holds $(cut -d' ' -f2- "$tmp/hold.out") established connections to the VIP"
else
    fail "connhold is not ready: $(cat "$tmp/hold.err")"
    exit 1
fi
kill -0 "$holdPid" 2>/dev/null || { fail "connhold exited: $(cat "$tmp/hold.err")"; exit 1; }

# A handover (and the answers), timed. `handover NODE` answers once the successor forwards.
capable() { [[ $(nodeCtl "$1" --json status | jsonField '["dispatch"]["capable"]') == True ]]; }
handOver() {   # handOver FROM TO : prints the ms it took; fails when TO does not dispatch after it
    local from=$1 to=$2 t0 t1
    # The previous handover's stand-aside and the old dispatcher's withdrawal end shortly after it.
    waitFor 10 capable "$to" || { echo "node$to is not dispatch-capable" >"$tmp/handover.log"; return 1; }
    t0=$(date +%s%N)
    "$lab" exec "node$from" -- "$SASHACTL" --socket "/run/sasha-lab/node$from/run/sashad.sock" \
        handover "10.77.0.$to" >"$tmp/handover.log" 2>&1
    waitFor 15 isDispatcher "$to" || { echo "; dispatcher now: node$(dispatcherNode)" >>"$tmp/handover.log"; return 1; }
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}
dumpsOf() {   # the holder's reconstruction answers so far: "connections ms" per line
    nodeCtl "$holder" --json events --limit 2000 | python3 -c '
import json, re, sys
for e in json.load(sys.stdin)["events"]:
    if e["kind"] == "connections-reported":
        m = re.search(r"(\d+) connection\(s\).*dump ([0-9.]+) ms", e.get("detail", ""))
        if m:
            print(m.group(1), m.group(2))'
}

# The first dispatcher knew nothing of the held connections (they never crossed it); its
# successor rebuilds its map from the agents and holds them.
if ms=$(handOver "$first" "$other"); then
    pass "handover node$first -> node$other in $ms ms"
else
    fail "handover node$first -> node$other: $(cat "$tmp/handover.log")"
    exit 1
fi
total=$(nodeCtl "$other" --json connections --limit 1 | jsonField '["total"]')
if [[ ${total:-0} -ge $kWant ]]; then
    pass "node$other's flow table holds $total flows after rebuilding it from the agents"
else
    fail "node$other's flow table holds ${total:-?} flows (want >= $kWant)"
fi
dumps0=$(dumpsOf | wc -l)

purges0=$(sumOver counters '["counters"]["purges"]')
formed0=$(sumOver counters '["counters"]["ringsFormed"]')
timeouts0=$(eventsOf token-timeout)
"$lab" load --rate "$kRate" --duration "$kBusySeconds" --json >"$tmp/load.json" 2>/dev/null &
loadPid=$!
sleep 1

# The connection map, asked of whoever dispatches, in full, until the load ends (bounded in count).
(
    end=$((SECONDS + kBusySeconds - 2))
    for ((i = 0; i < 300 && SECONDS < end; i++)); do
        d=$(dispatcherNode)
        [[ -n $d ]] || { sleep 0.2; continue; }
        t0=$(date +%s%N)
        nodeCtl "$d" --json connections --limit "$kWant" >"$tmp/answer.json"
        t1=$(date +%s%N)
        # Counted with grep (an 18 MB answer takes python seconds to parse on this machine).
        entries=$(grep -o '"client":' "$tmp/answer.json" | wc -l)
        total=$(grep -o '"total": *[0-9]*' "$tmp/answer.json" | tr -dc '0-9')
        error=$(grep -o '"error": *"[^"]*"' "$tmp/answer.json" | head -n 1 | tr ' ' _)
        echo "$d $(((t1 - t0) / 1000000)) $entries ${total:-0} ${error:--}"
    done
) >"$tmp/answers" &
askPid=$!

# Meanwhile the role goes back and forth: every handover is a 100k dump on the holder, 100k
# reports merged and a 100k-flow table copied, sent and applied (bounded in count).
handovers=0 handoverMs=()
end=$((SECONDS + kBusySeconds - 4))
from=$other to=$first
while ((SECONDS < end && handovers < 30)); do
    if ms=$(handOver "$from" "$to"); then
        handovers=$((handovers + 1))
        handoverMs+=("$ms")
        t=$from from=$to to=$t
    else
        fail "handover node$from -> node$to under load: $(cat "$tmp/handover.log")"
        break
    fi
    sleep 0.5
done
wait "$askPid"
wait "$loadPid"

purges=$(( $(sumOver counters '["counters"]["purges"]') - purges0 ))
formed=$(( $(sumOver counters '["counters"]["ringsFormed"]') - formed0 ))
timeouts=$(( $(eventsOf token-timeout) - timeouts0 ))
dumpsOf | tail -n +"$((dumps0 + 1))" >"$tmp/dumps"

read -r asked full slowest median <<<"$(python3 -c '
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
full = [int(r[1]) for r in rows if int(r[2]) >= int(sys.argv[2])]
print(len(rows), len(full), max(full, default=0), int(statistics.median(full)) if full else 0)' "$tmp/answers" "$kWant")"
note "connection map asked $asked times in ${kBusySeconds} s under $kRate cps; $full full answers (>= $kWant entries), median $median ms, slowest $slowest ms"
note "answers (node ms entries total error): $(awk '{printf "%s/%s/%s ", $1, $2, $3}' "$tmp/answers")"
note "$handovers handovers under load, ms each: ${handoverMs[*]}"
note "node$holder's dumps (connections ms): $(awk '{printf "%s/%s ", $1, $2}' "$tmp/dumps")"
bigDumps=$(awk -v want="$kWant" '$1 >= want' "$tmp/dumps" | wc -l)
if [[ $full -ge $kMinAnswers ]]; then
    pass "$full answers of the connection map held $kWant entries (median $median ms, slowest $slowest ms)"
else
    fail "only $full of $asked answers held $kWant entries (want >= $kMinAnswers): $(grep -v ' - *$' "$tmp/answers" | head -n 3 | tr '\n' '|')"
fi
if [[ $bigDumps -ge $kMinDumps ]]; then
    pass "node$holder's agent dumped >= $kWant connections $bigDumps times ($(awk -v want="$kWant" '$1 >= want {print $2}' "$tmp/dumps" | sort -n | tail -n 1) ms the slowest)"
else
    fail "node$holder's agent dumped >= $kWant connections $bigDumps times (want >= $kMinDumps)"
fi
for k in 1 2 3; do # what held each node's ring thread (docs/dispatcher.md "The ring's thread")
    note "node$k ring thread: $(nodeCtl "$k" --json status | python3 -c '
import json, sys
s = json.load(sys.stdin)
t = s.get("transport", {})
late = s.get("counters", {}).get("lateTokens", 0)
if late:
    print("%d late token(s) back to this master (a slow round trip, not a purge); " % late, end="")
stalls = s.get("counters", {}).get("selfStalls", 0)
if stalls:
    print("%d token timeout(s) postponed: this node had not run itself (its process or the machine stalled); " % stalls, end="")
h = sorted(t.get("oobHandling", {}).items(), key=lambda kv: -kv[1]["maxMs"])[:3]
e = t.get("slowestEvent", {})
w = t.get("lateWorst", {})
if w.get("ms", 0) >= 50:
    print("worst late turn %.1f ms (%s; %.1f runnable waiting for a CPU, %.1f on a CPU; receive batches up to %.1f ms); " % (w["ms"], w.get("what", "?"), w.get("runQueueMs", -1), w.get("cpuMs", -1), t.get("receiveBatchMaxMs", -1)), end="")
print("datagrams read %.1f ms after arrival at most (%d batches >= 20 ms); late by %.1f ms at most (%d late deliveries); slowest messages: %s; slowest event %.1f ms, %.1f on the CPU (%s; %d >= 20 ms)" % (
      t.get("receiveWaitMaxMs", 0), t.get("receiveWaitLate", 0), t.get("deliveryLagMaxMs", 0), t.get("lateDeliveries", 0),
      ", ".join("%s %.1f ms (%d of %d >= 20 ms)" % (n, v["maxMs"], v["slow"], v["handled"]) for n, v in h),
      e.get("maxMs", 0), e.get("maxCpuMs", 0), e.get("what", "?"), e.get("slow", 0)))')"
done
if [[ $purges == 0 && $timeouts == 0 && $formed == 0 ]]; then
    pass "no purge, no token timeout, no ring re-formed on any node meanwhile"
else
    fail "meanwhile: $purges purges, $timeouts token timeouts, $formed rings formed"
    for k in 1 2 3; do
        note "node$k transport: $(nodeCtl "$k" --json status | python3 -c '
import json, sys
t = json.load(sys.stdin).get("transport", {})
print({k: t.get(k) for k in ("datagramsIn", "inboxFull", "kernelQueueDrops", "receiveBufferBytes")})')"
        note "node$k: $(nodeCtl "$k" --json events --limit 2000 | python3 -c '
import json, sys
print([(e["kind"], e.get("detail", "")[:80]) for e in json.load(sys.stdin)["events"] if e["kind"] in ("token-timeout", "purge-started")][-3:])')"
    done
fi
report=$(cat "$tmp/load.json")
errors=$(jsonField '["errors"]["total"]' <<<"$report")
note "httperf: $(jsonField '["connections"]' <<<"$report") connections at $(jsonField '["cps"]' <<<"$report") cps, $errors errors, slowest $(jsonField '["connTimeMaxMs"]' <<<"$report") ms"
if [[ $errors == 0 ]]; then pass "0 connections lost meanwhile"; else fail "$errors httperf errors meanwhile: $report"; fi
if kill -0 "$holdPid" 2>/dev/null; then pass "node$holder still holds its connections"; else fail "connhold exited early: $(cat "$tmp/hold.err")"; fi

echo
if [[ $failures -eq 0 ]]; then echo "lab_bigtables: all checks passed"; exit 0; fi
echo "lab_bigtables: $failures check(s) failed"
exit 1
