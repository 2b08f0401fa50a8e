#!/bin/sh
# bench/prep.sh ACTION BIN ROOT ID BUNDLE
#
# Puts container ID of runtime BIN (state dir ROOT) into the state a timed operation needs.
# run.sh hands it to `hyperfine --prepare` (hyperfine -N runs --prepare without a shell, so
# this is a script of its own rather than an inline `sh -c '...'`) and calls it for set-up
# and tear-down. Never timed. The same steps are used for every runtime.
#
# ACTION   leaves the container ...
#   absent    not existing                            (before timed `run`, `create`)
#   created   created from BUNDLE, not started        (before timed `start`)
#   running   running BUNDLE's process (run -d)       (before `kill`, `delete --force`; exec)
#   stopped   created, started, killed (SIGKILL) and reported "stopped" by `state` (before `delete`)
#   unpaused  running, not paused (reused if it is)   (before `pause`)
#   paused    running and paused (reused if it is)    (before `resume`)
#
# Container stdio is /dev/null: a detached container must not hold hyperfine's pipes open.
# Exit status 0 on success; otherwise non-zero with a message (hyperfine then aborts that
# benchmark and run.sh reports it as failed).
set -u
[ $# -eq 5 ] || { echo "usage: prep.sh ACTION BIN ROOT ID BUNDLE" >&2; exit 2; }
action=$1 bin=$2 root=$3 id=$4 bundle=$5

R() { "$bin" --root "$root" "$@" </dev/null >/dev/null 2>&1; }
fail() { echo "prep.sh $action $bin $id: $*" >&2; exit 1; }
status() { "$bin" --root "$root" state "$id" 2>/dev/null </dev/null | jq -r '.status // empty' 2>/dev/null; }
wait_status() { # wait_status WANT: poll `state` up to 10 s
  i=0
  while [ "$(status)" != "$1" ]; do
    i=$((i + 1)); [ $i -le 1000 ] || fail "not $1 after 10 s (state: $(status))"
    sleep 0.01
  done
}
absent() { R delete --force "$id"; [ -z "$(status)" ] || fail "delete --force left it ($(status))"; }
running() { absent; R run --detach --bundle "$bundle" "$id" || fail "run --detach failed"; }

case "$action" in
  absent) absent ;;
  created) absent; R create --bundle "$bundle" "$id" || fail "create failed" ;;
  running) running ;;
  stopped) running; R kill "$id" KILL || fail "kill failed"; wait_status stopped ;;
  unpaused)
    case "$(status)" in
      running) ;;
      paused) R resume "$id" || fail "resume failed" ;;
      *) running ;;
    esac ;;
  paused)
    case "$(status)" in
      paused) ;;
      running) R pause "$id" || fail "pause failed" ;;
      *) running; R pause "$id" || fail "pause failed" ;;
    esac ;;
  *) fail "unknown action" ;;
esac
exit 0
