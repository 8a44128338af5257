#!/usr/bin/env bash
# run_fuzz.sh - runs one libFuzzer driver for a bounded time over its
# committed seed corpus; the 'fuzz' test suite (tests/fuzz/meson.build).
#
#   run_fuzz.sh FUZZER SEEDS_DIR SECONDS [REASON]
#
# FUZZER "-" means the driver could not be built on this machine (no clang
# or no libFuzzer runtime): REASON is printed and the test skips (77).
# PHAROS_FUZZ_SECONDS overrides SECONDS for a longer local campaign.
#
# The run happens in a fresh temporary directory: libFuzzer writes new
# corpus entries into its first corpus directory, which is that one, so
# the committed seeds are only read.  Every seed runs first, then
# mutations until the time is up.  A crash, sanitizer report, leak,
# per-input timeout (10 s) or out-of-memory (2 GiB) fails the test: the
# end of libFuzzer's log is printed, the offending input is shown in hex
# and kept under $PHAROS_BUILD_DIR/tests/fuzz/artifacts/ for
# reproduction (run the fuzzer binary with the file as its argument).
set -u
fz=$1 seeds=$2 secs=${PHAROS_FUZZ_SECONDS:-$3}
if [ "$fz" = - ]; then echo "skipped: ${4:-fuzzer not built}"; exit 77; fi
[ -x "$fz" ] || { echo "fuzzer $fz is not built"; exit 1; }
[ -d "$seeds" ] || { echo "no seed corpus at $seeds"; exit 1; }
name=$(basename "$fz")
nseeds=$(find "$seeds" -type f | wc -l)
[ "$nseeds" -gt 0 ] || { echo "the seed corpus $seeds is empty"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/pharos-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/tmp"

# A fixed seed and a fixed number of runs make the suite reproducible: the
# same inputs every time (set PHAROS_FUZZ_SEED=0 for a random search, and
# PHAROS_FUZZ_RUNS for a longer one); the time limit still caps it.
fseed=${PHAROS_FUZZ_SEED:-1} fruns=${PHAROS_FUZZ_RUNS:-5000}
echo "$name: $nseeds seeds from $seeds, $fruns runs with seed $fseed, at most ${secs}s"
# The outer timeout only guards against a fuzzer that ignores its own.
TMPDIR=$work/tmp timeout -k 5 $((secs + 90)) "$fz" -max_total_time="$secs" -timeout=10 \
  -seed="$fseed" -runs="$fruns" \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" \
  "$work/corpus" "$seeds" >"$work/log" 2>&1
rc=$?

if [ "$rc" = 0 ] && ! grep -qE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error' "$work/log"; then
  grep -E '^(Done|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' "$work/log"
  grep -E 'INITED|DONE' "$work/log" | tail -2
  echo "$name: no crash"
  exit 0
fi

echo "$name: FAILED (exit $rc); the end of libFuzzer's log:"
grep -vE '^#[0-9]+.*(NEW|REDUCE|pulse)|^\s+NEW_FUNC' "$work/log" | tail -60
keep=${PHAROS_BUILD_DIR:-$work}/tests/fuzz/artifacts
mkdir -p "$keep"
for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*; do
  [ -f "$f" ] || continue
  echo "--- $(basename "$f") ($(wc -c <"$f") bytes):"
  od -A d -t x1z "$f" | head -20
  cp "$f" "$keep/$name-$(basename "$f")"
  echo "kept as $keep/$name-$(basename "$f"); reproduce with: $fz $keep/$name-$(basename "$f")"
done
exit 1
