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
