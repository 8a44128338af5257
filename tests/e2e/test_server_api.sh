#!/usr/bin/env bash
# End-to-end: the server's own scraping seen through the API.  pharos
# scrapes itself every second; then /api/v1/targets, /api/v1/targets/metadata,
# /api/v1/metadata, /federate, the status endpoints, a query over what was
# scraped, and a reload that adds a job are checked.
. "$(dirname "$0")/lib.sh"
PHAROS=${PHAROS_BUILD_DIR:?}/server/pharos
command -v curl >/dev/null || { echo "skipped: curl not installed"; exit 77; }
command -v jq >/dev/null || { echo "skipped: jq not installed"; exit 77; }

cfg=$E2E_TMP/pharos.yml
cat >"$cfg" <<'YML'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    site: lab
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ['PLACEHOLDER']
        labels:
          role: server
YML
log=$E2E_TMP/pharos.log
# The port is only known after start: start on port 0 with no jobs, then
# write the real config and reload.
printf 'scrape_configs: []\n' >"$E2E_TMP/empty.yml"
"$PHAROS" --config.file="$cfg.real" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$E2E_TMP/data" --web.enable-lifecycle >"$log" 2>&1 &
pid=$!; E2E_PIDS+=("$pid")
wait_exit "$pid" 5 # a missing config file: exits 1 with a clear message
check "a missing config file exits 1" test "$E2E_STATUS" = 1
check "a missing config file is named" grep -q "pharos.yml.real" "$log"

cp "$E2E_TMP/empty.yml" "$cfg.real"
"$PHAROS" --config.file="$cfg.real" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$E2E_TMP/data" --web.enable-lifecycle --web.enable-admin-api \
  --web.cors.origin='https?://grafana\.lan' >"$log" 2>&1 &
pid=$!; E2E_PIDS+=("$pid")
check "pharos starts" wait_for_log "$log" 'Server is ready'
port=$(port_from_log "$log"); base="http://127.0.0.1:$port"
sed "s/PLACEHOLDER/127.0.0.1:$port/" "$cfg" >"$cfg.real"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/-/reload")
check "reload with the self-scrape job" test "$code" = 200

up=""
for ((i = 0; i < 40; i++)); do
  up=$(curl -s "$base/api/v1/query" --data-urlencode 'query=up{job="self"}' | jq -r '.data.result[0].value[1] // ""')
  [ "$up" = 1 ] && break
  sleep 0.25
done
check "up{job=\"self\"} is 1" test "$up" = 1
sleep 1.5

t=$(curl -s "$base/api/v1/targets")
check "targets: one active target in pool self" test "$(jq '[.data.activeTargets[] | select(.scrapePool=="self")] | length' <<<"$t")" = 1
check "targets: health up" test "$(jq -r '.data.activeTargets[0].health' <<<"$t")" = up
check "targets: labels after relabeling" test "$(jq -r '.data.activeTargets[0].labels.role' <<<"$t")" = server
check "targets: discovered labels keep __address__" test "$(jq -r '.data.activeTargets[0].discoveredLabels.__address__' <<<"$t")" = "127.0.0.1:$port"
check "targets: scrapeInterval" test "$(jq -r '.data.activeTargets[0].scrapeInterval' <<<"$t")" = 1s
check "targets: state=dropped has no active targets" test "$(curl -s "$base/api/v1/targets?state=dropped" | jq '.data.activeTargets | length')" = 0

md=$(curl -s "$base/api/v1/targets/metadata" --data-urlencode 'metric=process_cpu_seconds_total' -G)
check "targets/metadata: type of process_cpu_seconds_total" test "$(jq -r '.data[0].type' <<<"$md")" = counter
check "targets/metadata: the target's labels" test "$(jq -r '.data[0].target.job' <<<"$md")" = self
md=$(curl -s "$base/api/v1/targets/metadata" --data-urlencode 'match_target={job="nope"}' -G)
check "targets/metadata: match_target filters" test "$(jq '.data | length' <<<"$md")" = 0
md=$(curl -s "$base/api/v1/targets/metadata" --data-urlencode 'match_target={job=~"se.+",role!="x"}' -G)
check "targets/metadata: regex match_target" test "$(jq '.data | length > 0' <<<"$md")" = true
code=$(curl -s -o "$E2E_TMP/e.json" -w '%{http_code}' "$base/api/v1/targets/metadata" --data-urlencode 'match_target={job=~"(x"}' -G)
check "targets/metadata: bad regex is 400 bad_data" test "$code:$(jq -r .errorType "$E2E_TMP/e.json")" = 400:bad_data
h=$(curl -s -D - -o /dev/null -H 'Origin: http://grafana.lan' "$base/api/v1/status/buildinfo")
check "CORS: a matching origin is echoed" grep -qi '^Access-Control-Allow-Origin: http://grafana.lan' <<<"$h"
h=$(curl -s -D - -o /dev/null -H 'Origin: http://evil.example' "$base/api/v1/status/buildinfo")
check "CORS: another origin is not allowed" bash -c "! grep -qi '^Access-Control-Allow-Origin' <<<\"\$1\"" _ "$h"
md=$(curl -s "$base/api/v1/metadata?metric=process_resident_memory_bytes")
check "metadata: help of process_resident_memory_bytes" test "$(jq -r '.data.process_resident_memory_bytes[0].help' <<<"$md")" = "Resident memory size in bytes."
check "metadata: limit" test "$(curl -s "$base/api/v1/metadata?limit=1" | jq '.data | length')" = 1

