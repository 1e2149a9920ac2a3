#!/usr/bin/env bash
# Integration test of the dispatcher's ARP answers for the VIP (issue 9 item 1; docs/dispatcher.md
# "ARP for the VIP") on the namespace lab behind its router (the default topology: a Linux router
# with the kernel's default ARP settings, no static neighbour entry anywhere). Checks: the router
# learns VIP -> VMAC from a real ARP reply (flushed, it stays empty through gratuitous
# announcements, then resolves on demand to a REACHABLE entry, which only a reply gives); only the dispatcher ever answers (every node's switch
# port is captured); a SIGKILL of the dispatcher's sashad under httperf through the router loses
# nothing, and afterwards the router's flushed entry is answered by the new dispatcher.
# Exit 0 = pass, 1 = fail, 77 = skipped (not root, a tool missing, or a lab already up, which this
# test will not tear down). Needs SASHAD and SASHACTL (CTest sets them).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${SASHA_LAB:-$here/../../lab/sasha-lab}
readonly lab
failures=0
readonly kNodes=3
readonly kVip=10.77.0.200
readonly kVmac=02:5a:5a:00:00:01
readonly kRate=400          # httperf conn/s through the router across the dispatcher kill
readonly kLoadSeconds=12
readonly kKillAfter=4       # seconds into the load

# shellcheck source-path=SCRIPTDIR source=lab_test_lib.sh
source "$here/lab_test_lib.sh"

[[ $(id -u) -eq 0 ]] || skip "lab_arp needs root (network namespaces, packet capture); run: sudo $0"
for tool in ip nginx ethtool curl httperf python3 tcpdump; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
[[ -n ${SASHAD:-} && -x ${SASHAD:-} && -n ${SASHACTL:-} && -x ${SASHACTL:-} ]] \
    || { echo "FAIL - SASHAD and SASHACTL must name the built binaries"; exit 1; }
ownLab lab_arp

if ! "$lab" up --nodes "$kNodes" --large-mb 1 >"$tmp/up.log" 2>&1; then
    cat "$tmp/up.log"
    echo "FAIL - sasha-lab up"
    exit 1
fi
if waitFor 15 ringOf 1 "$kNodes"; then pass "$kNodes nodes form a ring with a dispatcher"; else fail "ring of $kNodes did not form"; fi
dk=$(nodeIndex "$(dispatcherOf 1)")
dataPathReady() { [[ $(nodeCtl "$1" --json status | jsonField '["dataPath"]["reconstruction"]') == complete ]]; }
if waitFor 10 dataPathReady "$dk"; then pass "node$dk dispatches, reconstruction complete"; else fail "node$dk's data path is not ready"; fi

routerEntry() { ip -n sasha-router neigh show "$kVip" dev eth0; }
# The VMAC, in a state the kernel reaches only through ARP (never PERMANENT or NOARP, which a
# static entry would show).
routerResolved() { [[ $(routerEntry) =~ lladdr\ $kVmac\ (REACHABLE|STALE|DELAY|PROBE)\ *$ ]]; }
# Resolved by an answer to the router's own request: REACHABLE. A gratuitous announcement that
# arrives while the router's request is pending also fills its entry, but only as STALE (then
# DELAY, PROBE): without the dispatcher's answers the router reaches the VIP only when an
# announcement happens to come within its 3 s of asking, and its entry is never REACHABLE.
routerAnswered() { [[ $(routerEntry) =~ lladdr\ $kVmac\ REACHABLE\ *$ ]]; }
routerFlush() { ip -n sasha-router neigh flush "$kVip" dev eth0 >/dev/null 2>&1; ! routerResolved; }
arpAnswered() { nodeCtl "$1" --json status | jsonField '["dataPath"]["thread"]["arpAnswered"]'; }
noStaticNeighbours() {
    local ns
    for ns in $(ip netns list | awk '/^sasha-/ {print $1}'); do
        [[ -z $(ip -n "$ns" neigh show nud permanent) ]] || return 1
    done
}
if noStaticNeighbours; then pass "no static neighbour entry in any namespace of the lab"; else fail "a static neighbour entry exists"; fi

# Every ARP reply about the VIP that each node sends, captured where it enters the switch.
for ((k = 1; k <= kNodes; k++)); do
    "$lab" exec switch -- tcpdump -i "p-node$k" -Q in -nn -e -l 'arp and arp[6:2] = 2' \
        >"$tmp/arp-node$k.txt" 2>"$tmp/tcpdump-node$k.err" &
done
tcpdumpReady() { local k; for ((k = 1; k <= kNodes; k++)); do grep -q 'listening on' "$tmp/tcpdump-node$k.err" || return 1; done; }
waitFor 10 tcpdumpReady || fail "tcpdump did not start on the switch ports: $(cat "$tmp"/tcpdump-node*.err)"
repliesFrom() { grep -c "Reply $kVip is-at $kVmac" "$tmp/arp-node$1.txt"; }
# Replies about the VIP from every node but $1, summed.
repliesFromOthers() {
    local k n=0
    for ((k = 1; k <= kNodes; k++)); do [[ $k == "$1" ]] || n=$((n + $(repliesFrom "$k"))); done
    echo "$n"
}

