#!/usr/bin/env bash
# The Debian packages (docs/packaging.md): cpack builds them from this build tree, dpkg unpacks
# them into a throwaway root with its own admin directory, and the test checks
#   - the file list: binaries, the unit, the sample config registered as a conffile (in the
#     package's DEBIAN/conffiles and in the root's dpkg database), man pages, bash completion,
#     sysusers.d, copyright and changelog; the console's .desktop file and icon;
#   - the unit: paths filled in (/usr/bin/sashad, /etc/sasha/sashad.toml), `systemd-analyze
#     verify` clean, and `systemd-analyze security --offline=yes` exposure at most kMaxExposure;
#   - the binaries run: --help of each, and `sashad --check` on the shipped config fails (no key,
#     an address not on this host) and passes once the key exists (0640, the package's mode) and
#     the address is local; every option of --help is in the man page;
#   - lintian reports no error tag, and in a hardened build (SASHA_HARDENING) no hardening tag
#     and no .comment section.
# Needs root (dpkg --root unpacks with owners); exit 77 = skipped. Removes the root it made, also
# on failure. Needs CPACK_CONFIG (the build's CPackConfig.cmake).
set -uo pipefail

readonly kMaxExposure=2.0   # the score docs/packaging.md gives
failures=0
skip() { echo "SKIP: $*"; exit 77; }
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
note() { echo "     $*"; }

[[ $(id -u) -eq 0 ]] || skip "packaging_debs needs root (dpkg --root keeps owners); run: sudo $0"
for tool in cpack dpkg dpkg-deb dpkg-shlibdeps lintian systemd-analyze man col; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (packaging/install-deps.sh full)"
done
[[ -n ${CPACK_CONFIG:-} && -f ${CPACK_CONFIG:-} ]] || { echo "FAIL - CPACK_CONFIG must name the build's CPackConfig.cmake"; exit 1; }

tmp=$(mktemp -d /tmp/packaging_debs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

if ! cpack --config "$CPACK_CONFIG" -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1; then
    cat "$tmp/cpack.log"
    echo "FAIL - cpack"
    exit 1
fi
deb=$(ls "$tmp"/out/sasha_*.deb 2>/dev/null | head -n 1)
console_deb=$(ls "$tmp"/out/sasha-console_*.deb 2>/dev/null | head -n 1)
[[ -n $deb ]] && pass "cpack built $(basename "$deb")" || { fail "no sasha_*.deb in $tmp/out"; exit 1; }
withConsole=0
if grep -q 'console' <<<"$(grep CPACK_COMPONENTS_ALL "$CPACK_CONFIG")"; then
    withConsole=1
    [[ -n $console_deb ]] && pass "cpack built $(basename "$console_deb")" || fail "no sasha-console_*.deb"
fi

# Control data.
dpkg-deb -e "$deb" "$tmp/control"
if [[ $(cat "$tmp/control/conffiles" 2>/dev/null) == /etc/sasha/sashad.toml ]]; then
    pass "DEBIAN/conffiles lists /etc/sasha/sashad.toml"
else
    fail "DEBIAN/conffiles is '$(cat "$tmp/control/conffiles" 2>/dev/null)'"
fi
depends=$(dpkg-deb -f "$deb" Depends)
note "sasha Depends: $depends"
for lib in libc6 libqt6core6 libpcap0.8 libnet1 libsystemd0 adduser; do
    [[ $depends == *"$lib"* ]] || fail "sasha's Depends lacks $lib (dpkg-shlibdeps)"
done
[[ $depends == *libqt6gui6* || $depends == *libqt6widgets6* ]] && fail "sasha depends on Qt GUI libraries: $depends"
if ((withConsole)); then
    cdepends=$(dpkg-deb -f "$console_deb" Depends)
    [[ $cdepends == *libqt6widgets6* && $cdepends == *libqt6charts6* ]] && pass "sasha-console depends on Qt Widgets and Charts" \
        || fail "sasha-console's Depends: $cdepends"
fi

# Unpack into a throwaway root with an initialised dpkg admin directory. --unpack only: the
# maintainer scripts would run in a chroot without adduser or systemd.
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
debs=("$deb")
((withConsole)) && [[ -n $console_deb ]] && debs+=("$console_deb")
if dpkg --root="$root" --force-depends --force-not-root --unpack "${debs[@]}" >"$tmp/dpkg.log" 2>&1; then
    pass "dpkg --root unpacked ${#debs[@]} package(s)"
else
    cat "$tmp/dpkg.log"
    fail "dpkg --root --unpack"
    exit 1
fi
conffiles=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}' sasha)
[[ $conffiles == *"/etc/sasha/sashad.toml "* ]] && pass "dpkg registered /etc/sasha/sashad.toml as a conffile" \
    || fail "dpkg's conffiles of sasha: '$conffiles'"

