#!/usr/bin/env bash
# docs/deploy.md followed as written on three hand-built hosts (issue 9), not on sasha-lab's
# nodes. Each host is a systemd-nspawn container (systemd as PID 1, the root an overlay of the
# host's root on a tmpfs) in a network namespace of its own; a bridge is the cluster segment
# (10.0.0.0/24, the guide's addresses), a router namespace with the kernel's default ARP
# settings joins it to a client namespace on 10.0.1.0/24. The shell and TOML blocks are read from
# docs/deploy.md itself and run in the hosts, so the guide cannot drift from what is tested.
# What necessarily differs from real machines:
#   - the packages come from this build tree (cpack, as packaging/build-debs.sh runs it), not
#     from a separate build machine; the file name the guide installs must be the one built;
#   - `scp -p KEY root@node2:KEY` is a copy between the hosts' root directories;
#   - `sysctl --system` meets the distribution's kernel.* and fs.* keys, which a container may not
#     set (only /proc/sys/net is its own): those refusals, and only those, are let pass;
#   - the upgrade's sasha_NEW_amd64.deb is this tree's package with the version one higher;
#   - a /usr/sbin/policy-rc.d in the host's root (docker images have one) is removed from the
#     hosts' roots, as a Debian host has none;
#   - the hosts' address and default route (the guide's /etc/network/interfaces example) are set
#     with ip before the boot; the hosts boot basic.target and start nginx themselves (the guide
#     assumes a web server on every node; the host's nginx package serves a page naming the node);
#   - the router and the client are namespaces, not containers (the guide gives no commands for
#     them); veth's transmit offloads are off on both, as on any sasha-lab client (veth hands on
#     partial checksums that a real NIC would have filled in).
# Asserts, in the guide's order: the built package is the one the guide names; `apt install` of it;
# the key made, copied and owned as the guide says; the TOML block per node passes `sashad
# --check`; the host settings block applies; `systemctl enable --now sashad` returns with the node
# in the ring; `sashactl status`/`members` show the ring of 3; the client reaches the VIP through
# the router (which learned VIP -> VMAC by ARP) and every server that is not the dispatcher
# answers; the dispatcher's sashad killed (systemctl kill -s KILL) under httperf load: 0 errors,
# and the restarted node does not take the role back; the upgrade (a package one version newer,
# installed on the dispatcher under httperf load): sashad restarted, back in the ring, 0 errors;
# the troubleshooting commands (journalctl -u sashad -p warning, NRestarts, sashactl counters and
# events, ethtool -k) answer. Needs root; exit 77 = skipped. Removes the containers, overlays,
# namespaces and cgroups it made, also when it fails. Needs CPACK_CONFIG.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly doc=$here/../../docs/deploy.md
readonly kPrefix=sashadeploy          # namespaces sashadeploy-{sw,router,client,node1..3}
readonly kNodes=3
readonly kVip=10.0.0.200
readonly kVmac=02:5a:5a:00:00:01
readonly kRouterIp=10.0.0.254          # the guide's gateway
readonly kClientNet=10.0.1
readonly kRate=200                     # connections/s from httperf
readonly kLoadSeconds=12               # the dispatcher's sashad is killed 4 s in
failures=0

# shellcheck source-path=SCRIPTDIR source=lab_test_lib.sh
source "$here/lab_test_lib.sh"

[[ $(id -u) -eq 0 ]] || skip "lab_deploy needs root (network namespaces, overlay mounts, systemd-nspawn); run: sudo $0"
for tool in ip nginx ethtool curl httperf python3 systemd-nspawn nsenter cpack dpkg apt; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
[[ -x /lib/systemd/systemd ]] || skip "systemd is not installed (packaging/install-deps.sh full)"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || skip "the kernel has no overlay file system"
[[ -f ${CPACK_CONFIG:-} ]] || { echo "FAIL - CPACK_CONFIG must name the build's CPackConfig.cmake"; exit 1; }
[[ -f $doc ]] || { echo "FAIL - $doc is missing"; exit 1; }
ip netns list | grep -q "^$kPrefix-" && skip "namespaces $kPrefix-* exist (another lab_deploy runs, or one was left behind: ip netns del ...)"

