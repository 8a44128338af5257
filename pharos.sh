#!/usr/bin/env bash
# pharos.sh - the two commands of the quick start, from bash alone.
#
#   ./pharos.sh run  [pharos flags...]   install what is missing, build the
#                                        release configuration into build/,
#                                        start pharos (data in ./data, API :9090)
#   ./pharos.sh test [meson test args]   install what is missing, build the
#                                        sanitizer configuration into
#                                        build-test/ and run every test
#   ./pharos.sh build                    release build only
#
# Missing Debian packages are installed with apt-get (as root, or through
# sudo).  Nothing is enabled or started as a system service: the peers that
# tests compare against (prometheus, node_exporter, VictoriaMetrics) are
# fetched with `apt-get download` and unpacked into .cache/peers.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

BUILD_PKGS=(gcc libc6-dev pkg-config meson ninja-build
  libuv1-dev libcurl4-openssl-dev libmicrohttpd-dev zlib1g-dev
  libprotobuf-c-dev protobuf-c-compiler libsnappy-dev libzstd-dev
  libyaml-dev libpcre2-dev libxxhash-dev libjson-c-dev libdeflate-dev)
TEST_PKGS=(libcmocka-dev curl ca-certificates jq clang libclang-rt-dev gnuplot-nox)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "pharos.sh: need root (or sudo) to run: $*" >&2; exit 1; fi
}

ensure_packages() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "pharos.sh: installing ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# Peers used by end-to-end tests: download and unpack, never install.
fetch_peers() {
  local dir=.cache/peers pkg
  mkdir -p "$dir/debs" "$dir/root"
  for pkg in prometheus prometheus-node-exporter victoria-metrics; do
    if [ ! -e "$dir/.$pkg.done" ]; then
      if (cd "$dir/debs" && apt-get download "$pkg" >/dev/null 2>&1) ||
         { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
           (cd "$dir/debs" && apt-get download "$pkg" >/dev/null 2>&1); }; then
        dpkg -x "$(ls -t "$dir"/debs/"${pkg}"_*.deb | head -1)" "$dir/root" && touch "$dir/.$pkg.done"
      else
        echo "pharos.sh: could not download $pkg; tests that need it will skip" >&2
      fi
    fi
  done
}

setup_build() { # dir, meson options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@"
  fi
  ninja -C "$dir"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  build)
    ensure_packages "${BUILD_PKGS[@]}"
    setup_build build --buildtype=release -Db_lto=true -Dtests=false
    ;;
  run)
    ensure_packages "${BUILD_PKGS[@]}"
    setup_build build --buildtype=release -Db_lto=true -Dtests=false
    mkdir -p data
    exec build/server/pharos --storage.tsdb.path=./data "$@"
    ;;
  test)
    ensure_packages "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    fetch_peers
    setup_build build-test -Db_sanitize=address,undefined -Db_lundef=false
    export PHAROS_PEERS_DIR="$PWD/.cache/peers/root"
    rc=0
    meson test -C build-test --print-errorlogs --num-processes 2 "$@" || rc=$?
    if [ $# -eq 0 ]; then
      # The concurrency tests once more under ThreadSanitizer.
      [ -f build-tsan/build.ninja ] || meson setup build-tsan -Db_sanitize=thread >/dev/null
      ninja -C build-tsan tests/unit/tsdb/test_tsdb_tsdb tests/unit/common/test_common_labels
      TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan --no-rebuild --print-errorlogs \
        tsdb_tsdb common_labels || rc=$?
    fi
    exit $rc
    ;;
  *)
    echo "usage: ./pharos.sh run [pharos flags] | test [meson test args] | build" >&2
    exit 2
    ;;
esac
