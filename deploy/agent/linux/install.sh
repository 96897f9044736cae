#!/bin/sh
# Installs the mamori agent from this unpacked bundle, enrolls it and starts it under systemd.
#
#   sudo ./install.sh --server HOST:PORT --token TOKEN [--zone ZONE] [--prefix /opt/mamori-agent]
#                     [--state-dir /var/lib/mamori-agent] [--root DIR] [--no-systemd]
#
# Layout: <prefix>/releases/<bundle name>/ holds this bundle, <prefix>/current points at it (swapped
# with one rename, so a later version replaces it atomically), /usr/local/bin/mamori-agent points at
# <prefix>/current/bin/mamori-agent, <prefix>/install.conf records the options for uninstall.sh,
# <prefix>/boot/mamori-agent-boot starts the agent (and rolls back a failed upgrade; its SHA-256 in
# <prefix>/boot/mamori-agent-boot.sha256), <prefix>/upgrade holds its records.
# --zone ZONE: the network zone (defined at the collector) this device must be in, set at enrollment;
# ignored when the host is already enrolled (the console changes an enrolled device's zone).
# --root DIR installs under DIR instead of / (a chroot-like tree; the unit and the records still name
# the paths as seen from inside it). --no-systemd installs the unit file but runs no systemctl.
# Exit codes: 0 installed, 1 failed, 2 bad usage.
set -eu

usage() {
  sed -n '4,5p' "$0" | sed 's/^# *//' >&2
  exit 2
}
fail() {
  echo "install.sh: $*" >&2
  exit 1
}

