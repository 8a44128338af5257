#!/usr/bin/env bash
# test_node_exporter_fixtures.sh - pharos-exporter against node_exporter
# v1.9.1's fixture trees, family by family.
#
# Starts the exporter (path given as $1) on 127.0.0.1 with port 0 and the
# flags from the fixtures' README, reads the bound port from its
# "Listening on" log line, fetches /metrics with curl, stops the one PID it
# started, and compares with e2e-output.txt:
#   - both sides drop the sample lines the README lists as volatile;
#   - both are split into families (HELP + TYPE + samples);
#   - each family is attributed to a collector by name prefix;
#   - for every collector the exporter reports in node_scrape_collector_
#     success (i.e. implements and ran), every expected family must be
#     byte-identical, no extra family may appear, and its success sample
#     must be 1.
# Prints a per-collector table and the first lines of each differing
# family.  Exit 0 pass, 1 fail, 77 skipped (no ../shared).
#
# The textfile collector names its input path in HELP; node_exporter's run
# used "collector/fixtures/textfile/two_metric_files/", so the exporter runs
# in a scratch directory holding a copy of the fixtures at that path.  The
# shared copy stores sysfs symlinks as small files holding the link target
# ("../../devices/virtual/thermal/thermal_zone0"); the scratch copy turns
# them back into symlinks so the exporter sees a sysfs tree as the kernel
# (and node_exporter's test) has it.  node_exporter's fixture archive also
# holds an empty sys/class/watchdog/watchdog1 directory (it yields the
# all-empty node_watchdog_info sample of e2e-output.txt) that the shared
# copy lost, as unpacking kept no empty directories; it is recreated.
set -u

exe=${1:?usage: $0 path/to/pharos-exporter}
case "$exe" in /*) ;; *) exe="$PWD/$exe" ;; esac
shared=${PHAROS_SHARED_DIR:-}
fx="$shared/node-exporter-fixtures"
if [ -z "$shared" ] || [ ! -f "$fx/e2e-output.txt" ]; then
  if [ "${PHAROS_REQUIRE_SHARED:-0}" = 1 ]; then
    echo "FAIL: ../shared not found (PHAROS_SHARED_DIR=$shared)"
    exit 1
  fi
  echo "skipped: ../shared not found"
  exit 77
fi
command -v curl >/dev/null || { echo "FAIL: curl not found"; exit 1; }

tmp=$(mktemp -d /tmp/pharos-nefx.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/collector"
cp -R "$fx" "$tmp/collector/fixtures" || { echo "FAIL: cannot copy fixtures"; exit 1; }
chmod -R u+w "$tmp/collector/fixtures"
rel=collector/fixtures
nl=$'\n'
# candidates: small files starting with "../" (grep does the scan in one go)
while IFS= read -r -d '' f; do
  c=
  IFS= read -r -d '' c <"$f"
  case "$c" in *"$nl"*|"") continue ;; esac
  rm -f "$f" && ln -s "$c" "$f"
done < <(find "$tmp/collector/fixtures/sys" "$tmp/collector/fixtures/proc" \
           -type f -size -1024c -exec grep -lZ -m1 '^\.\./' {} +)
self="$tmp/collector/fixtures/proc/self"              # proc/self -> <pid>
if [ -f "$self" ]; then
  IFS= read -r -d '' c <"$self"
  case "$c" in *"$nl"*) ;; *) [ -e "${self%/*}/$c" ] && rm -f "$self" && ln -s "$c" "$self" ;; esac
fi
mkdir -p "$tmp/collector/fixtures/sys/class/watchdog/watchdog1"

(cd "$tmp" && exec "$exe" \
  --web.listen-address=127.0.0.1:0 \
  --path.rootfs="$rel" --path.procfs="$rel/proc" --path.sysfs="$rel/sys" \
  --path.udev.data="$rel/udev/data" \
  --collector.cpu.info \
  --collector.cpu.info.bugs-include='^(cpu_meltdown|spectre_.*|mds)$' \
  --collector.cpu.info.flags-include='^(aes|avx.?|constant_tsc)$' \
  --collector.hwmon.chip-include='(applesmc|asus_nb_wmi|coretemp|hwmon4|ieee80211|nct6779)' \
  --collector.netclass.ignore-invalid-speed \
  --collector.netclass.ignored-devices='(dmz|int)' \
  --collector.netdev.device-include=lo \
  --collector.stat.softirq \
  --collector.textfile.directory="$rel/textfile/two_metric_files/" \
  --collector.sysctl.include=fs.file-nr \
  --collector.sysctl.include=fs.file-nr:total,current,max \
  --collector.sysctl.include=kernel.threads-max \
  --collector.sysctl.include-info=kernel.seccomp.actions_avail \
  --collector.arp --collector.bcache --collector.bonding --collector.buddyinfo \
  --collector.cgroups --collector.cpu_vulnerabilities --collector.drbd \
  --collector.interrupts --collector.ksmd --collector.lnstat \
  --collector.meminfo_numa --collector.mountstats --collector.processes \
  --collector.qdisc --collector.slabinfo --collector.softirqs \
  --collector.sysctl --collector.wifi --collector.xfrm --collector.zoneinfo \
  --no-collector.filesystem --no-collector.uname --no-collector.timex \
  --no-collector.selinux \
  >"$tmp/log" 2>&1) &
pid=$!

port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*msg="Listening on" address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log" | head -n1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "FAIL: pharos-exporter did not start"; cat "$tmp/log"; exit 1
fi
if ! curl -sf "http://127.0.0.1:$port/metrics" -o "$tmp/got.txt"; then
  echo "FAIL: GET /metrics failed"; cat "$tmp/log"; exit 1
fi
kill "$pid"; wait "$pid"; rc=$?; pid=
if [ "$rc" -ne 0 ] && [ "$rc" -ne 143 ]; then
  echo "FAIL: pharos-exporter exited with $rc"; cat "$tmp/log"; exit 1
fi
if grep -q 'level=error' "$tmp/log"; then
  echo "note: errors logged by pharos-exporter:"; grep 'level=error' "$tmp/log" | head -20
fi

drop='^(go_|node_exporter_build_info|node_scrape_collector_duration_seconds|process_|node_textfile_mtime_seconds|node_time_(zone|seconds)|node_network_(receive|transmit)_(bytes|packets)_total)'

# family name -> collector ("-" for the exporter's own families)
owner_awk='
function owner(f) {
  if (f ~ /^(go_|process_|promhttp_|node_scrape_|node_exporter_build_info)/) return "-"
  if (f ~ /^testmetric/) return "textfile"
  if (f ~ /^node_cpu_vulnerabilities_/) return "cpu_vulnerabilities"
  if (f ~ /^node_cpu_(frequency|scaling)_/) return "cpufreq"
  if (f ~ /^node_cpu_/) return "cpu"
  if (f ~ /^node_(boot_time_seconds|context_switches_total|forks_total|intr_total|procs_|softirqs_total$)/) return "stat"
  if (f ~ /^node_softirqs_/) return "softirqs"
  if (f ~ /^node_memory_numa_/) return "meminfo_numa"
  if (f ~ /^node_memory_/) return "meminfo"
  if (f == "node_network_transmit_queue_length") return "netclass"
  if (f ~ /^node_network_(receive|transmit)_/) return "netdev"
  if (f ~ /^node_network_/) return "netclass"
  if (f ~ /^node_load/) return "loadavg"
  if (f ~ /^node_disk_/) return "diskstats"
  if (f ~ /^node_md_/) return "mdadm"
  if (f ~ /^node_nf_conntrack_/) return "conntrack"
  if (f ~ /^node_(thermal_zone|cooling_device)_/) return "thermal_zone"
  if (f ~ /^node_power_supply_/) return "powersupplyclass"
  if (f ~ /^node_tape_/) return "tapestats"
  if (f ~ /^node_udp_queues/) return "udp_queues"
  if (f ~ /^node_textfile_/) return "textfile"
  if (f ~ /^node_filesystem_/) return "filesystem"
  if (f ~ /^node_timex_/) return "timex"
  if (f ~ /^node_[a-z0-9]+_/) { s = f; sub(/^node_/, "", s); sub(/_.*/, "", s); return s }
  return "?"
}'

