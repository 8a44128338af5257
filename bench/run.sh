#!/usr/bin/env bash
# bench/run.sh - the benchmark harness: Pharos beside Prometheus and
# VictoriaMetrics on the same workload, in the same run; writes
# docs/benchmarks.md and docs/img/bench-*.png.
#
#   bench/run.sh [--quick] [--runs N] [--hosts N] [--hours H]
#                [--no-tsdb] [--tsdb-kv FILE] [--no-peers] [--no-exporter]
#                [--no-scrape] [--scrape-targets N] [--scrape-window S] [--no-backfill]
#                [--out FILE] [--report-only WORKDIR]
#
# How it works (the methodology is written up in bench/benchmarks-intro.md,
# which becomes the top of the report):
#   1. builds the release configuration into build-bench/ (or uses
#      $BENCH_BUILD_DIR), finds the peers in $PHAROS_PEERS_DIR (default
#      .cache/peers/root; fetched with `apt-get download` + `dpkg -x` when
#      missing, never installed as services), installs gnuplot if missing;
#   2. runs bench_tsdb (the storage API alone), or reads a previous run's
#      key/value file given with --tsdb-kv;
#   3. generates the remote-write workload once (pharos_bench gen-rw) and,
#      for each system and run, starts it on 127.0.0.1 with a fresh data
#      directory and a free port, sends the file (pharos_bench write),
#      reads CPU time and RSS from /proc/<pid>/{stat,status}, waits for
#      compaction, measures the data directory, runs two query sets (a
#      dashboard over all hosts, and Node Exporter Full's panels for one
#      host) over a 1 h, a 24 h and, when the data spans it (--hours 170),
#      a 7 d range (pharos_bench query), restarts it and times until it is
#      ready again, and stops it;
#   4. compares every system's query answers with Prometheus's
#      (pharos_bench compare);
#   5. scrapes pharos-exporter and node_exporter N times each and reads
#      their CPU time and RSS;
#   6. scrape scenario: `pharos_bench serve` simulates N targets on
#      127.0.0.1 (quick: 50, full: 1,000 x ~510 series); Pharos, then
#      Prometheus (one after another, never concurrently: 2 cores), each with
#      the same config listing every target, scrape them for a warm-up and a
#      measured window; CPU seconds per million samples (samples counted by
#      the target server's /stats) and RSS;
#   7. backfill: `pharos_bench gen-om` writes the workload as OpenMetrics,
#      `pharosctl tsdb import openmetrics` imports it; samples and seconds;
#   8. writes the report: medians over the runs with min and max.
# A scenario whose endpoint a system does not have (yet) is reported as
# "not available"; everything started is stopped by PID on exit.  With
# KEEP_WORK=1 the work directory is kept; --report-only WORKDIR re-renders
# the report from such a directory without measuring anything.
set -uo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$ROOT"

QUICK=0 RUNS="" HOSTS="" HOURS="" DO_TSDB=1 DO_PEERS=1 DO_EXP=1 TSDB_KV="" OUT="" REPORT_ONLY=""
DO_SCRAPE=1 DO_OM=1 SCRAPE_TARGETS="" SCRAPE_WINDOW=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS=$2; shift ;;
    --hosts) HOSTS=$2; shift ;;
    --hours) HOURS=$2; shift ;;
    --no-tsdb) DO_TSDB=0 ;;
    --tsdb-kv) TSDB_KV=$2; shift ;;
    --no-peers) DO_PEERS=0 ;;
    --no-exporter) DO_EXP=0 ;;
    --no-scrape) DO_SCRAPE=0 ;;
    --scrape-targets) SCRAPE_TARGETS=$2; shift ;;
    --scrape-window) SCRAPE_WINDOW=$2; shift ;;
    --no-backfill) DO_OM=0 ;;
    --out) OUT=$2; shift ;;
    --report-only) REPORT_ONLY=$(cd "$2" && pwd) || exit 2; shift ;;
    -h|--help) sed -n '2,44p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then
  RUNS=${RUNS:-1} HOSTS=${HOSTS:-2} HOURS=${HOURS:-1}
  QRUNS=5 EXP_SCRAPES=10 SETTLE=1 COMPACT_WAIT=0 SHARDS=2
  SCRAPE_TARGETS=${SCRAPE_TARGETS:-50} SCRAPE_INTERVAL=5 SCRAPE_WINDOW=${SCRAPE_WINDOW:-20}
else
  RUNS=${RUNS:-3} HOSTS=${HOSTS:-20} HOURS=${HOURS:-8}
  QRUNS=20 EXP_SCRAPES=100 SETTLE=10 COMPACT_WAIT=150 SHARDS=4
  SCRAPE_TARGETS=${SCRAPE_TARGETS:-1000} SCRAPE_INTERVAL=15 SCRAPE_WINDOW=${SCRAPE_WINDOW:-120}
fi
# a 7 d history arrives as days of out-of-order blocks: let every system
# finish compacting before the queries, even in quick mode (answering while
# compaction runs made all three several times slower)
[ "$QUICK" = 1 ] && [ "$HOURS" -ge 169 ] 2>/dev/null && COMPACT_WAIT=120
OUT=${OUT:-$ROOT/docs/benchmarks.md}
IMG=$(dirname "$OUT")/img
SYSTEMS=(pharos prometheus victoriametrics)

log() { echo "run.sh: $*" >&2; }

if [ -n "$REPORT_ONLY" ]; then
  WORK=$REPORT_ONLY KEEP_WORK=1
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/pharos-bench-run.XXXXXX")
fi
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

# ---- 1. build, peers, gnuplot ------------------------------------------------

BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
if [ -z "${BENCH_BUILD_DIR:-}" ] && [ -z "$REPORT_ONLY" ]; then
  if [ ! -f "$BUILD/build.ninja" ]; then
    log "configuring $BUILD (release)"
    meson setup "$BUILD" --buildtype=release -Db_lto=true -Dtests=false >/dev/null || exit 1
  fi
  log "building"
  nice ninja -C "$BUILD" -j2 >/dev/null || { log "build failed"; exit 1; }
fi
BENCH_TSDB=$BUILD/bench/bench_tsdb
PB=$BUILD/bench/pharos_bench
PHAROS=$BUILD/server/pharos
PEXP=$BUILD/exporters/pharos-exporter
PCTL=$BUILD/cli/pharosctl
for b in "$BENCH_TSDB" "$PB"; do
  [ -x "$b" ] || { log "missing $b (is subdir('bench') in meson.build?)"; exit 1; }
done

PEERS=${PHAROS_PEERS_DIR:-$ROOT/.cache/peers/root}
fetch_peers() { # as pharos.sh does: download and unpack, never install
  local dir=$ROOT/.cache/peers pkg
  mkdir -p "$dir/debs" "$dir/root"
  for pkg in prometheus prometheus-node-exporter victoria-metrics; do
    [ -e "$dir/.$pkg.done" ] && continue
    if (cd "$dir/debs" && apt-get download "$pkg" >/dev/null 2>&1); then
      dpkg -x "$(ls -t "$dir"/debs/"${pkg}"_*.deb | head -1)" "$dir/root" && touch "$dir/.$pkg.done"
    else
      log "could not download $pkg; its scenarios will be reported as not available"
    fi
  done
}
if { [ "$DO_PEERS" = 1 ] || [ "$DO_SCRAPE" = 1 ]; } && [ -z "$REPORT_ONLY" ] &&
   [ -z "${PHAROS_PEERS_DIR:-}" ] && [ ! -x "$PEERS/usr/bin/prometheus" ]; then
  fetch_peers
fi
# the Debian package version, for binaries that print none
VM_VERSION_DEB=$(ls "$PEERS"/../debs/victoria-metrics_*.deb "$ROOT"/.cache/peers/debs/victoria-metrics_*.deb 2>/dev/null | head -1 |
  sed -n 's/.*victoria-metrics_\([^_]*\)_.*/victoria-metrics \1 (Debian package)/p')
PROM=$PEERS/usr/bin/prometheus
VM=$PEERS/usr/bin/victoria-metrics
NODEEXP=$PEERS/usr/bin/prometheus-node-exporter

if ! command -v gnuplot >/dev/null; then
  log "installing gnuplot-nox"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gnuplot-nox \
    >/dev/null 2>&1 || log "gnuplot not available: no charts"
fi

# ---- helpers -------------------------------------------------------------------

