#!/usr/bin/env bash
# As root: sashad's journal records (docs/metrics.md "Logs in the journal"), read back with
# journalctl from a private systemd-journald. In a mount namespace of its own (tmpfs over /run
# and /var/log/journal, so the host's journal is neither used nor touched) it starts
# systemd-journald, runs node A with stderr connected to the journal the way systemd connects a
# unit's (systemd-cat, JOURNAL_STREAM naming that stream) and node B, the dispatcher, with stderr
# to a file, kills B,
# and checks: A's lines are journal records with PRIORITY and SASHA_NODE/SASHA_EPOCH/SASHA_EVENT
# (journalctl SASHA_EVENT=dispatcher-elected, journalctl -p warning find them), none went through
# the plain stream, B's lines are today's stderr lines and B sent nothing to the journal.
# Exit 77 = skipped (not root, no systemd-journald/journalctl/systemd-cat/unshare).
set -uo pipefail
skip() { echo "SKIP: $*"; exit 77; }
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
failures=0

[[ $(id -u) == 0 ]] || skip "needs root (a private mount namespace for a private systemd-journald)"
journald=/lib/systemd/systemd-journald
[[ -x $journald ]] || skip "no $journald (Debian package systemd)"
for t in journalctl systemd-cat unshare python3; do command -v "$t" >/dev/null || skip "no $t"; done
: "${SASHAD:?set SASHAD to the sashad binary}" "${SASHACTL:?set SASHACTL to the sashactl binary}"
[[ -s /etc/machine-id ]] || skip "no /etc/machine-id (systemd-journald needs one)"

if [[ -z ${SASHA_JOURNAL_NS:-} ]]; then
    exec unshare --mount --propagation private env SASHA_JOURNAL_NS=1 "$0" "$@"
fi

