#!/bin/bash
# bench/run.sh — runhcs vs crun vs runc, side by side in one run, on one bundle.
#
#   sudo bench/run.sh [--quick] [--only OP[,OP...]] [--rounds N] [--runs N] [--containers N]
#
# Prints a markdown table of medians, ratios (runhcs/crun, runhcs/runc) and PASS/FAIL against
# the floors, then "floors: N passed, M failed"; writes the raw numbers to
# bench/results/<timestamp>.json. Exit status is 0 even when floors fail (it is a report);
# non-zero only for usage errors or a host that cannot run the benchmark at all.
# Method and metric definitions: bench/README.md.
set -u -o pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
PREP="$HERE/prep.sh"
BASE=/run/hcs-bench            # bundles, state dirs (one per runtime), scratch data
RUNTIMES=(runhcs crun runc)
TIME_OPS=(run create start exec kill delete pause resume delete-force)
RSS_OPS=(run create start exec delete-force)
ALL_OPS="${TIME_OPS[*]} density rss"
PFX=hcsbench                   # every container id (and so every cgroup) starts with this

usage() {
  cat <<EOF
usage: sudo bench/run.sh [options]
  --quick            fast check: 1 round of 10 runs, 50 containers, 5 RSS samples
  --only OP[,OP]     only these metrics; OP is one of:
                     $ALL_OPS
  --rounds N         rounds of timed operations (default 3; quick 1); the runtime order is
                     reversed every other round (density: at most 2 rounds)
  --runs N           hyperfine runs per runtime per operation per round (default 20; quick 10)
  --containers N     containers for the density test (default 200; quick 50)
  --rss-runs N       samples per runtime per operation for peak RSS (default 20; quick 5)
  -h, --help         this text
Binaries: \$RUNHCS, \$CRUN, \$RUNC (default: runhcs, crun, runc from PATH).
EOF
}

QUICK=0 ONLY="" ROUNDS="" RUNS="" CONTAINERS="" RSS_RUNS=""
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) [ $# -ge 2 ] || die "--only needs an operation"; ONLY="${ONLY:+$ONLY,}$2"; shift ;;
    --only=*) ONLY="${ONLY:+$ONLY,}${1#--only=}" ;;
    --rounds) ROUNDS=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --containers) CONTAINERS=${2:?}; shift ;;
    --rss-runs) RSS_RUNS=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
for v in "$ROUNDS" "$RUNS" "$CONTAINERS" "$RSS_RUNS"; do
  [ -z "$v" ] || [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "not a positive number: $v"
done
for op in ${ONLY//,/ }; do
  [[ " $ALL_OPS " == *" $op "* ]] || die "--only: unknown operation '$op' (one of: $ALL_OPS)"
done
if [ $QUICK = 1 ]; then
  : "${ROUNDS:=1}" "${RUNS:=10}" "${CONTAINERS:=50}" "${RSS_RUNS:=5}"; WARMUP=2 SETTLE=0.5 DSETTLE=3
else
  : "${ROUNDS:=3}" "${RUNS:=20}" "${CONTAINERS:=200}" "${RSS_RUNS:=20}"; WARMUP=3 SETTLE=1 DSETTLE=5
fi

# ---------------------------------------------------------------------------------------------
# One private mount namespace for the whole run, with the cgroup2 "unified" mount of a hybrid
# host hidden: crun 1.8 refuses hybrid hosts, and all three runtimes must see the same cgroups.
if [ "${HCS_BENCH_NS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || die "must run as root: sudo bench/run.sh"
  command -v unshare >/dev/null || die "unshare (util-linux) not found"
  export HCS_BENCH_NS=1
  exec unshare --mount --propagation private -- bash "$0" "${ARGS[@]}"
fi
HIDDEN_UNIFIED=false
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
  umount /sys/fs/cgroup/unified || die "cannot unmount /sys/fs/cgroup/unified in the private namespace"
  HIDDEN_UNIFIED=true
fi
CGFS=$(stat -fc %T /sys/fs/cgroup)
case "$CGFS" in cgroup2fs) CGVIEW="cgroup v2" ;; *) CGVIEW="cgroup v1" ;; esac
$HIDDEN_UNIFIED && CGVIEW="$CGVIEW (hybrid host, /sys/fs/cgroup/unified hidden)"

declare -A BIN
BIN[runhcs]=${RUNHCS:-runhcs} BIN[crun]=${CRUN:-crun} BIN[runc]=${RUNC:-runc}
for t in hyperfine jq "${BIN[@]}"; do command -v "$t" >/dev/null || die "$t not found"; done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) not found"
[ -x "$PREP" ] || die "$PREP not executable"
for rt in "${RUNTIMES[@]}"; do BIN[$rt]=$(readlink -f "$(command -v "${BIN[$rt]}")"); done