kv() { awk -v k="$2" '$1==k{print $2; exit}' "$1" 2>/dev/null; }
# stat3: "median min max" of the numbers on stdin ("- - -" when none)
stat3() {
  grep -E '^-?[0-9.eE+-]+$' | sort -g | awk '{a[NR]=$1} END{
    if (NR==0) {print "- - -"; exit}
    m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; print m, a[1], a[NR]}'
}
# collect SYS KEY: the key over all runs of SYS -> "median min max"
collect() {
  local r
  for ((r = 1; r <= RUNS; r++)); do kv "$WORK/res/$1/$r.kv" "$2"; done | stat3
}
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
proc_cpu() { # seconds of user+system CPU of a process
  sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($12+$13)/hz}'
}
proc_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null; }
now() { date +%s.%N; }
calc() { awk "BEGIN{printf \"%.6f\\n\", $1}"; }
wait_http() { # URL timeout_s -> 0 when it answered 2xx
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -sf -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
stop_pid() { # PID: SIGTERM, then SIGKILL after 60 s
  local i
  kill -TERM "$1" 2>/dev/null || return 0
  for ((i = 0; i < 600; i++)); do kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }; sleep 0.1; done
  kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null
}
dir_bytes() { du -sb "$1" 2>/dev/null | cut -f1; }
# bytes of the block directories (those holding meta.json) under $1
block_bytes() {
  local d s=0
  for d in "$1"/*/; do [ -f "$d/meta.json" ] && s=$((s + $(dir_bytes "$d"))); done
  echo "$s"
}
block_count() { local d n=0; for d in "$1"/*/; do [ -f "$d/meta.json" ] && n=$((n + 1)); done; echo "$n"; }
# waits until the size of $1 and its block count stop changing (3 polls, 3 s
# apart), up to $2 seconds; with $3=blocks, also until a block exists
wait_quiet() {
  local d=$1 t=$2 want=${3:-} last="" same=0 i cur
  for ((i = 0; i < t; i += 3)); do
    cur="$(dir_bytes "$d") $(block_count "$d")"
    if [ "$cur" = "$last" ] && { [ -z "$want" ] || [ "$(block_count "$d")" -gt 0 ]; }; then
      same=$((same + 1)); [ $same -ge 3 ] && return 0
    else same=0; fi
    last=$cur
    sleep 3
  done
  return 1
}

# ---- systems -------------------------------------------------------------------
# start_SYS DIR PORT: starts it in the background, sets SPID, DATA, READY_URL,
# WRITE_PATH, QUERY_EXTRA

start_pharos() {
  [ -x "$PHAROS" ] || return 1
  cat >"$1/pharos.yml" <<EOF
global:
  scrape_interval: 15s
storage:
  tsdb:
    out_of_order_time_window: 30d
scrape_configs: []
EOF
  DATA=$1/data READY_URL="http://127.0.0.1:$2/-/ready" WRITE_PATH=/api/v1/write QUERY_EXTRA=""
  nice -n 0 "$PHAROS" --config.file="$1/pharos.yml" --storage.tsdb.path="$DATA" \
    --web.listen-address="127.0.0.1:$2" --web.enable-remote-write-receiver \
    --storage.tsdb.retention.time=30d --log.level=warn >>"$1/log" 2>&1 &
  SPID=$!
}
start_prometheus() {
  [ -x "$PROM" ] || return 1
  cat >"$1/prometheus.yml" <<EOF
global:
  scrape_interval: 15s
storage:
  tsdb:
    out_of_order_time_window: 30d
scrape_configs: []
EOF
  DATA=$1/data READY_URL="http://127.0.0.1:$2/-/ready" WRITE_PATH=/api/v1/write QUERY_EXTRA=""
  "$PROM" --config.file="$1/prometheus.yml" --storage.tsdb.path="$DATA" \
    --web.listen-address="127.0.0.1:$2" --web.enable-remote-write-receiver \
    --storage.tsdb.retention.time=30d --log.level=warn >>"$1/log" 2>&1 &
  SPID=$!
}
start_victoriametrics() {
  [ -x "$VM" ] || return 1
  DATA=$1/data READY_URL="http://127.0.0.1:$2/health" WRITE_PATH=/api/v1/write
  QUERY_EXTRA="nocache=1"
  "$VM" -storageDataPath="$DATA" -httpListenAddr="127.0.0.1:$2" -retentionPeriod=100y \
    -search.latencyOffset=0s -search.disableCache -loggerLevel=ERROR >>"$1/log" 2>&1 &
  SPID=$!
}
version_of() {
  case $1 in
    pharos) "$PHAROS" --version 2>&1 | head -1 ;;
    prometheus) "$PROM" --version 2>&1 | head -1 ;;
    victoriametrics) local v; v=$("$VM" -version 2>&1 | head -1)
      [ -n "$v" ] || v=$(cat "$WORK/vm_version" 2>/dev/null)
      [ -n "$v" ] || v=${VM_VERSION_DEB:-}
      echo "${v:-unknown}" ;;
    node_exporter) "$NODEEXP" --version 2>&1 | head -1 ;;
    pharos-exporter) "$PEXP" --version 2>&1 | head -1 ;;
  esac
}
# compaction / flush before measuring the disk
settle_disk() { # SYS BASEURL
  case $1 in
    victoriametrics)
      curl -sf -o /dev/null "$2/internal/force_flush" || true
      curl -sf -o /dev/null "$2/internal/force_merge" || true
      [ "$COMPACT_WAIT" -gt 0 ] && wait_quiet "$DATA" "$COMPACT_WAIT" ;;
    *) [ "$COMPACT_WAIT" -gt 0 ] && wait_quiet "$DATA" "$COMPACT_WAIT" blocks ;;
  esac
  return 0
}

# ---- 2. TSDB benchmark ---------------------------------------------------------

declare -A AVAIL EXP_AVAIL
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg) RUN_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
if [ -n "$REPORT_ONLY" ]; then
  # shellcheck disable=SC1091
  . "$WORK/state.sh" || { log "$WORK/state.sh missing"; exit 1; }
  DO_TSDB=0
fi
mkdir -p "$WORK/res"
if [ -n "$TSDB_KV" ]; then
  cp "$TSDB_KV" "$WORK/res/tsdb.kv"
elif [ "$DO_TSDB" = 1 ]; then
  log "bench_tsdb $([ $QUICK = 1 ] && echo --quick)"
  if [ "$QUICK" = 1 ]; then
    nice "$BENCH_TSDB" --quick --out "$WORK/res/tsdb.kv" >"$WORK/res/tsdb.txt" 2>"$WORK/res/tsdb.err"
  else
    nice "$BENCH_TSDB" --runs 3 --out "$WORK/res/tsdb.kv" >"$WORK/res/tsdb.txt" 2>"$WORK/res/tsdb.err"
  fi || log "bench_tsdb failed: $(tail -3 "$WORK/res/tsdb.err")"
fi

# ---- 3. side by side: remote write, disk, queries, restart ------------------------

cat >"$WORK/queries.txt" <<'EOF'
# name<TAB>expression: the panels of a node_exporter dashboard
cpu_busy	100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))
cpu_modes	sum by (instance, mode) (rate(node_cpu_seconds_total[5m]))
load1	node_load1
mem_used	node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes
net_rx	sum by (instance) (rate(node_network_receive_bytes_total{device!="lo"}[5m]))
disk_io	rate(node_disk_io_time_seconds_total[5m])
fs_used	100 - 100 * node_filesystem_avail_bytes{fstype!="tmpfs"} / node_filesystem_size_bytes{fstype!="tmpfs"}
http_p99	histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))
temp_max	max by (instance) (max_over_time(node_hwmon_temp_celsius[10m]))
units_failed	count by (instance) (node_systemd_unit_state{state="failed"} == 1)
EOF

