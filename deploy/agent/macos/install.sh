#!/bin/sh
# Installs the mamori agent on macOS from this unpacked bundle, enrolls it and starts it as a
# launchd daemon (no .pkg needed).
#
#   sudo ./install.sh --server HOST:PORT --token TOKEN [--zone ZONE] [--prefix /usr/local/mamori-agent]
#                     [--state-dir "/Library/Application Support/mamori-agent"] [--root DIR] [--no-launchd]
#
# Layout as on Linux: <prefix>/releases/<bundle name>/ holds this bundle, <prefix>/current points at
# it, /usr/local/bin/mamori-agent points at <prefix>/current/bin/mamori-agent, <prefix>/install.conf
# records the options for uninstall.sh. The daemon's plist goes to /Library/LaunchDaemons, its
# log to /Library/Logs/mamori-agent/agent.log. --root DIR installs under DIR instead of / (an
# image being prepared, or a test); --no-launchd writes the plist but runs no launchctl.
# --zone ZONE: the network zone (defined at the collector) this Mac must be in, set at enrollment;
# ignored when the Mac is already enrolled (the console changes an enrolled device's zone).
# Exit codes: 0 installed, 1 failed, 2 bad usage.
set -eu

LABEL=jp.mamori.agent

usage() {
  sed -n '5,6p' "$0" | sed 's/^# *//' >&2
  exit 2
}
fail() {
  echo "install.sh: $*" >&2
  exit 1
}

server='' token='' zone='' prefix=/usr/local/mamori-agent state_dir='/Library/Application Support/mamori-agent'
log_dir=/Library/Logs/mamori-agent root='' launchd=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --server) [ $# -ge 2 ] || usage; server=$2; shift 2 ;;
    --token) [ $# -ge 2 ] || usage; token=$2; shift 2 ;;
    --zone) [ $# -ge 2 ] || usage; zone=$2; shift 2 ;;
    --prefix) [ $# -ge 2 ] || usage; prefix=${2%/}; shift 2 ;;
    --state-dir) [ $# -ge 2 ] || usage; state_dir=${2%/}; shift 2 ;;
    --root) [ $# -ge 2 ] || usage; root=${2%/}; shift 2 ;;
    --no-launchd) launchd=no; shift ;;
    -h|--help) usage ;;
    *) echo "install.sh: unknown option $1" >&2; usage ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be an absolute path" >&2; exit 2 ;; esac
