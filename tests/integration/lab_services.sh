#!/usr/bin/env bash
# Integration test of virtual services (docs/config.md "[[service]]"; issue 10 item 1) on the
# namespace lab behind its router: one cluster, two VIPs (10.77.0.200 and 10.77.0.201), a TCP
# service on port 80 of each. Checks: the router resolves both VIPs to the VMAC by ARP; both
# serve (curl from the client); a port no service lists is dropped and counted under no-service
# (sashactl status, the metrics endpoint), the services are counted apart (sashactl services);
# a SIGKILL of the dispatcher's sashad during four downloads from the second VIP keeps them intact,
# and the new dispatcher's reconstruction got them from the agents (before services, agents
# reported only the [dispatcher] ports of the first VIP). The second service gives node2 weight 0
# ([[service]] weights): it serves only the first VIP, and the second VIP's downloads are all on
# node3, where node2's continuity table for that service finds them when it takes over.
# Exit 0 = pass, 1 = fail, 77 = skipped (not root, a tool missing, or a lab already up, which this
# test will not tear down). Needs SASHAD and SASHACTL (CTest sets them).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${SASHA_LAB:-$here/../../lab/sasha-lab}
readonly lab
failures=0
readonly kNodes=3
readonly kVip=10.77.0.200
readonly kVip2=10.77.0.201
readonly kVmac=02:5a:5a:00:00:01
readonly kMetricsPort=9477

# shellcheck source-path=SCRIPTDIR source=lab_test_lib.sh
source "$here/lab_test_lib.sh"

[[ $(id -u) -eq 0 ]] || skip "lab_services needs root (network namespaces, packet capture); run: sudo $0"
for tool in ip nginx ethtool curl python3 sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
[[ -n ${SASHAD:-} && -x ${SASHAD:-} && -n ${SASHACTL:-} && -x ${SASHACTL:-} ]] \
    || { echo "FAIL - SASHAD and SASHACTL must name the built binaries"; exit 1; }
ownLab lab_services
pyJson() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" 2>/dev/null; }   # d = the JSON

# The services replace the lab's own [dispatcher] (a [dispatcher] table in the extra config
# does, docs/lab.md); @VIP@, @VIP2@ and @VMAC@ are the lab's.
cat >"$tmp/services.toml" <<'EOF'
[dispatcher]
interface = "eth0"
vmac = "@VMAC@"
announce_ms = 1000

[[service]]
vip = "@VIP@"
protocol = "tcp"
port = 80

[[service]]
vip = "@VIP2@"
protocol = "tcp"
port = 80
mode = "dr"
weights = { "10.77.0.2" = 0 }
EOF
if ! SASHAD_EXTRA_CONFIG="$tmp/services.toml" "$lab" up --nodes "$kNodes" --large-mb 100 >"$tmp/up.log" 2>&1; then
    cat "$tmp/up.log"
    echo "FAIL - sasha-lab up"
    exit 1
fi
if waitFor 15 ringOf 1 "$kNodes"; then pass "$kNodes nodes form a ring with a dispatcher"; else fail "ring of $kNodes did not form"; fi
dk=$(nodeIndex "$(dispatcherOf 1)")
dataPathReady() { [[ $(nodeCtl "$1" --json status | jsonField '["dataPath"]["reconstruction"]') == complete ]]; }
if waitFor 10 dataPathReady "$dk"; then pass "node$dk dispatches, reconstruction complete"; else fail "node$dk's data path is not ready"; fi

# 1. sashactl services lists both, from the config.
svcJson=$(nodeCtl "$dk" services --json)
count=$(pyJson 'len(d["services"])' <<<"$svcJson")
vips=$(pyJson '[s["vip"] + "/" + s["protocol"] + ":" + ",".join(s["ports"]) for s in d["services"]]' <<<"$svcJson")
if [[ $count == 2 && $vips == "['$kVip/tcp:80', '$kVip2/tcp:80']" ]]; then
    pass "sashactl services --json lists the two services: $vips"
else
    fail "sashactl services --json: $svcJson"
fi
if nodeCtl "$dk" services | grep -qE "^$kVip2 +tcp +80 +dr +maglev"; then pass "sashactl services prints the table"; else fail "sashactl services: $(nodeCtl "$dk" services)"; fi

# 2. Both VIPs serve through the router, each resolved by ARP to the VMAC.
served() {   # served VIP : 10 requests, all answered by some node
    local i n=0
    for i in $(seq 10); do [[ $(clientCurl "http://$1/node") == node* ]] && n=$((n + 1)); done
    echo "$n"
}
for vip in "$kVip" "$kVip2"; do
    n=$(served "$vip")
    if [[ $n == 10 ]]; then pass "$vip serves through the router (10 of 10 requests)"; else fail "$vip answered $n of 10 requests"; fi
    entry=$(ip -n sasha-router neigh show "$vip" dev eth0)
    if [[ $entry =~ lladdr\ $kVmac\  ]]; then pass "the router resolved $vip to the VMAC: $entry"; else fail "router entry for $vip: '$entry'"; fi
done
# The second service's weights: node2 (weight 0 there) answers the first VIP, never the second.
answeredBy() {   # answeredBy VIP : the node names that answered 20 requests, sorted, unique
    local i
    for i in $(seq 20); do clientCurl "http://$1/node"; echo; done | grep -o '^node[0-9]*' | sort -u | tr '\n' ' '
}
if [[ $dk == 1 ]]; then
    by1=$(answeredBy "$kVip")
    by2=$(answeredBy "$kVip2")
    if [[ $by2 == "node3 " && $by1 == *node2* ]]; then
        pass "node2 (weight 0 in the second service) answers $kVip ($by1) but not $kVip2 ($by2)"
    else
        fail "[[service]] weights: $kVip answered by '$by1', $kVip2 by '$by2' (node2 must answer only $kVip)"
    fi
    if nodeCtl "$dk" services | grep -qE "^$kVip2 .* 10\.77\.0\.2=0 "; then pass "sashactl services shows the second service's weights"; else fail "sashactl services: $(nodeCtl "$dk" services)"; fi
