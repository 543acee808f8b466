#!/usr/bin/env bash
# Builds (once) the virtual machine the qemu builder's tests boot, and prints its directory:
#   vmlinuz     Debian's cloud kernel (from the package registry; nothing is installed)
#   initrd.img  busybox and the virtio modules: it mounts /dev/vda and hands over to it
#   disk.qcow2  the SSH targets' Debian root filesystem (scripts/test-rootfs.sh) on ext4, with
#               an init of its own: it brings up eth0 as QEMU's user network expects
#               (10.0.2.15, no route out), starts sshd on port 22, and powers the machine off
#               when `poweroff` (a script here) signals it. With `kiln.keys` on the kernel's
#               command line it first runs one line typed on the keyboard (over VNC).
#               /lib/kiln-modules holds the CD drivers (`order` lists them for insmod).
# A template boots it as Packer users boot such images: `disk_image: true`, the disk as
# iso_url, and qemuargs -kernel, -initrd and -append. Cached under $KILN_CACHE (default
# /var/tmp/kiln-cache); the version is part of the path. Needs root (mkfs.ext4 -d keeps
# owners only as root).
set -euo pipefail
VERSION=4
CACHE=${KILN_CACHE:-/var/tmp/kiln-cache}
OUT=$CACHE/guest-v$VERSION
if [ -f "$OUT/.kiln-ready" ]; then
  echo "$OUT"
  exit 0
fi
cd "$(dirname "$0")/.."
rootfs=$(scripts/test-rootfs.sh)
for pair in mkfs.ext4:e2fsprogs qemu-img:qemu-utils; do
  command -v "${pair%%:*}" >/dev/null || {
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pair#*:}" >&2
  }
done
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp/debs" "$OUT.tmp/x"
cd "$OUT.tmp"
# The metapackage names the current kernel package; only the packages are fetched.
kernel=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
(cd debs && apt-get download "$kernel" busybox-static >&2 2> >(grep -v unsandboxed >&2))
for d in debs/*.deb; do dpkg-deb -x "$d" x; done
cp x/boot/vmlinuz-* vmlinuz
release=$(basename x/lib/modules/*)
mods=x/lib/modules/$release/kernel

# The initrd: load the virtio drivers (in dependency order), mount the disk, switch to it.
mkdir -p initrd/bin initrd/dev initrd/proc initrd/sys initrd/newroot initrd/modules
cp x/bin/busybox initrd/bin/busybox
for tool in sh mount umount insmod switch_root mkdir sleep; do ln -s busybox "initrd/bin/$tool"; done
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
         drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci drivers/block/virtio_blk \
         net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
  cp "$mods/$m.ko" initrd/modules/
  echo "$(basename "$m")" >> initrd/modules/order
done
cat > initrd/init <<'SH'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "/modules/$m.ko"; done < /modules/order
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -o rw /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; exec sh; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/kiln-init
SH
chmod 755 initrd/init
(cd initrd && find . | ../x/bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) > initrd.img

# The disk: the root filesystem plus busybox (ip), an init, sshd's config and poweroff.
mkdir stage
cp -a "$rootfs/." stage/
cp x/bin/busybox stage/bin/busybox
# The CD drivers and file system, for tests that give the machine a CD: loaded in this order
# by `busybox insmod` (the disk has no module tools).
mkdir -p stage/lib/kiln-modules
for m in drivers/scsi/scsi_common drivers/scsi/scsi_mod drivers/ata/libata drivers/ata/ata_piix \
         drivers/cdrom/cdrom drivers/scsi/sr_mod fs/isofs/isofs; do
  cp "$mods/$m.ko" stage/lib/kiln-modules/
  echo "$(basename "$m")" >> stage/lib/kiln-modules/order
done
cat > stage/sbin/kiln-init <<'SH'
#!/bin/sh
# PID 1 of the qemu builder's test machine.
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mkdir -p /run/sshd
if grep -q kiln.keys /proc/cmdline; then
  # For boot_command tests: one line typed on the console's keyboard (VNC), run as root.
  ( IFS= read -r line < /dev/tty1 && sh -c "$line" > /run/typed.log 2>&1 ) &
fi
busybox hostname kiln-guest
busybox ip link set lo up
busybox ip link set eth0 up
busybox ip addr add 10.0.2.15/24 dev eth0
/usr/sbin/sshd -f /etc/ssh/kiln_guest_sshd_config -E /var/log/sshd.log
off() {
  kill $(cat /run/sshd.pid) 2>/dev/null
  sync
  mount -o remount,ro /
  busybox poweroff -f
}
trap off USR2 TERM
echo "kiln-guest: ready"
while :; do sleep 60 & wait $!; done
SH
chmod 755 stage/sbin/kiln-init
printf '#!/bin/sh\n# Asks PID 1 (/sbin/kiln-init) to power the machine off.\nkill -USR2 1\n' > stage/sbin/poweroff
chmod 755 stage/sbin/poweroff
sed -e 's/^ListenAddress .*/ListenAddress 0.0.0.0/' -e 's/^PidFile .*/PidFile \/run\/sshd.pid/' \
  stage/etc/ssh/kiln_sshd_config > stage/etc/ssh/kiln_guest_sshd_config
echo kiln-guest > stage/etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 kiln-guest\n' > stage/etc/hosts
size=$(( $(du -sm stage | cut -f1) + 512 ))
mkfs.ext4 -q -L root -d stage disk.raw "${size}M" >&2
qemu-img convert -O qcow2 disk.raw disk.qcow2 >&2
rm -rf stage x debs initrd disk.raw
touch .kiln-ready
cd /
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "$OUT"
