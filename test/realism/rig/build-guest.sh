#!/bin/bash
# Builds what the QEMU realism guest boots, into the rig folder given as $1:
#   vmlinux          ELF kernel taken out of Debian's xz-compressed bzImage (QEMU boots an ELF
#                    vmlinux through its PVH entry point, skipping the real-mode setup)
#   initramfs.cpio.gz busybox + virtio/9p modules; its init mounts the host root read-only over 9p
#                    (tag hostroot), tmpfs over the folders a system writes, the rig folder
#                    read-write (tag work) and the repository read-only (tag repo) at their host
#                    paths, then switch_roots into the host userland and runs guest-init.sh.
#                    RIG= and REPO= come from the kernel command line (the kernel hands unknown
#                    name=value parameters to init as environment variables).
#   vfat.img         a 64 MiB stick: MBR + one FAT32 partition, label MAMORIVFAT, one file
#   luks.img         a 64 MiB whole-disk LUKS2 stick (cheap PBKDF: a TCG guest must be able to open it)
#   bitlk.img        the real BitLocker To Go image given as $2 (xz-compressed), decompressed
# Exit 3 with a message when a prerequisite is missing (the test skips or fails on it).
set -euo pipefail
OUT=${1:?usage: build-guest.sh RIG_DIR BITLOCKER_IMAGE.xz}
BITLK=${2:?usage: build-guest.sh RIG_DIR BITLOCKER_IMAGE.xz}
mkdir -p "$OUT"
K=${MAMORI_RIG_KERNEL:-$(ls /lib/modules 2>/dev/null | grep -- '-amd64$' | sort -V | tail -1 || true)}
if [ -z "$K" ] || [ ! -f "/boot/vmlinuz-$K" ]; then
  echo "no Debian amd64 kernel: need /boot/vmlinuz-* and /lib/modules/* (apt-get install linux-image-amd64)" >&2; exit 3
fi
for tool in busybox cpio python3 sfdisk mkfs.vfat mcopy modprobe cryptsetup; do
  command -v $tool >/dev/null || { echo "missing $tool (Debian: busybox-static cpio python3 fdisk dosfstools mtools kmod cryptsetup-bin)" >&2; exit 3; }
done
[ -x /lib/systemd/systemd-udevd ] || { echo "missing /lib/systemd/systemd-udevd (Debian: udev)" >&2; exit 3; }

python3 - "/boot/vmlinuz-$K" "$OUT/vmlinux" <<'PY'
import lzma, sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'\xfd7zXZ\x00')
if i < 0: sys.exit('no xz payload in ' + sys.argv[1])
out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(d[i:])
if out[:4] != b'\x7fELF': sys.exit('the xz payload of ' + sys.argv[1] + ' is not an ELF kernel')
open(sys.argv[2], 'wb').write(out)
PY

W=$(mktemp -d "$OUT/initrd.XXXX")
mkdir -p "$W"/{bin,sbin,proc,sys,dev,newroot,lib/modules/$K}
cp "$(command -v busybox)" "$W/bin/busybox"
for a in sh mount umount mkdir insmod switch_root sleep cat echo ls mknod; do ln -s busybox "$W/bin/$a"; done
MODS=""
for m in virtio_pci 9pnet_virtio 9p; do
  for f in $(modprobe -S "$K" --show-depends $m | awk '$1=="insmod"{print $2}'); do
    b=$(basename "$f"); case " $MODS " in *" $b "*) ;; *) MODS="$MODS $b"; cp "$f" "$W/lib/modules/$K/";; esac
  done
done
echo "$MODS" > "$W/modlist"
cat > "$W/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
K=$(ls /lib/modules)
for m in $(cat /modlist); do insmod /lib/modules/$K/$m 2>/dev/null; done
[ -n "$RIG" ] && [ -n "$REPO" ] || { echo "RIG= or REPO= missing on the kernel command line"; exec sh; }
O=ro,trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o $O hostroot /newroot || { echo "9p mount failed"; exec sh; }
for d in tmp run var/tmp var/lib/udev var/log root; do mount -t tmpfs tmpfs /newroot/$d 2>/dev/null; done
mkdir -p /newroot$RIG /newroot$REPO
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none work /newroot$RIG
mount -t 9p -o $O repo /newroot$REPO
mount --move /proc /newroot/proc; mount --move /sys /newroot/sys; mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh $RIG/guest-init.sh
INIT
chmod +x "$W/init"
(cd "$W" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT/initramfs.cpio.gz"
rm -rf "$W"

IMG="$OUT/vfat.img"
rm -f "$IMG"; truncate -s 64M "$IMG"
printf 'label: dos\nstart=2048, type=c\n' | sfdisk -q "$IMG"
mkfs.vfat -F 32 -n MAMORIVFAT --offset 2048 "$IMG" $(( (64*1024*1024/512 - 2048) / 2 )) >/dev/null
echo "hello from a stick" > "$OUT/hello.txt"
mcopy -i "$IMG@@1M" "$OUT/hello.txt" ::/hello.txt
rm -f "$OUT/luks.img"; truncate -s 64M "$OUT/luks.img"; printf 'mamori-rig-passphrase' > "$OUT/luks.key"
cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --label MAMORILUKS "$OUT/luks.img" "$OUT/luks.key"
python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' "$BITLK" "$OUT/bitlk.img"
echo "kernel $K"
