#!/bin/sh
# Install what a make target needs and is missing, from Debian's packages.
# As root it runs apt-get; otherwise it names the packages and fails.
#   scripts/deps.sh build|test|bench|sanitize
set -eu
need_build="gcc make cmake"
# Optional: installed when we can, only named when we cannot (the build
# skips what needs them).  liblua5.4-dev: the embedded-interpreter example
# of the GIL (examples/seed/lua/).
optional="liblua5.4-dev pkg-config"
case "${1:-build}" in
build) pkgs="" ;;
test) pkgs="libcriterion-dev pkg-config" ;;
sanitize) pkgs="libcriterion-dev pkg-config" ;;
bench) pkgs="libglib2.0-dev pkg-config gnuplot-nox python3 python3-gevent python3-uvloop wrk liburing-dev" optional="" ;;
*) echo "usage: $0 build|test|bench|sanitize" >&2; exit 2 ;;
esac

missing=""
for tool in $need_build; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
opt_missing=""
for p in $optional; do
    case " $missing " in *" $p "*) continue ;; esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        opt_missing="$opt_missing $p"
done
if [ -n "$opt_missing" ] && ! { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }; then
    echo "pyconc: optional packages missing (their examples are skipped):$opt_missing" >&2
    opt_missing=""
fi
missing="$missing$opt_missing"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "pyconc: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "pyconc: missing packages:$missing" >&2
    echo "pyconc: install them with: sudo apt-get install$missing" >&2
    exit 1
fi
