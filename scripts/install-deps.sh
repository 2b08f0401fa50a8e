#!/bin/sh
# Installs every system package hcs needs on Debian 12, and nothing more. Idempotent and quick
# when everything is already there (no apt-get update unless something is missing).
set -eu

PACKAGES="
  build-essential pkg-config libc6-dev linux-libc-dev
  libseccomp2 libseccomp-dev
  runc crun podman containerd
  busybox-static iproute2 nftables
  containernetworking-plugins
  hyperfine jq procps psmisc util-linux curl
  umoci skopeo docker-registry
  apache2-utils
  uidmap
"

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: run as root (apt-get, /usr/local/bin, cgroups)" >&2
  exit 1
fi

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-deps: installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "install-deps: the .NET 10 SDK is required (dotnet on PATH); it is not in Debian's archive." >&2
  exit 1
fi
