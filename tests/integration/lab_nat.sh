#!/usr/bin/env bash
# Integration test of L4/3 (NAT, RFC 2391) on the namespace lab (docs/dispatcher.md "NAT mode"):
# `sasha-lab up --mode nat` (no VIP on the servers, their route to the client's subnet via the
# floating gateway), traffic through the dispatcher in both directions, and a SIGKILL of the
# dispatcher's sashad under httperf load with four 100 MB downloads in flight: no connection lost,
# every download intact (the paper's NAT dispatcher lost every connection with its state).
# Exit 0 = pass, 1 = fail, 77 = skipped (not root, tools missing, or a lab already up, which this
# test will not tear down). Needs SASHAD and SASHACTL (CTest sets them). SASHA_KEEP_LOGS=DIR keeps
# the nodes' sashad logs of a failed run there.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${SASHA_LAB:-$here/../../lab/sasha-lab}
readonly lab
failures=0
readonly kVip=10.77.0.200 kGateway=10.77.0.253 kVmac=02:5a:5a:00:00:01
readonly kRate=${SASHA_NAT_RATE:-500} kLoadSeconds=16 kKillAfter=5

# shellcheck source-path=SCRIPTDIR source=lab_test_lib.sh
source "$here/lab_test_lib.sh"

[[ $(id -u) -eq 0 ]] || skip "lab_nat needs root (network namespaces, packet capture); run: sudo $0"
for tool in ip nginx ethtool curl httperf python3 sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
[[ -n ${SASHAD:-} && -x ${SASHAD:-} && -n ${SASHACTL:-} && -x ${SASHACTL:-} ]] \
    || { echo "FAIL - SASHAD and SASHACTL must name the built binaries"; exit 1; }
ownLab lab_nat   # skips if a lab is up; takes ours down on exit (SASHA_KEEP_LOGS=DIR keeps logs)

if ! "$lab" up --nodes 5 --large-mb 100 --mode nat >"$tmp/up.log" 2>&1; then
    cat "$tmp/up.log"
    echo "FAIL - sasha-lab up --mode nat"
    exit 1
fi
if waitFor 15 ringOf 1 5; then pass "5 nodes form a ring with a dispatcher"; else fail "ring of 5 did not form"; fi
disp=$(dispatcherOf 1)
dk=$(nodeIndex "$disp")
note "dispatcher: node$dk ($disp)"
dataPathReady() { [[ $(nodeCtl "$dk" --json status | jsonField '["dataPath"]["reconstruction"]') == complete ]]; }
if waitFor 10 dataPathReady; then pass "the dispatcher's data path is up, reconstruction complete"; else fail "the dispatcher's data path is not ready"; fi

# 1. The servers are NAT servers: no VIP, no ARP sysctls, the client's subnet via the gateway.
for k in 1 2 3 4 5; do
    lo=$("$lab" exec "node$k" -- ip -4 -o addr show dev lo)
    route=$("$lab" exec "node$k" -- ip -4 route show 10.78.0.0/24)
    ignore=$("$lab" exec "node$k" -- sysctl -n net.ipv4.conf.all.arp_ignore)
    if [[ $lo == *"$kVip"* || $route != *"via $kGateway"* || $ignore != 0 ]]; then
        fail "node$k: lo='$lo' route='$route' arp_ignore=$ignore"
    fi
done
((failures == 0)) && pass "no node holds the VIP; each routes 10.78.0.0/24 via the gateway $kGateway (arp_ignore 0)"

