#!/usr/bin/env bash
# Builds the Debian packages sasha and sasha-console and checks them with lintian
# (docs/packaging.md). Usage: packaging/build-debs.sh [BUILD_DIR]   (default: ./build)
# Configures BUILD_DIR if it is not yet, builds the packaged programs, runs cpack (prefix /usr,
# dependencies from dpkg-shlibdeps) and writes BUILD_DIR/packages/sasha_VERSION_ARCH.deb and
# sasha-console_VERSION_ARCH.deb and lintian's report, lintian.txt. Exit 1 if the build, cpack or
# lintian (an error tag; a hardening tag in a hardened build) fails.
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$src/build}
out=$build/packages

for tool in cmake cpack dpkg-deb dpkg-shlibdeps lintian; do
    command -v "$tool" >/dev/null || { echo "build-debs: '$tool' is missing (packaging/install-deps.sh full)" >&2; exit 1; }
done
if [[ ! -f $build/CMakeCache.txt ]]; then
    gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    cmake -S "$src" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
targets=(sashad sashactl sasha_changelog)
grep -q '^SASHA_BUILD_GUI:BOOL=OFF' "$build/CMakeCache.txt" || targets+=(sasha-console)
cmake --build "$build" --target "${targets[@]}"
rm -rf "$out"
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$out"
rm -rf "$out/_CPack_Packages"
debs=("$out"/*.deb)
echo "build-debs: built ${debs[*]}"
# Tags that remain are explained in docs/packaging.md ("lintian"). With the hardening flags
# (SASHA_HARDENING, the default) no binary may lack them, nor keep its .comment section.
lintian --fail-on error --info -I --pedantic "${debs[@]}" | tee "$out/lintian.txt"
if ! grep -q '^SASHA_HARDENING:BOOL=OFF' "$build/CMakeCache.txt" \
    && grep -E 'hardening-no-|binary-has-unneeded-section' "$out/lintian.txt"; then
    echo "build-debs: lintian says a binary lacks a hardening flag or keeps .comment (docs/packaging.md \"Hardening\")" >&2
    exit 1
fi
