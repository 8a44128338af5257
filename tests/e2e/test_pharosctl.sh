#!/usr/bin/env bash
# End-to-end: pharosctl.  check config on good and bad files (exact
# file:line:column), check metrics on good, broken and unlinted input,
# create-blocks-from openmetrics (and its alias tsdb import openmetrics) on
# a generated file and then tsdb list / inspect / dump / dump-openmetrics /
# analyze showing exactly the imported samples, import errors with line
# numbers; the main commands (query, query-range, series, labels,
# label-values) on that directory with --data-dir, each output mode checked
# exactly (table with sparklines, RFC 4180 CSV, JSON read back with jq) and
# the exit status of every kind of error; then a pharos started on loopback
# over imported data: the clear error when pharosctl is pointed at its
# directory, the main commands with --server giving the same output as
# with --data-dir, targets, and the promtool-compatible query commands.
. "$(dirname "$0")/lib.sh"
CTL=${PHAROS_BUILD_DIR:?}/cli/pharosctl
PHAROS=$PHAROS_BUILD_DIR/server/pharos
T=$E2E_TMP
# same EXPECTED ACTUAL: like diff (either may be - for stdin), showing at
# most 20 lines of the difference when they differ.
same() {
  if diff "$@" >"$T/diff.out" 2>&1; then return 0; fi
  head -20 "$T/diff.out"; return 1
}

# ---- version and help ----------------------------------------------------------
ver=$("$CTL" --version)
check "--version names pharosctl and its revision" grep -qE '^pharosctl, version [0-9]+\.[0-9]+\.[0-9]+ .*revision' <<<"$ver"
"$CTL" --help >"$T/help.out"; st=$?
check "--help exits 0" test "$st" = 0
for c in "query <expr>" "query-range <expr>" "series <match>..." "labels" "label-values <name>" \
         "targets" "query instant" "query range" "query series" "query labels" "check config" \
         "check metrics" "tsdb list" "tsdb inspect" "tsdb analyze" "tsdb dump" \
         "tsdb import openmetrics" "tsdb create-blocks-from openmetrics"; do
  check "--help lists '$c'" grep -q "^  $c" "$T/help.out"
done
for c in "query" "query-range" "series" "labels" "label-values" "targets" "query instant" \
         "tsdb import openmetrics" "tsdb create-blocks-from openmetrics"; do
  # shellcheck disable=SC2086
  "$CTL" $c --help >"$T/sub.out" 2>&1; st=$?
  check "'$c --help' exits 0 with its usage" bash -c "test $st = 0 && grep -q 'usage: pharosctl $c \[<flags>\]' '$T/sub.out'"
done
check "--help documents the exit status" grep -q '^Exit status: 0 success, 1 failure (query, file or directory), 2 usage error' "$T/help.out"
"$CTL" query instant --bogus x y >"$T/bad.out" 2>&1; st=$?
check "unknown flag is a usage error: exit 2" test "$st" = 2
check "unknown flag is named kingpin-style" grep -qx "pharosctl: error: unknown long flag '--bogus', try --help" "$T/bad.out"
"$CTL" frobnicate >"$T/bad.out" 2>&1; st=$?
check "unknown command exits 2" test "$st" = 2
check "unknown command is named" grep -q 'expected command but got "frobnicate"' "$T/bad.out"
"$CTL" --frobnicate query up >"$T/bad.out" 2>&1; st=$?
check "unknown global flag exits 2" bash -c "test $st = 2 && grep -qx \"pharosctl: error: unknown long flag '--frobnicate', try --help\" '$T/bad.out'"
"$CTL" query >"$T/bad.out" 2>&1; st=$?
check "query without an expression exits 2" bash -c "test $st = 2 && grep -q \"required argument 'expr' not provided\" '$T/bad.out'"

# ---- check config ----------------------------------------------------------------
cat >"$T/good.yml" <<'YML'
global:
  scrape_interval: 15s
  evaluation_interval: 30s
  external_labels:
    site: home
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['pi:9100', 'nas:9100']
        labels:
          room: attic
    relabel_configs:
      - source_labels: [__address__]
        regex: '([^:]+):.*'
        target_label: host
storage:
  tsdb:
    out_of_order_time_window: 10m
YML
cat >"$T/bad.yml" <<'YML'
global:
  scrape_interval: 15s
  scrape_intervl: 10s
YML
cat >"$T/bad_job.yml" <<'YML'
scrape_configs:
  - job_name: a
    scrape_interval: 10s
    scrape_timeout: 20s
YML
printf 'global:\n  scrape_interval: [\n' >"$T/bad_syntax.yml"
cat >"$T/bad_storage.yml" <<'YML'
storage:
  tsdb:
    out_of_order_time_window: soon
YML

(cd "$T" && "$CTL" check config good.yml) >"$T/cc.out" 2>"$T/cc.err"; st=$?
check "check config on a good file exits 0" test "$st" = 0
check "check config prints promtool's SUCCESS lines" \
  diff <(printf 'Checking good.yml\n SUCCESS: good.yml is valid prometheus config file syntax\n\n') "$T/cc.out"
check "check config on a good file prints nothing on stderr" test ! -s "$T/cc.err"

