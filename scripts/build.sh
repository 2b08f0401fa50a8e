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