R() { local rt=$1; shift; "${BIN[$rt]}" --root "$BASE/state/$rt" "$@"; }

# ---------------------------------------------------------------------------------------------
# Clean-up: every container of every runtime, leftover cgroups of ours, the state dirs.
CLEANED=0
cleanup() {
  [ $CLEANED = 1 ] && return; CLEANED=1
  local rt id d
  for rt in "${RUNTIMES[@]}"; do
    [ -d "$BASE/state/$rt" ] || continue
    for id in $(R "$rt" list -q 2>/dev/null); do R "$rt" delete --force "$id" >/dev/null 2>&1 </dev/null; done
  done
  # A runtime that lost track of a container would leave its cgroup (named after the id): remove
  # empty ones (rmdir fails on a cgroup with processes; nothing is killed by pid here).
  find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -depth -type d -name "$PFX-*" \( -fstype cgroup -o -fstype cgroup2 \) \
    -exec rmdir {} \; 2>/dev/null
  # crun 1.8 on this host (v1 hierarchies + a "0::/" line in /proc/self/cgroup) also mkdirs the
  # container's cgroup under /sys/fs/cgroup/unified and writes a pid to "cgroup.procs" there, and
  # never removes it. With the cgroup2 mount hidden that is a plain directory and a plain file in
  # the /sys/fs/cgroup tmpfs, invisible outside this namespace: remove ours.
  if $HIDDEN_UNIFIED; then
    find /sys/fs/cgroup/unified -mindepth 1 -maxdepth 1 -type d -name "$PFX-*" -fstype tmpfs -exec rm -rf {} + 2>/dev/null
  fi
  rm -rf "$BASE"
}
trap cleanup EXIT
# The trap may run while a command's own redirection (2>>log) is still in effect: say it on the
# stderr the script started with (fd 9).
exec 9>&2
trap 'echo "bench: interrupted, cleaning up" >&9; exit 130' INT TERM HUP

cleanup; CLEANED=0     # leftovers of an earlier, killed run
mkdir -p "$BASE/data" "$BASE/bin" || die "cannot create $BASE"
for rt in "${RUNTIMES[@]}"; do mkdir -p "$BASE/state/$rt"; done
DATA=$BASE/data
# Snapshot the binaries: others may rebuild and reinstall runhcs while a run is in progress, and a
# run must measure one binary. All three are copied the same way (runc and crun re-exec
# /proc/self/exe, so a copy behaves as the original).
declare -A SHA ORIG
for rt in "${RUNTIMES[@]}"; do
  ORIG[$rt]=${BIN[$rt]}
  cp "${BIN[$rt]}" "$BASE/bin/$rt" || die "cannot copy ${BIN[$rt]}"
  SHA[$rt]=$(sha256sum "$BASE/bin/$rt" | cut -d' ' -f1)
  log "bench: $rt = ${BIN[$rt]} (sha256 ${SHA[$rt]:0:12}, modified $(date -r "${BIN[$rt]}" -u +%FT%TZ))"
  BIN[$rt]=$BASE/bin/$rt
done

# ---------------------------------------------------------------------------------------------
# The bundle: busybox-static rootfs from scripts/make-bundle.sh; ONE config.json from `runc spec`
# (pid, net, ipc, uts, mount namespaces; read-only root; no terminal), used by all three
# runtimes. Two bundle dirs differ only in process.args and share the rootfs.
sh "$REPO/scripts/make-bundle.sh" "$BASE/mk" /bin/true >/dev/null || die "make-bundle.sh failed"
mv "$BASE/mk/rootfs" "$BASE/rootfs"
(cd "$BASE/mk" && rm -f config.json && "${BIN[runc]}" spec) || die "runc spec failed"
mkbundle() { # mkbundle DIR ARG...
  mkdir -p "$1"; local dir=$1; shift
  jq --arg root "$BASE/rootfs" --argjson args "$(printf '%s\n' "$@" | jq -R . | jq -s -c .)" \
    '.root = {path: $root, readonly: true} | .process.terminal = false | .process.args = $args
     | .hostname = "bench"' "$BASE/mk/config.json" >"$dir/config.json" || die "jq failed"
}
mkbundle "$BASE/b-true" /bin/true
mkbundle "$BASE/b-sleep" sleep 100000000
BTRUE=$BASE/b-true BSLEEP=$BASE/b-sleep

# ---------------------------------------------------------------------------------------------
order_for_round() { # round 1: runhcs crun runc; round 2 reversed; ...
  if [ $(( $1 % 2 )) = 1 ]; then echo "${RUNTIMES[@]}"; else echo "${RUNTIMES[2]} ${RUNTIMES[1]} ${RUNTIMES[0]}"; fi
}
prep() { "$PREP" "$1" "${BIN[$2]}" "$BASE/state/$2" "$3" "$BSLEEP"; }

