#!/bin/sh
# vendor/fetch_npm.sh OUTDIR
#
# Fetches the browser libraries pinned in vendor/lock (lines "npm:NAME
# VERSION TARBALL SHA256") with `npm pack NAME@VERSION` from the registry
# npm is configured with, verifies each tarball's sha256 and unpacks it to
# OUTDIR/npm/NAME/ (the package's own files: dist/..., package.json).
# Tarballs are cached in $DONGMUL_VENDOR_CACHE (default OUTDIR/cache), so
# a second run fetches nothing. Writes OUTDIR/npm/.stamp last.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: vendor/fetch_npm.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${DONGMUL_VENDOR_CACHE:-$out/cache}
mkdir -p "$cache" "$out/npm"

die() { echo "vendor/fetch_npm.sh: $*" >&2; exit 1; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

grep '^npm:' "$here/lock" | while read -r pkg ver tarball sum; do
  name=${pkg#npm:}
  if ! sha_ok "$cache/$tarball" "$sum"; then
    command -v npm >/dev/null || die "npm is needed to fetch $name $ver (apt-get install npm)"
    echo "vendor: fetching $name $ver (npm pack)"
    tmp=$(mktemp -d "$cache/npm-XXXXXX")
    (cd "$tmp" && npm pack "$name@$ver" --silent >/dev/null) || { rm -rf "$tmp"; die "npm pack $name@$ver failed"; }
    [ -f "$tmp/$tarball" ] || { rm -rf "$tmp"; die "npm pack $name@$ver did not produce $tarball"; }
    mv "$tmp/$tarball" "$cache/$tarball"
    rm -rf "$tmp"
    sha_ok "$cache/$tarball" "$sum" || die "$name: $tarball does not match the sha256 pinned in vendor/lock"
  fi
  rm -rf "$out/npm/$name" "$out/npm/tmp-$name"
  mkdir -p "$out/npm/tmp-$name"
  tar -xzf "$cache/$tarball" -C "$out/npm/tmp-$name"
  mv "$out/npm/tmp-$name/package" "$out/npm/$name"
  rmdir "$out/npm/tmp-$name"
done
date > "$out/npm/.stamp"
