#!/usr/bin/env bash
# The packaged daemon's privileges are enough (issue 9): on a 3-node namespace lab, node1's sashad
# is restarted under setpriv with exactly the systemd unit's user and capabilities, read from
# packaging/sashad.service.in (User=, AmbientCapabilities=, CapabilityBoundingSet=,
# NoNewPrivileges=): the user sasha (a throwaway system user when the host has none, removed
# after), ambient = bounding = CAP_NET_RAW CAP_NET_ADMIN CAP_SYS_NICE, no new privileges, the
# cluster key root:sasha 0640 as the package's postinst leaves it. Then
#   1. the process has exactly that uid and those capabilities, and [node] nice = -10 took effect;
#   2. it joins the ring as a server, and under httperf load the dispatcher (node2) is killed: the
#      ring elects node1, which captures, injects and rebuilds the connection map from the agents'
#      reports (its own agent dumps its sockets with sock_diag as the user sasha): 0 httperf
#      errors, frames forwarded, no injection error, the reconstruction complete.
# Needs root; exit 77 = skipped. Removes the lab and the user it made, also when it fails
# (SASHA_KEEP_LOGS=DIR keeps the nodes' sashad logs of a failed run there). Needs SASHAD,
# SASHACTL and SASHA_UNIT (the unit template).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab=${SASHA_LAB:-$here/../../lab/sasha-lab}
readonly lab
readonly kRate=${SASHA_UNPRIV_RATE:-300}   # connections/s from httperf
readonly kLoadSeconds=14                    # the dispatcher is killed 5 s in
failures=0

# shellcheck source-path=SCRIPTDIR source=lab_test_lib.sh
source "$here/lab_test_lib.sh"

[[ $(id -u) -eq 0 ]] || skip "lab_unprivileged needs root (network namespaces, a system user, setpriv); run: sudo $0"
for tool in ip nginx ethtool curl httperf python3 setpriv useradd userdel; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
[[ -n ${SASHAD:-} && -x ${SASHAD:-} && -n ${SASHACTL:-} && -x ${SASHACTL:-} && -r ${SASHA_UNIT:-} ]] \
    || { echo "FAIL - SASHAD, SASHACTL and SASHA_UNIT must name the built binaries and the unit template"; exit 1; }

