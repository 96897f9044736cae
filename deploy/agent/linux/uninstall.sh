#!/bin/sh
# Removes the mamori agent, but only with the uninstall code the collector issued for this device.
#
#   sudo /opt/mamori-agent/current/uninstall.sh --code CODE [--prefix /opt/mamori-agent]
#                     [--state-dir DIR] [--root DIR] [--no-systemd] [--keep-state]
#
# The code is presented to the collector first (`mamori-agent uninstall --code`); the collector
# records the attempt whatever its outcome. A refused code removes nothing (exit 1). An accepted one
# revokes the agent at the collector; then the service is stopped and disabled, and the unit,
# /usr/local/bin/mamori-agent, the prefix and the state folder (its key and spool belong to the
# revoked identity) are removed. --keep-state keeps the state folder. --state-dir defaults to the one
# install.sh recorded in <prefix>/install.conf. --root and --no-systemd as for install.sh.
# Exit codes: 0 removed, 1 refused or failed, 2 bad usage.
set -eu

usage() {
  sed -n '4,5p' "$0" | sed 's/^# *//' >&2
  exit 2
}
fail() {
  echo "uninstall.sh: $*" >&2
  exit 1
}

code='' prefix=/opt/mamori-agent state_dir='' root='' systemd=yes keep_state=no
while [ $# -gt 0 ]; do
  case "$1" in
    --code) [ $# -ge 2 ] || usage; code=$2; shift 2 ;;
    --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
    --state-dir) [ $# -ge 2 ] || usage; state_dir=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || usage; root=${2%/}; shift 2 ;;
    --no-systemd) systemd=no; shift ;;
    --keep-state) keep_state=yes; shift ;;
    -h|--help) usage ;;
    *) echo "uninstall.sh: unknown option $1" >&2; usage ;;
  esac
done
[ -n "$code" ] || { echo "uninstall.sh: --code CODE is required (IT issues one per device)" >&2; exit 2; }
case "$prefix" in /*) ;; *) echo "uninstall.sh: --prefix must be an absolute path" >&2; exit 2 ;; esac
if [ -n "$root" ]; then
  [ -d "$root" ] || fail "--root $root is not a folder"
  root=$(CDPATH='' cd -- "$root" && pwd -P)
elif [ "$(id -u)" != 0 ]; then
  fail "run as root, or give --root DIR"
fi

dest="$root$prefix"
[ -f "$dest/install.conf" ] || fail "$dest/install.conf does not exist: is the agent installed in $prefix?"
if [ -z "$state_dir" ]; then
  state_dir=$(sed -n 's/^STATE_DIR=//p' "$dest/install.conf")
  [ -n "$state_dir" ] || fail "$dest/install.conf names no STATE_DIR; give --state-dir"
fi
state="$root$state_dir"

# 1. The collector decides. Nothing is removed unless it accepted the code.
"$dest/current/bin/mamori-agent" uninstall --code "$code" --state-dir "$state" || fail "the collector did not accept the uninstall code; nothing was removed"

# 2. Stop and remove the service.
unit="$root/etc/systemd/system/mamori-agent.service"
if [ "$systemd" = yes ] && [ -d /run/systemd/system ]; then
  systemctl disable --now mamori-agent.service || echo "uninstall.sh: could not stop the service; removing its files anyway" >&2
fi
rm -f "$unit"
if [ "$systemd" = yes ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi

# 3. Remove the files (the link only when it is ours).
link="$root/usr/local/bin/mamori-agent"
if [ -L "$link" ] && [ "$(readlink "$link")" = "$prefix/current/bin/mamori-agent" ]; then
  rm -f "$link"
fi
# The prefix holds the releases, the boot script and the upgrade records.
rm -rf "$dest"
# A download of an upgrade in progress is no state worth keeping.
rm -rf "$state/upgrade"
if [ "$keep_state" = no ]; then
  rm -rf "$state"
  echo "uninstall.sh: mamori-agent removed from $prefix, state folder $state_dir removed"
else
  echo "uninstall.sh: mamori-agent removed from $prefix, state folder $state_dir kept"
fi