(cd "$T" && "$CTL" check config bad.yml) >"$T/cc.out" 2>"$T/cc.err"; st=$?
check "check config on a bad file exits 1" test "$st" = 1
check "check config says which file it checks" grep -qx 'Checking bad.yml' "$T/cc.out"
check "unknown field: FAILED with bad.yml:3:3 and the field" \
  grep -qx '  FAILED: bad.yml:3:3: field "scrape_intervl" not found in global (did you mean "scrape_interval"?)' "$T/cc.err"

(cd "$T" && "$CTL" check config bad_job.yml) >"$T/cc.out" 2>"$T/cc.err"; st=$?
check "timeout above interval: exit 1" test "$st" = 1
check "timeout above interval: bad_job.yml:4:21 and the job path" \
  grep -q '^  FAILED: bad_job.yml:4:21: scrape_configs\[0\]\.scrape_timeout: .*greater than scrape interval' "$T/cc.err"

(cd "$T" && "$CTL" check config bad_syntax.yml) >"$T/cc.out" 2>"$T/cc.err"; st=$?
check "YAML syntax error: exit 1" test "$st" = 1
check "YAML syntax error: bad_syntax.yml:3:1" grep -q '^  FAILED: bad_syntax.yml:3:1: yaml: ' "$T/cc.err"

(cd "$T" && "$CTL" check config bad_storage.yml) >"$T/cc.out" 2>"$T/cc.err"; st=$?
check "bad storage duration: exit 1" test "$st" = 1
check "bad storage duration: bad_storage.yml:3:31 and the field" \
  grep -q '^  FAILED: bad_storage.yml:3:31: storage.tsdb.out_of_order_time_window: ' "$T/cc.err"

(cd "$T" && "$CTL" check config good.yml bad.yml missing.yml) >"$T/cc.out" 2>"$T/cc.err"; st=$?
check "several files: any failure exits 1" test "$st" = 1
check "several files: each one is checked" test "$(grep -c '^Checking ' "$T/cc.out")" = 3
check "several files: the good one still succeeds" grep -q '^ SUCCESS: good.yml' "$T/cc.out"
check "a missing file is reported" grep -q '^  FAILED: missing.yml' "$T/cc.err"

# ---- check metrics ------------------------------------------------------------------
printf '# HELP up_total Ups.\n# TYPE up_total counter\nup_total{job="a"} 1\n' |
  "$CTL" check metrics >"$T/cm.out" 2>&1; st=$?
check "check metrics on clean input exits 0 silently" bash -c "test $st = 0 && test ! -s '$T/cm.out'"
printf '# HELP a A.\na{b="c" 1\n' | "$CTL" check metrics >"$T/cm.out" 2>&1; st=$?
check "check metrics on broken input exits 1" test "$st" = 1
check "check metrics reports line:column of the parse error" \
  grep -q '^error while linting: 2:9: ' "$T/cm.out"
printf '# HELP foo Foo.\n# TYPE foo counter\nfoo 1\nbarBaz 2\nbarBaz 3\n' |
  "$CTL" check metrics >"$T/cm.out" 2>&1; st=$?
check "check metrics with lint problems exits 3" test "$st" = 3
check "lint problems are listed sorted, promlint-style" same - "$T/cm.out" <<'EOF'
barBaz metric names should be written in 'snake_case' not 'camelCase'
barBaz metric not unique
barBaz no help text
foo counter metrics should have "_total" suffix
EOF

# ---- create-blocks-from openmetrics, then list / inspect / dump ----------------------
# Two series from 2023-11-14T22:00:00Z, every 10 minutes for 10 hours: the
# import cuts 22:00-00:00 into a block, compacts 00:00-06:00 into a second
# one and leaves 06:00-07:50 in the head.
base=1699999200
{
  echo '# HELP http_requests_total Requests.'
  echo '# TYPE http_requests_total counter'
  for ((i = 0; i < 60; i++)); do
    echo "http_requests_total{code=\"200\",job=\"api\"} $((i * 2)) $((base + i * 600))"
  done
  echo '# TYPE temp gauge'
  awk -v b=$base 'BEGIN { for (i = 0; i < 60; i++) printf "temp{room=\"a b\"} %g %s.5\n", 20 + i * 0.25, b + i * 600 }'
  echo '# EOF'
} >"$T/in.om"
# the dump that must come back: promtool's "{labels} %g ms" lines
{
  for ((i = 0; i < 60; i++)); do
    echo "{__name__=\"http_requests_total\", code=\"200\", job=\"api\"} $((i * 2)) $(((base + i * 600) * 1000))"
  done
  awk -v b=$base 'BEGIN { for (i = 0; i < 60; i++) printf "{__name__=\"temp\", room=\"a b\"} %g %s500\n", 20 + i * 0.25, b + i * 600 }'
} >"$T/want.dump"

db=$T/imported
"$CTL" tsdb create-blocks-from openmetrics "$T/in.om" "$db" >"$T/imp.out" 2>"$T/imp.err"; st=$?
check "import exits 0" test "$st" = 0
check "import reports the samples and series" \
  grep -qx "Imported 120 samples of 2 series from $T/in.om into $db." "$T/imp.out"
check "import prints the created blocks" grep -q '^BLOCK ULID  *MIN TIME' "$T/imp.out"
check "import says what stays in the head" grep -q 'are in the head (WAL)' "$T/imp.out"

