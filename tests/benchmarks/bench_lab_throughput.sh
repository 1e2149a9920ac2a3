#!/usr/bin/env bash
# bench_lab_throughput: connections/s through the dispatcher, its packets and CPU per connection,
# against HAProxy, on the namespace lab (issue 3, "Benchmarks"), in L4/2 and in L4/3 (NAT, issue 10).
#
#   sudo tests/benchmarks/bench_lab_throughput.sh [--modes "dr nat"] [--rates "1000 2000 3000"]
#       [--seconds S (10)] [--uri /size/1k] [--router] [--inject] [--inline-switch]
#
# With the defaults it takes about 4 minutes (per mode: the lab up and down, ~20 s, then per rate
# three runs of S seconds plus ~2 s); --rates "1000 2000" took 165 s on the 2-core VM.
#
# For each mode of --modes (default "dr nat": L4/2, then L4/3) a 5-node lab (sashad + nginx per
# node) is brought up in that mode (sasha-lab up --mode M), measured and taken down. dr runs on the
# flat topology (the client on the servers' bridge, as when the earlier figures in
# docs/benchmarks.md were measured; --router: behind the router, as nat). nat needs the router: the
# servers route the client's subnet via the dispatcher, which gives their replies the VIP as source.
#
# The lab is brought up with --switch-threads: the switch forwards what a node sends on its own
# kernel threads, so neither the dispatcher nor HAProxy is charged for the bridge and for the
# receiving host's TCP stack, as on a real network (--inline-switch: the lab's default, where a
# veth transmit runs all of that inside the sender's system call).
#
# For each mode and offered rate R:
#  (a) VIP:    one httperf at R cps from the client to the VIP (the dispatcher forwards to the 4
#              other nodes);
#      direct: the baseline, the same offered load straight to those 4 servers (4 httperf
#              instances at R/4 each, in parallel). Ratio = successful replies/s through the VIP /
#              replies/s direct (goal >= 0.95). In nat the direct and HAProxy runs start in the
#              router's namespace (10.77.0.254, on the servers' subnet): from the client, a server's
#              port 80 answers through the dispatcher with the VIP as source, and HAProxy's replies
#              would be routed via the gateway into the dispatcher's own capture, which passes on
#              only the service's replies (docs/lab.md, docs/dispatcher.md "NAT mode").
#  (b) CPU per connection of the dispatcher's sashad during the VIP run (/proc/PID/stat, user +
#      system; also net of its idle CPU measured during the direct run, and its packet thread's
#      own cpuMs) against HAProxy 'mode tcp' (nbthread 1) run in the dispatcher's namespace on
#      10.77.0.K:8080, balancing to the same 4 servers, under the same httperf load (goal <= 1/3).
#      Packets per connection, both directions: the frames the dispatcher's packet thread
#      captured and injected (status dataPath.thread), split into client frames forwarded and
#      replies translated (dataPath.fastPath forwarded, natReplies).
#  (c) --inject: also run bench_inject ($BENCH_INJECT or build/tests/benchmarks/bench_inject)
#      for the zero-drop packets/s of capture + inject (its own namespaces, after the lab is down).
#
# Prints per mode one row per rate (the columns of the L4/2 rows before NAT), then one table with
# a row per (mode, rate) and, when both modes ran, NAT's cost as a multiple of L4/2's.
# Needs root. Refuses to run when a lab is already up; always takes its own lab down on exit.
# Binaries: $SASHAD / $SASHACTL, else build/daemon/... in the repository.
set -euo pipefail

# shellcheck disable=SC2034 # used by the library
kBenchName=bench_lab_throughput
# shellcheck source-path=SCRIPTDIR source=lab_bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab_bench_lib.sh"

modes="dr nat"
rates="1000 2000 3000"
seconds=10
uri=/size/1k
inject=0
switch=threads
drTopology=flat
readonly kNodes=5
readonly kHaproxyPort=8080
usage() {
    echo "usage: $0 [--modes \"dr nat\"] [--rates \"R1 R2 ...\"] [--seconds S] [--uri PATH] [--router] [--inject] [--inline-switch]" >&2
    exit 2
}
while [[ $# -gt 0 ]]; do
    case $1 in
        --modes) modes=${2:?--modes needs a list: dr, nat or both}; shift 2 ;;
        --rates) rates=${2:?--rates needs a list}; shift 2 ;;
        --seconds) seconds=${2:?--seconds needs seconds}; shift 2 ;;
        --uri) uri=${2:?--uri needs a path}; shift 2 ;;
        --router) drTopology=router; shift ;;
        --inject) inject=1; shift ;;
        --inline-switch) switch=inline; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) usage ;;
    esac
