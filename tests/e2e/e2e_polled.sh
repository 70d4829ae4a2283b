#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_polled - the guest driver's interrupt paths, in one boot of the real
# product (host-lib.sh's pvfsd + pvfs-shim, 2 ring queues):
#   - pvfs_blk poll_queues=1: queue 1 is an HCTX_TYPE_POLL queue with no
#     MSI-X vector; fio --ioengine=io_uring --hipri (IORING_SETUP_IOPOLL)
#     writes and verifies (crc32c) 16 MiB through it, and the pvfs vectors'
#     counts in /proc/interrupts do not move (the claim: a polled queue
#     costs no interrupt at all; a hipri job that fell back to the interrupt
#     queue would move them);
#   - the same job without --hipri, through the interrupt queue (batched
#     completions, ->queue_rqs): verifies, and the counts do move;
#   - sysfs: /sys/block/pvfs0/pvfs/{queues,poll_queues,host_state,...}.
# Fails on a driver without poll queues (no io_poll, or interrupts move).
# About 60 s under TCG.
#
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build),
# PVFS_E2E_KEEP=1.

E2E_NAME=e2e-polled
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

write_guest_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# polled (guest side, from tests/e2e/e2e_polled.sh).
. /lib/pvfs-e2e.sh

dev=/dev/pvfs0
sys=/sys/block/pvfs0
pvfs_load_disk polled-insmod 60 poll_queues=1

attrs="queues=$(cat $sys/pvfs/queues) poll_queues=$(cat $sys/pvfs/poll_queues) io_poll=$(cat $sys/queue/io_poll)"
pvfs_note "sysfs: $attrs host_state=$(cat $sys/pvfs/host_state) generation=$(cat $sys/pvfs/host_generation) features=$(cat $sys/pvfs/features)"
if [ "$attrs" = "queues=1 poll_queues=1 io_poll=1" ] &&
   [ "$(cat $sys/pvfs/host_state)" = READY ]; then
	pvfs_pass polled-sysfs
else
	pvfs_fail polled-sysfs "want queues=1 poll_queues=1 io_poll=1, READY"
fi
grep pvfs /proc/interrupts | sed 's/^/    /'
if grep -q 'pvfs0-q1' /proc/interrupts; then
	pvfs_fail polled-vectors "the poll queue has an interrupt vector"
else
	pvfs_pass polled-vectors
fi

job="--filename=$dev --direct=1 --rw=randwrite --bs=4k --iodepth=16 --size=16M
	--verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=0"
i0=$(pvfs_irqs pvfs0)
s0=$(awk '{ print $1 + $5 }' $sys/stat)
# shellcheck disable=SC2086
pvfs_check polled-fio-hipri fio --name=hipri --ioengine=io_uring --hipri $job
i1=$(pvfs_irqs pvfs0)
s1=$(awk '{ print $1 + $5 }' $sys/stat)
pvfs_note "hipri: $((s1 - s0)) requests, $((i1 - i0)) pvfs interrupts"
if [ "$i1" = "$i0" ] && [ $((s1 - s0)) -ge 8192 ]; then
	pvfs_pass polled-no-interrupts
else
	pvfs_fail polled-no-interrupts "$((i1 - i0)) interrupts for $((s1 - s0)) polled requests"
fi

# shellcheck disable=SC2086
pvfs_check polled-fio-irq fio --name=irq --ioengine=libaio --iodepth_batch_submit=8 $job
i2=$(pvfs_irqs pvfs0)
s2=$(awk '{ print $1 + $5 }' $sys/stat)
pvfs_note "interrupt queue: $((s2 - s1)) requests, $((i2 - i1)) pvfs interrupts"
if [ "$i2" -gt "$i1" ]; then
	pvfs_pass polled-irq-path
else
	pvfs_fail polled-irq-path "no interrupt for $((s2 - s1)) requests on the interrupt queue"
fi

pvfs_check polled-rmmod rmmod pvfs_blk
pvfs_check_dmesg polled
pvfs_done
EOF
}

e2e_init
e2e_guest_test polled
e2e_start_pvfsd
e2e_attach "$e2e_tenant" vol.img 64M
e2e_start_shim "$e2e_tenant"
e2e_boot polled 300
e2e_check_serial polled
e2e_report "$e2e_tenant"
kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "pvfsd died"
e2e_log "PASS (guest ran ${e2e_boot_secs}s)"
