# tests/e2e/lib.sh - helpers for end-to-end tests written in bash.
#
# Every server a test starts binds 127.0.0.1 on a port it picked itself
# (port 0, then read from the log), is remembered by PID, and is killed by
# that PID when the test exits.  Checks print what failed and count
# failures; the test exits non-zero if any check failed.
set -u
E2E_FAILS=0
E2E_PIDS=()
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pharos-e2e.XXXXXX")

e2e_cleanup() {
  local p
  for p in "${E2E_PIDS[@]:-}"; do
    [ -n "$p" ] && kill -9 "$p" 2>/dev/null
  done
  rm -rf "$E2E_TMP"
}
trap e2e_cleanup EXIT

ok()   { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; E2E_FAILS=$((E2E_FAILS + 1)); }
check() { # description, command...
  local d=$1; shift
  if "$@"; then ok "$d"; else fail "$d"; fi
}
finish() {
  if [ "$E2E_FAILS" -gt 0 ]; then echo "$E2E_FAILS check(s) failed"; exit 1; fi
  echo "all checks passed"; exit 0
}

# wait_for_log FILE REGEX [timeout_s]: waits until the file has a matching line.
wait_for_log() {
  local f=$1 re=$2 t=${3:-20} i
  for ((i = 0; i < t * 10; i++)); do
    grep -qE "$re" "$f" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# free_port: a loopback port nobody listens on (random probe, bounded), for
# peers that cannot listen on port 0 and report the port they got.
free_port() {
  local i p
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# port_from_log FILE: the port a pharos program logged as listening on.
port_from_log() { grep -oE 'port=[0-9]+' "$1" | head -1 | cut -d= -f2; }

# wait_exit PID timeout_s: waits for the process to end; returns its status
# through E2E_STATUS (or 255 if it did not end).
wait_exit() {
  local pid=$1 t=${2:-20} i
  for ((i = 0; i < t * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null; E2E_STATUS=$?; return 0
    fi
    sleep 0.1
  done
  E2E_STATUS=255; return 1
}
