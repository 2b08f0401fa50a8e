#!/bin/sh
# busybox-image.sh OUT.tar: an OCI image layout (as a tar) of a busybox image made from Debian's
# busybox-static, with no registry. umoci builds the layer and the config; the image is named
# busybox:latest inside the layout (org.opencontainers.image.ref.name), so
# `hcs image import OUT.tar --reference busybox` stores it as docker.io/library/busybox:latest.
set -eu
OUT="$1"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
L="$WORK/layout"
umoci init --layout "$L"
umoci new --image "$L:latest"
umoci unpack --image "$L:latest" "$WORK/bundle" >/dev/null
R="$WORK/bundle/rootfs"
"$(dirname "$0")/busybox-rootfs.sh" "$R"
umoci repack --image "$L:latest" "$WORK/bundle" >/dev/null
umoci config --image "$L:latest" --os linux --architecture amd64 \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.cmd sh --author "hcs setup (busybox-static $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown))"
umoci gc --layout "$L"
tar -C "$L" -cf "$OUT" .
echo "busybox-image: wrote $OUT ($(du -h "$OUT" | cut -f1))"
