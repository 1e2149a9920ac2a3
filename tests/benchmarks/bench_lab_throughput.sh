#!/usr/bin/env bash
# bench_lab_throughput: connections/s through the dispatcher, and its CPU per connection against
# HAProxy, on the namespace lab (issue 3, "Benchmarks").
#
#   sudo tests/benchmarks/bench_lab_throughput.sh [--rates "1000 2000 3000"] [--seconds S (10)]
#                                                [--uri /size/1k] [--inject] [--inline-switch]
#
# The lab is brought up with --switch-threads: the switch forwards what a node sends on its own
# kernel threads, so neither the dispatcher nor HAProxy is charged for the bridge and for the
# receiving host's TCP stack, as on a real network (--inline-switch: the lab's default, where a
# veth transmit runs all of that inside the sender's system call).
#
# Brings up a 5-node lab (sashad + nginx per node). For each offered rate R:
#  (a) VIP:    one httperf at R cps to the VIP (the dispatcher forwards to the 4 other nodes);
#      direct: the baseline, the same offered load straight to those 4 servers (4 httperf
#              instances at R/4 each, in parallel, from the same client namespace).
#      Ratio = successful replies/s through the VIP / replies/s direct (goal >= 0.95).
#  (b) CPU per connection of the dispatcher's sashad during the VIP run (/proc/PID/stat, user +
#      system; also net of its idle CPU measured during the direct run, and its packet thread's
#      own cpuMs) against HAProxy 'mode tcp' (nbthread 1) run in the dispatcher's namespace on
#      10.77.0.K:8080, balancing to the same 4 servers, under the same httperf load (goal <= 1/3).
#  (c) --inject: also run bench_inject ($BENCH_INJECT or build/tests/benchmarks/bench_inject)
#      for the zero-drop packets/s of capture + inject (its own namespaces, after the lab is down).
#
# Needs root. Refuses to run when a lab is already up; always takes its own lab down on exit.
# Binaries: $SASHAD / $SASHACTL, else build/daemon/... in the repository.
set -euo pipefail

# shellcheck disable=SC2034 # used by the library
kBenchName=bench_lab_throughput
# shellcheck source-path=SCRIPTDIR source=lab_bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab_bench_lib.sh"

rates="1000 2000 3000"
seconds=10
uri=/size/1k
inject=0
switch=threads
readonly kNodes=5
readonly kHaproxyPort=8080
while [[ $# -gt 0 ]]; do
    case $1 in
        --rates) rates=${2:?--rates needs a list}; shift 2 ;;
        --seconds) seconds=${2:?--seconds needs seconds}; shift 2 ;;
        --uri) uri=${2:?--uri needs a path}; shift 2 ;;
        --inject) inject=1; shift ;;
        --inline-switch) switch=inline; shift ;;
        -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--rates \"R1 R2 ...\"] [--seconds S] [--uri PATH] [--inject] [--inline-switch]" >&2; exit 2 ;;
    esac
done
for r in $rates; do
    [[ $r =~ ^[0-9]+$ && $r -ge 4 && $r -le 50000 ]] || { echo "--rates: each rate must be 4..50000, got '$r'" >&2; exit 2; }
done
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
if [[ $switch == threads ]]; then labUp "$kNodes" --switch-threads; else labUp "$kNodes"; fi
haproxyPid=""
cleanup() {
    if [[ -n $haproxyPid ]]; then kill "$haproxyPid" 2>/dev/null || true; fi
    labDown
    rm -rf "$work"
}
trap cleanup EXIT
waitFor 20 ringReady 1 "$kNodes" || die "no ring of $kNodes with a running dispatcher within 20 s"
dk=$(dispatcherIndex 1) || die "no dispatcher"
dpid=$(tr -dc '0-9' <"/run/sasha-lab/node$dk/sashad.pid")
[[ $(cat "/proc/$dpid/comm" 2>/dev/null) == sashad ]] || die "node$dk's sashad (pid '$dpid') is not running"
servers=()
for ((k = 1; k <= kNodes; k++)); do [[ $k == "$dk" ]] || servers+=("$k"); done
say "lab up: dispatcher node$dk (sashad pid $dpid), servers ${servers[*]/#/node}"

