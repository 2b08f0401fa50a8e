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
install -D -m 0755 -s artifacts/native/hcs-zygote "$PREFIX/lib/hcs/hcs-zygote"
echo "build: installed $PREFIX/lib/hcs/hcs-zygote"
dotnet publish src/Hcs.Cli/Hcs.Cli.csproj -c Release -r linux-x64 -v q -nologo -o artifacts/publish/hcs
install -m 0755 artifacts/publish/hcs/hcs "$PREFIX/bin/hcs" && echo "build: installed $PREFIX/bin/hcs"
dotnet publish src/Hcs.Monitor/Hcs.Monitor.csproj -c Release -r linux-x64 -v q -nologo -o artifacts/publish/hcs-monitor
install -m 0755 artifacts/publish/hcs-monitor/hcs-monitor "$PREFIX/bin/hcs-monitor"
echo "build: installed $PREFIX/bin/hcs-monitor"
# hcsd: NativeAOT like the rest; its directory also holds SQLite's native library, which it
# loads from beside its real path (bin/hcsd is a symlink).
rm -rf artifacts/publish/hcsd
dotnet publish src/Hcs.Daemon/Hcs.Daemon.csproj -c Release -r linux-x64 -v q -nologo -o artifacts/publish/hcsd
rm -rf "$PREFIX/lib/hcs/hcsd" && mkdir -p "$PREFIX/lib/hcs/hcsd"
install -m 0755 artifacts/publish/hcsd/hcsd "$PREFIX/lib/hcs/hcsd/hcsd"
install -m 0644 artifacts/publish/hcsd/libe_sqlite3.so "$PREFIX/lib/hcs/hcsd/libe_sqlite3.so"
rm -f "$PREFIX/bin/hcsd" && ln -s "$PREFIX/lib/hcs/hcsd/hcsd" "$PREFIX/bin/hcsd"
echo "build: installed $PREFIX/bin/hcsd"