# The unit's identity and capabilities, as systemd would apply them.
unitValue() { sed -n "s/^$1=//p" "$SASHA_UNIT" | tail -n 1; }
user=$(unitValue User)
ambient=$(unitValue AmbientCapabilities)
bounding=$(unitValue CapabilityBoundingSet)
[[ -n $user && -n $ambient ]] || { echo "FAIL - no User= or AmbientCapabilities= in $SASHA_UNIT"; exit 1; }
[[ $(unitValue NoNewPrivileges) == yes ]] || { echo "FAIL - $SASHA_UNIT lacks NoNewPrivileges=yes"; exit 1; }
# setpriv's form: CAP_NET_RAW CAP_NET_ADMIN -> -all,+net_raw,+net_admin
setprivCaps() { local c out=-all; for c in $1; do c=${c#CAP_}; out+=",+${c,,}"; done; echo "$out"; }
# The kernel's mask of a capability list (capability numbers from linux/capability.h).
declare -A kCapBit=([CAP_NET_ADMIN]=12 [CAP_NET_RAW]=13 [CAP_SYS_NICE]=23)
capMask() {
    local c mask=0
    for c in $1; do
        [[ -n ${kCapBit[$c]:-} ]] || { echo "unknown-$c"; return; }
        mask=$((mask | (1 << kCapBit[$c])))
    done
    printf '%016x' "$mask"
}
ambientMask=$(capMask "$ambient")
boundingMask=$(capMask "$bounding")

ownLab lab_unprivileged
madeUser=0
unprivPid=""
unprivCleanup() {
    local rc=$?
    if [[ -n $unprivPid ]]; then kill -KILL "$unprivPid" 2>/dev/null; fi
    keepLogs "$rc"   # the lab goes down below, before ownLabCleanup would keep them
    if ((madeUser)); then
        "$lab" down >/dev/null 2>&1 || true   # no process of the user may survive its removal
        userdel "$user" >/dev/null 2>&1 || echo "     could not remove the throwaway user $user"
        getent group "$user" >/dev/null && groupdel "$user" >/dev/null 2>&1
    fi
    (exit "$rc")
    ownLabCleanup
}
trap unprivCleanup EXIT
if ! getent passwd "$user" >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user" \
        || { echo "FAIL - useradd $user"; exit 1; }
    madeUser=1
    note "created the throwaway system user $user (removed at the end)"
fi

if ! "$lab" up --nodes 3 >"$tmp/up.log" 2>&1; then
    cat "$tmp/up.log"
    echo "FAIL - sasha-lab up"
    exit 1
fi
allMembers() { local k; for k in 1 2 3; do ringOf "$k" 3 || return 1; done; }
if waitFor 15 allMembers; then pass "3 nodes form a ring with a dispatcher"; else fail "ring of 3 did not form"; exit 1; fi

# node1's sashad leaves (SIGTERM: graceful), node2 dispatches.
node1Dir=/run/sasha-lab/node1
kill -TERM "$(cat "$node1Dir/sashad.pid")"
gone() { ! kill -0 "$(cat "$node1Dir/sashad.pid")" 2>/dev/null; }
waitFor 10 gone || { fail "node1's sashad did not stop on SIGTERM"; exit 1; }
waitFor 10 ringOf 2 2 || { fail "no ring of 2 after node1 left"; exit 1; }
[[ $(dispatcherOf 2) == 10.77.0.2 ]] && pass "node1 left; node2 dispatches" || fail "dispatcher after node1 left: $(dispatcherOf 2)"

# What the package and the unit give the daemon: the key root:USER 0640, the control socket's
# directory (RuntimeDirectory=) and the state directory (StateDirectory=) owned by USER.
unpriv=$tmp/unpriv
chmod 711 "$tmp"
mkdir -m 755 "$unpriv"
install -o root -g "$user" -m 0640 /run/sasha-lab/cluster.key "$unpriv/cluster.key"
install -d -o "$user" -g "$user" -m 0700 "$unpriv/state"
chown "$user:$user" "$node1Dir/run"
sed -e "s|^key_file = .*|key_file = \"$unpriv/cluster.key\"|" \
    -e "s|^state_file = .*|state_file = \"$unpriv/state/state.json\"|" \
    -e '/^\[node\]/a nice = -10' "$node1Dir/sashad.toml" >"$unpriv/sashad.toml"
chmod 644 "$unpriv/sashad.toml"
privs=(setpriv "--reuid=$user" "--regid=$user" --init-groups
    "--inh-caps=$(setprivCaps "$ambient")" "--ambient-caps=$(setprivCaps "$ambient")"
    "--bounding-set=$(setprivCaps "$bounding")" --no-new-privs --)
note "node1: ${privs[*]} $SASHAD --config $unpriv/sashad.toml"
if ip netns exec sasha-node1 "${privs[@]}" "$SASHAD" --config "$unpriv/sashad.toml" --check >"$tmp/check.log" 2>&1; then
    pass "sashad --check passes as $user: $(cat "$tmp/check.log")"
else
    fail "sashad --check as $user: $(cat "$tmp/check.log")"
fi
rm -f "$node1Dir/sashad.pid"
# shellcheck disable=SC2016 # expanded by the inner shell
ip netns exec sasha-node1 setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$node1Dir/sashad.pid" \
    "${privs[@]}" "$SASHAD" --config "$unpriv/sashad.toml" </dev/null >>"$node1Dir/sashad.log" 2>&1 &
disown   # killed by pid at the end, not as one of the test's jobs
waitFor 5 test -s "$node1Dir/sashad.pid"
unprivPid=$(cat "$node1Dir/sashad.pid")
waitFor 5 grep -q 'sashad .* running' "$node1Dir/sashad.log"

# 1. Exactly the unit's identity and capabilities, and the niceness.
status=/proc/$unprivPid/status
uid=$(id -u "$user")
if [[ $(awk '/^Uid:/ {print $2, $3, $4, $5}' "$status") == "$uid $uid $uid $uid" ]]; then
    pass "node1's sashad runs as $user (uid $uid), its comm is $(cat "/proc/$unprivPid/comm")"
else
    fail "node1's sashad uids: $(grep '^Uid:' "$status")"
fi
caps=$(awk '/^Cap(Prm|Eff|Amb|Bnd):/ {printf "%s=%s ", $1, $2}' "$status")
want="CapPrm:=$ambientMask CapEff:=$ambientMask CapBnd:=$boundingMask CapAmb:=$ambientMask "
[[ $caps == "$want" ]] && pass "capabilities exactly the unit's ($ambient): $caps" || fail "capabilities: $caps; expected $want"
[[ $(awk '/^NoNewPrivs:/ {print $2}' "$status") == 1 ]] && pass "no new privileges" || fail "NoNewPrivs is not set"
nice=$(ps -o ni= -p "$unprivPid" | tr -d ' ')
if [[ $nice == -10 ]] && ! grep -q 'cannot set \[node\] nice' "$node1Dir/sashad.log"; then
    pass "[node] nice = -10 took effect with CAP_SYS_NICE (nice $nice)"
else
    fail "nice is '$nice'; $(grep 'cannot set \[node\] nice' "$node1Dir/sashad.log" | tail -n 1)"
fi
if waitFor 10 allMembers; then pass "node1 ($user) is back in the ring of 3"; else fail "node1 did not rejoin"; exit 1; fi

# 2. Failover onto node1 under load: the dispatcher's sashad is killed; nginx on node2 serves on.
"$lab" load --rate "$kRate" --duration "$kLoadSeconds" --json >"$tmp/load.json" 2>/dev/null &
loadPid=$!
sleep 5
"$lab" fault node2 daemon-kill >/dev/null
elected() { [[ $(dispatcherOf 1) == 10.77.0.1 && $(nodeCtl 1 --json status | jsonField '["dataPath"]["running"]') == True ]]; }
if waitFor 10 elected; then pass "node1 ($user) is elected and its data path runs"; else fail "node1 was not elected: $(nodeCtl 1 status)"; fi
wait "$loadPid"
errors=$(jsonField '["errors"]["total"]' <"$tmp/load.json")
conns=$(jsonField '["connections"]' <"$tmp/load.json")
note "httperf ${kRate} cps x ${kLoadSeconds} s, node2's sashad killed at 5 s: $conns connections, $errors errors"
[[ $errors == 0 && $conns =~ ^[0-9]+$ ]] && ((conns > 0)) && pass "0 httperf errors across the failover onto node1" \
    || fail "httperf: $conns connections, $errors errors; $(cat "$tmp/load.json")"
st=$(nodeCtl 1 --json status)
forwarded=$(jsonField '["dataPath"]["fastPath"]["forwarded"]' <<<"$st")
injected=$(jsonField '["dataPath"]["thread"]["injected"]' <<<"$st")
injectErrors=$(jsonField '["dataPath"]["thread"]["injectErrors"]' <<<"$st")
captured=$(jsonField '["dataPath"]["thread"]["captured"]' <<<"$st")
recon=$(jsonField '["dataPath"]["reconstruction"]' <<<"$st")
summary=$(jsonField '["dataPath"]["reconstructionSummary"]' <<<"$st")
note "node1: captured $captured, forwarded $forwarded, injected $injected, inject errors $injectErrors; reconstruction $recon: $summary"
[[ $forwarded =~ ^[0-9]+$ ]] && ((forwarded > 0)) && [[ $injected =~ ^[0-9]+$ ]] && ((injected > 0)) \
    && pass "node1 ($user) captured and injected frames" || fail "node1 forwarded '$forwarded', injected '$injected'"
[[ $injectErrors == 0 ]] && pass "no injection error" || fail "injection errors: $injectErrors"
[[ $recon == complete ]] && pass "the reconstruction completed ($summary)" || fail "reconstruction: '$recon' ($summary)"
events=$(nodeCtl 1 --json events --limit 2000)
kinds() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(e.get("kind","") for e in d.get("events",[])))' <<<"$events" 2>/dev/null; }
evk=$(kinds)
[[ " $evk " == *" connections-reported "* ]] && pass "node1's agent ($user) reported its connections (sock_diag)" \
    || fail "no connections-reported event on node1: $(tr ' ' '\n' <<<"$evk" | sort | uniq -c | tr '\n' ' ')"
[[ " $evk " == *" query-failed "* || " $evk " == *" dispatcher-failed "* ]] && fail "node1 logged query-failed or dispatcher-failed"
if grep -qiE 'permission denied|needs CAP_' "$node1Dir/sashad.log"; then
    fail "node1's log names a missing privilege: $(grep -iE 'permission denied|needs CAP_' "$node1Dir/sashad.log" | head -n 3)"
else
    pass "node1's log names no missing privilege"
fi

if ((failures > 0)); then
    echo "lab_unprivileged: $failures check(s) failed"
    exit 1
fi
echo "lab_unprivileged: all checks passed"
