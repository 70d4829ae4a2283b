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
#   - sysfs: /sys/block/pvfs0/pvfs/{queues,poll_queues,host_state,...};
#   - a lost interrupt (pvfsd --test-hooks, `pvfsctl test-drop-interrupts`):
#     the one read whose interrupt the host drops is recovered by the
#     timeout handler reaping the CQ (io_timeout_s=3: "completion polled"),
#     with no I/O error;
#   - online resize (`pvfsctl resize`, PVFS_F_RESIZE): the disk grows
#     without a reboot and the new blocks round-trip data.
# The last two run when pvfsd/pvfsctl have those commands (else they are
# skipped with a note). Fails on a driver without poll queues, without the
# timeout's reap (the read fails or hangs), or without resize.
# About 75 s under TCG.
#
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build),
# PVFS_E2E_KEEP=1.

E2E_NAME=e2e-polled
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

flag_blk=2047		# the 4 KiB block (of 8 MiB) the host writes "ARMED" into

write_guest_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# polled (guest side, from tests/e2e/e2e_polled.sh).
. /lib/pvfs-e2e.sh

dev=/dev/pvfs0
sys=/sys/block/pvfs0
lost=$(pvfs_arg lost 0)
resize=$(pvfs_arg resize 0)
flag_blk=$(pvfs_arg flag_blk 2047)
pvfs_load_disk polled-insmod 60 poll_queues=1 io_timeout_s=3

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

# Lost interrupt: once the host reads "arm-drop K" it drops the tenant's
# next interrupt that the guest still needs (CQEs it has not reaped) and then
# writes "ARMDK" into block flag_blk. One read at a time until the flag
# shows: the read whose interrupt was dropped waits for the timeout (3 s),
# which reaps its CQE; no read may fail. The driver also reaps at the end of
# each submission: when the host was quick enough for that to take the
# CQE, the dropped interrupt was not needed and no timeout happens; that is
# not a failure, so the round is repeated (at most 5 rounds, then "lost-done").
if [ "$lost" = 1 ]; then
	err=0 round=0 polled=0 n=0 slow=0 m=
	while [ "$round" -lt 5 ] && [ "$polled" = 0 ] && [ "$err" = 0 ]; do
		round=$((round + 1))
		pvfs_note "arm-drop $round"
		i=0
		while :; do
			t0=$(cut -d. -f1 /proc/uptime)
			if ! m=$(dd if=$dev bs=4096 skip="$flag_blk" count=1 iflag=direct 2>/tmp/dd.err | head -c 5); then
				err=1
			fi
			grep -q 'error' /tmp/dd.err && err=1
			[ $(($(cut -d. -f1 /proc/uptime) - t0)) -ge 2 ] && slow=$((slow + 1))
			n=$((n + 1)) i=$((i + 1))
			[ "$m" = "ARMD$round" ] && break
			[ "$i" -lt 600 ] || break
			usleep 50000
		done
		[ "$m" = "ARMD$round" ] || break
		polled=$(dmesg | grep -c 'completion polled')
	done
	pvfs_note "lost-done"
	pvfs_note "lost interrupt: $round rounds, $n reads, $slow slow, errors $err; $polled 'completion polled'"
	if [ "$m" = "ARMD$round" ] && [ "$err" = 0 ] && [ "$polled" -gt 0 ]; then
		pvfs_pass polled-lost-interrupt
	else
		cat /tmp/dd.err | sed 's/^/    /'
		pvfs_fail polled-lost-interrupt "want ARMDK, no error, a 'completion polled' timeout in 5 rounds"
	fi
else
	pvfs_skip polled-lost-interrupt "pvfsd has no --test-hooks"
fi

# Online resize: the host grows the volume by 16 MiB once it reads
# "resize-now"; the disk must follow (bounded) and the new end must work.
if [ "$resize" = 1 ]; then
	size0=$(cat $sys/size)
	pvfs_note "resize-now"
	i=0
	while [ "$(cat $sys/size)" = "$size0" ] && [ $i -lt 300 ]; do i=$((i + 1)); usleep 100000; done
	size1=$(cat $sys/size)
	pvfs_note "resize: $size0 -> $size1 sectors after $((i / 10)).$((i % 10)) s"
	if [ "$size1" = $((size0 + 32768)) ]; then
		pvfs_pass polled-resize
		pvfs_round_trip polled-resize-data $((size0 / 2048 + 8)) \
			"4 MiB past the old end did not round-trip"
	else
		pvfs_fail polled-resize "want $((size0 + 32768)) sectors"
	fi
	dmesg | grep -E 'capacity|pvfs0' | tail -n 3 | sed 's/^/    /'
else
	pvfs_skip polled-resize "pvfsctl has no resize"
fi

pvfs_check polled-rmmod rmmod pvfs_blk
pvfs_check_dmesg polled
pvfs_done
EOF
}

e2e_init
e2e_guest_test polled
lost=0 resize=0 hooks=()
if "$e2e_bin/pvfsd" --help 2>&1 | grep -q -- --test-hooks; then
	lost=1 hooks=(--test-hooks)
fi
"$e2e_bin/pvfsctl" --help 2>&1 | grep -qw resize && resize=1
e2e_start_pvfsd "${hooks[@]}"
e2e_attach "$e2e_tenant" vol.img 64M
e2e_start_shim "$e2e_tenant"

e2e_sampler "$e2e_tenant" &
e2e_sampler_pid=$!
e2e_boot_start polled 300 "pvfs.lost=$lost pvfs.resize=$resize pvfs.flag_blk=$flag_blk"
rounds=0
if [ "$lost" = 1 ]; then
	# One round per "arm-drop K" until the guest says "lost-done".
	while [ "$rounds" -lt 5 ]; do
		e2e_wait_note "\(arm-drop $((rounds + 1))\|lost-done\)" "ready to lose an interrupt"
		grep -aq 'PVFS-E2E: NOTE lost-done' "$e2e_work/serial.log" && break
		rounds=$((rounds + 1))
		"${e2e_ctl[@]}" test-drop-interrupts "$e2e_tenant" 1 >/dev/null ||
			e2e_fail "pvfsctl test-drop-interrupts"
		printf 'ARMD%s' "$rounds" | dd of="$e2e_work/vols/vol.img" bs=4096 seek="$flag_blk" count=1 \
			conv=sync,notrunc oflag=direct status=none || e2e_fail "cannot write the flag block"
		e2e_log "round $rounds: one interrupt to drop"
	done
fi
if [ "$resize" = 1 ]; then
	e2e_wait_note resize-now "ready for the resize"
	"${e2e_ctl[@]}" resize "$e2e_tenant" 80M >/dev/null || e2e_fail "pvfsctl resize $e2e_tenant 80M"
	e2e_log "volume resized to 80M"
fi
e2e_boot_wait
e2e_stop e2e_sampler_pid
e2e_check_serial polled
e2e_report "$e2e_tenant"
if [ "$lost" = 1 ]; then
	dropped=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenants"][0].get("interrupts_dropped", "?"))' \
		"$e2e_work/stats.json")
	# The last round's drop may still be pending if the guest's reap on
	# submit took every CQE before an interrupt was due.
	[ "$dropped" -ge 1 ] && [ "$dropped" -le "$rounds" ] 2>/dev/null ||
		e2e_fail "pvfsd dropped $dropped interrupts in $rounds rounds"
	e2e_log "pvfsd dropped $dropped interrupt(s) in $rounds round(s); the guest recovered without an error"
fi
kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "pvfsd died"
e2e_log "PASS (guest ran ${e2e_boot_secs}s)"
