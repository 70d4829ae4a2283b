#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_nbd - a real guest on an NBD volume: qemu-storage-daemon exports a
# 512 MiB raw file over a Unix socket, pvfsd serves it to the guest through
# its NBD backend (libnbd, the socket polled by the poller's io_uring), and
# the Debian guest kernel with pvfs_blk.ko runs guest/fs-verify.sh on
# /dev/pvfs0 (raw fio verify, mkfs.ext4, checksummed files across remounts
# and cache drops, fio randwrite+verify). The host then stops the server and
# checks the exported file with e2fsck and debugfs: the guest's file system
# is in the NBD server's file, whole. About 1-2 minutes under TCG.
#
# Exit status: 0 pass, 1 fail, 77 skip (qemu, guest kernel, headers, fio,
# e2fsprogs or qemu-storage-daemon missing; scripts/install-deps installs
# them). Environment as e2e_guest.sh (PVFS_E2E_MIB, PVFS_E2E_FIO_SIZE,
# PVFS_E2E_FIO_JOBS, PVFS_E2E_TIMEOUT, PVFS_E2E_MEM, PVFS_E2E_KEEP).

set -uo pipefail

E2E_NAME=e2e-nbd
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

nbd_pid=

nbd_cleanup() {
	e2e_stop nbd_pid
	e2e_cleanup
}

e2e_main() {
	local i backend

	command -v qemu-storage-daemon >/dev/null || e2e_skip "qemu-storage-daemon missing"
	e2e_init
	trap nbd_cleanup EXIT
	# The export lives outside the volume directories: pvfsd reaches it only by NBD.
	truncate -s 512M "$e2e_work/export.img" || e2e_fail "cannot create the export"
	qemu-storage-daemon \
		--blockdev "driver=file,node-name=disk,filename=$e2e_work/export.img,cache.direct=off" \
		--nbd-server "addr.type=unix,addr.path=$e2e_work/nbd.sock" \
		--export "type=nbd,id=exp0,node-name=disk,name=vm,writable=on" \
		>>"$e2e_work/nbd.log" 2>&1 &
	nbd_pid=$!
	for i in $(seq 100); do
		[ -S "$e2e_work/nbd.sock" ] && break
		kill -0 "$nbd_pid" 2>/dev/null || { cat "$e2e_work/nbd.log"; e2e_fail "qemu-storage-daemon exited"; }
		sleep 0.1
	done
	[ -S "$e2e_work/nbd.sock" ] || e2e_fail "qemu-storage-daemon did not listen within 10 s"
	e2e_start_pvfsd --allow-nbd "nbd+unix:///*?socket=$e2e_work/*"
	"${e2e_ctl[@]}" attach "$e2e_tenant" --volume "nbd+unix:///vm?socket=$e2e_work/nbd.sock" \
		>/dev/null || e2e_fail "pvfsctl attach of the NBD export"
	backend=$("${e2e_ctl[@]}" --json stats "$e2e_tenant" | python3 -c '
import json, sys
b = json.load(sys.stdin)["tenants"][0]["backend"]
print(b["kind"], b["state"], b["connections"])')
	e2e_log "backend: $backend"
	[ "${backend%% *}" = nbd ] || e2e_fail "the tenant is not on the NBD backend: $backend"
	e2e_start_shim "$e2e_tenant"
	e2e_fs_verify
	# Detach, stop the server (it flushes), then check its file from the host.
	e2e_stop e2e_shim_pid
	for i in $(seq 100); do
		"${e2e_ctl[@]}" detach "$e2e_tenant" >/dev/null 2>&1 && break
		sleep 0.1
	done
	e2e_stop nbd_pid
	mv "$e2e_work/export.img" "$e2e_work/vols/export.img"
	e2e_host_fsck export.img
	e2e_log "PASS (guest ran ${e2e_boot_secs}s)"
}

e2e_main "$@"