# A conffile stays NAME.dpkg-new until the package is configured (dpkg --unpack only).
expect=(
    usr/bin/sashad usr/bin/sashactl
    usr/lib/systemd/system/sashad.service
    usr/lib/sysusers.d/sasha.conf
    etc/sasha/sashad.toml.dpkg-new
    usr/share/man/man8/sashad.8.gz usr/share/man/man8/sashactl.8.gz
    usr/share/bash-completion/completions/sashactl
    usr/share/doc/sasha/copyright usr/share/doc/sasha/changelog.gz
    usr/share/doc/sasha/config.md usr/share/doc/sasha/packaging.md
)
((withConsole)) && expect+=(usr/bin/sasha-console usr/share/applications/sasha-console.desktop usr/share/man/man1/sasha-console.1.gz
    usr/share/icons/hicolor/scalable/apps/sasha-console.svg usr/share/doc/sasha-console/copyright)
missing=()
for f in "${expect[@]}"; do [[ -f $root/$f ]] || missing+=("$f"); done
((${#missing[@]} == 0)) && pass "all ${#expect[@]} expected files are installed" || fail "missing: ${missing[*]}"
stray=$(dpkg --root="$root" -L sasha | grep -vE '^/(\.|usr/bin|usr/lib/systemd|usr/lib/sysusers\.d|usr/lib|usr/share|etc/sasha|etc|usr)(/|$)' || true)
[[ -z $stray ]] && pass "nothing outside /usr and /etc/sasha" || fail "unexpected paths: $stray"
[[ $(stat -c %a "$root/usr/bin/sashad") == 755 ]] || fail "sashad's mode is $(stat -c %a "$root/usr/bin/sashad")"

# The unit.
unit=$root/usr/lib/systemd/system/sashad.service
if grep -qx 'ExecStart=/usr/bin/sashad --config /etc/sasha/sashad.toml' "$unit"; then
    pass "the unit starts /usr/bin/sashad with /etc/sasha/sashad.toml"
else
    fail "the unit's ExecStart: $(grep ExecStart= "$unit")"
fi
for line in Type=notify WatchdogSec=5 User=sasha 'AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN CAP_SYS_NICE' \
    'CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN CAP_SYS_NICE' ProtectSystem=strict; do
    grep -qx "$line" "$unit" || fail "the unit lacks '$line'"
done
# verify checks that ExecStart's binary and the man pages in Documentation= exist: it sees the
# throwaway root's through a copy of the unit whose paths point into the root, and MANPATH.
sed "s|/usr/bin/|$root/usr/bin/|g" "$unit" >"$tmp/sashad.service"
if MANPATH=$root/usr/share/man systemd-analyze verify "$tmp/sashad.service" >"$tmp/verify.log" 2>&1 && [[ ! -s $tmp/verify.log ]]; then
    pass "systemd-analyze verify is clean"
else
    cat "$tmp/verify.log"
    fail "systemd-analyze verify"
fi
systemd-analyze security --offline=yes "$tmp/sashad.service" >"$tmp/security.log" 2>&1
exposure=$(grep -oE 'Overall exposure level for sashad.service: [0-9.]+' "$tmp/security.log" | awk '{print $NF}')
if [[ -n $exposure ]] && awk -v e="$exposure" -v m="$kMaxExposure" 'BEGIN { exit !(e <= m) }'; then
    pass "systemd-analyze security --offline: exposure $exposure (at most $kMaxExposure)"
else
    tail -n 30 "$tmp/security.log"
    fail "systemd-analyze security --offline: exposure '${exposure:-none}', more than $kMaxExposure"
fi

# The binaries run, and the man pages tell what --help tells.
for bin in sashad sashactl; do
    if "$root/usr/bin/$bin" --help >"$tmp/$bin.help" 2>&1; then pass "$bin --help"; else fail "$bin --help"; fi
    zcat "$root/usr/share/man/man8/$bin.8.gz" | man -l - 2>/dev/null | col -b >"$tmp/$bin.man"
    for opt in $(grep -oE -- '--[a-z][a-z-]+' "$tmp/$bin.help" | sort -u); do
        grep -qE -- "$opt([^a-z-]|\$)" "$tmp/$bin.man" || fail "$bin.8 does not describe $opt (in $bin --help)"
    done
done
commands=$(sed -n '/^Commands:/,/^Options:/s/^  \([a-z]\+\).*/\1/p' "$tmp/sashactl.help" | sort -u)
(($(wc -w <<<"$commands") >= 10)) || fail "sashactl --help lists too few commands: $commands"
for cmd in $commands; do
    grep -qE "^ +$cmd( |$)" "$tmp/sashactl.man" || fail "sashactl.8 does not describe the command $cmd"
done
if ((withConsole)); then
    if QT_QPA_PLATFORM=offscreen "$root/usr/bin/sasha-console" --help >"$tmp/console.help" 2>&1; then pass "sasha-console --help"; else fail "sasha-console --help"; fi
    zcat "$root/usr/share/man/man1/sasha-console.1.gz" | man -l - 2>/dev/null | col -b >"$tmp/console.man"
    for opt in $(grep -oE -- '--[a-z][a-z-]+' "$tmp/console.help" | sort -u); do
        grep -qE -- "$opt([^a-z-]|\$)" "$tmp/console.man" || fail "sasha-console.1 does not describe $opt (in sasha-console --help)"
    done
fi
# The completion: commands, a fault's actions, options (bash-completion provides _init_completion).
if [[ -r /usr/share/bash-completion/bash_completion ]]; then
    # shellcheck disable=SC2016 # expanded by the inner bash
    completed=$(bash -c 'source /usr/share/bash-completion/bash_completion; source "$1" || exit 1
        t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _sashactl; echo "${COMPREPLY[*]}"; }
        t sashactl dr; t sashactl fault 10.0.0.1 h; t sashactl --js; t sashactl --socket /nonexistent st' \
        bash "$root/usr/share/bash-completion/completions/sashactl" 2>&1 | tr '\n' '|')
    [[ $completed == "drain|hang|--json|status|" ]] && pass "the bash completion completes commands, actions and options" \
        || fail "the bash completion gave '$completed', expected 'drain|hang|--json|status|'"
else
    fail "bash-completion is not installed (packaging/install-deps.sh full)"
fi

cfg=$root/etc/sasha/sashad.toml.dpkg-new
"$root/usr/bin/sashad" --config "$cfg" --check >"$tmp/check1.log" 2>&1
rc=$?
if ((rc == 2)) && grep -qE 'key_file|address' "$tmp/check1.log"; then
    pass "sashad --check refuses the shipped config as it is (exit 2: $(head -n 1 "$tmp/check1.log"))"
else
    fail "sashad --check on the shipped config: exit $rc, $(cat "$tmp/check1.log")"
fi
"$root/usr/bin/sashactl" keygen --output "$tmp/cluster.key" 2>/dev/null
chmod 0640 "$tmp/cluster.key"
sed -e 's|^address = .*|address = "127.0.0.1"|' -e "s|^key_file = .*|key_file = \"$tmp/cluster.key\"|" "$cfg" >"$tmp/local.toml"
if "$root/usr/bin/sashad" --config "$tmp/local.toml" --check >"$tmp/check2.log" 2>&1; then
    pass "sashad --check passes the shipped config with a local address and a 0640 key: $(cat "$tmp/check2.log")"
else
    fail "sashad --check with a local address and a key: $(cat "$tmp/check2.log")"
fi

# lintian: no error tag (warnings and the rest are explained in docs/packaging.md); in a build
# with the hardening flags (SASHA_HARDENING, the default), no hardening tag and no .comment.
lintian --fail-on error -I --pedantic "${debs[@]}" >"$tmp/lintian.log" 2>&1
rc=$?
sed 's/^/     lintian: /' "$tmp/lintian.log"
if ((rc == 0)) && ! grep -q '^E:' "$tmp/lintian.log"; then
    pass "lintian: no error tag ($(grep -c '^W:' "$tmp/lintian.log") warning(s))"
else
    fail "lintian reports errors (exit $rc)"
fi
if grep -q '^SASHA_HARDENING:BOOL=OFF' "$(dirname "$CPACK_CONFIG")/CMakeCache.txt" 2>/dev/null; then
    note "built with SASHA_HARDENING=OFF: lintian's hardening tags not checked"
elif grep -qE 'hardening-no-|binary-has-unneeded-section' "$tmp/lintian.log"; then
    fail "lintian: a binary lacks a hardening flag or keeps .comment: $(grep -E 'hardening-no-|binary-has-unneeded-section' "$tmp/lintian.log" | tr '\n' ' ')"
else
    pass "lintian: every binary has the hardening flags (fortify, bindnow, PIE) and no .comment"
fi

if ((failures > 0)); then
    echo "packaging_debs: $failures check(s) failed"
    exit 1
fi
echo "packaging_debs: all checks passed"
