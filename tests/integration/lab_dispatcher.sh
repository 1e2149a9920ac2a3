#!/usr/bin/env bash
# Integration test of the L4/2 dispatcher, agents and state reconstruction on the namespace lab:
# a 5-node cluster (nginx + sashad per node), httperf/curl in the client, real faults.
# Exit 0 = pass, 1 = fail, 77 = skipped (not root, tools missing, or a lab already up, which this
# test will not tear down). Needs SASHAD and SASHACTL (CTest sets them). SASHA_KEEP_LOGS=DIR keeps
# the nodes' sashad logs of a failed run there.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${SASHA_LAB:-$here/../../lab/sasha-lab}
readonly lab
failures=0
# The paper lost 2,941 connections to one dispatcher fault at 500 cps. Our goal is 0; SYNs that
# reach the dead dispatcher in the ~200 ms before the new one announces itself are retransmitted by
# the client's TCP after 1 s and succeed within httperf's 2 s timeout, so any error is a loss we
# cause. The bound tolerates a handful (0.1% of the 10,000 connections) for a loaded CI machine.
readonly kMaxLostConnections=${SASHA_MAX_LOST:-10}

# shellcheck source-path=SCRIPTDIR source=lab_test_lib.sh
source "$here/lab_test_lib.sh"
# Servers that answered COUNT requests to the VIP, as "nodeA nodeB ..." sorted and unique.
serversSeen() {
    local count=$1 i out=()
    for ((i = 0; i < count; i++)); do
        out+=("$(CURL_MAX_S=3 clientCurl http://10.77.0.200/node || echo none)")
    done
    printf '%s\n' "${out[@]}" | sort -u | tr '\n' ' '
}

[[ $(id -u) -eq 0 ]] || skip "lab_dispatcher needs root (network namespaces, packet capture); run: sudo $0"
for tool in ip nginx ethtool curl httperf python3 sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
[[ -n ${SASHAD:-} && -x ${SASHAD:-} && -n ${SASHACTL:-} && -x ${SASHACTL:-} ]] \
    || { echo "FAIL - SASHAD and SASHACTL must name the built binaries"; exit 1; }
ownLab lab_dispatcher   # skips if a lab is up; takes ours down on exit (SASHA_KEEP_LOGS=DIR keeps logs)

if ! "$lab" up --nodes 5 --large-mb 100 >/tmp/lab_dispatcher.up.log 2>&1; then
    cat /tmp/lab_dispatcher.up.log
    echo "FAIL - sasha-lab up"
    exit 1
fi
if waitFor 15 ringOf 1 5; then pass "5 nodes form a ring with a dispatcher"; else fail "ring of 5 did not form"; fi
disp=$(dispatcherOf 1)
dk=$(nodeIndex "$disp")
note "dispatcher: node$dk ($disp)"
dataPathReady() {   # the dispatcher's data path runs and its reconstruction is complete
    [[ $(nodeCtl "$dk" --json status | jsonField '["dataPath"]["reconstruction"]') == complete ]]
}
if waitFor 10 dataPathReady; then pass "the dispatcher's data path is up, reconstruction complete"; else fail "the dispatcher's data path is not ready"; fi

# 1. Requests through the VIP reach every server; the dispatcher does not take new connections.
seen=$(serversSeen 60)
note "servers seen over 60 requests: $seen"
want=""
for k in 1 2 3 4 5; do [[ $k == "$dk" ]] || want+="node$k "; done
if [[ $seen == "$want" ]]; then pass "VIP requests reach every server but the dispatcher"; else fail "VIP requests reached '$seen', expected '$want'"; fi
status=$(nodeCtl "$dk" --json status)
s2c=$(jsonField '["dataPath"]["fastPath"]["dropped"]["serverToClient"]' <<<"$status")
fwd=$(jsonField '["dataPath"]["fastPath"]["forwarded"]' <<<"$status")
note "dispatcher forwarded $fwd frames; server -> client frames it saw: $s2c"
if [[ ${fwd:-0} -gt 0 && ${s2c:-1} == 0 ]]; then pass "replies bypass the dispatcher"; else fail "replies bypass the dispatcher (forwarded=$fwd serverToClient=$s2c)"; fi
if [[ $(nodeCtl "$dk" --json connections | jsonField '["connections"].__len__()') -ge 1 ]] 2>/dev/null; then
    pass "sashactl connections lists the dispatcher's flows"
else
    fail "sashactl connections lists the dispatcher's flows"
fi

