#!/bin/sh
# Makes a busybox root filesystem from Debian's busybox-static, starts hcsd, and runs a first
# container through it with the hcs CLI (and one with runhcs, the OCI runtime, from a bundle).
set -eu
BUNDLE="${1:-/var/lib/hcs/bundles/busybox}"
"$(dirname "$0")/make-bundle.sh" "$BUNDLE" sh -c 'echo "hello from a runhcs container: hostname $(hostname), pid $$"'
runhcs run --bundle "$BUNDLE" "first-$$"
"$(dirname "$0")/start-hcsd.sh"
hcs run --rm --rootfs "$BUNDLE/rootfs" sh -c 'echo "hello from an hcs container: hostname $(hostname), pid $$"'
