#!/usr/bin/env bash
# End-to-end: pharos and a real Prometheus scrape the same targets in the
# same run, and what they store is compared; misbehaving targets fail
# cleanly in pharos without holding up anything else.
#
# Targets: tricky_target (built with the tests; its first argument here)
# serves awkward but valid bodies -- escapes, duplicate series, NaN and
# infinities, explicit timestamps, a classic histogram and a summary, an
# OpenMetrics body with _created and exemplars, a gzip-compressed body,
# one in two gzip members -- and bad ones: a target that hangs past the
# scrape timeout, one whose body is garbage, one whose gzip body is cut
# short, one that is not HTTP at all, one sending 100 MB (over
# body_size_limit; with and without Content-Length, and with status 500),
# one redirecting to itself, one closing mid-body, one answering 404.  A
# real node_exporter (a chunked gzip body) is the last good target.  Both
# servers get the same prometheus.yml (scrape_interval 1s).
#
# After ~8 s of scraping, at a time t both have data for:
#   - /api/v1/series for {job=~".+"} over [t-5s, t] must name the same
#     series in both (sorted with jq);
#   - instant queries at t for every stable series (all of the tricky
#     targets' values are constant; for node_exporter its build info, the
#     number of series of each name and the report series that do not
#     vary) must give the same values;
#   - /api/v1/targets/metadata of the tricky targets must be the same
#     (HELP escapes, types, units);
#   - every bad target is down in both, and pharos's lastError reads
#     clearly (timeout, body size limit, redirects, unexpected EOF, parse
#     error with line:column, HTTP status); the good targets keep their
#     1 s cadence meanwhile and the server keeps answering.
#
# Deliberate differences from Prometheus 2.42 (the Debian peer), handled
# below and nowhere else:
#   - "le" of classic histograms and "quantile" of summaries: pharos
#     follows Prometheus 3 and stores them in float form ("1" -> "1.0").
#     2.42 keeps the text as written, so the Prometheus side is normalised
#     (an integral le/quantile value gets ".0") before comparing.
#   - Duplicate series in one scrape and explicit timestamps behave as in
#     2.42 and are compared as they are: the first of two samples with the
#     same labels and timestamp wins and the scrape stays up, and
#     explicitly timestamped samples are stored at their own time and
#     never marked stale.
#   - The wording of lastError differs for transport errors (pharos uses
#     libcurl, Prometheus Go's net/http); both are printed, only pharos's
#     is checked for the key words.
# Skipped (77) when curl, jq, the Prometheus or node_exporter peer, or the
# tricky_target program is missing.
. "$(dirname "$0")/lib.sh"
PHAROS=${PHAROS_BUILD_DIR:?}/server/pharos
PEERS=${PHAROS_PEERS_DIR:-${PHAROS_SOURCE_DIR:-.}/.cache/peers/root}
PROM=$PEERS/usr/bin/prometheus
NODE=$PEERS/usr/bin/prometheus-node-exporter
TRICKY=${1:-${PHAROS_BUILD_DIR}/tests/e2e/tricky_target}
command -v curl >/dev/null || { echo "skipped: curl not installed"; exit 77; }
command -v jq >/dev/null || { echo "skipped: jq not installed"; exit 77; }
[ -x "$PROM" ] || { echo "skipped: Prometheus peer not found at $PROM"; exit 77; }
[ -x "$NODE" ] || { echo "skipped: node_exporter peer not found at $NODE"; exit 77; }
[ -x "$TRICKY" ] || { echo "skipped: tricky_target not built ($TRICKY)"; exit 77; }


# --- targets -------------------------------------------------------------------
"$TRICKY" >"$E2E_TMP/tricky.out" 2>"$E2E_TMP/tricky.err" &
tpid=$!; E2E_PIDS+=("$tpid")
wait_for_log "$E2E_TMP/tricky.out" 'raw_port=[0-9]+' 10 ||
  { cat "$E2E_TMP/tricky.err"; fail "tricky_target did not start"; finish; }
tport=$(grep -oE '^port=[0-9]+' "$E2E_TMP/tricky.out" | cut -d= -f2)
rport=$(grep -oE 'raw_port=[0-9]+' "$E2E_TMP/tricky.out" | cut -d= -f2)

