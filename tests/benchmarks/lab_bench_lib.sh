# shellcheck shell=bash disable=SC2034,SC2154 # sourced: variables are the caller's or for the caller
# Shared by the lab benchmarks (bench_lab_failover.sh, bench_lab_throughput.sh); sourced, not run.
# Finds the binaries, refuses to touch a lab someone else brought up, brings one up and ALWAYS
# takes it down on exit, and reads the daemons' status over their control sockets.
# The caller has `set -euo pipefail` and defines kBenchName.

kBenchDir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kRepo=$(cd "$kBenchDir/../.." && pwd)
kLab=${SASHA_LAB:-$kRepo/lab/sasha-lab}
kVip=10.77.0.200

die() { echo "$kBenchName: $*" >&2; exit 3; }
say() { echo "$kBenchName: $*" >&2; }

# First existing executable among the arguments.
firstExecutable() {
    local f
    for f in "$@"; do
        if [[ -n $f && -x $f && -f $f ]]; then echo "$f"; return 0; fi
    done
    return 1
}

benchPreflight() {
    [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, packet capture, the lab); run it with sudo"
    local tool
    for tool in ip nginx ethtool curl httperf python3 "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed (packaging/install-deps.sh full)"
    done
    [[ -x $kLab ]] || die "no lab script at $kLab (set SASHA_LAB)"
    SASHAD=$(firstExecutable "${SASHAD:-}" "$kRepo/build/daemon/sashad" "$kRepo/build/daemon/sashad/sashad" \
        "$PWD/build/daemon/sashad" "$PWD/daemon/sashad") \
        || die "no sashad binary: set SASHAD=/path/to/sashad (or build build/daemon/sashad)"
    SASHACTL=$(firstExecutable "${SASHACTL:-}" "$kRepo/build/daemon/sashactl" "$kRepo/build/daemon/sashactl/sashactl" \
        "$PWD/build/daemon/sashactl" "$PWD/daemon/sashactl") \
        || die "no sashactl binary: set SASHACTL=/path/to/sashactl (or build build/daemon/sashactl)"
    export SASHAD SASHACTL
    if [[ -e /run/sasha-lab/lab.env ]] || ip netns list | grep -qE '^sasha-(sw|client|router|node[0-9]+)( |$)'; then
        die "a sasha lab is already up (someone may be using it); this benchmark will not tear it down. When it is free: $kLab down"
    fi
}

labDown() { "$kLab" down >/dev/null 2>&1 || true; }

# labUp NODES [UP OPTIONS...]: brings the lab up, with the trap that takes it down whatever
# happens next.
labUp() {
    trap 'labDown' EXIT
    trap 'exit 130' INT TERM
    local log=/tmp/$kBenchName.up.log
    # --large-mb 1: the 100 MB download file is not needed here; generating it costs seconds.
    # --flat: the client on the servers' bridge, as when the figures in docs/benchmarks.md were
    # measured; behind the router every client frame would cost a forwarding hop more on the
    # same two cores. A caller's --router (needed by --mode nat), later on the line, overrides it.
    if ! "$kLab" up --nodes "$1" --large-mb 1 --flat "${@:2}" >"$log" 2>&1; then
        cat "$log" >&2
        die "sasha-lab up failed (log above)"
    fi
    # The client keeps no TIME_WAIT sockets: httperf --hog binds its own ports and, once ~28k
    # connections to one address sit in TIME_WAIT (60 s), hangs without a report (seen at
    # 2,000 cps after a 10 s run at 1,000). Only the lab's client namespace is changed.
    ip netns exec sasha-client sysctl -qw net.ipv4.tcp_max_tw_buckets=0 \
        || die "cannot set tcp_max_tw_buckets in the client namespace"
}

# The status of nodeK as JSON (the control socket is a path: no need to enter the namespace).
nodeStatus() { "$SASHACTL" --socket "/run/sasha-lab/node$1/run/sashad.sock" --json status 2>/dev/null; }
nodeConnections() { "$SASHACTL" --socket "/run/sasha-lab/node$1/run/sashad.sock" --json connections --limit 100000 2>/dev/null; }
nodeEvents() { "$SASHACTL" --socket "/run/sasha-lab/node$1/run/sashad.sock" --json events --limit "${2:-300}" 2>/dev/null; }
# jsonGet EXPR: python expression over d (the JSON read from stdin); empty on any error.
jsonGet() { python3 -c 'import json,sys
try:
    d=json.load(sys.stdin); v=eval(sys.argv[1])
    print("" if v is None else v)
except Exception:
    pass' "$1" 2>/dev/null; }
nodeIndex() { echo "${1##*.}"; }   # 10.77.0.K -> K

# ringReady K N: nodeK sees N members and a dispatcher that is dispatching (dataPath running).
ringReady() {
    local k=$1 n=$2 s disp dk
    s=$(nodeStatus "$k") || return 1
    [[ $(jsonGet 'len(d["members"])' <<<"$s") == "$n" ]] || return 1
    disp=$(jsonGet 'd["dispatcher"]' <<<"$s")
    [[ -n $disp ]] || return 1
    dk=$(nodeIndex "$disp")
    [[ $(nodeStatus "$dk" | jsonGet 'd["dataPath"]["running"]') == True ]]
}

# waitFor SECONDS CMD...: bounded poll every 0.1 s.
waitFor() {
    local deadline=$((SECONDS + $1))
    shift
    while ((SECONDS <= deadline)); do
        if "$@"; then return 0; fi
        sleep 0.1
    done
    return 1
}

# The current dispatcher's node index, as seen by nodeK.
dispatcherIndex() {
    local disp
    disp=$(nodeStatus "$1" | jsonGet 'd["dispatcher"]')
    [[ -n $disp ]] && nodeIndex "$disp"
}

# CPU time (user + system, in clock ticks) of a process, from /proc/PID/stat fields 14 and 15.
procTicks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
kTicksPerSecond=$(getconf CLK_TCK)

# Percentiles (nearest rank) of the numbers on stdin: prints "p50 p99 max count".
percentiles() {
    python3 -c 'import sys, math
v = sorted(float(x) for x in sys.stdin.read().split())
if not v:
    print("nan nan nan 0"); sys.exit()
rank = lambda p: v[max(0, math.ceil(p / 100 * len(v)) - 1)]
print("%.1f %.1f %.1f %d" % (rank(50), rank(99), v[-1], len(v)))'
}
