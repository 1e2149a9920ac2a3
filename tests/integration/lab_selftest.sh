#!/usr/bin/env bash
# Integration test of lab/sasha-lab: up, checks, faults, down, as root, on a 3-node lab behind
# the router (the default topology), then briefly the flat one (up --flat).
# Exit 0 = pass, 1 = fail, 77 = skipped (not root, tools missing, or a lab is already up, which
# this test will not tear down). Runs without sashad unless SASHAD is set in the environment.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${SASHA_LAB:-$here/../../lab/sasha-lab}
readonly lab
failures=0

# shellcheck source-path=SCRIPTDIR source=lab_test_lib.sh
source "$here/lab_test_lib.sh"
check() {   # check DESCRIPTION COMMAND... : passes when COMMAND succeeds
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
nodeAnswers() { [[ $(CURL_MAX_S=1 clientCurl "http://10.77.0.$1/node") == "node$1" ]]; }
nodeSilent() { ! CURL_MAX_S=1 clientCurl "http://10.77.0.$1/node" >/dev/null; }
healthCode() { CURL_MAX_S=1 clientCurl -o /dev/null -w '%{http_code}' "http://10.77.0.$1/health"; }

[[ $(id -u) -eq 0 ]] || skip "lab_selftest needs root (network namespaces); run: sudo $0"
for tool in ip bridge nginx ethtool curl httperf flock sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed"
done
[[ -x $lab ]] || { echo "FAIL - $lab is not executable"; exit 1; }
if [[ -e /run/sasha-lab/lab.env ]] || ip netns list | grep -qE '^sasha-(sw|client|router|node[0-9]+)( |$)'; then
    skip "a sasha lab is already up; this test will not tear it down (run: $lab down)"
fi

trap '"$lab" down >/dev/null 2>&1 || true' EXIT
rootLinksBefore=$(ip -o link | awk -F': ' '{print $2}' | sort)

upArgs=(--nodes 3 --large-mb 8)
[[ -n ${SASHAD:-} ]] || upArgs+=(--no-sashad)
check "up builds a 3-node lab" "$lab" up "${upArgs[@]}"
check "a second up is safe and says so" bash -c "'$lab' up ${upArgs[*]} | grep -q 'already up'"
check "up with another size is refused while up" bash -c "! '$lab' up --nodes 4"
check "up --flat is refused while the routed lab is up" bash -c "! '$lab' up --nodes 3 --flat"

for k in 1 2 3; do
    if [[ $(clientCurl "http://10.77.0.$k/node") == "node$k" ]]; then pass "client reaches node$k directly"; else fail "client reaches node$k directly"; fi
    if [[ $(healthCode "$k") == 200 ]]; then pass "node$k /health is 200"; else fail "node$k /health is 200"; fi
done
check "responses name their server in X-Sasha-Node" \
    bash -c "'$lab' exec client -- curl -sS -m 2 -D - -o /dev/null http://10.77.0.2/size/1k | grep -qi '^X-Sasha-Node: node2'"
want=$(awk '$2 == "size/100k" {print $1}' /run/sasha-lab/www/SHA256SUMS)
got=$(clientCurl http://10.77.0.3/size/100k | sha256sum | awk '{print $1}')
if [[ -n $want && $want == "$got" ]]; then pass "a download's sha256 matches SHA256SUMS"; else fail "a download's sha256 matches SHA256SUMS"; fi
noStaticNeighbours() {   # no namespace of the lab holds a permanent (static) neighbour entry
    local ns
    for ns in $(ip netns list | awk '/^sasha-/ {print $1}'); do
        [[ -z $(ip -n "$ns" neigh show nud permanent) ]] || return 1
    done
}
check "no static neighbour entry in any namespace of the lab" noStaticNeighbours
check "the client's default route is the router" bash -c "ip -n sasha-client route show default | grep -q 'via 10.78.0.1 dev eth0'"
check "the router forwards, with the kernel's default ARP settings" \
    bash -c "[[ \$(ip netns exec sasha-router sysctl -n net.ipv4.ip_forward net.ipv4.conf.eth0.arp_accept net.ipv4.conf.all.arp_accept net.ipv4.conf.eth0.arp_ignore | tr '\n' ' ') == '1 0 0 0 ' ]]"
check "node1 routes the client's subnet via the router" \
    bash -c "ip -n sasha-node1 route show 10.78.0.0/24 | grep -q 'via 10.77.0.254 dev eth0'"
check "sasha-lab status --json names the topology and the router" \
    bash -c "'$lab' status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d[\"topology\"] == \"router\" and d[\"router\"][\"address\"] == \"10.77.0.254\" and d[\"client\"][\"address\"] == \"10.78.0.100\" else 1)'"
check "client transmit checksum offload is off" \
    bash -c "ip netns exec sasha-client ethtool -k eth0 | grep -q '^tx-checksumming: off'"
check "the VIP is on node1's loopback" bash -c "ip -n sasha-node1 addr show dev lo | grep -q '10.77.0.200/32'"
check "node1 does not answer ARP for the VIP (arp_ignore=1)" \
    bash -c "[[ \$(ip netns exec sasha-node1 sysctl -n net.ipv4.conf.all.arp_ignore) == 1 ]]"
check "the lab subnets do not exist in the root namespace" bash -c "! ip -o addr | grep -qE ' 10\\.7[78]\\.0\\.'"

loadJson=$("$lab" load --target node1 --rate 200 --duration 2 --json --max-errors 0)
loadRc=$?
cps=$(sed -n 's/.*"okCps":\([0-9.]*\).*/\1/p' <<<"$loadJson")
if [[ $loadRc -eq 0 ]] && awk -v c="${cps:-0}" 'BEGIN { exit !(c >= 150) }'; then
    pass "load at 200 cps to node1: ${cps} ok cps, 0 errors"
else
    fail "load at 200 cps to node1 ($loadJson)"
fi

"$lab" fault node2 crash >/dev/null
check "a crashed node2 does not answer" nodeSilent 2
"$lab" restore node2 >/dev/null
check "node2 answers after restore" nodeAnswers 2

"$lab" fault node3 hang --for 2 >/dev/null
check "a hung node3 does not answer" nodeSilent 3
check "node3 heals itself after --for 2" waitFor 6 nodeAnswers 3

"$lab" fault node1 unplug >/dev/null
check "an unplugged node1 does not answer" nodeSilent 1
"$lab" restore node1 >/dev/null
check "node1 answers after restore" nodeAnswers 1

"$lab" fault node1 unhealthy >/dev/null
if [[ $(healthCode 1) == 500 ]]; then pass "an unhealthy node1 answers /health with 500"; else fail "an unhealthy node1 answers /health with 500"; fi
"$lab" restore node1 >/dev/null
if [[ $(healthCode 1) == 200 ]]; then pass "node1 /health is 200 again after restore"; else fail "node1 /health is 200 again after restore"; fi

mapfile -t masters < <(cat /run/sasha-lab/node*/nginx/nginx.pid 2>/dev/null)
"$lab" fault node2 hang >/dev/null   # down must also clean up stopped processes
check "down succeeds" "$lab" down
check "down twice is safe" "$lab" down
check "no lab namespace is left" bash -c "! ip netns list | grep -qE '^sasha-'"
check "the state directory is gone" test ! -e /run/sasha-lab
alive=0
for pid in "${masters[@]}"; do
    if [[ -e /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then alive=1; fi
done
if [[ ${#masters[@]} -eq 3 && $alive -eq 0 ]]; then pass "no nginx of the lab is left"; else fail "no nginx of the lab is left (${masters[*]})"; fi
# The flat topology, briefly: the client on the bridge with the static VIP -> VMAC entry.
check "up --flat builds a 1-node flat lab" "$lab" up --nodes 1 --flat --no-sashad --large-mb 8
check "flat: the client has the permanent ARP entry VIP -> VMAC and no router" \
    bash -c "ip -n sasha-client neigh show 10.77.0.200 | grep -q '02:5a:5a:00:00:01 PERMANENT' && ! ip netns list | grep -q '^sasha-router'"
check "flat: the client (10.77.0.100) reaches node1 on the bridge" nodeAnswers 1
check "flat: down succeeds" "$lab" down
rootLinksAfter=$(ip -o link | awk -F': ' '{print $2}' | sort)
if [[ $rootLinksBefore == "$rootLinksAfter" ]]; then pass "the root namespace has the same interfaces"
else fail "the root namespace has the same interfaces"; fi

trap - EXIT
if [[ $failures -gt 0 ]]; then echo "lab_selftest: $failures failed"; exit 1; fi
echo "lab_selftest: all passed"
