#!/usr/bin/env bash
# Integration test of mixed services on the namespace lab (issue 10 item 4; docs/lab.md
# "--mode mixed"): `sasha-lab up --mode mixed` gives one cluster an L4/2 service (TCP 80 on
# 10.77.0.200, on every server's loopback) and an L4/3 one (TCP 80 on 10.77.0.201, replies through
# the floating gateway), served by the same servers. Checks, each under httperf load on both VIPs:
#   A. a SIGKILL of the dispatcher's sashad: 0 errors on either VIP;
#   B. NAT server kill: a server's sashad SIGKILLed while its nginx serves on and holds an L4/3
#      download: 0 errors, every download intact (its flows keep going through the dispatcher);
#   C. NAT drain: `sashactl drain NODE --wait` of a server holding an L4/3 download returns when it
#      is done, 0 errors, every download intact, no new connection reaches the drained server.
# Exit 0 = pass, 1 = fail, 77 = skipped (not root, a tool missing, or a lab already up, which this
# test will not tear down). Needs SASHAD and SASHACTL (CTest sets them). SASHA_KEEP_LOGS=DIR keeps
# the nodes' sashad logs of a failed run there.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${SASHA_LAB:-$here/../../lab/sasha-lab}
readonly lab
failures=0
readonly kNodes=4
readonly kVip=10.77.0.200 kVip2=10.77.0.201 kGateway=10.77.0.253
readonly kRate=${SASHA_MIXED_RATE:-200}   # per VIP
readonly kDownloads=3 kDownloadMb=20 kDownloadRate=2M   # about 10 s each

# shellcheck source-path=SCRIPTDIR source=lab_test_lib.sh
source "$here/lab_test_lib.sh"

[[ $(id -u) -eq 0 ]] || skip "lab_mixed needs root (network namespaces, packet capture); run: sudo $0"
for tool in ip nginx ethtool curl httperf python3 sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
[[ -n ${SASHAD:-} && -x ${SASHAD:-} && -n ${SASHACTL:-} && -x ${SASHACTL:-} ]] \
    || { echo "FAIL - SASHAD and SASHACTL must name the built binaries"; exit 1; }
ownLab lab_mixed   # skips if a lab is up; takes ours down on exit (SASHA_KEEP_LOGS=DIR keeps logs)

if ! "$lab" up --nodes "$kNodes" --large-mb "$kDownloadMb" --mode mixed >"$tmp/up.log" 2>&1; then
    cat "$tmp/up.log"
    echo "FAIL - sasha-lab up --mode mixed"
    exit 1
fi
if waitFor 15 ringOf 1 "$kNodes"; then pass "$kNodes nodes form a ring with a dispatcher"; else fail "ring of $kNodes did not form"; fi
want=$(awk -v f="big/${kDownloadMb}m" '$2 == f {print $1}' /run/sasha-lab/www/SHA256SUMS)
[[ -n $want ]] || { fail "no checksum of big/${kDownloadMb}m in /run/sasha-lab/www/SHA256SUMS"; exit 1; }

dk=0
dataPathReady() { [[ $(nodeCtl "$dk" --json status | jsonField '["dataPath"]["reconstruction"]') == complete ]]; }
# currentDispatcher: sets dk to the dispatching node (asked of node $1) and waits for its data path.
currentDispatcher() {
    local d
    d=$(dispatcherOf "$1")
    dk=$(nodeIndex "$d")
    [[ $dk =~ ^[0-9]+$ ]] || { fail "no dispatcher known to node$1"; exit 1; }
    waitFor 10 dataPathReady || fail "node$dk's data path is not ready"
}
currentDispatcher 1
note "dispatcher: node$dk"

# 1. One server set for both modes: the L4/2 VIP on lo with the ARP sysctls, the L4/3 VIP nowhere,
# the client's subnet via the gateway, and a source rule sending the L4/2 VIP's replies to the router.
bad=0
for ((k = 1; k <= kNodes; k++)); do
    lo=$("$lab" exec "node$k" -- ip -4 -o addr show dev lo)
    route=$("$lab" exec "node$k" -- ip -4 route show 10.78.0.0/24)
    rule=$("$lab" exec "node$k" -- ip -4 rule show from "$kVip")
    drRoute=$("$lab" exec "node$k" -- ip -4 route get 10.78.0.100 from "$kVip" 2>&1)
    ignore=$("$lab" exec "node$k" -- sysctl -n net.ipv4.conf.all.arp_ignore)
    if [[ $lo != *"$kVip/32"* || $lo == *"$kVip2"* || $route != *"via $kGateway"* || -z $rule
          || $drRoute != *"via 10.77.0.254"* || $ignore != 1 ]]; then
        fail "node$k: lo='$lo' route='$route' rule='$rule' route from the VIP='$drRoute' arp_ignore=$ignore"
        bad=1
    fi
