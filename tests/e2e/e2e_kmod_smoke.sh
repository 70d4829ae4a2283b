#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_kmod_smoke - pvfs_blk refuses what is not a usable pvfs region, and loads
# and unloads cleanly; needs no pvfsd. The host prepares one region file per
# ivshmem-plain device with mkregion (tests/e2e/mkregion.c; wrong magic, wrong ABI,
# inconsistent geometry, a host that never became READY, a READY region on a
# device without MSI-X), boots the guest, and the guest side
# (guest/kmod-smoke.sh) checks each refusal message, that nothing bound,
# insmod/rmmod twice, and a clean kernel log.
# Exit status: 0 pass, 1 fail, 77 skip. PVFS_PROTO=dir overrides ../proto for
# the module; mkregion is make's ($PVFS_BUILD/tests/mkregion, built from proto/).

set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
proto=${PVFS_PROTO:-$repo/proto}
build=${PVFS_BUILD:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
mkregion=$build/tests/mkregion

skip() { echo "e2e_kmod_smoke: SKIP: $*"; exit 77; }
fail() { echo "e2e_kmod_smoke: FAIL: $*"; exit 1; }

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
kver=$(ls /lib/modules 2>/dev/null | grep -- '-amd64$' | sort -V | tail -n 1)
[ -n "$kver" ] && [ -r "/boot/vmlinuz-$kver" ] || skip "no Debian amd64 guest kernel in /boot"
[ -d "/lib/modules/$kver/build" ] || skip "no headers for $kver (linux-headers-amd64)"

[ -x "$mkregion" ] || fail "$mkregion missing (make builds it)"

work=$(mktemp -d "${TMPDIR:-/tmp}/pvfs-kmod-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT

make -s -C "$repo/guest-kmod" KVER="$kver" PVFS_PROTO="$proto" >"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; fail "module build"; }
"$here/mkinitramfs" -k "$kver" --no-fio "$work" >/dev/null || fail "mkinitramfs"

# name:mkregion-args; the name doubles as the reason the guest must report.
cases=(
	"magic:--bad magic --state ready"
	"abi:--bad abi --state ready"
	"geometry:--bad geometry --state ready"
	"init:--state init"
	"removed:--state removed"
	"msix:--state ready --queues 2 --depth 32 --segs 16"
)
qemu_args=()
expect=
i=0
for c in "${cases[@]}"; do
	name=${c%%:*}
	# shellcheck disable=SC2086 # the arguments are meant to split
	"$mkregion" "$work/region-$name" ${c#*:} || fail "mkregion $name"
	qemu_args+=(-object "memory-backend-file,id=hm$i,size=1M,mem-path=$work/region-$name,share=on"
		    -device "ivshmem-plain,memdev=hm$i")
	expect=${expect:+$expect,}$name
	i=$((i + 1))
done

"$here/boot-guest" -k "$kver" -i "$work/initramfs.cpio.gz" -t kmod-smoke -T 180 \
	-l "$work/serial.log" -a "pvfs.expect=$expect" -- "${qemu_args[@]}"
rc=$?
grep -a 'PVFS-E2E:\|pvfs_blk' "$work/serial.log"
case $rc in
0) echo "e2e_kmod_smoke: PASS"; exit 0 ;;
77) exit 77 ;;
*) echo "e2e_kmod_smoke: FAIL (rc $rc); serial log follows"; cat -v "$work/serial.log" | tail -n 100; exit 1 ;;
esac