# The main panels of Grafana's "Node Exporter Full" dashboard (grafana.com
# 1860) for one host: every query target of those panels, one request each as
# Grafana sends them, with $node/$job written out and $__rate_interval left in
# (replaced per range below: max(step + scrape interval, 4 x scrape interval)).
cat >"$WORK/queries-nef.txt" <<'EOF'
# name<TAB>expression: Node Exporter Full, one host
cpu_busy	100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle",$N}[$__rate_interval])))
sys_load	scalar(node_load1{$N}) * 100 / count(count(node_cpu_seconds_total{$N}) by (cpu))
ram_used	(1 - (node_memory_MemAvailable_bytes{$N} / node_memory_MemTotal_bytes{$N})) * 100
swap_used	((node_memory_SwapTotal_bytes{$N} - node_memory_SwapFree_bytes{$N}) / (node_memory_SwapTotal_bytes{$N})) * 100
rootfs_used	100 - ((node_filesystem_avail_bytes{$N,mountpoint="/",fstype!="rootfs"} * 100) / node_filesystem_size_bytes{$N,mountpoint="/",fstype!="rootfs"})
cpu_cores	count(count(node_cpu_seconds_total{$N}) by (cpu))
uptime	node_time_seconds{$N} - node_boot_time_seconds{$N}
rootfs_total	node_filesystem_size_bytes{$N,mountpoint="/",fstype!="rootfs"}
ram_total	node_memory_MemTotal_bytes{$N}
swap_total	node_memory_SwapTotal_bytes{$N}
cpu_basic_system	sum(irate(node_cpu_seconds_total{$N,mode="system"}[$__rate_interval])) / scalar(count(count(node_cpu_seconds_total{$N}) by (cpu)))
cpu_basic_user	sum(irate(node_cpu_seconds_total{$N,mode="user"}[$__rate_interval])) / scalar(count(count(node_cpu_seconds_total{$N}) by (cpu)))
cpu_basic_iowait	sum(irate(node_cpu_seconds_total{$N,mode="iowait"}[$__rate_interval])) / scalar(count(count(node_cpu_seconds_total{$N}) by (cpu)))
cpu_basic_irqs	sum(irate(node_cpu_seconds_total{$N,mode=~".*irq"}[$__rate_interval])) / scalar(count(count(node_cpu_seconds_total{$N}) by (cpu)))
cpu_basic_other	sum(irate(node_cpu_seconds_total{$N,mode!="idle",mode!="user",mode!="system",mode!="iowait",mode!="irq",mode!="softirq"}[$__rate_interval])) / scalar(count(count(node_cpu_seconds_total{$N}) by (cpu)))
cpu_basic_idle	sum(irate(node_cpu_seconds_total{$N,mode="idle"}[$__rate_interval])) / scalar(count(count(node_cpu_seconds_total{$N}) by (cpu)))
mem_basic_total	node_memory_MemTotal_bytes{$N}
mem_basic_used	node_memory_MemTotal_bytes{$N} - node_memory_MemFree_bytes{$N} - (node_memory_Cached_bytes{$N} + node_memory_Buffers_bytes{$N} + node_memory_SReclaimable_bytes{$N})
mem_basic_cache	node_memory_Cached_bytes{$N} + node_memory_Buffers_bytes{$N} + node_memory_SReclaimable_bytes{$N}
mem_basic_free	node_memory_MemFree_bytes{$N}
mem_basic_swap	(node_memory_SwapTotal_bytes{$N} - node_memory_SwapFree_bytes{$N})
net_basic_rx	irate(node_network_receive_bytes_total{$N}[$__rate_interval]) * 8
net_basic_tx	irate(node_network_transmit_bytes_total{$N}[$__rate_interval]) * 8
disk_space_used	100 - ((node_filesystem_avail_bytes{$N,device!~"rootfs"} * 100) / node_filesystem_size_bytes{$N,device!~"rootfs"})
sys_load_1	node_load1{$N}
sys_load_5	node_load5{$N}
sys_load_15	node_load15{$N}
cpu_by_mode	sum by (mode) (irate(node_cpu_seconds_total{$N}[$__rate_interval])) / on () group_left () scalar(count(count(node_cpu_seconds_total{$N}) by (cpu)))
cpu_freq	node_cpu_scaling_frequency_hertz{$N}
pressure_cpu	rate(node_pressure_cpu_waiting_seconds_total{$N}[$__rate_interval])
pressure_mem	rate(node_pressure_memory_waiting_seconds_total{$N}[$__rate_interval])
pressure_io	rate(node_pressure_io_waiting_seconds_total{$N}[$__rate_interval])
disk_iops_read	irate(node_disk_reads_completed_total{$N,device=~"[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+"}[$__rate_interval])
disk_iops_write	irate(node_disk_writes_completed_total{$N,device=~"[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+"}[$__rate_interval])
disk_read_bytes	irate(node_disk_read_bytes_total{$N,device=~"[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+"}[$__rate_interval])
disk_write_bytes	irate(node_disk_written_bytes_total{$N,device=~"[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+"}[$__rate_interval])
disk_io_time	irate(node_disk_io_time_seconds_total{$N,device=~"[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+"}[$__rate_interval])
net_packets_rx	irate(node_network_receive_packets_total{$N}[$__rate_interval])
net_errs_rx	irate(node_network_receive_errs_total{$N}[$__rate_interval])
net_drop_rx	irate(node_network_receive_drop_total{$N}[$__rate_interval])
context_switches	irate(node_context_switches_total{$N}[$__rate_interval])
interrupts	irate(node_intr_total{$N}[$__rate_interval])
forks	irate(node_forks_total{$N}[$__rate_interval])
procs_running	node_procs_running{$N}
procs_blocked	node_procs_blocked{$N}
filefd	node_filefd_allocated{$N}
hwmon_temp	node_hwmon_temp_celsius{$N}
fs_files_free	node_filesystem_files_free{$N,device!~"rootfs"}
EOF
# ranges: name, length (s), step (s) as Grafana picks for a ~1200 px panel;
# 7 d only when the data covers it
QRANGES="1h 24h"
[ "${HOURS:-0}" -ge 169 ] 2>/dev/null && QRANGES="1h 24h 7d"
range_len() { case $1 in 1h) echo 3600 ;; 24h) echo 86400 ;; 7d) echo 604800 ;; esac; }
range_step() { case $1 in 1h) echo 15 ;; 24h) echo 120 ;; 7d) echo 600 ;; esac; }
rate_interval() { # STEP -> Grafana's $__rate_interval for a 15 s scrape interval
  local s=$(( $1 + 15 )); [ $s -lt 60 ] && s=60
  if [ $((s % 60)) = 0 ]; then echo "$((s / 60))m"; else echo "$((s / 60))m$((s % 60))s"; fi
}
nef_queries() { # RANGE -> path of the Node Exporter Full set for that range
  local f=$WORK/queries-nef-$1.txt
  sed -e "s/\\\$N/instance=\"$NEF_INSTANCE\",job=\"node\"/g" \
      -e "s/\\\$__rate_interval/$(rate_interval "$(range_step "$1")")/g" "$WORK/queries-nef.txt" >"$f"
  echo "$f"
}
NEF_INSTANCE=host0000.lan:9100