done
((bad == 0)) && pass "every node: $kVip on lo (arp_ignore 1), not $kVip2; 10.78.0.0/24 via the gateway, from $kVip via the router"

services=$(nodeCtl "$dk" --json services)
modes=$(python3 -c 'import json,sys; print(" ".join(s["vip"]+"/"+s["mode"] for s in json.load(sys.stdin)["services"]))' <<<"$services" 2>/dev/null)
if [[ $modes == "$kVip/dr $kVip2/nat" ]]; then pass "sashactl services: $modes"; else fail "sashactl services: '$modes'"; fi

# 2. Both VIPs answer, and the replies of each arrive with its own VIP as source (curl would not
# accept them otherwise): the L4/2 ones straight from the servers, the L4/3 ones translated.
for vip in "$kVip" "$kVip2"; do
    answers=()
    for ((i = 0; i < 20; i++)); do answers+=("$(CURL_MAX_S=3 clientCurl "http://$vip/node" || echo none)"); done
    seen=$(printf '%s\n' "${answers[@]}" | sort -u | tr '\n' ' ')
    if [[ $seen != *none* && $(wc -w <<<"$seen") -ge 2 ]]; then pass "$vip answers 20 of 20 from several servers ($seen)"; else fail "$vip: $seen"; fi
done
natReplies=$(nodeCtl "$dk" --json status | jsonField '["dataPath"]["fastPath"]["natReplies"]')
if [[ ${natReplies:-0} -gt 0 ]]; then pass "the dispatcher translated $natReplies L4/3 replies"; else fail "natReplies=$natReplies"; fi

# loadBoth SECONDS TAG: httperf at kRate cps on each VIP, in the background (pids in loaders).
loadBoth() {
    loaders=()
    "$lab" load --rate "$kRate" --duration "$1" --target vip --json >"$tmp/$2-vip.json" 2>"$tmp/$2-vip.err" &
    loaders+=($!)
    "$lab" load --rate "$kRate" --duration "$1" --target vip2 --json >"$tmp/$2-vip2.json" 2>"$tmp/$2-vip2.err" &
    loaders+=($!)
}
# checkLoads TAG WHAT: waits for loadBoth's httperfs, passes if both saw 0 errors.
checkLoads() {
    local target report errors cps
    wait "${loaders[@]}"
    for target in vip vip2; do
        report=$(cat "$tmp/$1-$target.json")
        errors=$(jsonField '["errors"]["total"]' <<<"$report")
        cps=$(jsonField '["cps"]' <<<"$report")
        if [[ $errors == 0 ]]; then
            pass "$2: $target ($([[ $target == vip ]] && echo "L4/2 $kVip" || echo "L4/3 $kVip2")) $cps cps, 0 errors"
        else
            fail "$2: $target errors=$errors report=$report $(cat "$tmp/$1-$target.err")"
        fi
    done
}
# startDownloads TAG: kDownloads rate-limited downloads from the L4/3 VIP (pids in downloads).
startDownloads() {
    local i
    downloads=()
    for ((i = 1; i <= kDownloads; i++)); do
        "$lab" exec client -- curl -sS -m 60 --limit-rate "$kDownloadRate" -o "$tmp/$1-big$i" \
            "http://$kVip2/big/${kDownloadMb}m" 2>"$tmp/$1-curl$i.err" &
        downloads+=($!)
    done
}
# checkDownloads TAG WHAT: waits for them, passes if every one is intact.
checkDownloads() {
    local i okd=0
    wait "${downloads[@]}"
    for ((i = 1; i <= kDownloads; i++)); do
        if [[ $(sha256sum "$tmp/$1-big$i" 2>/dev/null | awk '{print $1}') == "$want" ]]; then
            okd=$((okd + 1))
        else
            note "$1 download $i: $(cat "$tmp/$1-curl$i.err") $(stat -c %s "$tmp/$1-big$i" 2>/dev/null) bytes"
        fi
        rm -f "$tmp/$1-big$i"
    done
    if [[ $okd == "$kDownloads" ]]; then pass "$2: $okd of $kDownloads L4/3 downloads intact"; else fail "$2: $okd of $kDownloads L4/3 downloads intact"; fi
}
# downloadHolder: prints a server (not the dispatcher) holding an L4/3 download (an established
# connection from the client to its own address on port 80 that lives across 0.3 s), or nothing.
downloadHolder() {
    local k a b
    for ((k = 1; k <= kNodes; k++)); do
        [[ $k == "$dk" ]] && continue
        a=$("$lab" exec "node$k" -- ss -Htn state established "( sport = :80 )" src "10.77.0.$k" dst 10.78.0.100 | awk '{print $4}' | sort)
        sleep 0.3
        b=$("$lab" exec "node$k" -- ss -Htn state established "( sport = :80 )" src "10.77.0.$k" dst 10.78.0.100 | awk '{print $4}' | sort)
        if comm -12 <(echo "$a") <(echo "$b") | grep -q .; then echo "$k"; return 0; fi
    done
}
ringWhole() { ringOf 1 "$kNodes" && ringOf "$1" "$kNodes"; }

# A. The dispatcher's sashad SIGKILLed under load on both VIPs; it heals itself 3 s later.
loadBoth 12 a
sleep 5
"$lab" fault "node$dk" daemon-kill --for 3 >/dev/null
note "A: SIGKILLed the dispatcher node$dk's sashad under $kRate cps on each VIP"
checkLoads a "A: dispatcher kill"
old=$dk
waitFor 15 ringWhole "$old" || fail "A: the ring of $kNodes did not re-form after node$old's sashad came back"
currentDispatcher $((old == 1 ? 2 : 1))
if [[ $dk != "$old" ]]; then pass "A: node$dk took over the two services"; else fail "A: node$old dispatches again"; fi
services=$(nodeCtl "$dk" --json services)
perService=$(python3 -c 'import json,sys; print(" ".join("%s/%s:%d" % (s["vip"], s["mode"], s.get("newFlows", 0)) for s in json.load(sys.stdin)["services"]))' <<<"$services" 2>/dev/null)
note "A: the new dispatcher's services (new flows): $perService"

# B. NAT server kill: a server holding an L4/3 download loses its sashad (nginx serves on).
startDownloads b
sleep 1
loadBoth 10 b
victim=$(downloadHolder)
if [[ -n $victim ]]; then
    "$lab" fault "node$victim" daemon-kill >/dev/null
    note "B: SIGKILLed node$victim's sashad; it holds an L4/3 download, its nginx serves on"
else
    fail "B: no server holds an L4/3 download to kill the sashad of"
fi
checkLoads b "B: NAT server kill"
checkDownloads b "B: NAT server kill"
if [[ -n $victim ]]; then
    "$lab" restore "node$victim" >/dev/null || fail "B: restore node$victim"
    waitFor 15 ringWhole "$victim" || fail "B: the ring of $kNodes did not re-form after node$victim came back"
fi

# C. NAT drain: `drain --wait` of a server holding an L4/3 download, under load on both VIPs.
startDownloads c
sleep 1
loadBoth 10 c
victim=$(downloadHolder)
if [[ -n $victim ]]; then
    t0=$SECONDS
    nodeCtl "$dk" drain "10.77.0.$victim" --wait --timeout 40 >"$tmp/drain.log" 2>&1
    rc=$?
    waited=$((SECONDS - t0))
    note "C: drain node$victim --wait: exit $rc after ${waited} s: $(tr '\n' '|' <"$tmp/drain.log" | head -c 300)"
    if [[ $rc == 0 && $waited -ge 2 ]] && grep -q "drained: 0 active flows" "$tmp/drain.log"; then
        pass "C: sashactl drain --wait returned when node$victim's L4/3 flows were done (${waited} s)"
    else
        fail "C: sashactl drain --wait: exit $rc after ${waited} s"
    fi
    answers=()
    for ((i = 0; i < 20; i++)); do answers+=("$(CURL_MAX_S=3 clientCurl "http://$kVip2/node" || echo none)"); done
    seen=$(printf '%s\n' "${answers[@]}" | sort -u | tr '\n' ' ')
    if [[ $seen != *"node$victim"* && $seen != *none* ]]; then pass "C: drained node$victim gets no new L4/3 connection ($seen)"; else fail "C: while node$victim is drained: $seen"; fi
else
    fail "C: no server holds an L4/3 download to drain"
fi
checkLoads c "C: NAT drain"
checkDownloads c "C: NAT drain"
if [[ -n $victim ]]; then nodeCtl "$dk" undrain "10.77.0.$victim" >/dev/null || fail "C: sashactl undrain 10.77.0.$victim"; fi

services=$(nodeCtl "$dk" --json services)
perService=$(python3 -c 'import json,sys; print(" ".join("%s/%s:%d" % (s["vip"], s["mode"], s.get("newFlows", 0)) for s in json.load(sys.stdin)["services"]))' <<<"$services" 2>/dev/null)
if [[ $perService =~ ^$kVip/dr:([0-9]+)\ $kVip2/nat:([0-9]+)$ ]] && ((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > 0)); then
    pass "the dispatcher counts each service apart: $perService"
else
    fail "per-service new flows: '$perService'"
fi

echo
if [[ $failures -eq 0 ]]; then echo "lab_mixed: all checks passed"; exit 0; fi
echo "lab_mixed: $failures check(s) failed"
exit 1
