#!/bin/sh
# web/build.sh WEBDIR OUT.c [EXTRA_FILE...]
#
# Turns the web app (the files directly in WEBDIR, plus EXTRA_FILEs such
# as the pinned socket.io-client browser build) into a C file that the
# binary serves from memory (src/web/web.c, table type in src/web/web.h):
#
#  - every file except index.html gets a content-hashed name
#    /assets/STEM.HASH.EXT (HASH: the first 10 hex of the sha256 of the
#    file after its own references were rewritten), so it can be cached
#    for a year; index.html is served at "/" and revalidated;
#  - references written "./NAME" (ending at " ' or ")") in index.html,
#    JS, CSS and SVG are rewritten to those paths; files are hashed leaves
#    first, so references must not form a cycle (the build stops);
#  - text files are kept plain and gzip'd (gzip -9n: no name, no time, so
#    the output is reproducible); images and fonts plain only;
#  - the ETag is the first 16 hex of the sha256 of the plain bytes.
#
# Only coreutils, sed, awk and gzip are needed. File names are restricted
# to [A-Za-z0-9._-]; README*, *.md, *.sh and dotfiles are not served.
set -eu
src=${1:?usage: web/build.sh WEBDIR OUT.c [EXTRA_FILE...]}
outc=${2:?usage: web/build.sh WEBDIR OUT.c [EXTRA_FILE...]}
shift 2
export LC_ALL=C

die() { echo "web/build.sh: $*" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dongmul-web-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/in" "$tmp/out"

# ---- collect
if [ -d "$src" ]; then
  for f in "$src"/*; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    case "$b" in .*|*.md|README*|*.sh) continue ;; esac
    cp "$f" "$tmp/in/$b"
  done
fi
for f in "$@"; do
  [ -f "$f" ] || die "missing $f (run vendor/fetch_npm.sh)"
  b=$(basename "$f")
  # the source map is not shipped: drop its reference
  sed '/^\/\/# sourceMappingURL=/d' "$f" > "$tmp/in/$b"
done
ls "$tmp/in" > "$tmp/names"
while read -r b; do
  case "$b" in
    *[!A-Za-z0-9._-]*) die "file name '$b': only A-Z a-z 0-9 . _ - are allowed" ;;
  esac
done < "$tmp/names"

is_text() {
  case "$1" in
    *.html|*.js|*.mjs|*.css|*.svg|*.json|*.webmanifest|*.txt) return 0 ;;
    *) return 1 ;;
  esac
}
ctype() {
  case "$1" in
    *.html) echo "text/html; charset=utf-8" ;;
    *.js|*.mjs) echo "text/javascript; charset=utf-8" ;;
    *.css) echo "text/css; charset=utf-8" ;;
    *.svg) echo "image/svg+xml" ;;
    *.json) echo "application/json" ;;
    *.webmanifest) echo "application/manifest+json" ;;
    *.txt) echo "text/plain; charset=utf-8" ;;
    *.png) echo "image/png" ;;
    *.jpg|*.jpeg) echo "image/jpeg" ;;
    *.webp) echo "image/webp" ;;
    *.gif) echo "image/gif" ;;
    *.ico) echo "image/x-icon" ;;
    *.woff2) echo "font/woff2" ;;
    *) echo "" ;;
  esac
}

# refs FILE: the names in $tmp/names that FILE references as ./NAME
refs() {
  is_text "$1" || return 0
  grep -o "\./[A-Za-z0-9._-]*[\"')]" "$tmp/in/$1" 2>/dev/null |
    sed "s|^\./||; s|[\"')]\$||" | sort -u | grep -Fxf "$tmp/names" || true
}

# rewrite FILE: replaces ./NAME by its hashed path for every mapped NAME
: > "$tmp/map"   # NAME PATH
rewrite() {
  is_text "$1" || return 0
  [ -s "$tmp/map" ] || return 0
  awk '{ n = $1; gsub(/\./, "\\.", n); printf "s|\\./%s\\([\"'"'"')]\\)|%s\\1|g\n", n, $2 }' \
    "$tmp/map" > "$tmp/sed"
  sed -f "$tmp/sed" "$tmp/in/$1" > "$tmp/in/$1.new"
  mv "$tmp/in/$1.new" "$tmp/in/$1"
}

# ---- hash leaves first
grep -vx 'index.html' "$tmp/names" > "$tmp/pending" || true
while [ -s "$tmp/pending" ]; do
  progress=0
  : > "$tmp/still"
  while read -r b; do
    blocked=0
    for d in $(refs "$b"); do
      [ "$d" = "$b" ] && die "$b references itself"
      grep -qx "$d" "$tmp/pending" && blocked=1
    done
    if [ "$blocked" = 1 ]; then
      echo "$b" >> "$tmp/still"
      continue
    fi
    rewrite "$b"
    h=$(sha256sum "$tmp/in/$b" | cut -c1-10)
    case "$b" in
      *.*) stem=${b%.*}; ext=.${b##*.} ;;
      *) stem=$b; ext= ;;
    esac
    echo "$b /assets/$stem.$h$ext" >> "$tmp/map"
    progress=1
  done < "$tmp/pending"
  [ "$progress" = 1 ] || die "references form a cycle among: $(tr '\n' ' ' < "$tmp/still")"
  # files hashed in this pass are now mapped: the rest are retried
  mv "$tmp/still" "$tmp/pending"
done
if [ -f "$tmp/in/index.html" ]; then
  rewrite index.html
  echo "index.html /" >> "$tmp/map"
fi

# ---- the C table
i=0
{
  echo "/* generated from web/ by web/build.sh; do not edit */"
  echo "#include \"web.h\""
} > "$tmp/out.c"
sort "$tmp/map" > "$tmp/map.sorted"
while read -r b path; do
  ct=$(ctype "$b")
  [ -n "$ct" ] || die "$b: unknown file type (add it to ctype in web/build.sh)"
  etag=$(sha256sum "$tmp/in/$b" | cut -c1-16)
  echo "static const unsigned char d$i[] = {" >> "$tmp/out.c"
  od -An -v -tu1 "$tmp/in/$b" | awk '{ for (i = 1; i <= NF; i++) printf "%s,", $i; print "" }' >> "$tmp/out.c"
  echo "0};" >> "$tmp/out.c"
  if is_text "$b"; then
    gzip -9n -c "$tmp/in/$b" > "$tmp/gz"
    echo "static const unsigned char z$i[] = {" >> "$tmp/out.c"
    od -An -v -tu1 "$tmp/gz" | awk '{ for (i = 1; i <= NF; i++) printf "%s,", $i; print "" }' >> "$tmp/out.c"
    echo "0};" >> "$tmp/out.c"
    gz="z$i, $(stat -c %s "$tmp/gz")"
  else
    gz="0, 0"
  fi
  echo "$path|$ct|$etag|d$i, $(stat -c %s "$tmp/in/$b")|$gz" >> "$tmp/rows"
  i=$((i + 1))
done < "$tmp/map.sorted"
{
  echo "const web_asset_t web_assets[] = {"
  [ -f "$tmp/rows" ] && awk -F'|' '{ printf "\t{\"%s\", \"%s\", \"\\\"%s\\\"\", %s, %s},\n", $1, $2, $3, $4, $5 }' "$tmp/rows"
  echo "	{0, 0, 0, 0, 0, 0, 0}"
  echo "};"
  echo "const unsigned web_nassets = $i;"
} >> "$tmp/out.c"
mv "$tmp/out.c" "$outc"