# op_cmd OP RT ID -> sets PREPACT (prepare action, "" for none) and CMD (array, the timed command)
op_cmd() {
  local op=$1 rt=$2 id=$3 r=("${BIN[$rt]}" --root "$BASE/state/$rt")
  case "$op" in
    run)          PREPACT=absent;   CMD=("${r[@]}" run --bundle "$BTRUE" "$id") ;;
    create)       PREPACT=absent;   CMD=("${r[@]}" create --bundle "$BSLEEP" "$id") ;;
    start)        PREPACT=created;  CMD=("${r[@]}" start "$id") ;;
    exec)         PREPACT="";       CMD=("${r[@]}" exec "$id" /bin/true) ;;
    kill)         PREPACT=running;  CMD=("${r[@]}" kill "$id" KILL) ;;
    delete)       PREPACT=stopped;  CMD=("${r[@]}" delete "$id") ;;
    pause)        PREPACT=unpaused; CMD=("${r[@]}" pause "$id") ;;
    resume)       PREPACT=paused;   CMD=("${r[@]}" resume "$id") ;;
    delete-force) PREPACT=running;  CMD=("${r[@]}" delete --force "$id") ;;
  esac
}

# time_op ROUND OP RT: hyperfine -N on one operation of one runtime. Runs that exit non-zero are
# kept out of the samples and counted (-i: one rare failure must not discard the batch).
# -> $DATA/t.OP.RT.ROUND (ms, one a line), $DATA/e.OP.RT.ROUND ("COUNT CODES" if any failed)
time_op() {
  local round=$1 op=$2 rt=$3 id="$PFX-$3-$2" json="$DATA/hf.$2.$3.$1.json" hlog="$DATA/hf.$2.$3.$1.log"
  local tf="$DATA/t.$2.$3.$1" ef="$DATA/e.$2.$3.$1"
  op_cmd "$op" "$rt" "$id"
  # run and create make a net namespace while the previous run's is still being torn down
  # (asynchronously): their spread is 3x the others', so they get twice the runs
  local runs=$RUNS; case "$op" in run|create) runs=$((RUNS * 2)) ;; esac
  local hf=(hyperfine -N -i --style none --warmup "$WARMUP" --runs "$runs" --export-json "$json")
  [ -n "$PREPACT" ] && hf+=(--prepare "$PREP $PREPACT ${BIN[$rt]} $BASE/state/$rt $id $BSLEEP")
  if [ "$op" = exec ] && ! prep running "$rt" "$id" 2>>"$hlog"; then
    echo "exec: could not start the container" >>"$hlog"
  elif "${hf[@]}" "${CMD[*]}" </dev/null >>"$hlog" 2>&1 && [ -s "$json" ]; then
    jq -r '.results[0] | [.times, .exit_codes] | transpose[] | select(.[1] == 0) | .[0] * 1000' "$json" >"$tf"
    jq -r '.results[0].exit_codes | map(select(. != 0)) | select(length > 0)
           | "\(length) \(map(tostring) | unique | join(","))"' "$json" >"$ef"
  fi
  if [ -s "$tf" ]; then
    printf '  [round %s] %-12s %-6s median %8.2f ms (n=%s)%s\n' "$round" "$op" "$rt" "$(median <"$tf")" \
      "$(wc -l <"$tf")" "$([ -s "$ef" ] && read -r c codes <"$ef" && echo " ($c runs exited non-zero: $codes)")" >&2
  else
    printf '  [round %s] %-12s %-6s FAILED: %s\n' "$round" "$op" "$rt" "$(tail -n 3 "$hlog" | tr '\n' ' ')" >&2
    echo "round $round: $(tail -n 3 "$hlog" | tr '\n' ' ')" >>"$DATA/fail.$op.$rt"
  fi
  prep absent "$rt" "$id" 2>/dev/null
  sleep "$SETTLE"   # let asynchronous kernel teardown (net namespaces) of this batch finish
}