# 2. A crashed server leaves the pool within the detection time and returns after restore.
victim=$(( dk == 5 ? 4 : 5 ))
"$lab" fault "node$victim" crash >/dev/null
sleep 1
seen=$(serversSeen 30)
if [[ $seen != *"node$victim"* && $seen != *none* ]]; then pass "crashed node$victim gets no new connections ($seen)"; else fail "after crashing node$victim: $seen"; fi
"$lab" restore "node$victim" >/dev/null
waitFor 10 ringOf 1 5
seen=$(serversSeen 40)
if [[ $seen == *"node$victim"* ]]; then pass "restored node$victim serves again"; else fail "restored node$victim not used: $seen"; fi

# 3. An unhealthy nginx (500 on /health) leaves the pool and returns when healthy.
sick=$(( dk == 3 ? 2 : 3 ))
"$lab" fault "node$sick" unhealthy >/dev/null
sleep 3
seen=$(serversSeen 30)
if [[ $seen != *"node$sick"* ]]; then pass "unhealthy node$sick is taken out ($seen)"; else fail "unhealthy node$sick still used: $seen"; fi
"$lab" restore "node$sick" >/dev/null
sleep 3
seen=$(serversSeen 40)
if [[ $seen == *"node$sick"* ]]; then pass "node$sick is back when healthy"; else fail "node$sick not back: $seen"; fi

# 4. Four rate-limited 100 MB downloads survive a SIGKILL of the dispatcher mid-transfer.
want=$(awk '$2 == "big/100m" {print $1}' /run/sasha-lab/www/SHA256SUMS)
dl=/run/sasha-lab/downloads
mkdir -p "$dl"
pids=()
for i in 1 2 3 4; do
    "$lab" exec client -- curl -sS -m 60 --limit-rate 20M -o "$dl/big$i" http://10.77.0.200/big/100m &
    pids+=($!)
done
sleep 1.5
disp=$(dispatcherOf 1)
dk=$(nodeIndex "$disp")
"$lab" fault "node$dk" crash >/dev/null
note "SIGKILLed the dispatcher node$dk during 4 downloads"
okd=0
for i in 1 2 3 4; do
    wait "${pids[$((i - 1))]}"
    got=$(sha256sum "$dl/big$i" 2>/dev/null | awk '{print $1}')
    [[ $got == "$want" ]] && okd=$((okd + 1))
done
if [[ $okd == 4 ]]; then pass "4 of 4 downloads survived the dispatcher kill, sha256 matches"; else fail "$okd of 4 downloads intact after the dispatcher kill"; fi
rm -rf "$dl"
newDisp=$(dispatcherOf "$(( dk == 1 ? 2 : 1 ))")
"$lab" restore "node$dk" >/dev/null
waitFor 15 ringOf 1 5 || fail "ring of 5 after restoring node$dk"
sleep 1
# The restarted node rejoins as a server: it does not take the role from the working dispatcher.
if [[ $(dispatcherOf 1) == "$newDisp" && $(dispatcherOf "$dk") == "$newDisp" ]]; then
    pass "restarted node$dk rejoins as a server; $newDisp stays dispatcher"
else
    fail "after restarting node$dk the dispatcher is $(dispatcherOf 1), expected $newDisp"
fi

