#!/bin/sh
# test/run.sh VARIANT — runs every test against build/VARIANT:
#   1. C unit tests (build/VARIANT/test/unit_*)
#   2. black-box tests (test/*.test.js, node's test runner) against the
#      real binary, started by test/lib/dongmul.js
#   3. (dev only) the static binary alone in an empty root (test/emptyroot.sh)
# Exits non-zero if anything failed.
set -u
variant=${1:-dev}
cd "$(dirname "$0")/.." || exit 2
fail=0

if [ "$variant" = asan ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

echo "== unit tests ($variant)"
for t in build/"$variant"/test/unit_*; do
  [ -x "$t" ] || continue
  "$t" || { echo "FAILED: $t"; fail=1; }
done

echo "== black-box tests ($variant)"
export DONGMUL_BIN="$PWD/build/$variant/dongmul"
files=$(ls test/*.test.js 2>/dev/null)
if [ -n "$files" ]; then
  # one file at a time keeps a 2-core machine from timing out servers
  # shellcheck disable=SC2086
  node --test --test-concurrency=1 $files || fail=1
fi

if [ "$variant" = dev ]; then
  echo "== empty root (static binary)"
  sh test/emptyroot.sh build/static/dongmul || fail=1
fi

[ "$fail" = 0 ] && echo "all tests passed ($variant)" || echo "SOME TESTS FAILED ($variant)"
exit "$fail"
