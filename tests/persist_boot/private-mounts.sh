#!/bin/sh
# Runs a network stack's program the way it runs at boot, but inside the caller's network
# namespace and a mount namespace of its own, so that nothing it reads or writes is the
# machine's:
#
#   private-mounts.sh [--sysfs ro|rw|ro-but-net] [--bind SRC DST]... [--tmpfs DST]...
#                     -- PROGRAM ARGS...
#
# /sys is mounted again so that it shows this network namespace's devices (read-only
# makes systemd-networkd and NetworkManager treat links as initialized without udev, as
# in a container); each --bind puts a test directory over a system one, each --tmpfs
# hides one behind an empty file system (a missing one hides nothing). Nothing is created
# outside the test's directories. `ro-but-net` leaves the devices' own directories
# (/sys/devices/virtual/net, where a bridge port's brport/ settings are) writable, as on
# a host, in a /sys mounted read-only (a read-only bind of it: one superblock).
# Then PROGRAM replaces this shell.
set -eu
# Every mount below happens in a mount namespace of this script's own: it re-executes
# itself under unshare(1) first, whoever calls it.
if [ "${1-}" != --in-own-mount-namespace ]; then
    exec unshare --mount --propagation private -- /bin/sh "$0" --in-own-mount-namespace "$@"
fi
shift
# Nothing mounted here may reach the machine's mount namespace.
mount --make-rprivate /
sysfs=ro
while [ $# -gt 0 ]; do
    case $1 in
        --sysfs) sysfs=$2; shift 2 ;;
        --bind) mount --bind "$2" "$3"; shift 3 ;;
        --tmpfs) [ ! -d "$2" ] || mount -t tmpfs -o mode=0755 tmpfs "$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "private-mounts.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
umount -l /sys
if [ "$sysfs" = ro-but-net ]; then
    mount -t sysfs -o rw,nosuid,nodev,noexec sysfs /sys
    mount --bind /sys/devices/virtual/net /sys/devices/virtual/net
    mount -o remount,bind,ro /sys
else
    mount -t sysfs -o "$sysfs,nosuid,nodev,noexec" sysfs /sys
fi
exec "$@"