else
    note "node$dk dispatches (not node1): the [[service]] weights check is left out"
fi
newFlows() { nodeCtl "$dk" services --json | pyJson "[s.get('newFlows', -1) for s in d['services']]"; }
flows=$(newFlows)
if python3 -c 'import ast,sys; f=ast.literal_eval(sys.argv[1]); sys.exit(0 if len(f) == 2 and min(f) >= 10 else 1)' "$flows" 2>/dev/null; then
    pass "each service counted its own new flows: $flows"
else
    fail "per-service new flows: $flows (>= 10 each expected)"
fi

# 3. A port no service lists is dropped and counted, for either VIP.
noService() { nodeCtl "$dk" --json status | jsonField '["dataPath"]["fastPath"]["dropped"]["noService"]'; }
metricNoService() {
    "$lab" exec "node$dk" -- curl -sS -m 2 "http://127.0.0.1:$kMetricsPort/metrics" 2>/dev/null \
        | awk '$1 == "sasha_dispatcher_frames_dropped_total{reason=\"no-service\"}" {print $2}'
}
before=$(noService)
metricBefore=$(metricNoService)
for target in "$kVip:81" "$kVip2:8080"; do
    if CURL_MAX_S=1 clientCurl "http://$target/node" >/dev/null; then fail "http://$target answered; no service lists it"; else pass "http://$target (no service) gets no answer"; fi
done
after=$(noService)
if [[ -n $before && -n $after && $after -gt $before ]]; then pass "no-service drops counted: $before -> $after"; else fail "noService did not grow: '$before' -> '$after'"; fi
metricAfter=$(metricNoService)
if [[ -n $metricAfter && $metricAfter -gt ${metricBefore:-0} ]]; then
    pass "the metrics endpoint counts them: sasha_dispatcher_frames_dropped_total{reason=\"no-service\"} ${metricBefore:-0} -> $metricAfter"
else
    fail "no-service metric: '${metricBefore}' -> '${metricAfter}'"
fi
if nodeCtl "$dk" status | grep -qE "drops .*noService [1-9]"; then pass "sashactl status shows the no-service drops"; else fail "sashactl status drops: $(nodeCtl "$dk" status | grep drops)"; fi

# 4. Four rate-limited 100 MB downloads from the second VIP survive a SIGKILL of the dispatcher's
# sashad, and the new dispatcher's reconstruction has them from the agents.
want=$(awk '$2 == "big/100m" {print $1}' /run/sasha-lab/www/SHA256SUMS)
dl=$tmp/downloads
mkdir -p "$dl"
pids=()
for i in 1 2 3 4; do
    "$lab" exec client -- curl -sS -m 60 --limit-rate 20M -o "$dl/big$i" "http://$kVip2/big/100m" 2>"$dl/err$i" &
    pids+=($!)
done
sleep 1.5
"$lab" fault "node$dk" daemon-kill >/dev/null
note "SIGKILLed node$dk's sashad during 4 downloads from $kVip2"
survivor=$(( dk == 1 ? 2 : 1 ))
nd=""
newDispatcher() { nd=$(nodeIndex "$(dispatcherOf "$survivor")"); [[ -n $nd && $nd != "$dk" ]]; }
if waitFor 10 newDispatcher && waitFor 10 dataPathReady "$nd"; then pass "node$nd took over, reconstruction complete"; else fail "no new dispatcher with a complete reconstruction (got '$nd')"; fi
# While the downloads run: the new dispatcher's table has their four flows to the second VIP.
conns=$(nodeCtl "$nd" connections --json)
toVip2=$(pyJson "[c['service'] for c in d['connections']].count('$kVip2:80')" <<<"$conns")
summary=$(nodeCtl "$nd" --json status | jsonField '["dataPath"]["reconstructionSummary"]')
reported=${summary%% flow*}
if [[ ${toVip2:-0} -ge 4 ]]; then pass "node$nd forwards the $toVip2 download flows to $kVip2:80"; else fail "node$nd's table has ${toVip2:-0} flows to $kVip2:80: $conns"; fi
if [[ $reported =~ ^[0-9]+$ && $reported -ge 4 ]]; then
    pass "the agents reported the downloads to $kVip2 at reconstruction ($summary)"
else
    fail "reconstruction did not get the downloads to $kVip2 from the agents: '$summary'"
fi
okd=0
for i in 1 2 3 4; do
    wait "${pids[$((i - 1))]}"
    got=$(sha256sum "$dl/big$i" 2>/dev/null | awk '{print $1}')
    [[ $got == "$want" ]] && okd=$((okd + 1))
done
if [[ $okd == 4 ]]; then pass "4 of 4 downloads from $kVip2 survived the dispatcher kill, sha256 matches"; else fail "$okd of 4 downloads intact: $(cat "$dl"/err*)"; fi
for vip in "$kVip" "$kVip2"; do
    n=$(served "$vip")
    if [[ $n == 10 ]]; then pass "$vip serves after the failover (10 of 10)"; else fail "$vip answered $n of 10 after the failover"; fi
done

echo
if [[ $failures -eq 0 ]]; then echo "lab_services: all checks passed"; exit 0; fi
echo "lab_services: $failures check(s) failed"
exit 1