# peak RSS (KiB, GNU time %M = ru_maxrss of the runtime process and the descendants it waited for)
rss_op() {
  local op=$1 rt=$2 id="$PFX-$2-rss-$1" i kib
  op_cmd "$op" "$rt" "$id"
  [ "$op" = exec ] && prep running "$rt" "$id"
  for ((i = 0; i < RSS_RUNS; i++)); do
    if [ -n "$PREPACT" ] && ! prep "$PREPACT" "$rt" "$id" 2>>"$DATA/rss.log"; then continue; fi
    if /usr/bin/time -q -f %M -o "$DATA/rss.tmp" "${CMD[@]}" </dev/null >/dev/null 2>>"$DATA/rss.log"; then
      kib=$(tail -n 1 "$DATA/rss.tmp"); [[ "$kib" =~ ^[0-9]+$ ]] && echo "$kib" >>"$DATA/r.$op.$rt"
    else
      echo "exit $?" >>"$DATA/fail.rss-$op.$rt"
    fi
  done
  prep absent "$rt" "$id" 2>/dev/null
  if [ -s "$DATA/r.$op.$rt" ]; then
    printf '  rss %-12s %-6s median %6s KiB (n=%s)\n' "$op" "$rt" "$(median <"$DATA/r.$op.$rt")" "$(wc -l <"$DATA/r.$op.$rt")" >&2
  else
    printf '  rss %-12s %-6s FAILED\n' "$op" "$rt" >&2
  fi
}