# shellcheck source-path=SCRIPTDIR source=nspawn_lib.sh
source "$here/nspawn_lib.sh"
tmp=$(mktemp -d /tmp/lab_deploy.XXXXXX)
madeNs=()
leaders=()
loadPid=""
deployCleanup() {
    local rc=$? ns k
    [[ -n ${loadPid:-} ]] && kill "$loadPid" 2>/dev/null
    if ((rc != 0 && rc != 77)); then
        for ((k = 1; k <= kNodes; k++)); do
            [[ -n ${leaders[k]:-} ]] || continue
            echo "# node$k: journalctl -u sashad, last lines:"
            nsenter -t "${leaders[k]}" -a journalctl -u sashad --no-pager -n 15 -o short-monotonic 2>&1 | sed 's/^/# /'
        done
    fi
    containerCleanup
    for ns in "${madeNs[@]}"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$tmp"
    exit "$rc"
}
trap deployCleanup EXIT
trap 'exit 1' INT TERM

# docBlock LANG REGEX: the one fenced block of docs/deploy.md with info string LANG that has a line
# matching REGEX (Python), without its fences. Fails, saying so, unless exactly one matches.
docBlock() {
    python3 - "$doc" "$1" "$2" <<'EOF'
import re, sys
doc, lang, needle = sys.argv[1:4]
blocks, cur = [], None
for line in open(doc, encoding="utf-8"):
    if cur is None:
        m = re.match(r"^```(\w*)\s*$", line)
        if m:
            cur = (m.group(1), [])
    elif line.startswith("```"):
        blocks.append(cur)
        cur = None
    else:
        cur[1].append(line)
hits = [b for b in blocks if b[0] == lang and any(re.search(needle, l) for l in b[1])]
if len(hits) != 1:
    sys.exit(f"{doc}: {len(hits)} ```{lang} blocks have a line matching '{needle}', expected exactly 1")
sys.stdout.write("".join(hits[0][1]))
EOF
}
nodeNs() { echo "$kPrefix-node$1"; }
nodeRoot() { echo "$tmp/node$1/root"; }
# onNode K CMD...: CMD as root in host K (all its namespaces), with a clean login-like environment.
onNode() {
    local k=$1
    shift
    nsenter -t "${leaders[k]}" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}
# runBlock K SCRIPT LOG: a block of the guide run by bash -e in /root of host K.
runBlock() { onNode "$1" bash -euo pipefail -c "cd /root; $2" >"$3" 2>&1; }
ctl() { local k=$1; shift; onNode "$k" sashactl "$@" 2>/dev/null; }
inNs() { local ns=$1; shift; ip netns exec "$kPrefix-$ns" "$@"; }

# --- 1. The package ------------------------------------------------------------------------------
if ! cpack --config "$CPACK_CONFIG" -G DEB -D CPACK_COMPONENTS_ALL=daemon -B "$tmp/out" >"$tmp/cpack.log" 2>&1; then
    cat "$tmp/cpack.log"; echo "FAIL - cpack"; exit 1
fi
deb=$(ls "$tmp"/out/sasha_*.deb 2>/dev/null | head -n 1)
[[ -n $deb ]] || { echo "FAIL - cpack made no sasha_*.deb"; exit 1; }
installBlock=$(docBlock sh '^apt install \./sasha_[0-9]' 2>&1) || { fail "$installBlock"; exit 1; }
docDeb=$(grep -o 'sasha_[^ ]*\.deb' <<<"$installBlock")
if [[ $docDeb == "$(basename "$deb")" ]]; then
    pass "the guide installs $docDeb, the package this tree builds"
else
    fail "the guide installs '$docDeb', this tree builds $(basename "$deb")"
fi

