#!/usr/bin/env bash
# End-to-end smoke test of the benchmark suite: bench_tsdb --quick (tiny
# sizes, a few seconds) runs every phase, prints its table and writes its
# key/value file, and the lossless check finds no mismatch; pharos_bench
# generates a remote-write file and a /metrics body; then the whole harness,
# bench/run.sh --quick at its smallest sizes on this (sanitizer) build, with
# the peers when they are unpacked: every scenario runs, the report and the
# charts are written, Pharos's query answers equal Prometheus's, and no
# process it started is left behind.  No timing is checked: this keeps the
# harness working, it does not measure anything.
. "$(dirname "$0")/lib.sh"
B=${PHAROS_BUILD_DIR:?}/bench
[ -x "$B/bench_tsdb" ] || { echo "skipped: bench/ is not built (subdir('bench') missing?)"; exit 77; }

out=$E2E_TMP/tsdb.txt kvf=$E2E_TMP/tsdb.kv
TMPDIR=$E2E_TMP "$B/bench_tsdb" --quick --hosts 2 --out "$kvf" >"$out" 2>"$E2E_TMP/tsdb.err"
st=$?
check "bench_tsdb --quick exits 0" test "$st" = 0
[ "$st" = 0 ] || tail -20 "$E2E_TMP/tsdb.err"
check "prints the results header" grep -q '^## bench_tsdb results' "$out"
for row in 'appender, 1 thread' 'appender, 2 threads' 'RSS per head series' 'WAL replay' \
           'disk: blocks only' 'disk: whole data dir incl. WAL' 'lossless check: mismatches' \
           'select 1h: one metric' 'select all: one host'; do
  check "table has a row '$row'" grep -qF "$row" "$out"
done
kv() { awk -v k="$1" '$1==k{print $2}' "$kvf"; }
check "key/value file has throughput" test -n "$(kv append_1t_sps)"
check "throughput is a positive number" awk -v v="$(kv append_1t_sps)" 'BEGIN{exit !(v > 0)}'
check "every stored sample was compared" awk -v v="$(kv lossless_checked)" 'BEGIN{exit !(v > 0)}'
check "lossless check found no mismatch" test "$(kv lossless_mismatches)" = 0
check "replay restored every series" test "$(kv head_replayed_series)" = "$(kv head_series)"
check "temporary data directories are removed" \
  bash -c "! ls -d '$E2E_TMP'/pharos-bench-* 2>/dev/null | grep -q ."

if [ -x "$B/pharos_bench" ]; then
  "$B/pharos_bench" gen-rw --hosts 1 --hours 0.1 --shards 2 --out "$E2E_TMP/rw.bin" >"$E2E_TMP/rw.kv"
  check "gen-rw exits 0" test $? = 0
  check "gen-rw wrote the file magic" bash -c "head -c 8 '$E2E_TMP/rw.bin' | grep -q PHRW0001"
  n=$(awk '$1=="samples"{print $2}' "$E2E_TMP/rw.kv"); s=$(awk '$1=="series"{print $2}' "$E2E_TMP/rw.kv")
  check "gen-rw: 24 scrapes of every series" test "$n" = $((s * 24))
  # compare: a dump equals itself
  printf 'Q a\nS {x="1"}\nP 1.000 0.1\n' >"$E2E_TMP/a.dump"
  printf 'Q a\nS {x="1"}\nP 1.000 0.2\n' >"$E2E_TMP/b.dump"
  check "compare: equal dumps are equal" bash -c "'$B/pharos_bench' compare '$E2E_TMP/a.dump' '$E2E_TMP/a.dump' | grep -q '^compare a equal'"
  check "compare: different values are flagged" bash -c "'$B/pharos_bench' compare '$E2E_TMP/a.dump' '$E2E_TMP/b.dump' | grep -q '^compare a DIFFERS'"
  if command -v curl >/dev/null; then
    "$B/pharos_bench" serve --hosts 2 >"$E2E_TMP/serve.out" 2>&1 &
    pid=$!; E2E_PIDS+=("$pid")
    check "serve reports its port" wait_for_log "$E2E_TMP/serve.out" 'listening port=' 10
    port=$(grep -oE 'port=[0-9]+' "$E2E_TMP/serve.out" | cut -d= -f2)
    body=$(curl -s "http://127.0.0.1:$port/host/1/metrics")
    check "serve: /host/1/metrics has node_cpu_seconds_total" grep -q '^node_cpu_seconds_total{cpu="0",mode="idle"} ' <<<"$body"
    check "serve: histogram buckets are exposed" grep -q '^http_request_duration_seconds_bucket{handler="/metrics",le="+Inf"} ' <<<"$body"
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/host/9/metrics")
    check "serve: unknown host is 404" test "$code" = 404
    kill -TERM "$pid"; wait_exit "$pid" 10
    check "serve exits 0 on SIGTERM" test "$E2E_STATUS" = 0
  fi