run_system() { # SYS RUN
  local sys=$1 run=$2 dir=$WORK/$1-$2 port base res code t0 c0 c1 r
  mkdir -p "$dir" "$WORK/res/$sys"
  res=$WORK/res/$sys/$run.kv
  : >"$res"
  local attempt
  for attempt in 1 2 3; do # a port picked free may be taken by someone else meanwhile
    port=$(free_port)
    base=http://127.0.0.1:$port
    if ! "start_$sys" "$dir" "$port"; then AVAIL[$sys]="binary missing"; return 1; fi
    PIDS+=("$SPID")
    t0=$(now)
    sleep 0.05
    if kill -0 "$SPID" 2>/dev/null || ! grep -q 'address already in use' "$dir/log"; then break; fi
    wait "$SPID" 2>/dev/null
  done
  if ! wait_http "$READY_URL" 60; then
    AVAIL[$sys]="did not become ready: $(tail -2 "$dir/log" | tr '\n' ' ')"; stop_pid "$SPID"; return 1
  fi
  echo "startup_s $(calc "$(now) - $t0")" >>"$res"
  [ "$sys" = victoriametrics ] && curl -s "$base/metrics" | grep -o 'vm_app_version{version="[^"]*"' |
    head -1 | sed 's/.*version="//; s/"$//' >"$WORK/vm_version"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Encoding: snappy' \
    -H 'Content-Type: application/x-protobuf' --data-binary '' "$base$WRITE_PATH")
  if [ "$code" = 404 ] || [ "$code" = 000 ]; then
    AVAIL[$sys]="remote write not available (HTTP $code)"; stop_pid "$SPID"; return 1
  fi
  c0=$(proc_cpu "$SPID")
  "$PB" write --url "$base$WRITE_PATH" --in "$WORK/rw.bin" >"$dir/write.out" 2>&1
  c1=$(proc_cpu "$SPID")
  awk '$1 ~ /^(samples|samples_ok|samples_rejected|samples_failed|seconds|samples_per_s|retries)$/' \
    "$dir/write.out" >>"$res"
  grep '^first_error' "$dir/write.out" | head -1 >"$dir/first_error"
  local ok; ok=$(kv "$dir/write.out" samples_ok)
  echo "cpu_ingest_s $(calc "$c1 - $c0")" >>"$res"
  [ -n "$ok" ] && [ "$ok" != 0 ] &&
    echo "cpu_s_per_msample $(calc "($c1 - $c0) / ($ok / 1000000)")" >>"$res"
  echo "rss_peak_ingest_kb $(proc_kb "$SPID" VmHWM)" >>"$res"
  sleep "$SETTLE"
  echo "rss_steady_kb $(proc_kb "$SPID" VmRSS)" >>"$res"
  echo "rss_steady_per_series_b $(calc "$(proc_kb "$SPID" VmRSS) * 1024 / $SERIES")" >>"$res"
  settle_disk "$sys" "$base"
  echo "rss_peak_kb $(proc_kb "$SPID" VmHWM)" >>"$res"
  local all wal blocks bn
  all=$(dir_bytes "$DATA"); wal=$(( $(dir_bytes "$DATA/wal" || echo 0) + 0 ))
  blocks=$(block_bytes "$DATA"); bn=$(block_count "$DATA")
  echo "disk_all_b $all" >>"$res"
  echo "disk_wal_b ${wal:-0}" >>"$res"
  echo "disk_blocks_b $blocks" >>"$res"
  echo "disk_blocks_n $bn" >>"$res"
  [ -n "$ok" ] && [ "$ok" != 0 ] && echo "disk_all_per_sample $(calc "$all / $ok")" >>"$res"
  # samples in blocks: from the blocks' meta.json (Prometheus and Pharos)
  local bs=0 m
  for m in "$DATA"/*/meta.json; do
    [ -f "$m" ] || continue
    bs=$((bs + $(grep -o '"numSamples": *[0-9]*' "$m" | grep -o '[0-9]*$' | head -1)))
  done
  if [ "$bs" -gt 0 ]; then
    echo "block_samples $bs" >>"$res"
    echo "disk_blocks_per_sample $(calc "$blocks / $bs")" >>"$res"
  fi
  # queries
  code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/query_range?query=1&start=0&end=60&step=15")
  if [ "$code" = 200 ]; then
    local rng set qf
    for rng in $QRANGES; do
      local len step
      len=$(range_len $rng) step=$(range_step $rng)
      # evaluation times 333 ms off the scrape grid: no sample lies exactly on
      # a window boundary (see the report's note on closed/left-open windows)
      local e=$(( (END_MS / 1000) / step * step ))
      # q: the dashboard set over all hosts; nef: Node Exporter Full, one host
      for set in q nef; do
        if [ $set = q ]; then qf=$WORK/queries.txt; else qf=$(nef_queries $rng); fi
        "$PB" query --url "$base" --queries "$qf" \
          --start "$((e - len - 1)).667" --end "$((e - 1)).667" \
          --step "$step" --runs "$QRUNS" --dump "$dir/$set$rng.dump" --extra "$QUERY_EXTRA" \
          >"$dir/$set$rng.out" 2>&1
        echo "$set${rng}_p50_ms $(kv "$dir/$set$rng.out" all_p50_ms)" >>"$res"
        echo "$set${rng}_p99_ms $(kv "$dir/$set$rng.out" all_p99_ms)" >>"$res"
        echo "$set${rng}_total_ms $(kv "$dir/$set$rng.out" sum_median_ms)" >>"$res"
        echo "$set${rng}_errors $(kv "$dir/$set$rng.out" errors)" >>"$res"
        cp "$dir/$set$rng.out" "$WORK/res/$sys/$set$rng.$run.out"
        [ "$run" = 1 ] && cp "$dir/$set$rng.dump" "$WORK/res/$sys/$set$rng.dump"
      done
    done
  else
    echo "query_unavailable 1" >>"$res"
  fi
  # restart with a full head
  stop_pid "$SPID"
  "start_$sys" "$dir" "$port"
  PIDS+=("$SPID")
  t0=$(now)
  if wait_http "$READY_URL" 120; then
    echo "restart_s $(calc "$(now) - $t0")" >>"$res"
  fi
  stop_pid "$SPID"
  rm -rf "$dir/data"
  return 0
}

if [ "$DO_PEERS" = 1 ] && [ -z "$REPORT_ONLY" ]; then
  log "generating the remote-write workload: $HOSTS hosts x ${HOURS}h"
  "$PB" gen-rw --hosts "$HOSTS" --hours "$HOURS" --shards "$SHARDS" --end-now \
    --out "$WORK/rw.bin" >"$WORK/res/rw.kv" || { log "gen-rw failed"; exit 1; }
  SERIES=$(kv "$WORK/res/rw.kv" series)
  END_MS=$(kv "$WORK/res/rw.kv" end_ms)
  START_MS=$(kv "$WORK/res/rw.kv" start_ms)
  for sys in "${SYSTEMS[@]}"; do
    AVAIL[$sys]=ok
    for ((r = 1; r <= RUNS; r++)); do
      log "$sys run $r/$RUNS"
      run_system "$sys" "$r" || { log "$sys: ${AVAIL[$sys]}"; break; }
    done
  done
  # answers compared with Prometheus's
  for sys in pharos victoriametrics; do
    for rng in $QRANGES; do
      for set in q nef; do # cmp<rng>.out for the dashboard set, nefcmp<rng>.out
        cmpf=$WORK/res/$sys/cmp$rng.out
        [ $set = nef ] && cmpf=$WORK/res/$sys/nefcmp$rng.out
        if [ -f "$WORK/res/prometheus/$set$rng.dump" ] && [ -f "$WORK/res/$sys/$set$rng.dump" ]; then
          "$PB" compare --tol 1e-6 --skip-before "$(( START_MS / 1000 + 600 ))" \
            "$WORK/res/prometheus/$set$rng.dump" "$WORK/res/$sys/$set$rng.dump" \
            >"$cmpf" 2>&1
        fi
      done
    done
  done
fi

# ---- 5. exporters ------------------------------------------------------------------

run_exporter() { # NAME BIN RUN
  local name=$1 bin=$2 run=$3 port dir=$WORK/exp-$1-$3 c0 c1 i res
  res=$WORK/res/exp-$name/$run.kv
  mkdir -p "$dir" "$WORK/res/exp-$name"
  : >"$res"
  local pid attempt
  for attempt in 1 2 3; do # retry when the port picked was taken meanwhile
    port=$(free_port)
    "$bin" --web.listen-address="127.0.0.1:$port" >"$dir/log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_http "http://127.0.0.1:$port/metrics" 30 && break
    stop_pid "$pid"
    grep -q 'address already in use' "$dir/log" || return 1
    [ $attempt = 3 ] && return 1
  done
  for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; done
  c0=$(proc_cpu "$pid")
  local t0; t0=$(now)
  for ((i = 0; i < EXP_SCRAPES; i++)); do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; done
  local t1; t1=$(now)
  c1=$(proc_cpu "$pid")
  echo "cpu_ms_per_scrape $(calc "($c1 - $c0) * 1000 / $EXP_SCRAPES")" >>"$res"
  echo "wall_ms_per_scrape $(calc "($t1 - $t0) * 1000 / $EXP_SCRAPES")" >>"$res"
  echo "rss_kb $(proc_kb "$pid" VmRSS)" >>"$res"
  echo "series $(curl -s "http://127.0.0.1:$port/metrics" | grep -vc '^#')" >>"$res"
  echo "bytes $(curl -s "http://127.0.0.1:$port/metrics" | wc -c)" >>"$res"
  stop_pid "$pid"
}
if [ "$DO_EXP" = 1 ] && [ -z "$REPORT_ONLY" ]; then
  for pair in "pharos-exporter:$PEXP" "node_exporter:$NODEEXP"; do
    name=${pair%%:*} bin=${pair#*:}
    EXP_AVAIL[$name]=ok
    if [ ! -x "$bin" ]; then EXP_AVAIL[$name]="binary missing"; continue; fi
    for ((r = 1; r <= RUNS; r++)); do
      log "$name run $r/$RUNS"
      run_exporter "$name" "$bin" "$r" || { EXP_AVAIL[$name]="did not start"; break; }
    done
  done
fi

# ---- 6. scraping many targets ----------------------------------------------------

scrape_config() { # TARGET_PORT -> the config, both systems
  local i
  echo "global:"
  echo "  scrape_interval: ${SCRAPE_INTERVAL}s"
  echo "  scrape_timeout: $((SCRAPE_INTERVAL > 10 ? 10 : SCRAPE_INTERVAL - 1))s"
  echo "scrape_configs:"
  echo "  - job_name: bench"
  echo "    static_configs:"
  for ((i = 0; i < SCRAPE_TARGETS; i++)); do
    echo "      - targets: ['127.0.0.1:$1']"
    printf "        labels: {instance: 'host%04d', __metrics_path__: '/host/%d/metrics'}\n" "$i" "$i"
  done
}
serve_samples() { curl -sf "http://127.0.0.1:$1/stats" | awk '$1=="samples"{print $2}'; }
run_scrape() { # SYS RUN TARGET_PORT
  local sys=$1 run=$2 tport=$3 dir=$WORK/scrape-$1-$2 res port bin pid c0 c1 s0 s1 attempt
  res=$WORK/res/scrape-$sys/$run.kv
  mkdir -p "$dir" "$WORK/res/scrape-$sys"
  : >"$res"
  if [ "$sys" = pharos ]; then bin=$PHAROS; else bin=$PROM; fi
  [ -x "$bin" ] || { SCRAPE_AVAIL[$sys]="binary missing"; return 1; }
  scrape_config "$tport" >"$dir/config.yml"
  for attempt in 1 2 3; do
    port=$(free_port)
    "$bin" --config.file="$dir/config.yml" --storage.tsdb.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" --log.level=warn >>"$dir/log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    sleep 0.05
    if kill -0 "$pid" 2>/dev/null || ! grep -q 'address already in use' "$dir/log"; then break; fi
    wait "$pid" 2>/dev/null
  done
  if ! wait_http "http://127.0.0.1:$port/-/ready" 60; then
    SCRAPE_AVAIL[$sys]="did not become ready: $(tail -2 "$dir/log" | tr '\n' ' ' | cut -c1-200)"
    stop_pid "$pid"; return 1
  fi
  sleep $((SCRAPE_INTERVAL + 5)) # every target scraped at least once: series created
  c0=$(proc_cpu "$pid"); s0=$(serve_samples "$tport")
  sleep "$SCRAPE_WINDOW"
  c1=$(proc_cpu "$pid"); s1=$(serve_samples "$tport")
  local up
  up=$(curl -sf "http://127.0.0.1:$port/api/v1/query?query=sum(up)" | grep -o '"value":\[[^]]*\]' |
       sed 's/.*,"//; s/"\]//')
  echo "cpu_s $(calc "$c1 - $c0")" >>"$res"
  echo "samples $((s1 - s0))" >>"$res"
  [ $((s1 - s0)) -gt 0 ] && echo "cpu_s_per_msample $(calc "($c1 - $c0) / (($s1 - $s0) / 1000000)")" >>"$res"
  echo "rss_kb $(proc_kb "$pid" VmRSS)" >>"$res"
  echo "rss_peak_kb $(proc_kb "$pid" VmHWM)" >>"$res"
  echo "targets_up ${up:-0}" >>"$res"
  stop_pid "$pid"
  rm -rf "$dir/data"
  return 0
}
declare -A SCRAPE_AVAIL
SCRAPE_SERIES=${SCRAPE_SERIES:-}
if [ "$DO_SCRAPE" = 1 ] && [ -z "$REPORT_ONLY" ]; then
  for ((attempt = 1; attempt <= 3; attempt++)); do
    tport=$(free_port)
    nice "$PB" serve --hosts "$SCRAPE_TARGETS" --listen "127.0.0.1:$tport" >"$WORK/serve.out" 2>&1 &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    wait_http "http://127.0.0.1:$tport/stats" 10 && break
    stop_pid "$SERVE_PID"; SERVE_PID=""
  done
  if [ -n "${SERVE_PID:-}" ]; then
    SCRAPE_SERIES=$(grep -o 'series_per_host=[0-9]*' "$WORK/serve.out" | cut -d= -f2)
    for sys in pharos prometheus; do
      SCRAPE_AVAIL[$sys]=ok
      for ((r = 1; r <= RUNS; r++)); do
        log "scrape: $sys run $r/$RUNS ($SCRAPE_TARGETS targets)"
        run_scrape "$sys" "$r" "$tport" || { log "scrape $sys: ${SCRAPE_AVAIL[$sys]}"; break; }
      done
    done
    stop_pid "$SERVE_PID"
  else
    SCRAPE_AVAIL[pharos]="target server did not start" SCRAPE_AVAIL[prometheus]="target server did not start"
  fi
fi

# ---- 7. backfill from OpenMetrics ---------------------------------------------------

OM_AVAIL=${OM_AVAIL:-not run} # set by state.sh with --report-only
if [ "$DO_OM" = 1 ] && [ -z "$REPORT_ONLY" ]; then
  mkdir -p "$WORK/res/om"
  if [ ! -x "$PCTL" ]; then OM_AVAIL="pharosctl missing"
  else
    log "backfill: gen-om $HOSTS hosts x ${HOURS}h"
    "$PB" gen-om --hosts "$HOSTS" --hours "$HOURS" >"$WORK/om.txt" 2>"$WORK/res/om/gen.kv"
    OM_AVAIL=ok
    for ((r = 1; r <= RUNS; r++)); do
      log "backfill run $r/$RUNS"
      rm -rf "$WORK/om-db"
      t0=$(now)
      if nice "$PCTL" tsdb import openmetrics "$WORK/om.txt" "$WORK/om-db" >"$WORK/res/om/import.$r.out" 2>&1; then
        t1=$(now)
        bs=0
        for m in "$WORK"/om-db/*/meta.json; do
          [ -f "$m" ] || continue
          bs=$((bs + $(grep -o '"numSamples": *[0-9]*' "$m" | grep -o '[0-9]*$' | head -1)))
        done
        # pharosctl prints "Imported N samples of M series ..."
        n=$(grep -o 'Imported [0-9]* samples' "$WORK/res/om/import.$r.out" | grep -o '[0-9]*' | head -1)
        { echo "seconds $(calc "$t1 - $t0")"
          echo "samples_imported ${n:-0}"
          echo "samples_in_blocks $bs"
          [ -n "$n" ] && echo "samples_per_s $(calc "$n / ($t1 - $t0)")"
          echo "blocks $(block_count "$WORK/om-db")"
          echo "data_dir_b $(dir_bytes "$WORK/om-db")"
          [ "$bs" -gt 0 ] && echo "bytes_per_sample $(calc "$(block_bytes "$WORK/om-db") / $bs")"
        } >"$WORK/res/om/$r.kv"
      else
        OM_AVAIL="import failed: $(tail -2 "$WORK/res/om/import.$r.out" | tr '\n' ' ' | cut -c1-300)"
        break
      fi
    done
    rm -rf "$WORK/om-db" "$WORK/om.txt"
  fi
fi

# ---- 8. report ----------------------------------------------------------------------

# everything the report needs, for --report-only
[ -z "$REPORT_ONLY" ] && declare -p QUICK RUNS HOSTS HOURS SHARDS QRUNS EXP_SCRAPES SETTLE COMPACT_WAIT \
  DO_PEERS DO_EXP AVAIL EXP_AVAIL DO_SCRAPE SCRAPE_AVAIL SCRAPE_TARGETS SCRAPE_INTERVAL SCRAPE_WINDOW \
  SCRAPE_SERIES DO_OM OM_AVAIL SERIES START_MS END_MS QRANGES NEF_INSTANCE VM_VERSION_DEB LOADAVG_START RUN_DATE 2>/dev/null |
  sed 's/^declare -A/declare -gA/' >"$WORK/state.sh"

log "writing $OUT"
mkdir -p "$IMG"
T=$WORK/res/tsdb.kv
# fmt NUMBER [DECIMALS]: "-" for empty
fmt() { [ -z "${1:-}" ] || [ "$1" = - ] && { echo "-"; return; }; awk -v v="$1" -v d="${2:-2}" 'BEGIN{
  a = v < 0 ? -v : v
  if (a >= 1e9) printf "%.*f G\n", d, v/1e9; else if (a >= 1e6) printf "%.*f M\n", d, v/1e6;
  else if (a >= 1e4) printf "%.*f k\n", d, v/1e3; else printf "%.*f\n", d, v}'; }
# cell SYS KEY [SCALE] [DECIMALS]: "median (min-max)" over runs
cell() {
  local s; s=$(collect "$1" "$2")
  set -- $s "${3:-1}" "${4:-2}"
  [ "$1" = - ] && { echo "-"; return; }
  local m lo hi
  m=$(awk -v a="$1" -v k="$4" 'BEGIN{print a*k}'); lo=$(awk -v a="$2" -v k="$4" 'BEGIN{print a*k}')
  hi=$(awk -v a="$3" -v k="$4" 'BEGIN{print a*k}')
  if [ "$RUNS" -gt 1 ]; then echo "$(fmt "$m" "$5") ($(fmt "$lo" "$5")–$(fmt "$hi" "$5"))"
  else fmt "$m" "$5"; fi
}
med() { collect "$1" "$2" | cut -d' ' -f1; }
ratio() { # A B -> A/B ("-" unless both are numbers)
  [[ "${1:-}" =~ ^[0-9.]+$ && "${2:-}" =~ ^[0-9.]+$ ]] || { echo "-"; return; }
  awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "-"; else printf "%.2fx\n", a/b }'
}
tk() { kv "$T" "$1"; }
tcell() { # key scale decimals: median (min–max) of a bench_tsdb figure
  local m lo hi
  m=$(tk "$1"); lo=$(tk "$1_min"); hi=$(tk "$1_max")
  [ -z "$m" ] && { echo "-"; return; }
  m=$(awk -v a="$m" -v k="$2" 'BEGIN{print a*k}')
  if [ -n "$lo" ] && [ "$(tk runs)" != 1 ]; then
    lo=$(awk -v a="$lo" -v k="$2" 'BEGIN{print a*k}'); hi=$(awk -v a="$hi" -v k="$2" 'BEGIN{print a*k}')
    echo "$(fmt "$m" "$3") ($(fmt "$lo" "$3")–$(fmt "$hi" "$3"))"
  else fmt "$m" "$3"; fi
}
avail() { [ "${AVAIL[$1]:-}" = ok ]; }

