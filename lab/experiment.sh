# shellcheck shell=bash disable=SC2154 # kSelf, kStateDir, kVip, ...: set by sasha-lab, which sources this
# sasha-lab experiment: the SASHA paper's experiment (section 4, Figure 4) on the namespace lab.
# Sourced by sasha-lab (it uses its helpers: die, info, nodeNs, takeLock, ...). docs/experiment.md
# says what each step does and how every figure is defined.
#
# Topology: the paper's six nodes (node1..node6: one dispatcher, five servers; every node can do
# either) and five client namespaces sasha-client1..5 (10.78.C.100, each on its own cable to the
# router), each running one httperf at rate/5 with a 2 s timeout.

readonly kExpNodes=6
readonly kExpClients=5
readonly kExpPaperCapacity=500       # cps per server in the paper (section 4: 2,465 of 2,500 with 5)
readonly kExpScenarios="none dispatcher server1 server2 server3 server4"

expUsage() {
    cat <<'EOF'
usage: sasha-lab experiment [--preset paper|default|paper,default] [--rates LIST] [--scenarios LIST]
                            [--duration S] [--repeat N] [--scale F] [--out DIR [--append]] [--quick]

  --preset     timer set of every sashad: paper ([timers] preset = "paper", 2 s token timeout),
               default (our lan defaults, 140 ms), or both, one after the other (default: default)
  --rates      offered connections/s before scaling, comma-separated (default 2500,1500,500)
  --scenarios  comma-separated from none, dispatcher, server1..server4 (or 1..4) (default: all six)
  --duration   seconds of load per case (default 30, the paper's; min 5)
  --repeat     runs of every case (default 1)
  --scale      F in (0, 1]: server capacity 500*F cps and every rate times F, for a machine that
               cannot carry the paper's rates; the output says the run was scaled (default 1)
  --out        directory for the results (default ./experiment-<UTC date>-<time>)
  --append     add this run's cases to the results already in --out DIR (a long matrix run as
               several invocations, the lab released between them); the table shows them all
  --quick      the CI subset, 5 s cases at --scale 0.2 that show the figure's shape: default
               timers at 2500 with none, server1, server2 (saturated servers) and at 500 with
               none, dispatcher; then paper timers at 500 with dispatcher

Writes DIR/results.csv (one row per case), DIR/series.csv (replies per second per case),
DIR/table.txt (beside the paper's figures), DIR/cases/* (raw httperf output, events, access
logs) and, when sasha-plot is built, DIR/figure4.png and DIR/series.png.
EOF
}

expPy() { python3 "$(dirname "$kSelf")/experiment_report.py" "$@"; }

expCtl() {   # expCtl K ARGS... : sashactl against nodeK's daemon (works with its link down)
    local k=$1
    shift
    timeout 5 ip netns exec "$(nodeNs "$k")" "$(recordedValue SASHACTL)" --socket "$(socketOf "$k")" "$@" 2>/dev/null 9>&-
}

# Five client namespaces, each cabled to the router on its own /24 (10.78.C.0/24); the nodes
# route 10.78.0.0/16 through the router. `sasha-lab down` removes them with the rest.
expClientsUp() {
    local c ns k
    for ((c = 1; c <= kExpClients; c++)); do
        ns=sasha-client$c
        ensureNamespace "$ns"
        if ! ip -n "$kRouterNs" link show "c$c" >/dev/null 2>&1; then
            ip -n "$ns" link del eth0 >/dev/null 2>&1 || true
            ip -n "$kRouterNs" link add name "c$c" type veth peer name eth0 netns "$ns"
        fi
        ip -n "$kRouterNs" addr replace "10.78.$c.1/24" dev "c$c"
        ip -n "$kRouterNs" link set "c$c" up
        ip -n "$ns" addr replace "10.78.$c.100/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route replace default via "10.78.$c.1" dev eth0
        ip netns exec "$kRouterNs" sysctl -qw "net.ipv4.conf.c$c.rp_filter=0"
        ip netns exec "$kRouterNs" ethtool -K "c$c" tx off tso off gso off gro off >/dev/null 2>&1 || true
        ip netns exec "$ns" ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1 || true
        # 2,500 cps x 30 s is 75,000 connections: a client needs the whole port range and may
        # reuse its own TIME_WAIT ports.
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
    done
    for ((k = 1; k <= kExpNodes; k++)); do
        ip -n "$(nodeNs "$k")" route replace "$kClientNet.0/16" via "$kRouterIp" dev eth0
    done
    touch "$kStateDir/experiment-clients"
}

