#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# fio-bench (guest side): the same fio job on the pvfs disk and on virtio
# comparison disks, in turn, for bench/guest-bench. Loads pvfs_blk, waits
# for the disks (pvfs.disks), gives all the same I/O scheduler (none), then
# for every workload runs fio on each disk. Each run is framed by two
# console lines the host acts on, with idle gaps around the run so that the
# host's counter snapshots fall where no disk does I/O:
#
#   PVFS-E2E: NOTE bench-begin DISK RW t=UPTIME
#   PVFS-E2E: NOTE bench-end DISK RW t=UPTIME ios=N iops=X ...
#
# A pvfs.disks entry is a block device name (vda, pvfs0), which is also the
# DISK of its lines, or LABEL@PCI (vhost@0000:00:10.0): the virtio disk of
# the PCI function at that address, whatever vdX the guest named it, with
# LABEL as its DISK (so a disk attached by address, like the
# vhost-user-blk one, cannot be mistaken for another virtio-blk disk), or
# LABEL=DEV (pvfs-coalesce=pvfs0): DEV again under another DISK name, so
# the host can run it in another setting. A LABEL ending in "-poll" runs
# fio with --ioengine=io_uring --hipri (IORING_SETUP_IOPOLL: pvfs_blk's
# polled queue, loaded with pvfs.kmod=poll_queues=1) instead of libaio.
#
# The end line also carries what the guest itself saw: completed requests
# from /sys/block/DISK/stat, interrupts of the disk's vectors from
# /proc/interrupts, and (when the kernel lets us put a kprobe on
# virtqueue_notify) the virtio kicks the guest really wrote; the host-side
# counts may be lower when notifications coalesce. pvfs.kmod: pvfs_blk's
# module parameters, comma-separated. Kernel arguments:
# pvfs.rw (randread,randwrite), pvfs.disks (vda,pvfs0), pvfs.bs (4k),
# pvfs.iodepth (16), pvfs.jobs (1), pvfs.runtime (10 s), pvfs.span (256M
# of each disk), pvfs.gap (2 s idle around each run), pvfs.wait (60 s).

. /lib/pvfs-e2e.sh

rws=$(pvfs_arg rw randread,randwrite)
disks=$(pvfs_arg disks vda,pvfs0)
bs=$(pvfs_arg bs 4k)
iodepth=$(pvfs_arg iodepth 16)
jobs=$(pvfs_arg jobs 1)
runtime=$(pvfs_arg runtime 10)
span=$(pvfs_arg span 256M)
gap=$(pvfs_arg gap 2)
wait_s=$(pvfs_arg wait 60)
tr=/sys/kernel/tracing

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# irqs DISK: interrupts taken so far on DISK's request vectors, all CPUs.
irqs() {
	case $1 in
	pvfs*) pat="$1-q" ;;
	*) pat="$(basename "$(readlink -f /sys/block/$1/device)")-req" ;;
	esac
	awk -v pat="$pat" 'index($0, pat) { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i }
		END { print n + 0 }' /proc/interrupts
}

# pci_disk ADDR: the block device whose virtio device sits on the PCI
# function ADDR (0000:00:10.0), or nothing yet.
pci_disk() {
	for b in /sys/block/vd*; do
		[ -e "$b/device" ] || continue
		case $(readlink -f "$b/device") in
		*/"$1"/virtio*) basename "$b"; return 0 ;;
		esac
	done
}

# completed DISK: reads + writes the block layer completed on DISK.
completed() { awk '{ print $1 + $5 }' "/sys/block/$1/stat"; }

# kicks: virtqueue_notify calls so far (every virtio kick the guest wrote),
# or "-" without the kprobe.
kicks() {
	[ -r "$tr/kprobe_profile" ] || { echo -; return; }
	awk '$1 == "pvfsbench_kick" { print $2; f = 1 } END { if (!f) print "-" }' "$tr/kprobe_profile"
}

# A kprobe that only counts: the event is enabled so the probe is armed,
# tracing is off so nothing is written to the trace buffer.
setup_kprobe() {
	mount -t tracefs nodev "$tr" 2>/dev/null
	echo 'p:pvfsbench_kick virtqueue_notify' >> "$tr/kprobe_events" 2>/dev/null &&
		echo 0 > "$tr/tracing_on" &&
		echo 1 > "$tr/events/kprobes/pvfsbench_kick/enable" 2>/dev/null ||
		pvfs_note "no kprobe on virtqueue_notify: guest-side virtio kicks not counted"
}

