#!/bin/sh
# make-bundle.sh DIR [ARGS...]: an OCI bundle whose rootfs is busybox-static, with a config.json
# from `runhcs spec` that runs ARGS (default: sh) without a terminal.
set -eu
DIR="$1"; shift
"$(dirname "$0")/busybox-rootfs.sh" "$DIR/rootfs"
rm -f "$DIR/config.json"
runhcs spec --bundle "$DIR"
[ $# -gt 0 ] || set -- sh
args=$(printf '%s\n' "$@" | jq -R . | jq -s -c .)
jq --argjson args "$args" '.process.args = $args | .process.terminal = false | .hostname = "busybox"' \
  "$DIR/config.json" > "$DIR/config.json.new"
mv "$DIR/config.json.new" "$DIR/config.json"
