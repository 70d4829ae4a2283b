#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_reboot - the guest reboots twice inside the same QEMU with reads and
# writes in flight on its pvfs disk, so the ring region, its indices and
# whatever the host does after the old kernel stopped all stay:
#   boot 1 writes 8 MiB of random data (checksum kept on the disk itself),
#     starts fio randrw (reads and writes in flight) and reboots with
#     sysrq b (no shutdown, no driver code runs);
#   boot 2 must start cleanly on that region (no completion for a tag it
#     did not issue, no broken device; with PVFS_F_RESET its probe reset is
#     acknowledged), verify the 8 MiB and a fio crc32c job, then flood
#     again and reboot cleanly (`reboot -f`: the driver's .shutdown resets);
#   boot 3 checks the same again.
# The boots are told apart by a marker block at the start of the disk.
# About 3 minutes under TCG.
#
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build),
# PVFS_E2E_KEEP=1.

E2E_NAME=e2e-reboot
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

write_guest_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# reboot (guest side, from tests/e2e/e2e_reboot.sh). The marker at block 0
# says which boot this is: none (1), REBOOT-1 (2), REBOOT-2 (3).
. /lib/pvfs-e2e.sh

dev=/dev/pvfs0
pvfs_load_disk reboot-insmod 60
marker=$(dd if="$dev" bs=4096 count=1 iflag=direct 2>/dev/null | head -c 8)

# flood_and_reboot HOW: reads and writes in flight (bounded wait), then reboot.
flood_and_reboot() {
	fio --name=flood --filename="$dev" --direct=1 --ioengine=libaio --rw=randrw \
		--bs=4k --iodepth=64 --numjobs=2 --offset=64M --size=32M --time_based \
		--runtime=120 >/dev/null 2>&1 &
	i=0
	while [ "$(awk '{ print $1 + $2 }' /sys/block/pvfs0/inflight)" -lt 8 ]; do
		i=$((i + 1))
		if [ "$i" -ge 300 ]; then
			pvfs_fail reboot-inflight "fewer than 8 requests in flight after 30 s"
			pvfs_done
		fi
		usleep 100000
	done
	pvfs_note "rebooting ($1) with $(awk '{ print $1 " reads and " $2 " writes" }' /sys/block/pvfs0/inflight) in flight"
	case $1 in
	sysrq) echo b > /proc/sysrq-trigger ;;
	clean) reboot -f ;;
	esac
	sleep 30
	pvfs_fail reboot-$1 "the reboot did not happen"
}

# check_boot N: what every boot after the first verifies.
check_boot() {
	if dmesg | grep -q 'which is not in flight'; then
		dmesg | grep 'not in flight' | head -n 5 | sed 's/^/    /'
		pvfs_fail reboot$1-stale "the new driver saw completions of the old boot's requests"
	else
		pvfs_pass reboot$1-stale
	fi
	pvfs_note "driver: $(dmesg | grep -E 'previous driver instance|reset acknowledged' | sed 's/.*pvfs_blk [^ ]*: //' | tr '\n' ' ')"
	if [ "$(dd if="$dev" bs=1M skip=8 count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)" = \
	     "$(dd if="$dev" bs=4096 skip=1 count=1 iflag=direct 2>/dev/null | head -c 32)" ]; then
		pvfs_pass reboot$1-data
	else
		pvfs_fail reboot$1-data "the 8 MiB written before the first reboot changed"
	fi
	pvfs_check reboot$1-fio fio --name=after --filename="$dev" --direct=1 \
		--ioengine=libaio --rw=randwrite --bs=4k --iodepth=32 --numjobs=2 \
		--offset=24M --size=8M --offset_increment=8M --verify=crc32c \
		--verify_fatal=1 --group_reporting
}

case "$marker" in
REBOOT-1)
	pvfs_note "reboot-boot2"
	printf 'REBOOT-2' | dd of="$dev" bs=4096 count=1 conv=sync oflag=direct 2>/dev/null
	check_boot 2
	flood_and_reboot clean
	;;
REBOOT-2)
	pvfs_note "reboot-boot3"
	printf 'REBOOT-3' | dd of="$dev" bs=4096 count=1 conv=sync oflag=direct 2>/dev/null
	check_boot 3
	dmesg | grep -E 'pvfs' | tail -n 6 | sed 's/^/    /'
	pvfs_check reboot-rmmod rmmod pvfs_blk
	;;
REBOOT-3)
	pvfs_fail reboot-extra "a fourth boot: the third one did not power off"
	;;
*)
	pvfs_note "reboot-boot1"
	printf 'REBOOT-1' | dd of="$dev" bs=4096 count=1 conv=sync oflag=direct 2>/dev/null
	dd if=/dev/urandom of=/tmp/blob bs=1M count=8 2>/dev/null
	dd if=/tmp/blob of="$dev" bs=1M seek=8 oflag=direct 2>/dev/null
	md5sum < /tmp/blob | cut -d' ' -f1 | head -c 32 |
		dd of="$dev" bs=4096 seek=1 count=1 conv=sync oflag=direct 2>/dev/null
	flood_and_reboot sysrq
	;;
esac
pvfs_check_dmesg reboot
pvfs_done
EOF
}

e2e_init
e2e_guest_test reboot

e2e_start_pvfsd
e2e_attach "$e2e_tenant" vol.img 128M
e2e_start_shim "$e2e_tenant"

t0=$SECONDS
"$e2e_here/boot-guest" -R -k "$e2e_kver" -i "$e2e_initrd" -t reboot -m "$e2e_mem" -c 2 -T 600 \
	-l "$e2e_work/serial.log" -- "${e2e_qemu_args[@]}"
e2e_boot_rc=$?
e2e_boot_secs=$((SECONDS - t0))
for n in 1 2 3; do
	grep -aq "PVFS-E2E: NOTE reboot-boot$n" "$e2e_work/serial.log" ||
		e2e_fail "no boot $n (see the serial log)"
done
e2e_check_serial reboot
kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "pvfsd died"
grep -i 'broken' "$e2e_work/pvfsd.log" && e2e_fail "pvfsd marked the tenant broken"
e2e_log "PASS (three boots in ${e2e_boot_secs}s)"
