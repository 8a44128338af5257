#!/usr/bin/env bash
# test_node_exporter_live.sh - pharos-exporter next to the real
# node_exporter on this machine.
#
# Starts Debian's prometheus-node-exporter ($PHAROS_PEERS_DIR/usr/bin,
# unpacked by ./pharos.sh test) and pharos-exporter ($1) on 127.0.0.1,
# each on a free port, with the same collectors and flags, scrapes both
# once, stops the two PIDs it started, and compares, for the collectors
# both run (attributed by family name as in
# test_node_exporter_fixtures.sh):
#   1. which collectors succeeded (node_scrape_collector_success);
#   2. the set of families per collector;
#   3. HELP and TYPE of every common family;
#   4. the label names of every common family;
#   5. the series (label sets) of every common family, except those whose
#      series come and go between two reads (VOLATILE_SERIES); a label
#      only 1.9.1 has (KNOWN_EXTRA_LABELS) is reported, then dropped from
#      pharos-exporter's series so they are still compared;
#   6. the values of the families that do not change between scrapes
#      (STABLE_VALUES: uname, os, memory and filesystem sizes, boot time,
#      CPU info, network and disk identities, limits …).
# Debian ships an older node_exporter than the 1.9.1 pharos follows; each
# difference that comes from that is listed below (KNOWN_*) with its
# reason and is reported, never silently skipped.  A known difference
# that no longer shows up is reported too (so the list stays true).
# Exit 0 pass, 1 fail, 77 skipped (no node_exporter binary).
set -u

exe=${1:?usage: $0 path/to/pharos-exporter}
case "$exe" in /*) ;; *) exe="$PWD/$exe" ;; esac
ne="${PHAROS_PEERS_DIR:-}/usr/bin/prometheus-node-exporter"
if [ -z "${PHAROS_PEERS_DIR:-}" ] || [ ! -x "$ne" ]; then
  echo "skipped: no node_exporter at \$PHAROS_PEERS_DIR/usr/bin/prometheus-node-exporter" \
       "(PHAROS_PEERS_DIR='${PHAROS_PEERS_DIR:-}'; ./pharos.sh test fetches it)"
  exit 77
fi
command -v curl >/dev/null || { echo "FAIL: curl not found"; exit 1; }
ne_version=$("$ne" --version 2>&1 | sed -n 's/.*version \([0-9][0-9.]*\).*/\1/p' | head -n1)
echo "node_exporter $ne_version (Debian) vs pharos-exporter (node_exporter 1.9.1 compatible)"

# Collectors both implement (node_exporter 1.5 has no cpu_vulnerabilities,
# softirqs or watchdog collector).
COLLECTORS="bonding btrfs buddyinfo conntrack cpu cpufreq diskstats dmi edac entropy filefd
filesystem hwmon interrupts ksmd loadavg mdadm meminfo meminfo_numa netclass netdev netstat
nvme os powersupplyclass pressure processes rapl schedstat sockstat softnet stat textfile
thermal_zone time udp_queues uname vmstat zfs"

