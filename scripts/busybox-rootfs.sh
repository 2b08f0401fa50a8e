#!/bin/sh
# busybox-rootfs.sh DIR: a root filesystem of Debian's busybox-static in DIR: /bin/busybox and a
# symlink per applet, /etc/passwd and /etc/group (root, nobody), the usual empty directories.
# Shared by make-bundle.sh (runhcs bundles) and busybox-image.sh (the default image).
set -eu
R="$1"
mkdir -p "$R/bin" "$R/etc" "$R/root" "$R/home" "$R/proc" "$R/sys" "$R/dev" "$R/var/tmp" "$R/tmp" "$R/usr/bin" "$R/sbin" "$R/usr/sbin"
chmod 1777 "$R/tmp" "$R/var/tmp"
chmod 0700 "$R/root"
cp /bin/busybox "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list); do
  [ -e "$R/bin/$applet" ] || ln -s busybox "$R/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
