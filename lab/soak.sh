# sasha-lab soak: httperf load for the whole run, one random fault per window, a report at the end.
# Sourced by lab/sasha-lab (it uses that script's helpers and constants); docs/lab.md describes the
# command, the fault set and the report. Every wait is bounded, and whatever stops the soak (the
# end, an error, Ctrl-C, SIGTERM) undoes the fault in progress: no partition, stopped process,
# down port or drained node is left behind.
# shellcheck shell=bash disable=SC2154 # kNet, kSelf, kVip, ...: constants of lab/sasha-lab

readonly kSoakFaults=(daemon-kill hang unplug partition dispatcher-kill drain handover)
readonly kSoakTable=sashasoak   # nftables table of a ring partition, one in every node's namespace
readonly kSoakInjectMs=2000     # into a window: the previous window's connections have ended by then
readonly kSoakSettleMs=1500     # before a window's end: time for the end-of-window samples

gSoakDir=""                 # this run's files (httperf output, samples, records)
gSoakNodes=0
gSoakCtl=""                 # the recorded sashactl
gSoakUndo=""                # what undoes the fault in progress: "", "restore K", "partition", "undrain K"
gSoakLoadPids=()
gSoakNote=""                # what went wrong in this window's fault handling (reported, not fatal)

nowMs() { local t=$EPOCHREALTIME; echo $(( ${t/[.,]/} / 1000 )); }

sleepUntilMs() {   # sleepUntilMs T : sleeps until nowMs() >= T (at once if that is past)
    local left=$(( $1 - $(nowMs) ))
    # In the background: 'wait' returns at once on SIGINT/SIGTERM, so the fault is undone at once.
    if ((left > 0)); then sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))" & wait "$!"; fi
}

soakNote() { gSoakNote+="${gSoakNote:+; }$*"; warn "soak: $*"; }

# sashactl against nodeK, bounded: a stopped daemon's socket accepts but never answers.
soakCtl() {
    local k=$1 limit=3
    shift
    if [[ $1 == handover ]]; then limit=10; fi   # it answers once the successor has the VMAC (~5 s)
    timeout "$limit" ip netns exec "$(nodeNs "$k")" "$gSoakCtl" --socket "$(socketOf "$k")" "$@" 2>/dev/null 9>&-
}

