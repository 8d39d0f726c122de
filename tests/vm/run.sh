#!/usr/bin/env bash
# Boots Debian's kernel (prepared by setup.sh) in qemu and runs test binaries inside it,
# as root in a VM of their own, with the kernel features this host lacks loaded.
#
# usage: tests/vm/run.sh [-d DIR] [-c HOST-FILE]... TEST-BINARY [TEST-ARGS...]
#   -d DIR        what setup.sh prepared (default target/vm)
#   -c HOST-FILE  also copy this file (plus the libraries it links, or for a script the
#                 interpreter its #! line names) into the guest at the same absolute path,
#                 e.g. the hostnet binary the tests run
# The exit status is the test binary's status in the guest; 125 when the guest never
# reported one (boot failure, panic, timeout after $HOSTNET_VM_TIMEOUT seconds, default 600).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=target/vm
COPY=()
while getopts d:c: opt; do
    case $opt in
    d) DIR=$OPTARG ;;
    c) COPY+=("$OPTARG") ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-d DIR] [-c FILE]... TEST-BINARY [ARGS...]" >&2; exit 2; }
TEST=$1
shift
[ -f "$DIR/ready" ] || { echo "$DIR is not set up: run tests/vm/setup.sh" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd)
KVER=$(sed -n 's/^kernel-version=//p' "$DIR/ready")
BZIMAGE=$(sed -n 's/^bzimage=//p' "$DIR/ready")
KROOT=$DIR/kernel

ROOT=$(mktemp -d)
OUT=$(mktemp --suffix=.cpio)
LOG=$(mktemp)
trap 'rm -rf "$ROOT" "$OUT" "$LOG"' EXIT
mkdir -p "$ROOT"/{bin,sbin,proc,sys,dev,tmp,run,etc,lib/modules,test}
cp "$DIR/busybox/bin/busybox" "$ROOT/bin/busybox"

# Modules in dependency order, resolved by the host's kmod from the unpacked tree.
# Veth, bridge, tun, vxlan and the macvlan family are modules in this flavour too.
MODS="8021q bonding dummy vrf veth bridge tun vxlan macvlan macvtap ipvlan"
for m in $MODS; do
    modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
    cp "$ko" "$ROOT/lib/modules/"
    basename "$ko" >>"$ROOT/lib/modules/order"
done

is_elf() { [ "$(head -c4 "$1" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; }
copy() { # FILE: copy it and every library it links (a script: its interpreter), at their absolute paths
    [ -f "$1" ] || { echo "$0: -c $1: no such file" >&2; exit 2; }
    [ -e "$ROOT$1" ] && return 0
    mkdir -p "$ROOT$(dirname "$1")"
    cp -L "$1" "$ROOT$1"
    if ! is_elf "$1"; then
        # A script links nothing (ldd fails on it, which ended this script under
        # pipefail without a word); what the guest lacks is its interpreter. The guest's
        # busybox only provides /bin/sh and its applets in /bin.
        local interp arg
        read -r interp arg < <(sed -n '1s/^#! *//p' "$1")
        case $interp in
        "" | /bin/sh | /bin/busybox) ;;
        */env) copy_tool "$interp" && copy_tool "$(command -v "${arg%% *}" || echo "${arg%% *}")" ;;
        *) copy_tool "$interp" ;;
        esac
        return 0
    fi
    # Debug test binaries pass 150 MB each: unstripped, the initramfs no longer unpacks in
    # the guest's memory ("Initramfs unpacking failed: write error"). Strip the copy only.
    strip --strip-debug "$ROOT$1" 2>/dev/null || true
    # A static binary links nothing: ldd fails and grep finds nothing, neither an error.
    { ldd "$1" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
        mkdir -p "$ROOT$(dirname "$lib")"
        cp -L "$lib" "$ROOT$lib"
    done
}
copy_tool() { # PROGRAM: a script's interpreter, which must exist on this host
    [ -x "$1" ] || { echo "$0: a copied script's interpreter $1 is not on this host" >&2; exit 2; }
    copy "$(readlink -f "$1")"
    # Reached by its own path in the guest (a symlink on the host, e.g. /usr/bin/env).
    if [ "$(readlink -f "$1")" != "$1" ]; then
        mkdir -p "$ROOT$(dirname "$1")"
        [ -e "$ROOT$1" ] || ln -s "$(readlink -f "$1")" "$ROOT$1"
    fi
}
for f in ${COPY[@]+"${COPY[@]}"}; do copy "$(readlink -f "$f")"; done
TEST=$(readlink -f "$TEST")
copy "$TEST"

# The guest runs exactly this command line; quote each word for the guest's shell.
q() { printf "'%s' " "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }
CMD="$(q "$TEST")"
for a in "$@"; do CMD+="$(q "$a")"; done

cat >"$ROOT/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# /tmp and /run stay on the initramfs's own (writable) root: a tmpfs mounted over them
# would hide files copied there, e.g. a test binary built in a clone under /tmp.
# Without these parameters the modules would create dummy0 and bond0 by themselves.
while read -r ko; do
    case \$ko in
    dummy.ko*) p=numdummies=0 ;;
    bonding.ko*) p=max_bonds=0 ;;
    *) p= ;;
    esac
    insmod /lib/modules/\$ko \$p || echo "insmod \$ko failed"
done </lib/modules/order
echo "HOSTNET_VM kernel \$(uname -r), modules loaded at \$(cut -d' ' -f1 /proc/uptime)s"
cd /tmp
HOSTNET_REQUIRE_KERNEL_TESTS=1 HOSTNET_REQUIRE_KERNEL_FEATURES=1 RUST_BACKTRACE=1 $CMD
echo "HOSTNET_VM_RC=\$? at \$(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
INIT
chmod +x "$ROOT/init"
# Left uncompressed: decompressing under TCG costs more than reading the larger image.
(cd "$ROOT" && find . | "$DIR/busybox/bin/busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$OUT"

# /dev/kvm alone proves nothing: nested hosts may expose a KVM that cannot run a stock
# kernel. Use it only with hardware virtualization flags; TCG otherwise.
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
    ACCEL=(-accel kvm -cpu host)
else
    ACCEL=(-accel tcg -cpu max)
fi
# -machine pc and -smp 1: microvm hangs in TSC calibration under TCG, and one vCPU is
# faster and steadier there. no_timer_check: on a loaded host, TCG's timer interrupts come
# too late for the kernel's IO-APIC check, which then panics ("IO-APIC + timer doesn't
# work!") before init runs.
set +e
timeout "${HOSTNET_VM_TIMEOUT:-600}" qemu-system-x86_64 -machine pc "${ACCEL[@]}" -m 1024 -smp 1 \
    -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
    -kernel "$BZIMAGE" -initrd "$OUT" -append "console=ttyS0 panic=-1 quiet no_timer_check" </dev/null | tee "$LOG"
set -e
# No status line is no match, which pipefail would turn into this script's end (status 1).
rc=$(grep -ao 'HOSTNET_VM_RC=[0-9]*' "$LOG" | tail -1 | cut -d= -f2 || true)
echo "vm: accel=${ACCEL[1]} guest status ${rc:-none}" >&2
exit "${rc:-125}"
