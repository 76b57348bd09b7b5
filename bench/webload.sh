#!/bin/sh
# bench/webload.sh URL — what a browser's first load of the web app at URL
# transfers, as a browser would ask for it (Accept-Encoding: gzip): GET /
# and every /assets/ file it references, transitively (JS imports, CSS
# url()); then the data a signed-out home page asks for first (the session
# probe, the providers, the first feed page: FEED_LIMIT items, default 20 =
# PAGE in web/feed.js). Photos are not counted.
# Then a returning visit: index.html revalidated with its ETag (the assets
# are cached for a year) plus the same data.
#
# Prints key=value lines (bytes include the response headers):
#   web_files web_app_bytes web_app_plain_bytes web_data_bytes web_first_bytes
#   web_return_bytes
set -eu
url=${1:?usage: bench/webload.sh URL}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dongmul-webload-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# fetch PATH [curl args...]: prints "header_bytes body_bytes"; the body
# (decompressed) in $tmp/body, the headers in $tmp/head
fetch() {
	p=$1
	shift
	curl -s -H 'Accept-Encoding: gzip' -D "$tmp/head" -o "$tmp/raw" -w '%{size_header} %{size_download}' "$@" "$url$p"
	if grep -qi '^content-encoding: *gzip' "$tmp/head"; then gzip -dc "$tmp/raw" >"$tmp/body"; else cp "$tmp/raw" "$tmp/body"; fi
}

app=0 plain=0 files=0
: >"$tmp/seen"
echo / >"$tmp/queue"
while [ -s "$tmp/queue" ]; do
	p=$(head -1 "$tmp/queue")
	sed -i 1d "$tmp/queue"
	grep -qxF "$p" "$tmp/seen" && continue
	echo "$p" >>"$tmp/seen"
	set -- $(fetch "$p" -H 'Accept: text/html,*/*')
	app=$((app + $1 + $2))
	plain=$((plain + $1 + $(wc -c <"$tmp/body")))
	files=$((files + 1))
	grep -ao '/assets/[A-Za-z0-9._-]*' "$tmp/body" | sort -u >>"$tmp/queue" || true
done
etag=$(curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip' "$url/" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | tr -d '\r')

data() {
	n=0
	set -- $(fetch /account/session/refresh -X POST -H "Origin: $url")
	n=$((n + $1 + $2))
	set -- $(fetch /account/providers)
	n=$((n + $1 + $2))
	set -- $(fetch "/mainPage/noLogin?limit=${FEED_LIMIT:-20}")
	n=$((n + $1 + $2))
	echo "$n"
}
d=$(data)
set -- $(fetch / -H "If-None-Match: $etag")
ret=$(($1 + $2 + d))
echo "web_files=$files"
echo "web_app_bytes=$app"
echo "web_app_plain_bytes=$plain"
echo "web_data_bytes=$d"
echo "web_first_bytes=$((app + d))"
echo "web_return_bytes=$ret"
