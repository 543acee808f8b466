#!/usr/bin/env bash
# Starts an isolated sshd target for benchmarks and demos, like the test harness does: OpenSSH
# chrooted in an overlay of the test root filesystem, in private mount and PID namespaces, on a
# loopback port. Prints "PORT KEYFILE PID"; stop it with `kill -9 PID`. EXTRA_SSHD_ARGS are
# added to sshd's command line (e.g. "-o AuthorizedKeysCommand=/usr/local/bin/x").
#   scripts/ssh-target.sh PORT WORKDIR
set -euo pipefail
PORT=$1; T=$2
R=$("$(dirname "$0")/test-rootfs.sh")
mkdir -p "$T/upper" "$T/work" "$T/merged"
cat > "$T/boot.sh" <<'BOOT'
set -e
R=$1; T=$2; PORT=$3
mount -t overlay overlay -o lowerdir=$R,upperdir=$T/upper,workdir=$T/work $T/merged
M=$T/merged
mount -t proc proc $M/proc
mount -t tmpfs -o mode=0755 tmpfs $M/dev
for d in null:1:3 zero:1:5 random:1:8 urandom:1:9 tty:5:0; do
  n=${d%%:*}; r=${d#*:}; mknod -m 666 $M/dev/$n c ${r%:*} ${r#*:}
done
mkdir -p $M/dev/pts $M/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $M/dev/pts
ln -s pts/ptmx $M/dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs $M/dev/shm
mount -t tmpfs -o mode=1777 tmpfs $M/tmp
# The target shares this machine's host name: make it resolve there (sudo looks it up).
echo "127.0.0.1 localhost $(hostname)" > $M/etc/hosts
chroot $M /bin/sh -c 'ssh-keygen -q -t ed25519 -N "" -f /root/kiln_test_key
  for h in /root /home/centos; do
    mkdir -p $h/.ssh && cp /root/kiln_test_key.pub $h/.ssh/authorized_keys && chmod 700 $h/.ssh
  done
  chown -R centos:centos /home/centos/.ssh'
cp $M/root/kiln_test_key $T/key && chmod 600 $T/key
exec chroot $M /usr/sbin/sshd -D -e -f /etc/ssh/kiln_sshd_config -p $PORT $EXTRA_SSHD_ARGS
BOOT
unshare --mount --pid --fork --kill-child --propagation private bash "$T/boot.sh" "$R" "$T" "$PORT" >"$T/sshd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  if [ -f "$T/key" ] && (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
    echo "$PORT $T/key $pid"
    exit 0
  fi
  sleep 0.1
done
echo "sshd target did not start; see $T/sshd.log" >&2
exit 1