# family  reason — families only one side has because of the version gap.
KNOWN_FAMILIES="
node_filesystem_mount_info	not in node_exporter 1.5.0; 1.9.1 has it (mount options as labels)
node_netstat_TcpExt_TCPOFOQueue	not in 1.5.0's default --collector.netstat.fields; in 1.9.1's
node_netstat_TcpExt_TCPRcvQDrop	not in 1.5.0's default --collector.netstat.fields; in 1.9.1's
node_softnet_backlog_len	not in node_exporter 1.5.0; 1.9.1 has it
node_softnet_cpu_collision_total	not in node_exporter 1.5.0; 1.9.1 has it
node_softnet_flow_limit_count_total	not in node_exporter 1.5.0; 1.9.1 has it
node_softnet_received_rps_total	not in node_exporter 1.5.0; 1.9.1 has it
"
# family  reason — common families whose HELP, TYPE or label names (and
# so series) differ.
KNOWN_META="
node_exporter_build_info	1.9.1's version collector adds the tags label; the labels' values are each program's own build
"
# family  label  reason — a label 1.9.1 added: reported, then removed from
# pharos-exporter's series so that series and values are still compared.
fs_label="1.9.1 adds the device_error label to every node_filesystem_* series; 1.5.0 has none"
KNOWN_EXTRA_LABELS="
node_filesystem_avail_bytes	device_error	$fs_label
node_filesystem_device_error	device_error	$fs_label
node_filesystem_files	device_error	$fs_label
node_filesystem_files_free	device_error	$fs_label
node_filesystem_free_bytes	device_error	$fs_label
node_filesystem_readonly	device_error	$fs_label
node_filesystem_size_bytes	device_error	$fs_label
node_disk_info	rotational	1.9.1 adds the rotational label; 1.5.0 has none
node_network_info	adminstate	1.9.1 adds the adminstate label; 1.5.0 has none
"
# family  reason — common families whose stable values differ.
KNOWN_VALUES="
"
# Families whose series come and go between two reads.
VOLATILE_SERIES="node_processes_state node_processes_threads_state node_scrape_collector_duration_seconds"
# Families whose values must be equal (they do not change between scrapes).
STABLE_VALUES="node_uname_info node_os_info node_os_version node_memory_MemTotal_bytes
node_memory_SwapTotal_bytes node_memory_numa_MemTotal node_boot_time_seconds
node_filesystem_size_bytes node_filesystem_files node_filesystem_readonly
node_filesystem_device_error node_cpu_info node_cpu_frequency_max_hertz
node_cpu_frequency_min_hertz node_cpu_scaling_frequency_max_hertz
node_cpu_scaling_frequency_min_hertz node_network_info node_network_mtu_bytes
node_network_up node_network_flags node_network_iface_id node_network_iface_link
node_network_iface_link_mode node_network_address_assign_type node_network_device_id
node_network_protocol_type node_network_transmit_queue_length node_network_speed_bytes
node_network_carrier node_network_dormant node_network_name_assign_type
node_network_net_dev_group node_disk_info node_dmi_info node_entropy_pool_size_bits
node_filefd_maximum node_processes_max_processes node_processes_max_threads
node_nf_conntrack_entries_limit node_time_zone_offset_seconds node_scrape_collector_success
node_textfile_scrape_error pharos_live_test node_hwmon_chip_names
node_nvme_info node_rapl_package_joules_total_info node_power_supply_info node_md_disks_required
node_md_blocks"

tmp=$(mktemp -d /tmp/pharos-nelive.XXXXXX)
ne_pid= ph_pid=
cleanup() {
  for p in $ne_pid $ph_pid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/textfile"
printf '# HELP pharos_live_test A metric for the live comparison.\n# TYPE pharos_live_test gauge\npharos_live_test{a="b"} 42\n' \
  >"$tmp/textfile/live.prom"
# Debian patches node_exporter's default filters (it also excludes /run,
# /mnt and /media mount points and the lo interface), and 1.5.0's
# diskstats default lacks zram: both programs get node_exporter 1.9.1's
# upstream defaults explicitly, so only real differences remain.
args=(--collector.disable-defaults --web.disable-exporter-metrics
      --collector.textfile.directory="$tmp/textfile" --collector.cpu.info
      '--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)'
      '--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$'
      '--collector.diskstats.device-exclude=^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$'
      '--collector.netdev.device-exclude=')
for c in $COLLECTORS; do args+=("--collector.$c"); done

# pharos-exporter: port 0, the bound port from its log.
"$exe" "${args[@]}" --web.listen-address=127.0.0.1:0 >"$tmp/ph.log" 2>&1 &
ph_pid=$!
ph_port=
for _ in $(seq 1 100); do
  ph_port=$(sed -n 's/.*msg="Listening on" address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/ph.log" | head -n1)
  [ -n "$ph_port" ] && break
  kill -0 "$ph_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ph_port" ] || { echo "FAIL: pharos-exporter did not start"; cat "$tmp/ph.log"; exit 1; }

# node_exporter logs the configured address only: try free ports.
ne_port=
for _ in 1 2 3 4 5; do
  p=$(( 20000 + RANDOM % 40000 ))
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue   # taken
  "$ne" "${args[@]}" --web.listen-address="127.0.0.1:$p" >"$tmp/ne.log" 2>&1 &
  ne_pid=$!
  for _ in $(seq 1 50); do
    if curl -sf -o /dev/null "http://127.0.0.1:$p/"; then ne_port=$p; break; fi
    kill -0 "$ne_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ne_port" ] && break
  kill "$ne_pid" 2>/dev/null; wait "$ne_pid" 2>/dev/null; ne_pid=
done
[ -n "$ne_port" ] || { echo "FAIL: node_exporter did not start"; cat "$tmp/ne.log"; exit 1; }

curl -sf "http://127.0.0.1:$ne_port/metrics" -o "$tmp/ne.txt" || { echo "FAIL: GET node_exporter /metrics"; exit 1; }
curl -sf "http://127.0.0.1:$ph_port/metrics" -o "$tmp/ph.txt" || { echo "FAIL: GET pharos-exporter /metrics"; exit 1; }
for p in $ne_pid $ph_pid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
ne_pid= ph_pid=

