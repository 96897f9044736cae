#!/bin/sh
# Starts usbguard-daemon inside the QEMU realism guest as the USB hot-plug benchmark's baseline
# (test/bench/usb-hotplug). Usage: usbguard-start.sh RUN_DIR ALLOWED_SERIAL
# The configuration is USBGuard's own defaults where they matter for the comparison:
#   AuthorizedDefault=none   every new device is born unauthorized (authorized_default=0 on the root hubs)
#   ImplicitPolicyTarget=block, Present/InsertedDevicePolicy=apply-policy
# Rules: `usbguard generate-policy` (only the xHCI root hubs are present when this runs) plus one
# allow rule for the "issued" stick, matched on QEMU's usb-storage id and its serial.
# The daemon runs with the flags of Debian's usbguard.service (-f forks, -c config), logging to a
# file instead of syslog; its FileAudit file is the decision log the benchmark's monitor reads.
# The pid is written to RUN_DIR/usbguard.pid. Exit 0 once `usbguard list-devices` answers.
set -eu
U=${1:?usage: usbguard-start.sh RUN_DIR ALLOWED_SERIAL}
SERIAL=${2:?usage: usbguard-start.sh RUN_DIR ALLOWED_SERIAL}
command -v usbguard-daemon >/dev/null || { echo "usbguard-daemon is not installed (Debian: usbguard)" >&2; exit 3; }
mkdir -p "$U"; chmod 700 "$U"
usbguard generate-policy > "$U/rules.conf" 2> "$U/generate-policy.err"
echo "allow id 46f4:0001 serial \"$SERIAL\"" >> "$U/rules.conf"
chmod 600 "$U/rules.conf"
cat > "$U/usbguard-daemon.conf" <<EOF
RuleFile=$U/rules.conf
ImplicitPolicyTarget=block
PresentDevicePolicy=apply-policy
PresentControllerPolicy=keep
InsertedDevicePolicy=apply-policy
AuthorizedDefault=none
RestoreControllerDeviceState=false
DeviceManagerBackend=uevent
IPCAllowedUsers=root
IPCAllowedGroups=root
DeviceRulesWithPort=false
AuditBackend=FileAudit
AuditFilePath=$U/usbguard-audit.log
HidePII=false
EOF
chmod 600 "$U/usbguard-daemon.conf"
: > "$U/usbguard-audit.log"
usbguard-daemon -f -c "$U/usbguard-daemon.conf" -p "$U/usbguard.pid" -l "$U/usbguard-daemon.log" > "$U/usbguard-daemon.out" 2>&1
i=0
until usbguard list-devices > "$U/list-devices.txt" 2>&1; do
  i=$((i+1)); [ $i -lt 600 ] || { echo "usbguard-daemon did not answer within 60 s" >&2; cat "$U/usbguard-daemon.log" >&2; exit 1; }
  sleep 0.1
done
echo "usbguard $(dpkg-query -W -f '${Version}' usbguard) pid $(cat "$U/usbguard.pid")"
cat "$U/rules.conf"
for h in /sys/bus/usb/devices/usb*; do echo "$(basename "$h") authorized_default=$(cat "$h/authorized_default")"; done
