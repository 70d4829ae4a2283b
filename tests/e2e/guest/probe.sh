#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# probe (guest side): a quick look at a pvfs device for debugging: load
# pvfs_blk, wait for /dev/pvfs0, print what the driver and the block layer
# made of it, read and write a little with bounded commands, and show the
# interrupt counts of the pvfs vectors. Never hangs: every step that touches
# the device runs under a timeout.

. /lib/pvfs-e2e.sh

timeout 60 insmod "$PVFS_KO" &
pid=$!
pvfs_wait_for /dev/pvfs0 "$(pvfs_arg wait 30)" && pvfs_pass probe-disk ||
	pvfs_fail probe-disk "/dev/pvfs0 did not appear"
dmesg | grep pvfs | sed 's/^/    /'
grep pvfs /proc/interrupts | sed 's/^/    /'
if [ -e /dev/pvfs0 ]; then
	pvfs_check probe-read timeout 30 dd if=/dev/pvfs0 of=/dev/null bs=64k count=16
	pvfs_check probe-write timeout 30 dd if=/dev/urandom of=/dev/pvfs0 bs=4k count=16 oflag=direct
	pvfs_check probe-flush timeout 30 sync
	grep pvfs /proc/interrupts | sed 's/^/    /'
fi
wait $pid
pvfs_check probe-rmmod timeout 30 rmmod pvfs_blk
pvfs_check_dmesg probe
pvfs_done
