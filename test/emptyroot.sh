#!/bin/sh
# test/emptyroot.sh BINARY — what `FROM scratch` gives: the static binary
# alone in an empty root directory (chroot as root, else `unshare -r`
# chroot) must serve /healthz over HTTP and HTTPS (self-signed, generated
# in the empty root without /dev, /etc or /tmp), and stop cleanly.
set -u
bin=${1:?usage: test/emptyroot.sh BINARY}
pass=0 failn=0
ok()   { pass=$((pass + 1)); echo "ok - $*"; }
fail() { failn=$((failn + 1)); echo "not ok - $*"; }

if ldd "$bin" >/dev/null 2>&1; then
  fail "$bin is a dynamic executable"
else
  ok "ldd: not a dynamic executable"
fi

root=$(mktemp -d /tmp/dongmul-root-XXXXXX)
trap 'rm -rf "$root"' EXIT
cp "$bin" "$root/dongmul"
mkdir "$root/data"
if [ "$(id -u)" = 0 ]; then run="chroot $root"; else run="unshare -r chroot $root"; fi
ports=$(node -e 'const n=require("net");const g=()=>new Promise(r=>{const s=n.createServer();s.listen(0,"127.0.0.1",()=>{const p=s.address().port;s.close(()=>r(p))})});(async()=>console.log(await g(),await g()))()')
hp=${ports% *}
sp=${ports#* }

$run /dongmul serve --http "127.0.0.1:$hp" --https "127.0.0.1:$sp" --tls-self-signed --data /data \
  >"$root.log" 2>&1 &
pid=$!
up=0
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$hp/healthz" >/dev/null 2>&1; then up=1; break; fi
  sleep 0.1
done
if [ "$up" = 1 ]; then ok "HTTP /healthz from an empty root"; else fail "HTTP /healthz from an empty root"; cat "$root.log"; fi
if curl -sfk "https://127.0.0.1:$sp/healthz" | grep -q '"msg":"success"'; then
  ok "HTTPS /healthz from an empty root (certificate generated there)"
else
  fail "HTTPS /healthz from an empty root"
fi
[ -f "$root/data/tls/self-signed.pem" ] && ok "TLS material kept in the data dir" || fail "no TLS material in the data dir"
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
extra=$(ls -A "$root" | grep -v -e '^dongmul$' -e '^data$')
[ -z "$extra" ] && ok "nothing but the binary and its data dir in the root" || fail "the root gained: $extra"
rm -f "$root.log"
echo "emptyroot: $pass passed, $failn failed"
[ "$failn" = 0 ]
