/**
 * The guest's /init: a busybox shell script. It mounts the host's root
 * (9p tag `hostroot`, read-only) under a tmpfs overlay, so the guest runs the
 * host's own userspace (node, clang, libbpf, the project) and may write
 * anywhere without touching the host; the scratch folder (9p tag `scratch`,
 * writable) appears at the same path as on the host. It runs `cmd.sh` from
 * the scratch folder as root, writes its output and exit code there, and
 * powers off. Everything it says goes to the serial console, which the host
 * keeps as console.log.
 */
export const SCRATCH_TAG = 'scratch';
export const HOSTROOT_TAG = 'hostroot';

/** Files the guest writes into the scratch folder. */
export const GUEST_FILES = {
  command: 'cmd.sh',
  booted: 'booted',
  stdout: 'stdout',
  stderr: 'stderr',
  rc: 'rc',
  console: 'console.log',
} as const;

export function guestInit(): string {
  const f = GUEST_FILES;
  return `#!/bin/busybox sh
B=/bin/busybox
say() { $B echo "bpfscope-vm: $*"; }
die() { say "$*"; $B sync; $B poweroff -f; }
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
for m in $($B cat /modules/order); do
  $B insmod /modules/$m || say "insmod $m failed"
done
$B mkdir -p /scratch
o=trans=virtio,version=9p2000.L,msize=262144
$B mount -t 9p -o $o ${SCRATCH_TAG} /scratch || die "cannot mount the scratch folder (9p tag ${SCRATCH_TAG})"
S=$($B cat /scratch/path)
$B mount -t 9p -o $o,ro,cache=loose ${HOSTROOT_TAG} /lower || die "cannot mount the host's root (9p tag ${HOSTROOT_TAG})"
$B mount -t tmpfs -o mode=0755 tmpfs /upper
$B mkdir -p /upper/u /upper/w
$B mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /root || die "cannot mount the overlay on the host's root"
$B mount -t proc proc /root/proc
$B mount -t sysfs sysfs /root/sys
$B mount -t devtmpfs devtmpfs /root/dev
$B mkdir -p /root/dev/pts /root/dev/shm
$B mount -t devpts devpts /root/dev/pts
$B mount -t tmpfs tmpfs /root/dev/shm
$B mount -t bpf bpf /root/sys/fs/bpf 2>/dev/null
$B mount -t tracefs tracefs /root/sys/kernel/tracing 2>/dev/null
$B mount -t debugfs debugfs /root/sys/kernel/debug 2>/dev/null
$B mkdir -p "/root$S"
$B mount -o bind /scratch "/root$S" || die "cannot bind the scratch folder to $S"
$B ip link set lo up 2>/dev/null
{ $B uname -r; $B uname -v; } > /scratch/${f.booted}
$B chroot /root /bin/sh "$S/${f.command}" </dev/null >/scratch/${f.stdout} 2>/scratch/${f.stderr}
$B echo $? > /scratch/${f.rc}
$B sync
$B umount "/root$S" 2>/dev/null
$B umount /scratch 2>/dev/null
$B poweroff -f
`;
}
