#!/usr/bin/env bash
# End-to-end: the query API answers exactly as Prometheus does.
#
# A real Prometheus (the peer fetched by ./pharos.sh test) scrapes itself
# every second and remote-writes everything into pharos, so both hold the
# same samples.  The same instant and range queries, series, labels and
# label-values requests then go to both, at a time both have complete data
# for, and the JSON answers must be identical once the order of elements
# that Prometheus leaves unspecified (instant vectors, label lists) is
# normalised with jq.  Errors are compared on status, errorType and HTTP code.
. "$(dirname "$0")/lib.sh"
PHAROS=${PHAROS_BUILD_DIR:?}/server/pharos
PEERS=${PHAROS_PEERS_DIR:-${PHAROS_SOURCE_DIR:-.}/.cache/peers/root}
PROM=$PEERS/usr/bin/prometheus
command -v curl >/dev/null || { echo "skipped: curl not installed"; exit 77; }
command -v jq >/dev/null || { echo "skipped: jq not installed"; exit 77; }
[ -x "$PROM" ] || { echo "skipped: Prometheus peer not found at $PROM"; exit 77; }

free_port() {
  local i p
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

log=$E2E_TMP/pharos.log
echo 'scrape_configs: []' >"$E2E_TMP/pharos.yml" # only what Prometheus writes
"$PHAROS" --config.file="$E2E_TMP/pharos.yml" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$E2E_TMP/data" --web.enable-remote-write-receiver >"$log" 2>&1 &
E2E_PIDS+=("$!")
wait_for_log "$log" 'Server is ready' || { cat "$log"; fail "pharos did not start"; finish; }
ph="http://127.0.0.1:$(port_from_log "$log")"

pport=$(free_port)
cat >"$E2E_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$pport']
remote_write:
  - url: $ph/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      max_samples_per_send: 2000
YML
"$PROM" --config.file="$E2E_TMP/prometheus.yml" --storage.tsdb.path="$E2E_TMP/prom" \
  --web.listen-address="127.0.0.1:$pport" >"$E2E_TMP/prom.log" 2>&1 &
E2E_PIDS+=("$!")
pr="http://127.0.0.1:$pport"

# Wait for 12 s of data, then choose t = now - 5 s and wait until pharos has
# samples 3 s past t (remote write lags by a batch).
sleep 12
t=$(( $(date +%s) - 5 ))
ok_data=0
for ((i = 0; i < 60; i++)); do
  got=$(curl -s "$ph/api/v1/query" --data-urlencode 'query=max(timestamp(prometheus_tsdb_head_samples_appended_total))' \
    | jq -r '.data.result[0].value[1] // "0"' 2>/dev/null)
  if [ "${got%.*}" -ge $((t + 3)) ] 2>/dev/null; then ok_data=1; break; fi
  sleep 0.5
done
check "pharos received Prometheus's samples past the query time" test "$ok_data" = 1
sleep 2

norm() { # sort instant vectors and lists whose order Prometheus leaves open
  jq -S 'if (.data|type) == "object" and (.data.result|type) == "array"
         then .data.result |= sort_by(.metric|tostring)
         elif (.data|type) == "array" then .data |= sort_by(tostring) else . end
         | del(.warnings) | del(.infos)'
}

compare() { # description, path, curl args...
  local d=$1 path=$2; shift 2
  local a b ca cb
  ca=$(curl -s -o "$E2E_TMP/a.json" -w '%{http_code}' "$pr$path" "$@")
  cb=$(curl -s -o "$E2E_TMP/b.json" -w '%{http_code}' "$ph$path" "$@")
  if [ "$ca" != "$cb" ]; then
    fail "$d: HTTP $cb, Prometheus $ca"; head -c 300 "$E2E_TMP/b.json"; echo; return
  fi
  if [ "$(jq -r .status "$E2E_TMP/a.json")" = error ]; then
    a=$(jq -c '[.status,.errorType]' "$E2E_TMP/a.json"); b=$(jq -c '[.status,.errorType]' "$E2E_TMP/b.json")
  else
    a=$(norm <"$E2E_TMP/a.json"); b=$(norm <"$E2E_TMP/b.json")
  fi
  if [ "$a" = "$b" ]; then ok "$d"; else
    fail "$d"; diff <(echo "$a") <(echo "$b") | head -20
  fi
}

queries=(
  'up'
  'sum(up)'
  'count by (job) (up)'
  'prometheus_build_info'
  'rate(prometheus_http_requests_total[10s])'
  'sum by (handler) (rate(prometheus_http_requests_total[10s]))'
  'histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[10s])))'
  'topk(3, prometheus_tsdb_head_series)'
  'scalar(sum(up))'
  'absent(nonexistent_metric)'
  'label_replace(up, "foo", "$1", "job", "(.*)")'
  'up offset 3s'
  'max_over_time(go_goroutines[5s])'
  'go_memstats_alloc_bytes / 1024'
  'increase(prometheus_tsdb_head_samples_appended_total[5s])'
  'delta(go_memstats_heap_inuse_bytes[5s])'
  'avg_over_time(scrape_duration_seconds[5s]) * 1000'
  'count_values("v", up)'
  'up == bool 1'
  'vector(1) + on() group_left up'
  'timestamp(up)'
  'prometheus_tsdb_head_series > 1e9 or vector(42)'
  'quantile(0.5, go_goroutines)'
  'sort_desc(sum by (job) (go_goroutines))'
  '{__name__=~"prometheus_tsdb_head_(series|chunks)"}'
  'irate(process_cpu_seconds_total[5s])'
  'changes(up[10s])'
  'resets(process_cpu_seconds_total[10s])'
  'deriv(go_memstats_alloc_bytes[10s])'
  'predict_linear(go_memstats_alloc_bytes[10s], 60)'
  'stddev_over_time(go_goroutines[10s])'
  'clamp_max(go_goroutines, 10)'
  'round(rate(go_memstats_alloc_bytes_total[10s]), 0.1)'
  '1 + 2 * 3 ^ 2'
  'sum(rate(nonexistent[1m]))'
  'rate(up[5m:1s])'
)
for q in "${queries[@]}"; do
  compare "instant: $q" /api/v1/query --data-urlencode "query=$q" --data-urlencode "time=$t"
done
for q in 'up' 'rate(prometheus_http_requests_total[5s])' 'sum by (job) (go_goroutines)' \
         'histogram_quantile(0.5, rate(prometheus_http_request_duration_seconds_bucket[5s]))'; do
  compare "range: $q" /api/v1/query_range --data-urlencode "query=$q" \
    --data-urlencode "start=$((t - 8))" --data-urlencode "end=$t" --data-urlencode "step=2"
done
compare "series up" /api/v1/series --data-urlencode 'match[]=up' \
  --data-urlencode "start=$((t - 5))" --data-urlencode "end=$t"
compare "series by regex" /api/v1/series --data-urlencode 'match[]={__name__=~"prometheus_tsdb_head_.*"}' \
  --data-urlencode "start=$((t - 5))" --data-urlencode "end=$t"
compare "label values of job" /api/v1/label/job/values --data-urlencode "start=$((t - 5))" \
  --data-urlencode "end=$t" -G
compare "labels of up" /api/v1/labels --data-urlencode 'match[]=up' \
  --data-urlencode "start=$((t - 5))" --data-urlencode "end=$t"
compare "error: bad query" /api/v1/query --data-urlencode 'query=sum(' --data-urlencode "time=$t"
compare "error: bad time" /api/v1/query --data-urlencode 'query=up' --data-urlencode 'time=abc'
compare "error: range without step" /api/v1/query_range --data-urlencode 'query=up' \
  --data-urlencode "start=$t" --data-urlencode "end=$t"
compare "error: end before start" /api/v1/query_range --data-urlencode 'query=up' \
  --data-urlencode "start=$t" --data-urlencode "end=$((t - 10))" --data-urlencode "step=1"
compare "error: series without match" /api/v1/series
compare "error: many-to-many matching" /api/v1/query \
  --data-urlencode 'query=go_goroutines + on() up{job="none"} or on() go_goroutines * on() group_left prometheus_http_requests_total' \
  --data-urlencode "time=$t"
finish