# Inside the namespace from here: nothing below is visible to the host.
tmp=$(mktemp -d /tmp/journal_fields.XXXXXX)
jpid=
cleanup() {
    local rc=$?
    [[ -n ${apid:-} ]] && kill "$apid" 2>/dev/null
    [[ -n ${bpid:-} ]] && kill -9 "$bpid" 2>/dev/null
    [[ -n $jpid ]] && kill "$jpid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
mount -t tmpfs tmpfs /run || skip "cannot mount a tmpfs on /run in the namespace"
[[ -d /var/log/journal ]] && mount -t tmpfs tmpfs /var/log/journal
mkdir -p /run/systemd/journal /run/log
"$journald" >"$tmp/journald.log" 2>&1 &
jpid=$!
for _ in $(seq 100); do [[ -S /run/systemd/journal/socket && -S /run/systemd/journal/stdout ]] && break; sleep 0.05; done
[[ -S /run/systemd/journal/socket ]] || { cat "$tmp/journald.log"; skip "the private systemd-journald did not start"; }

"$SASHACTL" keygen --output "$tmp/cluster.key" >/dev/null || { fail "sashactl keygen"; exit 1; }
net="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))"
a="$net.2" b="$net.1" # B, the lower address, is the dispatcher: A takes over when B is killed
for n in a b; do
    addr=${!n}
    cat >"$tmp/$n.toml" <<TOML
[node]
address = "$addr"
port = 7400
name = "node-$n"
nice = 0
control_socket = "$tmp/$n.sock"
state_file = "$tmp/$n-state.json"
[cluster]
key_file = "$tmp/cluster.key"
seeds = ["$a:7400", "$b:7400"]
[health]
enabled = false
TOML
done

# A: stderr is a journal stream, and JOURNAL_STREAM says so (as systemd sets it for a unit).
systemd-cat -t sashad bash -c 'export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); exec "$0" --config "$1"' \
    "$SASHAD" "$tmp/a.toml" &
apid=$!
# B: stderr is a file; no journal.
"$SASHAD" --config "$tmp/b.toml" 2>"$tmp/b.log" &
bpid=$!
ring() { "$SASHACTL" --socket "$tmp/a.sock" --json status 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if len(d["members"])==int(sys.argv[1]) else 1)' "$1" 2>/dev/null; }
waitFor() { local deadline=$((SECONDS + $1)); shift; while ((SECONDS <= deadline)); do "$@" && return 0; sleep 0.2; done; return 1; }
if waitFor 10 ring 2; then pass "A and B formed a ring"; else fail "no ring of 2 within 10 s"; fi
kill -9 "$bpid"; wait "$bpid" 2>/dev/null; bpid=
if waitFor 10 ring 1; then pass "A re-formed alone after B was killed"; else fail "A did not re-form alone"; fi
sleep 0.5
journalctl --sync 2>/dev/null || sleep 1

records() { journalctl --no-pager -o json "$@" 2>/dev/null; }
count() { records "$@" | grep -c . ; }
field() { python3 -c 'import json,sys; print("\n".join(str(json.loads(l).get(sys.argv[1],"")) for l in sys.stdin if l.strip()))' "$1"; }

n=$(count SASHA_EVENT=dispatcher-elected SASHA_NODE="$a")
epochs=$(records SASHA_EVENT=dispatcher-elected SASHA_NODE="$a" | field SASHA_EPOCH | sort -u | tr '\n' ' ')
if ((n >= 2)) && (($(wc -w <<<"$epochs") >= 2)) && ! grep -qw 0 <<<"$epochs"; then
    pass "journalctl SASHA_EVENT=dispatcher-elected: $n records from A, epochs $epochs"
else
    fail "journalctl SASHA_EVENT=dispatcher-elected: $n records from A (2 in 2 epochs expected: B elected in the ring of 2, then A), epochs $epochs"
fi
warn=$(records -p warning SASHA_NODE="$a" | field SASHA_EVENT | sort -u | tr '\n' ' ')
if grep -qwE 'purge-started|token-timeout' <<<"$warn" && grep -qw member-lost <<<"$warn"; then
    pass "journalctl -p warning finds A's purge and the lost member (events: $warn)"
else
    fail "journalctl -p warning: events $warn (purge-started or token-timeout, and member-lost expected)"
fi
prio=$(records SASHA_EVENT=member-lost SASHA_NODE="$a" | field PRIORITY | sort -u | tr '\n' ' ')
[[ $prio == "4 " ]] && pass "member-lost has PRIORITY=4 (warning)" || fail "member-lost priorities: $prio"
info=$(records SASHA_EVENT=ring-formed SASHA_NODE="$a" | field PRIORITY | sort -u | tr '\n' ' ')
[[ $info == "6 " ]] && pass "ring-formed has PRIORITY=6 (info)" || fail "ring-formed priorities: $info"
msg=$(records SASHA_EVENT=ring-formed SASHA_NODE="$a" | field MESSAGE 2>/dev/null | head -1)
[[ $msg == "sasha.ring: ring-formed "* ]] && pass "MESSAGE without a time stamp: $msg" || fail "MESSAGE: $msg"
# Every line A wrote went through sd_journal_send: nothing arrived on the plain stream, whose
# records carry no SASHA_NODE.
plain=$(records SYSLOG_IDENTIFIER=sashad | python3 -c 'import json,sys; print(sum(1 for l in sys.stdin if l.strip() and "SASHA_NODE" not in json.loads(l)))')
total=$(count SASHA_NODE="$a")
((plain == 0 && total >= 10)) && pass "$total records from A, all structured; 0 plain stream lines" \
    || fail "$plain plain stream lines and $total structured records from A"
nb=$(count SASHA_NODE="$b")
((nb == 0)) && pass "B (stderr a file) sent nothing to the journal" || fail "B sent $nb records to the journal"
if grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12} sasha\.ring info: ring-formed ' "$tmp/b.log"; then
    pass "B's stderr has today's lines: $(grep -m1 'ring-formed' "$tmp/b.log")"
else
    fail "B's stderr lines changed: $(head -3 "$tmp/b.log")"
fi
((failures == 0)) || { echo "journald log:"; cat "$tmp/journald.log"; }
echo "$failures failure(s)"
((failures == 0))
