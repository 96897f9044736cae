#!/bin/sh
# PID 1 of the QEMU realism guest, after switch_root into the host's read-only root.
# Loads the USB, storage and network drivers, starts udevd (lsblk and blkid want its database),
# brings up the user-mode network (the collector is reached through a guestfwd address), then
# serves a small command channel over the read-write 9p rig folder: the host drops
# state/cmd/N.sh, the guest runs it and writes N.out and N.done (the exit code).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
ST=$RIG/state; mkdir -p $ST/cmd
up() { cut -d' ' -f1 /proc/uptime; }
echo "init at uptime $(up)" > $ST/boot.txt
modprobe -a xhci_pci usb_storage uas sd_mod vfat nls_cp437 nls_iso8859_1 virtio_net >> $ST/boot.txt 2>&1
/lib/systemd/systemd-udevd --daemon --resolve-names=never
udevadm trigger --action=add --subsystem-match=pci --subsystem-match=usb --subsystem-match=block --subsystem-match=net >/dev/null 2>&1
udevadm settle -t 30
NIC=$(ls /sys/class/net | grep -v '^lo$' | head -1)
ip link set lo up; ip link set "$NIC" up
ip addr add 10.0.2.15/24 dev "$NIC"; ip route add default via 10.0.2.2
echo "network $NIC up, udev settled at uptime $(up)" >> $ST/boot.txt
up > $ST/ready
while :; do
  for f in $ST/cmd/*.sh; do
    [ -e "$f" ] || continue
    b=${f%.sh}; mv "$f" "$b.run"
    sh "$b.run" > "$b.out" 2>&1; echo $? > "$b.done"
  done
  [ -e $ST/poweroff ] && break
  sleep 0.1
done
[ -s /run/mamori-agent.pid ] && kill -TERM "$(cat /run/mamori-agent.pid)" 2>/dev/null
i=0; while [ -s /run/mamori-agent.pid ] && kill -0 "$(cat /run/mamori-agent.pid)" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
for h in /sys/bus/usb/devices/usb*; do echo "$(basename $h) authorized_default=$(cat $h/authorized_default)"; done > $ST/hubs-after-stop.txt
dmesg > $ST/dmesg.txt
sync; exec busybox poweroff -f
