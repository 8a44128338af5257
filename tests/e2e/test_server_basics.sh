#!/usr/bin/env bash
# End-to-end: pharos starts on a free loopback port, answers /-/healthy,
# /-/ready and /metrics, refuses bad flags (exit 2), bad config (exit 1,
# file:line:column and field named), a port in use (exit 1), keeps its old
# config when a SIGHUP reload fails, and shuts down cleanly on SIGTERM.
. "$(dirname "$0")/lib.sh"
PHAROS=${PHAROS_BUILD_DIR:?}/server/pharos
command -v curl >/dev/null || { echo "skipped: curl not installed"; exit 77; }

data=$E2E_TMP/data
log=$E2E_TMP/pharos.log
"$PHAROS" --web.listen-address=127.0.0.1:0 --storage.tsdb.path="$data" \
  --web.enable-lifecycle >"$log" 2>&1 &
pid=$!; E2E_PIDS+=("$pid")
check "pharos logs that it is ready" wait_for_log "$log" 'Server is ready'
port=$(port_from_log "$log")
base="http://127.0.0.1:$port"
check "a port was logged" test -n "$port"

body=$(curl -sS "$base/-/healthy"); check "/-/healthy says healthy" grep -q Healthy <<<"$body"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/-/ready"); check "/-/ready is 200" test "$code" = 200
metrics=$(curl -sS "$base/metrics")
for m in process_cpu_seconds_total process_resident_memory_bytes process_start_time_seconds pharos_build_info; do
  check "/metrics has $m" grep -qE "^$m(\{| )" <<<"$metrics"
done
check "/metrics has TYPE lines" grep -q '^# TYPE process_cpu_seconds_total counter' <<<"$metrics"
ct=$(curl -sS -o /dev/null -w '%{content_type}' "$base/metrics")
check "/metrics content type is the text format 0.0.4" grep -q 'version=0.0.4' <<<"$ct"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/nonexistent"); check "unknown path is 404" test "$code" = 404
code=$(curl -s -o "$E2E_TMP/adm.json" -w '%{http_code}' -X POST "$base/api/v1/admin/tsdb/snapshot")
check "admin API disabled: 503 unavailable" test "$code:$(grep -o '"errorType":"[a-z]*"' "$E2E_TMP/adm.json")" = '503:"errorType":"unavailable"'
hdrs=$(curl -s -D - -o /dev/null -H 'Origin: http://grafana.example' "$base/api/v1/status/buildinfo")
check "CORS: Access-Control-Allow-Origin for an Origin" grep -qi '^Access-Control-Allow-Origin: \*' <<<"$hdrs"
check "CORS: allowed methods" grep -qi '^Access-Control-Allow-Methods: GET, POST, OPTIONS' <<<"$hdrs"
hdrs=$(curl -s -D - -o /dev/null "$base/api/v1/status/buildinfo")
check "CORS: no headers without an Origin" bash -c "! grep -qi '^Access-Control' <<<\"\$1\"" _ "$hdrs"
gz=$(curl -sS -H 'Accept-Encoding: gzip' -o "$E2E_TMP/m.gz" -w '%{size_download}' "$base/metrics")
check "gzip response decodes" bash -c "gzip -dc '$E2E_TMP/m.gz' | grep -q process_cpu_seconds_total"

# A second instance on the same port fails with a clear message.
"$PHAROS" --web.listen-address=127.0.0.1:"$port" --storage.tsdb.path="$E2E_TMP/d2" >"$E2E_TMP/second.log" 2>&1 &
p2=$!; E2E_PIDS+=("$p2")
wait_exit "$p2" 20
check "port in use exits 1" test "$E2E_STATUS" = 1
check "port in use is explained" grep -q 'address already in use' "$E2E_TMP/second.log"

# Clean shutdown.
kill -TERM "$pid"
wait_exit "$pid" 20
check "SIGTERM exits 0" test "$E2E_STATUS" = 0
check "shutdown is logged" grep -q 'See you next time' "$log"

# Bad flags.
"$PHAROS" --no-such-flag >"$E2E_TMP/flag.out" 2>&1; st=$?
check "unknown flag exits 2" test "$st" = 2
check "unknown flag is named" grep -q "unknown long flag '--no-such-flag'" "$E2E_TMP/flag.out"
check "usage is printed" grep -q 'usage: pharos' "$E2E_TMP/flag.out"
"$PHAROS" --help >"$E2E_TMP/help.out" 2>&1; st=$?
check "--help exits 0" test "$st" = 0
for f in config.file storage.tsdb.path storage.tsdb.retention.time web.listen-address web.enable-remote-write-receiver log.level; do
  check "--help lists --$f" grep -q -- "$f" "$E2E_TMP/help.out"
done
ver=$("$PHAROS" --version)
check "--version prints version and revision" grep -qE 'pharos, version [0-9]+\.[0-9]+\.[0-9]+.*revision' <<<"$ver"
check "--version prints the build date" grep -q 'build date' <<<"$ver"

# Bad config: file, line, column and field.
cat >"$E2E_TMP/bad.yml" <<'YML'
global:
  scrape_interval: 15s
  scrape_intervl: 10s
YML
"$PHAROS" --config.file="$E2E_TMP/bad.yml" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$E2E_TMP/d3" >"$E2E_TMP/bad.log" 2>&1; st=$?
check "bad config exits 1" test "$st" = 1
check "bad config names file:line:column and field" grep -q 'bad.yml:3:3.*scrape_intervl' "$E2E_TMP/bad.log"

# SIGHUP with a broken config keeps the old one and keeps serving.
cat >"$E2E_TMP/good.yml" <<'YML'
global:
  scrape_interval: 30s
YML
log2=$E2E_TMP/reload.log
"$PHAROS" --config.file="$E2E_TMP/good.yml" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$E2E_TMP/d4" --web.enable-lifecycle >"$log2" 2>&1 &
pid=$!; E2E_PIDS+=("$pid")
check "server with config file starts" wait_for_log "$log2" 'Server is ready'
port=$(port_from_log "$log2"); base="http://127.0.0.1:$port"
printf 'global:\n  scrape_interval: [\n' >"$E2E_TMP/good.yml"
kill -HUP "$pid"
check "failed reload is logged" wait_for_log "$log2" 'Error reloading config'
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/-/healthy"); check "still serving after failed reload" test "$code" = 200
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/-/reload"); check "POST /-/reload with broken config is 500" test "$code" = 500
printf 'global:\n  scrape_interval: 10s\n' >"$E2E_TMP/good.yml"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/-/reload"); check "POST /-/reload with fixed config is 200" test "$code" = 200
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/-/quit"); check "POST /-/quit is 200" test "$code" = 200
wait_exit "$pid" 20
check "quit via lifecycle API exits 0" test "$E2E_STATUS" = 0
finish