# httperfRun OUTFILE SERVER PORT RATE: one httperf in the client namespace, the lab's load shape.
httperfRun() {
    local out=$1 server=$2 port=$3 r=$4
    (ulimit -n 65536 2>/dev/null || true
     timeout $((seconds + 30)) ip netns exec sasha-client httperf --hog --timeout 2 --server "$server" \
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
threadCpuMs() { nodeStatus "$dk" | jsonGet 'd["dataPath"]["thread"]["cpuMs"]'; }
framesIn() { nodeStatus "$dk" | jsonGet 'd["dataPath"]["fastPath"]["framesIn"]'; }

# HAProxy in the dispatcher's namespace, on its own address, to the same servers.
mkdir -p "$work/haproxy"
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
} >"$work/haproxy/haproxy.cfg"
haproxy -c -q -f "$work/haproxy/haproxy.cfg" || die "haproxy rejects its config ($work/haproxy/haproxy.cfg)"
ip netns exec "sasha-node$dk" haproxy -db -f "$work/haproxy/haproxy.cfg" >"$work/haproxy/log" 2>&1 &
haproxyPid=$!
waitFor 5 ip netns exec sasha-client curl -s -o /dev/null -m 1 "http://10.77.0.$dk:$kHaproxyPort/node" \
    || die "haproxy does not answer on 10.77.0.$dk:$kHaproxyPort: $(cat "$work/haproxy/log")"

printf '%-7s| %7s %7s %6s %5s | %8s %6s | %6s %6s | %8s %8s %9s %5s %6s | %10s %7s | %6s\n' \
    offered vip direct ratio goal vip_errs d_errs v_ms d_ms disp_us net_us thread_us pkts thr_ns haproxy_us h_ok cpu_x
printf '%-7s| %7s %7s %6s %5s | %8s %6s | %6s %6s | %8s %8s %9s %5s %6s | %10s %7s | %6s\n' \
    cps 'ok/s' 'ok/s' '' '' '' '' '/conn' '/conn' '/conn' '/conn' '/conn' /conn /pkt '/conn' '/s' ''
: >"$work/summary"
for r in $rates; do
    # (a) through the VIP, with the dispatcher's CPU.
    t0=$(ticksOf "$dpid")
    c0=$(threadCpuMs)
    p0=$(framesIn)
    httperfRun "$work/vip$r" "$kVip" 80 "$r"
    t1=$(ticksOf "$dpid")
    c1=$(threadCpuMs)
    p1=$(framesIn)
    read -r vConns vOk vErr vDur vMs < <(httperfSum "$work/vip$r")

    # Direct: the same load spread over the same servers; the dispatcher idles meanwhile.
    share=$((r / ${#servers[@]}))
    i0=$(ticksOf "$dpid")
    pids=()
    for k in "${servers[@]}"; do
        httperfRun "$work/direct$r.$k" "10.77.0.$k" 80 "$share" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    i1=$(ticksOf "$dpid")
    read -r _ dOk dErr dDur dMs < <(httperfSum "$work"/direct"$r".*)

    # (b) HAProxy at the same offered load.
    h0=$(ticksOf "$haproxyPid")
    httperfRun "$work/haproxy$r" "10.77.0.$dk" "$kHaproxyPort" "$r"
    h1=$(ticksOf "$haproxyPid")
    read -r hConns hOk hErr hDur _ < <(httperfSum "$work/haproxy$r")

    python3 - "$r" "$vOk" "$vDur" "$vErr" "$dOk" "$dDur" "$dErr" "$((t1 - t0))" "$((i1 - i0))" \
        "$((c1 - c0))" "$((h1 - h0))" "$hOk" "$hDur" "$hErr" "$kTicksPerSecond" "$vConns" "$hConns" "$((p1 - p0))" "$vMs" "$dMs" \
        >>"$work/summary" <<'EOF'
import sys
a = sys.argv[1:]
r = int(a[0]); vOk, vDur, vErr = int(a[1]), float(a[2]), int(a[3]); dOk, dDur, dErr = int(a[4]), float(a[5]), int(a[6])
disp, idle, thr, hap = int(a[7]), int(a[8]), int(a[9]), int(a[10]); hOk, hDur, hErr = int(a[11]), float(a[12]), int(a[13])
tck = int(a[14]); vConns, hConns = int(a[15]), int(a[16]); frames = int(a[17]); vMs, dMs = float(a[18]), float(a[19])
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
EOF
    tail -n 1 "$work/summary"
done

echo
echo "bench_lab_throughput: $kNodes nodes (dispatcher node$dk, ${#servers[@]} servers), $seconds s per run, URI $uri, switch $switch, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo "  (a) vip/direct ok replies/s, baseline = the same offered load straight to the servers in the same run; goal ratio >= 0.95"
echo "  v_ms / d_ms: httperf's mean connection time (connect to close, ms) via the VIP / direct: the"
echo "      difference is the latency the dispatcher adds to a connection's client frames ([dispatcher] batch_us)"
echo "  (b) dispatcher CPU per connection (sashad process, user+system from /proc; net = minus its idle CPU over"
echo "      the direct run; thread = its packet thread's cpuMs; pkts = client frames it handled per connection,"
echo "      thr_ns = its packet thread's CPU per frame) vs HAProxy mode tcp at the same load;"
echo "      cpu_x = dispatcher / HAProxy per connection, goal <= 0.33x. /proc ticks are 1/$kTicksPerSecond s."
echo "  The lab's one client (httperf) shares the 2 cores with nginx x5, sashad x5 and HAProxy: cps tops out"
echo "  on the client and the servers, which is why CPU per connection is the dispatcher's figure of merit."

if [[ -n $injectBin ]]; then
    cleanup
    trap - EXIT
    haproxyPid=""
    echo
    echo "(c) zero-drop packets/s of capture + inject ($injectBin, its own namespaces):"
    injectArgs=(--seconds 1)
    if [[ $switch == threads ]]; then injectArgs+=(--switch-threads); fi
    "$injectBin" "${injectArgs[@]}" || say "bench_inject failed"
fi