# --- The hosts and their network -----------------------------------------------------------------
newNs() { ip netns add "$1" && madeNs+=("$1") && ip -n "$1" link set lo up; }
newNs "$kPrefix-sw" || { echo "FAIL - ip netns add"; exit 1; }
ip -n "$kPrefix-sw" link add br0 type bridge
ip -n "$kPrefix-sw" link set br0 up
cable() {   # cable NS: NS's eth0 on the cluster segment's bridge
    ip -n "$kPrefix-sw" link add "p-${1#"$kPrefix"-}" type veth peer name eth0 netns "$1" &&
        ip -n "$kPrefix-sw" link set "p-${1#"$kPrefix"-}" master br0 up && ip -n "$1" link set eth0 up
}
newNs "$kPrefix-router" && cable "$kPrefix-router" && newNs "$kPrefix-client" || { echo "FAIL - router and client namespaces"; exit 1; }
ip -n "$kPrefix-router" addr add "$kRouterIp/24" dev eth0
ip -n "$kPrefix-router" link add eth1 type veth peer name eth0 netns "$kPrefix-client"
ip -n "$kPrefix-router" addr add "$kClientNet.1/24" dev eth1
ip -n "$kPrefix-router" link set eth1 up
ip -n "$kPrefix-client" addr add "$kClientNet.100/24" dev eth0
ip -n "$kPrefix-client" link set eth0 up
ip -n "$kPrefix-client" route add default via "$kClientNet.1"
# A router as Linux makes one: forwarding on, the kernel's default ARP settings (set, since a new
# namespace copies the host's), so the VIP resolves only if someone answers its ARP request.
inNs router sysctl -qw net.ipv4.ip_forward=1
for dev in all default eth0 eth1; do
    inNs router sysctl -qw "net.ipv4.conf.$dev.arp_accept=0" "net.ipv4.conf.$dev.arp_ignore=0" \
        "net.ipv4.conf.$dev.arp_announce=0" "net.ipv4.conf.$dev.arp_filter=0"
done
inNs router ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1
inNs router ethtool -K eth1 tx off tso off gso off gro off >/dev/null 2>&1
inNs client ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1
for ((k = 1; k <= kNodes; k++)); do
    ns=$(nodeNs "$k")
    newNs "$ns" && cable "$ns" || { echo "FAIL - namespace $ns"; exit 1; }
    ip -n "$ns" addr add "10.0.0.$k/24" dev eth0
    ip -n "$ns" route add default via "$kRouterIp"
    containerRoot "$tmp/node$k" || { echo "FAIL - an overlay of / for node$k"; exit 1; }
    root=$(nodeRoot "$k")
    echo "node$k" >"$root/etc/hostname"
    # A host that never had sasha: no user from an earlier install in the host's root.
    if chroot "$root" getent passwd sasha >/dev/null; then userdel --root "$root" sasha >/dev/null 2>&1; fi
    chroot "$root" getent group sasha >/dev/null && groupdel --root "$root" sasha >/dev/null 2>&1
    rm -rf "$root/etc/sasha"
    # A Debian host has no policy-rc.d; a root made by docker build has one that forbids every
    # service action, and the upgrade would not restart sashad.
    rm -f "$root/usr/sbin/policy-rc.d"
    mkdir -p "$root/var/www/html" && echo "node$k" >"$root/var/www/html/index.html"
    cp "$deb" "$root/root/"
    containerBoot "$kPrefix-node$k" "$root" "$ns" "$tmp/node$k.console" || { fail "systemd-nspawn started no container for node$k"; exit 1; }
    leaders[k]=$containerLeader
done
for ((k = 1; k <= kNodes; k++)); do
    if waitFor 40 containerBooted "${leaders[k]}"; then
        onNode "$k" systemctl start nginx || { fail "node$k: systemctl start nginx"; exit 1; }
    else
        fail "node$k did not boot: $(onNode "$k" systemctl is-system-running 2>&1)"; tail -n 20 "$tmp/node$k.console"; exit 1
    fi
