#!/bin/sh
# Builds everything and installs the NativeAOT binaries into /usr/local/bin (or $PREFIX/bin).
set -eu
cd "$(dirname "$0")/.."
PREFIX="${PREFIX:-/usr/local}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

dotnet build hcs.slnx -c Release -v q -nologo
dotnet publish src/Hcs.Runhcs/Hcs.Runhcs.csproj -c Release -r linux-x64 -v q -nologo -o artifacts/publish/runhcs
install -m 0755 artifacts/publish/runhcs/runhcs "$PREFIX/bin/runhcs"
echo "build: installed $PREFIX/bin/runhcs"
install -D -m 0755 artifacts/native/hcs-pause "$PREFIX/lib/hcs/hcs-pause"
echo "build: installed $PREFIX/lib/hcs/hcs-pause"
dotnet publish src/Hcs.Cli/Hcs.Cli.csproj -c Release -r linux-x64 -v q -nologo -o artifacts/publish/hcs
install -m 0755 artifacts/publish/hcs/hcs "$PREFIX/bin/hcs" && echo "build: installed $PREFIX/bin/hcs"
dotnet publish src/Hcs.Monitor/Hcs.Monitor.csproj -c Release -r linux-x64 -v q -nologo -o artifacts/publish/hcs-monitor
install -m 0755 artifacts/publish/hcs-monitor/hcs-monitor "$PREFIX/bin/hcs-monitor"
echo "build: installed $PREFIX/bin/hcs-monitor"
# hcsd runs on the shared ASP.NET Core runtime, its own assemblies precompiled (ReadyToRun; see
# Hcs.Daemon.csproj); a small launcher in bin.
rm -rf artifacts/publish/hcsd
dotnet publish src/Hcs.Daemon/Hcs.Daemon.csproj -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
  -v q -nologo -o artifacts/publish/hcsd
rm -rf "$PREFIX/lib/hcs/hcsd" && mkdir -p "$PREFIX/lib/hcs" && cp -r artifacts/publish/hcsd "$PREFIX/lib/hcs/hcsd"
# No diagnostics IPC (debugger pipes and the diagnostic socket in /tmp): a root daemon needs no
# such door, and an hcsd that is killed would leave them behind. Run lib/hcs/hcsd/hcsd itself
# to attach dotnet-trace or a debugger.
printf '#!/bin/sh\nDOTNET_EnableDiagnostics=0 exec "%s/lib/hcs/hcsd/hcsd" "$@"\n' "$PREFIX" > "$PREFIX/bin/hcsd" && chmod 0755 "$PREFIX/bin/hcsd"
echo "build: installed $PREFIX/bin/hcsd"
