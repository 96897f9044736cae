#!/bin/sh
# Removes the mamori agent from a Mac, but only with the uninstall code the collector issued for
# this device.
#
#   sudo /usr/local/mamori-agent/current/uninstall.sh --code CODE [--prefix /usr/local/mamori-agent]
#                     [--state-dir DIR] [--root DIR] [--no-launchd] [--keep-state]
#
# The code is presented to the collector first (`mamori-agent uninstall --code`); the collector
# records the attempt whatever its outcome. A refused code removes nothing (exit 1). An accepted one
# revokes the agent at the collector; then the daemon is booted out and its plist, the
# /usr/local/bin/mamori-agent link, the prefix, the logs and the state folder (its key and spool
# belong to the revoked identity) are removed. --keep-state keeps the state folder. --state-dir and
# the log folder default to those install.sh recorded in <prefix>/install.conf. --root and
# --no-launchd as for install.sh.
# Exit codes: 0 removed, 1 refused or failed, 2 bad usage.
set -eu

LABEL=jp.mamori.agent

usage() {
  sed -n '5,6p' "$0" | sed 's/^# *//' >&2
  exit 2
}
fail() {
  echo "uninstall.sh: $*" >&2
  exit 1
}

code='' prefix=/usr/local/mamori-agent state_dir='' root='' launchd=yes keep_state=no
while [ $# -gt 0 ]; do
  case "$1" in
    --code) [ $# -ge 2 ] || usage; code=$2; shift 2 ;;
    --prefix) [ $# -ge 2 ] || usage; prefix=${2%/}; shift 2 ;;
    --state-dir) [ $# -ge 2 ] || usage; state_dir=${2%/}; shift 2 ;;
    --root) [ $# -ge 2 ] || usage; root=${2%/}; shift 2 ;;
    --no-launchd) launchd=no; shift ;;
    --keep-state) keep_state=yes; shift ;;
    -h|--help) usage ;;
    *) echo "uninstall.sh: unknown option $1" >&2; usage ;;
  esac
done
if [ -z "$code" ]; then echo "uninstall.sh: --code CODE is required (IT issues one per device)" >&2; exit 2; fi
case "$prefix" in /*) ;; *) echo "uninstall.sh: --prefix must be an absolute path" >&2; exit 2 ;; esac
if [ -n "$root" ]; then
  [ -d "$root" ] || fail "--root $root is not a folder"
  root=$(CDPATH='' cd -- "$root" && pwd -P)
elif [ "$(id -u)" != 0 ]; then
  fail "run as root (sudo), or give --root DIR"
fi

dest="$root$prefix"
[ -f "$dest/install.conf" ] || fail "$dest/install.conf does not exist: is the agent installed in $prefix?"
# install.conf is written by install.sh as sh assignments (PREFIX, STATE_DIR, LOG_DIR, VERSION).
LOG_DIR=''
STATE_DIR=''
# shellcheck disable=SC1091
. "$dest/install.conf"
[ -n "$state_dir" ] || state_dir=$STATE_DIR
[ -n "$state_dir" ] || fail "$dest/install.conf names no STATE_DIR; give --state-dir"
state="$root$state_dir"

# 1. The collector decides. Nothing is removed unless it accepted the code.
"$dest/current/bin/mamori-agent" uninstall --code "$code" --state-dir "$state" ||
  fail "the collector did not accept the uninstall code; nothing was removed"

# 2. Stop the daemon and remove its plist.
plist="$root/Library/LaunchDaemons/$LABEL.plist"
if [ "$launchd" = yes ] && command -v launchctl >/dev/null 2>&1; then
  launchctl bootout "system/$LABEL" 2>/dev/null || echo "uninstall.sh: the daemon was not loaded" >&2
fi
rm -f "$plist"

# 3. Remove the files (the link only when it is ours).
link="$root/usr/local/bin/mamori-agent"
if [ -L "$link" ] && [ "$(readlink "$link")" = "$prefix/current/bin/mamori-agent" ]; then
  rm -f "$link"
fi
rm -rf "$dest"
[ -z "$LOG_DIR" ] || rm -rf "$root$LOG_DIR"
if [ "$keep_state" = no ]; then
  rm -rf "$state"
  echo "uninstall.sh: mamori-agent removed from $prefix, state folder $state_dir removed"
else
  echo "uninstall.sh: mamori-agent removed from $prefix, state folder $state_dir kept"
fi