"$CTL" tsdb list "$db" >"$T/list.out" 2>&1; st=$?
check "tsdb list exits 0" test "$st" = 0
check "tsdb list header as promtool" grep -qE '^BLOCK ULID {18}MIN TIME {7}MAX TIME {7}DURATION {5}NUM SAMPLES  NUM CHUNKS {3}NUM SERIES {3}SIZE$' "$T/list.out"
check "tsdb list shows the 2h block" grep -qE '^[0-9A-HJKMNP-TV-Z]{26}  1699999200000  1700006400000  2h0m0s {7}24 {11}2 {12}2 {12}[0-9]+$' "$T/list.out"
check "tsdb list shows the compacted 6h block" grep -qE '^[0-9A-HJKMNP-TV-Z]{26}  1700006400000  1700028000000  6h0m0s {7}72 {11}2 {12}2 {12}[0-9]+$' "$T/list.out"
check "tsdb list has exactly two blocks" test "$(wc -l <"$T/list.out")" = 3
"$CTL" tsdb list -r "$db" >"$T/list.out" 2>&1
check "tsdb list -r prints RFC 3339 times" grep -q '2023-11-14T22:00:00.000Z  2023-11-15T00:00:00.000Z' "$T/list.out"

"$CTL" tsdb inspect "$db" >"$T/insp.out" 2>&1; st=$?
check "tsdb inspect exits 0" test "$st" = 0
check "inspect: two blocks" grep -qx 'Blocks: 2' "$T/insp.out"
check "inspect: block rows with level, series, samples, chunks" \
  grep -qE '^[0-9A-Z]{26}  2023-11-15T00:00:00.000Z  2023-11-15T06:00:00.000Z  6h +2 +2 +72 +2 +[0-9]+ +[0-9.]+$' "$T/insp.out"
check "inspect: head series" grep -qE '^  Series: +2$' "$T/insp.out"
check "inspect: head time range" grep -q 'Max time:      2023-11-15T07:50:00.500Z (1700034600500)' "$T/insp.out"
check "inspect: samples in blocks" grep -qE '^  Samples in blocks: +96$' "$T/insp.out"
check "inspect: bytes per sample on disk" grep -qE '^  Bytes/sample \(blocks\): [0-9]+\.[0-9]{2}$' "$T/insp.out"
check "inspect: WAL bytes" grep -qE '^  WAL bytes: +[1-9][0-9]*' "$T/insp.out"

"$CTL" tsdb dump "$db" >"$T/dump.out" 2>"$T/dump.err"; st=$?
check "tsdb dump exits 0" test "$st" = 0
check "tsdb dump gives back exactly the imported samples" same "$T/want.dump" "$T/dump.out"
"$CTL" tsdb dump --match='temp{room="a b"}' --min-time=1700028000500 --max-time=1700029200500 "$db" >"$T/dump.out" 2>&1
check "tsdb dump with --match and a time range" same - "$T/dump.out" <<'EOF'
{__name__="temp", room="a b"} 32 1700028000500
{__name__="temp", room="a b"} 32.25 1700028600500
{__name__="temp", room="a b"} 32.5 1700029200500
EOF
"$CTL" tsdb dump --match='{code="200"}' --match='{__name__=~"http.*"}' --max-time=1699999800000 "$db" >"$T/dump.out" 2>&1
check "overlapping --match selectors print each series once" same - "$T/dump.out" <<'EOF'
{__name__="http_requests_total", code="200", job="api"} 0 1699999200000
{__name__="http_requests_total", code="200", job="api"} 2 1699999800000
EOF
"$CTL" tsdb dump --match='{code=' "$db" >"$T/dump.out" 2>&1; st=$?
check "a bad --match exits 1 with a positioned error" \
  bash -c "test $st = 1 && grep -q 'invalid --match.*1:7: parse error' '$T/dump.out'"
"$CTL" tsdb dump --match='{code=~".*"}' "$db" >"$T/dump.out" 2>&1; st=$?
check "a --match without a non-empty matcher is refused" \
  bash -c "test $st = 1 && grep -q 'at least one non-empty matcher' '$T/dump.out'"

"$CTL" tsdb dump-openmetrics "$db" >"$T/rt.om" 2>&1; st=$?
check "dump-openmetrics exits 0 and ends with # EOF" bash -c "test $st = 0 && tail -1 '$T/rt.om' | grep -qx '# EOF'"
check "dump-openmetrics writes OpenMetrics series" grep -qx 'temp{room="a b"} 20 1699999200.500' "$T/rt.om"
"$CTL" tsdb create-blocks-from openmetrics -q "$T/rt.om" "$T/roundtrip" >/dev/null 2>&1; st=$?
check "the OpenMetrics dump imports again" test "$st" = 0
"$CTL" tsdb dump "$T/roundtrip" >"$T/dump.out" 2>&1
check "and round-trips exactly" same "$T/want.dump" "$T/dump.out"
"$CTL" tsdb import openmetrics -q "$T/in.om" "$T/alias" >"$T/imp.out" 2>&1; st=$?
check "tsdb import openmetrics (the alias) exits 0" test "$st" = 0
"$CTL" tsdb dump "$T/alias" >"$T/dump.out" 2>&1
check "and imports the same samples" same "$T/want.dump" "$T/dump.out"

