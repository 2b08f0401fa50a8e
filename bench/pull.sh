#!/bin/bash
# bench/pull.sh — image pull as hcsd does it (RegistryClient.PullAsync(unpack: false), through
# `hcs-bench pull`) vs `skopeo copy docker://... oci:DIR`, of the same 3-layer image from a local
# docker-registry; and, as information, what unpacking the layers costs on top.
#
#   sudo bench/pull.sh [--runs N] [--size MIB] [--parallel N] [--rebuild]
#
# Floor (issue 4): pull <= 1.2 x skopeo copy, medians of N runs (default 5) each. A pull's
# contract (design 0006, "Registry") is what skopeo copy does: every blob fetched, verified and
# stored, and the image named. Both are timed as whole commands (process start included),
# alternating which goes first, each into a fresh directory on the same disk after a `sync`; the
# registry's blobs are in the page cache (one untimed warm-up of each).
# Unpacking is not free, and the table says so in info rows (no floors):
#   - unpack: ImageStore.UnpackAsync of the image just pulled (what hcsd starts right after a
#     pull and what a container create awaits), its own time without process start-up. It runs
#     after each timed hcs pull and before the next timed run, untimed by the floor, so it never
#     competes with a timed run;
#   - pull + unpack: the floor's pull plus that unpack: when a fresh pull's layers are usable;
#   - eager pull: PullAsync(unpack: true), layers unpacked overlapped with the downloads (the
#     pull before the split), timed as a whole command into its own fresh directory;
#   - the pull's fetch phase alone (until the last blob is verified).
# Run directories are removed only at the end: ext4 skips recently deleted inodes when it
# allocates new ones, and creating 20,000 files right after deleting 20,000 costs seconds of
# kernel time that belong to neither tool.
# Prints a markdown table, then "floors: N passed, M failed"; writes the samples to
# bench/results/<UTC timestamp>-pull.json. Exit status 0 even when the floor fails (a report);
# 2 for usage errors or a host that cannot run it.
#
# The image: every 7th regular file and symlink of /usr (files under 16 MiB) in path order, up to
# a total that gzips to about --size MiB, split 55 / 30 / 15 % into three layers (tar as root |
# gzip -6); an OCI layout pushed with skopeo into a docker-registry on 127.0.0.1 with filesystem
# storage. Layout and registry data are kept in $BASE and reused while the parameters are
# unchanged (--rebuild makes them again).
set -u -o pipefail
# shellcheck source=bench/lib.sh
ONLY="" DATA=""
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BASE=/var/lib/hcs-bench-pull     # on disk, as /var/lib/hcs/images is
FLOOR=1.2
REPOSITORY=bench/pull
TAG=1

usage() {
  cat <<EOF
usage: sudo bench/pull.sh [--runs N] [--size MIB] [--rebuild]
  --runs N      timed runs of each tool (default 5)
  --size MIB    total size of the three gzip layers (default 80)
  --parallel N  layers UnpackAsync extracts at once (default: the store's, one per CPU)
  --rebuild     build the image again even if one with these parameters exists
Binary: \$HCSBENCH (default: artifacts/publish/hcs-bench/hcs-bench, published when missing or stale).
EOF
}

RUNS=5 SIZE=80 REBUILD=0 PARALLEL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=${2:?}; shift ;;
    --size) SIZE=${2:?}; shift ;;
    --parallel) PARALLEL=${2:?}; shift ;;
    --rebuild) REBUILD=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