# 1. Gratuitous announcements alone make no entry in a router with arp_accept=0; a request does.
if routerFlush; then pass "the router's entry for the VIP is flushed"; else fail "cannot flush the router's entry: $(routerEntry)"; fi
sleep 2.5   # more than two announcement intervals (announce_ms = 1000)
if ! routerResolved; then
    pass "announcements alone leave the router without an entry (arp_accept=0): '$(routerEntry)'"
else
    fail "the router learnt the VIP without asking: $(routerEntry)"
fi
answered0=$(arpAnswered "$dk")
if [[ -n $(clientCurl "http://$kVip/node") ]]; then pass "the client reaches the VIP through the router"; else fail "the VIP does not answer through the router"; fi
if waitFor 3 routerAnswered; then pass "the router resolved the VIP to the VMAC from an ARP reply: $(routerEntry)"; else fail "router entry: '$(routerEntry)' (REACHABLE expected)"; fi
answered1=$(arpAnswered "$dk")
if [[ ${answered1:-0} -gt ${answered0:-0} ]]; then pass "node$dk counted the request it answered ($answered0 -> $answered1)"
else fail "node$dk's arpAnswered did not grow ($answered0 -> $answered1)"; fi
if nodeCtl "$dk" status | grep -qE "^ *arp .*[1-9][0-9]* requests for the VIP answered"; then
    pass "sashactl status shows the ARP answers"
else
    fail "sashactl status has no ARP row: $(nodeCtl "$dk" status | grep -i arp)"
fi
# Twice more, so a standby that answered would have had its chances.
for _ in 1 2; do
    routerFlush
    clientCurl "http://$kVip/node" >/dev/null
    waitFor 3 routerAnswered || fail "the router did not resolve the VIP again: $(routerEntry)"
done
sleep 0.5   # tcpdump's line-buffered output
before=$(repliesFrom "$dk")
others=$(repliesFromOthers "$dk")
if [[ $before -ge 3 && $others == 0 ]]; then
    pass "only the dispatcher node$dk answered ($before replies from its port, $others from the standbys)"
else
    fail "replies about the VIP: node$dk $before, the standbys $others (expected >= 3 and 0)"
fi

# 2. The dispatcher's sashad is SIGKILLed under load through the router: nothing is lost.
"$lab" load --rate "$kRate" --duration "$kLoadSeconds" --json >"$tmp/load.json" 2>"$tmp/load.err" &
loadPid=$!
sleep "$kKillAfter"
"$lab" fault "node$dk" daemon-kill >/dev/null
wait "$loadPid"
errors=$(jsonField '["errors"]["total"]' <"$tmp/load.json")
note "httperf $kRate cps x $kLoadSeconds s through the router, node$dk's sashad killed at ${kKillAfter} s: $(jsonField '["connections"]' <"$tmp/load.json") connections, $errors errors, slowest $(jsonField '["connTimeMaxMs"]' <"$tmp/load.json") ms"
if [[ $errors == 0 ]]; then pass "the failover through the router lost nothing (0 httperf errors)"; else fail "$errors httperf errors across the failover: $(cat "$tmp/load.json" "$tmp/load.err")"; fi
survivor=$(( dk == 1 ? 2 : 1 ))
nd=$(nodeIndex "$(dispatcherOf "$survivor")")
if [[ -n $nd && $nd != "$dk" ]] && waitFor 10 dataPathReady "$nd"; then pass "node$nd took over"; else fail "no new dispatcher (got '$nd')"; fi

# 3. The router asks again after the failover and the new dispatcher answers.
sleep 0.5
fromNew0=$(repliesFrom "$nd")
fromOld0=$(repliesFrom "$dk")
answeredNew0=$(arpAnswered "$nd")
if routerFlush; then pass "the router's entry is flushed after the failover"; else fail "cannot flush: $(routerEntry)"; fi
if [[ -n $(clientCurl "http://$kVip/node") ]] && waitFor 3 routerAnswered; then
    pass "the router re-resolved the VIP after the failover: $(routerEntry)"
else
    fail "after the failover the router's entry is '$(routerEntry)'"
fi
sleep 0.5
fromNew=$(( $(repliesFrom "$nd") - fromNew0 ))
fromOld=$(( $(repliesFrom "$dk") - fromOld0 ))
answeredNew=$(arpAnswered "$nd")
if [[ $fromNew -ge 1 && $fromOld == 0 && ${answeredNew:-0} -gt ${answeredNew0:-0} ]]; then
    pass "the new dispatcher node$nd answered ($fromNew replies on its port, arpAnswered $answeredNew0 -> $answeredNew), the old one never"
else
    fail "after the failover: node$nd sent $fromNew replies (arpAnswered $answeredNew0 -> $answeredNew), the old node$dk $fromOld"
fi
for ((k = 1; k <= kNodes; k++)); do
    if [[ $k != "$dk" && $k != "$nd" && $(repliesFrom "$k") != 0 ]]; then fail "node$k, never the dispatcher, answered ARP for the VIP"; fi
done
if noStaticNeighbours; then pass "still no static neighbour entry anywhere"; else fail "a static neighbour entry appeared"; fi

echo
if [[ $failures -eq 0 ]]; then echo "lab_arp: all checks passed"; exit 0; fi
echo "lab_arp: $failures check(s) failed"
exit 1
