#!/bin/bash
# bench/mount.sh — mounting the root filesystem of a 10-layer image, as hcs does for a container
# made from an image: one overlayfs mount of the image's layer directories (from the layer store)
# under a fresh scratch. Timed mount(2) by mount(2) in `hcs-bench mount-layers` (MountBench.cs).
#
#   sudo bench/mount.sh [--layers N] [--iterations N]
#
# Floor (issue 4): median <= 5 ms for 10 layers. An absolute floor: no other runtime mounts our
# store (podman's overlay driver makes the same single mount: the kernel's cost, not the tool's).
# Prints a markdown table and "floors: N passed, M failed"; the samples go to
# bench/results/<UTC timestamp>-mount.json.
set -u -o pipefail
ONLY="" DATA=""
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BASE=/var/lib/hcs-bench-mount   # on disk, as /var/lib/hcs/images is
FLOOR_MS=5
LAYERS=10 ITERATIONS=200
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) LAYERS=${2:?}; shift ;;
    --iterations) ITERATIONS=${2:?}; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
for v in "$LAYERS" "$ITERATIONS"; do [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "not a positive number: $v"; done
[ "$(id -u)" = 0 ] || die "must run as root: sudo bench/mount.sh (mount(2))"

ensure_hcsbench
rm -rf "$BASE" && mkdir -p "$BASE" || die "cannot create $BASE"
trap 'umount "$BASE/rootfs" 2>/dev/null; rm -rf "$BASE"' EXIT
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$REPO/bench/results/$STAMP-mount.json
mkdir -p "$REPO/bench/results"
"$HCSBENCH" mount-layers --root "$BASE" --layers "$LAYERS" --iterations "$ITERATIONS" --out "$BASE/samples.json" || die "hcs-bench mount-layers failed"
MEDIAN=$(jq -r .median_ms "$BASE/samples.json")
P90=$(jq -r .p90_ms "$BASE/samples.json")
RESULT=$(awk -v m="$MEDIAN" -v f="$FLOOR_MS" 'BEGIN{print (m <= f) ? "PASS" : "FAIL"}')
jq --arg stamp "$STAMP" --arg kernel "$(uname -r)" --arg result "$RESULT" --argjson floor "$FLOOR_MS" \
  '{timestamp: $stamp, host: {kernel: $kernel, cpus: '"$(nproc)"'}, floor_ms: $floor, result: $result} + .' \
  "$BASE/samples.json" > "$OUT"
printf '\n## mount of an image root (%s)\n\n' "$STAMP"
printf '| metric | hcs | floor | result |\n|---|---:|---|---|\n'
printf '| a %s-layer image root: layer lookup + overlay mount, median (p90) ms | %.3f (%.3f) | <= %s ms | %s |\n\n' "$LAYERS" "$MEDIAN" "$P90" "$FLOOR_MS" "$RESULT"
[ "$RESULT" = PASS ] && echo "floors: 1 passed, 0 failed" || echo "floors: 0 passed, 1 failed"
echo "raw numbers: $OUT"
