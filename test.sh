#!/bin/sh
# Quick start, step 2: run every test (unit, kernel integration, end to end with podman and
# containerd). Installs what is missing first, so it also works on a fresh clone (this is what CI runs).
set -eu
cd "$(dirname "$0")"
scripts/install-deps.sh
scripts/build.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
log=$(mktemp)
trap 'rm -f "$log" "$log.rc"' EXIT
status=0
for project in tests/Hcs.Tests.Unit tests/Hcs.Tests.Integration; do
  # the log is kept to repeat the failures at the end, where a reader of the last lines sees them
  { dotnet test "$project" -c Release --no-build -v q --logger "console;verbosity=normal" || echo "hcs-test-failed" >> "$log.rc"; } 2>&1 | tee -a "$log"
done
if [ -e "$log.rc" ]; then
  rm -f "$log.rc"
  status=1
  echo
  echo "==== failed tests (repeated from above) ===="
  # each failure as the console logger printed it: its name, message and stack, up to the next test
  awk '/^  Failed / {show=1} /^  (Passed|Skipped) |^Test Run|^Total tests|^Results File|^A total of/ {show=0} show' "$log" | head -300
fi
exit $status