server='' token='' zone='' prefix=/opt/mamori-agent state_dir=/var/lib/mamori-agent root='' systemd=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --server) [ $# -ge 2 ] || usage; server=$2; shift 2 ;;
    --token) [ $# -ge 2 ] || usage; token=$2; shift 2 ;;
    --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
    --state-dir) [ $# -ge 2 ] || usage; state_dir=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || usage; root=${2%/}; shift 2 ;;
    --no-systemd) systemd=no; shift ;;
    --zone) [ $# -ge 2 ] || usage; zone=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "install.sh: unknown option $1" >&2; usage ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be an absolute path" >&2; exit 2 ;; esac
case "$state_dir" in /*) ;; *) echo "install.sh: --state-dir must be an absolute path" >&2; exit 2 ;; esac
if [ -n "$root" ]; then
  [ -d "$root" ] || fail "--root $root is not a folder"
  root=$(CDPATH='' cd -- "$root" && pwd -P)
elif [ "$(id -u)" != 0 ]; then
  fail "run as root (the agent's state and unit are system-wide), or give --root DIR"
fi

bundle=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
if [ ! -x "$bundle/bin/mamori-agent" ] || [ ! -f "$bundle/MANIFEST.sha256" ]; then fail "$bundle is not an unpacked mamori-agent bundle"; fi
name=$(basename "$bundle")
version=$(cat "$bundle/VERSION")

# The bundle must be intact before anything is installed from it.
(cd "$bundle" && sha256sum --quiet --strict -c MANIFEST.sha256) || fail "$bundle does not match its MANIFEST.sha256; unpack it again"

dest="$root$prefix"
state="$root$state_dir"
agent="$dest/current/bin/mamori-agent"
already_enrolled=no
[ -f "$state/agent.json" ] && already_enrolled=yes
if [ "$already_enrolled" = no ]; then
  [ -n "$server" ] || fail "--server HOST:PORT is required (this host is not enrolled yet)"
  [ -n "$token" ] || fail "--token TOKEN is required (this host is not enrolled yet)"
fi

# 1. The release folder, copied beside the others and checked, then made current with one rename.
mkdir -p "$dest/releases"
chmod 0755 "$dest" "$dest/releases"
if [ ! -d "$dest/releases/$name" ]; then
  rm -rf "$dest/releases/.$name.partial"
  cp -R "$bundle" "$dest/releases/.$name.partial"
  (cd "$dest/releases/.$name.partial" && sha256sum --quiet --strict -c MANIFEST.sha256) || fail "the copy in $dest/releases does not match the manifest"
  mv "$dest/releases/.$name.partial" "$dest/releases/$name"
fi
ln -sfn "releases/$name" "$dest/.current.new"
mv -T "$dest/.current.new" "$dest/current"
# The boot script, outside every release: the unit starts the agent through it, and it puts the
# previous release back when an upgraded one does not come up (README "Upgrades").
mkdir -p "$dest/boot" "$dest/upgrade"
chmod 0755 "$dest/boot" "$dest/upgrade"
cp "$bundle/boot/mamori-agent-boot.sh" "$dest/boot/.mamori-agent-boot.new"
chmod 0755 "$dest/boot/.mamori-agent-boot.new"
# Its SHA-256 beside it, like unit.sha256 for the unit: the agent reports a boot script that differs
# (it decides what the service runs, and no release manifest covers it). The script first, then its
# record, each with one rename: a running agent checks the pair once both are in place.
printf '%s  %s\n' "$(sha256sum < "$dest/boot/.mamori-agent-boot.new" | cut -d' ' -f1)" "$prefix/boot/mamori-agent-boot" > "$dest/boot/.mamori-agent-boot.sha256.new"
chmod 0644 "$dest/boot/.mamori-agent-boot.sha256.new"
mv -f "$dest/boot/.mamori-agent-boot.new" "$dest/boot/mamori-agent-boot"
mv -f "$dest/boot/.mamori-agent-boot.sha256.new" "$dest/boot/mamori-agent-boot.sha256"

# 2. The state folder: owner-only, the private key and the spool live there.
mkdir -p "$state"
chmod 0700 "$state"
[ "$(id -u)" = 0 ] && chown root:root "$state"

cat > "$dest/install.conf" <<EOF
# Written by install.sh; read by uninstall.sh.
PREFIX=$prefix
STATE_DIR=$state_dir
VERSION=$version
EOF

mkdir -p "$root/usr/local/bin"
ln -sfn "$prefix/current/bin/mamori-agent" "$root/usr/local/bin/mamori-agent"

# 3. Enrollment (skipped when this state folder already holds an identity: a reinstall or upgrade).
if [ "$already_enrolled" = yes ]; then
  echo "install.sh: $state_dir already holds an enrollment; keeping it"
  [ -z "$zone" ] || echo "install.sh: --zone $zone ignored: this host is already enrolled; change the zone an enrolled device must be in from the console (device details) or PATCH /api/v1/agents/<id>/required-zone" >&2
elif [ -n "$zone" ]; then
  "$agent" enroll --server "$server" --token "$token" --zone "$zone" --state-dir "$state" || fail "enrollment failed (see above); the files stay installed, run install.sh again"
else
  "$agent" enroll --server "$server" --token "$token" --state-dir "$state" || fail "enrollment failed (see above); the files stay installed, run install.sh again"
fi

# 4. The systemd unit.
unit_dir="$root/etc/systemd/system"
mkdir -p "$unit_dir"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@STATE_DIR@|$state_dir|g" "$bundle/systemd/mamori-agent.service" > "$unit_dir/mamori-agent.service"
chmod 0644 "$unit_dir/mamori-agent.service"
# The unit as written, so the agent can tell an edited unit (capabilities removed, an ExecStartPre
# added) from this one; the path is the one seen from inside --root, like install.conf's.
printf '%s  %s\n' "$(sha256sum < "$unit_dir/mamori-agent.service" | cut -d' ' -f1)" /etc/systemd/system/mamori-agent.service > "$dest/unit.sha256"
if [ "$systemd" = yes ]; then
  [ -d /run/systemd/system ] || fail "systemd is not running here; the unit is in $unit_dir, start the agent another way or use --no-systemd"
  systemctl daemon-reload
  systemctl enable mamori-agent.service
  systemctl restart mamori-agent.service
  echo "install.sh: mamori-agent $version installed in $prefix and started (systemctl status mamori-agent)"
else
  echo "install.sh: mamori-agent $version installed in $root$prefix; not started (--no-systemd)"
fi
