#!/bin/sh
# vendor/fetch.sh OUTDIR
#
# Fetches the pinned Debian source packages listed in vendor/lock with
# `apt-get source --download-only`, verifies each orig tarball's sha256,
# unpacks them, applies our patches and produces the SQLite amalgamation.
#
# The deb-src entry is derived from the machine's own configured Debian
# mirror; apt runs with a private state directory so the system's apt lists
# and cache are untouched. Tarballs are cached in $DONGMUL_VENDOR_CACHE
# (default OUTDIR/cache): a second run fetches nothing.
#
# Result (OUTDIR):
#   sqlite/sqlite3.c sqlite/sqlite3.h
#   civetweb/src/civetweb.c civetweb/include/civetweb.h (patched)
#   mbedtls/library/*.c mbedtls/include/...
#   musl-src/   (musl with Debian's patches; built per target architecture
#                by the Makefile only when a Raspberry Pi binary is asked for)
#   .stamp   (written last; make depends on it)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: vendor/fetch.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${DONGMUL_VENDOR_CACHE:-$out/cache}
lock=$here/lock
mkdir -p "$cache"

# Parallel builds (several make runs at once) take turns; whoever comes
# second finds the work done.
if command -v flock >/dev/null 2>&1 && [ -z "${DONGMUL_FETCH_LOCKED:-}" ]; then
  export DONGMUL_FETCH_LOCKED=1
  exec flock "$out/.lock" sh "$0" "$@"
fi
if [ -f "$out/.stamp" ]; then
  fresh=1
  for f in "$lock" "$0" "$here"/patches/*.patch; do
    [ -f "$f" ] && [ "$f" -nt "$out/.stamp" ] && fresh=0
  done
  if [ "$fresh" = 1 ]; then
    echo "vendor: up to date"
    exit 0
  fi
fi

die() { echo "vendor/fetch.sh: $*" >&2; exit 1; }

sha_ok() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

# The Debian mirror this machine already uses (deb822 or one-line format).
mirror() {
  m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk 'tolower($1)=="uris:" { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }')
  if [ -z "$m" ]; then
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1=="deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }')
  fi
  [ -n "$m" ] || die "no Debian mirror found in /etc/apt/sources.list*"
  echo "${m%/}"
}

need_fetch=""
while read -r pkg ver tarball sum; do
  case "$pkg" in ''|'#'*|npm:*) continue ;; esac
  sha_ok "$cache/$tarball" "$sum" && continue
  case " $need_fetch " in *" $pkg=$ver "*) ;; *) need_fetch="$need_fetch $pkg=$ver" ;; esac
done < "$lock"

if [ -n "$need_fetch" ]; then
  command -v apt-get >/dev/null || die "apt-get is needed to fetch:$need_fetch"
  m=$(mirror)
  st=$out/apt-state
  rm -rf "$st"
  mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/sources.list.d"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  cat > "$st/sources.list.d/dongmul-trixie.sources" <<SRC
Types: deb-src
URIs: $m
Suites: trixie trixie-updates
Components: main
Signed-By: $keyring

Types: deb-src
URIs: ${m%/debian}/debian-security
Suites: trixie-security
Components: main
Signed-By: $keyring
SRC
  opts="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$st/sources.list.d
        -o Dir::State::Lists=$st/lists -o Dir::Cache=$st/cache
        -o Dir::State::status=/var/lib/dpkg/status -o Debug::NoDropPrivs=1
        -o APT::Sandbox::User=root"
  echo "vendor: fetching$need_fetch"
  # shellcheck disable=SC2086
  apt-get -qq $opts update || die "apt-get update for the trixie sources failed"
  # The mirror may lack a .dsc while serving the tarballs: apt's exit status
  # is not the verdict, the pinned checksums below are.
  # shellcheck disable=SC2086
  for pv in $need_fetch; do
    # shellcheck disable=SC2086
    (cd "$cache" && apt-get -qq $opts source --download-only "$pv" 2>&1 | grep -v '\.dsc' >&2) || true
  done
  while read -r pkg ver tarball sum; do
    case "$pkg" in ''|'#'*|npm:*) continue ;; esac
    [ -f "$cache/$tarball" ] ||
      die "$pkg $ver: $tarball is no longer on the mirror (superseded by a newer Debian revision?). Update vendor/lock."
    sha_ok "$cache/$tarball" "$sum" ||
      die "$pkg: $tarball does not match the sha256 pinned in vendor/lock"
  done < "$lock"
  rm -rf "$st"
fi

# Unpack fresh every time this script runs (make runs it only when the lock,
# patches or this script change).
unpack() { # pkg tarball dest
  rm -rf "$out/$3" "$out/tmp-$1"
  mkdir -p "$out/tmp-$1"
  tar -xf "$cache/$2" -C "$out/tmp-$1"
  mv "$out/tmp-$1"/* "$out/$3"
  rmdir "$out/tmp-$1"
}
while read -r pkg ver tarball sum; do
  case "$pkg" in ''|'#'*|npm:*) continue ;; esac
  case "$pkg" in
    sqlite3) unpack "$pkg" "$tarball" sqlite-src ;;
    civetweb) unpack "$pkg" "$tarball" civetweb ;;
    mbedtls) unpack "$pkg" "$tarball" mbedtls ;;
    musl)
      case "$tarball" in
        *.orig.*) unpack "$pkg" "$tarball" musl-src ;;
        # the debian/ directory; unpacked after the orig (lock order)
        *.debian.*) tar -xf "$cache/$tarball" -C "$out/musl-src" ;;
      esac ;;
  esac
done < "$lock"

# musl: Debian's own patches (security fixes among them), in series order.
if [ -f "$out/musl-src/debian/patches/series" ]; then
  grep -v '^[[:space:]]*\(#\|$\)' "$out/musl-src/debian/patches/series" | while read -r p _; do
    patch -s -p1 -d "$out/musl-src" < "$out/musl-src/debian/patches/$p" ||
      die "Debian's musl patch $p does not apply"
  done || exit 1
fi
# stale per-architecture musl builds belong to the old sources
rm -rf "$out"/musl-aarch64 "$out"/musl-armv7 "$out"/musl-build-*

for p in "$here"/patches/civetweb-*.patch; do
  [ -f "$p" ] || continue
  echo "vendor: applying $(basename "$p")"
  patch -s -p1 -d "$out/civetweb" < "$p" || die "patch $(basename "$p") does not apply"
done

# SQLite amalgamation: configure with the host compiler (it builds helper
# tools that run here), needs tclsh.
command -v tclsh >/dev/null || die "tclsh is needed for the SQLite amalgamation (apt-get install tcl)"
mkdir -p "$out/sqlite"
(cd "$out/sqlite-src" && CC=gcc ./configure --quiet >/dev/null && make -s sqlite3.c >/dev/null 2>&1) ||
  die "building the SQLite amalgamation failed (in $out/sqlite-src)"
cp "$out/sqlite-src/sqlite3.c" "$out/sqlite-src/sqlite3.h" "$out/sqlite/"
rm -rf "$out/sqlite-src"

date > "$out/.stamp"
echo "vendor: ready in $out"