# 5. httperf at 500 cps for 20 s, dispatcher SIGKILLed at 5 s.
disp=$(dispatcherOf 1)
dk=$(nodeIndex "$disp")
( sleep 5; "$lab" fault "node$dk" crash >/dev/null ) &
killer=$!
# 12 s in, the new dispatcher's /metrics (docs/metrics.md), scraped under the load.
metrics=$(mktemp /tmp/lab_dispatcher.metrics.XXXXXX)
( sleep 12
  k=$(nodeIndex "$(dispatcherOf "$(( dk == 1 ? 2 : 1 ))")")
  echo "node$k" >"$metrics.node"
  "$lab" exec "node$k" -- curl -sS -m 3 http://127.0.0.1:9477/metrics >"$metrics" 2>&1 ) &
scraper=$!
report=$("$lab" load --rate 500 --duration 20 --json 2>/dev/null)
wait "$killer" "$scraper"
errors=$(jsonField '["errors"]["total"]' <<<"$report")
cps=$(jsonField '["cps"]' <<<"$report")
note "httperf 500 cps x 20 s with the dispatcher killed at 5 s: $cps cps, $errors errors (paper: 2,941 lost)"
if [[ -n $errors && $errors -le $kMaxLostConnections ]]; then pass "dispatcher kill under load lost $errors connections (bound $kMaxLostConnections)"; else fail "dispatcher kill under load: errors=$errors report=$report"; fi
metricsNode=$(cat "$metrics.node" 2>/dev/null)
if ! command -v promtool >/dev/null 2>&1; then
    fail "promtool is not installed (Debian package prometheus; packaging/install-deps.sh full)"
elif check=$(promtool check metrics <"$metrics" 2>&1); then
    pass "promtool check metrics passes on the new dispatcher's page ($metricsNode, $(grep -c '^# TYPE' "$metrics") families)"
else
    fail "promtool check metrics on $metricsNode: $check"
fi
# Every server but the dispatcher took connections from it, and its failover was observed.
summary=$(python3 - "$metrics" <<'EOF'
import re, sys
s = {}
for line in open(sys.argv[1]):
    m = re.match(r'^(\S+) (\S+)$', line.strip())
    if m and not line.startswith('#'):
        s[m.group(1)] = float(m.group(2))
conns = {k[k.index('"') + 1:-2]: v for k, v in s.items() if k.startswith('sasha_server_connections_total{')}
busy = sorted(a for a, v in conns.items() if v > 0)
print(len(busy), int(s.get('sasha_dispatcher_frames_forwarded_total', 0)),
      int(s.get('sasha_failover_duration_seconds_count', 0)), int(s.get('sasha_dispatcher_running', 0)),
      round(s.get('sasha_failover_duration_seconds_sum', 0) * 1000, 1),
      ' '.join(f'{a}={int(conns[a])}' for a in sorted(conns)))
EOF
)
read -r busyServers forwarded failovers running failoverMs perServer <<<"$summary"
note "$metricsNode /metrics: forwarded-connection counts per server: $perServer; frames forwarded $forwarded; failovers observed $failovers ($failoverMs ms from detection to first forwarded frame)"
if [[ $running == 1 && $busyServers -ge 3 && $forwarded -gt 0 ]]; then
    pass "the new dispatcher's page shows >0 forwarded connections for each of the $busyServers live servers"
else
    fail "the new dispatcher's page: running=$running, servers with connections=$busyServers (3 expected), frames forwarded=$forwarded"
fi
if [[ $failovers -ge 1 ]]; then pass "the new dispatcher observed its failover (sasha_failover_duration_seconds_count $failovers)"; else fail "no failover observed on $metricsNode"; fi
rm -f "$metrics" "$metrics.node"
"$lab" restore "node$dk" >/dev/null
waitFor 15 ringOf 1 5 || fail "ring of 5 after restoring node$dk"

# 6. The old dispatcher unplugged, then plugged back in: exactly one dispatcher afterwards.
disp=$(dispatcherOf 1)
dk=$(nodeIndex "$disp")
other=$(( dk == 1 ? 2 : 1 ))
"$lab" fault "node$dk" unplug >/dev/null
if waitFor 5 bash -c "[[ \$('$lab' exec node$other -- '$SASHACTL' --socket /run/sasha-lab/node$other/run/sashad.sock --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"dispatcher\"])') != '$disp' ]]"; then
    pass "a new dispatcher is elected while node$dk is unplugged"
else
    fail "no new dispatcher while node$dk is unplugged"
fi
"$lab" restore "node$dk" >/dev/null
waitFor 15 ringOf 1 5 || fail "ring of 5 after plugging node$dk back"
sleep 1
dispatchers=""
for k in 1 2 3 4 5; do
    role=$(nodeCtl "$k" --json status | jsonField '["role"]')
    [[ $role == dispatcher || $role == standalone ]] && dispatchers+="node$k "
done
if [[ $(wc -w <<<"$dispatchers") == 1 ]]; then pass "exactly one dispatcher after the unplugged node returns ($dispatchers)"; else fail "dispatchers after replug: '$dispatchers'"; fi

# 7. Four of five nodes fail one after another (the paper's worst case): one node keeps serving.
disp=$(dispatcherOf 1)
dk=$(nodeIndex "$disp")
for k in 1 2 3 4 5; do
    [[ $k == "$dk" ]] && continue
    "$lab" fault "node$k" crash >/dev/null
    sleep 1
done
if waitFor 5 ringOf "$dk" 1; then pass "the last node forms a ring alone"; else fail "the last node is not alone in its ring"; fi
role=$(nodeCtl "$dk" --json status | jsonField '["role"]')
seen=$(serversSeen 10)
if [[ $role == standalone && $seen == "node$dk " ]]; then pass "the last node (node$dk) is standalone and serves every request"; else fail "last node role=$role served: $seen"; fi

echo
if [[ $failures -eq 0 ]]; then echo "lab_dispatcher: all checks passed"; exit 0; fi
echo "lab_dispatcher: $failures check(s) failed"
exit 1