fed=$(curl -s -g "$base/federate?match[]=up")
check "federate: TYPE line" grep -q '^# TYPE up untyped' <<<"$fed"
check "federate: external labels added" grep -qE '^up\{.*site="lab".*\} 1 [0-9]+$' <<<"$fed"

check "status/flags lists storage.tsdb.path" test "$(curl -s "$base/api/v1/status/flags" | jq -r '.data["storage.tsdb.path"]')" = "$E2E_TMP/data"
check "status/config returns the YAML" grep -q 'job_name: self' <<<"$(curl -s "$base/api/v1/status/config" | jq -r .data.yaml)"
check "status/runtimeinfo has storageRetention" test "$(curl -s "$base/api/v1/status/runtimeinfo" | jq -r .data.storageRetention)" = 15d
ts=$(curl -s "$base/api/v1/status/tsdb")
check "status/tsdb counts head series" test "$(jq '.data.headStats.numSeries > 0' <<<"$ts")" = true
check "status/tsdb lists series by metric name" test "$(jq '.data.seriesCountByMetricName | length > 0' <<<"$ts")" = true
bi=$(curl -s "$base/api/v1/status/buildinfo")
check "buildinfo has a Prometheus-style version and no features" test "$(jq -r '.data.version + (.data.features|tostring)' <<<"$bi")" = "3.0.0null"
check "rules is empty" test "$(curl -s "$base/api/v1/rules" | jq -c .data)" = '{"groups":[]}'
check "alerts is empty" test "$(curl -s "$base/api/v1/alerts" | jq -c .data)" = '{"alerts":[]}'
code=$(curl -s -o "$E2E_TMP/e.json" -w '%{http_code}' "$base/api/v1/label/bad-name/values")
check "invalid label name is 400 bad_data" test "$code:$(jq -r .errorType "$E2E_TMP/e.json")" = 400:bad_data
code=$(curl -s -o "$E2E_TMP/e.json" -w '%{http_code}' "$base/api/v1/query" --data-urlencode 'query=sum(rate(up[1m])) by' )
check "parse error is 400 bad_data" test "$code:$(jq -r .errorType "$E2E_TMP/e.json")" = 400:bad_data
q=$(curl -s "$base/api/v1/query" --data-urlencode 'query=count by (__name__) ({job="self",__name__=~"process_.*"})' | jq '.data.result | length')
check "regex selector over scraped series" test "$q" -ge 4
q=$(curl -s "$base/api/v1/query" --data-urlencode 'query=scrape_samples_scraped{job="self"}' | jq -r '.data.result[0].value[1]')
check "scrape_samples_scraped is reported" test "${q:-0}" -gt 5
# Admin API: delete a series, clean tombstones, take a snapshot.
n=$(curl -s "$base/api/v1/query" --data-urlencode 'query=count(process_cpu_seconds_total{job="self"})' | jq -r '.data.result[0].value[1]')
check "before deletion the series is there" test "$n" = 1
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/v1/admin/tsdb/delete_series" \
  --data-urlencode 'match[]=process_cpu_seconds_total{job="self"}' \
  --data-urlencode 'start=0' --data-urlencode "end=$(( $(date +%s) + 60 ))")
check "delete_series is 204" test "$code" = 204
n=$(curl -s "$base/api/v1/series" --data-urlencode 'match[]=process_cpu_seconds_total{job="self"}' \
  --data-urlencode "end=$(( $(date +%s) - 1 ))" | jq '.data | length')
check "the deleted series is gone" test "$n" = 0
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/v1/admin/tsdb/delete_series")
check "delete_series without match[] is 400" test "$code" = 400
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$base/api/v1/admin/tsdb/clean_tombstones")
check "clean_tombstones is 204" test "$code" = 204
snap=$(curl -s -X POST "$base/api/v1/admin/tsdb/snapshot" | jq -r .data.name)
check "snapshot returns a name" grep -qE '^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{16}$' <<<"$snap"
check "snapshot directory holds a block" bash -c "ls '$E2E_TMP/data/snapshots/$snap' | grep -qE '^[0-9A-Z]{26}$'"
finish
