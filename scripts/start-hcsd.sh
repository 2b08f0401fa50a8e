#!/bin/sh
# Starts hcsd on /run/hcs/hcs.sock: as a systemd unit where systemd runs the machine, otherwise
# in the background with its log in /var/log/hcsd.log. A running hcsd is restarted (the new
# binary takes over; containers live in hcs-monitor and are not touched).
set -eu
PREFIX="${PREFIX:-/usr/local}"
SOCKET="${HCS_SOCKET:-/run/hcs/hcs.sock}"
if [ -d /run/systemd/system ]; then
  install -D -m 0644 "$(dirname "$0")/../packaging/hcsd.service" /etc/systemd/system/hcsd.service
  systemctl daemon-reload
  systemctl enable hcsd >/dev/null 2>&1 || true
  systemctl restart hcsd
else
  if [ -f /run/hcs/hcsd.pid ] && kill -0 "$(cat /run/hcs/hcsd.pid)" 2>/dev/null; then
    kill "$(cat /run/hcs/hcsd.pid)"
    while kill -0 "$(cat /run/hcs/hcsd.pid)" 2>/dev/null; do sleep 0.1; done
  fi
  mkdir -p /run/hcs
  setsid "$PREFIX/bin/hcsd" --socket "$SOCKET" </dev/null >>/var/log/hcsd.log 2>&1 &
  echo $! > /run/hcs/hcsd.pid
fi
i=0
until curl -sf --unix-socket "$SOCKET" http://hcs/v2/service >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 300 ]; then echo "start-hcsd: hcsd did not answer on $SOCKET (see /var/log/hcsd.log)" >&2; exit 1; fi
  sleep 0.1
done
echo "start-hcsd: hcsd is serving $SOCKET"