# Index of the dispatcher named by the first node that answers as a ring member, or nothing.
soakDispatcher() {
    local k d
    for ((k = 1; k <= gSoakNodes; k++)); do
        d=$(soakCtl "$k" --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d.get("dispatcher") or "" if d.get("state") == "member" else "")' 2>/dev/null) || continue
        if [[ $d =~ ^${kNet//./\\.}\.([0-9]+)(:[0-9]+)?$ ]]; then echo "${BASH_REMATCH[1]}"; return 0; fi
    done
    return 0
}

# Every node is a member of one ring of all nodes that has a dispatcher.
soakRingWhole() {
    local k
    for ((k = 1; k <= gSoakNodes; k++)); do
        soakCtl "$k" --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
ok = d.get("state") == "member" and len(d.get("members", [])) == int(sys.argv[1]) and bool(d.get("dispatcher"))
sys.exit(0 if ok else 1)' "$gSoakNodes" 2>/dev/null || return 1
    done
}

# Samples every node: its status JSON (purges, dispatcher) and, of sashad and the nginx master,
# pid, VmRSS (kB) and the number of open file descriptors. Files: wW-PHASE-nodeK.json, wW-PHASE.procs.
soakSample() {
    local w=$1 phase=$2 k comm pid rss fds procs="$gSoakDir/w$1-$2.procs"
    : >"$procs"
    for ((k = 1; k <= gSoakNodes; k++)); do
        soakCtl "$k" --json status >"$gSoakDir/w$w-$phase-node$k.json" || true
        for comm in sashad nginx; do
            local pidfile
            if [[ $comm == sashad ]]; then pidfile=$(nodeDir "$k")/sashad.pid; else pidfile=$(nodeDir "$k")/nginx/nginx.pid; fi
            pid=$(livePid "$pidfile" "$comm") || { echo "$k $comm - - -" >>"$procs"; continue; }
            rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || rss=""
            fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || fds=""
            echo "$k $comm $pid ${rss:--} ${fds:--}" >>"$procs"
        done
    done
}

soakPartition() {   # soakPartition on GROUP_A GROUP_B (space-separated indexes) | soakPartition off
    local k peers
    if [[ $1 == off ]]; then
        for ((k = 1; k <= gSoakNodes; k++)); do
            ip netns exec "$(nodeNs "$k")" nft delete table inet "$kSoakTable" >/dev/null 2>&1 9>&- || true
        done
        return 0
    fi
    local a=$2 b=$3 rc=0
    for k in $a $b; do
        if [[ " $a " == *" $k "* ]]; then peers=$b; else peers=$a; fi
        peers=$(for p in $peers; do printf '%s.%s, ' "$kNet" "$p"; done)
        printf 'table inet %s {\n  chain in { type filter hook input priority 0; ip saddr { %s } udp dport %s drop; }\n}\n' \
            "$kSoakTable" "${peers%, }" "$kRingPort" | ip netns exec "$(nodeNs "$k")" nft -f - 9>&- || rc=1
    done
    return "$rc"
}

# Undoes the fault in progress (also from the exit trap); idempotent.
soakUndo() {
    local what=${gSoakUndo%% *} k=${gSoakUndo#* } d
    case $what in
        restore)
            "$kSelf" restore "node$k" --quiet 9>&- || soakNote "restore node$k failed" ;;
        partition)
            soakPartition off ;;
        undrain)
            d=$(soakDispatcher)
            if ! soakCtl "${d:-$k}" undrain "$kNet.$k" >/dev/null && ! soakCtl "$k" undrain "$kNet.$k" >/dev/null; then
                soakNote "undrain of node$k was not answered"
            fi ;;
    esac
    gSoakUndo=""
}

# After a self-healing node fault: waits (bounded) for the healer's restore, then restores anyway.
soakAwaitHealer() {
    local k=$1 deadline=$(( $(nowMs) + 3000 ))
    while [[ -e $(nodeDir "$k")/heal.pid ]] && (( $(nowMs) < deadline )); do sleep 0.1; done
    # The healer removes heal.pid under the lab lock and keeps it until its restore is done.
    flock -w 15 "$kLockFile" true 9>&- || true
    soakUndo   # restore is idempotent: port up, SIGCONT, start what is missing
}

soakCleanup() {
    local rc=$?
    trap - ERR
    set +e
    if [[ -n $gSoakUndo ]]; then
        warn "soak: stopped during a fault; undoing it ($gSoakUndo)"
        soakUndo
    fi
    if [[ -n $gSoakDir ]]; then soakPartition off; fi
    if ((${#gSoakLoadPids[@]} > 0)); then kill "${gSoakLoadPids[@]}" 2>/dev/null; fi
    exit "$rc"
}

nodeOrNone() { if [[ -n $1 ]]; then echo "node$1"; else echo none; fi; }

jsonString() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

cmdSoak() {
    local minutes="" every=30 rate=300 seed="" json_file="" max_errors="" set_list="" hold=""
    while [[ $# -gt 0 ]]; do
        case $1 in
            --minutes) minutes=${2:?--minutes needs a value}; shift 2 ;;
            --fault-every) every=${2:?--fault-every needs seconds}; shift 2 ;;
            --fault-for) hold=${2:?--fault-for needs seconds}; shift 2 ;;
            --rate) rate=${2:?--rate needs a value}; shift 2 ;;
            --seed) seed=${2:?--seed needs a number}; shift 2 ;;
            --json) json_file=${2:?--json needs a file}; shift 2 ;;
            --max-errors) max_errors=${2:?--max-errors needs a number}; shift 2 ;;
            --fault-set) set_list=${2:?--fault-set needs a list}; shift 2 ;;
            *) die "soak: unknown option '$1' (accepted: --minutes M [--fault-every S] [--fault-for X] [--rate R] [--seed N] [--fault-set LIST] [--json FILE] [--max-errors E])" ;;
        esac
    done
    [[ $minutes =~ ^[0-9]+$ && $minutes -ge 1 && $minutes -le 1440 ]] || die "--minutes must be 1..1440, got '$minutes'"
    [[ $every =~ ^[0-9]+$ && $every -ge 10 && $every -le 3600 ]] || die "--fault-every must be 10..3600 s, got '$every'"
    [[ $rate =~ ^[0-9]+$ && $rate -ge 1 && $rate -le 100000 ]] || die "--rate must be 1..100000 connections/s, got '$rate'"
    [[ -z $max_errors || $max_errors =~ ^[0-9]+$ ]] || die "--max-errors must be a number, got '$max_errors'"
    [[ -z $seed || $seed =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer, got '$seed'"
    # The fault lasts a quarter of the window, 2..8 s, unless told; it must end with time to heal.
    if [[ -z $hold ]]; then hold=$((every / 4)); ((hold < 2)) && hold=2; ((hold > 8)) && hold=8; fi
    [[ $hold =~ ^[0-9]+$ && $hold -ge 1 && $hold -le $((every - 6)) ]] || die "--fault-for must be 1..$((every - 6)) s (the window minus 6 s), got '$hold'"
    local faults=("${kSoakFaults[@]}") f
    if [[ -n $set_list ]]; then
        faults=()
        for f in ${set_list//,/ }; do
            [[ " ${kSoakFaults[*]} " == *" $f "* ]] || die "--fault-set: unknown fault '$f' (known: ${kSoakFaults[*]// /,})"
            faults+=("$f")
        done
        ((${#faults[@]} > 0)) || die "--fault-set is empty"
    fi
    if [[ -n $json_file ]]; then
        : >>"$json_file" 2>/dev/null || die "--json: cannot write $json_file"
    fi
    needRoot soak
    needTool httperf nft python3 timeout
    gSoakNodes=$(requireUp)
    gSoakCtl=$(recordedValue SASHACTL)
    [[ -n $(recordedValue SASHAD) ]] || die "soak: the lab runs no sashad (up --no-sashad); run: sasha-lab down && sasha-lab up"
    [[ -n $gSoakCtl ]] || die "soak: no sashactl recorded (set SASHACTL=... and run sasha-lab up again)"
    ((gSoakNodes >= 2)) || die "soak: needs at least 2 nodes (the lab has $gSoakNodes)"
    local deadline=$((SECONDS + 20))   # a lab just up forms its ring in a few seconds
    until soakRingWhole; do
        ((SECONDS < deadline)) || die "soak: the ring is not whole after 20 s (every node a member of one ring of $gSoakNodes with a dispatcher); see: sasha-lab status"
        sleep 0.5
    done

    [[ -n $seed ]] || seed=$(( $(date +%s) % 1000000 ))
    RANDOM=$seed
    local windows=$((minutes * 60 / every))
    ((windows >= 2)) || windows=2
    local -a kinds draws
    local w
    for ((w = 1; w < windows; w++)); do
        kinds[w]=${faults[RANDOM % ${#faults[@]}]}
        draws[w]=$(( RANDOM * 32768 + RANDOM ))
    done

    gSoakDir=$kStateDir/soak/$(date -u +%Y%m%dT%H%M%SZ)
    mkdir -p "$gSoakDir"
    trap soakCleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    info "soak: $windows windows of $every s ($((windows * every)) s), httperf $rate conn/s to the VIP, faults held $hold s, seed $seed"
    info "soak: fault set ${faults[*]}; files in $gSoakDir"
    printf 'SEED=%s\nWINDOWS=%s\nEVERY=%s\nRATE=%s\nHOLD=%s\nNODES=%s\nFAULTS=%s\n' \
        "$seed" "$windows" "$every" "$rate" "$hold" "$gSoakNodes" "${faults[*]}" >"$gSoakDir/run.env"

    local t0 start kind target detail before after injected undone whole d k r
    t0=$(( $(nowMs) + 200 ))
    for ((w = 0; w < windows; w++)); do
        start=$((t0 + w * every * 1000))
        sleepUntilMs "$start"
        ( ulimit -n 65536 2>/dev/null || true
          timeout $((every + 30)) ip netns exec "$kClientNs" httperf --hog --timeout 2 \
              --server "$kVip" --port 80 --uri /size/1k --rate "$rate" --num-conns $((rate * every)) --num-calls 1 9>&- || true
        ) >"$gSoakDir/w$w-httperf.txt" 2>&1 &
        gSoakLoadPids+=($!)
        gSoakNote="" kind=none target="" detail="" injected="" undone="" whole=""
        before=$(soakDispatcher)
        soakSample "$w" start
        if ((w > 0)); then
            kind=${kinds[w]}
            r=${draws[w]}
            d=$(soakDispatcher)
            local -a servers=()
            for ((k = 1; k <= gSoakNodes; k++)); do [[ $k == "$d" ]] || servers+=("$k"); done
            sleepUntilMs $((start + kSoakInjectMs))
            injected=$(( $(nowMs) - t0 ))
            case $kind in
                daemon-kill|hang|unplug)
                    target=${servers[r % ${#servers[@]}]}
                    gSoakUndo="restore $target"
                    "$kSelf" fault "node$target" "$kind" --for "$hold" >/dev/null 9>&- || soakNote "fault node$target $kind failed"
                    sleepUntilMs $((start + kSoakInjectMs + hold * 1000))
                    soakAwaitHealer "$target" ;;
                dispatcher-kill)
                    if [[ -z $d ]]; then
                        soakNote "no dispatcher to kill"
                    else
                        target=$d
                        gSoakUndo="restore $target"
                        "$kSelf" fault "node$target" daemon-kill --for "$hold" >/dev/null 9>&- || soakNote "fault node$target daemon-kill failed"
                        sleepUntilMs $((start + kSoakInjectMs + hold * 1000))
                        soakAwaitHealer "$target"
                    fi ;;
                partition)
                    # A random split into two non-empty groups: bit K-1 of the mask puts nodeK in the first.
                    local mask=$(( r % ((1 << gSoakNodes) - 2) + 1 )) a="" b=""
                    for ((k = 1; k <= gSoakNodes; k++)); do
                        if (( mask & (1 << (k - 1)) )); then a+="$k "; else b+="$k "; fi
                    done
                    target="$(for k in $a; do printf 'node%s,' "$k"; done)"
                    target="${target%,}|$(for k in $b; do printf 'node%s,' "$k"; done)"
                    target=${target%,}
                    gSoakUndo=partition
                    soakPartition on "$a" "$b" || soakNote "nft refused a partition rule"
                    sleepUntilMs $((start + kSoakInjectMs + hold * 1000))
                    soakUndo ;;
                drain)
                    target=${servers[r % ${#servers[@]}]}
                    gSoakUndo="undrain $target"
                    detail=$(soakCtl "${d:-$target}" drain "$kNet.$target" | head -n 1) || soakNote "drain of node$target was not answered"
                    sleepUntilMs $((start + kSoakInjectMs + hold * 1000))
                    soakUndo ;;
                handover)
                    if [[ -z $d ]]; then
                        soakNote "no dispatcher to hand over"
                    else
                        target=$d
                        detail=$(soakCtl "$d" handover | head -n 1) || soakNote "handover on node$d failed or was not answered"
                    fi ;;
            esac
            if [[ $target =~ ^[0-9]+$ ]]; then target=node$target; fi
            undone=$(( $(nowMs) - t0 ))
            until soakRingWhole; do
                if (( $(nowMs) >= start + every * 1000 - kSoakSettleMs )); then soakNote "ring not whole by the window's end"; break; fi
                sleep 0.3
            done
            soakRingWhole && whole=$(( $(nowMs) - t0 ))
        fi
        sleepUntilMs $((start + every * 1000 - kSoakSettleMs))
        after=$(soakDispatcher)
        soakSample "$w" end
        printf '{"window":%s,"startMs":%s,"fault":"%s","target":"%s","detail":%s,"injectedMs":%s,"undoneMs":%s,"wholeMs":%s,"dispatcherBefore":"%s","dispatcherAfter":"%s","notes":%s}\n' \
            "$w" $((start - t0)) "$kind" "$target" "$(jsonString "$detail")" "${injected:-null}" "${undone:-null}" \
            "${whole:-null}" "${before:+node$before}" "${after:+node$after}" "$(jsonString "$gSoakNote")" >>"$gSoakDir/windows.jsonl"
        info "soak: window $((w + 1))/$windows: ${kind}${target:+ ${target}}; dispatcher $(nodeOrNone "$before") -> $(nodeOrNone "$after")${gSoakNote:+ ($gSoakNote)}"
    done
    sleepUntilMs $((t0 + windows * every * 1000))
    # Each httperf ends 2 s (its timeout) after its last connection; timeout(1) bounds it anyway.
    wait "${gSoakLoadPids[@]}" 2>/dev/null || true
    gSoakLoadPids=()
    local report_rc=0
    python3 "$(dirname "$kSelf")/soak_report.py" "$gSoakDir" "${json_file:-}" "${max_errors:-}" || report_rc=$?
    case $report_rc in
        0) return 0 ;;
        1) exit 1 ;;
        *) die "soak: the report failed (status $report_rc); the run's files are in $gSoakDir" ;;
    esac
}
