#!/usr/bin/env bash
# End-to-end: the query API answers exactly as Prometheus does.
#
# A real Prometheus (the peer fetched by ./pharos.sh test) scrapes itself
# and a real node_exporter every second and remote-writes everything into
# pharos, so both hold the same samples.  The same instant and range queries, series, labels and
# label-values requests then go to both, at a time both have complete data
# for, and the JSON answers must be identical once the order of elements
# that Prometheus leaves unspecified (instant vectors, label lists) is
# normalised with jq.  Errors are compared on status, errorType and HTTP code.
#
# The peer is Debian's Prometheus 2.42; Pharos follows Prometheus 3 (whose
# own test scripts pass in tests/conformance).  Where the two versions
# answer differently the query is not used here: rate() over a fast-growing
# counter such as go_memstats_alloc_bytes_total extrapolates differently
# in 2.42 for some sample alignments, although the raw samples compare
# equal (that range selector is in the list).
. "$(dirname "$0")/lib.sh"
PHAROS=${PHAROS_BUILD_DIR:?}/server/pharos
PEERS=${PHAROS_PEERS_DIR:-${PHAROS_SOURCE_DIR:-.}/.cache/peers/root}
PROM=$PEERS/usr/bin/prometheus
command -v curl >/dev/null || { echo "skipped: curl not installed"; exit 77; }
command -v jq >/dev/null || { echo "skipped: jq not installed"; exit 77; }
[ -x "$PROM" ] || { echo "skipped: Prometheus peer not found at $PROM"; exit 77; }


log=$E2E_TMP/pharos.log
echo 'scrape_configs: []' >"$E2E_TMP/pharos.yml" # only what Prometheus writes
"$PHAROS" --config.file="$E2E_TMP/pharos.yml" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$E2E_TMP/data" --web.enable-remote-write-receiver >"$log" 2>&1 &
E2E_PIDS+=("$!")
wait_for_log "$log" 'Server is ready' || { cat "$log"; fail "pharos did not start"; finish; }
ph="http://127.0.0.1:$(port_from_log "$log")"

NODE=$PEERS/usr/bin/prometheus-node-exporter
nport=""
if [ -x "$NODE" ]; then
  nport=$(free_port)
  "$NODE" --web.listen-address="127.0.0.1:$nport" >"$E2E_TMP/node.log" 2>&1 &
  E2E_PIDS+=("$!")
fi
pport=$(free_port)
cat >"$E2E_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$pport']
$( [ -n "$nport" ] && printf '  - job_name: node\n    static_configs:\n      - targets: [%s]\n' "'127.0.0.1:$nport'" )
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
sleep 14
t=$(( $(date +%s) - 7 ))
ok_data=0
for ((i = 0; i < 60; i++)); do
  got=$(curl -s "$ph/api/v1/query" --data-urlencode 'query=max(timestamp(prometheus_tsdb_head_samples_appended_total))' \
    | jq -r '.data.result[0].value[1] // "0"' 2>/dev/null)
  if [ "${got%.*}" -ge $((t + 3)) ] 2>/dev/null; then ok_data=1; break; fi
  sleep 0.5
done
check "pharos received Prometheus's samples past the query time" test "$ok_data" = 1
# Remote write sends in batches: wait until both hold exactly the same
# number of samples in the 40 s before t (bounded).
same=0
cq='query=sum(count_over_time({__name__=~".+"}[40s]))'
for ((i = 0; i < 40; i++)); do
  a=$(curl -s "$pr/api/v1/query" --data-urlencode "$cq" --data-urlencode "time=$t" | jq -r '.data.result[0].value[1]')
  b=$(curl -s "$ph/api/v1/query" --data-urlencode "$cq" --data-urlencode "time=$t" | jq -r '.data.result[0].value[1]')
  if [ -n "$a" ] && [ "$a" = "$b" ]; then same=1; break; fi
  sleep 0.5
done
check "both hold the same samples before t" test "$same" = 1

# Values as 12 significant digits, for sums over several series: Prometheus
# 2.42 (the Debian peer) adds them in map order, Prometheus 3 and Pharos
# with Kahan compensation, so the last digits may differ.
TOL='def sig: if type == "string" and (. != "NaN" and . != "+Inf" and . != "-Inf")
       then (tonumber as $x | if $x == 0 then "0" else
         (($x|fabs|log10|floor) - 11) as $e | (($x / pow(10;$e)) | round) * pow(10;$e) | tostring end)
       else . end;
     walk(if type == "array" and length == 2 and (.[0]|type) == "number" then [.[0], (.[1]|sig)] else . end)'
norm() { # sort instant vectors and lists whose order Prometheus leaves open
  jq -S 'if (.data|type) == "object" and (.data.result|type) == "array"
         then .data.result |= sort_by(.metric|tostring)
         elif (.data|type) == "array" then .data |= sort_by(tostring) else . end
         | del(.warnings) | del(.infos)'
}

compare() { # description, path, curl args...  (description "~..." = tolerant)
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
    if [ "${d:0:1}" = "~" ]; then
      a=$(jq -S "$TOL" <<<"$a"); b=$(jq -S "$TOL" <<<"$b")
    fi
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
  '~avg_over_time(scrape_duration_seconds[5s]) * 1000'
  'go_memstats_alloc_bytes_total[10s]'
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
  'round(rate(prometheus_http_requests_total[10s]), 0.1)'
  '1 + 2 * 3 ^ 2'
  'sum(rate(nonexistent[1m]))'
  'rate(up[5m:1s])'
)
if [ -n "$nport" ]; then
  # what a Node Exporter Full dashboard asks
  queries+=(
    '~sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[10s]))'
    '~100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[10s])))'
    '1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes'
    '100 - node_filesystem_avail_bytes{fstype!="tmpfs"} * 100 / node_filesystem_size_bytes{fstype!="tmpfs"}'
    'topk(3, rate(node_network_receive_bytes_total[10s]))'
    'irate(node_disk_io_time_seconds_total[10s])'
    'node_load1 / count without (cpu, mode) (node_cpu_seconds_total{mode="idle"})'
    'count by (job) ({__name__=~"node_.+"})'
    'node_time_seconds - node_boot_time_seconds'
  )
fi
for q in "${queries[@]}"; do
  d="instant: $q"
  case "$q" in ~*) q=${q:1}; d="~instant: $q" ;; esac
  compare "$d" /api/v1/query --data-urlencode "query=$q" --data-urlencode "time=$t"
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