case "$state_dir" in /*) ;; *) echo "install.sh: --state-dir must be an absolute path" >&2; exit 2 ;; esac
# The paths go into the plist through sed and into install.conf: refuse the characters that would
# need escaping there rather than escape them.
for path in "$prefix" "$state_dir"; do
  case "$path" in *'|'*|*'&'*|*\\*|*'<'*|*'>'*|*'"'*|*"'"*|*'$'*|*'`'*) echo "install.sh: unsupported character in $path" >&2; exit 2 ;; esac
done
if [ -n "$server" ]; then
  case "$server" in *:*) ;; *) echo "install.sh: --server must be HOST:PORT" >&2; exit 2 ;; esac
fi
if [ -n "$root" ]; then
  [ -d "$root" ] || fail "--root $root is not a folder"
  root=$(CDPATH='' cd -- "$root" && pwd -P)
elif [ "$(id -u)" != 0 ]; then
  fail "run as root (sudo): the agent's state and daemon are system-wide; or give --root DIR"
fi

bundle=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
if [ ! -x "$bundle/bin/mamori-agent" ] || [ ! -f "$bundle/MANIFEST.sha256" ] || [ ! -f "$bundle/$LABEL.plist" ]; then
  fail "$bundle is not an unpacked macOS mamori-agent bundle"
fi
name=$(basename "$bundle")
version=$(cat "$bundle/VERSION")

# The bundle must be intact before anything is installed from it (shasum ships with macOS).
(cd "$bundle" && shasum -a 256 --quiet --strict -c MANIFEST.sha256) || fail "$bundle does not match its MANIFEST.sha256; unpack it again"

dest="$root$prefix"
state="$root$state_dir"
already_enrolled=no
[ -f "$state/agent.json" ] && already_enrolled=yes
if [ "$already_enrolled" = no ]; then
  [ -n "$server" ] || fail "--server HOST:PORT is required (this Mac is not enrolled yet)"
  [ -n "$token" ] || fail "--token TOKEN is required (this Mac is not enrolled yet)"
fi

# 1. The release folder, copied beside the others and checked, then made current.
mkdir -p "$dest/releases"
chmod 0755 "$dest" "$dest/releases"
if [ ! -d "$dest/releases/$name" ]; then
  rm -rf "$dest/releases/.$name.partial"
  cp -R "$bundle" "$dest/releases/.$name.partial"
  (cd "$dest/releases/.$name.partial" && shasum -a 256 --quiet --strict -c MANIFEST.sha256) ||
    fail "the copy in $dest/releases does not match the manifest"
  mv "$dest/releases/.$name.partial" "$dest/releases/$name"
fi
# -n (BSD: same as -h) replaces the link itself rather than writing into the folder it points at.
ln -sfn "releases/$name" "$dest/current"

# 2. The state folder (identity, private key, spool): root only. The log folder likewise.
mkdir -p "$state" "$root$log_dir"
chmod 0700 "$state" "$root$log_dir"
if [ "$(id -u)" = 0 ]; then chown root:wheel "$state" "$root$log_dir" 2>/dev/null || chown root "$state" "$root$log_dir"; fi

cat > "$dest/install.conf" <<CONF
# Written by install.sh; read by uninstall.sh.
PREFIX='$prefix'
STATE_DIR='$state_dir'
LOG_DIR='$log_dir'
VERSION='$version'
CONF

mkdir -p "$root/usr/local/bin"
ln -sfn "$prefix/current/bin/mamori-agent" "$root/usr/local/bin/mamori-agent"

# 3. Enrollment (skipped when the state folder already holds an identity: a reinstall or upgrade).
if [ "$already_enrolled" = yes ]; then
  echo "install.sh: $state_dir already holds an enrollment; keeping it"
  [ -z "$zone" ] || echo "install.sh: --zone $zone ignored: this Mac is already enrolled; change the zone an enrolled device must be in from the console (device details) or PATCH /api/v1/agents/<id>/required-zone" >&2
elif [ -n "$zone" ]; then
  "$dest/current/bin/mamori-agent" enroll --server "$server" --token "$token" --zone "$zone" --state-dir "$state" ||
    fail "enrollment failed (see above); the files stay installed, run install.sh again"
else
  "$dest/current/bin/mamori-agent" enroll --server "$server" --token "$token" --state-dir "$state" ||
    fail "enrollment failed (see above); the files stay installed, run install.sh again"
fi

# 4. The launchd daemon.
daemons="$root/Library/LaunchDaemons"
plist="$daemons/$LABEL.plist"
mkdir -p "$daemons"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@STATE_DIR@|$state_dir|g" -e "s|@LOG_DIR@|$log_dir|g" "$bundle/$LABEL.plist" > "$plist.new"
chmod 0644 "$plist.new"
if [ "$(id -u)" = 0 ]; then chown root:wheel "$plist.new" 2>/dev/null || chown root "$plist.new"; fi
if command -v plutil >/dev/null 2>&1; then plutil -lint "$plist.new" >/dev/null || fail "$plist.new is not a valid plist"; fi
mv -f "$plist.new" "$plist"
if [ "$launchd" = yes ]; then
  command -v launchctl >/dev/null 2>&1 || fail "launchctl is missing: this is not macOS; use --no-launchd"
  # A loaded older daemon is unloaded first; bootstrap then loads the new plist and RunAtLoad starts it.
  launchctl bootout "system/$LABEL" 2>/dev/null || true
  launchctl enable "system/$LABEL"
  launchctl bootstrap system "$plist" || fail "launchctl bootstrap system $plist failed"
  echo "install.sh: mamori-agent $version installed in $prefix and started (sudo launchctl print system/$LABEL)"
else
  echo "install.sh: mamori-agent $version installed in $root$prefix; not started (--no-launchd)"
fi
