#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# kmod-smoke (guest side): pvfs_blk must refuse every ivshmem device the
# host prepared (tests/e2e/e2e_kmod_smoke.sh) for the reason the host names in
# pvfs.expect=REASON,... and must load and unload cleanly around that. No
# pvfsd is involved, so no device may ever become /dev/pvfsN.

. /lib/pvfs-e2e.sh

expect=$(pvfs_arg expect "")
ndev=0
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ] &&
		ndev=$((ndev + 1))
done
pvfs_note "ivshmem devices: $ndev, expected refusals: $expect"
[ "$ndev" -gt 0 ] || pvfs_fail smoke-devices "no ivshmem device in the guest"

# Short READY wait so an INIT region is refused in a second, not 30.
pvfs_check smoke-insmod insmod "$PVFS_KO" ready_timeout_ms=1500

dmesg | grep 'pvfs_blk' | sed 's/^/    /'
for reason in $(echo "$expect" | tr , ' '); do
	case "$reason" in
	magic) pat='BAR2 has no pvfs region' ;;
	abi) pat='pvfs ABI version' ;;
	geometry) pat='invalid pvfs geometry' ;;
	init) pat='pvfs host not READY after' ;;
	removed) pat='pvfs host state is REMOVED' ;;
	broken) pat='pvfs host state is BROKEN' ;;
	msix) pat='no MSI-X vectors' ;;
	*) pvfs_fail "smoke-refuse-$reason" "unknown reason"; continue ;;
	esac
	if dmesg | grep -q "pvfs_blk[ :].*$pat"; then
		pvfs_pass "smoke-refuse-$reason"
	else
		pvfs_fail "smoke-refuse-$reason" "no '$pat' message"
	fi
done

bound=$(ls /sys/bus/pci/drivers/pvfs_blk/ 2>/dev/null | grep -c '^0000:' || true)
if [ "$bound" = 0 ] && ! ls /dev/pvfs* >/dev/null 2>&1; then
	pvfs_pass smoke-no-bind
else
	pvfs_fail smoke-no-bind "$bound devices bound: $(ls /dev/pvfs* 2>/dev/null)"
fi

pvfs_check smoke-rmmod rmmod pvfs_blk
pvfs_check smoke-reinsmod insmod "$PVFS_KO" ready_timeout_ms=100
pvfs_check smoke-rermmod rmmod pvfs_blk
if lsmod | grep -q '^pvfs_blk '; then
	pvfs_fail smoke-unloaded "pvfs_blk still listed by lsmod"
else
	pvfs_pass smoke-unloaded
fi
pvfs_check_dmesg smoke
pvfs_done
