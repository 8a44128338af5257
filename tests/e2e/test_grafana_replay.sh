#!/usr/bin/env bash
# End-to-end: replays the requests Grafana's Prometheus data source sends
# (Grafana's pkg/promlib client and its query editor's language provider)
# against a pharos that scrapes itself every second, and checks every
# answer's status code, headers and JSON shape with jq.
#
# What Grafana sends, and how it is replayed here:
#  - its Go backend (net/http): User-Agent Grafana/<version>, Accept-Encoding
#    gzip (the body comes back compressed when the server chooses to);
#  - queries as form-encoded POSTs (the data source's default HTTP method)
#    with Content-Type application/x-www-form-urlencoded and the keys sorted
#    as Go's url.Values.Encode() writes them; times as float seconds, the
#    step as seconds ("15"), start/end aligned to the step;
#  - the health check: an instant query "1+1" at time=4 (a range 1..4 s);
#  - the heuristics after it: GET /api/v1/status/buildinfo;
#  - the query editor: GET label values of __name__, GET /api/v1/metadata
#    (both GET-only in Grafana's client), POST /api/v1/labels with match[]
#    and start/end, GET /api/v1/label/job/values with match[], POST
#    /api/v1/series with match[], start, end and limit=40000;
#  - panels: POST /api/v1/query_range (also as GET, the data source's other
#    method), POST /api/v1/query (instant), POST /api/v1/query_exemplars;
#  - errors Grafana shows to the user: status 400 with errorType bad_data.
. "$(dirname "$0")/lib.sh"
PHAROS=${PHAROS_BUILD_DIR:?}/server/pharos
command -v curl >/dev/null || { echo "skipped: curl not installed"; exit 77; }
command -v jq >/dev/null || { echo "skipped: jq not installed"; exit 77; }
command -v gzip >/dev/null || { echo "skipped: gzip not installed"; exit 77; }
T=$E2E_TMP
UA='Grafana/11.3.0'

# ---- a pharos scraping itself every second --------------------------------------
cat >"$T/pharos.yml" <<'YML'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ['PLACEHOLDER']
YML
# The port is only known after start: start on port 0 with no jobs, then
# write the real config and reload.
printf 'scrape_configs: []\n' >"$T/cfg.yml"
log=$T/pharos.log
"$PHAROS" --config.file="$T/cfg.yml" --web.listen-address=127.0.0.1:0 \
  --storage.tsdb.path="$T/data" --web.enable-lifecycle >"$log" 2>&1 &
pid=$!; E2E_PIDS+=("$pid")
check "pharos starts" wait_for_log "$log" 'Server is ready'
port=$(port_from_log "$log"); base="http://127.0.0.1:$port"
sed "s/PLACEHOLDER/127.0.0.1:$port/" "$T/pharos.yml" >"$T/cfg.yml"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/-/reload")
check "reload with the self-scrape job" test "$code" = 200
up=""
for ((i = 0; i < 60; i++)); do
  up=$(curl -s "$base/api/v1/query" --data-urlencode 'query=count_over_time(up{job="self"}[1m])' |
    jq -r '.data.result[0].value[1] // "0"')
  [ "${up:-0}" -ge 4 ] && break
  sleep 0.25
done
check "four scrapes of itself are stored" test "${up:-0}" -ge 4

