#!/usr/bin/env bash
# End-to-end: pharos scrapes a real node_exporter (the peer fetched by
# ./pharos.sh test) on a loopback port every second, through a
# prometheus.yml with static_configs, file_sd_configs, relabel_configs and
# metric_relabel_configs, and the samples are read back through
# /api/v1/query: up, node_* series with job/instance labels, the report
# series, go_* dropped by metric relabeling.  A file_sd file change moves a
# target; a SIGHUP reload that removes a job makes its series stale
# (gone from instant queries); a bad reload keeps the old config; an
# unsupported field (kubernetes_sd_configs) is refused at startup with
# file:line:column.  Skipped (77) when the node_exporter peer or curl is
# absent.
. "$(dirname "$0")/lib.sh"
PHAROS=${PHAROS_BUILD_DIR:?}/server/pharos
PEERS=${PHAROS_PEERS_DIR:-${PHAROS_SOURCE_DIR:-.}/.cache/peers/root}
NODE=$PEERS/usr/bin/prometheus-node-exporter
command -v curl >/dev/null || { echo "skipped: curl not installed"; exit 77; }
if [ ! -x "$NODE" ]; then
  echo "skipped: node_exporter peer not found at $NODE (./pharos.sh test fetches it)"
  exit 77
fi


# q EXPR: the instant query's JSON.
q() { curl -sS --data-urlencode "query=$1" "$base/api/v1/query"; }
# value EXPR: the first result's value ("" when the result is empty).
value() { q "$1" | grep -oE '"value":\[[^]]*\]' | head -1 | sed -E 's/.*,"([^"]*)"\]/\1/'; }
# wait_value EXPR WANT [timeout_s]: until value(EXPR) == WANT.
wait_value() {
  local e=$1 want=$2 t=${3:-20} i
  for ((i = 0; i < t * 5; i++)); do
    [ "$(value "$e")" = "$want" ] && return 0
    sleep 0.2
  done
  echo "  $e = '$(value "$e")', want '$want'"; return 1
}

# --- node_exporter ------------------------------------------------------------
nport=$(free_port) || { echo "no free port"; exit 1; }
"$NODE" --web.listen-address=127.0.0.1:"$nport" >"$E2E_TMP/node.log" 2>&1 &
npid=$!; E2E_PIDS+=("$npid")
for ((i = 0; i < 100; i++)); do
  curl -sf "http://127.0.0.1:$nport/metrics" >/dev/null && break
  sleep 0.1
done
check "node_exporter serves /metrics" curl -sf -o /dev/null "http://127.0.0.1:$nport/metrics"

# --- pharos --------------------------------------------------------------------
mkdir -p "$E2E_TMP/sd"
cat >"$E2E_TMP/sd/targets.json" <<JSON
[{"targets": ["127.0.0.1:$nport"], "labels": {"team": "a"}}]
JSON
cfg=$E2E_TMP/prometheus.yml
cat >"$cfg" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$nport']
        labels: {env: e2e}
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.*):\d+'
        target_label: host
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
  - job_name: fsd
    file_sd_configs:
      - files: ['sd/*.json']
        refresh_interval: 5m
YML
log=$E2E_TMP/pharos.log
"$PHAROS" --config.file="$cfg" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$E2E_TMP/data" >"$log" 2>&1 &
pid=$!; E2E_PIDS+=("$pid")
check "pharos logs that it is ready" wait_for_log "$log" 'Server is ready'
port=$(port_from_log "$log")
base="http://127.0.0.1:$port"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/query?query=1")
if [ "$code" = 404 ]; then echo "skipped: no query API in this build"; exit 77; fi

check "up{job=node} is 1" wait_value "up{job=\"node\",instance=\"127.0.0.1:$nport\"}" 1 30
check "node_load1 is stored with job, instance and target labels" \
  wait_value "count(node_load1{job=\"node\",instance=\"127.0.0.1:$nport\",env=\"e2e\",host=\"127.0.0.1\"})" 1
check "node_cpu_seconds_total has series" \
  test "$(value 'count(node_cpu_seconds_total{job="node"}) > 0')" != ""
check "go_* is dropped by metric_relabel_configs" test "$(value 'count(go_goroutines{job="node"})')" = ""
scraped=$(value 'scrape_samples_scraped{job="node"}')
post=$(value 'scrape_samples_post_metric_relabeling{job="node"}')
check "scrape_samples_scraped is large ($scraped)" test "${scraped:-0}" -gt 100
check "post_metric_relabeling < scraped ($post < $scraped)" test "${post:-0}" -lt "${scraped:-0}"
check "scrape_duration_seconds is reported" test -n "$(value 'scrape_duration_seconds{job="node"}')"
check "scrape_series_added is reported" test -n "$(value 'scrape_series_added{job="node"}')"
check "at least 3 scrapes of node" wait_value 'count_over_time(up{job="node"}[1m]) > bool 2' 1 20

# --- file_sd ---------------------------------------------------------------------
check "the file_sd target is up with its label" wait_value 'up{job="fsd",team="a"}' 1 20
cat >"$E2E_TMP/sd/targets.json.tmp" <<JSON
[{"targets": ["127.0.0.1:$nport"], "labels": {"team": "b"}}]
JSON
mv "$E2E_TMP/sd/targets.json.tmp" "$E2E_TMP/sd/targets.json"
check "after the file changes the new target is up" wait_value 'up{job="fsd",team="b"}' 1 20
check "and the old one is stale (gone from instant queries)" wait_value 'count(up{job="fsd",team="a"})' "" 20

# --- reloads ----------------------------------------------------------------------
cp "$cfg" "$E2E_TMP/good.yml"
cat >"$cfg" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: fsd
    file_sd_configs:
      - files: ['sd/*.json']
YML
kill -HUP "$pid"
check "reload is logged" wait_for_log "$log" 'Completed loading of configuration file.*prometheus.yml' 10
check "a removed job's series go stale" wait_value 'count(node_load1{job="node"})' "" 20
check "the kept job keeps being scraped" wait_value 'up{job="fsd",team="b"}' 1 10

cat >"$cfg" <<YML
scrape_configs:
  - job_name: fsd
    scrape_intervl: 1s
YML
kill -HUP "$pid"
check "a bad reload is reported with file:line:column" \
  wait_for_log "$log" 'prometheus.yml:3:5.*scrape_intervl' 10
check "and the old config stays in force" wait_value 'up{job="fsd",team="b"}' 1 10

kill -TERM "$pid"
wait_exit "$pid" 20
check "SIGTERM exits 0" test "$E2E_STATUS" = 0

# --- unsupported fields -----------------------------------------------------------
cat >"$E2E_TMP/k8s.yml" <<'YML'
scrape_configs:
  - job_name: k8s
    kubernetes_sd_configs:
      - role: pod
YML
"$PHAROS" --config.file="$E2E_TMP/k8s.yml" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$E2E_TMP/d2" >"$E2E_TMP/k8s.log" 2>&1; st=$?
check "an unsupported field exits 1" test "$st" = 1
check "and is named with its position" \
  grep -q 'k8s.yml:3:5: scrape_configs\[0\].kubernetes_sd_configs: kubernetes_sd_configs is not supported by Pharos' \
  "$E2E_TMP/k8s.log"
finish
