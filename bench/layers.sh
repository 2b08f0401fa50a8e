#!/bin/bash
# bench/layers.sh — layer import (LayerStore.ImportAsync, through `hcs-bench layer-import`) vs
# `tar -xzf`, on the same ~200 MiB gzip layer made from real files of this host's /usr.
#
#   sudo bench/layers.sh [--runs N] [--size MIB] [--rebuild]
#
# Floor (issue 4): import <= 1.3 x tar -xzf, medians of N runs (default 5) each. Both are timed
# as whole commands (process start included), one after the other in alternating order, each
# into a fresh directory on the same disk after a `sync`, with the layer file in the page cache.
# Prints a markdown table, then "floors: N passed, M failed"; writes the samples to
# bench/results/<UTC timestamp>-layers.json. Exit status 0 even when the floor fails (a report);
# 2 for usage errors or a host that cannot run it.
#
# The layer: every Nth regular file and symlink of /usr (files up to 64 MiB), their directories,
# in path order, tar (GNU, as root: owners and modes) | gzip -6; N chosen so the .tar.gz comes
# out near --size MiB. It is kept in $BASE and reused while its parameters are unchanged
# (--rebuild makes it again).
set -u -o pipefail
# shellcheck source=bench/lib.sh
ONLY="" DATA=""
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BASE=/var/lib/hcs-bench-layers   # on disk, as /var/lib/hcs/images is
FLOOR=1.3

usage() {
  cat <<EOF
usage: sudo bench/layers.sh [--runs N] [--size MIB] [--rebuild]
  --runs N      timed runs of each tool (default 5)
  --size MIB    size of the gzip layer to build (default 200)
  --rebuild     build the layer again even if one with these parameters exists
Binary: \$HCSBENCH (default: artifacts/publish/hcs-bench/hcs-bench, published when missing or stale).
EOF
}

RUNS=5 SIZE=200 REBUILD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=${2:?}; shift ;;
    --size) SIZE=${2:?}; shift ;;
    --rebuild) REBUILD=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
for v in "$RUNS" "$SIZE"; do [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "not a positive number: $v"; done
[ "$(id -u)" = 0 ] || die "must run as root: sudo bench/layers.sh (both tools restore owners)"
for t in tar gzip jq sha256sum; do command -v "$t" >/dev/null || die "$t not found"; done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) not found"

# ---------------------------------------------------------------------------------------------
# hcs-bench, published (NativeAOT) when missing or older than its sources.
ensure_hcsbench
mkdir -p "$BASE" || die "cannot create $BASE"
# a snapshot: others may publish a new hcs-bench while this runs
cp "$HCSBENCH" "$BASE/hcs-bench" || die "cannot copy $HCSBENCH"
HB=$BASE/hcs-bench
HB_SHA=$(sha256sum "$HB" | cut -d' ' -f1)

# ---------------------------------------------------------------------------------------------
# The layer.
LAYER=$BASE/layer.tar.gz
PARAMS="size=$SIZE source=/usr every-nth-file maxfile=64M gzip-6"
TARGET=$((SIZE * 1048576))
build_layer() { # build_layer N: every Nth file; prints the .tar.gz size
  local n=$1
  (cd / && find usr -xdev \( -type f -size -64M -o -type l \) -print0 | sort -z \
     | awk -v RS='\0' -v ORS='\0' -v n="$n" 'NR % n == 0 {
         # the directories above each file first, once each (tar --no-recursion lists only what it is given)
         p = $0; k = split(p, parts, "/"); d = ""
         for (i = 1; i < k; i++) { d = (i == 1 ? parts[1] : d "/" parts[i]); if (!(d in seen)) { seen[d] = 1; print d } }
         print p }' >"$BASE/list")
  tar -C / --no-recursion --null -T "$BASE/list" -cf - 2>/dev/null | gzip -6 >"$LAYER.tmp" || return 1
  stat -c %s "$LAYER.tmp"
}
if [ $REBUILD = 1 ] || [ ! -s "$LAYER" ] || [ "$(cat "$BASE/layer.params" 2>/dev/null)" != "$PARAMS" ]; then
  rm -f "$LAYER" "$BASE/layer.params"
  log "bench: building a ~$SIZE MiB gzip layer from /usr (takes a minute) ..."
  TOTAL=$(cd / && find usr -xdev -type f -size -64M -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}')
  # first guess: /usr compresses about 2.8:1 with gzip -6; then one correction from what came out
  N=$(( TOTAL * 10 / (TARGET * 28) )); [ "$N" -ge 1 ] || N=1
  for attempt in 1 2 3; do
    GOT=$(build_layer "$N") || die "could not build the layer"
    log "bench:   every ${N}th file: $((GOT / 1048576)) MiB"
    # within 10 %: done; else scale N by the miss
    [ $((GOT * 10)) -ge $((TARGET * 9)) ] && [ $((GOT * 10)) -le $((TARGET * 11)) ] && break
    NEW=$(( N * GOT / TARGET )); [ "$NEW" -ge 1 ] || NEW=1
    [ "$NEW" = "$N" ] && break
    N=$NEW
  done
  mv "$LAYER.tmp" "$LAYER" && echo "$PARAMS" >"$BASE/layer.params"
fi
GZ_BYTES=$(stat -c %s "$LAYER")
TAR_BYTES=$(gzip -dc "$LAYER" | wc -c)
ENTRIES=$(tar -tzf "$LAYER" | wc -l)
log "bench: layer $LAYER: $((GZ_BYTES / 1048576)) MiB gzip, $((TAR_BYTES / 1048576)) MiB tar, $ENTRIES entries"

