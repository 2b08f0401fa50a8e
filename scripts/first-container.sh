#!/bin/sh
# Makes a busybox image from Debian's busybox-static (no registry needed) and imports it into
# hcsd's image store, then runs a first container from it with the hcs CLI, and one with runhcs,
# the OCI runtime, from a bundle.
set -eu
HERE="$(dirname "$0")"
BUNDLE="${1:-/var/lib/hcs/bundles/busybox}"
"$HERE/make-bundle.sh" "$BUNDLE" sh -c 'echo "hello from a runhcs container: hostname $(hostname), pid $$"'
runhcs run --bundle "$BUNDLE" "first-$$"
"$HERE/start-hcsd.sh"
IMAGE=/var/lib/hcs/busybox-image.tar
"$HERE/busybox-image.sh" "$IMAGE"
hcs image import "$IMAGE" --reference busybox
hcs run --rm busybox sh -c 'echo "hello from an hcs container: hostname $(hostname), pid $$"'
