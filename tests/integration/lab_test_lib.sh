# Shared helpers of the namespace-lab tests (lab_selftest.sh, lab_dispatcher.sh, lab_console.sh).
# Sourced, not run. The test sets `lab` (the sasha-lab script) and `failures=0` first; nodeCtl
# needs SASHACTL. Every wait is bounded.
# shellcheck shell=bash disable=SC2154 # lab, SASHACTL: set by the test that sources this

skip() { echo "SKIP: $*"; exit 77; }
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
note() { echo "     $*"; }
clientCurl() { "$lab" exec client -- curl -sS -m "${CURL_MAX_S:-2}" "$@" 2>/dev/null; }
nodeCtl() {   # nodeCtl K ARGS... : sashactl against nodeK's daemon
    local k=$1
    shift
    "$lab" exec "node$k" -- "$SASHACTL" --socket "/run/sasha-lab/node$k/run/sashad.sock" "$@" 2>/dev/null
}
jsonField() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1" 2>/dev/null; }
waitFor() {   # waitFor SECONDS COMMAND... : polls COMMAND every 0.2 s until it succeeds, at most SECONDS
    local deadline=$((SECONDS + $1))
    shift
    while ((SECONDS <= deadline)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    return 1
}
dispatcherOf() { nodeCtl "$1" --json status | jsonField '["dispatcher"]'; }
membersOf() { nodeCtl "$1" --json status | jsonField '["members"].__len__()'; }
ringOf() {   # ringOf K N : nodeK is a member of a ring of N with a dispatcher
    [[ $(membersOf "$1") == "$2" && -n $(dispatcherOf "$1") ]]
}
nodeIndex() { echo "${1##*.}"; }   # 10.77.0.K -> K

# printRingTrouble: after a failure, the nodes' warnings in time order (token timeouts, purges,
# a late ring thread, dropped transfers...), so a CI log that keeps no files still says which node
# was slow or lost what. At most the last 60 lines.
printRingTrouble() {
    local f k
    for f in /run/sasha-lab/node*/sashad.log; do
        [[ -e $f ]] || continue
        k=$(basename "$(dirname "$f")")
        grep -E ' (warning|critical):' "$f" | grep -vE 'fault injection is enabled' | sed "s/^/$k /"
    done | sort -k2,2 -s | tail -n 60 | sed 's/^/# /' || true
}

# ownLab NAME: for a test that makes its own lab: skips when a lab is already up (never tears
# down someone's lab), sets $tmp, and on exit (also on failure or a signal) kills the test's
# background jobs, keeps the nodes' sashad logs in SASHA_KEEP_LOGS=DIR if the test failed, takes
# the lab down and removes $tmp.
ownLab() {
    if [[ -e /run/sasha-lab/lab.env ]] || ip netns list | grep -qE '^sasha-(sw|client|router|node[0-9]+)( |$)'; then
        skip "a sasha lab is already up; this test will not tear it down (run: $lab down)"
    fi
    tmp=$(mktemp -d "/tmp/$1.XXXXXX")
    trap ownLabCleanup EXIT
    trap 'exit 1' INT TERM
}
# keepLogs RC: after a failure (RC not 0), the nodes' sashad logs into SASHA_KEEP_LOGS=DIR, if set.
# Before anything takes the lab down.
keepLogs() {
    local f
    if (($1 != 0)) && [[ -n ${SASHA_KEEP_LOGS:-} ]]; then
        mkdir -p "$SASHA_KEEP_LOGS"
        for f in /run/sasha-lab/node*/sashad.log; do [[ -e $f ]] && cp "$f" "$SASHA_KEEP_LOGS/$(basename "$(dirname "$f")").log"; done
    fi
    return 0
}
ownLabCleanup() {
    local rc=$?
    jobs -p | xargs -r kill 2>/dev/null
    if ((rc != 0 && rc != 77)); then printRingTrouble; fi
    keepLogs "$rc"
    "$lab" down >/dev/null 2>&1 || true
    rm -rf "$tmp"
    exit "$rc"
}
