#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_fs_verify_fakehost - the full guest data test (guest/fs-verify.sh) against
# fakehost.py instead of pvfsd: exercises pvfs_blk's real data path (SQ,
# segments, doorbell, MSI-X completions, several queues) in QEMU with no
# daemon. The host then checks the volume file with e2fsck. The same guest
# script runs against pvfsd once pvfs-shim can serve the ivshmem chardev.
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build:
# its tests/mkregion), PVFS_PROTO=dir (the module's pvfs_ring.h),
# PVFS_E2E_QUEUES (2), PVFS_E2E_MIB (64), PVFS_E2E_TIMEOUT (1200 s).

set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
proto=${PVFS_PROTO:-$repo/proto}
build=${PVFS_BUILD:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
mkregion=$build/tests/mkregion
queues=${PVFS_E2E_QUEUES:-2}
mib=${PVFS_E2E_MIB:-64}
tmo=${PVFS_E2E_TIMEOUT:-1200}
test=${PVFS_E2E_TEST:-fs-verify}

skip() { echo "e2e_fs_verify_fakehost: SKIP: $*"; exit 77; }
fail() { echo "e2e_fs_verify_fakehost: FAIL: $*"; exit 1; }

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
command -v fio >/dev/null || skip "fio missing"
command -v e2fsck >/dev/null || skip "e2fsprogs missing"
python3 -c 'import os; os.eventfd' 2>/dev/null || skip "python3 >= 3.10 missing"
kver=$(ls /lib/modules 2>/dev/null | grep -- '-amd64$' | sort -V | tail -n 1)
[ -n "$kver" ] && [ -r "/boot/vmlinuz-$kver" ] || skip "no Debian amd64 guest kernel in /boot"
[ -d "/lib/modules/$kver/build" ] || skip "no headers for $kver"

[ -x "$mkregion" ] || fail "$mkregion missing (make builds it)"

work=$(mktemp -d "${TMPDIR:-/tmp}/pvfs-fs-verify.XXXXXX")
host_pid=
cleanup() {
	[ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null && wait "$host_pid"
	rm -rf "$work"
}
trap cleanup EXIT

make -s -C "$repo/guest-kmod" KVER="$kver" PVFS_PROTO="$proto" >"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; fail "module build"; }
"$here/mkinitramfs" -k "$kver" "$work" >/dev/null || fail "mkinitramfs"

truncate -s 1G "$work/guest-mem"
truncate -s 512M "$work/volume"
# FLUSH | DISCARD | WRITE_ZEROES; 64 segments of a page = max_io.
"$mkregion" "$work/region" --size 1048576 --queues "$queues" --depth 64 --segs 64 \
	--state ready --capacity $((512 << 20)) --block 512 --max-io 262144 \
	--features 0x7 --peer 0 --layout > "$work/layout.json" || fail "mkregion"

python3 "$here/fakehost.py" --socket "$work/ivshmem.sock" --region "$work/region" \
	--layout "$work/layout.json" --guest-mem "$work/guest-mem" \
	--volume "$work/volume" --vectors "$queues" > "$work/host.log" 2>&1 &
host_pid=$!
for _ in $(seq 50); do [ -S "$work/ivshmem.sock" ] && break; sleep 0.1; done
[ -S "$work/ivshmem.sock" ] || fail "fakehost did not start"

"$here/boot-guest" -k "$kver" -i "$work/initramfs.cpio.gz" -t "$test" -m 1G -T "$tmo" \
	-l "$work/serial.log" -a "pvfs.mib=$mib" -- \
	-object "memory-backend-file,id=mem,size=1G,mem-path=$work/guest-mem,share=on" \
	-machine memory-backend=mem \
	-chardev "socket,path=$work/ivshmem.sock,id=ivs" \
	-device "ivshmem-doorbell,chardev=ivs,vectors=$queues"
rc=$?
grep -a 'PVFS-E2E:\|pvfs' "$work/serial.log"

if [ "$rc" = 0 ] && [ "$test" = fs-verify ]; then
	e2fsck -fn "$work/volume" >"$work/fsck.log" 2>&1 ||
		{ cat "$work/fsck.log"; rc=1; echo "e2e_fs_verify_fakehost: host e2fsck found errors"; }
fi
kill "$host_pid" 2>/dev/null && wait "$host_pid"
host_pid=
sed 's/^/host: /' "$work/host.log"
case $rc in
0) echo "e2e_fs_verify_fakehost: PASS"; exit 0 ;;
77) exit 77 ;;
*) echo "e2e_fs_verify_fakehost: FAIL (rc $rc); serial log tail:"; tail -n 60 "$work/serial.log" | cat -v; exit 1 ;;
esac
