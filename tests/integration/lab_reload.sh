#!/usr/bin/env bash
# Reload under load (issue 9, item 6): on a 3-node namespace lab with httperf at kRate cps through
# the VIP, the operator edits the config files to give node3 weight 4 (node2 keeps 1), and reloads
# with SIGHUP on the dispatcher (node1) and `sashactl reload` on node2. Asserts:
#   - sashactl reload prints the change ("weight of 10.77.0.3: 1 -> 4"), both nodes count 1 reload;
#   - the dispatcher's table shows weight 4 for node3 within 2 s of the SIGHUP;
#   - node3's share of the new flows between node2 and node3 moves from about 1/2 before the
#     reload to about 4/5 after it (above kMinShareAfter; below kMaxShareBefore before);
#   - an address change is refused by `sashactl reload` and leaves the node running in its ring;
#   - 0 httperf errors across all of it, and no ring purge.
# Two loads: the first spans the "before" window and the reloads, the second (started after the
# reloads) spans the "after" window, so a slow step cannot leave a window without load; each
# window must count at least kMinFlows new flows.
# Needs root; exit 77 = skipped. Removes the lab it made, also when it fails.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${SASHA_LAB:-$here/../../lab/sasha-lab}
readonly lab
readonly kRate=${SASHA_RELOAD_RATE:-300}  # connections/s from httperf
readonly kMaxShareBefore=0.65             # weights 1:1 -> about 0.5
readonly kMinShareAfter=0.70              # weights 1:4 -> about 0.8
readonly kMinFlows=$((kRate * 3))         # new flows a window must count (each spans >= 4 s of load)
failures=0

source "$here/lab_test_lib.sh"

[[ $(id -u) -eq 0 ]] || skip "lab_reload needs root (network namespaces, packet capture); run: sudo $0"
for tool in ip nginx ethtool curl httperf python3; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
[[ -n ${SASHAD:-} && -x ${SASHAD:-} && -n ${SASHACTL:-} && -x ${SASHACTL:-} ]] \
    || { echo "FAIL - SASHAD and SASHACTL must name the built binaries"; exit 1; }
ownLab lab_reload

# The lab's [dispatcher] table with explicit weights, so that the test edits one line.
cat >"$tmp/extra.toml" <<'EOF'
[dispatcher]
interface = "eth0"
vip = "@VIP@"
vmac = "@VMAC@"
ports = [80]
scheduler = "maglev"
announce_ms = 1000
weights = { "10.77.0.2" = 1, "10.77.0.3" = 1 }
EOF
if ! SASHAD_EXTRA_CONFIG="$tmp/extra.toml" "$lab" up --nodes 3 >"$tmp/up.log" 2>&1; then
    cat "$tmp/up.log"
    echo "FAIL - sasha-lab up"
    exit 1
fi
if waitFor 15 ringOf 1 3; then pass "3 nodes form a ring with a dispatcher"; else fail "ring of 3 did not form"; exit 1; fi
[[ $(dispatcherOf 1) == 10.77.0.1 ]] || { fail "node1 is not the dispatcher ($(dispatcherOf 1))"; exit 1; }
dataPathReady() { [[ $(nodeCtl 1 --json status | jsonField '["dataPath"]["reconstruction"]') == complete ]]; }
waitFor 10 dataPathReady || fail "the dispatcher's data path is not ready"

# newFlows of node2 and node3 in the dispatcher's table, and node3's weight there: "N2 N3 W3".
flowsAndWeight() {
    nodeCtl 1 --json status | python3 -c '
import json, sys
rows = {s["addr"]: s for s in json.load(sys.stdin).get("dataPath", {}).get("servers", [])}
two, three = rows.get("10.77.0.2", {}), rows.get("10.77.0.3", {})
print(two.get("newFlows", 0), three.get("newFlows", 0), three.get("weight", 0))'
}
share() {   # share N2a N3a N2b N3b: node3's share of the new flows between two readings
    python3 -c 'import sys; a,b,c,d = map(int, sys.argv[1:]); n = (c-a)+(d-b); print("%.3f" % ((d-b)/n if n else 0))' "$@"
}
weight3Is() { [[ $(flowsAndWeight | awk '{print $3}') == "$1" ]]; }
purgesOf() { nodeCtl "$1" --json status | jsonField '["counters"]["purges"]'; }
reloadsOf() { nodeCtl "$1" --json status | jsonField '["reload"]["'"$2"'"]'; }

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

purges1=$(purgesOf 1)
load1At=$EPOCHREALTIME
"$lab" load --rate "$kRate" --duration 16 --json >"$tmp/load.json" 2>/dev/null &
loadPid=$!
sleep 2
read -r a2 a3 w <<<"$(flowsAndWeight)"
aAt=$(since "$load1At")
sleep 4
read -r b2 b3 w <<<"$(flowsAndWeight)"
bAt=$(since "$load1At")
before=$(share "$a2" "$a3" "$b2" "$b3")
beforeFlows=$((b2 - a2 + b3 - a3))
note "before the reload: weight of node3 $w, node3's share of $beforeFlows new flows $before (read $aAt s and $bAt s into the first 16 s load)"

