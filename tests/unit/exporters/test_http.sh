#!/usr/bin/env bash
# test_http.sh - pharos-exporter's HTTP face, end to end on loopback:
#   - /metrics in text 0.0.4 by default (Content-Type, no "# EOF");
#   - gzip when Accept-Encoding has gzip (Content-Encoding, the body
#     gunzips to the same families), identity otherwise;
#   - OpenMetrics 1.0.0 for Prometheus's Accept header (Content-Type,
#     counter families without _total, "# EOF" last);
#   - collect[] / exclude[] filtering and its 400 error;
#   - the landing page at / and 404 elsewhere.
# Starts the exporter given as $1 on 127.0.0.1:0 with a small fixture
# procfs, reads the port from its log, stops the one PID it started.
set -u
exe=${1:?usage: $0 path/to/pharos-exporter}
command -v curl >/dev/null || { echo "skipped: curl not found"; exit 77; }
command -v gzip >/dev/null || { echo "skipped: gzip not found"; exit 77; }

tmp=$(mktemp -d /tmp/pharos-http.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/log" ] && sed -n 1,20p "$tmp/log"; exit 1; }

mkdir -p "$tmp/proc/sys/fs"
echo "0.5 1.25 2 1/100 42" >"$tmp/proc/loadavg"
printf '1024\t0\t9223372036854775807\n' >"$tmp/proc/sys/fs/file-nr"
"$exe" --web.listen-address=127.0.0.1:0 --path.procfs="$tmp/proc" \
  --collector.disable-defaults --collector.loadavg --collector.filefd >"$tmp/log" 2>&1 &
pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*msg="Listening on" address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log" | head -n1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || fail "pharos-exporter did not start"
url="http://127.0.0.1:$port"

# text, identity
curl -s -D "$tmp/h1" -o "$tmp/b1" "$url/metrics" || fail "GET /metrics"
grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$tmp/h1" || fail "text content type"
grep -qi '^content-encoding' "$tmp/h1" && fail "gzip without Accept-Encoding"
grep -qx 'node_load1 0.5' "$tmp/b1" || fail "node_load1 in text"
grep -qx '# TYPE promhttp_metric_handler_requests_total counter' "$tmp/b1" || fail "counter TYPE in text"
grep -q '^# EOF' "$tmp/b1" && fail "# EOF in text format"

# gzip
curl -s -H 'Accept-Encoding: gzip' -D "$tmp/h2" -o "$tmp/b2.gz" "$url/metrics" || fail "GET gzip"
grep -qi '^content-encoding: gzip' "$tmp/h2" || fail "no Content-Encoding: gzip"
gzip -dc "$tmp/b2.gz" >"$tmp/b2" || fail "body is not gzip"
grep -qx 'node_load1 0.5' "$tmp/b2" || fail "node_load1 in gzipped body"
[ "$(grep -c '^# HELP' "$tmp/b1")" = "$(grep -c '^# HELP' "$tmp/b2")" ] || fail "gzip body has other families"
[ "$(stat -c %s "$tmp/b2.gz")" -lt "$(stat -c %s "$tmp/b2")" ] || fail "gzip did not shrink the body"

# OpenMetrics, as Prometheus asks for it (with gzip too)
accept='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
curl -s --compressed -H "Accept: $accept" -D "$tmp/h3" -o "$tmp/b3" "$url/metrics" || fail "GET OpenMetrics"
grep -qi '^content-type: application/openmetrics-text; version=1.0.0; charset=utf-8' "$tmp/h3" || fail "OpenMetrics content type"
[ "$(tail -n1 "$tmp/b3")" = "# EOF" ] || fail "OpenMetrics body does not end with # EOF"
grep -qx '# TYPE promhttp_metric_handler_requests counter' "$tmp/b3" || fail "OM counter family name"
grep -q '^promhttp_metric_handler_requests_total{code="200"} ' "$tmp/b3" || fail "OM counter sample name"
grep -qx 'node_load15 2.0' "$tmp/b3" || fail "OM value format"
grep -qx 'node_filefd_allocated 1024.0' "$tmp/b3" || fail "OM filefd"

# collect[] / exclude[]
curl -s -o "$tmp/b4" "$url/metrics?collect[]=loadavg" || fail "GET collect[]"
grep -q 'collector="filefd"' "$tmp/b4" && fail "collect[]=loadavg ran filefd"
grep -qx 'node_load5 1.25' "$tmp/b4" || fail "collect[]=loadavg"
curl -s -o "$tmp/b5" "$url/metrics?exclude[]=loadavg" || fail "GET exclude[]"
grep -q '^node_load1 ' "$tmp/b5" && fail "exclude[]=loadavg still ran loadavg"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/metrics?collect[]=nope")
[ "$code" = 400 ] || fail "unknown collector gave $code, not 400"

# landing page, 404
curl -s -D "$tmp/h6" -o "$tmp/b6" "$url/" || fail "GET /"
grep -qi '^content-type: text/html' "$tmp/h6" || fail "landing page content type"
grep -q 'href="/metrics"' "$tmp/b6" || fail "landing page links /metrics"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/nothing-here")
[ "$code" = 404 ] || fail "/nothing-here gave $code, not 404"

kill "$pid"; wait "$pid"; rc=$?; pid=
[ "$rc" = 0 ] || [ "$rc" = 143 ] || fail "exit status $rc"
echo "ok"