for v in "$RUNS" "$SIZE" ${PARALLEL:+"$PARALLEL"}; do [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "not a positive number: $v"; done
[ "$(id -u)" = 0 ] || die "must run as root: sudo bench/pull.sh (the layer store restores owners)"
for t in tar gzip jq sha256sum skopeo ss curl; do command -v "$t" >/dev/null || die "$t not found"; done
REGISTRY_BIN=/usr/bin/docker-registry
[ -x "$REGISTRY_BIN" ] || die "$REGISTRY_BIN not found (apt-get install docker-registry)"

# ---------------------------------------------------------------------------------------------
# hcs-bench, published (NativeAOT) when missing or older than its sources.
ensure_hcsbench
mkdir -p "$BASE" || die "cannot create $BASE"
# a snapshot: others may publish a new hcs-bench while this runs
cp "$HCSBENCH" "$BASE/hcs-bench" || die "cannot copy $HCSBENCH"
HB=$BASE/hcs-bench
HB_SHA=$(sha256sum "$HB" | cut -d' ' -f1)

# ---------------------------------------------------------------------------------------------
# The registry: docker-registry on 127.0.0.1 and a free port, its storage kept in $BASE.
REG=$BASE/registry
RUN=$BASE/run
REG_PID=""
cleanup() {
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM HUP

PORT=5700
while ss -Htln "sport = :$PORT" | grep -q .; do PORT=$((PORT + 1)); done
HOST=127.0.0.1:$PORT
mkdir -p "$REG/data"
cat >"$REG/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REG/data
http:
  addr: $HOST
  secret: hcs-bench
EOF
"$REGISTRY_BIN" serve "$REG/config.yml" >>"$REG/registry.log" 2>&1 </dev/null &
REG_PID=$!
for _ in $(seq 1 100); do curl -fs "http://$HOST/v2/" >/dev/null && break; sleep 0.1; done
curl -fs "http://$HOST/v2/" >/dev/null || die "docker-registry did not start: $(tail -n 5 "$REG/registry.log")"
log "bench: docker-registry $(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null) on $HOST (pid $REG_PID)"

# ---------------------------------------------------------------------------------------------
# The image, as an OCI layout; pushed into the registry when it is new.
LAYOUT=$BASE/layout
PARAMS="size=$SIZE source=/usr every-7th-file-to-size split=55/30/15 maxfile=16M gzip-6"
TARGET=$((SIZE * 1048576))
files_upto() { # files_upto BYTES: every 7th file and symlink of /usr in path order until BYTES, NUL-separated
  (cd / && find usr -xdev \( -type f -size -16M -o -type l \) -printf '%s\t%p\0' | sort -z -t $'\t' -k2 \
     | awk -v RS='\0' -v ORS='\0' -v max="$1" 'NR % 7 == 0 { t = index($0, "\t"); sum += substr($0, 1, t - 1);
         print substr($0, t + 1); if (sum >= max) exit }')
}
with_dirs() { # the directories above each listed path first, once each (tar --no-recursion)
  awk -v RS='\0' -v ORS='\0' '{ p = $0; k = split(p, parts, "/"); d = ""
    for (i = 1; i < k; i++) { d = (i == 1 ? parts[1] : d "/" parts[i]); if (!(d in seen)) { seen[d] = 1; print d } }
    print p }'
}
build_image() { # build_image RAW_BYTES: prints "gzip-bytes tar-bytes" of the three layers together
  local raw=$1 total=0 tarbytes=0 count i from=0 to
  rm -rf "$LAYOUT.tmp"; mkdir -p "$LAYOUT.tmp/blobs/sha256"
  files_upto "$raw" >"$BASE/list"
  count=$(tr -cd '\0' <"$BASE/list" | wc -c)
  : >"$BASE/layers"
  for i in 1 2 3; do
    case $i in 1) to=$((count * 55 / 100)) ;; 2) to=$((count * 85 / 100)) ;; 3) to=$count ;; esac
    awk -v RS='\0' -v ORS='\0' -v a="$from" -v b="$to" 'NR > a && NR <= b' "$BASE/list" | with_dirs >"$BASE/list.$i"
    tar -C / --no-recursion --null -T "$BASE/list.$i" -cf - 2>/dev/null >"$BASE/layer.tar" || return 1
    gzip -6 -c "$BASE/layer.tar" >"$BASE/layer.tar.gz" || return 1
    local diff blob size
    diff=$(sha256sum "$BASE/layer.tar" | cut -d' ' -f1)
    blob=$(sha256sum "$BASE/layer.tar.gz" | cut -d' ' -f1)
    size=$(stat -c %s "$BASE/layer.tar.gz")
    tarbytes=$((tarbytes + $(stat -c %s "$BASE/layer.tar")))
    mv "$BASE/layer.tar.gz" "$LAYOUT.tmp/blobs/sha256/$blob"
    echo "$blob $size $diff" >>"$BASE/layers"
    total=$((total + size)) from=$to
  done
  rm -f "$BASE/layer.tar"
  echo "$total $tarbytes"
}
write_layout() { # config, manifest, index.json, oci-layout from $BASE/layers
  local config manifest cd cs md ms
  config=$(jq -cn --rawfile l "$BASE/layers" '{architecture: "amd64", os: "linux",
    config: {Env: ["PATH=/usr/local/bin:/usr/bin:/bin"], Cmd: ["/bin/sh"]},
    rootfs: {type: "layers", diff_ids: ($l | split("\n") | map(select(length > 0) | "sha256:" + split(" ")[2]))},
    history: [{created_by: "bench/pull.sh"}]}')
  printf '%s' "$config" >"$LAYOUT.tmp/config.json"
  cd=$(sha256sum "$LAYOUT.tmp/config.json" | cut -d' ' -f1); cs=$(stat -c %s "$LAYOUT.tmp/config.json")
  mv "$LAYOUT.tmp/config.json" "$LAYOUT.tmp/blobs/sha256/$cd"
  manifest=$(jq -cn --rawfile l "$BASE/layers" --arg cd "sha256:$cd" --argjson cs "$cs" '{schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
    layers: ($l | split("\n") | map(select(length > 0) | split(" ")
      | {mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: ("sha256:" + .[0]), size: (.[1] | tonumber)}))}')
  printf '%s' "$manifest" >"$LAYOUT.tmp/manifest.json"
  md=$(sha256sum "$LAYOUT.tmp/manifest.json" | cut -d' ' -f1); ms=$(stat -c %s "$LAYOUT.tmp/manifest.json")
  mv "$LAYOUT.tmp/manifest.json" "$LAYOUT.tmp/blobs/sha256/$md"
  jq -cn --arg md "sha256:$md" --argjson ms "$ms" --arg tag "$TAG" '{schemaVersion: 2, manifests: [{
    mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
    annotations: {"org.opencontainers.image.ref.name": $tag}}]}' >"$LAYOUT.tmp/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$LAYOUT.tmp/oci-layout"
}
if [ $REBUILD = 1 ] || [ ! -d "$LAYOUT" ] || [ "$(cat "$BASE/image.params" 2>/dev/null)" != "$PARAMS" ]; then
  rm -rf "$LAYOUT" "$BASE/image.params" "$REG/data"/*
  log "bench: building a ~$SIZE MiB 3-layer image from /usr (takes a minute) ..."
  # first guess: /usr compresses about 2.8:1 with gzip -6; then corrected by what came out
  RAW=$((TARGET * 28 / 10))
  for attempt in 1 2 3; do
    read -r GOT TARB < <(build_image "$RAW") || die "could not build the layers"
    [ -n "$GOT" ] || die "could not build the layers"
    log "bench:   $((TARB / 1048576)) MiB of files: $((GOT / 1048576)) MiB gzip"
    [ $((GOT * 10)) -ge $((TARGET * 9)) ] && [ $((GOT * 10)) -le $((TARGET * 11)) ] && break
    RAW=$(( RAW * TARGET / GOT ))
  done
  write_layout || die "could not write the layout"
  mv "$LAYOUT.tmp" "$LAYOUT" && echo "$PARAMS" >"$BASE/image.params"
fi
if ! skopeo inspect --tls-verify=false --raw "docker://$HOST/$REPOSITORY:$TAG" >/dev/null 2>&1; then
  log "bench: pushing the image to $HOST/$REPOSITORY:$TAG ..."
  skopeo copy --quiet --dest-tls-verify=false --preserve-digests "oci:$LAYOUT:$TAG" "docker://$HOST/$REPOSITORY:$TAG" >&2 \
    || die "skopeo could not push the image"
fi
LAYER_SIZES=$(awk '{print $2}' "$BASE/layers" | paste -sd, -)
GZ_BYTES=$(awk '{s += $2} END {print s}' "$BASE/layers")
log "bench: image: 3 layers, $((GZ_BYTES / 1048576)) MiB gzip ($LAYER_SIZES bytes)"

# ---------------------------------------------------------------------------------------------
# Timed runs: skopeo and hcs alternate which goes first; each starts in a fresh directory after
# a sync; the unpack of hcs's pull follows it at once (as in hcsd), not timed by the floor; then
# an eager pull, timed, in its own directory. One untimed warm-up of each first.
now_ns() { date +%s%N; }
REF=$HOST/$REPOSITORY:$TAG
if [ -d "$RUN" ]; then
  log "bench: removing the run directories of an earlier, interrupted run (then 30 s for ext4 to forget the inodes) ..."
  rm -rf "$RUN"; sync; sleep 30
fi
one() { # one TOOL DIR
  case $1 in
    skopeo) skopeo copy --quiet --src-tls-verify=false "docker://$REF" "oci:$2/oci:$TAG" >/dev/null \
              || die "skopeo copy failed" ;;
    hcs) "$HB" pull --root "$2/store" --ref "$REF" --insecure --mode fetch --out "$2/hcs.json" 2>>"$BASE/hcs.log" \
              || die "hcs-bench pull failed: $(tail -n 3 "$BASE/hcs.log")" ;;
    unpack) "$HB" pull --root "$2/store" --ref "$REF" --mode unpack ${PARALLEL:+--parallel "$PARALLEL"} --out "$2/unpack.json" 2>>"$BASE/hcs.log" \
              || die "hcs-bench pull --mode unpack failed: $(tail -n 3 "$BASE/hcs.log")" ;;
    eager) "$HB" pull --root "$2/store" --ref "$REF" --insecure --mode eager --out "$2/eager.json" 2>>"$BASE/hcs.log" \
              || die "hcs-bench pull --mode eager failed: $(tail -n 3 "$BASE/hcs.log")" ;;
  esac
}
timed() { # timed TOOL DIR: runs it in a fresh DIR after a sync; appends its wall time to $BASE/TOOL.ms
  local t0 t1 ms
  mkdir -p "$2"; sync
  t0=$(now_ns)
  one "$1" "$2"
  t1=$(now_ns)
  ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
  echo "$ms" >>"$BASE/$1.ms"
  log "bench: run $i $1: $ms ms"
}
for tool in skopeo hcs; do mkdir -p "$RUN/warmup-$tool"; one $tool "$RUN/warmup-$tool"; done
one unpack "$RUN/warmup-hcs"
mkdir -p "$RUN/warmup-eager"; one eager "$RUN/warmup-eager"
for f in skopeo hcs hcs-internal hcs-fetch unpack eager eager-internal eager-fetch; do : >"$BASE/$f.ms"; done
for i in $(seq 1 "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then order="skopeo hcs"; else order="hcs skopeo"; fi
  for tool in $order; do
    timed $tool "$RUN/$i-$tool"
    if [ $tool = hcs ]; then
      jq -r '.pull_ms' "$RUN/$i-hcs/hcs.json" >>"$BASE/hcs-internal.ms"
      jq -r '.fetch_ms' "$RUN/$i-hcs/hcs.json" >>"$BASE/hcs-fetch.ms"
      # what hcsd starts right after the pull; finished before the next timed run begins
      sync
      one unpack "$RUN/$i-hcs"
      jq -r '.unpack_ms' "$RUN/$i-hcs/unpack.json" >>"$BASE/unpack.ms"
      log "bench: run $i unpack (own time): $(jq -r '.unpack_ms | floor' "$RUN/$i-hcs/unpack.json") ms"
    fi
  done
  timed eager "$RUN/$i-eager"
  jq -r '.pull_ms' "$RUN/$i-eager/eager.json" >>"$BASE/eager-internal.ms"
  jq -r '.fetch_ms' "$RUN/$i-eager/eager.json" >>"$BASE/eager-fetch.ms"
done
UNPACK_PAR=$(jq -r '.unpack_parallelism' "$RUN/1-hcs/unpack.json")

SK_MED=$(median <"$BASE/skopeo.ms")
HCS_MED=$(median <"$BASE/hcs.ms")
HCS_INT_MED=$(median <"$BASE/hcs-internal.ms")
HCS_FETCH_MED=$(median <"$BASE/hcs-fetch.ms")
UNPACK_MED=$(median <"$BASE/unpack.ms")
EAGER_MED=$(median <"$BASE/eager.ms")
EAGER_INT_MED=$(median <"$BASE/eager-internal.ms")
EAGER_FETCH_MED=$(median <"$BASE/eager-fetch.ms")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
RATIO=$(ratio "$HCS_MED" "$SK_MED")
PASS=$(awk -v r="$RATIO" -v f="$FLOOR" 'BEGIN { print (r <= f) ? "PASS" : "FAIL" }')
# pull + unpack: each run's pull (whole command) plus its unpack (own time), then the median
TOTAL_MED=$(paste -d' ' "$BASE/hcs.ms" "$BASE/unpack.ms" | awk '{ printf "%.1f\n", $1 + $2 }' | median)

echo "| metric | hcs | skopeo copy | ratio | floor | |"
echo "|---|---|---|---|---|---|"
echo "| pull of a 3-layer $((GZ_BYTES / 1048576)) MiB image from a local registry, as hcsd does it: fetch, verify, store, name (unpack: false; median of $RUNS, ms) | $HCS_MED | $SK_MED | $RATIO | <= $FLOOR | $PASS |"
echo "| (that pull alone, without process start-up, ms) | $HCS_INT_MED | | | | info |"
echo "| (its fetch phase: until the last blob is verified, ms) | $HCS_FETCH_MED | | | | info |"
echo "| unpack after it: ImageStore.UnpackAsync (layers extracted at once: $UNPACK_PAR), own time: what a container create from the image awaits (ms) | $UNPACK_MED | | | | info |"
echo "| pull + unpack: until the pulled image's layers are usable (ms) | $TOTAL_MED | $SK_MED | $(ratio "$TOTAL_MED" "$SK_MED") | | info |"
echo "| eager pull: PullAsync(unpack: true), unpacking overlapped with the downloads (whole command, ms) | $EAGER_MED | $SK_MED | $(ratio "$EAGER_MED" "$SK_MED") | | info |"
echo "| (eager pull alone, without process start-up; its fetch phase, ms) | $EAGER_INT_MED; $EAGER_FETCH_MED | | | | info |"
[ "$PASS" = PASS ] && echo "floors: 1 passed, 0 failed" || echo "floors: 0 passed, 1 failed"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$HERE/results"
OUT="$HERE/results/$STAMP-pull.json"
jq -n --arg stamp "$STAMP" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
  --arg fs "$(stat -f -c %T "$BASE")" --arg skopeov "$(skopeo --version)" \
  --arg regv "$(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null)" \
  --arg hb "$HCSBENCH" --arg hbsha "$HB_SHA" --arg params "$PARAMS" --arg sizes "$LAYER_SIZES" \
  --argjson gz "$GZ_BYTES" --argjson runs "$RUNS" \
  --argjson skms "$(jq -s . "$BASE/skopeo.ms")" --argjson hcsms "$(jq -s . "$BASE/hcs.ms")" \
  --argjson hcsint "$(jq -s . "$BASE/hcs-internal.ms")" --argjson hcsfetch "$(jq -s . "$BASE/hcs-fetch.ms")" \
  --argjson skmed "$SK_MED" --argjson hcsmed "$HCS_MED" --argjson hcsintmed "$HCS_INT_MED" --argjson hcsfetchmed "$HCS_FETCH_MED" \
  --argjson unpackms "$(jq -s . "$BASE/unpack.ms")" --argjson unpackmed "$UNPACK_MED" --argjson unpackpar "$UNPACK_PAR" \
  --argjson totalmed "$TOTAL_MED" \
  --argjson eagerms "$(jq -s . "$BASE/eager.ms")" --argjson eagermed "$EAGER_MED" \
  --argjson eagerint "$(jq -s . "$BASE/eager-internal.ms")" --argjson eagerintmed "$EAGER_INT_MED" \
  --argjson eagerfetch "$(jq -s . "$BASE/eager-fetch.ms")" --argjson eagerfetchmed "$EAGER_FETCH_MED" \
  --argjson ratio "$RATIO" --argjson floor "$FLOOR" --arg pass "$PASS" '{
    timestamp: $stamp,
    host: {kernel: $kernel, cpus: $cpus, filesystem: $fs, skopeo: $skopeov, "docker-registry": $regv},
    binary: {"hcs-bench": $hb, sha256: $hbsha},
    image: {params: $params, layers: 3, gzip_bytes: $gz, layer_gzip_bytes: ($sizes | split(",") | map(tonumber))},
    method: "whole commands timed, alternating order, fresh directory on the same disk after sync (removed only after all runs), one untimed warm-up of each; skopeo copy docker:// -> oci: stores blobs; hcs pull (unpack: false, as hcsd) stores and verifies blobs and names the image; unpack = ImageStore.UnpackAsync right after each hcs pull, own time, outside the floor timing and before the next timed run; eager = hcs pull with unpack: true, whole command, own fresh directory; fetch phase = a pull until its last blob was verified",
    runs: $runs,
    skopeo_copy_ms: {median: $skmed, samples: $skms},
    hcs_pull_ms: {median: $hcsmed, samples: $hcsms},
    hcs_pull_internal_ms: {median: $hcsintmed, samples: $hcsint},
    hcs_fetch_phase_ms: {median: $hcsfetchmed, samples: $hcsfetch},
    unpack_ms: {median: $unpackmed, samples: $unpackms, layers_at_once: $unpackpar},
    pull_plus_unpack_ms: {median: $totalmed},
    eager_pull_ms: {median: $eagermed, samples: $eagerms},
    eager_pull_internal_ms: {median: $eagerintmed, samples: $eagerint},
    eager_fetch_phase_ms: {median: $eagerfetchmed, samples: $eagerfetch},
    ratio: $ratio, floor: $floor, result: $pass
  }' >"$OUT" || die "could not write $OUT"
log "bench: results in $OUT"
