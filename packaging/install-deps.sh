#!/usr/bin/env bash
# Installs every Debian 12 package SASHA needs to build, test and run its lab.
# Usage: packaging/install-deps.sh [build|full]   (default: full)
#   build  compilers, Qt 6, libpcap, libnet, toml++, libsystemd: enough to build and run unit tests
#   full   build + what the lab, integration tests, benchmarks and fuzz targets use (nginx, httperf,
#          haproxy, Xvfb; clang with libFuzzer, which is in libclang-rt-dev, only recommended by clang;
#          lintian, dpkg-dev, systemd (systemd-analyze), man-db, bsdextrautils (col) and bash-completion to build and
#          check the Debian packages: packaging/build-debs.sh, the packaging_debs test;
#          prometheus for promtool, which checks sashad's /metrics page; systemd also for the
#          private systemd-journald, journalctl and systemd-cat of the journal_fields test;
#          systemd-container for systemd-nspawn, which boots the package under systemd in lab_systemd)
set -euo pipefail
what=${1:-full}
build_pkgs=(build-essential cmake pkg-config ninja-build
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev libgl-dev
  libpcap-dev libnet1-dev libtomlplusplus-dev libsystemd-dev)
lab_pkgs=(iproute2 iputils-ping procps psmisc ethtool curl python3 nginx-light httperf haproxy nftables tcpdump
  xvfb xauth fonts-dejavu-core clang libclang-rt-dev
  lintian dpkg-dev systemd systemd-container man-db bsdextrautils bash-completion prometheus)
case "$what" in
  build) pkgs=("${build_pkgs[@]}") ;;
  full)  pkgs=("${build_pkgs[@]}" "${lab_pkgs[@]}") ;;
  *) echo "usage: $0 [build|full]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# nginx must not start a system-wide instance on install: the lab runs its own per namespace.
policy=/usr/sbin/policy-rc.d
restore_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; restore_policy=1
fi
trap '[ "$restore_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