done
pass "$kNodes hosts booted systemd $(onNode 1 systemctl --version | awk 'NR==1 {print $2}') with nginx, a router and a client"

# --- 1. apt install on every node --------------------------------------------------------------
for ((k = 1; k <= kNodes; k++)); do
    if runBlock "$k" "$installBlock" "$tmp/install$k.log" </dev/null; then
        [[ $(onNode "$k" dpkg-query -W -f '${Status}' sasha) == "install ok installed" ]] \
            || fail "node$k: apt install ran, but sasha is '$(onNode "$k" dpkg-query -W -f '${Status}' sasha 2>&1)'"
    else
        fail "node$k: the guide's install block failed: $(tail -n 5 "$tmp/install$k.log")"; exit 1
    fi
done
pass "node1..$kNodes: $(tr '\n' ' ' <<<"$installBlock" | sed 's/  */ /g')"
[[ $(onNode 1 systemctl is-enabled sashad 2>&1) == disabled ]] && pass "the unit is installed, not enabled (as the guide says)" \
    || fail "systemctl is-enabled sashad: $(onNode 1 systemctl is-enabled sashad 2>&1)"

# --- 2. The key: made on node1, copied to the others (scp = cp between the hosts' roots) ----------
keyBlock=$(docBlock sh '^sashactl keygen' 2>&1) || { fail "$keyBlock"; exit 1; }
scpLine=$(grep '^scp ' <<<"$keyBlock")
ownLine=$(grep '^chown ' <<<"$keyBlock" | sed 's/ *#.*//')
keyPath=$(awk '{print $3}' <<<"$scpLine")
[[ $scpLine =~ ^scp\ -p\ /[^\ ]+\ root@node2:/ && -n $ownLine ]] \
    || { fail "the key block of the guide changed (no 'scp -p FILE root@node2:FILE' and 'chown' line); adapt this test: $keyBlock"; exit 1; }
runBlock 1 "$(grep -v '^scp ' <<<"$keyBlock")" "$tmp/key1.log" || { fail "node1: the key block: $(cat "$tmp/key1.log")"; exit 1; }
for ((k = 2; k <= kNodes; k++)); do
    cp -p "$(nodeRoot 1)$keyPath" "$(nodeRoot "$k")$keyPath"
    runBlock "$k" "$ownLine" "$tmp/key$k.log" || fail "node$k: '$ownLine': $(cat "$tmp/key$k.log")"
done
modes=$(for ((k = 1; k <= kNodes; k++)); do onNode "$k" stat -c '%U:%G %a' "$keyPath"; done | sort -u)
[[ $modes == "root:sasha 640" ]] && pass "$keyPath is root:sasha 640 on every node, the same key: $(md5sum "$(nodeRoot 1)$keyPath" "$(nodeRoot 2)$keyPath" "$(nodeRoot 3)$keyPath" | awk '{print $1}' | sort -u | wc -l) distinct" \
    || fail "the key's owner and mode: $modes"

