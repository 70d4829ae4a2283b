#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# fs-verify (guest side): the full end-to-end data test on /dev/pvfs0.
# Loads pvfs_blk, checks the raw device with fio (crc32c verify, several
# jobs so several hardware queues carry I/O), makes an ext4 file system,
# writes pvfs.mib MiB (default 64) across many files and records their
# sha256, drops every cache and remounts before verifying, runs fio
# randwrite+verify on files, fsck's, then unloads and reloads the module
# and verifies the files once more. The host may check the volume file
# afterwards (e2fsck -fn). Kernel arguments: pvfs.mib, pvfs.files,
# pvfs.fio_size (per job), pvfs.fio_jobs, pvfs.wait (seconds for the disk).

. /lib/pvfs-e2e.sh

mib=$(pvfs_arg mib 64)
files=$(pvfs_arg files 32)
fio_size=$(pvfs_arg fio_size 16M)
fio_jobs=$(pvfs_arg fio_jobs 4)
wait_s=$(pvfs_arg wait 60)
dev=/dev/pvfs0
sums=/tmp/sha256sums

# drop: everything cached about the data must come from the device again.
drop() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
}

# fio_iops NAME FILE: one NOTE line with the read and write IOPS and I/Os
# of fio's JSON report FILE (one job with group_reporting; for a verify job
# the reads are the verify pass).
fio_iops() {
	[ -s "$2" ] || return 0
	pvfs_note "$1: $(awk '
	/^ *"(read|write|trim|sync)" : \{/ { sec = $1; gsub(/"/, "", sec) }
	/^ *"total_ios" : / && (sec == "read" || sec == "write") { v = $3; sub(/,/, "", v); ios[sec] += v }
	/^ *"iops" : / && (sec == "read" || sec == "write") { v = $3; sub(/,/, "", v); iops[sec] += v }
	END {
		printf "read %.0f IOPS (%d I/Os), write %.0f IOPS (%d I/Os)", iops["read"], ios["read"],
			iops["write"], ios["write"]
	}' "$2")"
}

remount() {
	pvfs_check "$1-umount" umount /mnt &&
		drop &&
		pvfs_check "$1-mount" mount -t ext4 "$dev" /mnt
}

pvfs_load_disk fs-insmod "$wait_s"
q=/sys/block/pvfs0
pvfs_note "pvfs0: $(($(cat $q/size) / 2048)) MiB, $(ls $q/mq | wc -l) hw queues," \
	"nr_requests $(cat $q/queue/nr_requests), max_sectors_kb $(cat $q/queue/max_sectors_kb)," \
	"max_segments $(cat $q/queue/max_segments), write_cache '$(cat $q/queue/write_cache)'," \
	"discard_max $(cat $q/queue/discard_max_bytes), ro $(cat $q/ro)"
dmesg | grep 'pvfs' | sed 's/^/    /'

# Raw device first: fio owns the first fio_jobs * fio_size bytes, which
# mkfs overwrites afterwards.
pvfs_check fs-fio-raw fio --name=raw --filename="$dev" --direct=1 \
	--ioengine=libaio --iodepth=16 --numjobs="$fio_jobs" --size="$fio_size" \
	--offset_increment="$fio_size" --rw=randwrite --bsrange=4k-128k \
	--verify=crc32c --verify_fatal=1 --do_verify=1 --group_reporting \
	--output-format=json --output=/tmp/fio-raw.json
fio_iops "fio raw randwrite+verify" /tmp/fio-raw.json

pvfs_check fs-mkfs mkfs.ext4 -q -F "$dev"
mkdir -p /mnt
pvfs_check fs-mount mount -t ext4 "$dev" /mnt

# Files of uneven sizes (a few KiB up to several MiB), mib MiB in total.
mkdir -p /mnt/data
left=$((mib * 1024))
i=0
while [ "$left" -gt 0 ]; do
	if [ $((i % 4)) = 3 ]; then kib=$((i * 7 % 61 + 3)); else kib=$((mib * 1024 / files)); fi
	[ "$kib" -gt "$left" ] && kib=$left
	dd if=/dev/urandom of=/mnt/data/f$i bs=1024 count="$kib" 2>/dev/null ||
		pvfs_fail fs-write "dd f$i"
	left=$((left - kib))
	i=$((i + 1))
done
(cd /mnt/data && sha256sum f*) > "$sums"
pvfs_note "wrote $mib MiB in $i files"
pvfs_check fs-sync sync

remount fs-remount1
pvfs_check fs-verify1 sh -c "cd /mnt/data && sha256sum -c -s $sums"

pvfs_check fs-fio-files fio --name=files --directory=/mnt --direct=1 \
	--ioengine=libaio --iodepth=8 --numjobs="$fio_jobs" --size="$fio_size" \
	--rw=randwrite --bs=4k --fsync=64 --verify=crc32c --verify_fatal=1 \
	--do_verify=1 --group_reporting --output-format=json --output=/tmp/fio-files.json
fio_iops "fio files randwrite+verify" /tmp/fio-files.json
drop
pvfs_check fs-fio-reverify fio --name=files --directory=/mnt --direct=1 \
	--ioengine=libaio --iodepth=8 --numjobs="$fio_jobs" --size="$fio_size" \
	--rw=randwrite --bs=4k --verify=crc32c --verify_fatal=1 --verify_only \
	--group_reporting
rm -f /mnt/files.*
if [ "$(cat $q/queue/discard_max_bytes)" != 0 ]; then
	pvfs_check fs-fstrim fstrim /mnt
else
	pvfs_skip fs-fstrim "the volume offers no discard"
fi

pvfs_check fs-umount umount /mnt
pvfs_check fs-fsck e2fsck -fn "$dev"
pvfs_check fs-rmmod rmmod pvfs_blk

pvfs_load_disk fs-reinsmod "$wait_s"
pvfs_check fs-mount2 mount -t ext4 -o ro "$dev" /mnt
pvfs_check fs-verify2 sh -c "cd /mnt/data && sha256sum -c -s $sums"
pvfs_check fs-umount2 umount /mnt
pvfs_check fs-rmmod2 rmmod pvfs_blk

pvfs_check_dmesg fs
pvfs_done