nport=$(free_port) || { fail "no free port"; finish; }
"$NODE" --web.listen-address=127.0.0.1:"$nport" >"$E2E_TMP/node.log" 2>&1 &
E2E_PIDS+=("$!")
for ((i = 0; i < 100; i++)); do
  curl -sf -o /dev/null "http://127.0.0.1:$nport/metrics" && break
  sleep 0.1
done
check "node_exporter serves /metrics" curl -sf -o /dev/null "http://127.0.0.1:$nport/metrics"
check "tricky_target serves /text" curl -sf -o /dev/null "http://127.0.0.1:$tport/text"

# --- the shared configuration --------------------------------------------------------
job() { # name, path, address [extra yaml lines]
  printf '  - job_name: %s\n    metrics_path: %s\n    static_configs:\n      - targets: ["%s"]\n' \
    "$1" "$2" "$3"
  [ $# -gt 3 ] && printf '%s\n' "$4"
  return 0
}
{
  printf 'global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n'
  job tricky_text /text "127.0.0.1:$tport"
  job tricky_om /om "127.0.0.1:$tport"
  job tricky_gzip /gzip "127.0.0.1:$tport"
  job tricky_gzip2 /gzip2 "127.0.0.1:$tport"
  job node /metrics "127.0.0.1:$nport"
  job bad_hang /hang "127.0.0.1:$rport" '    scrape_timeout: 500ms'
  job bad_huge /huge "127.0.0.1:$rport" '    body_size_limit: 10MB'
  job bad_huge_nolen /huge-nolen "127.0.0.1:$rport" '    body_size_limit: 1MB'
  job bad_huge_500 /huge-500 "127.0.0.1:$rport" '    body_size_limit: 1MB'
  job bad_close /close "127.0.0.1:$rport"
  job bad_junk /junk "127.0.0.1:$rport"
  job bad_garbage /garbage "127.0.0.1:$tport"
  job bad_gzip /gzip-bad "127.0.0.1:$tport"
  job bad_redirect /redirect "127.0.0.1:$tport"
  job bad_missing /missing "127.0.0.1:$tport"
} >"$E2E_TMP/scrape.yml"
GOOD_JOBS='tricky_text|tricky_om|tricky_gzip|tricky_gzip2|node'

# --- the two servers ---------------------------------------------------------------
log=$E2E_TMP/pharos.log
"$PHAROS" --config.file="$E2E_TMP/scrape.yml" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$E2E_TMP/data" >"$log" 2>&1 &
phpid=$!; E2E_PIDS+=("$phpid")
wait_for_log "$log" 'Server is ready' || { cat "$log"; fail "pharos did not start"; finish; }
ph="http://127.0.0.1:$(port_from_log "$log")"

pport=$(free_port) || { fail "no free port"; finish; }
"$PROM" --config.file="$E2E_TMP/scrape.yml" --storage.tsdb.path="$E2E_TMP/prom" \
  --web.listen-address="127.0.0.1:$pport" >"$E2E_TMP/prom.log" 2>&1 &
E2E_PIDS+=("$!")
pr="http://127.0.0.1:$pport"
for ((i = 0; i < 100; i++)); do
  curl -sf -o /dev/null "$pr/-/ready" && break
  sleep 0.2
done
check "Prometheus is ready" curl -sf -o /dev/null "$pr/-/ready"

# q BASE EXPR TIME: instant query JSON.
q() { curl -s "$1/api/v1/query" --data-urlencode "query=$2" --data-urlencode "time=$3"; }
# scalar_of BASE EXPR TIME: the first result's value, "" if none.
scalar_of() { q "$1" "$2" "$3" | jq -r '.data.result[0].value[1] // ""'; }

# Both servers need ~8 s of scrapes; wait until each has at least 7
# successful scrapes of every good job in 8 s (bounded: 40 s).
want_jobs=$(echo "$GOOD_JOBS" | tr '|' '\n' | wc -l)
ready=0
for ((i = 0; i < 80; i++)); do
  now=$(date +%s)
  a=$(scalar_of "$ph" "count(sum_over_time(up{job=~\"$GOOD_JOBS\"}[8s]) >= 7)" "$now")
  b=$(scalar_of "$pr" "count(sum_over_time(up{job=~\"$GOOD_JOBS\"}[8s]) >= 7)" "$now")
  if [ "$a" = "$want_jobs" ] && [ "$b" = "$want_jobs" ]; then ready=1; break; fi
  sleep 0.5
done
check "both servers scraped every good target >= 7 times in 8 s" test "$ready" = 1
[ "$ready" = 1 ] || { echo "pharos: $a, Prometheus: $b of $want_jobs"; }
t=$(( $(date +%s) - 2 ))

# --- series ----------------------------------------------------------------------------
# Prometheus 2.42 keeps le/quantile as written; pharos stores float form.
NORM_LE='def fl: if test("^[-+]?[0-9]+$") then . + ".0" else . end;
         with_entries(if .key == "le" or .key == "quantile" then .value |= fl else . end)'
series() { # base, match, file
  curl -s "$1/api/v1/series" --data-urlencode "match[]=$2" \
    --data-urlencode "start=$((t - 5))" --data-urlencode "end=$t" >"$3"
}
series "$ph" '{job=~".+"}' "$E2E_TMP/ph_series.json"
series "$pr" '{job=~".+"}' "$E2E_TMP/pr_series.json"
jq -cS ".data[] | $NORM_LE" "$E2E_TMP/pr_series.json" | sort >"$E2E_TMP/pr_series.txt"
jq -cS '.data[]' "$E2E_TMP/ph_series.json" | sort >"$E2E_TMP/ph_series.txt"
npr=$(wc -l <"$E2E_TMP/pr_series.txt"); nph=$(wc -l <"$E2E_TMP/ph_series.txt")
check "Prometheus stored series ($npr)" test "$npr" -gt 100
if cmp -s "$E2E_TMP/pr_series.txt" "$E2E_TMP/ph_series.txt"; then
  ok "the same $nph series in both"
else
  fail "series differ (pharos $nph, Prometheus $npr; < Prometheus only, > pharos only)"
  diff "$E2E_TMP/pr_series.txt" "$E2E_TMP/ph_series.txt" | head -40
fi

# --- values of stable series -------------------------------------------------------------
vector() { # base, expr -> sorted lines "labels value"
  q "$1" "$2" "$t" | jq -cS ".data.result[] | [(.metric | $NORM_LE), .value[1]]" | sort
}
compare_values() { # description, expr
  local a b
  a=$(vector "$pr" "$2"); b=$(vector "$ph" "$2")
  if [ -z "$a" ]; then fail "$1: Prometheus has no result"; return; fi
  if [ "$a" = "$b" ]; then ok "$1 ($(echo "$a" | wc -l) series)"; else
    fail "$1"; diff <(echo "$a") <(echo "$b") | head -30
  fi
}
compare_values "values of every tricky_text series" \
  '{job="tricky_text",__name__!="scrape_duration_seconds"}'
compare_values "values of every tricky_om series" \
  '{job="tricky_om",__name__!="scrape_duration_seconds"}'
compare_values "values of every tricky_gzip series" \
  '{job="tricky_gzip",__name__!="scrape_duration_seconds"}'
compare_values "values of every series of the two-member gzip body" \
  '{job="tricky_gzip2",__name__!="scrape_duration_seconds"}'
compare_values "timestamps of explicitly timestamped samples" \
  'timestamp(tricky_ts{kind="explicit"} or om_gauge{x="ts"})'
compare_values "node_exporter: build info" 'node_exporter_build_info'
compare_values "node_exporter: series per name" 'count by (__name__) ({job="node"})'
compare_values "node_exporter: up, samples scraped, series added" \
  '{job="node",__name__=~"up|scrape_samples_scraped|scrape_samples_post_metric_relabeling|scrape_series_added"}'
compare_values "node_exporter: stable node_* values" \
  '{job="node",__name__=~"node_memory_MemTotal_bytes|node_filesystem_size_bytes|node_scrape_collector_success|node_network_mtu_bytes"}'
compare_values "health of every job" 'up'

# The semantics behind those values, spelled out: the first of two
# samples with the same labels in one scrape wins (2.42 drops the second
# when the batch is committed, without counting it in
# prometheus_target_scrapes_sample_duplicate_timestamp_total, and the
# scrape stays up); an empty label value is no label; a body over the
# limit counts in prometheus_target_scrapes_exceeded_body_size_limit_total.
check "duplicate series: the first sample wins" \
  test "$(scalar_of "$ph" 'tricky_dup_conflict' "$t")" = 1
check "an empty label value is no label" \
  test "$(scalar_of "$ph" 'count(tricky_escapes_total{quote=""})' "$t")" = 1
self_metric() { curl -s "$1/metrics" | awk -v n="$2" '$1 == n { print $2; exit }'; }
m=prometheus_target_scrapes_exceeded_body_size_limit_total
a=$(self_metric "$pr" "$m"); b=$(self_metric "$ph" "$m")
check "$m counts in both (Prometheus $a, pharos $b)" \
  awk -v a="${a:-0}" -v b="${b:-0}" 'BEGIN { exit !(a > 0 && b > 0) }'

# --- metadata ------------------------------------------------------------------------------
meta() { # base, job
  curl -s "$1/api/v1/targets/metadata" --data-urlencode "match_target={job=\"$2\"}" -G |
    jq -cS '[.data[] | {metric, type, help, unit}] | sort_by(.metric) | .[]'
}
for j in tricky_text tricky_om tricky_gzip; do
  a=$(meta "$pr" "$j"); b=$(meta "$ph" "$j")
  if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "metadata of $j"; else
    fail "metadata of $j"; diff <(echo "$a") <(echo "$b") | head -20
  fi
done

# --- bad targets ----------------------------------------------------------------------------
curl -s "$ph/api/v1/targets" >"$E2E_TMP/ph_targets.json"
curl -s "$pr/api/v1/targets" >"$E2E_TMP/pr_targets.json"
target_field() { # file, job, field
  jq -r --arg j "$2" --arg f "$3" \
    '[.data.activeTargets[] | select(.labels.job == $j)][0][$f] // ""' "$1"
}
# One line per target: job, health, lastError (tab-separated).
jq -r '.data.activeTargets[] | [.labels.job, .health, .lastError] | @tsv' \
  "$E2E_TMP/ph_targets.json" >"$E2E_TMP/ph_targets.tsv"
jq -r '.data.activeTargets[] | [.labels.job, .health, .lastError] | @tsv' \
  "$E2E_TMP/pr_targets.json" >"$E2E_TMP/pr_targets.tsv"
q "$ph" 'up{job=~"bad_.*"}' "$t" |
  jq -r '.data.result[] | "\(.metric.job) \(.value[1])"' >"$E2E_TMP/ph_up.txt"
q "$ph" 'count by (job) ({job=~"bad_.*",__name__!~"up|scrape_.*"})' "$t" |
  jq -r '.data.result[] | "\(.metric.job) \(.value[1])"' >"$E2E_TMP/ph_stored.txt"
field() { awk -F'\t' -v j="$2" -v f="$3" '$1 == j { print $f; exit }' "$1"; }
bad_check() { # job, regex pharos's lastError must match [same: identical to Prometheus's]
  local j=$1 re=$2 eph epr hph hpr up
  hph=$(field "$E2E_TMP/ph_targets.tsv" "$j" 2); eph=$(field "$E2E_TMP/ph_targets.tsv" "$j" 3)
  hpr=$(field "$E2E_TMP/pr_targets.tsv" "$j" 2); epr=$(field "$E2E_TMP/pr_targets.tsv" "$j" 3)
  up=$(awk -v j="$j" '$1 == j { print $2 }' "$E2E_TMP/ph_up.txt")
  echo "     $j: pharos: $eph"
  echo "     $j: Prometheus: $epr"
  check "$j is down in pharos ($hph) and in Prometheus ($hpr), up=$up in pharos" \
    test "$hph" = down -a "$hpr" = down -a "$up" = 0
  if echo "$eph" | grep -qiE "$re"; then ok "$j: lastError says /$re/"; else
    fail "$j: lastError '$eph' does not match /$re/"
  fi
  if [ "${3:-}" = same ]; then check "$j: lastError reads as Prometheus's" test "$eph" = "$epr"; fi
}
bad_check bad_hang 'deadline exceeded|timeout|timed out' same
bad_check bad_huge 'body size limit' same
bad_check bad_huge_nolen 'body size limit' same
bad_check bad_huge_500 'HTTP status 500 Internal Server Error' same
bad_check bad_close 'unexpected EOF|transfer closed|partial'
bad_check bad_junk 'malformed|HTTP/0.9|unsupported|invalid|protocol'
bad_check bad_garbage '^[0-9]+:[0-9]+: .*(expected|invalid|parse)'
bad_check bad_redirect 'redirect'
bad_check bad_gzip 'gzip|flate|EOF'
bad_check bad_missing 'HTTP status 404' same
check "nothing of a failed scrape's body is stored" test ! -s "$E2E_TMP/ph_stored.txt"
check "the garbage body is stored in neither" \
  test "$(scalar_of "$pr" 'count(metric_ok)' "$t")$(scalar_of "$ph" 'count(metric_ok)' "$t")" = ""

# The good targets kept their cadence while the bad ones failed: over the
# last 8 s pharos scraped each one (and the hanging one) once a second,
# with no gap between two scrapes over 1.8 s; their scrapes were quick
# (the median, as a loaded machine may delay any single one); the hanging
# target's scrapes ended at its 500ms timeout, not before, not much after.
for j in tricky_text tricky_om tricky_gzip node bad_hang bad_huge_nolen; do
  gap=$(q "$ph" "up{job=\"$j\"}[8s]" "$t" |
    jq '[.data.result[0].values | map(.[0]) | . as $v | range(1; length) | $v[.] - $v[. - 1]]
        | (max // 99) * 1000 | round')
  check "$j: scraped every second meanwhile (longest gap ${gap} ms)" test "${gap:-99999}" -le 1800
done
med=$(scalar_of "$ph" "max(quantile_over_time(0.5, scrape_duration_seconds{job=~\"$GOOD_JOBS\"}[8s]))" "$t")
check "the good targets' scrapes stayed quick (median at most ${med}s)" \
  awk -v s="${med:-9}" 'BEGIN { exit !(s < 0.5) }'
hmin=$(scalar_of "$ph" "min_over_time(scrape_duration_seconds{job=\"bad_hang\"}[8s])" "$t")
hmed=$(scalar_of "$ph" "quantile_over_time(0.5, scrape_duration_seconds{job=\"bad_hang\"}[8s])" "$t")
check "the hanging target's scrapes end at the 500ms timeout (min ${hmin}s, median ${hmed}s)" \
  awk -v a="${hmin:-0}" -v b="${hmed:-9}" 'BEGIN { exit !(a >= 0.45 && b < 0.8) }'
curl -s "$ph/api/v1/targets" >"$E2E_TMP/ph_targets.json"
now_ms=$(date +%s%3N)
for j in tricky_text node bad_hang; do
  last=$(target_field "$E2E_TMP/ph_targets.json" "$j" lastScrape)
  age=$(( now_ms - $(date -d "$last" +%s%3N 2>/dev/null || echo 0) ))
  check "$j: lastScrape is recent (${age} ms ago)" test "$age" -lt 3000
done
check "pharos is still running" kill -0 "$phpid"
check "and answers queries" test "$(scalar_of "$ph" 'vector(1)' "$(date +%s)")" = 1
# E2E_DEBUG=1: print every job's recent scrape durations and up values.
if [ -n "${E2E_DEBUG:-}" ]; then
  q "$ph" 'scrape_duration_seconds[12s]' "$t" | jq -c '.data.result[] | [.metric.job, [.values[] | .[1][0:5]]]'
  q "$ph" 'up[12s]' "$t" | jq -c '.data.result[] | [.metric.job, [.values[] | .[1]]]'
  q "$pr" 'scrape_duration_seconds[12s]' "$t" | jq -c '.data.result[] | [.metric.job, [.values[] | .[1][0:5]]]'
fi
kill -TERM "$phpid"
wait_exit "$phpid" 20
check "pharos exits 0 on SIGTERM (no leak or sanitizer report)" test "$E2E_STATUS" = 0
check "no error or sanitizer report in the log" \
  bash -c "! grep -qE 'level=error|ERROR: (Address|Leak)Sanitizer|runtime error' '$log'"
kill -TERM "$tpid"
wait_exit "$tpid" 10
check "tricky_target exits 0 on SIGTERM" test "$E2E_STATUS" = 0
finish