"$CTL" tsdb analyze "$db" >"$T/an.out" 2>&1; st=$?
check "tsdb analyze exits 0" test "$st" = 0
check "analyze: total series" grep -qx 'Total Series: 2' "$T/an.out"
check "analyze: label names" grep -qx 'Label names: 4' "$T/an.out"
check "analyze: postings" grep -qx 'Postings (unique label pairs): 5' "$T/an.out"
check "analyze: metric names by series" \
  bash -c "grep -A2 '^Highest cardinality metric names:' '$T/an.out' | diff - <(printf 'Highest cardinality metric names:\n1 http_requests_total\n1 temp\n')"
check "analyze: labels by values" \
  bash -c "grep -A1 '^Highest cardinality labels:' '$T/an.out' | grep -qx '2 __name__'"

# ---- import errors ------------------------------------------------------------------------
printf '# TYPE x gauge\nx 1 100\nx 2\n# EOF\n' >"$T/nots.om"
"$CTL" tsdb create-blocks-from openmetrics "$T/nots.om" "$T/e1" >"$T/e.out" 2>&1; st=$?
check "a sample without timestamp fails the import" test "$st" = 1
check "and names its line" grep -qx "$T/nots.om:3: expected timestamp for series x, got none" "$T/e.out"
check "and nothing was written" test ! -e "$T/e1"
printf '# TYPE x gauge\nx 1 100\nx{a= 2 200\n# EOF\n' >"$T/syntax.om"
"$CTL" tsdb create-blocks-from openmetrics "$T/syntax.om" "$T/e2" >"$T/e.out" 2>&1; st=$?
check "a syntax error fails the import with line:column" \
  bash -c "test $st = 1 && grep -q '^$T/syntax.om:3:5: ' '$T/e.out'"
printf '# TYPE x gauge\nx 1 100\n' >"$T/noeof.om"
"$CTL" tsdb create-blocks-from openmetrics "$T/noeof.om" "$T/e3" >"$T/e.out" 2>&1; st=$?
check "input without # EOF is refused" test "$st" = 1
printf '# TYPE x gauge\nx 1 100\nx 1 200\nx 5 100\n# EOF\n' >"$T/dup.om"
"$CTL" tsdb create-blocks-from openmetrics "$T/dup.om" "$T/e4" >"$T/e.out" 2>&1; st=$?
check "a conflicting duplicate sample fails the import" test "$st" = 1
check "the duplicate is reported with its line" grep -q "^$T/dup.om:4: duplicate sample for timestamp" "$T/e.out"
check "the other samples were imported" grep -q '^Imported 2 samples of 1 series' "$T/e.out"
"$CTL" tsdb dump "$T/nonexistent" >"$T/e.out" 2>&1; st=$?
check "tsdb dump of a missing directory fails clearly" \
  bash -c "test $st = 1 && grep -q 'cannot open data directory' '$T/e.out'"
mkdir -p "$T/notadb"
"$CTL" tsdb inspect "$T/notadb" >"$T/e.out" 2>&1; st=$?
check "a directory that is not a database is refused, untouched" \
  bash -c "test $st = 1 && grep -q 'does not look like a data directory' '$T/e.out' && test -z \"\$(ls -A '$T/notadb')\""

# ---- main commands on a data directory (--data-dir) ---------------------------------
# $db holds http_requests_total (0, 2, 4 ... every 10 minutes from $base)
# and temp (20, 20.25 ... at the same times + 0.5 s).  With samples 10
# minutes apart and a 5 minute lookback, temp has no value at $base + k*600.
export LC_ALL=C.UTF-8
t=$((base + 3060)) # 22:51:00Z: http_requests_total 10 (from 22:50:00), temp 21.25 (22:50:00.5)
both='{__name__=~"temp|http_requests_total"}'
"$CTL" --data-dir "$db" query --time=$t "$both" >"$T/m.out" 2>"$T/m.err"; st=$?
check "query --data-dir exits 0, silent on stderr" bash -c "test $st = 0 && test ! -s '$T/m.err'"
check "query prints the aligned table" same - "$T/m.out" <<'EOF'
SERIES                                      VALUE  TIMESTAMP
http_requests_total{code="200", job="api"}  10     2023-11-14T22:51:00.000Z
temp{room="a b"}                            21.25  2023-11-14T22:51:00.000Z
EOF
"$CTL" --data-dir "$db" -o csv query --time=$t "$both" >"$T/m.out" 2>&1; st=$?
check "query -o csv (global flag) exits 0" test "$st" = 0
check "CSV rows end in CRLF (RFC 4180)" test "$(grep -c $'\r$' "$T/m.out")" = 3
check "CSV: header, quoted series, API values" same - <(tr -d '\r' <"$T/m.out") <<'EOF'
series,timestamp,value
"http_requests_total{code=""200"", job=""api""}",1700002260,10
"temp{room=""a b""}",1700002260,21.25
EOF
if command -v python3 >/dev/null; then
  check "CSV parses back with a CSV reader" test "$(python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1], newline=""))); print(len(r), r[2][0], r[2][2])' "$T/m.out")" = '3 temp{room="a b"} 21.25'