# ---------------------------------------------------------------------------------------------
# Timed runs: tar and hcs alternate which goes first; each starts from a fresh directory, with
# the previous run's tree removed and the disk synced (no writeback of the last run in this one).
RUN=$BASE/run
cleanup() { rm -rf "$RUN"; }
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM HUP
cat "$LAYER" >/dev/null   # in the page cache for both
now_ns() { date +%s%N; }
: >"$BASE/tar.ms"; : >"$BASE/hcs.ms"; : >"$BASE/hcs-internal.ms"; : >"$BASE/tar.cpu"; : >"$BASE/hcs.cpu"
for i in $(seq 1 "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then order="tar hcs"; else order="hcs tar"; fi
  for tool in $order; do
    rm -rf "$RUN"; mkdir -p "$RUN/tree"; sync
    # GNU time adds the CPU seconds (user + sys, children included: tar's gzip too) as a
    # cross-check that does not depend on what else the VM is doing
    t0=$(now_ns)
    case $tool in
      tar) /usr/bin/time -f '%U %S' -o "$RUN/cpu" tar -xzf "$LAYER" -C "$RUN/tree" || die "tar -xzf failed" ;;
      hcs) /usr/bin/time -f '%U %S' -o "$RUN/cpu" "$HB" layer-import --root "$RUN/store" --file "$LAYER" --out "$RUN/hcs.json" \
             || die "hcs-bench layer-import failed" ;;
    esac
    t1=$(now_ns)
    ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
    cpu=$(awk '{ printf "%.0f", ($1 + $2) * 1000 }' "$RUN/cpu")
    echo "$ms" >>"$BASE/$tool.ms"
    echo "$cpu" >>"$BASE/$tool.cpu"
    [ $tool = hcs ] && jq -r '.import_ms' "$RUN/hcs.json" >>"$BASE/hcs-internal.ms"
    log "bench: run $i $tool: $ms ms (cpu $cpu ms, load $(cut -d' ' -f1 /proc/loadavg))"
  done
done

TAR_MED=$(median <"$BASE/tar.ms")
HCS_MED=$(median <"$BASE/hcs.ms")
HCS_INT_MED=$(median <"$BASE/hcs-internal.ms")
TAR_CPU=$(median <"$BASE/tar.cpu")
HCS_CPU=$(median <"$BASE/hcs.cpu")
RATIO=$(awk -v a="$HCS_MED" -v b="$TAR_MED" 'BEGIN { printf "%.3f", a / b }')
PASS=$(awk -v r="$RATIO" -v f="$FLOOR" 'BEGIN { print (r <= f) ? "PASS" : "FAIL" }')

echo "| metric | hcs import | tar -xzf | ratio | floor | |"
echo "|---|---|---|---|---|---|"
echo "| import of a $((GZ_BYTES / 1048576)) MiB gzip layer (median of $RUNS, ms) | $HCS_MED | $TAR_MED | $RATIO | <= $FLOOR | $PASS |"
echo "| (import alone, without process start-up, ms) | $HCS_INT_MED | | | | info |"
echo "| CPU time, user + sys (median, ms) | $HCS_CPU | $TAR_CPU | $(awk -v a="$HCS_CPU" -v b="$TAR_CPU" 'BEGIN { printf "%.3f", a / b }') | | info |"
[ "$PASS" = PASS ] && echo "floors: 1 passed, 0 failed" || echo "floors: 0 passed, 1 failed"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$HERE/results"
OUT="$HERE/results/$STAMP-layers.json"
jq -n --arg stamp "$STAMP" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
  --arg fs "$(stat -f -c %T "$BASE")" --arg tarv "$(tar --version | head -n 1)" --arg gzipv "$(gzip --version | head -n 1)" \
  --arg hb "$HCSBENCH" --arg hbsha "$HB_SHA" --arg params "$PARAMS" \
  --argjson gz "$GZ_BYTES" --argjson tarbytes "$TAR_BYTES" --argjson entries "$ENTRIES" --argjson runs "$RUNS" \
  --argjson tarms "$(jq -s . "$BASE/tar.ms")" --argjson hcsms "$(jq -s . "$BASE/hcs.ms")" \
  --argjson hcsint "$(jq -s . "$BASE/hcs-internal.ms")" \
  --argjson tarcpu "$(jq -s . "$BASE/tar.cpu")" --argjson hcscpu "$(jq -s . "$BASE/hcs.cpu")" \
  --arg loadavg "$(cat /proc/loadavg)" \
  --argjson tarmed "$TAR_MED" --argjson hcsmed "$HCS_MED" --argjson hcsintmed "$HCS_INT_MED" \
  --argjson ratio "$RATIO" --argjson floor "$FLOOR" --arg pass "$PASS" '{
    timestamp: $stamp,
    host: {kernel: $kernel, cpus: $cpus, filesystem: $fs, tar: $tarv, gzip: $gzipv},
    binary: {"hcs-bench": $hb, sha256: $hbsha},
    layer: {params: $params, gzip_bytes: $gz, tar_bytes: $tarbytes, entries: $entries},
    method: "whole commands timed, alternating order, fresh directory on the same disk after sync, layer file in page cache",
    runs: $runs,
    tar_xzf_ms: {median: $tarmed, samples: $tarms},
    hcs_import_ms: {median: $hcsmed, samples: $hcsms},
    hcs_import_internal_ms: {median: $hcsintmed, samples: $hcsint},
    cpu_ms: {tar: $tarcpu, hcs: $hcscpu},
    loadavg_end: $loadavg,
    ratio: $ratio, floor: $floor, result: $pass
  }' >"$OUT" || die "could not write $OUT"
log "bench: results in $OUT"
