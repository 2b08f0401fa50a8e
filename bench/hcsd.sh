#!/bin/bash
# bench/hcsd.sh — hcsd (through the hcs CLI and through Hcs.Client) vs crun, in one run.
#
#   sudo bench/hcsd.sh [--quick] [--only M[,M...]] [--rounds N] [--runs N] [--iterations N]
#                      [--containers N] [--events N] [--max-wait S] [--trace]
#
# Starts a private hcsd (own socket, run dir, state dir, hence its own hcs-monitor) from copies
# of the installed binaries, measures it and crun on the same busybox rootfs, prints a markdown
# table (metric, hcs, crun, ratio, floor, PASS/FAIL) and writes every sample to
# bench/results/<timestamp>-hcsd.json. Exit status 0 even when floors fail (it is a report);
# 2 for usage errors or a host that cannot run it. Method and floors: bench/README.md ("hcsd").
set -u -o pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
PREP="$HERE/prep.sh"
BASE=/run/hcs-bench-hcsd       # binaries, rootfs, bundles, hcsd's socket and run dir, crun's state, data
# hcsd's state dir (store, logs) and the scratch directories are on disk, where they are by
# default (/var/lib/hcs): on tmpfs their pages (the SQLite WAL, ...) would count as memory.
DISK=/var/lib/hcs-bench-hcsd
PFX=hcsbenchd                  # every container id (and so every crun cgroup) starts with this
ALL_METRICS="run api density events"
MAX_LOAD=1.5                   # "quiet": 1-minute load average at or below this