fi
"$CTL" query --data-dir "$db" -o json --time=$t.25 'sum(temp)' >"$T/m.out" 2>&1; st=$?
check "query -o json prints the API's data" bash -c "test $st = 0 && diff - '$T/m.out'" <<'EOF'
{"resultType":"vector","result":[{"metric":{},"value":[1700002260.250,"21.25"]}]}
EOF
if command -v jq >/dev/null; then
  check "the JSON parses: a vector of one [float, \"string\"] sample" \
    test "$(jq -r '[.resultType, (.result|length), (.result[0].value[0]|type), .result[0].value[1]] | join(" ")' "$T/m.out")" = "vector 1 number 21.25"
fi
"$CTL" query --data-dir "$db" --time=$t 'scalar(http_requests_total) / 4' >"$T/m.out" 2>&1
check "a scalar as a table" same - "$T/m.out" <<'EOF'
SERIES    VALUE  TIMESTAMP
(scalar)  2.5    2023-11-14T22:51:00.000Z
EOF
"$CTL" query --data-dir "$db" --time=$t -o csv '"a,b"' >"$T/m.out" 2>&1
check "a string as CSV, quoted" same - <(tr -d '\r' <"$T/m.out") <<'EOF'
series,timestamp,value
,1700002260,"a,b"
EOF
"$CTL" query --data-dir "$db" --time=$t 'http_requests_total[20m]' >"$T/m.out" 2>&1
check "a range selector at an instant: a row per sample" same - "$T/m.out" <<'EOF'
SERIES                                      VALUE  TIMESTAMP
http_requests_total{code="200", job="api"}  8      2023-11-14T22:40:00.000Z
http_requests_total{code="200", job="api"}  10     2023-11-14T22:50:00.000Z
EOF

