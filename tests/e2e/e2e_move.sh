#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_move - a real guest's tenant moves between pvfsd's two pollers every
# 100 ms while the guest writes checksummed files with fsync to an ext4
# file system on /dev/pvfs0 (issue 9, item 3). The guest is never told:
# every write and fsync must succeed, every checksum verify after a
# remount and a cache drop, the kernel log have no I/O error or hung task,
# and the host's e2fsck be clean; pvfsd must have counted every move.
# Same setup as e2e_guest.sh (host-lib.sh); about 40 s under TCG.
#
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build),
# PVFS_E2E_KEEP=1.

E2E_NAME=e2e-move
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

write_guest_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# move (guest side, from tests/e2e/e2e_move.sh): write files with fsync and
# read them back while the host moves the tenant between pollers.
. /lib/pvfs-e2e.sh

pvfs_load_disk move-insmod 60
pvfs_mkfs_mount move
mkdir -p /mnt/data
i=0
pvfs_note "move-ready"
while [ $i -lt 120 ]; do
	pvfs_write_file $i
	i=$((i + 1))
done
pvfs_verify_files move $i
if dmesg | grep -qE 'I/O error|EXT4-fs error|Buffer I/O|blocked for more than'; then
	pvfs_fail move-dmesg "$(dmesg | grep -E 'I/O error|EXT4-fs error|Buffer I/O|blocked for' | head -n 3)"
else
	pvfs_pass move-dmesg
fi
pvfs_check move-rmmod rmmod pvfs_blk
pvfs_check_dmesg move
pvfs_done
EOF
}

e2e_init
e2e_guest_test move

e2e_start_pvfsd --io-threads 2 --rebalance no
e2e_attach "$e2e_tenant" vol.img 256M
e2e_start_shim "$e2e_tenant"

e2e_boot_start move 400

e2e_wait_note move-ready "writing"
# Move back and forth every 100 ms for as long as the guest runs.
moves=0
failed=0
p=$("${e2e_ctl[@]}" --json stats "$e2e_tenant" | python3 -c \
	'import json, sys; print(json.load(sys.stdin)["tenants"][0]["poller"])')
moving_since=$SECONDS
while kill -0 "$e2e_boot_pid" 2>/dev/null; do
	if "${e2e_ctl[@]}" move "$e2e_tenant" --poller $((1 - p)) >/dev/null 2>&1; then
		p=$((1 - p))
		moves=$((moves + 1))
		moving_secs=$((SECONDS - moving_since))
	else
		failed=$((failed + 1))
	fi
	sleep 0.1
done
e2e_boot_wait
e2e_log "$moves moves in ${moving_secs:-0}s of the guest's run ($failed refused: the VM had gone)"
e2e_check_serial move
kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "pvfsd died"
counted=$("${e2e_ctl[@]}" --json stats "$e2e_tenant" | python3 -c \
	'import json, sys; print(json.load(sys.stdin)["tenants"][0]["moves"])')
[ "$counted" = "$moves" ] || e2e_fail "pvfsd counted $counted moves, pvfsctl made $moves"
[ "$moves" -ge 20 ] || e2e_fail "only $moves moves while the guest ran"
e2e_host_fsck vol.img
e2e_log "PASS ($moves moves while the guest wrote and verified 120 files)"
