#!/bin/sh
# test/run.sh VARIANT — runs every test against $B/VARIANT (B: default build):
#   1. C unit tests ($B/VARIANT/test/unit_*)
#   2. black-box tests (test/*.test.js, node's test runner) against the
#      real binary, started by test/lib/dongmul.js
#   3. (dev only) the static binary alone in an empty root (test/emptyroot.sh)
#   and first (dev only) the source layout's rules (test/layers.js)
# test/run.sh static-ARCH EMULATOR — a cross (Raspberry Pi) build under a
#   static qemu-user: its C unit tests, then the smoke suite
#   (test/cross/smoke.test.js) with the binary in an empty root. The full
#   black-box suite is the dev and asan builds' job: the code is the same,
#   and under emulation it would take most of an hour.
# Exits non-zero if anything failed.
set -u
variant=${1:-dev}
cd "$(dirname "$0")/.." || exit 2
fail=0
bdir=${B:-build}   # make passes its B

case "$variant" in
static-*)
  emu=$(command -v "${2:?usage: test/run.sh static-ARCH EMULATOR}") || { echo "no $2 (vendor/deps.sh cross)"; exit 1; }
  t0=$(date +%s)
  echo "== unit tests ($variant, under $(basename "$emu"))"
  for t in "$bdir/$variant"/test/unit_*; do
    [ -x "$t" ] || continue
    "$emu" "$t" || { echo "FAILED: $t"; fail=1; }
  done
  echo "== smoke suite ($variant, in an empty root under $(basename "$emu"))"
  DONGMUL_BIN="$PWD/$bdir/$variant/dongmul" DONGMUL_EMU="$emu" \
    node --test --test-concurrency=1 test/cross/smoke.test.js || fail=1
  echo "($variant: $(($(date +%s) - t0)) s)"
  [ "$fail" = 0 ] && echo "all tests passed ($variant)" || echo "SOME TESTS FAILED ($variant)"
  exit "$fail" ;;
esac

if [ "$variant" = asan ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

if [ "$variant" = dev ]; then
  echo "== source layout (test/layers.js)"
  node test/layers.js || fail=1
fi

echo "== unit tests ($variant)"
for t in "$bdir/$variant"/test/unit_*; do
  [ -x "$t" ] || continue
  "$t" || { echo "FAILED: $t"; fail=1; }
done

echo "== black-box tests ($variant)"
export DONGMUL_BIN="$PWD/$bdir/$variant/dongmul"
files=$(ls test/*.test.js 2>/dev/null)
if [ -n "$files" ]; then
  # one file at a time keeps a 2-core machine from timing out servers
  # shellcheck disable=SC2086
  node --test --test-concurrency=1 $files || fail=1
fi

if [ "$variant" = dev ]; then
  echo "== empty root (static binary)"
  sh test/emptyroot.sh "$bdir/static/dongmul" || fail=1
fi

[ "$fail" = 0 ] && echo "all tests passed ($variant)" || echo "SOME TESTS FAILED ($variant)"
exit "$fail"
