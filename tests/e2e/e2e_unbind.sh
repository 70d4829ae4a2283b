#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_unbind - unbinding pvfs_blk and rmmod with I/O in flight never hang,
# in one boot of the real product (host-lib.sh: pvfsd, pvfs-shim):
#   1. pvfsd alive, fio writing: rmmod returns at once with an error (the
#      disk is open), unbind returns, fio ends with errors, and a rebind
#      gives a disk whose data round trip verifies;
#   2. pvfsd killed (SIGKILL, never restarted) while fio has requests in
#      flight: rmmod again returns with an error, unbind returns within
#      remove_timeout_ms (2 s here) plus the reset wait, fio ends with I/O
#      errors, rmmod then succeeds, and the kernel log says why.
# On a driver that waits for requests while the host may still answer,
# step 2's unbind never returns (the guest test times out).
# About 70 s under TCG.
#
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build),
# PVFS_E2E_KEEP=1.

E2E_NAME=e2e-unbind
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

write_guest_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# unbind (guest side, from tests/e2e/e2e_unbind.sh).
. /lib/pvfs-e2e.sh

dev=/dev/pvfs0
drv=/sys/bus/pci/drivers/pvfs_blk
params="remove_timeout_ms=2000 ready_timeout_ms=5000"

# flood: fio writing to the disk for up to 120 s in the background, until
# at least 4 requests are in flight (bounded); its pid in $fio_pid.
flood() {
	fio --name=flood --filename=$dev --direct=1 --ioengine=libaio --rw=randwrite \
		--bs=4k --iodepth=32 --size=32M --time_based --runtime=120 \
		>/tmp/fio.$1 2>&1 &
	fio_pid=$!
	i=0
	while [ "$(awk '{ print $1 + $2 }' /sys/block/pvfs0/inflight 2>/dev/null || echo 0)" -lt 4 ]; do
		i=$((i + 1))
		if [ "$i" -ge 300 ]; then
			pvfs_fail "$1-inflight" "fewer than 4 requests in flight after 30 s"
			pvfs_done
		fi
		usleep 100000
	done
}

# unbind_bounded NAME SECONDS: unbind the device in the background and wait
# up to SECONDS for the write to return (a hung unbind cannot be killed).
unbind_bounded() {
	t0=$(date +%s)
	( echo "$addr" > $drv/unbind ) 2>/tmp/unbind.err &
	ub=$!
	i=0
	while kill -0 $ub 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -ge $(($2 * 10)) ]; then
			pvfs_fail "$1" "unbind did not return within $2 s"
			dmesg | grep pvfs | tail -n 10 | sed 's/^/    /'
			pvfs_done
		fi
		usleep 100000
	done
	secs=$(($(date +%s) - t0))
	if [ ! -e $dev ]; then
		pvfs_pass "$1"
		pvfs_note "$1 returned after ${secs}s"
	else
		pvfs_fail "$1" "$dev still there after unbind"
	fi
}

# fio_failed NAME FLOOD: the background fio of flood FLOOD ended (bounded)
# with an I/O error.
fio_failed() {
	i=0
	while kill -0 $fio_pid 2>/dev/null && [ $i -lt 300 ]; do i=$((i + 1)); usleep 100000; done
	if wait $fio_pid; then
		pvfs_fail "$1" "fio succeeded"
	elif grep -Eq 'error|Input/output' /tmp/fio.$2; then
		pvfs_pass "$1"
		pvfs_note "$1: $(grep -Eo '(err|error)=[^ ,]*.*' /tmp/fio.$2 | head -n 1)"
	else
		tail -n 5 /tmp/fio.$2 | sed 's/^/    /'
		pvfs_fail "$1" "fio ended without an I/O error"
	fi
}

# unbind_busy FLOOD: with flood FLOOD's fio holding the disk open, rmmod is
# refused, the unbind returns (bounded) and fio ends with an I/O error.
unbind_busy() {
	if timeout 10 rmmod pvfs_blk 2>/dev/null; then
		pvfs_fail unbind-$1-rmmod "rmmod succeeded with the disk open"
	else
		pvfs_pass unbind-$1-rmmod
	fi
	unbind_bounded unbind-$1 30
	fio_failed $1-fio $1
}

pvfs_load_disk unbind-insmod 60 $params
addr=$(basename "$(readlink -f /sys/block/pvfs0/device)")
pvfs_note "device $addr"

# 1. pvfsd alive.
flood alive
unbind_busy alive
pvfs_check unbind-rebind sh -c "echo $addr > $drv/bind"
if pvfs_wait_for $dev 30; then
	pvfs_round_trip unbind-rebind-data 8 "4 MiB read back differ"
else
	pvfs_fail unbind-rebind-disk "no $dev after bind"
	pvfs_done
fi

# 2. pvfsd gone: the host kills it once it reads this line; we see the
# requests stop completing.
flood gone
pvfs_note "kill-pvfsd"
last=-1 same=0 i=0
while [ $same -lt 10 ]; do
	now=$(awk '{ print $1 + $5 }' /sys/block/pvfs0/stat)
	if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; fi
	last=$now
	i=$((i + 1))
	[ $i -lt 600 ] || { pvfs_fail unbind-gone-stall "I/O still completes 60 s after kill-pvfsd"; pvfs_done; }
	usleep 100000
done
pvfs_note "I/O stalled with $(awk '{ print $1 + $2 }' /sys/block/pvfs0/inflight) request(s) in flight"
unbind_busy gone
pvfs_check unbind-rmmod timeout 30 rmmod pvfs_blk
dmesg | grep -E 'pvfs' | tail -n 8 | sed 's/^/    /'
if dmesg | grep -q 'completed nothing for remove_timeout_ms'; then
	pvfs_pass unbind-gone-reason
else
	pvfs_fail unbind-gone-reason "no message saying why the requests failed"
fi
pvfs_check_dmesg unbind
pvfs_done
EOF
}

e2e_init
e2e_guest_test unbind
e2e_start_pvfsd
e2e_attach "$e2e_tenant" vol.img 64M
e2e_start_shim "$e2e_tenant"

e2e_boot_start unbind 300
e2e_wait_note kill-pvfsd "ready for pvfsd to go"
kill -9 "$e2e_pvfsd_pid"
wait "$e2e_pvfsd_pid" 2>/dev/null
e2e_pvfsd_pid=
e2e_log "pvfsd killed (SIGKILL) under the guest's I/O"
e2e_boot_wait
e2e_check_serial unbind
e2e_log "PASS (guest ran ${e2e_boot_secs}s)"