# ---- the replay ---------------------------------------------------------------------
# gf NAME METHOD PATH [FORM]: sends what Grafana sends; leaves the status
# code in $T/NAME.code, the headers in $T/NAME.hdr and the (decompressed)
# body in $T/NAME.json.
gf() {
  local name=$1 method=$2 path=$3 form=${4:-}
  local args=(-s -S -o "$T/$name.raw" -D "$T/$name.hdr" -w '%{http_code}'
    -H "User-Agent: $UA" -H 'Accept-Encoding: gzip')
  if [ "$method" = POST ]; then
    args+=(-X POST -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$form")
  elif [ -n "$form" ]; then
    path="$path?$form"
  fi
  curl "${args[@]}" "$base$path" >"$T/$name.code" 2>"$T/$name.err" || echo 000 >"$T/$name.code"
  if grep -qi '^content-encoding: *gzip' "$T/$name.hdr"; then
    gzip -dc <"$T/$name.raw" >"$T/$name.json" 2>/dev/null || cp "$T/$name.raw" "$T/$name.json"
  else
    cp "$T/$name.raw" "$T/$name.json"
  fi
}
# jqc DESCRIPTION NAME FILTER: the filter must print true for NAME's body
# (which is shown, shortened, when it does not).
jqc() {
  if [ "$(jq -r "$3" "$T/$2.json" 2>&1)" = true ]; then ok "$1"; return; fi
  fail "$1"; echo "     body: $(head -c 400 "$T/$2.json")"
}
# ok200 NAME: 200, JSON content type, status success.
ok200() {
  check "$1: HTTP 200" test "$(cat "$T/$1.code")" = 200
  check "$1: Content-Type application/json" grep -qi '^content-type: *application/json' "$T/$1.hdr"
  jqc "$1: status success, no error members" "$1" \
    '.status == "success" and (has("errorType") | not) and (has("error") | not) and ((.warnings // []) | type == "array")'
}

now=$(date +%s)
step=15
# Grafana aligns the range to the step; the end is rounded up here so that
# the few seconds of data the server has are inside it.
end=$(((now / step + 1) * step))
start=$((end - 300))
m_up='match%5B%5D=up'

# health check (pkg/promlib/healthcheck.go): instant "1+1" over 1..4 s
gf health POST /api/v1/query 'query=1%2B1&time=4'
ok200 health
jqc "health: a scalar [4, \"2\"]" health \
  '.data.resultType == "scalar" and .data.result == [4, "2"]'

# heuristics: buildinfo decides Grafana's Prometheus version handling
gf buildinfo GET /api/v1/status/buildinfo
ok200 buildinfo
jqc "buildinfo: version, revision, branch, goVersion are strings" buildinfo \
  '[.data.version, .data.revision, .data.branch, .data.goVersion] | all(type == "string")'
jqc "buildinfo: a Prometheus-style x.y.z version and no features map" buildinfo \
  '(.data.version | test("^[0-9]+\\.[0-9]+\\.[0-9]+")) and (.data | has("features") | not)'

# the query editor starts: metric names, metadata, label names
gf names GET /api/v1/label/__name__/values "end=$end&start=$start"
ok200 names
jqc "metric names: sorted unique strings including up" names \
  '(.data | type == "array") and (.data | all(type == "string")) and .data == (.data | unique) and (.data | index("up") != null)'
gf metadata GET /api/v1/metadata
ok200 metadata
jqc "metadata: metric -> [{type, help, unit}]" metadata \
  '(.data | type == "object") and (.data | length > 0) and ([.data[][] | (.type|type) == "string" and (.help|type) == "string" and (.unit|type) == "string"] | all)'
jqc "metadata: process_cpu_seconds_total is a counter" metadata \
  '.data.process_cpu_seconds_total[0].type == "counter"'
check "metadata: sent gzip-compressed, as Grafana accepts" grep -qi '^content-encoding: *gzip' "$T/metadata.hdr"
gf labels POST /api/v1/labels "end=$end&$m_up&start=$start"
ok200 labels
jqc "labels with match[]=up: sorted, exactly __name__ instance job" labels \
  '.data == ["__name__", "instance", "job"]'
gf labels_all POST /api/v1/labels "end=$end&start=$start"
ok200 labels_all
jqc "labels: sorted unique strings" labels_all '.data == (.data | unique) and (.data | length > 3)'
gf job_values GET /api/v1/label/job/values "end=$end&$m_up&start=$start"
ok200 job_values
jqc "label values of job with match[]=up: [\"self\"]" job_values '.data == ["self"]'
gf series POST /api/v1/series "end=$end&limit=40000&$m_up&start=$start"
ok200 series
jqc "series: one label set, up of job self" series \
  '.data == [{"__name__": "up", "instance": "127.0.0.1:'"$port"'", "job": "self"}]'
gf series_many POST /api/v1/series "end=$end&limit=40000&match%5B%5D=%7Bjob%3D%22self%22%2C__name__%3D~%22process_.%2A%22%7D&start=$start"
ok200 series_many
jqc "series: objects of strings, label names sorted within each" series_many \
  '(.data | length > 1) and ([.data[] | (keys_unsorted == (keys_unsorted | sort)) and ([.[]] | all(type == "string"))] | all)'
jqc "series: sorted by labels, no duplicates" series_many \
  '[.data[] | to_entries | map(.key + "=" + .value) | join(",")] as $s | $s == ($s | unique)'

# panels: a range query as a form POST with the step in seconds
q='rate(process_cpu_seconds_total%7Bjob%3D%22self%22%7D%5B1m%5D)'
gf range POST /api/v1/query_range "end=$end&query=$q&start=$start&step=$step"
ok200 range
jqc "query_range: a matrix of one series" range \
  '.data.resultType == "matrix" and (.data.result | length == 1) and .data.result[0].metric == {"instance": "127.0.0.1:'"$port"'", "job": "self"}'
jqc "query_range: values are [float, \"string\"] on the step grid, in order" range \
  '[.data.result[0].values[] | (.[0] | type) == "number" and (.[1] | type) == "string" and ((.[0] - '"$start"') % '"$step"' == 0)] | all'
jqc "query_range: timestamps within start..end and increasing" range \
  '[.data.result[0].values[][0]] as $t | ($t | length > 0) and $t == ($t | sort) and $t[0] >= '"$start"' and $t[-1] <= '"$end"
jqc "query_range: value strings parse as numbers" range \
  '[.data.result[0].values[][1] | tonumber | type == "number"] | all'
gf range_up POST /api/v1/query_range "end=$end&query=up&start=$((end - 30))&step=1&timeout=60s"
ok200 range_up
jqc "query_range step=1 with timeout: up is \"1\"" range_up \
  '.data.resultType == "matrix" and ([.data.result[0].values[][1]] | unique) == ["1"]'
# the data source's other HTTP method: the same query as a GET, over a
# past range (every sample in it already stored) so both answers are equal
past=$((now - 1))
pq="end=$past&query=process_cpu_seconds_total%7Bjob%3D%22self%22%7D&start=$((past - 10))&step=1"
gf past_post POST /api/v1/query_range "$pq"
gf past_get GET /api/v1/query_range "$pq"
ok200 past_get
jqc "query_range as GET: a matrix with samples" past_get \
  '.data.resultType == "matrix" and (.data.result[0].values | length > 0)'
check "query_range as GET: the same data as the POST" \
  test "$(jq -cS .data "$T/past_get.json")" = "$(jq -cS .data "$T/past_post.json")"
gf range_sum POST /api/v1/query_range "end=$end&query=sum+by+%28job%29+%28up%29&start=$((end - 60))&step=$step"
ok200 range_sum
jqc "query_range: an aggregation keeps only its labels" range_sum \
  '.data.result | length == 1 and .[0].metric == {"job": "self"}'

# an instant query (the panel's "Instant" option) at a float time
gf instant POST /api/v1/query "query=up%7Bjob%3D%22self%22%7D&time=$now.5"
ok200 instant
jqc "query: a vector of one sample [$now.5, \"1\"]" instant \
  '.data.resultType == "vector" and (.data.result | length == 1) and .data.result[0].value == ['"$now"'.5, "1"] and .data.result[0].metric.__name__ == "up"'
gf instant_empty POST /api/v1/query "query=absent_metric_xyz&time=$now"
ok200 instant_empty
jqc "query: no match is an empty vector" instant_empty '.data == {"resultType": "vector", "result": []}'

# exemplars (Grafana asks alongside range queries when exemplars are on)
gf exemplars POST /api/v1/query_exemplars "end=$end&query=up&start=$start"
ok200 exemplars
jqc "query_exemplars: an array" exemplars '.data | type == "array"'

# errors as Grafana shows them
gf bad_query POST /api/v1/query_range "end=$end&query=rate%28up%29&start=$start&step=$step"
check "a query that does not type-check: HTTP 400" test "$(cat "$T/bad_query.code")" = 400
jqc "its body: status error, errorType bad_data, an error message" bad_query \
  '.status == "error" and .errorType == "bad_data" and (.error | type == "string" and length > 0) and (has("data") | not)'
gf bad_step POST /api/v1/query_range "end=$end&query=up&start=$start&step=0"
check "step=0: HTTP 400 bad_data" \
  test "$(cat "$T/bad_step.code"):$(jq -r .errorType "$T/bad_step.json")" = 400:bad_data
gf bad_range POST /api/v1/query_range "end=$start&query=up&start=$end&step=$step"
check "end before start: HTTP 400 bad_data" \
  test "$(cat "$T/bad_range.code"):$(jq -r .errorType "$T/bad_range.json")" = 400:bad_data

check "the server is still serving" test "$(curl -s -o /dev/null -w '%{http_code}' "$base/-/healthy")" = 200
kill -TERM "$pid"; wait_exit "$pid" 20
check "pharos exits cleanly" test "$E2E_STATUS" = 0
finish
