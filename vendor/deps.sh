#!/bin/sh
# vendor/deps.sh: makes sure a Debian machine has what the build and the
# tests need. As root it installs what is missing; otherwise it prints the
# one command to run. The tests' npm packages come from test/package-lock.json.
# `deps.sh cross`: only what the Raspberry Pi binaries add (Debian's cross
# compilers, and qemu-user-static to run their tests: static, so it also
# runs inside the tests' empty root).
set -eu
missing=""
need() { # command package
  command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}
if [ "${1:-}" = cross ]; then
need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf
need qemu-aarch64-static qemu-user-static
need qemu-arm-static qemu-user-static
else
need musl-gcc musl-tools
need tclsh tcl
need patch patch
need xz xz-utils
need bzip2 bzip2
need flock util-linux
need curl curl
need openssl openssl
need unshare util-linux
need python3 python3
need sqlite3 sqlite3
need node nodejs
need npm npm
need pebble pebble   # the ACME test server (test/acme.test.js)
# the browser tests (test/browser.test.js): Debian's Chromium, driven by
# playwright-core, and CJK fonts so Korean text renders in its screenshots
need chromium chromium
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing="$missing fonts-noto-cjk"
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "deps: missing$missing. Run: sudo apt-get install$missing" >&2
    exit 1
  fi
fi
[ "${1:-}" = cross ] && exit 0
if [ -f test/package-lock.json ] && [ ! -f test/node_modules/.package-lock.json -o test/package-lock.json -nt test/node_modules/.package-lock.json ]; then
  echo "deps: npm ci in test/"
  (cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