{
  cat "$ROOT/bench/benchmarks-intro.md"
  echo
  echo "## This run"
  echo
  echo "Generated by \`bench/run.sh$([ $QUICK = 1 ] && echo ' --quick')\` on $RUN_DATE."
  [ "$QUICK" = 1 ] && echo "**Quick mode: tiny sizes, one run — a smoke run of the harness, not a measurement.**"
  echo
  echo "| machine | |"
  echo "|---|---|"
  echo "| CPU | $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') |"
  echo "| memory | $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) |"
  echo "| kernel | $(uname -r) |"
  echo "| load average at start | $LOADAVG_START (other work shares this machine) |"
  for s in pharos prometheus victoriametrics pharos-exporter node_exporter; do
    echo "| $s | $(version_of $s 2>/dev/null | tr '|' '/' || echo missing) |"
  done
  echo

  if [ -s "$T" ]; then
    echo "## TSDB alone (bench_tsdb)"
    echo
    echo "The storage API driven directly: $(fmt "$(tk hosts)" 0) hosts × $(fmt "$(tk series_per_host)" 0) series" \
         "($(fmt "$(tk append_series)" 0) series), 15 s interval. Throughput over $(tk tput_hours) h of samples," \
         "RSS and replay over $(tk rss_hours) h, disk over $(tk disk_hours) h. Median (min–max) of $(tk runs) run(s)" \
         "where a figure was repeated."
    echo
    echo "| measure | Pharos | target (issue 3) |"
    echo "|---|---|---|"
    echo "| appender, 1 thread (samples/s) | $(tcell append_1t_sps 1 2) | ≥ 2 M per core |"
    echo "| appender, 2 threads (samples/s) | $(tcell append_2t_sps 1 2) | |"
    echo "| appender CPU, 1 thread (CPU s per M samples) | $(tcell append_1t_cpu_s_per_msample 1 3) | |"
    echo "| RSS per active head series, $(fmt "$(tk head_series)" 0) series × $(tk rss_hours) h (bytes) | $(fmt "$(tk head_rss_per_series)" 0) | ≤ 1024 (Prometheus 6.0 k, VictoriaMetrics 3.1 k) |"
    echo "| restart: WAL replay of that head (s) | $(tcell head_replay_s 1 3) | < 1 s (Prometheus 2.4 s) |"
    if [ -n "$(tk big_replay_s)" ]; then
      echo "| restart: WAL replay of $(fmt "$(tk big_series)" 2) series × $(tk big_hours) h (s) | $(fmt "$(tk big_replay_s)" 2) | < 10 s |"
      echo "| RSS per active head series, $(fmt "$(tk big_series)" 2) series (bytes) | $(fmt "$(tk big_rss_per_series)" 0) | ≤ 1024 |"
    fi
    echo "| disk: blocks only, per sample in blocks (bytes) | $(fmt "$(tk disk_bytes_per_sample_blocks)" 3) | ≤ 0.8 × VictoriaMetrics (1.28 → ≤ 1.02) |"
    echo "| disk: whole data dir incl. WAL, per sample ingested (bytes) | $(fmt "$(tk disk_bytes_per_sample_all)" 3) | |"
    echo "| disk: whole data dir excl. WAL, per sample ingested (bytes) | $(fmt "$(tk disk_bytes_per_sample_no_wal)" 3) | |"
    echo "| lossless check (samples compared / mismatches) | $(fmt "$(tk lossless_checked)" 2) / $(tk lossless_mismatches) | 0 mismatches |"
    echo
    echo "Disk figures: $(fmt "$(tk disk_samples)" 2) samples ingested over $(tk disk_hours) h, $(fmt "$(tk disk_block_samples)" 2)" \
         "of them in $(tk disk_blocks) block(s) (highest compaction level $(tk disk_max_level)), the rest in the head (WAL)." \
         "Data dir $(fmt "$(tk disk_dir_bytes)" 2)B, of which WAL $(fmt "$(tk disk_wal_bytes)" 2)B."
    echo
    echo "Select latency (querier open, select, every sample read; ms):"
    echo
    echo "| matchers | last 1 h (head) | whole $(tk disk_hours) h (blocks + head) | series | samples read (whole range) |"
    echo "|---|---|---|---|---|"
    names=("node_load1, every host" "cpu idle, every host" "regex on instance (10 hosts' cpu)"
           "regex on name + != (network bytes)" "one host, every series" "histogram buckets, one handler")
    for i in 0 1 2 3 4 5; do
      echo "| ${names[$i]} | $(tcell select_1h_${i}_ms 1 3) | $(tcell select_all_${i}_ms 1 3) | $(fmt "$(tk select_all_${i}_series)" 0) | $(fmt "$(tk select_all_${i}_samples)" 2) |"
    done
    echo
  fi

  if [ "$DO_PEERS" = 1 ]; then
    echo "## Side by side: remote-write ingestion"
    echo
    echo "Workload: $(fmt "$HOSTS" 0) hosts, $(fmt "$SERIES" 0) series, ${HOURS} h at 15 s = $(fmt "$(kv "$WORK/res/rw.kv" samples)" 2)" \
         "samples in $(kv "$WORK/res/rw.kv" requests) remote-write 1.0 requests (≤ 2,000 samples each," \
         "$(fmt "$(kv "$WORK/res/rw.kv" bytes)" 2)B snappy-compressed) over $SHARDS connections." \
         "Median (min–max) of $RUNS run(s)."
    echo
    echo "| measure | Pharos | Prometheus | VictoriaMetrics | Pharos / Prometheus | Pharos / VictoriaMetrics |"
    echo "|---|---|---|---|---|---|"
    row() { # title key scale decimals
      local a b c
      a=$(avail pharos && cell pharos "$2" "$3" "$4" || echo "not available")
      b=$(avail prometheus && cell prometheus "$2" "$3" "$4" || echo "not available")
      c=$(avail victoriametrics && cell victoriametrics "$2" "$3" "$4" || echo "not available")
      echo "| $1 | $a | $b | $c | $(ratio "$(med pharos "$2")" "$(med prometheus "$2")") | $(ratio "$(med pharos "$2")" "$(med victoriametrics "$2")") |"
    }
    row "ingestion (samples/s)" samples_per_s 1 2
    row "samples accepted" samples_ok 1 2
    row "samples rejected (4xx)" samples_rejected 1 0
    row "CPU seconds per million samples" cpu_s_per_msample 1 3
    row "peak RSS during ingestion (MiB)" rss_peak_ingest_kb 0.0009765625 1
    row "peak RSS incl. compaction (MiB)" rss_peak_kb 0.0009765625 1
    row "steady RSS after ingestion (MiB)" rss_steady_kb 0.0009765625 1
    row "steady RSS per active series (bytes)" rss_steady_per_series_b 1 0
    row "disk: whole data dir, per sample (bytes)" disk_all_per_sample 1 3
    row "disk: blocks only, per sample in blocks (bytes)" disk_blocks_per_sample 1 3
    row "disk: WAL (MiB)" disk_wal_b 0.00000095367431640625 1
    row "blocks on disk" disk_blocks_n 1 0
    row "startup, empty (s)" startup_s 1 2
    row "restart with the data, until ready (s)" restart_s 1 2
    echo
    echo "What is counted on disk: every file under the data directory after ingestion, a settle of ${SETTLE} s and" \
         "$([ "$COMPACT_WAIT" -gt 0 ] && echo "waiting (up to ${COMPACT_WAIT} s) until its size and block count stop changing" || echo "no compaction wait (quick mode)");" \
         "VictoriaMetrics first gets /internal/force_flush and /internal/force_merge. \"Blocks only\" is the sum of the" \
         "directories holding a meta.json (Pharos, Prometheus) divided by the numSamples they declare; VictoriaMetrics" \
         "has no WAL and no blocks, so its whole directory is the comparable figure."
    echo
    for s in "${SYSTEMS[@]}"; do
      avail "$s" || echo "- $s: ${AVAIL[$s]:-not run}"
      for ((r = 1; r <= RUNS; r++)); do
        [ -s "$WORK/$s-$r/first_error" ] && echo "- $s run $r, first rejected request: \`$(cut -c1-300 "$WORK/$s-$r/first_error" | sed 's/^first_error //; s/`//g')\`"
      done
    done
    echo
    echo "## Side by side: query latency"
    echo
    rdesc=""
    for rng in $QRANGES; do rdesc="$rdesc, the last $rng (step $(range_step $rng) s)"; done
    echo "The query set (a node_exporter dashboard over all hosts: $(grep -vc '^#' "$WORK/queries.txt") panels) over${rdesc#,}" \
         "of the data; each query $QRUNS times after one warm-up." \
         "p50/p99 over all query executions of a run; median (min–max) over runs. VictoriaMetrics with nocache=1."
    echo
    echo "| range | measure | Pharos | Prometheus | VictoriaMetrics | Pharos / Prometheus | Pharos / VictoriaMetrics |"
    echo "|---|---|---|---|---|---|---|"
    for rng in $QRANGES; do
      for p in p50 p99; do
        a=$(avail pharos && cell pharos "q${rng}_${p}_ms" 1 2 || echo "not available")
        b=$(avail prometheus && cell prometheus "q${rng}_${p}_ms" 1 2 || echo "not available")
        c=$(avail victoriametrics && cell victoriametrics "q${rng}_${p}_ms" 1 2 || echo "not available")
        echo "| $rng | $p (ms) | $a | $b | $c | $(ratio "$(med pharos "q${rng}_${p}_ms")" "$(med prometheus "q${rng}_${p}_ms")") |" \
             "$(ratio "$(med pharos "q${rng}_${p}_ms")" "$(med victoriametrics "q${rng}_${p}_ms")") |"
      done
    done
    echo
    # per_query_table SET QUERYFILE-FOR-NAMES CMP-PREFIX
    per_query_table() {
      local set=$1 names=$2 cmpp=$3 rng qn qe cells s f v
      echo "| query | range | Pharos | Prometheus | VictoriaMetrics | Pharos / Prometheus | Pharos answer | VictoriaMetrics answer |"
      echo "|---|---|---|---|---|---|---|---|"
      for rng in $QRANGES; do
        while IFS=$'\t' read -r qn qe; do
          [ -z "$qn" ] || [ "${qn:0:1}" = "#" ] && continue
          cells=()
          for s in "${SYSTEMS[@]}"; do
            f=$WORK/res/$s/$set$rng.1.out
            v=$(grep -E "^query [0-9]+ $qn " "$f" 2>/dev/null | head -1)
            if [ -z "$v" ]; then cells+=("n/a")
            elif grep -q ' error ' <<<"$v"; then cells+=("error")
            else cells+=("$(sed -E 's/.*median_ms=([0-9.]+).*/\1/' <<<"$v")"); fi
          done
          verdict() {
            local f=$WORK/res/$1/$cmpp$rng.out
            [ -f "$f" ] || { echo "n/a"; return; }
            grep -E "^compare $qn " "$f" | head -1 | cut -d' ' -f3 | sed 's/DIFFERS/**DIFFERS**/'
          }
          echo "| $qn | $rng | ${cells[0]} | ${cells[1]} | ${cells[2]} | $(ratio "${cells[0]}" "${cells[1]}") |" \
               "$(verdict pharos) | $(verdict victoriametrics) |"
        done <"$names"
      done
      echo
      for s in pharos victoriametrics; do
        for rng in $QRANGES; do
          f=$WORK/res/$s/$cmpp$rng.out
          [ -f "$f" ] && grep -q DIFFERS "$f" &&
            grep DIFFERS "$f" | head -3 | sed "s/^compare /- $s $rng: /; s/\`//g" | cut -c1-400
        done
      done
    }
    echo "Per query (run 1, median ms; \"equal\" = same series, timestamps and values within 1e-6 relative of Prometheus's answer):"
    echo
    per_query_table q "$WORK/queries.txt" cmp
    echo
    echo "### Node Exporter Full, one host"
    echo
    echo "The main panels of Grafana's Node Exporter Full dashboard for one host (instance=\"$NEF_INSTANCE\"):" \
         "$(grep -vc '^#' "$WORK/queries-nef.txt") query targets, one request each as Grafana sends them," \
         "\`\$__rate_interval\` written out as Grafana computes it for a 15 s scrape interval" \
         "($(for rng in $QRANGES; do printf '%s: %s; ' "$rng" "$(rate_interval "$(range_step $rng)")"; done | sed 's/; $//'))." \
         "\"Dashboard total\" is the sum of the per-query medians: the time to answer every panel once, one after the other."
    echo
    echo "| range | measure | Pharos | Prometheus | VictoriaMetrics | Pharos / Prometheus | Pharos / VictoriaMetrics |"
    echo "|---|---|---|---|---|---|---|"
    for rng in $QRANGES; do
      for p in total p50 p99; do
        a=$(avail pharos && cell pharos "nef${rng}_${p}_ms" 1 2 || echo "not available")
        b=$(avail prometheus && cell prometheus "nef${rng}_${p}_ms" 1 2 || echo "not available")
        c=$(avail victoriametrics && cell victoriametrics "nef${rng}_${p}_ms" 1 2 || echo "not available")
        lbl=$p; [ $p = total ] && lbl="**dashboard total**"
        echo "| $rng | $lbl (ms) | $a | $b | $c | $(ratio "$(med pharos "nef${rng}_${p}_ms")" "$(med prometheus "nef${rng}_${p}_ms")") |" \
             "$(ratio "$(med pharos "nef${rng}_${p}_ms")" "$(med victoriametrics "nef${rng}_${p}_ms")") |"
      done
    done
    echo
    echo "Per query (run 1, median ms):"
    echo
    per_query_table nef "$WORK/queries-nef.txt" nefcmp
    echo
    echo "Evaluation timestamps are placed 333 ms off the 15 s scrape grid, so no sample lies exactly on the start" \
         "of a range window: there Prometheus 2.x (closed windows \\[t-r, t\\], the Debian package) and Prometheus 3.x" \
         "and Pharos (left-open windows (t-r, t\\]) legitimately differ. Points in the first 10 minutes of the data" \
         "are not compared: where a counter series starts inside a window, Prometheus 2.42 caps rate() extrapolation at" \
         "the counter's zero point before applying the 110 % threshold and newer versions (and Pharos) after it. VictoriaMetrics answers MetricsQL, not PromQL:" \
         "its rate() does not extrapolate to the window edges and its lookback differs, so differences in rate-based" \
         "panels are expected; they are shown, not hidden."
    echo
  fi

  if [ "$DO_SCRAPE" = 1 ]; then
    echo "## Side by side: scraping many targets"
    echo
    echo "\`pharos_bench serve\` simulates $(fmt "$SCRAPE_TARGETS" 0) node_exporter-like targets × ${SCRAPE_SERIES:-?} series" \
         "on 127.0.0.1 (one listener, /host/<i>/metrics, each request rendering that host's next scrape)." \
         "Pharos and Prometheus get the same config (every target listed, scrape_interval ${SCRAPE_INTERVAL} s) and scrape" \
         "one after the other, never concurrently; each is given one interval plus 5 s to create its series, then CPU" \
         "(user + system, /proc/<pid>/stat) is measured over a ${SCRAPE_WINDOW} s window, divided by the samples the" \
         "target server served in that window. RSS at the end of the window. Median (min–max) of $RUNS run(s)."
    echo
    echo "| measure | Pharos | Prometheus | Pharos / Prometheus | target (issue 4) |"
    echo "|---|---|---|---|---|"
    srow() {
      local a b
      a=$([ "${SCRAPE_AVAIL[pharos]:-}" = ok ] && cell scrape-pharos "$2" "$3" "$4" || echo "not available")
      b=$([ "${SCRAPE_AVAIL[prometheus]:-}" = ok ] && cell scrape-prometheus "$2" "$3" "$4" || echo "not available")
      echo "| $1 | $a | $b | $(ratio "$(med scrape-pharos "$2")" "$(med scrape-prometheus "$2")") | $5 |"
    }
    srow "CPU seconds per million samples scraped" cpu_s_per_msample 1 3 "≤ 0.33x"
    srow "CPU seconds in the window" cpu_s 1 2 ""
    srow "samples scraped in the window" samples 1 2 ""
    srow "RSS at the end (MiB)" rss_kb 0.0009765625 1 ""
    srow "peak RSS (MiB)" rss_peak_kb 0.0009765625 1 ""
    srow "targets up" targets_up 1 0 ""
    echo
    for s in pharos prometheus; do
      [ "${SCRAPE_AVAIL[$s]:-}" = ok ] || echo "- $s: ${SCRAPE_AVAIL[$s]:-not run}"
    done
    echo
  fi

  if [ "$DO_OM" = 1 ]; then
    echo "## Backfill from OpenMetrics"
    echo
    echo "\`pharos_bench gen-om --hosts $HOSTS --hours $HOURS\` writes the workload as OpenMetrics text" \
         "($(fmt "$(kv "$WORK/res/om/gen.kv" samples)" 2) samples, $(fmt "$(kv "$WORK/res/om/gen.kv" series)" 0) series," \
         "$(fmt "$(kv "$WORK/res/om/gen.kv" bytes)" 2)B, timestamps, \`# EOF\`);" \
         "\`pharosctl tsdb import openmetrics FILE DIR\` imports it into a fresh directory. Median (min–max) of $RUNS run(s)."
    echo
    if [ "$OM_AVAIL" = ok ]; then
      echo "| measure | Pharos |"
      echo "|---|---|"
      echo "| samples imported | $(cell om samples_imported 1 2) |"
      echo "| of them cut into blocks | $(cell om samples_in_blocks 1 2) |"
      echo "| import time, wall clock (s) | $(cell om seconds 1 2) |"
      echo "| samples/s | $(cell om samples_per_s 1 2) |"
      echo "| blocks written | $(cell om blocks 1 0) |"
      echo "| data directory after import (MiB) | $(cell om data_dir_b 0.00000095367431640625 2) |"
      echo "| bytes per sample in blocks | $(cell om bytes_per_sample 1 3) |"
      echo
      echo "Samples newer than the last complete block range stay in the imported directory's head (WAL) until" \
           "newer data arrives, as pharosctl says; \"of them cut into blocks\" counts the blocks' numSamples."
    else
      echo "Not available: $OM_AVAIL"
    fi
    echo
  fi

  if [ "$DO_EXP" = 1 ]; then
    echo "## Exporter: pharos-exporter vs node_exporter"
    echo
    echo "Each started with default collectors on this machine, scraped 3 times to warm up, then $EXP_SCRAPES times" \
         "back to back; CPU time from /proc/<pid>/stat, RSS (VmRSS) after the scrapes. Median (min–max) of $RUNS run(s)."
    echo
    echo "| measure | pharos-exporter | node_exporter | ratio |"
    echo "|---|---|---|---|"
    erow() {
      local a b
      a=$([ "${EXP_AVAIL[pharos-exporter]:-}" = ok ] && cell exp-pharos-exporter "$2" "$3" "$4" || echo "not available")
      b=$([ "${EXP_AVAIL[node_exporter]:-}" = ok ] && cell exp-node_exporter "$2" "$3" "$4" || echo "not available")
      echo "| $1 | $a | $b | $(ratio "$(med exp-pharos-exporter "$2")" "$(med exp-node_exporter "$2")") |"
    }
    erow "CPU per scrape (ms)" cpu_ms_per_scrape 1 2
    erow "wall time per scrape (ms)" wall_ms_per_scrape 1 2
    erow "RSS (MiB)" rss_kb 0.0009765625 1
    erow "series exposed" series 1 0
    erow "body size (bytes)" bytes 1 0
    echo
  fi

  if command -v gnuplot >/dev/null; then
    echo "## Charts"
    echo
    [ "$DO_PEERS" = 1 ] && echo "![ingestion](img/bench-ingest.png) ![memory](img/bench-memory.png)"
    [ "$DO_PEERS" = 1 ] && echo "![query latency](img/bench-latency.png) ![disk](img/bench-disk.png)"
    echo
  fi
  echo "## Raw figures"
  echo
  echo "<details><summary>bench_tsdb key/value output</summary>"
  echo
  echo '```'
  cat "$T" 2>/dev/null
  echo '```'
  echo "</details>"
} >"$OUT"