# fio_json FILE: "ios=N iops=X rd_ios=.. wr_ios=.." from fio's JSON output
# (one job with group_reporting); the sections read/write/trim/sync each
# carry total_ios and iops at their first level.
fio_json() {
	awk '
	/^ *"(read|write|trim|sync)" : \{/ { sec = $1; gsub(/"/, "", sec) }
	/^ *"total_ios" : / && (sec == "read" || sec == "write") { v = $3; sub(/,/, "", v); ios[sec] += v }
	/^ *"iops" : / && (sec == "read" || sec == "write") { v = $3; sub(/,/, "", v); iops[sec] += v }
	END {
		printf "ios=%d iops=%.0f rd_ios=%d wr_ios=%d\n", ios["read"] + ios["write"],
			iops["read"] + iops["write"], ios["read"], ios["write"]
	}' "$1"
}

# shellcheck disable=SC2046
pvfs_check bench-insmod insmod "$PVFS_KO" $(pvfs_arg kmod "" | tr , ' ')
# pairs: "LABEL/DEV ..." for the disks in pvfs.disks order.
pairs=
for spec in $(echo "$disks" | tr , ' '); do
	case $spec in
	*@*)
		label=${spec%%@*} addr=${spec#*@} d= i=0
		while d=$(pci_disk "$addr"); [ -z "$d" ]; do
			[ "$i" -ge "$((wait_s * 10))" ] && break
			usleep 100000
			i=$((i + 1))
		done
		;;
	*=*)
		label=${spec%%=*} addr= d=${spec#*=}
		pvfs_wait_for "/dev/$d" "$wait_s" || d=
		;;
	*)
		label=$spec addr= d=$spec
		pvfs_wait_for "/dev/$d" "$wait_s" || d=
		;;
	esac
	if [ -z "$d" ] || [ ! -e "/dev/$d" ]; then
		pvfs_fail bench-disk "$spec did not appear within ${wait_s}s"
		dmesg | grep -E 'pvfs|virtio' | tail -n 20 | sed 's/^/    /'
		pvfs_done
	fi
	case $spec in
	*=*) ;;		# LABEL=DEV names a disk again on purpose
	*)
		case " $pairs " in
		*/"$d "*)
			pvfs_fail bench-disk "$spec is /dev/$d, which another entry of pvfs.disks names too"
			pvfs_done
			;;
		esac
		;;
	esac
	pairs="$pairs $label/$d"
	echo none > "/sys/block/$d/queue/scheduler" 2>/dev/null
	pvfs_note "$label: /dev/$d${addr:+ (pci $addr, serial '$(cat /sys/block/$d/serial 2>/dev/null)')}," \
		"$(($(cat /sys/block/$d/size) / 2048)) MiB, $(ls /sys/block/$d/mq | wc -l) hw queues," \
		"scheduler $(cat /sys/block/$d/queue/scheduler), nr_requests $(cat /sys/block/$d/queue/nr_requests)"
done
setup_kprobe

for rw in $(echo "$rws" | tr , ' '); do
	for pair in $pairs; do
		label=${pair%/*} d=${pair#*/}
		c0=$(completed "$d") i0=$(irqs "$d") k0=$(kicks)
		case $label in
		*-poll) engine="--ioengine=io_uring --hipri" ;;
		*) engine=--ioengine=libaio ;;
		esac
		pvfs_note "bench-begin $label $rw t=$(uptime_s)"
		sleep "$gap"
		# shellcheck disable=SC2086
		if fio --name=bench --filename="/dev/$d" --direct=1 $engine \
			--rw="$rw" --bs="$bs" --iodepth="$iodepth" --numjobs="$jobs" \
			--size="$span" --time_based --runtime="$runtime" --norandommap \
			--randrepeat=0 --group_reporting --output-format=json \
			> /tmp/fio.json 2> /tmp/fio.err; then
			res=$(fio_json /tmp/fio.json)
			pvfs_pass "bench-$label-$rw"
		else
			res="ios=0 iops=0"
			sed 's/^/    /' /tmp/fio.err | tail -n 10
			pvfs_fail "bench-$label-$rw" "fio failed"
		fi
		sleep "$gap"
		c1=$(completed "$d") i1=$(irqs "$d") k1=$(kicks)
		case $d in vd*) [ "$k0" = - ] || gk=$((k1 - k0)) ;; *) gk=- ;; esac
		pvfs_note "bench-end $label $rw t=$(uptime_s) $res guest_reqs=$((c1 - c0))" \
			"guest_irqs=$((i1 - i0)) guest_kicks=${gk:--}"
		gk=
	done
done

pvfs_check bench-rmmod rmmod pvfs_blk
pvfs_check_dmesg bench
pvfs_done
