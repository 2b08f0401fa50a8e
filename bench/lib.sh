# bench/lib.sh — helpers bench/run.sh and bench/hcsd.sh share (sourced; bash). They expect
# $ONLY (comma list of metrics, empty = all) and $DATA (a scratch directory) to be set by then.

die() { echo "bench: $*" >&2; exit 2; }
log() { printf '%s\n' "$*" >&2; }
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
median() { sort -g | awk '{a[NR]=$1} END{ if(NR==0) print ""; else if(NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

# Host memory in use, KiB, after `sync; echo 3 > drop_caches`, median of 3 readings. Prints two
# numbers: USED = MemTotal - MemAvailable - (free pages parked in per-CPU lists), and RAW =
# MemTotal - MemAvailable. Free pages in the per-CPU lists ("count:" in /proc/zoneinfo) are not in
# MemFree/MemAvailable; on this VM they swing between 0 and ~40 MB from one reading to the next,
# which alone would be +-200 KiB per container for 200 containers.
PAGE_KIB=$(( $(getconf PAGESIZE) / 1024 ))
mem_used() {
  local i
  for i in 1 2 3; do
    sync; echo 3 >/proc/sys/vm/drop_caches
    awk -v pg="$PAGE_KIB" 'FNR == NR { if ($1 == "count:") p += $2; next }
      /^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { print t - a - p * pg, t - a }' /proc/zoneinfo /proc/meminfo
    sleep 0.2
  done >"$DATA/mem.tmp"
  echo "$(cut -d' ' -f1 "$DATA/mem.tmp" | median) $(cut -d' ' -f2 "$DATA/mem.tmp" | median)"
}
meminfo_json() { awk '{sub(":","",$1); printf "%s\"%s\":%s", (NR>1?",":"{"), $1, $2} END{print "}"}' /proc/meminfo; }
# wait until memory in use is stable (< 1 MiB change over 1 s), at most ~8 s; prints "USED RAW"
settle_mem() {
  local a ar b br end=$((SECONDS + 8))
  read -r a ar < <(mem_used)
  while :; do
    sleep 1; read -r b br < <(mem_used)
    [ $(( b > a ? b - a : a - b )) -lt 1024 ] || [ $SECONDS -ge $end ] && break
    a=$b
  done
  echo "$b $br"
}

# ensure_hcsbench: sets HCSBENCH to bench/HcsBench's NativeAOT binary (unless the caller set it),
# published first when missing or older than its sources or the libraries it links.
ensure_hcsbench() {
  local repo here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  repo=$(dirname "$here")
  [ -n "${HCSBENCH:-}" ] && return 0
  HCSBENCH=$repo/artifacts/publish/hcs-bench/hcs-bench
  if [ ! -x "$HCSBENCH" ] || [ -n "$(find "$here/HcsBench" "$repo/src/Hcs.Images" "$repo/src/Hcs.Linux" "$repo/src/Hcs.Client" \
       "$repo/src/Hcs.Schema" \( -name '*.cs' -o -name '*.csproj' \) -not -path '*/obj/*' -newer "$HCSBENCH" -print -quit)" ]; then
    command -v dotnet >/dev/null || die "$HCSBENCH is missing and dotnet is not installed to build it"
    log "bench: publishing bench/HcsBench (NativeAOT) ..."
    flock /tmp/hcs-build.lock dotnet publish "$here/HcsBench/HcsBench.csproj" -c Release -r linux-x64 -v q -nologo \
      -o "$repo/artifacts/publish/hcs-bench" >&2 || die "could not publish bench/HcsBench"
  fi
  [ -x "$HCSBENCH" ] || die "$HCSBENCH not executable"
}
