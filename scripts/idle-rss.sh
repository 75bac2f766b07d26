#!/usr/bin/env bash
# idle-rss.sh: the resident memory of an idle `vramfit serve` on the demo
# host (the fake dgx-h100 fleet with deploy/examples/targets.yml).
#
# It builds vramfit as `make build` does (cgo; CGO_ENABLED=0 builds the pure
# Go binary instead), starts it on loopback, scrapes /metrics SCRAPES times
# (default 5), waits IDLE_SECONDS (default 10) with no request, reads VmRSS
# from /proc/PID/status, stops it, and prints the figure with its parts
# (anonymous memory, mapped files such as the binary's text). It exits
# non-zero when VmRSS is above LIMIT_MB (default 30; MB = 10^6 bytes), or
# when the server does not start or answer. Linux only (/proc); needs go
# and curl.
set -euo pipefail

cd "$(dirname "$0")/.."
scrapes=${SCRAPES:-5}
idle=${IDLE_SECONDS:-10}
limit_mb=${LIMIT_MB:-30}
export CGO_ENABLED=${CGO_ENABLED:-1}
export CGO_CFLAGS="${CGO_CFLAGS:--Wno-deprecated-declarations}"

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" && wait "$pid" || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "== build (CGO_ENABLED=$CGO_ENABLED)"
go build -o "$work/vramfit" ./cmd/vramfit

# Port 0: the kernel picks a free port, which the server logs.
"$work/vramfit" serve --nvml.fake=dgx-h100 --config.file=deploy/examples/targets.yml \
	--web.listen-address=127.0.0.1:0 --log.format=logfmt 2>"$work/log" &
pid=$!
address=
for _ in $(seq 100); do
	address=$(sed -n 's/.*msg="Listening on" address=\([0-9.:]*\).*/\1/p' "$work/log" | head -n 1)
	[ -n "$address" ] && curl -fs "http://$address/-/ready" >/dev/null && break
	kill -0 "$pid" 2>/dev/null || { echo "idle-rss: vramfit serve exited:" >&2; cat "$work/log" >&2; exit 1; }
	sleep 0.1
done
[ -n "$address" ] || { echo "idle-rss: vramfit serve did not start listening:" >&2; cat "$work/log" >&2; exit 1; }

echo "== $scrapes scrapes of http://$address/metrics"
for _ in $(seq "$scrapes"); do
	curl -fs "http://$address/metrics" >"$work/metrics"
done
echo "$(grep -c '^vramfit_' "$work/metrics") vramfit series, $(grep -vc '^#' "$work/metrics") in all"

echo "== idle for ${idle}s"
sleep "$idle"
kib() { awk -v field="$1:" '$1 == field { print $2 }' "/proc/$pid/status"; }
rss=$(kib VmRSS) anon=$(kib RssAnon) file=$(kib RssFile) hwm=$(kib VmHWM)
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k * 1024 / 1e6 }'; }
echo "VmRSS $(mb "$rss") (anonymous $(mb "$anon"), files $(mb "$file")); peak VmHWM $(mb "$hwm"); limit ${limit_mb} MB"

if awk -v k="$rss" -v limit="$limit_mb" 'BEGIN { exit !(k * 1024 > limit * 1e6) }'; then
	echo "idle-rss: idle resident memory above ${limit_mb} MB" >&2
	exit 1
fi