# ---- charts ---------------------------------------------------------------------------

if command -v gnuplot >/dev/null && [ "$DO_PEERS" = 1 ]; then
  chart3() { # file title ylabel key scale
    local dat=$WORK/$1.dat s
    : >"$dat"
    for s in "${SYSTEMS[@]}"; do
      avail "$s" || continue
      read -r m lo hi <<<"$(collect "$s" "$4")"
      [ "$m" = - ] && continue
      awk -v n="$s" -v m="$m" -v l="$lo" -v h="$hi" -v k="$5" 'BEGIN{print n, m*k, l*k, h*k}' >>"$dat"
    done
    [ -s "$dat" ] || return 0
    gnuplot <<EOF
set terminal pngcairo size 640,400 font "sans,10"
set output "$IMG/$1.png"
set title "$2"
set ylabel "$3"
set style fill solid 0.6 border -1
set boxwidth 0.6
set yrange [0:*]
set grid ytics
unset key
plot "$dat" using 0:2:xtic(1) with boxes lc rgb "#4878a8", "" using 0:2:3:4 with yerrorbars lc rgb "black" pt 0
EOF
  }
  chart3 bench-ingest "Remote-write ingestion (median, min-max)" "samples/s" samples_per_s 1
  chart3 bench-disk "Bytes on disk per sample (whole data dir)" "bytes/sample" disk_all_per_sample 1
  # memory and latency: clustered bars
  dat=$WORK/mem.dat; : >"$dat"
  for s in "${SYSTEMS[@]}"; do
    avail "$s" || continue
    echo "$s $(awk -v a="$(med "$s" rss_peak_kb)" -v b="$(med "$s" rss_steady_kb)" 'BEGIN{print a/1024, b/1024}')" >>"$dat"
  done
  if [ -s "$dat" ]; then
    gnuplot <<EOF
set terminal pngcairo size 640,400 font "sans,10"
set output "$IMG/bench-memory.png"
set title "RSS (median of runs)"
set ylabel "MiB"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.7 border -1
set yrange [0:*]
set grid ytics
plot "$dat" using 2:xtic(1) title "peak", "" using 3 title "steady"
EOF
  fi
  dat=$WORK/lat.dat; : >"$dat"
  for s in "${SYSTEMS[@]}"; do
    avail "$s" || continue
    l=""
    for k in q1h_p50_ms q1h_p99_ms q24h_p50_ms q24h_p99_ms; do v=$(med "$s" $k); l="$l ${v/-/0}"; done
    echo "$s$l" >>"$dat"
  done
  if [ -s "$dat" ]; then
    gnuplot <<EOF
set terminal pngcairo size 640,400 font "sans,10"
set output "$IMG/bench-latency.png"
set title "Query latency, dashboard set (median of runs)"
set ylabel "ms"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.7 border -1
set yrange [0:*]
set grid ytics
plot "$dat" using 2:xtic(1) title "1h p50", "" using 3 title "1h p99", "" using 4 title "24h p50", "" using 5 title "24h p99"
EOF
  fi
fi
log "done: $OUT"