printf '%s\n' "$KNOWN_FAMILIES" >"$tmp/known_families"
printf '%s\n' "$KNOWN_META" >"$tmp/known_meta"
printf '%s\n' "$KNOWN_VALUES" >"$tmp/known_values"
printf '%s\n' "$KNOWN_EXTRA_LABELS" >"$tmp/known_extra"

awk -v volatile="$VOLATILE_SERIES" -v stable="$STABLE_VALUES" '
function owner(f) {
  if (f ~ /^(go_|process_|promhttp_|node_scrape_|node_exporter_build_info)/) return "-"
  if (f ~ /^pharos_live_test/) return "textfile"
  if (f ~ /^pharos_/) return "+"
  if (f ~ /^node_cpu_vulnerabilities_/) return "cpu_vulnerabilities"
  if (f ~ /^node_cpu_(frequency|scaling)_/) return "cpufreq"
  if (f ~ /^node_cpu_/) return "cpu"
  if (f ~ /^node_(boot_time_seconds|context_switches_total|forks_total|intr_total|procs_|softirqs_total$)/) return "stat"
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
  if (f ~ /^node_udp_queues/) return "udp_queues"
  if (f ~ /^node_textfile_/) return "textfile"
  if (f ~ /^node_filesystem_/) return "filesystem"
  if (f ~ /^node_[a-z0-9]+_/) { s = f; sub(/^node_/, "", s); sub(/_.*/, "", s); return s }
  return "?"
}
# label names of a label string {a="x",b="y"} (values may hold , = and \")
function lnames(ls,   out, i, c, inq, name, n) {
  out = ""; name = ""; inq = 0; n = length(ls)
  for (i = 2; i < n; i++) {
    c = substr(ls, i, 1)
    if (inq) { if (c == "\\") i++; else if (c == "\"") inq = 0; continue }
    if (c == "\"") { inq = 1; out = out name ","; name = ""; continue }
    if (c == "=" || c == ",") continue
    name = name c
  }
  return out
}
# ls without the label name="…" (the first label, a middle or the last)
function droplabel(ls, name,   i, j, rest, c) {
  i = index(ls, (substr(ls, 2, length(name) + 1) == name "=") ? "{" name "=\"" : "," name "=\"")
  if (i == 0) return ls
  rest = substr(ls, i + length(name) + 3)
  for (j = 1; j <= length(rest); j++) {
    c = substr(rest, j, 1)
    if (c == "\\") { j++; continue }
    if (c == "\"") break
  }
  rest = substr(rest, j + 1)               # after the closing quote
  if (substr(ls, i, 1) == "{") {
    if (substr(rest, 1, 1) == ",") rest = substr(rest, 2)
    return (rest == "}") ? "" : "{" rest
  }
  return substr(ls, 1, i - 1) rest
}
BEGIN {
  nv = split(volatile, a, /[ \n]+/); for (i = 1; i <= nv; i++) vol[a[i]] = 1
  ns = split(stable, a, /[ \n]+/); for (i = 1; i <= ns; i++) stab[a[i]] = 1
}
FILENAME ~ /known_/ {
  if ($0 == "") next
  split($0, kv, "\t")
  if (FILENAME ~ /known_families$/) kfam[kv[1]] = kv[2]
  else if (FILENAME ~ /known_meta$/) kmeta[kv[1]] = kv[2]
  else if (FILENAME ~ /known_extra$/) { kextra[kv[1]] = kv[2]; kmeta[kv[1]] = kv[3] }
  else kval[kv[1]] = kv[2]
  next
}
FNR == 1 { side = (FILENAME ~ /ne\.txt$/) ? "ne" : "ph" }
/^# HELP / { f = $3; fam[side, f] = 1; h = $0; sub(/^# HELP [^ ]+ ?/, "", h); help[side, f] = h; next }
/^# TYPE / { type[side, $3] = $4; next }
/^#/ || /^$/ { next }
{
  line = $0; val = line; sub(/.* /, "", val); sub(/ [^ ]*$/, "", line)
  name = line; ls = ""
  if ((p = index(line, "{")) > 0) { name = substr(line, 1, p - 1); ls = substr(line, p) }
  # the family a sample belongs to (summary/histogram suffixes)
  f = name
  if (!((side, f) in fam)) { g = f; sub(/_(sum|count|bucket)$/, "", g); if ((side, g) in fam) f = g }
  labn[side, f, lnames(ls)] = 1
  if (side == "ph" && (f in kextra)) ls = droplabel(ls, kextra[f])
  series[side, f, ls] = val
  if (f == "node_scrape_collector_success") { c = ls; sub(/^[^"]*"/, "", c); sub(/".*/, "", c); ok[side, c] = val; ran[c] = 1 }
}
function report(kind, f, msg, known) {
  if (known != "") { printf "known   %-10s %s: %s\n          reason: %s\n", kind, f, msg, known; used[kind, f] = 1 }
  else { printf "FAIL    %-10s %s: %s\n", kind, f, msg; fail = 1 }
}
END {
  fail = 0
  # 1. collectors
  for (c in ran) {
    if (!(("ne", c) in ok) || !(("ph", c) in ok)) { report("collector", c, "ran on one side only", ""); continue }
    if (ok["ne", c] != ok["ph", c]) report("collector", c, "success node_exporter=" ok["ne", c] " pharos=" ok["ph", c], "")
    if (ok["ne", c] == "1") both[c] = 1
  }
  # 2. families of collectors both ran successfully
  for (k in fam) {
    split(k, kk, SUBSEP); s = kk[1]; f = kk[2]; o = owner(f)
    if (o == "-" || o == "+") { if (o == "-") common_self[f] = 1; continue }
    if (!(o in both)) continue
    other = (s == "ne") ? "ph" : "ne"
    if (!((other, f) in fam)) { report("family", f, "only in " (s == "ne" ? "node_exporter" : "pharos-exporter"), (f in kfam) ? kfam[f] : ""); continue }
    if (s == "ne") common[f] = 1
  }
  for (f in common_self) if ((("ne", f) in fam) && (("ph", f) in fam)) common[f] = 1
  nfam = 0; nval = 0
  for (f in common) {
    nfam++
    km = (f in kmeta) ? kmeta[f] : ""
    # 3. HELP / TYPE
    if (help["ne", f] != help["ph", f]) report("help", f, "\"" help["ne", f] "\" vs \"" help["ph", f] "\"", km)
    if (type["ne", f] != type["ph", f]) report("type", f, type["ne", f] " vs " type["ph", f], km)
    # 4. label names
    for (k in labn) { split(k, kk, SUBSEP); if (kk[2] != f) continue
      o2 = (kk[1] == "ne") ? "ph" : "ne"
      if (!((o2, f, kk[3]) in labn)) report("labels", f, "label names (" kk[3] ") only in " (kk[1] == "ne" ? "node_exporter" : "pharos-exporter"), km) }
    # 5. series, 6. values
    if (f in vol) continue
    for (k in series) { split(k, kk, SUBSEP); if (kk[2] != f) continue
      o2 = (kk[1] == "ne") ? "ph" : "ne"
      if (!((o2, f, kk[3]) in series)) { if (!((f, kk[3]) in seen_missing)) report("series", f, f kk[3] " only in " (kk[1] == "ne" ? "node_exporter" : "pharos-exporter"), km); seen_missing[f, kk[3]] = 1; continue }
      if (kk[1] != "ne" || !(f in stab)) continue
      nval++
      if (series["ne", f, kk[3]] != series["ph", f, kk[3]])
        report("value", f, f kk[3] " = " series["ne", f, kk[3]] " vs " series["ph", f, kk[3]], (f in kval) ? kval[f] : "")
    }
  }
  # known differences that did not show up
  for (f in kfam) if (!(("family", f) in used)) report("stale", f, "listed as a known family difference but not seen", "")
  for (f in kval) if (!(("value", f) in used)) report("stale", f, "listed as a known value difference but not seen", "")
  for (f in kmeta) { seen = 0; for (k in used) { split(k, kk, SUBSEP); if (kk[2] == f) seen = 1 }
    if (!seen) report("stale", f, "listed as a known HELP/TYPE/label difference but not seen", "") }
  nboth = 0; for (c in both) nboth++
  printf "compared %d collectors, %d common families, %d stable values\n", nboth, nfam, nval
  exit fail
}
' "$tmp/known_families" "$tmp/known_meta" "$tmp/known_values" "$tmp/known_extra" "$tmp/ne.txt" "$tmp/ph.txt"
rc=$?
if [ $rc -ne 0 ]; then echo "FAIL: pharos-exporter differs from node_exporter $ne_version"; exit 1; fi
echo "pharos-exporter matches node_exporter $ne_version on this machine (known differences listed above)"
exit 0