"$CTL" query-range --data-dir "$db" --start=$((base + 60)) --end=$t --step=600 "$both" >"$T/m.out" 2>&1; st=$?
check "query-range exits 0" test "$st" = 0
check "query-range: min, max, last and a sparkline per series" same - "$T/m.out" <<'EOF'
SERIES                                      MIN  MAX    LAST   CHART
http_requests_total{code="200", job="api"}  0    10     10     ▁▂▄▅▇█
temp{room="a b"}                            20   21.25  21.25  ▁▂▄▅▇█
EOF
# every 5 minutes from $base: temp has a value only at $base + 300 + k*600
"$CTL" query-range --data-dir "$db" --start=$base --end=$((base + 3000)) --step=5m temp >"$T/m.out" 2>&1
check "missing points are blanks in the sparkline" same - "$T/m.out" <<'EOF'
SERIES            MIN  MAX  LAST  CHART
temp{room="a b"}  20   21   21     ▁ ▃ ▅ ▆ █ 
EOF
"$CTL" query-range --data-dir "$db" --start=$base --end=$((base + 600)) --step=300 -o csv temp >"$T/m.out" 2>&1
check "query-range -o csv: series,timestamp,value rows" same - <(tr -d '\r' <"$T/m.out") <<'EOF'
series,timestamp,value
"temp{room=""a b""}",1699999500,20
EOF
"$CTL" query-range --data-dir "$db" --start=$base --end=$((base + 1200)) --step=600 -o json http_requests_total >"$T/m.out" 2>&1
check "query-range -o json: the matrix" same - "$T/m.out" <<'EOF'
{"resultType":"matrix","result":[{"metric":{"__name__":"http_requests_total","code":"200","job":"api"},"values":[[1699999200,"0"],[1699999800,"2"],[1700000400,"4"]]}]}
EOF
# 10 hours every 10 minutes, a minute after each sample: 60 or 61 steps
chart_cols() { # the chart's width in the first series row of a range table
  local hdr row; hdr=$(head -1 "$1"); row=$(sed -n 2p "$1"); hdr=${hdr%%CHART*}
  row=${row:${#hdr}}; echo "${#row}"
}
"$CTL" query-range --data-dir "$db" --start=$((base + 60)) --end=$((base + 35460)) --step=600 temp >"$T/m.out" 2>&1
check "without COLUMNS the chart is at most 60 wide (60 steps: one each)" test "$(chart_cols "$T/m.out")" = 60
COLUMNS=200 "$CTL" query-range --data-dir "$db" --start=$((base + 60)) --end=$((base + 36060)) --step=600 temp >"$T/m.out" 2>&1
check "a wide terminal shows every one of 61 steps" test "$(chart_cols "$T/m.out")" = 61
COLUMNS=60 "$CTL" query-range --data-dir "$db" --start=$((base + 60)) --end=$((base + 36060)) --step=600 temp >"$T/m.out" 2>&1
hdr=$(head -1 "$T/m.out"); hdr=${hdr%%CHART*}
check "the chart fits COLUMNS=60" test "$(chart_cols "$T/m.out")" = $((60 - ${#hdr}))
widest=0
while IFS= read -r line; do [ "${#line}" -gt "$widest" ] && widest=${#line}; done <"$T/m.out"
check "every line fits COLUMNS=60" test "$widest" = 60
check "the merged chart still rises from ▁ to █" grep -qE '▁.*█$' "$T/m.out"

"$CTL" series --data-dir "$db" temp '{code="200"}' >"$T/m.out" 2>&1; st=$?
check "series with two selectors: each series once, sorted" bash -c "test $st = 0 && diff - '$T/m.out'" <<'EOF'
SERIES
http_requests_total{code="200", job="api"}
temp{room="a b"}
EOF
"$CTL" series --data-dir "$db" '{__name__=~".+"}' temp -o csv >"$T/m.out" 2>&1
check "series -o csv" same - <(tr -d '\r' <"$T/m.out") <<'EOF'
series
"http_requests_total{code=""200"", job=""api""}"
"temp{room=""a b""}"
EOF
"$CTL" series --data-dir "$db" '{room=~"a.*"}' -o json >"$T/m.out" 2>&1
check "series -o json" same - "$T/m.out" <<<'[{"__name__":"temp","room":"a b"}]'
"$CTL" labels --data-dir "$db" >"$T/m.out" 2>&1; st=$?
check "labels" bash -c "test $st = 0 && printf 'LABEL\n__name__\ncode\njob\nroom\n' | diff - '$T/m.out'"
"$CTL" labels --data-dir "$db" --match=temp -o json >"$T/m.out" 2>&1
check "labels --match -o json" same - "$T/m.out" <<<'["__name__","room"]'
"$CTL" label-values --data-dir "$db" room >"$T/m.out" 2>&1
check "label-values: the label as header, then the values" same - "$T/m.out" <<'EOF'
ROOM
a b
EOF
"$CTL" label-values --data-dir "$db" __name__ --match='{job="api"}' -o csv >"$T/m.out" 2>&1
check "label-values --match -o csv" same - <(tr -d '\r' <"$T/m.out") <<'EOF'
__name__
http_requests_total
EOF

# errors: 1 when the query fails, 2 when the command line is wrong
"$CTL" query --data-dir "$db" 'temp +' >"$T/m.out" 2>"$T/m.err"; st=$?
check "a PromQL syntax error exits 1" test "$st" = 1
check "as error: bad_data: <message>, worded as the API" \
  grep -qx 'error: bad_data: invalid parameter "query": 1:7: parse error: unexpected end of input' "$T/m.err"
cp "$T/m.err" "$T/local_parse.err"
check "nothing on stdout" test ! -s "$T/m.out"
"$CTL" series --data-dir "$db" '{job=~".*"}' >"$T/m.out" 2>"$T/m.err"; st=$?
check "a selector matching everything is refused (exit 1, bad_data)" \
  bash -c "test $st = 1 && grep -q '^error: bad_data: invalid parameter \"match\[\]\": .*non-empty matcher' '$T/m.err'"
"$CTL" label-values --data-dir "$db" 'bad-name' >"$T/m.out" 2>"$T/m.err"; st=$?
check "an invalid label name: exit 1, bad_data" \
  bash -c "test $st = 1 && grep -qx 'error: bad_data: invalid label name: \"bad-name\"' '$T/m.err'"
"$CTL" query-range --data-dir "$db" --start=$base --end=$((base + 36000)) --step=1 temp >"$T/m.out" 2>"$T/m.err"; st=$?
check "too many points: exit 1, bad_data" \
  bash -c "test $st = 1 && grep -q '^error: bad_data: exceeded maximum resolution of 11,000 points' '$T/m.err'"
"$CTL" query --data-dir "$T/notadb" up >"$T/m.out" 2>"$T/m.err"; st=$?
check "a directory that is not a database: exit 1" \
  bash -c "test $st = 1 && grep -q 'does not look like a data directory' '$T/m.err'"
for bad in "query --time=yesterday up" "query-range --step=0 up" \
           "query-range --start=$((base + 60)) --end=$base up" "query -o xml up" \
           "query --server=http://x up" "series" "labels extra"; do
  # shellcheck disable=SC2086
  "$CTL" --data-dir "$db" $bad >"$T/m.out" 2>"$T/m.err"; st=$?
  check "usage error exits 2: $bad" bash -c "test $st = 2 && grep -q '^pharosctl: error: .*, try --help$' '$T/m.err'"
done
"$CTL" targets --data-dir "$db" >"$T/m.out" 2>"$T/m.err"; st=$?
check "targets needs a server: exit 2" test "$st" = 2
"$CTL" query --time=now-5m --data-dir "$db" up >"$T/m.out" 2>&1; st=$?
check "relative times (now-5m) are accepted" bash -c "test $st = 0 && diff - '$T/m.out'" <<<'SERIES  VALUE  TIMESTAMP'

# ---- queries against a running pharos ---------------------------------------------------
# Data ending 20 minutes ago, one sample a minute, in a fresh directory.
now=$(date +%s)
qb=$(((now - 1800) / 60 * 60))
{
  echo '# TYPE temp gauge'
  for ((i = 0; i < 10; i++)); do echo "temp{room=\"a\"} $i $((qb + i * 60))"; done
  awk -v b=$qb 'BEGIN { for (i = 0; i < 10; i++) printf "temp{room=\"b\"} %g %s\n", i * 0.5, b + i * 60 }'
  echo '# EOF'
} >"$T/q.om"
qdb=$T/qdata
"$CTL" tsdb create-blocks-from openmetrics -q "$T/q.om" "$qdb" >/dev/null 2>&1
# The main commands on this directory before the server holds it; the same
# commands with --server must print exactly the same.
main_cmds() { # $1: a function taking a name and pharosctl's arguments
  "$1" instant query --time=$((qb + 300)) temp
  "$1" sum_csv query --time=$((qb + 300)).25 -o csv 'sum(temp)'
  "$1" instant_json query --time=$((qb + 300)) -o json temp
  "$1" range query-range --start=$qb --end=$((qb + 540)) --step=60 temp
  "$1" range_csv query-range --start=$qb --end=$((qb + 540)) --step=1m -o csv temp
  "$1" range_json query-range --start=$qb --end=$((qb + 540)) --step=60 -o json temp
  "$1" series series temp '{room="b"}'
  "$1" series_json series -o json temp
  "$1" labels labels --match=temp
  "$1" values label-values room
  "$1" values_csv label-values room --match='temp{room="b"}' -o csv
  "$1" parse_error query 'temp +'
}
run_local() { local n=$1; shift; "$CTL" --data-dir "$qdb" "$@" >"$T/loc.$n" 2>"$T/loc.$n.err"; echo $? >"$T/loc.$n.st"; }
main_cmds run_local
check "--data-dir on the query directory works (query exits 0)" test "$(cat "$T/loc.instant.st")" = 0
log=$T/pharos.log
"$PHAROS" --web.listen-address=127.0.0.1:0 --storage.tsdb.path="$qdb" >"$log" 2>&1 &
pid=$!; E2E_PIDS+=("$pid")
check "pharos starts on the imported directory" wait_for_log "$log" 'Server is ready'
port=$(port_from_log "$log")
url="http://127.0.0.1:$port"

"$CTL" tsdb list "$qdb" >"$T/lock.out" 2>&1; st=$?
check "tsdb commands refuse a live server's directory" test "$st" = 1
check "and say why" grep -q "data directory $qdb is in use" "$T/lock.out"
check "and what to do" grep -q 'Stop the server first, or run pharosctl on a copy' "$T/lock.out"
"$CTL" query --data-dir "$qdb" temp >"$T/lock.out" 2>&1; st=$?
check "query --data-dir refuses a live server's directory too (exit 1)" \
  bash -c "test $st = 1 && grep -q 'is in use' '$T/lock.out'"

code=$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/status/buildinfo" 2>/dev/null || echo 000)
qcode=$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/query?query=1" 2>/dev/null || echo 000)
if [ "$code" != 200 ] || [ "$qcode" = 404 ]; then
  echo "SKIP - query commands: this pharos does not serve the query API yet (buildinfo $code, query $qcode)"
else
  run_server() {
    local n=$1; shift
    "$CTL" --server "$url" "$@" >"$T/srv.$n" 2>"$T/srv.$n.err"; echo $? >"$T/srv.$n.st"
    check "--server $n: same exit status as --data-dir" diff "$T/loc.$n.st" "$T/srv.$n.st"
    if [[ $n == *json ]]; then
      check "--server $n: the same JSON as --data-dir" diff <(jq -cS . "$T/loc.$n") <(jq -cS . "$T/srv.$n")
    else
      check "--server $n: the same output as --data-dir" same "$T/loc.$n" "$T/srv.$n"
    fi
  }
  main_cmds run_server
  check "--server parse error: the same message on stderr" same "$T/loc.parse_error.err" "$T/srv.parse_error.err"
  ts=$(date -u -d @$((qb + 300)) +%Y-%m-%dT%H:%M:%S.000Z)
  check "--server query: the table" same - "$T/srv.instant" <<EOF
SERIES          VALUE  TIMESTAMP
temp{room="a"}  5      $ts
temp{room="b"}  2.5    $ts
EOF
  check "--server query-range: the sparklines" same - "$T/srv.range" <<'EOF'
SERIES          MIN  MAX  LAST  CHART
temp{room="a"}  0    9    9     ▁▂▃▃▄▅▆▆▇█
temp{room="b"}  0    4.5  4.5   ▁▂▃▃▄▅▆▆▇█
EOF
  check "--server range JSON values are [float, \"string\"] pairs" \
    test "$(jq -r '[.result[0].values[] | (.[0]|type) + ":" + (.[1]|type)] | unique | join(",")' "$T/srv.range_json")" = "number:string"
  "$CTL" -o csv --server "$url" query --time=$((qb + 300)) temp >"$T/q.out" 2>&1
  check "global -o csv before the command" test "$(head -1 "$T/q.out")" = $'series,timestamp,value\r'
  "$CTL" query --server "$url/no/such/prefix" temp >"$T/q.out" 2>&1; st=$?
  check "a 404 is error: client_error (exit 1)" bash -c "test $st = 1 && grep -qx 'error: client_error: client error: 404' '$T/q.out'"

  # targets: pharos scrapes itself (every 15 s: maybe not yet) by default
  "$CTL" targets --server "$url" -o csv >"$T/tg.csv" 2>&1; st=$?
  check "targets -o csv exits 0" test "$st" = 0
  check "targets -o csv: header" test "$(head -1 "$T/tg.csv")" = $'pool,url,health,last_scrape,last_scrape_duration_seconds,last_error\r'
  check "targets -o csv: the self-scrape target" \
    grep -qE "^pharos,http://127.0.0.1:$port/metrics,(up|unknown),[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z,[0-9.e-]+,"$'\r$' "$T/tg.csv"
  "$CTL" --server "$url" targets >"$T/tg.out" 2>&1; st=$?
  check "targets exits 0" test "$st" = 0
  check "targets table header" grep -qE '^POOL +URL +HEALTH +LAST SCRAPE +DURATION +ERROR$' "$T/tg.out"
  check "targets table row: pool, URL, health, age, duration" \
    grep -qE "^pharos +http://127.0.0.1:$port/metrics +(up +[0-9hms.]+ ago|unknown +never) +[0-9.]+m?s$" "$T/tg.out"
  "$CTL" --server "$url" targets -o json >"$T/tg.json" 2>&1
  check "targets -o json is the API's data" test "$(jq '[.activeTargets[] | select(.scrapePool == "pharos")] | length' "$T/tg.json")" = 1

  # the promtool-compatible query commands
  t=$((qb + 300))
  "$CTL" query instant --time=$t "$url" 'temp' >"$T/q.out" 2>"$T/q.err"; st=$?
  check "query instant exits 0" test "$st" = 0
  check "query instant prints the vector as promtool" same - <(sort "$T/q.out") <<EOF
temp{room="a"} => 5 @[$t]
temp{room="b"} => 2.5 @[$t]
EOF
  "$CTL" query instant --time=$t.250 "$url" 'sum(temp)' >"$T/q.out" 2>&1
  check "an aggregate prints {} and fractional time" same - "$T/q.out" <<EOF
{} => 7.5 @[$t.25]
EOF
  "$CTL" query instant --time=$t "$url" '1+1' >"$T/q.out" 2>&1
  check "a scalar prints as promtool" same - "$T/q.out" <<<"scalar: 2 @[$t]"
  "$CTL" query instant --time=$t "$url" '"hello"' >"$T/q.out" 2>&1
  check "a string prints as promtool" same - "$T/q.out" <<<"hello"
  "$CTL" query instant -o json --time=$t "$url" 'temp{room="a"}' >"$T/q.out" 2>&1
  check "-o json prints the result as JSON" same - "$T/q.out" <<EOF
[{"metric":{"__name__":"temp","room":"a"},"value":[$t,"5"]}]
EOF
  "$CTL" query range --start=$qb --end=$((qb + 120)) --step=60 "$url" 'temp' >"$T/q.out" 2>&1; st=$?
  check "query range exits 0" test "$st" = 0
  check "query range prints each series and its values" same - "$T/q.out" <<EOF
temp{room="a"} =>
0 @[$qb]
1 @[$((qb + 60))]
2 @[$((qb + 120))]
temp{room="b"} =>
0 @[$qb]
0.5 @[$((qb + 60))]
1 @[$((qb + 120))]
EOF
  "$CTL" query series --match='temp' "$url" >"$T/q.out" 2>&1; st=$?
  check "query series prints label sets" bash -c "test $st = 0 && diff - '$T/q.out'" <<'EOF'
{__name__="temp", room="a"}
{__name__="temp", room="b"}
EOF
  "$CTL" query series "$url" >"$T/q.out" 2>&1; st=$?
  check "query series requires --match (exit 2)" bash -c "test $st = 2 && grep -q 'required flag --match' '$T/q.out'"
  "$CTL" query labels "$url" room >"$T/q.out" 2>&1; st=$?
  check "query labels prints the values" bash -c "test $st = 0 && diff - '$T/q.out'" <<'EOF'
a
b
EOF
  "$CTL" query instant "$url" 'temp +' >"$T/q.out" 2>&1; st=$?
  check "a bad query exits 1" test "$st" = 1
  check "with the server's errorType and message" grep -q '^query error: bad_data: .*parse error' "$T/q.out"
  "$CTL" query instant "$url/no/such/prefix" 'temp' >"$T/q.out" 2>&1; st=$?
  check "a 404 is a client error" bash -c "test $st = 1 && grep -qx 'query error: client_error: client error: 404' '$T/q.out'"
  "$CTL" query range --start=$qb --end=$((qb - 60)) "$url" 'temp' >"$T/q.out" 2>&1; st=$?
  check "end before start is refused (exit 2)" bash -c "test $st = 2 && grep -q 'end time is before start time' '$T/q.out'"
  "$CTL" query instant --time=yesterday "$url" 'temp' >"$T/q.out" 2>&1; st=$?
  check "a bad --time is refused (exit 2)" bash -c "test $st = 2 && grep -q 'cannot parse' '$T/q.out'"
fi
kill -TERM "$pid"; wait_exit "$pid" 20
"$CTL" query instant "http://127.0.0.1:$port" 'up' >"$T/q.out" 2>&1; st=$?
check "a server that is gone is a clear error" bash -c "test $st = 1 && grep -q '^query error: Post ' '$T/q.out'"
"$CTL" query --server "http://127.0.0.1:$port" 'up' >"$T/q.out" 2>&1; st=$?
check "query: a server that is gone is error: connection (exit 1)" \
  bash -c "test $st = 1 && grep -q '^error: connection: Post \"http://127.0.0.1:$port/api/v1/query\": ' '$T/q.out'"
finish