# 2. Requests through the VIP reach every server but the dispatcher, their replies come back
# through the dispatcher with the VIP as source (curl would not accept them otherwise).
answers=()
for ((i = 0; i < 60; i++)); do answers+=("$(CURL_MAX_S=3 clientCurl "http://$kVip/node" || echo none)"); done
seen=$(printf '%s\n' "${answers[@]}" | sort -u | tr '\n' ' ')
want=""
for k in 1 2 3 4 5; do [[ $k == "$dk" ]] || want+="node$k "; done
if [[ $seen == "$want" ]]; then pass "VIP requests reach every server but the dispatcher ($seen)"; else fail "VIP requests reached '$seen', expected '$want'"; fi
status=$(nodeCtl "$dk" --json status)
natReplies=$(jsonField '["dataPath"]["fastPath"]["natReplies"]' <<<"$status")
gateway=$(jsonField '["dataPath"]["gateway"]' <<<"$status")
mode=$(jsonField '["services"][0]["mode"]' <<<"$status")
note "dispatcher: service mode $mode, gateway $gateway, $natReplies replies translated"
if [[ $mode == nat && $gateway == "$kGateway" && ${natReplies:-0} -gt 0 ]]; then
    pass "replies pass the dispatcher, which gives them the VIP as source ($natReplies)"
else
    fail "NAT status: mode=$mode gateway=$gateway natReplies=$natReplies"
fi
other=$(( dk == 1 ? 2 : 1 ))   # a server, whatever the election
gwMac=$("$lab" exec "node$other" -- ip neigh show "$kGateway" dev eth0 | awk '{print $3}')
if [[ $gwMac == "$kVmac" ]]; then pass "node$other resolved the gateway by ARP to the VMAC"; else fail "node$other: gateway resolves to '$gwMac'"; fi

# 3. Four rate-limited 100 MB downloads, httperf at kRate cps, and the dispatcher's sashad
# SIGKILLed mid-transfer: the new dispatcher translates the replies of connections it never saw
# open (the reply direction needs no state of the dead one) and the agents' reports rebuild the
# client direction.
want=$(awk '$2 == "big/100m" {print $1}' /run/sasha-lab/www/SHA256SUMS)
dl=$tmp/downloads
mkdir -p "$dl"
# Every data frame of a download crosses the NAT dispatcher (in L4/2 only the client's ACKs do):
# 4 downloads at 3 MB/s each; ten at 4-10 MB/s starved this 2-core machine's ring into token
# timeouts before the kill.
n=4
pids=()
for ((i = 1; i <= n; i++)); do
    "$lab" exec client -- curl -sS -m 60 --limit-rate 3M -o "$dl/big$i" "http://$kVip/big/100m" 2>"$tmp/curl$i.err" &
    pids+=($!)
done
sleep 1
"$lab" load --rate "$kRate" --duration "$kLoadSeconds" --json >"$tmp/load.json" 2>"$tmp/load.err" &
loader=$!
# Which servers hold a download (an established client connection on port 80 that lives on).
holders=""
for k in 1 2 3 4 5; do
    [[ $k == "$dk" ]] && continue
    a=$("$lab" exec "node$k" -- ss -Htn state established '( sport = :80 )' dst 10.78.0.100 | awk '{print $4}' | sort)
    sleep 0.3
    b=$("$lab" exec "node$k" -- ss -Htn state established '( sport = :80 )' dst 10.78.0.100 | awk '{print $4}' | sort)
    if comm -12 <(echo "$a") <(echo "$b") | grep -q .; then holders+="node$k "; fi
done
sleep "$kKillAfter"
"$lab" fault "node$dk" daemon-kill >/dev/null
note "SIGKILLed sashad of the dispatcher node$dk under $kRate cps with $n downloads in flight (served by: $holders)"
okd=0
for ((i = 1; i <= n; i++)); do
    wait "${pids[$((i - 1))]}"
    got=$(sha256sum "$dl/big$i" 2>/dev/null | awk '{print $1}')
    if [[ $got == "$want" ]]; then okd=$((okd + 1)); else note "download $i: $(cat "$tmp/curl$i.err") $(stat -c %s "$dl/big$i" 2>/dev/null) bytes"; fi
done
# The downloads fell silent while no dispatcher forwarded; an agent that took that silence for
# vanished clients left them out of its report (docs/agent.md "The dead-client filter"). What the
# filters said, for the record (a download left out fails the check above).
for k in 1 2 3 4 5; do
    [[ $k == "$dk" ]] && continue
    nodeCtl "$k" --json events --limit 2000 2>/dev/null | python3 -c '
import json, sys
for e in json.load(sys.stdin).get("events", []):
    if e.get("kind") in ("dead-clients", "connections-reported"):
        print(e.get("kind"), e.get("detail", ""))' 2>/dev/null | while read -r line; do note "node$k: $line"; done
done
if [[ $okd == "$n" ]]; then pass "$n of $n downloads survived the dispatcher kill, sha256 matches"; else fail "$okd of $n downloads intact after the dispatcher kill"; fi
wait "$loader"
report=$(cat "$tmp/load.json")
errors=$(jsonField '["errors"]["total"]' <<<"$report")
cps=$(jsonField '["cps"]' <<<"$report")
note "httperf $kRate cps x $kLoadSeconds s, dispatcher killed about $((kKillAfter + 2)) s in: $cps cps, $errors errors"
if [[ $errors == 0 ]]; then pass "the dispatcher kill under load lost 0 connections"; else fail "dispatcher kill under load: errors=$errors report=$report $(cat "$tmp/load.err")"; fi

newDisp=$(dispatcherOf "$other")
nk=$(nodeIndex "$newDisp")
status=$(nodeCtl "$nk" --json status)
summary=$(python3 -c '
import json, sys
d = json.load(sys.stdin)["dataPath"]
f = d["fastPath"]
print(f["natReplies"], f["dropped"]["noClientMac"], f["reconstructedInserted"], f["hashedFlows"], f["forwarded"], f["deliveredLocal"])
' <<<"$status" 2>/dev/null)
read -r replies noMac rebuilt hashed fwd local <<<"$summary"
note "new dispatcher node$nk: $replies replies translated, $noMac before the client's next hop was known, $rebuilt flows from agents' reports, $hashed adopted by the hash, $fwd forwarded, $local delivered locally"
if [[ ${replies:-0} -gt 0 && $nk != "$dk" ]]; then pass "the new dispatcher node$nk translates the replies"; else fail "new dispatcher node$nk: '$summary'"; fi
# The ring elects the least-loaded successor, so it seldom holds a download itself; when it does,
# that download's replies can only have gone through its own capture (its route to the client is
# via the gateway, i.e. itself), and it must be intact too.
if [[ $holders == *"node$nk "* ]]; then
    if [[ $okd == "$n" && ${local:-0} -gt 0 ]]; then
        pass "the new dispatcher node$nk served its own download to the end, through its own capture ($local client frames delivered locally)"
    else
        fail "the new dispatcher node$nk and its own download: $okd of $n intact, $local frames delivered locally"
    fi
else
    note "the new dispatcher node$nk held no download of its own (its own replies are not exercised in this run)"
fi
if [[ ${rebuilt:-0} -gt 0 ]]; then pass "agents reported their NAT connections (to their own address) and the new dispatcher rebuilt $rebuilt flows"; else fail "no flow rebuilt from the agents' reports: '$summary'"; fi

echo
if [[ $failures -eq 0 ]]; then echo "lab_nat: all checks passed"; exit 0; fi
echo "lab_nat: $failures check(s) failed"
exit 1
