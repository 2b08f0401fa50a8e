#!/bin/sh
# make-bundle.sh DIR [ARGS...]: an OCI bundle whose rootfs is busybox-static, with a config.json
# from `runhcs spec` that runs ARGS (default: sh) without a terminal.
set -eu
DIR="$1"; shift
mkdir -p "$DIR/rootfs/bin" "$DIR/rootfs/etc" "$DIR/rootfs/tmp" "$DIR/rootfs/proc" "$DIR/rootfs/sys" "$DIR/rootfs/dev"
cp /bin/busybox "$DIR/rootfs/bin/busybox"
for applet in $("$DIR/rootfs/bin/busybox" --list); do
  [ -e "$DIR/rootfs/bin/$applet" ] || ln -s busybox "$DIR/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$DIR/rootfs/etc/passwd"
echo "root:x:0:" > "$DIR/rootfs/etc/group"
rm -f "$DIR/config.json"
runhcs spec --bundle "$DIR"
[ $# -gt 0 ] || set -- sh
args=$(printf '%s\n' "$@" | jq -R . | jq -s -c .)
jq --argjson args "$args" '.process.args = $args | .process.terminal = false | .hostname = "busybox"' \
  "$DIR/config.json" > "$DIR/config.json.new"
mv "$DIR/config.json.new" "$DIR/config.json"
