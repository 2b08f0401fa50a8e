#!/bin/sh
# Makes a busybox bundle from Debian's busybox-static and runs one container with runhcs.
set -eu
BUNDLE="${1:-/var/lib/hcs/bundles/busybox}"
"$(dirname "$0")/make-bundle.sh" "$BUNDLE" sh -c 'echo "hello from a runhcs container: hostname $(hostname), pid $$"'
runhcs run --bundle "$BUNDLE" "first-$$"