# Edit every node's file (any node may dispatch later); reload node1 by SIGHUP, node2 by sashactl.
for k in 1 2 3; do
    sed -i 's/"10.77.0.3" = 1 }/"10.77.0.3" = 4 }/' "/run/sasha-lab/node$k/sashad.toml"
done
kill -HUP "$(cat /run/sasha-lab/node1/sashad.pid)"
out=$(nodeCtl 2 reload)
if [[ $out == "weight of 10.77.0.3: 1 -> 4" ]]; then pass "sashactl reload on node2: $out"; else fail "sashactl reload on node2 printed: $out"; fi
if waitFor 2 weight3Is 4; then pass "the dispatcher's table has weight 4 for node3 after SIGHUP"; else fail "node3's weight in the dispatcher's table: $(flowsAndWeight)"; fi
[[ $(reloadsOf 1 ok) == 1 ]] && pass "node1 counts 1 reload" || fail "node1 reload status: $(nodeCtl 1 --json status | jsonField '["reload"]')"
[[ $(reloadsOf 2 ok) == 1 ]] && pass "node2 counts 1 reload" || fail "node2 reload status: $(nodeCtl 2 --json status | jsonField '["reload"]')"

reloadedAt=$(since "$load1At")
load2At=$EPOCHREALTIME
"$lab" load --rate "$kRate" --duration 14 --json >"$tmp/load2.json" 2>/dev/null &
load2Pid=$!
sleep 2
read -r c2 c3 w <<<"$(flowsAndWeight)"
cAt=$(since "$load2At")
sleep 4
read -r d2 d3 w <<<"$(flowsAndWeight)"
dAt=$(since "$load2At")
after=$(share "$c2" "$c3" "$d2" "$d3")
afterFlows=$((d2 - c2 + d3 - c3))
note "after the reload: weight of node3 $w, node3's share of $afterFlows new flows $after (reloads done $reloadedAt s into the first load; read $cAt s and $dAt s into the second, 14 s)"
if ((beforeFlows < kMinFlows || afterFlows < kMinFlows)); then
    fail "too few new flows to compare shares: $beforeFlows before, $afterFlows after (want >= $kMinFlows each at $kRate cps)"
elif python3 -c "import sys; sys.exit(0 if $before < $kMaxShareBefore and $after > $kMinShareAfter else 1)"; then
    pass "node3's share of new flows: $before before (weights 1:1), $after after (1:4)"
else
    fail "node3's share of new flows: $before before (want < $kMaxShareBefore), $after after (want > $kMinShareAfter)"
fi

# An address change (to one the host has, so that only the diff refuses it) is refused; node3 runs on in the ring with its config as it was.
sed -i 's/^address = "10.77.0.3"/address = "127.0.0.1"/' /run/sasha-lab/node3/sashad.toml
err=$("$lab" exec node3 -- "$SASHACTL" --socket /run/sasha-lab/node3/run/sashad.sock reload 2>&1)
rc=$?
if ((rc == 1)) && [[ $err == *'[node] address cannot change without a restart: "10.77.0.3" -> "127.0.0.1"'* ]]; then
    pass "an address change is refused: $err"
else
    fail "address change: exit $rc: $err"
fi
sed -i 's/^address = "127.0.0.1"/address = "10.77.0.3"/' /run/sasha-lab/node3/sashad.toml

wait "$loadPid"
wait "$load2Pid"
loadsClean=1
for f in load load2; do
    report=$(cat "$tmp/$f.json")
    e=$(jsonField '["errors"]["total"]' <<<"$report")
    note "$f: $(jsonField '["connections"]' <<<"$report") connections at $(jsonField '["cps"]' <<<"$report") cps, $e errors"
    if [[ $e != 0 ]]; then
        loadsClean=0
        fail "$f: httperf errors '$e': $report"
    fi
done
((loadsClean)) && pass "0 httperf errors across the reloads (both loads)"
if ringOf 3 3; then pass "node3 still in the ring of 3"; else fail "node3 is not in a ring of 3"; fi
# On a purge, say when it came relative to the reloads (a purge the reload caused would follow
# its config-reloaded event at once).
ringTimeline() {
    nodeCtl 1 --json events --limit 2000 | python3 -c '
import json, sys
ev = [e for e in json.load(sys.stdin)["events"]
      if e["kind"] in ("purge-started", "token-timeout", "config-reloaded", "config-reload-refused")]
t0 = next((e["monoUs"] for e in ev if e["kind"] == "config-reloaded"), ev[0]["monoUs"] if ev else 0)
print("; ".join("%+.3f s %s %s %s" % ((e["monoUs"] - t0) / 1e6, e["kind"], e["node"], e["detail"][:60]) for e in ev))'
}
if [[ $(purgesOf 1) == "$purges1" ]]; then
    pass "no ring purge"
else
    fail "purges on node1: $purges1 -> $(purgesOf 1); relative to node1's reload: $(ringTimeline)"
fi

((failures == 0)) || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
