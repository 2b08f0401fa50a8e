#!/bin/sh
# Quick start, step 2: run every test (unit, kernel integration, end to end with podman and
# containerd). Installs what is missing first, so it also works on a fresh clone (this is what CI runs).
set -eu
cd "$(dirname "$0")"
scripts/install-deps.sh
scripts/build.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
status=0
for project in tests/Hcs.Tests.Unit tests/Hcs.Tests.Integration; do
  dotnet test "$project" -c Release --no-build -v q --logger "console;verbosity=normal" || status=1
done
exit $status
