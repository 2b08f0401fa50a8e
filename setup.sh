#!/bin/sh
# Quick start, step 1: install prerequisites (Debian 12, as root), build everything, install
# the binaries into /usr/local, start hcsd on /run/hcs/hcs.sock and run a first container.
set -eu
cd "$(dirname "$0")"
scripts/install-deps.sh
scripts/build.sh
scripts/first-container.sh
