#!/usr/bin/env bash
# Prepares the real-kernel test tier: qemu, and Debian's cloud kernel with its modules
# unpacked into a scratch directory (nothing is installed into /boot or /lib/modules).
#
# usage: tests/vm/setup.sh [DIR]      (DIR defaults to target/vm; needs root for apt-get)
#
# The cloud flavour is used because it ships 8021q, bonding, dummy and vrf as modules and
# its bzImage is LZ4, which boots fast under TCG; it has no 9p, so the guest's files all
# travel in the initramfs (see mkinitrd.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-target/vm}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

export DEBIAN_FRONTEND=noninteractive
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v depmod >/dev/null || need+=(kmod)
if [ ${#need[@]} -gt 0 ]; then
    if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q '~bpo12'; then
        # A qemu-utils from bookworm-backports "Breaks" bookworm's qemu-system (< 8.0):
        # take qemu from backports too, through a scratch source list, so that apt
        # neither removes the installed package nor needs /etc/apt changed.
        S=$(mktemp -d)
        mkdir -p "$S/lists/partial"
        cat >"$S/sources.list" <<EOF
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
deb http://deb.debian.org/debian bookworm-backports main
EOF
        O=(-o "Dir::Etc::SourceList=$S/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$S/lists")
        apt-get "${O[@]}" update -qq
        apt-get "${O[@]}" install -y -qq --no-install-recommends -t bookworm-backports \
            "${need[@]}" >/dev/null
        rm -rf "$S"
    else
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
fi

cd "$DIR"
# apt-get download checks the packages against the archive's signed indexes.
KPKG=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
if [ -z "$KPKG" ]; then
    echo "setup: cannot resolve linux-image-cloud-amd64 (run apt-get update)" >&2
    exit 1
fi
if [ -f ready ] && grep -qx "kernel-package=$KPKG" ready; then
    echo "real-kernel tier already set up in $DIR ($KPKG)"
    exit 0
fi
rm -f ready
# apt fetches as its own user `_apt`: give it a directory it may write.
DL=$(mktemp -d)
chown _apt "$DL" 2>/dev/null || true
(cd "$DL" && apt-get download -qq "$KPKG" busybox-static)
rm -rf kernel busybox
dpkg-deb -x "$DL/$KPKG"_*.deb kernel
dpkg-deb -x "$DL"/busybox-static_*.deb busybox
rm -rf "$DL"
KVER=$(ls kernel/lib/modules)
depmod -b kernel "$KVER"
{
    echo "kernel-package=$KPKG"
    echo "kernel-version=$KVER"
    echo "bzimage=$DIR/kernel/boot/vmlinuz-$KVER"
} >ready.tmp
mv ready.tmp ready
echo "real-kernel tier ready in $DIR (kernel $KVER)"