fi
# ---- the whole harness: bench/run.sh --quick ------------------------------
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN=$ROOT/bench/run.sh
if [ -x "$B/pharos_bench" ] && [ -f "$RUN" ]; then
  rep=$E2E_TMP/report/benchmarks.md
  mkdir -p "$E2E_TMP/report" "$E2E_TMP/runtmp"
  TMPDIR=$E2E_TMP/runtmp BENCH_BUILD_DIR=$PHAROS_BUILD_DIR timeout 400 bash "$RUN" --quick \
    --hosts 1 --hours 0.5 --scrape-targets 5 --scrape-window 10 --out "$rep" \
    >"$E2E_TMP/run.log" 2>&1
  st=$?
  check "bench/run.sh --quick exits 0" test "$st" = 0
  [ "$st" = 0 ] || tail -20 "$E2E_TMP/run.log"
  check "the report is written" test -s "$rep"
  check "the report says it is a quick run" grep -q 'Quick mode' "$rep"
  for sec in '## TSDB alone' '## Side by side: remote-write ingestion' '## Side by side: query latency' \
             '## Side by side: scraping many targets' '## Backfill from OpenMetrics' '## Exporter'; do
    check "report has a section '$sec'" grep -qF "$sec" "$rep"
  done
  row() { grep -F "| $1 |" "$rep" | head -1; }
  check "bench_tsdb's lossless check found no mismatch" bash -c "grep -F '| lossless check' '$rep' | grep -q '/ 0 |'"
  # the remote-write table: Pharos accepted every sample of the workload
  wl=$(grep -oE '= [0-9.]+ k samples' "$rep" | head -1 | grep -oE '[0-9.]+')
  check "the workload size is stated" test -n "$wl"
  acc=$(row 'samples accepted' | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  check "Pharos accepted the whole workload ($acc of ${wl} k)" test "$acc" = "${wl}k"
  peers=${PHAROS_PEERS_DIR:-$ROOT/.cache/peers/root}
  if [ -n "$peers" ] && [ -x "$peers/usr/bin/prometheus" ] && [ -x "$peers/usr/bin/victoria-metrics" ]; then
    for col in 4 5; do
      a=$(row 'samples accepted' | awk -F'|' -v c=$col '{gsub(/ /,"",$c); print $c}')
      check "peer column $col accepted the whole workload ($a)" test "$a" = "${wl}k"
    done
    nq=$(grep -cE '^\| [a-z_0-9]+ \| (1h|24h|7d) \| [0-9.]+ \| [0-9.]+ \|' "$rep")
    check "per-query table has Pharos and Prometheus timings ($nq rows)" test "$nq" -ge 10
    # the "Pharos answer" column, wherever a per-query table puts it
    nd=$(awk -F'|' '/^$/ { c = 0 } /^\| query \| range \|/ { c = 0; for (i = 1; i <= NF; i++) if ($i ~ /Pharos answer/) c = i; next }
                    /^\| [a-z_0-9]+ \| (1h|24h|7d) \|/ && c > 0 && $c !~ /equal/ { n++ }
                    END { print n + 0 }' "$rep")
    na=$(grep -c '| Pharos answer |' "$rep")
    check "the report has per-query answer tables ($na)" test "$na" -ge 1
    nef=$(grep -F '| 1h | **dashboard total** (ms) |' "$rep" | awk -F'|' '{gsub(/ /,"",$4); print $4}')
    check "Node Exporter Full: Pharos answered the whole dashboard (${nef:-none} ms)" \
      awk -v v="${nef:-x}" 'BEGIN { exit !(v ~ /^[0-9.]+$/ && v > 0) }'
    check "every Pharos answer equals Prometheus's ($nd differ)" test "$nd" = 0
    up=$(grep -F '| targets up |' "$rep" | awk -F'|' '{gsub(/ /,"",$3); gsub(/ /,"",$4); print $3 "/" $4}')
    check "the scrape scenario ran both systems (targets up: ${up:-none})" \
      awk -v u="${up:-x}" 'BEGIN { split(u, a, "/"); exit !(a[1] >= 1 && a[2] >= 1) }'
  else
    echo "note: peers not unpacked (PHAROS_PEERS_DIR); peer columns not checked"
  fi
  if command -v gnuplot >/dev/null; then
    for c in ingest memory disk latency; do
      check "chart bench-$c.png is a PNG" bash -c "head -c 8 '$E2E_TMP/report/img/bench-$c.png' | grep -q PNG"
    done
  fi
  check "the harness removed its work directory" bash -c "! ls -d '$E2E_TMP'/runtmp/pharos-bench-run.* 2>/dev/null | grep -q ."
  left=$(pgrep -f "$E2E_TMP/runtmp" | tr '\n' ' ')
  check "no process the harness started is left (${left:-none})" test -z "$left"
fi
finish