# A JSON summary of the ring as nodeK sees it: members, dispatcher, unhealthy members.
expRing() {
    expCtl "$1" --json status | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    print("0 - 0"); sys.exit(0)
m = d.get("members", [])
bad = sum(1 for x in m if x.get("health", "healthy") not in ("healthy", "unknown"))
print(len(m), d.get("dispatcher") or "-", bad)'
}

# Waits (bounded) until some node sees all six members, a dispatcher, and every member healthy.
expWaitHealthy() {
    local deadline=$((SECONDS + $1)) k n disp bad
    while ((SECONDS <= deadline)); do
        for ((k = 1; k <= kExpNodes; k++)); do
            read -r n disp bad < <(expRing "$k")
            if [[ $n == "$kExpNodes" && $disp != - && $bad == 0 ]]; then echo "${disp##*.}"; return 0; fi
        done
        sleep 0.5
    done
    return 1
}

# Prints the wall-clock ms of the first event in FEED (a `sashactl --json watch` stream) at or
# after AFTER_MS that shows the fault of VICTIM being detected: a token timeout or a purge (the
# ring lost its token), or VICTIM lost from the ring (a view change that drops a node no longer
# acknowledging, with no purge). Nothing if none within BOUND seconds. The feed is read every
# 10 ms: a stream, not a query per poll (a sashactl start costs ~100 ms on a loaded machine).
expWaitDetection() {
    local after=$1 bound=$2 feed=$3 victim=$4 t
    local deadline=$((SECONDS + bound))
    while ((SECONDS <= deadline)); do
        t=$(awk -v a="$after" -v v="\"node\":\"$victim\"" '
            /"kind":"(token-timeout|purge-started)"/ || (/"kind":"member-(lost|left)"/ && index($0, v)) {
                if (match($0, /"wallMs":[0-9]+/)) {
                    w = substr($0, RSTART + 9, RLENGTH - 9)
                    if (w + 0 >= a + 0) { print w; exit }
                }
            }' "$feed" 2>/dev/null)
        if [[ -n $t ]]; then echo "$t"; return 0; fi
        sleep 0.01
    done
    return 0
}

nowMs() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# One case: five httperf at RATE/5 for DURATION s, the scenario's faults FAULT_AT s in, the
# events, httperf reports and access logs kept in DIR; then the cluster healed.
expRunCase() {
    local dir=$1 rate=$2 scenario=$3 duration=$4 faultAt=$5 dk=$6
    local per=$((rate / kExpClients)) c k victims=() survivors=() injections=() t det
    mkdir -p "$dir"
    for ((k = 1; k <= kExpNodes; k++)); do
        stat -c %s "$(nodeDir "$k")/nginx/access.log" >"$dir/offset.node$k" 2>/dev/null || echo 0 >"$dir/offset.node$k"
    done
    case $scenario in
        none) ;;
        dispatcher) victims=("$dk") ;;
        server[1-4])
            # The highest-numbered servers (never the dispatcher), one after the other.
            local want=${scenario#server}
            for ((k = kExpNodes; k >= 1 && ${#victims[@]} < want; k--)); do
                [[ $k == "$dk" ]] || victims+=("$k")
            done ;;
    esac
    for ((k = 1; k <= kExpNodes; k++)); do
        [[ " ${victims[*]} " == *" $k "* ]] || survivors+=("$k")
    done
    local i=0 watcher=${survivors[0]} watchPid=""
    [[ " ${survivors[*]} " == *" $dk "* ]] && watcher=$dk
    if [[ ${#victims[@]} -gt 1 ]]; then
        # The watcher's event stream, for timing coincident faults (stopped after the load).
        ip netns exec "$(nodeNs "$watcher")" "$(recordedValue SASHACTL)" --socket "$(socketOf "$watcher")" --json watch \
            >"$dir/watch.node$watcher.jsonl" 2>/dev/null 9>&- &
        watchPid=$!
    fi
    local start
    start=$(nowMs)
    local pids=()
    for ((c = 1; c <= kExpClients; c++)); do
        (ulimit -n 65536 2>/dev/null || true
         exec timeout $((duration + 30)) ip netns exec "sasha-client$c" httperf --hog --timeout 2 \
            --server "$kVip" --port 80 --uri /size/1k --rate "$per" --num-conns $((per * duration)) --num-calls 1 \
            >"$dir/httperf.c$c.txt" 2>&1 9>&-) &
        pids+=($!)
    done
    sleep "$faultAt"
    for k in "${victims[@]}"; do
        if ((i > 0)); then
            # Coincident faults, the paper's way: the next server goes off line while the
            # previous fault is still being detected (its first detection event, as the
            # dispatcher logged it).
            det=$(expWaitDetection "${injections[-1]}" 10 "$dir/watch.node$watcher.jsonl" "$(nodeIp "${victims[i - 1]}")")
            [[ -n $det ]] || warn "case $scenario: no detection event within 10 s of the previous fault; injecting node$k anyway"
        fi
        t=$(nowMs)
        ip -n "$(nodeNs "$k")" link set eth0 down
        injections+=("$t")
        i=$((i + 1))
    done
    wait "${pids[@]}" || true
    if [[ -n $watchPid ]]; then
        kill "$watchPid" 2>/dev/null || true
        wait "$watchPid" 2>/dev/null || true
    fi
    local end
    end=$(nowMs)
    for ((k = 1; k <= kExpNodes; k++)); do
        expCtl "$k" --json events --limit 2000 >"$dir/events.node$k.json" || echo '{"events":[]}' >"$dir/events.node$k.json"
    done
    sleep 1.5   # nginx flushes its access log every second
    for ((k = 1; k <= kExpNodes; k++)); do
        tail -c +"$(( $(cat "$dir/offset.node$k") + 1 ))" "$(nodeDir "$k")/nginx/access.log" >"$dir/access.node$k.log" 2>/dev/null || : >"$dir/access.node$k.log"
        rm -f "$dir/offset.node$k"
    done
    python3 -c 'import json, sys
a = sys.argv
print(json.dumps({"rate": int(a[1]), "scenario": a[2], "durationS": int(a[3]), "faultAtS": float(a[4]),
    "startMs": int(a[5]), "endMs": int(a[6]), "dispatcher": int(a[7]),
    "victims": [int(x) for x in a[8].split()], "injectionsMs": [int(x) for x in a[9].split()],
    "survivors": [int(x) for x in a[10].split()]}))' \
        "$rate" "$scenario" "$duration" "$faultAt" "$start" "$end" "$dk" "${victims[*]}" "${injections[*]}" "${survivors[*]}" >"$dir/meta.json"
    for k in "${victims[@]}"; do "$kSelf" restore "node$k" --quiet >/dev/null 2>&1 || warn "restore node$k failed"; done
}

cmdExperiment() {
    local presets=default rates=2500,1500,500 scenarios=$kExpScenarios duration=30 repeat=1 scale=1 out="" append=0 quick=0
    while [[ $# -gt 0 ]]; do
        case $1 in
            --preset) presets=${2:?--preset needs paper, default or paper,default}; shift 2 ;;
            --rates) rates=${2:?--rates needs a list like 2500,500}; shift 2 ;;
            --scenarios) scenarios=${2:?--scenarios needs a list like none,dispatcher}; shift 2 ;;
            --duration) duration=${2:?--duration needs seconds}; shift 2 ;;
            --repeat) repeat=${2:?--repeat needs a number}; shift 2 ;;
            --scale) scale=${2:?--scale needs a factor like 0.2}; shift 2 ;;
            --out) out=${2:?--out needs a directory}; shift 2 ;;
            --append) append=1; shift ;;
            --quick) quick=1; presets=default,paper; rates=2500,500; scenarios=none,dispatcher,server1,server2
                     duration=5; scale=0.2; shift ;;
            -h|--help) expUsage; return 0 ;;
            *) expUsage >&2; die "experiment: unknown option '$1'" ;;
        esac
    done
    local p s r list=() plan=()
    for p in ${presets//,/ }; do
        [[ $p == paper || $p == default ]] || die "--preset: '$p' is not paper or default"
    done
    for r in ${rates//,/ }; do
        [[ $r =~ ^[0-9]+$ && $r -ge 5 && $r -le 20000 ]] || die "--rates: '$r' is not a rate of 5..20000 connections/s"
    done
    for s in ${scenarios//,/ }; do
        case $s in
            none|dispatcher|server[1-4]) list+=("$s") ;;
            [1-4]) list+=("server$s") ;;
            *) die "--scenarios: '$s' is not one of none, dispatcher, server1..server4 (or 1..4)" ;;
        esac
    done
    # The cases, "preset rate scenario", in the order they run (one lab per preset).
    if [[ $quick -eq 1 ]]; then
        plan=("default 2500 none" "default 2500 server1" "default 2500 server2" "default 500 none"
              "default 500 dispatcher" "paper 500 dispatcher")
    else
        for p in ${presets//,/ }; do
            for r in ${rates//,/ }; do
                for s in "${list[@]}"; do plan+=("$p $r $s"); done
            done
        done
    fi
    [[ $duration =~ ^[0-9]+$ && $duration -ge 5 && $duration -le 600 ]] || die "--duration must be 5..600 s, got '$duration'"
    [[ $repeat =~ ^[0-9]+$ && $repeat -ge 1 && $repeat -le 20 ]] || die "--repeat must be 1..20, got '$repeat'"
    if ! [[ $scale =~ ^(1|1\.0*|0?\.[0-9]+)$ ]] || ! awk -v f="$scale" 'BEGIN { exit !(f > 0 && f <= 1) }'; then
        die "--scale must be a factor in (0, 1], like 0.2, got '$scale'"
    fi
    needRoot experiment
    needTool httperf python3 nginx ethtool
    [[ -z $(recordedNodes) ]] || die "a lab is up; the experiment builds its own (run: sasha-lab down)"
    [[ -n $(findBinary "${SASHAD:-}" sashad) ]] || die "no sashad found (build it, or set SASHAD=...)"
    [[ -n $out || $append -eq 0 ]] || die "--append needs --out DIR (the results to add to)"
    [[ -n $out ]] || out=$PWD/experiment-$(date -u +%Y%m%d-%H%M%S)
    mkdir -p "$out/cases"
    out=$(cd "$out" && pwd)
    local capacity
    capacity=$(awk -v f="$scale" -v c="$kExpPaperCapacity" 'BEGIN { printf "%d", c * f + 0.5 }')
    local faultAt
    faultAt=$(awk -v d="$duration" 'BEGIN { f = d / 5; if (f > 5) f = 5; if (f < 2) f = 2; print f }')
    python3 -c 'import json, sys, os
a = sys.argv
print(json.dumps({"presets": a[1].split(","), "rates": [int(x) for x in a[2].split(",")], "scenarios": a[3].split(),
    "durationS": int(a[4]), "repeat": int(a[5]), "scale": float(a[6]), "capacity": int(a[7]), "faultAtS": float(a[8]),
    "date": a[9], "host": os.uname().nodename, "cores": os.cpu_count(), "kernel": os.uname().release,
    "commit": a[10]}))' "$presets" "$rates" "${list[*]}" "$duration" "$repeat" "$scale" "$capacity" "$faultAt" \
        "$(date -u +%Y-%m-%dT%H:%MZ)" "$(git -C "$kRepoRoot" rev-parse --short HEAD 2>/dev/null || echo unknown)" >"$out/run.json"
    if [[ $append -eq 1 && -e $out/results.csv ]]; then
        python3 -c 'import csv, sys
scales = {r["scale"] for r in csv.DictReader(open(sys.argv[1]))}
sys.exit(0 if scales <= {sys.argv[2], str(float(sys.argv[2]))} else 1)' "$out/results.csv" "$scale" \
            || die "--append: $out/results.csv holds cases of another --scale; one table takes one scale"
    else
        rm -f "$out/results.csv" "$out/series.csv" "$out/calibration.csv"
    fi

    local scaleNote=""
    if [[ $capacity -ne $kExpPaperCapacity ]]; then
        scaleNote=" SCALED by $scale: every rate and the servers' capacity are $scale x the paper's"
    fi
    if [[ $quick -eq 1 ]]; then
        info "experiment (--quick): ${#plan[@]} cases x $repeat, $duration s each; servers of $capacity cps;$scaleNote"
    else
        info "experiment: ${#list[@]} scenario(s) x rates $rates x $repeat, $duration s each, timers: $presets; servers of $capacity cps;$scaleNote"
    fi
    info "results in $out"
    trap '"$kSelf" down >/dev/null 2>&1 || true' EXIT

    local preset extra rate srate dk n entry
    for preset in ${presets//,/ }; do
        extra=$out/timers-$preset.toml
        if [[ $preset == paper ]]; then printf '[timers]\npreset = "paper"\n' >"$extra"; else : >"$extra"; fi
        info "[$preset timers] bringing up the paper's topology: 6 nodes, 5 clients, servers capped at $capacity cps"
        SASHAD_EXTRA_CONFIG=$extra "$kSelf" up --nodes "$kExpNodes" --capacity "$capacity" >"$out/up-$preset.log" 2>&1 \
            || die "sasha-lab up failed; see $out/up-$preset.log"
        # Same shell as sasha-lab up, so the recorded topology and tools are known here.
        gTopology=$(currentTopology)
        [[ $gTopology == router ]] || die "the experiment needs the router topology"
        expClientsUp
        dk=$(expWaitHealthy 40) || die "no ring of $kExpNodes healthy members with a dispatcher within 40 s"
        info "[$preset timers] ring of $kExpNodes up, dispatcher node$dk"
        expCalibrate "$out" "$preset" "$capacity" "$dk"
        for entry in "${plan[@]}"; do
            read -r p rate s <<<"$entry"
            [[ $p == "$preset" ]] || continue
            srate=$(awk -v r="$rate" -v f="$scale" 'BEGIN { printf "%d", r * f + 0.5 }')
            srate=$(( (srate + kExpClients - 1) / kExpClients * kExpClients ))
            {
                for ((n = 1; n <= repeat; n++)); do
                    dk=$(expWaitHealthy 60) || die "the cluster did not heal to $kExpNodes healthy members within 60 s before $preset/$rate/$s"
                    # A restored node, alone while cut off, was its own ring's dispatcher and
                    # abdicates only once it has rejoined; cases started right after a heal with
                    # the paper's timers served a fraction of the offered rate for 1-3 s (we think
                    # its VMAC announcements drew the VIP's traffic). Let that settle, look again.
                    sleep "$([[ $preset == paper ]] && echo 6 || echo 2)"
                    dk=$(expWaitHealthy 60) || die "the cluster did not stay healed before $preset/$rate/$s"
                    local dir=$out/cases/$preset-$rate-$s-$n
                    expRunCase "$dir" "$srate" "$s" "$duration" "$faultAt" "$dk"
                    expPy case "$dir" --preset "$preset" --paper-rate "$rate" --scale "$scale" --repeat "$n" \
                        --csv "$out/results.csv" --series "$out/series.csv" || warn "case $dir: no result row"
                done
            }
        done
        "$kSelf" down >/dev/null 2>&1 || warn "sasha-lab down failed"
    done
    trap - EXIT
    expPy table "$out" | tee "$out/table.txt"
    local plot
    plot=$(expPlotBinary)
    if [[ -n $plot ]]; then
        QT_QPA_PLATFORM=offscreen "$plot" bars "$out/results.csv" "$out/figure4.png" && info "chart: $out/figure4.png"
        QT_QPA_PLATFORM=offscreen "$plot" series "$out/series.csv" "$out/series.png" && info "per-second plot: $out/series.png"
    else
        info "sasha-plot not built (SASHA_BUILD_GUI=ON builds it): no PNG; plot later with sasha-plot bars $out/results.csv figure4.png"
    fi
}

expPlotBinary() {
    local candidate
    for candidate in "${SASHA_PLOT:-}" "$PWD/build/lab/sasha-plot" "$kRepoRoot/build/lab/sasha-plot"; do
        if [[ -n $candidate && -x $candidate ]]; then echo "$candidate"; return 0; fi
    done
    command -v sasha-plot 2>/dev/null || true
}

# The calibration: one server, straight from client1, at 1.5x its capacity for 4 s; prints the
# 2xx replies/s it served. Then the whole lab at the largest offered rate is the "none" case.
expCalibrate() {
    local out=$1 preset=$2 capacity=$3 dk=$4 k offered got
    k=$(( dk == kExpNodes ? kExpNodes - 1 : kExpNodes ))
    offered=$(( capacity * 3 / 2 ))
    ip netns exec sasha-client1 timeout 40 httperf --hog --timeout 2 --server "$(nodeIp "$k")" --port 80 \
        --uri /size/1k --rate "$offered" --num-conns $((offered * 4)) --num-calls 1 >"$out/calibration-$preset.txt" 2>&1 9>&- || true
    got=$(expPy calibration "$out/calibration-$preset.txt")
    info "[$preset timers] calibration: node$k alone, offered $offered cps for 4 s: served $got ok replies/s (capacity set to $capacity)"
    echo "$preset,$k,$offered,$got,$capacity" >>"$out/calibration.csv"
    if awk -v g="$got" -v c="$capacity" 'BEGIN { exit !(g < 0.9 * c) }'; then
        warn "one server serves $got cps, under 90% of its capacity $capacity: this machine is the bottleneck; try --scale"
    fi
}
