#!/usr/bin/env bash
# tests/install_check.sh — checks that an installed modtrain is usable by
# another project: installs BUILD_DIR into a temporary prefix, then builds and
# runs tests/install_consumer/consumer.c twice, with find_package(modtrain)
# and with pkg-config. Usage: bash tests/install_check.sh [BUILD_DIR]
# (default build). Exits non-zero on the first failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[ -d "$build" ] || { echo "install_check: no build directory $build" >&2; exit 1; }

tmp=$(mktemp -d /tmp/modtrain-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

echo "install_check: cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || {
  cat "$tmp/install.log"; exit 1; }
libdir=$(dirname "$(find "$prefix" -name 'libmodtrain.so' | head -n 1)")
[ -n "$libdir" ] && [ -f "$prefix/include/modtrain.h" ] || {
  echo "install_check: header or libmodtrain.so missing under $prefix" >&2; exit 1; }

# 1. CMake: find_package(modtrain) from the prefix.
echo "install_check: find_package(modtrain) consumer"
cmake -S "$root/tests/install_consumer" -B "$tmp/cmake-build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 || {
  cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/cmake-build" >"$tmp/cmake-build.log" 2>&1 || {
  cat "$tmp/cmake-build.log"; exit 1; }
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/cmake-build/consumer"

# 2. pkg-config: cc $(pkg-config --cflags --libs modtrain), as a Makefile user would.
echo "install_check: pkg-config consumer"
pcdir=$(dirname "$(find "$prefix" -name modtrain.pc | head -n 1)")
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
flags=$(pkg-config --cflags --libs modtrain)
echo "install_check: pkg-config --cflags --libs modtrain -> $flags"
case " $flags " in
  *" -I$prefix/"*) ;;
  *) echo "install_check: pkg-config flags do not point into $prefix" >&2; exit 1 ;;
esac
# shellcheck disable=SC2086 # flags are words by design
cc -std=c11 -Wall -Wextra -Werror "$root/tests/install_consumer/consumer.c" -o "$tmp/consumer-pc" \
  $flags
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/consumer-pc"
echo "install_check: ok"