# density ROUND RT: create+start CONTAINERS containers one after another, memory while all run.
# Other processes on the host change MemAvailable too. An attempt is "noisy" if, after tear-down,
# memory in use is not back where it was before (within DRIFT KiB), or if the host-wide AnonPages +
# Shmem moved by more than DRIFT KiB beyond the containers' own (a process of someone else started
# or ended meanwhile). A noisy attempt is repeated (up to 3 times, within the time budget); the
# quietest is kept, and rounds whose kept attempt is noisy are left out of the median if a quiet
# round exists.
DRIFT=4096
density_attempt() { # density_attempt ROUND RT ATTEMPT -> $DATA/d.RT.ROUND.ATTEMPT.json
  local round=$1 rt=$2 attempt=$3 n=$CONTAINERS i fails=0 before after post t0 t1 running mi0 mi1
  local before_raw after_raw post_raw
  read -r before before_raw < <(settle_mem); mi0=$(meminfo_json)
  # drop_caches also dropped the runtime binary and busybox: read them back so the rate does not
  # include cold-cache disk reads (the next drop_caches drops the unmapped part again).
  cat "${BIN[$rt]}" "$BASE/rootfs/bin/busybox" >/dev/null; R "$rt" list >/dev/null 2>&1
  t0=$(date +%s%N)
  for ((i = 1; i <= n; i++)); do
    if ! R "$rt" create --bundle "$BSLEEP" "$PFX-$rt-d$i" </dev/null >/dev/null 2>>"$DATA/density.log" \
       || ! R "$rt" start "$PFX-$rt-d$i" </dev/null >/dev/null 2>>"$DATA/density.log"; then
      fails=$((fails + 1))
    fi
  done
  t1=$(date +%s%N)
  sleep "$DSETTLE"    # lazy kernel work (RCU frees, per-cpu stats) settles
  R "$rt" list -f json 2>/dev/null | jq -r '.[]? | select(.status == "running") | .pid' >"$DATA/pids" 2>/dev/null
  running=$(wc -l <"$DATA/pids")
  read -r after after_raw < <(mem_used); mi1=$(meminfo_json)
  # anon + shmem of the containers' own processes: the rest of the host-wide AnonPages + Shmem
  # change is other processes starting or ending during the measurement (see noisy below)
  local cont_anon
  cont_anon=$(while read -r pid; do cat "/proc/$pid/status" 2>/dev/null; done <"$DATA/pids" |
              awk '/^RssAnon:|^RssShmem:/ { s += $2 } END { print s + 0 }')
  for ((i = 1; i <= n; i++)); do R "$rt" delete --force "$PFX-$rt-d$i" </dev/null >/dev/null 2>&1; done
  # Teardown (net namespaces, RCU frees) lags behind a fast runtime by seconds: wait (<= 10 s) for
  # memory in use to come back, so that neither this check nor the next runtime's baseline sees it.
  local end=$((SECONDS + 10))
  while :; do
    read -r post post_raw < <(mem_used); [ "$post" -le $((before + DRIFT)) ] || [ $SECONDS -ge $end ] && break; sleep 0.5
  done
  jq -n -c --arg rt "$rt" --argjson round "$round" --argjson attempt "$attempt" --argjson n "$n" \
    --argjson fails "$fails" --argjson running "${running:-0}" --argjson ns "$((t1 - t0))" \
    --argjson before "$before" --argjson after "$after" --argjson post "$post" --argjson maxdrift "$DRIFT" \
    --argjson before_raw "$before_raw" --argjson after_raw "$after_raw" --argjson post_raw "$post_raw" \
    --argjson cont_anon "$cont_anon" \
    --argjson mi0 "$mi0" --argjson mi1 "$mi1" '
    {rt: $rt, round: $round, attempt: $attempt, containers: $n, failed: $fails, running: $running,
     seconds: ($ns / 1e9), rate: ($n / ($ns / 1e9)),
     mem_used_before_kib: $before, mem_used_after_kib: $after, mem_used_after_delete_kib: $post,
     drift_kib: ($post - $before),
     containers_anon_shmem_kib: $cont_anon,
     others_anon_shmem_kib: (($mi1.AnonPages + $mi1.Shmem) - ($mi0.AnonPages + $mi0.Shmem) - $cont_anon),
     noisy: ((($post - $before) | fabs > $maxdrift)
             or ((($mi1.AnonPages + $mi1.Shmem) - ($mi0.AnonPages + $mi0.Shmem) - $cont_anon) | fabs > $maxdrift)),
     per_container_kib: (($after - $before) / $n),
     mem_used_raw_before_kib: $before_raw, mem_used_raw_after_kib: $after_raw, mem_used_raw_after_delete_kib: $post_raw,
     pcp_free_before_kib: ($before_raw - $before), pcp_free_after_kib: ($after_raw - $after),
     per_container_raw_kib: (($after_raw - $before_raw) / $n),
     accounted_per_container_kib: ([$mi1, $mi0] | map(.Slab + .PageTables + .KernelStack + .AnonPages + (.Percpu // 0) + .Shmem)
                                   | (.[0] - .[1]) / $n),
     meminfo_delta_per_container_kib: ($mi1 | with_entries(.value = ((.value - $mi0[.key]) / $n)))}' \
    >"$DATA/d.$rt.$round.$attempt.json"
  jq -r '"  [round \(.round)] density \(.rt): \(.containers) containers in \(.seconds*100|round/100) s = \(.rate*10|round/10)/s, running \(.running), failed \(.failed), \(.per_container_kib|round) KiB/container (uncorrected \(.per_container_raw_kib|round), accounted \(.accounted_per_container_kib|round): slab \(.meminfo_delta_per_container_kib.Slab|round), anon \(.meminfo_delta_per_container_kib.AnonPages|round)); drift after delete \(.drift_kib) KiB, others anon+shmem \(.others_anon_shmem_kib) KiB\(if .noisy then " -> host busy" else "" end)"' \
    "$DATA/d.$rt.$round.$attempt.json" >&2
  ! jq -e .noisy "$DATA/d.$rt.$round.$attempt.json" >/dev/null
}
density() { # density ROUND RT -> $DATA/dk.RT.ROUND.json (the kept attempt)
  local round=$1 rt=$2 a t0 est
  for a in 1 2 3; do
    t0=$SECONDS
    density_attempt "$round" "$rt" "$a" && break
    ATTEMPT_S[$rt]=$((SECONDS - t0))
    # Keep a full run under 10 minutes: retry only if the retry and every attempt still to come
    # (estimated from the last attempt of the same runtime, else the slowest seen) fit in 560 s.
    est=$(( $(date +%s) - START + ATTEMPT_S[$rt] + $(remaining_s) ))
    [ "$est" -lt 560 ] || { log "  (no retry: time budget)"; break; }
  done
  ATTEMPT_S[$rt]=$((SECONDS - t0)); PAIR_I=$((PAIR_I + 1))
  # keep the quietest attempt: not noisy first, then smallest drift
  jq -s -c 'sort_by(.noisy, (.drift_kib | fabs)) | .[0] + {attempts: length}' "$DATA"/d."$rt"."$round".?.json \
    >"$DATA/dk.$rt.$round.json"
}
declare -A ATTEMPT_S; PAIRS=(); PAIR_I=0
remaining_s() { # estimated seconds for the density attempts after the current one
  local i rt sum=0 max=0 v
  for v in "${ATTEMPT_S[@]}"; do [ "$v" -gt "$max" ] && max=$v; done
  for ((i = PAIR_I + 1; i < ${#PAIRS[@]}; i++)); do rt=${PAIRS[$i]#*:}; sum=$((sum + ${ATTEMPT_S[$rt]:-$max})); done
  echo "$sum"
}

# ---------------------------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
START=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "bench: $CGVIEW; rounds=$ROUNDS runs=$RUNS warmup=$WARMUP containers=$CONTAINERS rss-runs=$RSS_RUNS${ONLY:+ only=$ONLY}"

for ((round = 1; round <= ROUNDS; round++)); do
  read -r -a order <<<"$(order_for_round $round)"
  for op in "${TIME_OPS[@]}"; do
    want "$op" || continue
    for rt in "${order[@]}"; do time_op "$round" "$op" "$rt"; done
  done
done
PHASE_T=$(date +%s); log "bench: timed operations took $((PHASE_T - START)) s"
if want rss; then
  for op in "${RSS_OPS[@]}"; do for rt in "${RUNTIMES[@]}"; do rss_op "$op" "$rt"; done; done
fi
want rss && { log "bench: peak RSS took $(( $(date +%s) - PHASE_T )) s"; PHASE_T=$(date +%s); }
if want density; then
  # at most 2 rounds (runtime order reversed in the second): 200 containers per runtime are slow
  for ((round = 1; round <= (ROUNDS < 2 ? ROUNDS : 2); round++)); do
    read -r -a order <<<"$(order_for_round $round)"
    for rt in "${order[@]}"; do PAIRS+=("$round:$rt"); done
  done
  for p in "${PAIRS[@]}"; do density "${p%%:*}" "${p#*:}"; done
  log "bench: density took $(( $(date +%s) - PHASE_T )) s"
fi
ELAPSED=$(( $(date +%s) - START ))
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# Raw numbers -> one JSON document; medians, ratios and floors are computed from it.
jsonl() { # jsonl KIND FILE OP RT
  jq -R -s -c --arg kind "$1" --arg op "$3" --arg rt "$4" \
    '{kind: $kind, op: $op, rt: $rt, samples: (split("\n") | map(select(length > 0) | tonumber))}' "$2"
}
{
  for f in "$DATA"/t.*.*.*; do [ -e "$f" ] || continue; IFS=. read -r _ op rt round <<<"${f##*/}"
    jsonl time "$f" "$op" "$rt" | jq -c --argjson round "$round" '. + {round: $round}'; done
  for f in "$DATA"/e.*.*.*; do [ -s "$f" ] || continue; IFS=. read -r _ op rt round <<<"${f##*/}"; read -r c codes <"$f"
    jq -n -c --arg op "$op" --arg rt "$rt" --argjson round "$round" --argjson c "$c" --arg codes "$codes" \
      '{kind: "errors", op: $op, rt: $rt, round: $round, count: $c, codes: $codes}'; done
  for f in "$DATA"/r.*.*; do [ -e "$f" ] || continue; b=${f##*/r.}; jsonl rss "$f" "${b%.*}" "${b##*.}"; done
  for f in "$DATA"/dk.*.json; do [ -e "$f" ] || continue; jq -c '{kind: "density", rt, data: .}' "$f"; done
  for f in "$DATA"/fail.*.*; do [ -e "$f" ] || continue; b=${f##*/fail.}
    jq -R -s -c --arg op "${b%.*}" --arg rt "${b##*.}" '{kind: "failure", op: $op, rt: $rt, message: .}' "$f"; done
} >"$DATA/raw.jsonl"

ver() { echo "$("${BIN[$1]}" --version 2>/dev/null | head -n 1) (${SHA[$1]:0:12})"; }
RESULT=$(jq -s \
  --arg stamp "$STAMP" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" --arg cgview "$CGVIEW" \
  --argjson hidden "$HIDDEN_UNIFIED" --arg vrunhcs "$(ver runhcs)" --arg vcrun "$(ver crun)" \
  --arg vrunc "$(ver runc)" --arg vhf "$(hyperfine --version)" --argjson quick "$QUICK" \
  --arg only "$ONLY" --argjson rounds "$ROUNDS" --argjson runs "$RUNS" --argjson warmup "$WARMUP" \
  --argjson containers "$CONTAINERS" --argjson rss_runs "$RSS_RUNS" --arg settle "$SETTLE" \
  --argjson elapsed "$ELAPSED" --arg load0 "$LOAD0" --arg load1 "$LOAD1" --argjson rssops "$(printf '%s\n' "${RSS_OPS[@]}" | jq -R . | jq -s -c .)" --arg bins "$(for rt in "${RUNTIMES[@]}"; do echo "$rt=${ORIG[$rt]}=${SHA[$rt]}"; done)" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def per($kind; $op): map(select(.kind == $kind and .op == $op)) | map({key: .rt, value: .}) | from_entries;
  . as $raw
  | ($raw | map(select(.kind == "time")) | map(.op) | unique) as $tops
  | {timing: ($tops | map(. as $op | {key: $op, value: ($raw | map(select(.kind == "time" and .op == $op)) | group_by(.rt)
             | map(.[0].rt as $rt | sort_by(.round) | {key: $rt, value: {
                 median_ms: (map(.samples | median) | median),
                 round_medians_ms: map(.samples | median),
                 pooled_median_ms: (map(.samples[]) | median),
                 n: (map(.samples | length) | add),
                 errors: ([$raw[] | select(.kind == "errors" and .op == $op and .rt == $rt) | .count] | add // 0),
                 error_codes: ([$raw[] | select(.kind == "errors" and .op == $op and .rt == $rt) | .codes] | unique | join(",")),
                 samples_ms: map(.samples)}}) | from_entries)}) | from_entries),
     rss: ($raw | map(select(.kind == "rss")) | map(.op) | unique
           | map(. as $op | {key: $op, value: ($raw | per("rss"; $op) | map_values({median_kib: (.samples | median), n: (.samples | length), samples_kib: .samples}))}) | from_entries),
     density: ($raw | map(select(.kind == "density")) | group_by(.rt)
               | map({key: .[0].rt, value: (map(.data) | sort_by(.round)
                     | (if any(.[]; .noisy | not) then map(select(.noisy | not)) else . end) as $use
                     | {rate: ($use | map(.rate) | max), per_container_kib: ($use | map(.per_container_kib) | median),
                        accounted_per_container_kib: ($use | map(.accounted_per_container_kib) | median),
                        per_container_raw_kib: ($use | map(.per_container_raw_kib) | median),
                        rounds_used: ($use | map(.round)),
                        noisy: any(.[]; .noisy), rounds: .})}) | from_entries),
     failures: ($raw | map(select(.kind == "failure")) | map({op, rt, message}))} as $d
  # metric rows: value per runtime; floor test on runhcs
  | def row(mid; lbl; unit; vals; floortext; ok):
      {id: mid, label: lbl, unit: unit, runhcs: vals.runhcs, crun: vals.crun, runc: vals.runc,
       ratio_crun: (if vals.runhcs != null and (vals.crun // 0) != 0 then vals.runhcs / vals.crun else null end),
       ratio_runc: (if vals.runhcs != null and (vals.runc // 0) != 0 then vals.runhcs / vals.runc else null end),
       floor: floortext,
       result: ((if floortext == "report" then "info" elif vals.runhcs == null then "FAIL"
                 elif (vals | ok) then "PASS" else "FAIL" end)
                + (if (($d.timing[mid].runhcs.errors // 0) > 0) then "*" else "" end))};
    def t(op): ($d.timing[op] // {}) | map_values(.median_ms);
    def r(op): ($d.rss[op] // {}) | map_values(.median_kib);
    def dn(f): $d.density | map_values(.[f]);
    def le_crun: .crun != null and .runhcs <= .crun;
    [ (select($d.timing.run)            | row("run"; "run /bin/true (ms)"; "ms"; t("run"); "<= crun"; le_crun)),
      (select($d.timing.create)         | row("create"; "create (ms)"; "ms"; t("create"); "report"; true)),
      (select($d.timing.start)          | row("start"; "start (ms)"; "ms"; t("start"); "report"; true)),
      (select($d.timing.exec)           | row("exec"; "exec /bin/true (ms)"; "ms"; t("exec"); "<= crun"; le_crun)),
      (select($d.timing.kill)           | row("kill"; "kill KILL (ms)"; "ms"; t("kill"); "<= crun"; le_crun)),
      (select($d.timing.delete)         | row("delete"; "delete, stopped (ms)"; "ms"; t("delete"); "<= crun"; le_crun)),
      (select($d.timing.pause)          | row("pause"; "pause (ms)"; "ms"; t("pause"); "<= crun"; le_crun)),
      (select($d.timing.resume)         | row("resume"; "resume (ms)"; "ms"; t("resume"); "<= crun"; le_crun)),
      (select($d.timing["delete-force"]) | row("delete-force"; "delete --force, running (ms)"; "ms"; t("delete-force"); "<= 20 ms"; .runhcs <= 20)),
      (select($d.density | length > 0)  | row("density-rate"; "create+start \($containers) x sleep, best round (/s)"; "/s"; dn("rate"); ">= crun"; .crun != null and .runhcs >= .crun)),
      (select($d.density | length > 0)  | row("density-mem"; "host memory per running container (KiB)"; "KiB"; dn("per_container_kib"); "<= crun + 100 KiB"; .crun != null and .runhcs <= .crun + 100)),
      (select($d.density | length > 0)  | row("density-mem-raw"; "  same, uncorrected MemTotal-MemAvailable"; "KiB"; dn("per_container_raw_kib"); "report"; true)),
      (select($d.density | length > 0)  | row("density-accounted"; "  accounted in meminfo counters (KiB)"; "KiB"; dn("accounted_per_container_kib"); "report"; true)),
      ($rssops[] as $op | select($d.rss[$op]) | row("rss-" + $op; "peak RSS \($op) (KiB)"; "KiB"; r($op); "<= 5120 KiB"; .runhcs <= 5120))
    ] as $rows
  | {timestamp: $stamp,
     host: {kernel: $kernel, cpus: $cpus, cgroups: $cgview, unified_hidden: $hidden,
            loadavg_start: $load0, loadavg_end: $load1},
     versions: {runhcs: $vrunhcs, crun: $vcrun, runc: $vrunc, hyperfine: $vhf},
     binaries: ($bins | split("\n") | map(select(length > 0) | split("=") | {key: .[0], value: {path: .[1], sha256: .[2]}}) | from_entries),
     method: {rounds: $rounds, runs_per_round: $runs, warmup: $warmup, settle_s: ($settle | tonumber),
              order: "per operation runhcs, crun, runc; reversed every other round",
              rss_runs: $rss_runs, containers: $containers, quick: ($quick == 1), only: $only,
              bundle: "busybox-static rootfs (scripts/make-bundle.sh), one config.json from runc spec, readonly root, terminal false",
              elapsed_s: $elapsed},
     metrics: $rows,
     summary: {passed: ($rows | map(select(.result | startswith("PASS"))) | length),
               failed: ($rows | map(select(.result | startswith("FAIL"))) | length)},
     raw: $d}' "$DATA/raw.jsonl") || die "could not assemble results"

mkdir -p "$HERE/results"
OUT="$HERE/results/$STAMP.json"
printf '%s\n' "$RESULT" >"$OUT"

# ---------------------------------------------------------------------------------------------
echo
echo "## runhcs vs crun vs runc ($STAMP)"
echo
echo "$(ver runhcs) | $(ver crun) | $(ver runc) | kernel $(uname -r), $(nproc) CPUs | $CGVIEW"
echo "Timings: hyperfine -N, warmup $WARMUP, $ROUNDS round(s) x $RUNS runs (run, create: $((RUNS * 2))) per runtime and operation; a cell is the median"
echo "of the per-round medians. Per operation the runtimes run one after another, runhcs,crun,runc in odd rounds"
echo "and reversed in even rounds, with a ${SETTLE}s pause after each batch.$(want density && echo " Density: $CONTAINERS containers,")"
want density && echo "same order rule over $(( ROUNDS < 2 ? ROUNDS : 2 )) round(s); rate: best round; memory: median over quiet rounds."
want rss && echo "Peak RSS: median of $RSS_RUNS runs (GNU time %M)."
echo "Same bundle and config.json for all; container state in $BASE/<runtime>. Elapsed ${ELAPSED}s;"
echo "load average at start $LOAD0, at end $LOAD1 (others' work on this host shows up here)."
echo
printf '%s' "$RESULT" | jq -r '.metrics[] | [.label, .unit, .runhcs, .crun, .runc, .ratio_crun, .ratio_runc, .floor, .result]
  | map(if . == null then "-" else tostring end) | @tsv' |
awk -F'\t' '
  function num(v, unit) { if (v == "-") return "-"; if (unit == "ms") return sprintf("%.2f", v);
                          if (unit == "/s") return sprintf("%.1f", v); return sprintf("%.0f", v) }
  function rat(v) { return v == "-" ? "-" : sprintf("%.2f", v) }
  BEGIN { printf "| %-42s | %9s | %9s | %9s | %11s | %11s | %-17s | %-6s |\n", "metric", "runhcs", "crun", "runc", "runhcs/crun", "runhcs/runc", "floor", "result"
          printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n", "--------------------------------------------", "----------:", "----------:", "----------:", "------------:", "------------:", "-------------------", "--------" }
  { printf "| %-42s | %9s | %9s | %9s | %11s | %11s | %-17s | %-6s |\n", $1, num($3, $2), num($4, $2), num($5, $2), rat($6), rat($7), $8, $9 }'
echo
printf '%s' "$RESULT" | jq -r '.raw.density | to_entries[] | select(.value.noisy)
  | "note: density \(.key): round(s) \(.value.rounds | map(select(.noisy) | .round) | join(",")) noisy (memory not back within \($drift) KiB after delete, or other processes\u0027 anon+shmem moved by more); quietest of \(.value.rounds | map(.attempts) | join("+")) attempts kept; value from round(s) \(.value.rounds_used | join(","))"' --argjson drift "$DRIFT"
printf '%s' "$RESULT" | jq -r '.raw.timing | to_entries[] | .key as $op | .value | to_entries[] | select(.value.errors > 0)
  | "errors: \($op) \(.key): \(.value.errors) of \(.value.n + .value.errors) runs exited non-zero (\(.value.error_codes)); excluded from the median\(if .key == "runhcs" then " (* in the table)" else "" end)"'

printf '%s' "$RESULT" | jq -r '.raw.failures[] | "failure: \(.op) \(.rt): \(.message | gsub("\n"; " "))"'
printf '%s' "$RESULT" | jq -r '"floors: \(.summary.passed) passed, \(.summary.failed) failed"'
echo "raw numbers: $OUT"
exit 0