done
seenModes=" "
for m in $modes; do
    [[ $m == dr || $m == nat ]] || { echo "--modes: each mode must be dr (L4/2) or nat (L4/3), got '$m'" >&2; exit 2; }
    [[ $seenModes != *" $m "* ]] || { echo "--modes: '$m' is named twice" >&2; exit 2; }
    seenModes+="$m "
done
[[ $seenModes != " " ]] || { echo "--modes: name at least one mode (dr, nat)" >&2; exit 2; }
for r in $rates; do
    [[ $r =~ ^[0-9]+$ && $r -ge 4 && $r -le 50000 ]] || { echo "--rates: each rate must be 4..50000, got '$r'" >&2; exit 2; }
done
[[ -n ${rates// /} ]] || { echo "--rates: name at least one rate" >&2; exit 2; }
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 2 && $seconds -le 120 ]] || { echo "--seconds must be 2..120" >&2; exit 2; }
[[ $uri == /* ]] || { echo "--uri must start with /" >&2; exit 2; }

benchPreflight haproxy
injectBin=""
if [[ $inject -eq 1 ]]; then
    injectBin=$(firstExecutable "${BENCH_INJECT:-}" "$kRepo/build/tests/benchmarks/bench_inject" \
        "$PWD/build/tests/benchmarks/bench_inject" "$PWD/tests/benchmarks/bench_inject") \
        || die "--inject: no bench_inject binary (set BENCH_INJECT)"
fi
work=$(mktemp -d /tmp/bench_lab_throughput.XXXXXX)
haproxyPid=""
# stopMode: HAProxy and the lab of the mode being measured.
stopMode() {
    if [[ -n $haproxyPid ]]; then kill "$haproxyPid" 2>/dev/null || true; fi
    haproxyPid=""
    labDown
}
cleanup() {
    stopMode
    rm -rf "$work"
}

# httperfRun OUTFILE NAMESPACE SERVER PORT RATE: one httperf in NAMESPACE, the lab's load shape.
httperfRun() {
    local out=$1 ns=$2 server=$3 port=$4 r=$5
    (ulimit -n 65536 2>/dev/null || true
     timeout $((seconds + 30)) ip netns exec "$ns" httperf --hog --timeout 2 --server "$server" \
         --port "$port" --uri "$uri" --rate "$r" --num-conns $((r * seconds)) --num-calls 1) >"$out" 2>&1 || true
    grep -q '^Total: connections' "$out" || die "httperf to $server:$port produced no report: $(tail -n 3 "$out")"
}
# Fields of httperf reports: sums over the files given (2xx replies, errors, connections), the
# longest test duration, and the mean connection time in ms (SYN sent to close, weighted by
# connections: each client frame through the dispatcher adds its latency to it).
httperfSum() {
    awk '
        /^Total: connections/ { n = $3; conns += n; for (i = 1; i <= NF; i++) if ($i == "test-duration") { if ($(i + 1) > dur) dur = $(i + 1) } }
        /^Connection time \[ms\]: min/ { for (i = 1; i <= NF; i++) if ($i == "avg") ms += $(i + 1) * n }
        /^Reply status:/ { for (i = 1; i <= NF; i++) if ($i ~ /^2xx=/) { sub(/2xx=/, "", $i); ok += $i } }
        /^Errors: total/ { errs += $3 }
        END { printf "%d %d %d %.3f %.3f\n", conns, ok, errs, dur, conns ? ms / conns : 0 }' "$@"
}
ticksOf() { procTicks "$1" 2>/dev/null || echo 0; }
# sampleDispatcher: one status read of the dispatcher into the array `sample`: its packet thread's
# cpuMs, then frames: fastPath framesIn, thread captured, thread injected, fastPath forwarded,
# fastPath natReplies, thread oversized.
sampleDispatcher() {
    local s
    s=$(nodeStatus "$dk" | jsonGet '" ".join(str(int(x)) for x in (d["dataPath"]["thread"]["cpuMs"],
        d["dataPath"]["fastPath"]["framesIn"], d["dataPath"]["thread"]["captured"], d["dataPath"]["thread"]["injected"],
        d["dataPath"]["fastPath"]["forwarded"], d["dataPath"]["fastPath"]["natReplies"], d["dataPath"]["thread"]["oversized"]))')
    [[ -n $s ]] || die "no data-path counters in the status of the dispatcher node$dk"
    read -r -a sample <<<"$s"
}
reconstructionComplete() { [[ $(nodeStatus "$dk" | jsonGet 'd["dataPath"]["reconstruction"]') == complete ]]; }

printHeader() {
    printf '%-7s| %7s %7s %6s %5s | %8s %6s | %6s %6s | %8s %8s %9s %5s %6s | %10s %7s | %6s\n' \
        offered vip direct ratio goal vip_errs d_errs v_ms d_ms disp_us net_us thread_us pkts thr_ns haproxy_us h_ok cpu_x
    printf '%-7s| %7s %7s %6s %5s | %8s %6s | %6s %6s | %8s %8s %9s %5s %6s | %10s %7s | %6s\n' \
        cps 'ok/s' 'ok/s' '' '' '' '' '/conn' '/conn' '/conn' '/conn' '/conn' /conn /pkt '/conn' '/s' ''
}

# measureRate MODE R: the three runs at R cps; prints the mode's row for R and appends the final
# table's fields to $work/final.
measureRate() {
    local mode=$1 r=$2 t0 t1 i0 i1 h0 h1 share k p
    local -a pids s0 s1
    local vConns vOk vErr vDur vMs dOk dErr dDur dMs hConns hOk hErr hDur
    # (a) through the VIP, from the client, with the dispatcher's CPU and frames.
    t0=$(ticksOf "$dpid")
    sampleDispatcher
    s0=("${sample[@]}")
    httperfRun "$work/$mode.vip$r" sasha-client "$kVip" 80 "$r"
    t1=$(ticksOf "$dpid")
    sampleDispatcher
    s1=("${sample[@]}")
    read -r vConns vOk vErr vDur vMs < <(httperfSum "$work/$mode.vip$r")
    if ((s1[6] > s0[6])); then
        say "mode $mode, $r cps: the packet thread saw $((s1[6] - s0[6])) oversized frames (coalesced on the way)"
    fi

    # Direct: the same load spread over the same servers; the dispatcher idles meanwhile.
    share=$((r / ${#servers[@]}))
    i0=$(ticksOf "$dpid")
    pids=()
    for k in "${servers[@]}"; do
        httperfRun "$work/$mode.direct$r.$k" "$driverNs" "10.77.0.$k" 80 "$share" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    i1=$(ticksOf "$dpid")
    read -r _ dOk dErr dDur dMs < <(httperfSum "$work/$mode.direct$r".*)

    # (b) HAProxy at the same offered load.
    h0=$(ticksOf "$haproxyPid")
    httperfRun "$work/$mode.haproxy$r" "$driverNs" "10.77.0.$dk" "$kHaproxyPort" "$r"
    h1=$(ticksOf "$haproxyPid")
    read -r hConns hOk hErr hDur _ < <(httperfSum "$work/$mode.haproxy$r")

    python3 - "$r" "$vOk" "$vDur" "$vErr" "$dOk" "$dDur" "$dErr" "$((t1 - t0))" "$((i1 - i0))" \
        "$((s1[0] - s0[0]))" "$((h1 - h0))" "$hOk" "$hDur" "$hErr" "$kTicksPerSecond" "$vConns" "$hConns" \
        "$((s1[1] - s0[1]))" "$vMs" "$dMs" "$mode" "$((s1[2] - s0[2]))" "$((s1[3] - s0[3]))" \
        "$((s1[4] - s0[4]))" "$((s1[5] - s0[5]))" "$work/final" >>"$work/summary.$mode" <<'EOF'
import sys
a = sys.argv[1:]
r = int(a[0]); vOk, vDur, vErr = int(a[1]), float(a[2]), int(a[3]); dOk, dDur, dErr = int(a[4]), float(a[5]), int(a[6])
disp, idle, thr, hap = int(a[7]), int(a[8]), int(a[9]), int(a[10]); hOk, hDur, hErr = int(a[11]), float(a[12]), int(a[13])
tck = int(a[14]); vConns, hConns = int(a[15]), int(a[16]); frames = int(a[17]); vMs, dMs = float(a[18]), float(a[19])
mode = a[20]; captured, injected, forwarded, replies = int(a[21]), int(a[22]), int(a[23]), int(a[24]); final = a[25]
vRate = vOk / vDur if vDur else 0; dRate = dOk / dDur if dDur else 0; hRate = hOk / hDur if hDur else 0
ratio = vRate / dRate if dRate else 0
us = lambda ticks, n: ticks * 1e6 / tck / n if n else float("nan")
dUs = us(disp, vConns); netUs = us(max(0, disp - idle), vConns); thrUs = thr * 1000 / vConns if vConns else float("nan")
hUs = us(hap, hConns)
x = dUs / hUs if hUs else float("nan")
ppc = frames / vConns if vConns else 0
thrPkt = thr * 1e6 / frames if frames else float("nan")
print("%-7d| %7.0f %7.0f %6.3f %5s | %8d %6d | %6.2f %6.2f | %8.1f %8.1f %9.1f %5.1f %6.0f | %10.1f %7.0f | %6s" % (
    r, vRate, dRate, ratio, "ok" if ratio >= 0.95 else "MISS", vErr, dErr, vMs, dMs, dUs, netUs, thrUs, ppc, thrPkt, hUs,
    hRate, ("%.2fx" % x) if x == x else "-"))
per = lambda n: n / vConns if vConns else float("nan")
with open(final, "a") as f:
    print(mode, r, "%.0f" % vRate, "%.0f" % dRate, "%.3f" % ratio, "%.2f" % per(captured), "%.2f" % per(injected),
          "%.2f" % per(forwarded), "%.2f" % per(replies), "%.1f" % dUs, "%.1f" % netUs, "%.1f" % thrUs,
          "%.1f" % hUs, ("%.2fx" % x) if x == x else "-", file=f)
EOF
    tail -n 1 "$work/summary.$mode"
}

# runMode MODE: brings the lab up in MODE, measures every rate, takes the lab down.
runMode() {
    local mode=$1 topology r k
    local -a upArgs=(--mode "$mode")
    if [[ $switch == threads ]]; then upArgs+=(--switch-threads); fi
    topology=$drTopology
    if [[ $mode == nat ]]; then topology=router; fi
    if [[ $topology == router ]]; then upArgs+=(--router); fi
    labUp "$kNodes" "${upArgs[@]}"
    trap cleanup EXIT
    waitFor 20 ringReady 1 "$kNodes" || die "$mode: no ring of $kNodes with a running dispatcher within 20 s"
    dk=$(dispatcherIndex 1) || die "$mode: no dispatcher"
    waitFor 10 reconstructionComplete || die "$mode: the dispatcher node$dk did not complete its reconstruction within 10 s"
    dpid=$(tr -dc '0-9' <"/run/sasha-lab/node$dk/sashad.pid")
    [[ $(cat "/proc/$dpid/comm" 2>/dev/null) == sashad ]] || die "node$dk's sashad (pid '$dpid') is not running"
    servers=()
    for ((k = 1; k <= kNodes; k++)); do [[ $k == "$dk" ]] || servers+=("$k"); done
    # Who drives the direct and HAProxy runs: the client, except in nat (see the header).
    driverNs=sasha-client
    if [[ $mode == nat ]]; then
        driverNs=sasha-router
        # As in the client (lab_bench_lib.sh labUp): no TIME_WAIT sockets for httperf --hog.
        ip netns exec sasha-router sysctl -qw net.ipv4.tcp_max_tw_buckets=0 \
            || die "cannot set tcp_max_tw_buckets in the router namespace"
    fi
    say "mode $mode: lab up ($topology topology), dispatcher node$dk (sashad pid $dpid), servers ${servers[*]/#/node}; direct and HAProxy runs from $driverNs"

    # HAProxy in the dispatcher's namespace, on its own address, to the same servers.
    mkdir -p "$work/haproxy.$mode"
    {
        echo "global"
        echo "    nbthread 1"
        echo "    maxconn 8000"
        echo "defaults"
        echo "    mode tcp"
        echo "    timeout connect 2s"
        echo "    timeout client 10s"
        echo "    timeout server 10s"
        echo "frontend vip"
        echo "    bind 10.77.0.$dk:$kHaproxyPort"
        echo "    default_backend servers"
        echo "backend servers"
        echo "    balance roundrobin"
        for k in "${servers[@]}"; do echo "    server node$k 10.77.0.$k:80"; done
    } >"$work/haproxy.$mode/haproxy.cfg"
    haproxy -c -q -f "$work/haproxy.$mode/haproxy.cfg" || die "haproxy rejects its config ($work/haproxy.$mode/haproxy.cfg)"
    ip netns exec "sasha-node$dk" haproxy -db -f "$work/haproxy.$mode/haproxy.cfg" >"$work/haproxy.$mode/log" 2>&1 &
    haproxyPid=$!
    waitFor 5 ip netns exec "$driverNs" curl -s -o /dev/null -m 1 "http://10.77.0.$dk:$kHaproxyPort/node" \
        || die "haproxy does not answer on 10.77.0.$dk:$kHaproxyPort: $(cat "$work/haproxy.$mode/log")"

    echo
    echo "== mode $mode ($([[ $mode == dr ]] && echo "L4/2" || echo "L4/3, NAT")), $topology topology =="
    printHeader
    : >"$work/summary.$mode"
    for r in $rates; do measureRate "$mode" "$r"; done
    echo "bench_lab_throughput: mode $mode, $kNodes nodes (dispatcher node$dk, ${#servers[@]} servers), $seconds s per run, URI $uri, switch $switch, $topology topology, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
    stopMode
}

: >"$work/final"
trap cleanup EXIT
for mode in $modes; do runMode "$mode"; done

echo
echo "  (a) vip/direct ok replies/s, baseline = the same offered load straight to the servers in the same run; goal ratio >= 0.95"
echo "  v_ms / d_ms: httperf's mean connection time (connect to close, ms) via the VIP / direct: the"
echo "      difference is the latency the dispatcher adds to a connection's client frames ([dispatcher] batch_us)"
echo "  (b) dispatcher CPU per connection (sashad process, user+system from /proc; net = minus its idle CPU over"
echo "      the direct run; thread = its packet thread's cpuMs; pkts = frames its fast path handled per"
echo "      connection: the client's, in nat the servers' replies too; thr_ns = its packet thread's CPU per"
echo "      frame) vs HAProxy mode tcp at the same load; cpu_x = dispatcher / HAProxy per connection, goal <= 0.33x."
echo "      /proc ticks are 1/$kTicksPerSecond s."
echo "  nat: the VIP run goes through the router (one forwarding hop more than flat, on the same cores); the"
echo "      direct and HAProxy runs start in the router's namespace, on the servers' subnet."
echo "  The lab's one client (httperf) shares the 2 cores with nginx x5, sashad x5 and HAProxy: cps tops out"
echo "  on the client and the servers, which is why CPU per connection is the dispatcher's figure of merit."
echo
echo "Per mode and rate: the dispatcher's frames per connection (captured / injected by its packet thread;"
echo "fwd = client frames forwarded, reply = servers' replies translated) and CPU per connection, beside HAProxy's:"
python3 - "$work/final" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
fmt = "%-4s %6s | %7s %7s %6s | %8s %8s %6s %6s | %8s %8s %9s | %10s %6s"
print(fmt % ("mode", "cps", "vip", "direct", "ratio", "captured", "injected", "fwd", "reply", "disp_us", "net_us", "thread_us", "haproxy_us", "cpu_x"))
print(fmt % ("", "", "ok/s", "ok/s", "", "/conn", "/conn", "/conn", "/conn", "/conn", "/conn", "/conn", "/conn", ""))
for row in rows:
    print(fmt % tuple(row))
byKey = {(row[0], row[1]): row for row in rows}
pairs = [(byKey[("dr", r)], byKey[("nat", r)]) for (m, r) in byKey if m == "dr" and ("nat", r) in byKey]
if pairs:
    print("NAT / L4/2 per connection at the same offered rate:")
    q = lambda n, d: ("%.2fx" % (float(n) / float(d))) if float(d) else "-"
    for dr, nat in pairs:
        print("  %s cps: frames captured %s, injected %s; sashad CPU %s, packet thread CPU %s" % (
            dr[1], q(nat[5], dr[5]), q(nat[6], dr[6]), q(nat[9], dr[9]), q(nat[11], dr[11])))
EOF

if [[ -n $injectBin ]]; then
    echo
    echo "(c) zero-drop packets/s of capture + inject ($injectBin, its own namespaces):"
    injectArgs=(--seconds 1)
    if [[ $switch == threads ]]; then injectArgs+=(--switch-threads); fi
    "$injectBin" "${injectArgs[@]}" || say "bench_inject failed"
fi
