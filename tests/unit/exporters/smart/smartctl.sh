#!/bin/sh
# smartctl.sh - a fake smartctl for test_smart.c: prints recorded
# `smartctl --json` outputs from the directory this script was copied
# next to ($FAKE_SMARTCTL_DIR) and exits with the status smartctl had.
#   --scan-open          -> scan.json
#   ... [-d TYPE] DEVICE -> <key>.json, key = DEVICE without /dev/, '/'
#                           as '_', plus _TYPE (',' as '_') when -d given;
#                           exit status from <key>.exit (default 0)
#   DEVICE /dev/hang     -> sleeps (a hung disk)
#   $FAKE_SMARTCTL_DIR/<key>.standby present -> the standby answer, exit 2
# Every call is appended to $FAKE_SMARTCTL_DIR/calls.log.
dir=${FAKE_SMARTCTL_DIR:?}
echo "$*" >> "$dir/calls.log"
type=
dev=
scan=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scan-open) scan=1 ;;
    -d) shift; type=$1 ;;
    -*) ;;
    *) dev=$1 ;;
  esac
  shift
done
if [ $scan = 1 ]; then cat "$dir/scan.json"; exit 0; fi
if [ "$dev" = /dev/hang ]; then exec sleep 30; fi
key=$(echo "${dev#/dev/}" | tr / _)
[ -n "$type" ] && key="${key}_$(echo "$type" | tr , _)"
if [ -e "$dir/$key.standby" ]; then
  printf '{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":2,"messages":[{"string":"Device is in STANDBY mode, exit(2)","severity":"information"}]},"device":{"name":"%s"}}\n' "$dev"
  exit 2
fi
if [ ! -e "$dir/$key.json" ]; then
  printf '{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":2,"messages":[{"string":"%s: Unable to detect device type","severity":"error"}]}}\n' "$dev"
  exit 2
fi
cat "$dir/$key.json"
code=0
[ -e "$dir/$key.exit" ] && code=$(cat "$dir/$key.exit")
exit "$code"