# One awk pass over both bodies (volatile samples dropped): families are
# collected as text blocks, attributed to collectors, and compared for
# every collector the exporter ran (its node_scrape_collector_success
# sample is present).  Prints the table, then the differing families.
grep -Ev "$drop" "$fx/e2e-output.txt" >"$tmp/exp.txt"
grep -Ev "$drop" "$tmp/got.txt" >"$tmp/got.f.txt"
awk "$owner_awk"'
  FNR == 1 { side = (FILENAME ~ /exp\.txt$/) ? "exp" : "got" }
  /^# HELP / { fam = $3; if (!((side, fam) in blk)) order[side, ++n[side]] = fam }
  /^# (HELP|TYPE) / { fam = $3 }
  { blk[side, fam] = blk[side, fam] $0 "\n" }
  side == "got" && /^node_scrape_collector_success\{collector="/ {
    c = $0; sub(/^[^"]*"/, "", c); sub(/".*/, "", c)
    ran[c] = 1; ok[c] = ($NF == "1")
  }
  END {
    for (i = 1; i <= n["exp"]; i++) { f = order["exp", i]; o = owner(f)
      if (!(o in ran)) continue
      expected[o]++
      if (!(("got", f) in blk)) { bad[o] = bad[o] " " f "(missing)"; show[f] = o }
      else if (blk["exp", f] == blk["got", f]) matched[o]++
      else { bad[o] = bad[o] " " f "(differs)"; show[f] = o }
    }
    for (i = 1; i <= n["got"]; i++) { f = order["got", i]; o = owner(f)
      if ((o in ran) && !(("exp", f) in blk)) { bad[o] = bad[o] " " f "(extra)"; show[f] = o }
    }
    printf "%-20s %9s  %s\n", "collector", "families", "result"
    m = 0; for (c in ran) names[++m] = c
    for (i = 2; i <= m; i++) { x = names[i]; for (j = i - 1; j >= 1 && names[j] > x; j--) names[j + 1] = names[j]; names[j + 1] = x }
    fail = 0
    for (i = 1; i <= m; i++) { c = names[i]
      if (!ok[c]) bad[c] = bad[c] " (collector failed)"
      res = (c in bad) ? "FAIL:" bad[c] : "pass"
      if (c in bad) fail = 1
      printf "%-20s %4d/%-4d  %s\n", c, matched[c] + 0, expected[c] + 0, res
    }
    if (fail) {
      print "\ndifferences (expected, then got, per family):"
      for (f in show) {
        printf "--- %s (%s)\n", f, show[f]
        printf "%s", substr(blk["exp", f], 1, 1500)
        print "+++ got"
        printf "%s", substr(blk["got", f], 1, 1500)
      }
      exit 1
    }
  }
' "$tmp/exp.txt" "$tmp/got.f.txt" || exit 1
echo "all implemented collectors match node_exporter 1.9.1"
exit 0