# --- 3. The configuration: the guide's TOML, its address and name per node, node3 serve-only -------
tomlBlock=$(docBlock toml '^capabilities = ' 2>&1) || { fail "$tomlBlock"; exit 1; }
checkBlock=$(docBlock sh '^sashad --config .* --check' 2>&1) || { fail "$checkBlock"; exit 1; }
for ((k = 1; k <= kNodes; k++)); do
    toml=$tomlBlock
    toml=${toml/address = \"10.0.0.1\"/address = \"10.0.0.$k\"}
    toml=${toml/name = \"node1\"/name = \"node$k\"}
    ((k == 3)) && toml=${toml/capabilities = \[\"dispatch\", \"serve\"\]/capabilities = [\"serve\"]}
    grep -q "address = \"10.0.0.$k\"" <<<"$toml" && grep -q "name = \"node$k\"" <<<"$toml" \
        || { fail "the guide's TOML block has no address = \"10.0.0.1\" and name = \"node1\" to adapt"; exit 1; }
    printf '%s\n' "$toml" >"$(nodeRoot "$k")/etc/sasha/sashad.toml"
    runBlock "$k" "$checkBlock" "$tmp/check$k.log" || fail "node$k: sashad --check: $(cat "$tmp/check$k.log")"
done
grep -q 'capabilities = \["serve"\]' "$(nodeRoot 3)/etc/sasha/sashad.toml" || fail "node3's capabilities could not be set to [\"serve\"]"
((failures == 0)) && pass "the guide's TOML (address and name per node, node3 [\"serve\"]) passes sashad --check: $(head -n 1 "$tmp/check1.log")"

# --- 4. Host settings ----------------------------------------------------------------------------
hostBlock=$(docBlock sh '^sysctl --system' 2>&1) || { fail "$hostBlock"; exit 1; }
# In a container only /proc/sys/net is writable: `sysctl --system` also meets the distribution's
# kernel.* and fs.* keys, refused there (not on a real host), and exits 1. Those refusals are let
# pass; one on a net.* key is not.
grep -qx 'sysctl --system' <<<"$hostBlock" || { fail "the host settings block has no line 'sysctl --system'; adapt this test"; exit 1; }
hostBlock=$(sed 's|^sysctl --system$|sysctl --system >/root/sysctl-system.log 2>\&1 \|\| ! grep "denied on key \\"net\\." /root/sysctl-system.log|' <<<"$hostBlock")
for ((k = 1; k <= kNodes; k++)); do
    runBlock "$k" "$hostBlock" "$tmp/host$k.log" \
        || fail "node$k: the host settings block: $(tail -n 5 "$tmp/host$k.log"; grep denied "$(nodeRoot "$k")/root/sysctl-system.log")"
    v=$(onNode "$k" sysctl -n net.ipv4.conf.eth0.arp_ignore net.ipv4.conf.eth0.rp_filter | tr '\n' ' ')
    [[ $v == "1 2 " ]] || fail "node$k: eth0 arp_ignore/rp_filter are '$v'"
    onNode "$k" ip -4 addr show dev lo | grep -q "inet $kVip/32" || fail "node$k: the VIP is not on lo"
    [[ $(onNode "$k" ethtool -k eth0 | awk '/^generic-receive-offload:/ {print $2}') == off ]] || fail "node$k: GRO is still on"
done
((failures == 0)) && pass "the host settings block applied on every node (arp_ignore 1, rp_filter 2 on eth0, the VIP on lo, GRO off)"

# --- 5. Start ------------------------------------------------------------------------------------
startBlock=$(docBlock sh '^systemctl enable --now sashad' 2>&1) || { fail "$startBlock"; exit 1; }
for ((k = 1; k <= kNodes; k++)); do
    t0=$(date +%s%N)
    if runBlock "$k" "$startBlock" "$tmp/start$k.log"; then
        note "node$k: the start block took $((($(date +%s%N) - t0) / 1000000)) ms; systemctl is-active: $(onNode "$k" systemctl is-active sashad)"
    else
        fail "node$k: the start block: $(tail -n 8 "$tmp/start$k.log")"; exit 1
    fi
done
sed 's/^/     node3$ /' "$tmp/start3.log"
members() { ctl "$1" --json status | jsonField '["members"].__len__()'; }
allInRing() { local k; for ((k = 1; k <= kNodes; k++)); do [[ $(members "$k") == "$kNodes" ]] || return 1; done; }
if waitFor 10 allInRing; then pass "every node sees the ring of $kNodes (sashactl --json status)"; else fail "no ring of $kNodes: $(ctl 1 members)"; exit 1; fi
[[ $(ctl 3 members | grep -cE '^10\.0\.0\.[123] ') == "$kNodes" ]] && pass "sashactl members on node3 lists 10.0.0.1..3" || fail "sashactl members: $(ctl 3 members)"
dispatcher=$(ctl 2 --json status | jsonField '["dispatcher"]')
[[ $dispatcher == 10.0.0.1 ]] && pass "node1 (the lowest dispatch-capable address) dispatches" || fail "the dispatcher is '$dispatcher', not 10.0.0.1"
statusLine=$(onNode 1 systemctl show sashad -p StatusText --value)
[[ -n $statusLine ]] && pass "systemctl status sashad shows: $statusLine" || fail "no status line from sashad"

# --- The VIP from the client, through the router --------------------------------------------------
bodies=$(for ((i = 0; i < 30; i++)); do inNs client curl -sS -m 2 "http://$kVip/"; done 2>&1 | sort | uniq -c | tr '\n' ' ')
note "30 x curl http://$kVip/ from the client: $bodies"
for want in node2 node3; do
    grep -qw "$want" <<<"$bodies" || fail "no answer from $want through the VIP: $bodies"
done
grep -qw node1 <<<"$bodies" && fail "node1 (the dispatcher, serve_while_dispatching = false) answered new connections: $bodies"
grep -q 'curl:' <<<"$bodies" && fail "curl failed through the VIP: $bodies"
neigh=$(inNs router ip neigh show "$kVip")
[[ $neigh == *"lladdr $kVmac"* ]] && pass "the router resolved the VIP by ARP: $neigh" || fail "the router's entry for the VIP: '$neigh'"
((failures == 0)) && pass "the client reaches every server that is not the dispatcher through router and VIP"

# --- The dispatcher's sashad killed under load ----------------------------------------------------
startLoad() {   # startLoad NAME: httperf from the client to the VIP in the background, report in $tmp/NAME.txt
    inNs client timeout $((kLoadSeconds + 30)) httperf --hog --timeout 2 --server "$kVip" --port 80 --uri / \
        --rate "$kRate" --num-conns $((kRate * kLoadSeconds)) --num-calls 1 >"$tmp/$1.txt" 2>&1 &
    loadPid=$!
}
checkLoad() {   # checkLoad NAME WHAT: waits for the load and asserts 0 errors, every connection answered
    local total replies errors
    wait "$loadPid"
    loadPid=""
    total=$(sed -n -E 's/^Total: connections ([0-9]+) .*/\1/p' "$tmp/$1.txt")
    replies=$(sed -n -E 's/^Reply status: 1xx=[0-9]+ 2xx=([0-9]+) .*/\1/p' "$tmp/$1.txt")
    errors=$(sed -n -E 's/^Errors: total ([0-9]+) .*/\1/p' "$tmp/$1.txt")
    note "httperf $kRate cps x $kLoadSeconds s: $total connections, $replies 2xx, $(grep '^Errors: total' "$tmp/$1.txt")"
    [[ $errors == 0 && $total =~ ^[0-9]+$ && $replies == "$total" ]] && ((total > 0)) \
        && pass "0 httperf errors across $2" || fail "httperf across $2: $total connections, $replies replies, $errors errors"
}
startLoad kill
sleep 4
onNode 1 systemctl kill -s KILL sashad
elected() { [[ $(ctl 2 --json status | jsonField '["dispatcher"]') == 10.0.0.2 ]]; }
waitFor 5 elected && pass "node1's sashad killed (systemctl kill -s KILL sashad): node2 dispatches" || note "node2 was not seen dispatching: $(ctl 2 status | head -n 3)"
checkLoad kill "the dispatcher's kill"
back() { [[ $(members 1) == "$kNodes" ]]; }
waitFor 15 back && pass "systemd restarted node1's sashad (Restart=on-failure) and it rejoined" \
    || fail "node1 did not rejoin: $(onNode 1 systemctl is-active sashad)"
# The guide: the lowest address dispatches when the ring forms, and no node takes the role back.
dispatcher=$(ctl 1 --json status | jsonField '["dispatcher"]')
[[ $dispatcher == 10.0.0.2 ]] && pass "node2 keeps the role after node1 came back (no preemption)" || fail "after node1 came back the dispatcher is '$dispatcher'"

# --- 7. Upgrade: a newer package on the dispatcher, under load -------------------------------------
upgradeBlock=$(docBlock sh '^apt install \./sasha_NEW' 2>&1) || { fail "$upgradeBlock"; exit 1; }
version=$(dpkg-deb -f "$deb" Version)
newVersion=${version%.*}.$((${version##*.} + 1))
if cpack --config "$CPACK_CONFIG" -G DEB -D CPACK_COMPONENTS_ALL=daemon -D "CPACK_PACKAGE_VERSION=$newVersion" -B "$tmp/new" >"$tmp/cpack-new.log" 2>&1 \
    && newDeb=$(ls "$tmp"/new/sasha_"$newVersion"_*.deb 2>/dev/null | head -n 1) && [[ -n $newDeb ]]; then
    cp "$newDeb" "$(nodeRoot 2)/root/"
    upgradeBlock=${upgradeBlock//sasha_NEW_amd64.deb/$(basename "$newDeb")}
    pidBefore=$(onNode 2 systemctl show sashad -p MainPID --value)
    startLoad upgrade
    sleep 3
    runBlock 2 "$upgradeBlock" "$tmp/upgrade.log" </dev/null || fail "node2: the upgrade block: $(tail -n 5 "$tmp/upgrade.log")"
    backAll() { [[ $(members 2) == "$kNodes" && $(members 1) == "$kNodes" ]]; }
    waitFor 15 backAll && pass "node2 upgraded to $(onNode 2 dpkg-query -W -f '${Version}' sasha) and back in the ring of $kNodes (sashactl members)" \
        || fail "node2 is not back in the ring after the upgrade: $(ctl 2 members)"
    pidAfter=$(onNode 2 systemctl show sashad -p MainPID --value)
    [[ $pidAfter != "$pidBefore" && $pidAfter != 0 ]] && pass "installing the new package restarted sashad on node2 (pid $pidBefore -> $pidAfter)" \
        || fail "sashad on node2 was not restarted by the upgrade (pid $pidBefore -> $pidAfter)"
    checkLoad upgrade "the dispatcher's upgrade (handed over to $(ctl 1 --json status | jsonField '["dispatcher"]'))"
else
    fail "cpack of version $newVersion: $(tail -n 5 "$tmp/cpack-new.log")"
fi

# --- 8. Troubleshooting commands ------------------------------------------------------------------
restarts=$(onNode 1 systemctl show sashad -p NRestarts)
[[ $restarts == NRestarts=1 ]] && pass "systemctl show sashad -p NRestarts on node1: $restarts" || fail "node1: $restarts"
warnings=$(onNode 2 journalctl -u sashad -p warning --no-pager -o cat 2>&1)
if grep -q '10.0.0.1\|node1' <<<"$warnings"; then
    pass "journalctl -u sashad -p warning on node2: $(grep -m1 '10.0.0.1\|node1' <<<"$warnings")"
else
    fail "journalctl -u sashad -p warning on node2 names no lost node1: $(tail -n 3 <<<"$warnings")"
fi
elections=$(onNode 2 journalctl SASHA_EVENT=dispatcher-elected --no-pager -o cat 2>&1 | wc -l)
((elections >= 1)) && pass "journalctl SASHA_EVENT=dispatcher-elected on node2: $elections line(s)" || fail "no SASHA_EVENT=dispatcher-elected on node2"
for cmd in counters events; do
    out=$(ctl 2 "$cmd") && [[ -n $out ]] && pass "sashactl $cmd answers ($(wc -l <<<"$out") lines)" || fail "sashactl $cmd: $out"
done
arpLine=$(ctl "$(($(ctl 2 --json status | jsonField '["dispatcher"]' | sed 's/.*\.//')))" status | grep -i 'arp')
[[ -n $arpLine ]] && pass "sashactl status on the dispatcher has the arp line: $(sed 's/^ *//' <<<"$arpLine")" || fail "no arp line in the dispatcher's sashactl status"

if ((failures > 0)); then
    echo "lab_deploy: $failures check(s) failed"
    exit 1
fi
echo "lab_deploy: all checks passed"