usage() {
  cat <<EOF
usage: sudo bench/hcsd.sh [options]
  --quick            fast check: 1 round, 20 runs, 30 API iterations, 100 containers, 20 events
  --only M[,M]       only these metrics; M is one of: $ALL_METRICS
  --rounds N         rounds of the timed run/api metrics (default 3; quick 1); order reversed
                     every other round
  --runs N           hyperfine runs per round of \`hcs run\` and \`crun run\` (default 40; quick 20)
  --iterations N     API create+start+wait+delete iterations per round (default 40; quick 30)
  --containers N     idle containers for the density metric (default 500; quick 100)
  --idle sleep|pause what an idle container runs (default sleep: busybox `sleep 100000`; pause:
                     hcs-pause, which is hcsd's init for a container started without a process;
                     crun then runs the same hcs-pause binary)
  --events N         exit->event samples of each kind (default 50; quick 20)
  --max-wait S       wait at most S seconds for the load average to drop to $MAX_LOAD (default 300; quick 120)
  --trace            HCS_TRACE=1 for hcsd and hcs-monitor; their logs are kept next to the results
  -h, --help         this text
Binaries: \$HCSD_DIR (default /usr/local/lib/hcs/hcsd, the directory /usr/local/bin/hcsd runs),
\$HCS_MONITOR, \$HCS_PAUSE, \$HCS (the CLI, default /usr/local/bin/hcs), \$CRUN, \$HCSBENCH
(default: artifacts/publish/hcs-bench/hcs-bench, published from bench/HcsBench when missing or stale).
EOF
}

QUICK=0 ONLY="" ROUNDS="" RUNS="" ITER="" CONTAINERS="" EVENTS="" MAX_WAIT="" TRACE=0 IDLE=sleep
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) [ $# -ge 2 ] || die "--only needs a metric"; ONLY="${ONLY:+$ONLY,}$2"; shift ;;
    --only=*) ONLY="${ONLY:+$ONLY,}${1#--only=}" ;;
    --rounds) ROUNDS=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --iterations) ITER=${2:?}; shift ;;
    --containers) CONTAINERS=${2:?}; shift ;;
    --idle) IDLE=${2:?}; [[ "$IDLE" == sleep || "$IDLE" == pause ]] || die "--idle: sleep or pause, not '$IDLE'"; shift ;;
    --events) EVENTS=${2:?}; shift ;;
    --max-wait) MAX_WAIT=${2:?}; shift ;;
    --trace) TRACE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
for v in "$ROUNDS" "$RUNS" "$ITER" "$CONTAINERS" "$EVENTS"; do
  [ -z "$v" ] || [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "not a positive number: $v"
done
[ -z "$MAX_WAIT" ] || [[ "$MAX_WAIT" =~ ^[0-9]+$ ]] || die "--max-wait: not a number: $MAX_WAIT"
for m in ${ONLY//,/ }; do
  [[ " $ALL_METRICS " == *" $m "* ]] || die "--only: unknown metric '$m' (one of: $ALL_METRICS)"
done
if [ $QUICK = 1 ]; then
  : "${ROUNDS:=1}" "${RUNS:=20}" "${ITER:=30}" "${CONTAINERS:=100}" "${EVENTS:=20}" "${MAX_WAIT:=120}"
  WARMUP=3 SETTLE=0.5 DSETTLE=3 DROUNDS=1
else
  : "${ROUNDS:=3}" "${RUNS:=40}" "${ITER:=40}" "${CONTAINERS:=500}" "${EVENTS:=50}" "${MAX_WAIT:=300}"
  WARMUP=5 SETTLE=1 DSETTLE=5 DROUNDS=2
fi

# ---------------------------------------------------------------------------------------------
# hcs-bench (bench/HcsBench, the Hcs.Client side): published when missing or older than its
# sources. Done before anything is measured (and before the load check: it is load itself).
if [ "${HCS_BENCH_NS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || die "must run as root: sudo bench/hcsd.sh"
  ensure_hcsbench
  export HCSBENCH
fi

# One private mount namespace for the whole run, with the cgroup2 "unified" mount of a hybrid
# host hidden (crun 1.8 refuses hybrid hosts; hcsd and crun must see the same cgroups), as
# bench/run.sh does. hcsd, its monitor and every container live in this namespace.
if [ "${HCS_BENCH_NS:-}" != 1 ]; then
  command -v unshare >/dev/null || die "unshare (util-linux) not found"
  export HCS_BENCH_NS=1
  exec unshare --mount --propagation private -- bash "$0" "${ARGS[@]}"
fi
HIDDEN_UNIFIED=false
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
  umount /sys/fs/cgroup/unified || die "cannot unmount /sys/fs/cgroup/unified in the private namespace"
  HIDDEN_UNIFIED=true
fi
case "$(stat -fc %T /sys/fs/cgroup)" in cgroup2fs) CGVIEW="cgroup v2" ;; *) CGVIEW="cgroup v1" ;; esac
$HIDDEN_UNIFIED && CGVIEW="$CGVIEW (hybrid host, /sys/fs/cgroup/unified hidden)"

HCSD_DIR=${HCSD_DIR:-/usr/local/lib/hcs/hcsd}
declare -A ORIG=(
  [hcsd]=$HCSD_DIR/hcsd
  [hcs-monitor]=${HCS_MONITOR:-/usr/local/bin/hcs-monitor}
  [hcs-pause]=${HCS_PAUSE:-/usr/local/lib/hcs/hcs-pause}
  [hcs-zygote]=${HCS_ZYGOTE:-/usr/local/lib/hcs/hcs-zygote}
  [hcs]=${HCS:-/usr/local/bin/hcs}
  [crun]=$(command -v "${CRUN:-crun}" || echo "${CRUN:-crun}")
  [hcs-bench]=$HCSBENCH
)
for t in hyperfine jq curl busybox; do command -v "$t" >/dev/null || die "$t not found"; done
for b in hcsd hcs-monitor hcs-pause hcs-zygote crun hcs-bench; do
  [ -x "${ORIG[$b]}" ] || die "${ORIG[$b]} not found (scripts/build.sh installs hcsd, hcs-monitor, hcs-pause, hcs-zygote)"
done
HAVE_CLI=true
if [ ! -x "${ORIG[hcs]}" ]; then
  HAVE_CLI=false
  log "bench: ${ORIG[hcs]} not found: the CLI metric (hcs run) is skipped"
fi

# ---------------------------------------------------------------------------------------------
# Clean-up: every container (through the private hcsd, and crun's), the processes this script
# started (by pid), mounts and cgroups of ours, the directory. Also run at the start, for the
# leftovers of a run that was killed.
SOCK=$BASE/hcs.sock
CLEANED=0
pid_is_ours() { # pid_is_ours PID: its executable is one of the copies under $BASE/bin
  [ -n "$1" ] && [ -e "/proc/$1/exe" ] && [[ "$(readlink "/proc/$1/exe")" == "$BASE/bin/"* ]]
}
stop_pid() { # stop_pid PID: SIGTERM, then SIGKILL after 5 s
  local i
  pid_is_ours "$1" || return 0
  kill -TERM "$1" 2>/dev/null
  for ((i = 0; i < 50; i++)); do pid_is_ours "$1" || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
}
cleanup() {
  [ $CLEANED = 1 ] && return; CLEANED=1
  local id hpid mpid line
  [ -d "$BASE" ] || [ -d "$DISK" ] || return 0
  hpid=$(cat "$BASE/hcsd.pid" 2>/dev/null) mpid=$(cat "$BASE/run/monitor.pid" 2>/dev/null)
  if pid_is_ours "$hpid" && [ -S "$SOCK" ]; then
    "$BASE/bin/hcs-bench" cleanup --socket "$SOCK" --scratch "$DISK/scratch-api" 2>&1 | sed 's/^ */bench: /' >&2
  fi
  if [ -d "$BASE/state-crun" ]; then
    for id in $("$BASE/bin/crun" --root "$BASE/state-crun" list -q 2>/dev/null); do
      "$BASE/bin/crun" --root "$BASE/state-crun" delete -f "$id" >/dev/null 2>&1 </dev/null
    done
  fi
  stop_pid "$hpid"; stop_pid "$mpid"
  # overlays hcsd mounted in this namespace (a killed run's are gone with its namespace)
  awk -v b="$BASE/" -v d="$DISK/" 'index($5, b) == 1 || index($5, d) == 1 { print $5 }' /proc/self/mountinfo | tac |
    while read -r line; do umount -l "$line" 2>/dev/null; done
  # crun's cgroups are named after the ids; remove empty leftovers (rmdir fails on a cgroup with
  # processes: nothing is killed by name). hcsd removes its own (/hcs/<id>) when it deletes.
  find /sys/fs/cgroup -mindepth 2 -maxdepth 7 -depth -type d -name "$PFX-*" \( -fstype cgroup -o -fstype cgroup2 \) \
    -exec rmdir {} \; 2>/dev/null
  if $HIDDEN_UNIFIED; then
    find /sys/fs/cgroup/unified -mindepth 1 -maxdepth 1 -type d -name "$PFX-*" -fstype tmpfs -exec rm -rf {} + 2>/dev/null
  fi
  if mountpoint -q "$BASE"; then umount -l "$BASE"; fi # the tmpfs below, with everything in it
  rm -rf --one-file-system "$BASE" "$DISK"
}
trap cleanup EXIT
exec 9>&2
trap 'echo "bench: interrupted, cleaning up" >&9; exit 130' INT TERM HUP

cleanup; CLEANED=0
# /run is a tmpfs on a standard host, so runtime state (hcsd's run directory and bundles,
# crun's state) lives in memory: measured that way here too, for both, also on a machine whose
# /run is on disk (this VM's). Mounted in this run's private namespace: it goes with it.
mkdir -p "$BASE" && mount -t tmpfs -o mode=0755 hcs-bench "$BASE" || die "cannot mount a tmpfs on $BASE"
mkdir -p "$BASE/bin" "$BASE/data" "$BASE/state-crun" "$DISK/scratch-api" "$DISK/scratch-cli" || die "cannot create $BASE, $DISK"
DATA=$BASE/data

# ---------------------------------------------------------------------------------------------
# The quiet check: other agents build and test on this VM. Wait (up to --max-wait) for the
# 1-minute load average to drop to MAX_LOAD; measure anyway after that, and say so.
LOAD_FIRST=$(cut -d' ' -f1-3 /proc/loadavg)
WAIT_T0=$SECONDS QUIET=true
while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v m=$MAX_LOAD 'BEGIN { exit !(l > m) }'; do
  if [ $((SECONDS - WAIT_T0)) -ge "$MAX_WAIT" ]; then
    QUIET=false
    log "bench: load average still $(cut -d' ' -f1-3 /proc/loadavg) after ${MAX_WAIT} s: measuring anyway"
    break
  fi
  log "bench: 1-minute load average $(cut -d' ' -f1 /proc/loadavg) > $MAX_LOAD (others are working): waiting, $((MAX_WAIT - SECONDS + WAIT_T0)) s left"
  sleep 15
done
WAITED=$((SECONDS - WAIT_T0))
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# Snapshot the binaries (others rebuild and reinstall while a run is in progress): the copies
# are run, and the JSON names each one's sha256 and where it came from. hcsd is a directory
# (the binary and SQLite's library): copied whole, its hash is over every file in it.
declare -A SHA BIN
cp -r "$HCSD_DIR" "$BASE/bin/hcsd" || die "cannot copy $HCSD_DIR"
BIN[hcsd]=$BASE/bin/hcsd/hcsd
SHA[hcsd]=$(cd "$BASE/bin/hcsd" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
for b in hcs-monitor hcs-pause hcs-zygote hcs crun hcs-bench; do
  [ "$b" = hcs ] && ! $HAVE_CLI && continue
  cp "${ORIG[$b]}" "$BASE/bin/$b" || die "cannot copy ${ORIG[$b]}"
  BIN[$b]=$BASE/bin/$b
  SHA[$b]=$(sha256sum "$BASE/bin/$b" | cut -d' ' -f1)
done
for b in hcsd hcs-monitor hcs-pause hcs-zygote hcs crun hcs-bench; do
  [ -n "${BIN[$b]:-}" ] && log "bench: $b = ${ORIG[$b]} (sha256 ${SHA[$b]:0:12}, modified $(date -r "${ORIG[$b]}" -u +%FT%TZ))"
done
HB=${BIN[hcs-bench]}

# The rootfs: busybox-static, its applets as symlinks, /etc/passwd and group; shared by hcs (as
# its one read-only layer under a scratch per container for density and events; for the timed
# API lifecycle, as for `hcs run --rootfs`, the directory itself) and crun (root.path, read-only).
ROOTFS=$BASE/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp,proc,sys,dev,root}
cp "$(readlink -f "$(command -v busybox)")" "$ROOTFS/bin/busybox"
for a in $("$ROOTFS/bin/busybox" --list); do [ -e "$ROOTFS/bin/$a" ] || ln -s busybox "$ROOTFS/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$ROOTFS/etc/passwd"; echo "root:x:0:" >"$ROOTFS/etc/group"

# crun's bundles: `crun spec` (pid, network, ipc, uts, mount namespaces; read-only root; no
# terminal) plus a cgroup namespace, which hcs's default container has too: the same namespaces.
mkdir -p "$BASE/spec" && (cd "$BASE/spec" && "${BIN[crun]}" spec) || die "crun spec failed"
mkbundle() { # mkbundle DIR ARG...
  local dir=$1; shift; mkdir -p "$dir"
  jq --arg root "$ROOTFS" --argjson args "$(printf '%s\n' "$@" | jq -R . | jq -s -c .)" \
    '.root = {path: $root, readonly: true} | .process.terminal = false | .process.args = $args
     | .process.env = ["PATH=/bin"] | .hostname = "bench"
     | .linux.namespaces = ((.linux.namespaces | map(select(.type != "cgroup"))) + [{type: "cgroup"}])' \
    "$BASE/spec/config.json" >"$dir/config.json" || die "jq failed"
}
mkbundle "$BASE/b-true" /bin/true
mkbundle "$BASE/b-sleep" sleep 100000
# --idle pause: crun runs hcs-pause too (the same binary hcsd's pause containers run)
cp "${BIN[hcs-pause]}" "$ROOTFS/hcs-pause" || die "cannot copy hcs-pause into the rootfs"
mkbundle "$BASE/b-pause" /hcs-pause
CR() { "${BIN[crun]}" --root "$BASE/state-crun" "$@"; }

# The private hcsd, started from / as a service manager starts it. HCS_TRACE only in its
# environment (and so its monitor's), never the CLI's.
start_hcsd() {
  local i
  (
    cd /
    export HCS_ZYGOTE=${BIN[hcs-zygote]} # the monitor's (hcsd passes its environment on)
    [ $TRACE = 1 ] && export HCS_TRACE=1
    exec "${BIN[hcsd]}" --socket "$SOCK" --run-dir "$BASE/run" --state-dir "$DISK/state" \
      --monitor "${BIN[hcs-monitor]}" --pause "${BIN[hcs-pause]}" </dev/null >>"$BASE/hcsd.log" 2>&1
  ) &
  HCSD_PID=$!; echo "$HCSD_PID" >"$BASE/hcsd.pid"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$HCSD_PID" 2>/dev/null || die "hcsd exited: $(tail -n 5 "$BASE/hcsd.log")"
    SERVICE=$(curl -sf --unix-socket "$SOCK" http://hcs/v2/service 2>/dev/null) && break
    sleep 0.1
  done
  [ -n "${SERVICE:-}" ] || die "hcsd did not answer within 30 s: $(tail -n 5 "$BASE/hcsd.log")"
  MONITOR_PID=$(cat "$BASE/run/monitor.pid" 2>/dev/null)
  pid_is_ours "$MONITOR_PID" || die "no hcs-monitor of ours (pid file: '$MONITOR_PID')"
  log "bench: hcsd pid $HCSD_PID, hcs-monitor pid $MONITOR_PID; $(jq -c . <<<"$SERVICE")"
}
SERVICE=""
start_hcsd
# A fresh hcsd and monitor (the old ones hold no containers then), warmed up: 40 lifecycles and
# 20 idle containers created, started and deleted, so that the hot paths are compiled (tier-1
# JIT) before memory is measured. Without the restart a second density round would start from
# a GC heap already grown (and freed) by the first, and hcsd's growth would read as ~0.
restart_hcsd() {
  local w=$1
  stop_pid "$HCSD_PID"; stop_pid "$MONITOR_PID"
  start_hcsd
  "$HB" lifecycle --socket "$SOCK" --rootfs "$ROOTFS" --scratch "$DISK/scratch-api" --prefix "$PFX-w$w" \
    --warmup 0 --iterations 40 --out "$DATA/warm.json" 2>>"$DATA/density.log"
  "$HB" density --socket "$SOCK" --rootfs "$ROOTFS" --scratch "$DISK/scratch-api" --prefix "$PFX-w$w" \
    --count 20 --out "$DATA/warm.json" 2>>"$DATA/density.log"
  "$HB" cleanup --socket "$SOCK" --prefix "$PFX-w$w" --scratch "$DISK/scratch-api" 2>>"$DATA/density.log"
  sleep 1   # tier-1 compilation happens in the background after a short delay
}

# ---------------------------------------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
PHASE_LOADS="{}"
phase_load() { PHASE_LOADS=$(jq -c --arg p "$1" --arg l "$(cut -d' ' -f1-3 /proc/loadavg)" '. + {($p): $l}' <<<"$PHASE_LOADS"); }

# time_cmd ROUND NAME PREPARE CMD...: hyperfine -N; runs exiting non-zero are kept out of the
# samples and counted. -> $DATA/t.NAME.ROUND (ms), $DATA/e.NAME.ROUND ("COUNT CODES")
time_cmd() {
  local round=$1 name=$2 prepare=$3; shift 3
  local json="$DATA/hf.$name.$round.json" hlog="$DATA/hf.$name.$round.log" tf="$DATA/t.$name.$round" ef="$DATA/e.$name.$round"
  local hf=(hyperfine -N -i --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$json")
  [ -n "$prepare" ] && hf+=(--prepare "$prepare")
  if "${hf[@]}" "$*" </dev/null >>"$hlog" 2>&1 && [ -s "$json" ]; then
    jq -r '.results[0] | [.times, .exit_codes] | transpose[] | select(.[1] == 0) | .[0] * 1000' "$json" >"$tf"
    jq -r '.results[0].exit_codes | map(select(. != 0)) | select(length > 0)
           | "\(length) \(map(tostring) | unique | join(","))"' "$json" >"$ef"
  fi
  report_round "$round" "$name" "$hlog"
}
report_round() { # report_round ROUND NAME LOG
  local tf="$DATA/t.$2.$1" ef="$DATA/e.$2.$1"
  if [ -s "$tf" ]; then
    printf '  [round %s] %-8s median %8.2f ms (n=%s)%s\n' "$1" "$2" "$(median <"$tf")" "$(wc -l <"$tf")" \
      "$([ -s "$ef" ] && read -r c codes <"$ef" && echo " ($c runs failed: $codes)")" >&2
  else
    printf '  [round %s] %-8s FAILED: %s\n' "$1" "$2" "$(tail -n 3 "$3" 2>/dev/null | tr '\n' ' ')" >&2
    echo "round $1: $(tail -n 3 "$3" 2>/dev/null | tr '\n' ' ')" >>"$DATA/fail.$2"
  fi
}

# lifecycle ROUND TRANSPORT: hcs-bench's API loop -> $DATA/NAME.ROUND.json, t.NAME.ROUND, e.NAME.ROUND
# (NAME: api for the blocking transport, apiasync for the async one)
lifecycle() {
  local round=$1 transport=$2 name=api; [ "$2" = async ] && name=apiasync
  local out="$DATA/$name.$round.json" hlog="$DATA/$name.$round.log"
  if "$HB" lifecycle --socket "$SOCK" --rootfs "$ROOTFS" --scratch "$DISK/scratch-api" --prefix "$PFX-l$round$name" \
       --transport "$transport" --warmup "$WARMUP" --iterations "$ITER" --out "$out" 2>>"$hlog" && [ -s "$out" ]; then
    jq -r '.samples_ms[]' "$out" >"$DATA/t.$name.$round"
    jq -r 'select(.failed > 0) | "\(.failed) \(.first_error)"' "$out" >"$DATA/e.$name.$round"
  fi
  report_round "$round" "$name" "$hlog"
}

# One batch of each timed metric in a round.
batch() { # batch ROUND NAME
  local round=$1 name=$2
  case "$name" in
    cli)  # the CLI end to end: create, attach, start, wait, delete (--rootfs DIR: no scratch, as crun)
      HCS_SCRATCH_ROOT=$DISK/scratch-cli time_cmd "$round" cli "" "${BIN[hcs]}" --socket "$SOCK" run --rm --rootfs "$ROOTFS" /bin/true ;;
    crun) # back to back like the other two: no --prepare (`run` deletes the container itself).
      # A prepare step between runs would let the previous container's cgroup teardown (css
      # offline, in a kernel workqueue after an RCU grace period, under cgroup_mutex) land on
      # this run's cgroup creation: +10 ms here (README, "hcsd" Method).
      "$PREP" absent "${BIN[crun]}" "$BASE/state-crun" "$PFX-crun-run" "$BASE/b-true" 2>/dev/null
      time_cmd "$round" crun "" "${BIN[crun]}" --root "$BASE/state-crun" run --bundle "$BASE/b-true" "$PFX-crun-run"
      "$PREP" absent "${BIN[crun]}" "$BASE/state-crun" "$PFX-crun-run" "$BASE/b-true" 2>/dev/null ;;
    api)  # Hcs.Client, warm daemon and connection: create+start+wait+delete of /bin/true, with
      # the blocking transport (as the hcs CLI uses it; the floor) and the default async one
      # (reported), in turns
      local transports=(blocking async); [ $((round % 2)) = 0 ] && transports=(async blocking)
      for transport in "${transports[@]}"; do lifecycle "$round" "$transport"; done ;;
  esac
  sleep "$SETTLE"   # asynchronous kernel teardown (net namespaces) of this batch
}

pmem() { # pmem PID -> JSON {rss, pss, anon} in KiB (smaps_rollup Rss/Pss, status RssAnon)
  local rss pss anon
  rss=$(awk '$1 == "Rss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null)
  pss=$(awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null)
  anon=$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$1/status" 2>/dev/null)
  echo "{\"rss\":${rss:-0},\"pss\":${pss:-0},\"anon\":${anon:-0}}"
}
pids_anon() { # RssAnon + RssShmem of the pids in FILE (the containers' own processes)
  while read -r pid; do cat "/proc/$pid/status" 2>/dev/null; done <"$1" |
    awk '/^RssAnon:|^RssShmem:/ { s += $2 } END { print s + 0 }'
}

IDLE_PAUSE=""; [ "$IDLE" = pause ] && IDLE_PAUSE=1
# density ROUND RT ATTEMPT: CONTAINERS idle containers (init `sleep 100000`, or hcs-pause with
# --idle pause) created and started
# one after another: hcs through the API (hcs-bench), crun from a bash loop (create, start), as
# bench/run.sh. Memory while all run; noise checks as bench/run.sh's (memory back within DRIFT
# after the delete, and host-wide AnonPages + Shmem moved by no more than DRIFT beyond our own
# processes'), where "our own" for hcs includes hcsd's and hcs-monitor's growth.
# DRIFT (KiB): memory in use after the delete must come back within this of the start; 4 MiB as
# in run.sh up to 200 containers, 20 KiB per container beyond (after 500 deletes the kernel keeps
# a few MiB of slab for a while, for crun as for hcs: that is not someone else's noise).
# OTHERS (KiB): host-wide AnonPages + Shmem may move this much beyond our own processes'.
DRIFT=$(( CONTAINERS * 20 > 4096 ? CONTAINERS * 20 : 4096 )) OTHERS=4096
density_attempt() {
  local round=$1 rt=$2 attempt=$3 n=$CONTAINERS i fails=0 t0 t1 ns before before_raw after after_raw post post_raw
  local mi0 mi1 d0='{}' d1='{}' d2='{}' m0='{}' m1='{}' m2='{}' cont_anon own0=0 own1=0 own2=0 pfx="$PFX-r$round-a$attempt"
  local out="$DATA/d.$rt.$round.$attempt.json" extra='{}'
  [ "$rt" = hcs ] && restart_hcsd "$round-$attempt"
  read -r before before_raw < <(settle_mem); mi0=$(meminfo_json)
  if [ "$rt" = hcs ]; then d0=$(pmem "$HCSD_PID"); m0=$(pmem "$MONITOR_PID"); fi
  # drop_caches dropped the binaries and busybox too: read them back, so the rate does not
  # include cold disk reads
  cat "${BIN[crun]}" "$HB" "$ROOTFS/bin/busybox" >/dev/null
  if [ "$rt" = hcs ]; then
    "$HB" density --socket "$SOCK" --rootfs "$ROOTFS" --scratch "$DISK/scratch-api" --prefix "$pfx" \
      --count "$n" ${IDLE_PAUSE:+--pause} --out "$DATA/hd.$round.$attempt.json" 2>>"$DATA/density.log"
    extra=$(cat "$DATA/hd.$round.$attempt.json" 2>/dev/null || echo '{"failed":'"$n"',"seconds":0,"init_pids":[]}')
    fails=$(jq .failed <<<"$extra"); ns=$(jq '.seconds * 1e9 | floor' <<<"$extra")
    jq -r '.init_pids[]' <<<"$extra" >"$DATA/pids"
    extra=$(jq -c '{create_start_ms: .create_start_ms}' <<<"$extra")
  else
    t0=$(date +%s%N)
    for ((i = 1; i <= n; i++)); do
      if ! CR create --bundle "$BASE/b-$IDLE" "$pfx-$i" </dev/null >/dev/null 2>>"$DATA/density.log" \
         || ! CR start "$pfx-$i" </dev/null >/dev/null 2>>"$DATA/density.log"; then
        fails=$((fails + 1))
      fi
    done
    t1=$(date +%s%N); ns=$((t1 - t0))
    CR list -f json 2>/dev/null | jq -r '.[]? | select(.status == "running") | .pid' >"$DATA/pids"
  fi
  sleep "$DSETTLE"    # lazy kernel work (RCU frees, per-cpu stats) settles
  read -r after after_raw < <(mem_used); mi1=$(meminfo_json)
  if [ "$rt" = hcs ]; then d1=$(pmem "$HCSD_PID"); m1=$(pmem "$MONITOR_PID"); fi
  cont_anon=$(pids_anon "$DATA/pids")
  local running; running=$(wc -l <"$DATA/pids")
  if [ "$rt" = hcs ]; then
    "$HB" cleanup --socket "$SOCK" --prefix "$pfx" --scratch "$DISK/scratch-api" 2>>"$DATA/density.log"
    own1=$(( $(jq '.anon' <<<"$d1") - $(jq '.anon' <<<"$d0") + $(jq '.anon' <<<"$m1") - $(jq '.anon' <<<"$m0") ))
  else
    for ((i = 1; i <= n; i++)); do CR delete -f "$pfx-$i" </dev/null >/dev/null 2>&1; done
  fi
  # Teardown lags behind the delete by seconds (500 network namespaces: more than 10 s here):
  # wait (<= 20 s) for memory in use to come back, less what hcsd and the monitor keep (a GC
  # heap does not shrink at once)
  local end=$((SECONDS + 20))
  while :; do
    read -r post post_raw < <(mem_used)
    if [ "$rt" = hcs ]; then
      d2=$(pmem "$HCSD_PID"); m2=$(pmem "$MONITOR_PID")
      own2=$(( $(jq '.anon' <<<"$d2") - $(jq '.anon' <<<"$d0") + $(jq '.anon' <<<"$m2") - $(jq '.anon' <<<"$m0") ))
    fi
    [ "$((post - own2))" -le $((before + DRIFT)) ] || [ $SECONDS -ge $end ] && break; sleep 0.5
  done
  local mi2; mi2=$(meminfo_json)
  jq -n -c --arg rt "$rt" --argjson round "$round" --argjson attempt "$attempt" --argjson n "$n" \
    --argjson fails "$fails" --argjson running "$running" --argjson ns "$ns" \
    --argjson before "$before" --argjson after "$after" --argjson post "$post" --argjson maxdrift "$DRIFT" --argjson maxothers "$OTHERS" \
    --argjson before_raw "$before_raw" --argjson after_raw "$after_raw" --argjson post_raw "$post_raw" \
    --argjson cont_anon "$cont_anon" --argjson own1 "$own1" --argjson own2 "$own2" \
    --argjson d0 "$d0" --argjson d1 "$d1" --argjson d2 "$d2" --argjson m0 "$m0" --argjson m1 "$m1" --argjson m2 "$m2" \
    --argjson mi0 "$mi0" --argjson mi1 "$mi1" --argjson mi2 "$mi2" --argjson extra "$extra" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '
    def per(a; b): if a.rss == null or b.rss == null then null else
      {rss: ((b.rss - a.rss) / $n), pss: ((b.pss - a.pss) / $n), anon: ((b.anon - a.anon) / $n)} end;
    {rt: $rt, round: $round, attempt: $attempt, containers: $n, failed: $fails, running: $running,
     seconds: ($ns / 1e9), rate: (if $ns > 0 then $n / ($ns / 1e9) else 0 end), loadavg_end: $load,
     mem_used_before_kib: $before, mem_used_after_kib: $after, mem_used_after_delete_kib: $post,
     drift_kib: ($post - $before - $own2), kept_by_hcsd_and_monitor_after_delete_kib: $own2,
     containers_anon_shmem_kib: $cont_anon, hcsd_and_monitor_anon_growth_kib: $own1,
     others_anon_shmem_kib: (($mi1.AnonPages + $mi1.Shmem) - ($mi0.AnonPages + $mi0.Shmem) - $cont_anon - $own1),
     noisy: ((($post - $before - $own2) | fabs > $maxdrift)
             or ((($mi1.AnonPages + $mi1.Shmem) - ($mi0.AnonPages + $mi0.Shmem) - $cont_anon - $own1) | fabs > $maxothers)),
     per_container_kib: (($after - $before) / $n),
     per_container_raw_kib: (($after_raw - $before_raw) / $n),
     accounted_per_container_kib: ([$mi1, $mi0] | map(.Slab + .PageTables + .KernelStack + .AnonPages + (.Percpu // 0) + .Shmem)
                                   | (.[0] - .[1]) / $n),
     meminfo_delta_per_container_kib: ($mi1 | with_entries(.value = ((.value - $mi0[.key]) / $n))),
     meminfo_delta_after_delete_kib: ($mi2 | with_entries(.value = (.value - $mi0[.key]))),
     mem_used_raw_before_kib: $before_raw, mem_used_raw_after_kib: $after_raw, mem_used_raw_after_delete_kib: $post_raw,
     hcsd: {before: $d0, after: $d1, after_delete: $d2}, monitor: {before: $m0, after: $m1, after_delete: $m2},
     hcsd_per_container_kib: per($d0; $d1), monitor_per_container_kib: per($m0; $m1)} + $extra' >"$out"
  jq -r '"  [round \(.round)] density \(.rt): \(.containers) in \(.seconds*100|round/100) s = \(.rate*10|round/10)/s, running \(.running), failed \(.failed), \(.per_container_kib|round) KiB/container (uncorrected \(.per_container_raw_kib|round), accounted \(.accounted_per_container_kib|round))\(if .hcsd_per_container_kib then "; hcsd +\(.hcsd_per_container_kib.rss|round) KiB rss, +\(.hcsd_per_container_kib.pss|round) pss, monitor +\(.monitor_per_container_kib.rss|round) rss /container" else "" end); drift \(.drift_kib) KiB, others anon+shmem \(.others_anon_shmem_kib) KiB\(if .noisy then " -> host busy" else "" end)"' "$out" >&2
  ! jq -e .noisy "$out" >/dev/null
}
density() { # density ROUND RT: up to 2 attempts (a noisy one is repeated); the quietest is kept
  local round=$1 rt=$2 a
  for a in 1 2; do density_attempt "$round" "$rt" "$a" && break; done
  jq -s -c 'sort_by(.noisy, (.drift_kib | fabs)) | .[0] + {attempts: length}' "$DATA"/d."$rt"."$round".?.json \
    >"$DATA/dk.$rt.$round.json"
}

# The host's cost of moving a process into a cgroup, back to back and after 20 ms without one
# (microseconds, medians of 15): the write side of the kernel's cgroup_threadgroup_rwsem (a
# per-CPU rwsem) waits for an RCU grace period unless another writer was there just before.
# Every container start pays it once; it explains why runs spaced apart are slower (README).
# As hcs-monitor and crun do it: another process (a sleep) moved by this shell, between two
# cgroups. (A shell moving itself measured 76 µs after 20 ms on a 6.18 kernel where that move
# took 7.8 ms: not the same path.)
cgroup_probe() { # -> "BACK_TO_BACK_US AFTER_IDLE_US"
  local cg gap i t0 t1 pid to
  if [ -d /sys/fs/cgroup/pids ]; then cg=/sys/fs/cgroup/pids/$PFX-probe; else cg=/sys/fs/cgroup/$PFX-probe; fi
  mkdir -p "$cg/a" "$cg/b" 2>/dev/null || { rmdir "$cg" 2>/dev/null; echo "null null"; return; }
  sleep 600 & pid=$!
  for gap in 0 0.02; do
    for ((i = 0; i < 15; i++)); do
      sleep "$gap"
      if ((i % 2)); then to=$cg/b/cgroup.procs; else to=$cg/a/cgroup.procs; fi
      t0=${EPOCHREALTIME/./}; echo "$pid" >"$to"; t1=${EPOCHREALTIME/./}
      echo $((t1 - t0))
    done | median
  done | paste -sd' '
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  rmdir "$cg/a" "$cg/b" "$cg" 2>/dev/null
}
read -r CG_FAST_US CG_IDLE_US < <(cgroup_probe)

# ---------------------------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
START=$(date +%s)
log "bench: $CGVIEW; rounds=$ROUNDS runs=$RUNS iterations=$ITER warmup=$WARMUP containers=$CONTAINERS events=$EVENTS${ONLY:+ only=$ONLY}"
log "bench: load average $LOAD_FIRST at start, $LOAD0 when measuring began (waited ${WAITED} s)"
log "bench: moving a process into a cgroup takes ${CG_FAST_US} us back to back, ${CG_IDLE_US} us after 20 ms without one"

if want run || want api; then
  phase_load timed
  for ((round = 1; round <= ROUNDS; round++)); do
    order=(cli crun api); [ $((round % 2)) = 0 ] && order=(api crun cli)
    for name in "${order[@]}"; do
      case "$name" in
        cli) want run && $HAVE_CLI && batch "$round" cli ;;
        crun) batch "$round" crun ;;   # the reference of both the CLI and the API metric
        api) want api && batch "$round" api ;;
      esac
    done
  done
  log "bench: timed metrics took $(( $(date +%s) - START )) s"
fi
if want density; then
  phase_load density; T=$(date +%s)
  for ((round = 1; round <= DROUNDS; round++)); do
    order=(hcs crun); [ $((round % 2)) = 0 ] && order=(crun hcs)
    for rt in "${order[@]}"; do density "$round" "$rt"; done
  done
  log "bench: density took $(( $(date +%s) - T )) s"
fi
if want events; then
  phase_load events
  "$HB" events --socket "$SOCK" --rootfs "$ROOTFS" --scratch "$DISK/scratch-api" --prefix "$PFX-ev" \
    --count "$EVENTS" --warmup "$WARMUP" --out "$DATA/events.json" 2>>"$DATA/events.log" \
    || echo "$(tail -n 3 "$DATA/events.log" | tr '\n' ' ')" >>"$DATA/fail.events"
  [ -s "$DATA/events.json" ] && jq -r '"  events: SIGKILL -> SystemExited median \(.system_exited_ms | sort | .[length/2|floor]) ms, -> ProcessExited median \(.process_exited_ms | sort | .[length/2|floor]) ms"' "$DATA/events.json" >&2
fi
ELAPSED=$(( $(date +%s) - START ))
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
# hcsd still alive after all that?
kill -0 "$HCSD_PID" 2>/dev/null || echo "hcsd died during the run: $(tail -n 5 "$BASE/hcsd.log" | tr '\n' ' ')" >>"$DATA/fail.hcsd"

# ---------------------------------------------------------------------------------------------
# Raw numbers -> one JSON document; medians, ratios and floors are computed from it.
{
  for f in "$DATA"/t.*.*; do [ -e "$f" ] || continue; IFS=. read -r _ name round <<<"${f##*/}"
    jq -R -s -c --arg name "$name" --argjson round "$round" \
      '{kind: "time", name: $name, round: $round, samples: (split("\n") | map(select(length > 0) | tonumber))}' "$f"; done
  for f in "$DATA"/e.*.*; do [ -s "$f" ] || continue; IFS=. read -r _ name round <<<"${f##*/}"; read -r c codes <"$f"
    jq -n -c --arg name "$name" --argjson round "$round" --argjson c "$c" --arg codes "$codes" \
      '{kind: "errors", name: $name, round: $round, count: $c, codes: $codes}'; done
  for f in "$DATA"/api.*.json; do [ -s "$f" ] || continue; r=${f##*/api.}; r=${r%.json}
    jq -c --argjson round "$r" '{kind: "api", round: $round, data: .}' "$f"; done
  for f in "$DATA"/dk.*.json; do [ -e "$f" ] || continue; jq -c '{kind: "density", rt, data: .}' "$f"; done
  [ -s "$DATA/events.json" ] && jq -c '{kind: "events", data: .}' "$DATA/events.json"
  for f in "$DATA"/fail.*; do [ -e "$f" ] || continue
    jq -R -s -c --arg name "${f##*/fail.}" '{kind: "failure", name: $name, message: .}' "$f"; done
} >"$DATA/raw.jsonl"

ver() { case "$1" in
  hcsd) "${BIN[hcsd]}" --version 2>/dev/null | head -n 1 ;;
  crun) "${BIN[crun]}" --version 2>/dev/null | head -n 1 ;;
  *) echo "$1" ;; esac; }
RESULT=$(jq -s \
  --arg stamp "$STAMP" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" --arg cgview "$CGVIEW" \
  --argjson hidden "$HIDDEN_UNIFIED" --arg vhcsd "$(ver hcsd)" --arg vcrun "$(ver crun)" --arg vhf "$(hyperfine --version)" \
  --argjson service "${SERVICE:-null}" --argjson quick "$QUICK" --arg only "$ONLY" --argjson rounds "$ROUNDS" \
  --argjson runs "$RUNS" --argjson iter "$ITER" --argjson warmup "$WARMUP" --argjson containers "$CONTAINERS" \
  --argjson events "$EVENTS" --argjson drounds "$DROUNDS" --argjson elapsed "$ELAPSED" \
  --arg loadfirst "$LOAD_FIRST" --arg load0 "$LOAD0" --arg load1 "$LOAD1" --argjson waited "$WAITED" \
  --argjson quiet "$QUIET" --argjson maxload "$MAX_LOAD" --argjson maxwait "$MAX_WAIT" --argjson phases "$PHASE_LOADS" \
  --arg idle "$IDLE" --argjson havecli "$HAVE_CLI" --argjson trace "$TRACE" --argjson cgfast "${CG_FAST_US:-null}" --argjson cgidle "${CG_IDLE_US:-null}" \
  --argjson want "$(for m in $ALL_METRICS; do want "$m" && echo "\"$m\": true" || echo "\"$m\": false"; done | paste -sd, | sed 's/.*/{&}/')" \
  --arg bins "$(for b in hcsd hcs-monitor hcs-pause hcs-zygote hcs crun hcs-bench; do [ -n "${BIN[$b]:-}" ] && echo "$b=${ORIG[$b]}=${SHA[$b]}"; done)" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def pct(p): sort | if length == 0 then null else .[((length - 1) * p) | round] end;
  . as $raw
  | {timing: ($raw | map(select(.kind == "time")) | group_by(.name)
              | map(.[0].name as $name | sort_by(.round) | {key: $name, value: {
                  median_ms: (map(.samples | median) | median),
                  round_medians_ms: map(.samples | median),
                  pooled_median_ms: (map(.samples[]) | median),
                  pooled_p10_ms: (map(.samples[]) | pct(0.1)), pooled_p90_ms: (map(.samples[]) | pct(0.9)),
                  n: (map(.samples | length) | add),
                  errors: ([$raw[] | select(.kind == "errors" and .name == $name) | .count] | add // 0),
                  error_codes: ([$raw[] | select(.kind == "errors" and .name == $name) | .codes] | unique | join("; ")),
                  samples_ms: map(.samples)}}) | from_entries),
     api_phases: ($raw | map(select(.kind == "api")) | sort_by(.round) as $a
                  | if ($a | length) == 0 then null else
                    (["create", "start", "wait", "delete"] | map(. as $p | {key: $p, value: {
                      median_ms: ($a | map(.data.phases_ms[$p] | median) | median),
                      round_medians_ms: ($a | map(.data.phases_ms[$p] | median)),
                      samples_ms: ($a | map(.data.phases_ms[$p]))}}) | from_entries) end),
     density: ($raw | map(select(.kind == "density")) | group_by(.rt)
               | map({key: .[0].rt, value: (map(.data) | sort_by(.round)
                     | (if any(.[]; .noisy | not) then map(select(.noisy | not)) else . end) as $use
                     | {rate: ($use | map(.rate) | max), per_container_kib: ($use | map(.per_container_kib) | median),
                        accounted_per_container_kib: ($use | map(.accounted_per_container_kib) | median),
                        per_container_raw_kib: ($use | map(.per_container_raw_kib) | median),
                        hcsd_rss_per_container_kib: ($use | map(.hcsd_per_container_kib.rss // empty) | median),
                        hcsd_pss_per_container_kib: ($use | map(.hcsd_per_container_kib.pss // empty) | median),
                        monitor_rss_per_container_kib: ($use | map(.monitor_per_container_kib.rss // empty) | median),
                        hcsd_rss_before_kib: ($use | map(.hcsd.before.rss // empty) | median),
                        failed: (map(.failed) | add),
                        rounds_used: ($use | map(.round)), noisy: any(.[]; .noisy), noisy_only: all(.[]; .noisy),
                        rounds: .})}) | from_entries),
     events: ($raw | map(select(.kind == "events")) | if length == 0 then null else .[0].data
              | {system_exited_median_ms: (.system_exited_ms | median), system_exited_p90_ms: (.system_exited_ms | pct(0.9)),
                 system_exited_stamped_median_ms: (.system_exited_stamped_ms | median),
                 process_exited_median_ms: (.process_exited_ms | median), process_exited_p90_ms: (.process_exited_ms | pct(0.9)),
                 process_exited_stamped_median_ms: (.process_exited_stamped_ms | median),
                 n: (.system_exited_ms | length), samples: .} end),
     failures: ($raw | map(select(.kind == "failure")) | map({name, message}))} as $d
  | def row(mid; lbl; unit; h; c; floortext; ok):
      {id: mid, label: lbl, unit: unit, hcs: h, crun: c,
       ratio: (if h != null and (c // 0) != 0 then h / c else null end), floor: floortext,
       result: (if floortext == "report" then "info" elif h == null then "FAIL"
                elif ({hcs: h, crun: c, ratio: (if (c // 0) != 0 then h / c else null end)} | ok) then "PASS" else "FAIL" end)};
    def t(n): $d.timing[n].median_ms;
    def dn(rt; f): $d.density[rt][f];
    ($d.timing.crun.median_ms) as $crunrun
  | [ (select($want.run and $havecli)
        | row("run-cli"; "hcs run --rm /bin/true, CLI end to end (ms)"; "ms"; t("cli"); $crunrun; "<= crun"; .ratio != null and .ratio <= 1)),
      (select($want.api)
        | row("api-lifecycle"; "create+start+wait+delete /bin/true, API (ms)"; "ms"; t("api"); $crunrun; "<= 0.5 x crun run"; .ratio != null and .ratio <= 0.5)),
      (select($d.api_phases != null) | ["create", "start", "wait", "delete"][] as $p
        | row("api-" + $p; "  \($p)"; "ms"; $d.api_phases[$p].median_ms; null; "report"; true)),
      (select($want.api)
        | row("api-lifecycle-async"; "  same, async transport (client default)"; "ms"; t("apiasync"); $crunrun; "report"; true)),
      (select($want.density)
        | row("density-rate"; "create+start \($containers) idle, one by one (/s)"; "/s"; dn("hcs"; "rate"); dn("crun"; "rate"); ">= crun"; .crun != null and .hcs >= .crun),
          row("density-mem"; "host memory per idle container (KiB)"; "KiB"; dn("hcs"; "per_container_kib"); dn("crun"; "per_container_kib"); "<= 600 KiB"; .hcs <= 600),
          row("density-mem-raw"; "  same, uncorrected MemTotal-MemAvailable"; "KiB"; dn("hcs"; "per_container_raw_kib"); dn("crun"; "per_container_raw_kib"); "report"; true),
          row("density-accounted"; "  accounted in meminfo counters"; "KiB"; dn("hcs"; "accounted_per_container_kib"); dn("crun"; "accounted_per_container_kib"); "report"; true),
          row("hcsd-rss"; "hcsd RSS growth per container (KiB)"; "KiB"; dn("hcs"; "hcsd_rss_per_container_kib"); null; "<= 100 KiB"; .hcs <= 100),
          row("hcsd-pss"; "  hcsd Pss growth per container"; "KiB"; dn("hcs"; "hcsd_pss_per_container_kib"); null; "report"; true),
          row("hcsd-rss-idle"; "  hcsd RSS, warm, no containers"; "KiB"; dn("hcs"; "hcsd_rss_before_kib"); null; "report"; true),
          row("monitor-rss"; "  hcs-monitor RSS growth per container"; "KiB"; dn("hcs"; "monitor_rss_per_container_kib"); null; "report"; true)),
      (select($want.events)
        | row("event-system"; "SIGKILL of init -> SystemExited read (ms)"; "ms"; $d.events.system_exited_median_ms?; null; "<= 10 ms"; .hcs <= 10),
          row("event-system-stamped"; "  of which until hcsd stamped it"; "ms"; $d.events.system_exited_stamped_median_ms; null; "report"; true),
          row("event-process"; "SIGKILL of exec process -> ProcessExited (ms)"; "ms"; $d.events.process_exited_median_ms; null; "report"; true))
    ]
    # a density result from noisy rounds only is marked "?": someone else moved memory meanwhile
    | map(if (.id | test("^(density|hcsd|monitor)")) and ([$d.density[]?.noisy_only] | any) and .result != "info"
          then .result += "?" else . end) as $rows
  | {timestamp: $stamp,
     host: {kernel: $kernel, cpus: $cpus, cgroups: $cgview, unified_hidden: $hidden,
            loadavg_first: $loadfirst, loadavg_start: $load0, loadavg_end: $load1, loadavg_by_phase: $phases,
            cgroup_procs_write_us: {back_to_back: $cgfast, after_20ms_idle: $cgidle},
            waited_for_quiet_s: $waited, quiet_at_start: $quiet, quiet_threshold: $maxload, max_wait_s: $maxwait},
     versions: {hcsd: $vhcsd, crun: $vcrun, hyperfine: $vhf, service: $service},
     binaries: ($bins | split("\n") | map(select(length > 0) | split("=") | {key: .[0], value: {path: .[1], sha256: .[2]}}) | from_entries),
     method: {rounds: $rounds, runs_per_round: $runs, api_iterations_per_round: $iter, warmup: $warmup,
              containers: $containers, density_rounds: $drounds, event_samples: $events, quick: ($quick == 1), only: $only,
              trace: ($trace == 1), cli_measured: $havecli, idle: $idle,
              order: "per round: hcs CLI, crun, API (blocking transport, then async); all reversed every other round",
              api_transport: "the floor row: Hcs.Client with BlockingTransport (as the hcs CLI); apiasync: its default async transport",
              bundle: "busybox-static rootfs; hcs: one read-only layer + a scratch per container, default container; crun: crun spec + cgroup namespace, read-only root",
              run_dir: "tmpfs (as /run on a standard host): hcsd run directory and bundles, crun state; hcsd store and scratch on disk",
              elapsed_s: $elapsed},
     metrics: $rows,
     summary: {passed: ($rows | map(select(.result | startswith("PASS"))) | length),
               failed: ($rows | map(select(.result | startswith("FAIL"))) | length)},
     raw: $d}' "$DATA/raw.jsonl") || die "could not assemble the results"

mkdir -p "$HERE/results"
OUT="$HERE/results/$STAMP-hcsd.json"
printf '%s\n' "$RESULT" >"$OUT"
if [ $TRACE = 1 ] || [ -n "$(ls "$DATA"/fail.* 2>/dev/null)" ]; then
  mkdir -p "$HERE/results/$STAMP-hcsd-logs"
  cp "$BASE/hcsd.log" "$BASE/run/monitor.log" "$DATA"/*.log "$HERE/results/$STAMP-hcsd-logs/" 2>/dev/null
fi

# ---------------------------------------------------------------------------------------------
echo
echo "## hcsd vs crun ($STAMP)"
echo
echo "$(ver hcsd) (${SHA[hcsd]:0:12}) | $(ver crun) (${SHA[crun]:0:12}) | kernel $(uname -r), $(nproc) CPUs | $CGVIEW"
if $QUIET; then quiet_text="load at or below $MAX_LOAD"; else quiet_text="still above $MAX_LOAD: measured anyway"; fi
echo "Load average: $LOAD_FIRST at start; waited ${WAITED} s for a quiet host ($quiet_text); $LOAD0 when measuring began, $LOAD1 at the end."
echo "Timed: $ROUNDS round(s); hyperfine -N, warmup $WARMUP, $RUNS runs each of \`hcs run\` and \`crun run\`; $ITER API iterations"
echo "(after $WARMUP warm-up) per round with each Hcs.Client transport (blocking, as the CLI uses it: the floor; async, the"
echo "client's default: reported); a cell is the median of the per-round medians; order hcs CLI, crun, API, reversed"
IDLE_TEXT='`sleep 100000`'; [ "$IDLE" = pause ] && IDLE_TEXT='hcs-pause, for crun as for hcs'
echo "every other round. Density: $CONTAINERS containers ($IDLE_TEXT) per runtime, $DROUNDS round(s); rate: best round;"
echo "memory: median over quiet rounds. Events: $EVENTS samples of each kind after $WARMUP warm-up. Elapsed ${ELAPSED} s."
echo "Host: moving a process into a cgroup takes ${CG_FAST_US} µs back to back, ${CG_IDLE_US} µs after 20 ms without one (paid once per container start)."
echo
printf '%s' "$RESULT" | jq -r '.metrics[] | [.label, .unit, .hcs, .crun, .ratio, .floor, .result]
  | map(if . == null then "-" else tostring end) | @tsv' |
awk -F'\t' '
  function num(v, unit) { if (v == "-") return "-"; if (unit == "ms") return sprintf("%.2f", v);
                          if (unit == "/s") return sprintf("%.1f", v); return sprintf("%.0f", v) }
  function rat(v) { return v == "-" ? "-" : sprintf("%.2f", v) }
  BEGIN { printf "| %-46s | %9s | %9s | %8s | %-18s | %-6s |\n", "metric", "hcs", "crun", "hcs/crun", "floor", "result"
          printf "|%s|%s|%s|%s|%s|%s|\n", "------------------------------------------------", "----------:", "----------:", "---------:", "--------------------", "--------" }
  { printf "| %-46s | %9s | %9s | %8s | %-18s | %-6s |\n", $1, num($3, $2), num($4, $2), rat($5), $6, $7 }'
echo
$HAVE_CLI || echo "note: ${ORIG[hcs]} not installed: the CLI metric was not measured"
printf '%s' "$RESULT" | jq -r '.raw.density | to_entries[] | select(.value.noisy)
  | "note: density \(.key): round(s) \(.value.rounds | map(select(.noisy) | .round) | join(",")) noisy\(if .value.noisy_only then " (all: results marked ?)" else "" end) (memory not back within \($drift) KiB after delete, or other processes\u0027 anon+shmem moved by more than \($others) KiB); value from round(s) \(.value.rounds_used | join(","))"' --argjson drift "$DRIFT" --argjson others "$OTHERS"
printf '%s' "$RESULT" | jq -r '.raw.density | to_entries[] | select(.value.failed > 0) | "errors: density \(.key): \(.value.failed) container(s) failed"'
printf '%s' "$RESULT" | jq -r '.raw.timing | to_entries[] | select(.value.errors > 0)
  | "errors: \(.key): \(.value.errors) run(s) failed (\(.value.error_codes)); excluded from the median"'
printf '%s' "$RESULT" | jq -r '.raw.failures[] | "failure: \(.name): \(.message | gsub("\n"; " "))"'
printf '%s' "$RESULT" | jq -r '"floors: \(.summary.passed) passed, \(.summary.failed) failed"'
echo "raw numbers: $OUT"
exit 0
