#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_reboot - the guest reboots (sysrq b: no shutdown, no driver unload)
# while it has many writes in flight on its pvfs disk, inside the same QEMU,
# so the ring region, its indices and whatever the host completes after the
# old kernel died all stay. The rebooted guest's driver must start cleanly
# on that region: no completion for a tag it did not issue, no broken
# device, and a verified fio job and a data round trip must pass. The two
# boots are told apart by a marker block at the start of the disk.
#
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build),
# PVFS_E2E_KEEP=1.

E2E_NAME=e2e-reboot
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

write_guest_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# reboot (guest side, from tests/e2e/e2e_reboot.sh). Boot 1 writes marker
# REBOOT-1, floods the disk with O_DIRECT writes and reboots the machine
# while they are in flight. Boot 2 (marker REBOOT-1) checks the driver took
# over the used region cleanly and the disk works; any other marker means
# an unexpected extra boot, which fails.
. /lib/pvfs-e2e.sh

dev=/dev/pvfs0
pvfs_load_disk reboot-insmod 60
marker=$(dd if="$dev" bs=4096 count=1 iflag=direct 2>/dev/null | head -c 8)

case "$marker" in
REBOOT-1)
	pvfs_note "reboot-boot2"
	printf 'REBOOT-2' | dd of="$dev" bs=4096 count=1 conv=sync oflag=direct 2>/dev/null
	# The driver warns for each completion of a tag it did not issue: a
	# leftover of the first boot taken for a new request.
	if dmesg | grep -q 'which is not in flight'; then
		dmesg | grep 'not in flight' | head -n 5 | sed 's/^/    /'
		pvfs_fail reboot-stale "the new driver saw completions of the old boot's requests"
	else
		pvfs_pass reboot-stale
	fi
	pvfs_note "driver: $(dmesg | grep -E 'previous driver instance' | sed 's/.*pvfs_blk [^ ]*: //' | tr '\n' ' ')"

	pvfs_check reboot-fio fio --name=after --filename="$dev" --direct=1 \
		--ioengine=libaio --rw=randwrite --bs=4k --iodepth=32 --numjobs=2 \
		--offset=1M --size=16M --offset_increment=16M --verify=crc32c \
		--verify_fatal=1 --group_reporting
	dd if=/dev/urandom of=/tmp/blob bs=1M count=8 2>/dev/null
	dd if=/tmp/blob of="$dev" bs=1M seek=40 oflag=direct 2>/dev/null
	echo 3 > /proc/sys/vm/drop_caches
	if [ "$(dd if="$dev" bs=1M skip=40 count=8 iflag=direct 2>/dev/null | md5sum)" = \
	     "$(md5sum < /tmp/blob)" ]; then
		pvfs_pass reboot-roundtrip
	else
		pvfs_fail reboot-roundtrip "8 MiB read back differ from what was written"
	fi
	dmesg | grep -E 'pvfs' | tail -n 6 | sed 's/^/    /'
	pvfs_check reboot-rmmod rmmod pvfs_blk
	;;
REBOOT-2)
	pvfs_fail reboot-extra "a third boot: the second one did not power off"
	;;
*)
	pvfs_note "reboot-boot1"
	printf 'REBOOT-1' | dd of="$dev" bs=4096 count=1 conv=sync oflag=direct 2>/dev/null
	fio --name=flood --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \
		--bs=4k --iodepth=64 --numjobs=2 --offset=1M --size=64M --time_based \
		--runtime=120 >/dev/null 2>&1 &
	# Reboot only once writes are in flight (bounded wait).
	i=0
	while [ "$(awk '{ print $1 + $2 }' /sys/block/pvfs0/inflight)" -lt 8 ]; do
		i=$((i + 1))
		if [ "$i" -ge 300 ]; then
			pvfs_fail reboot-inflight "fewer than 8 requests in flight after 30 s"
			pvfs_done
		fi
		usleep 100000
	done
	pvfs_note "rebooting with $(awk '{ print $1 + $2 }' /sys/block/pvfs0/inflight) requests in flight"
	echo b > /proc/sysrq-trigger
	sleep 30
	pvfs_fail reboot-sysrq "sysrq b did not reboot"
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
"$e2e_here/boot-guest" -R -k "$e2e_kver" -i "$e2e_initrd" -t reboot -m "$e2e_mem" -c 2 -T 400 \
	-l "$e2e_work/serial.log" -- "${e2e_qemu_args[@]}"
e2e_boot_rc=$?
e2e_boot_secs=$((SECONDS - t0))
grep -aq 'PVFS-E2E: NOTE reboot-boot1' "$e2e_work/serial.log" ||
	e2e_fail "the first boot did not start the flood"
grep -aq 'PVFS-E2E: NOTE reboot-boot2' "$e2e_work/serial.log" ||
	e2e_fail "no second boot after the reboot"
e2e_check_serial reboot
kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "pvfsd died"
grep -i 'broken' "$e2e_work/pvfsd.log" && e2e_fail "pvfsd marked the tenant broken"
e2e_log "PASS (two boots in ${e2e_boot_secs}s)"
