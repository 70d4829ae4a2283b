#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_restart - pvfsd dies (SIGKILL) and comes back while a real guest is
# writing checksummed files to an ext4 file system on /dev/pvfs0. pvfs-shim
# re-plugs the same region into the new pvfsd, which bumps the host
# generation and re-issues what the dead one had in flight from the ring's
# in-flight table; the guest must see a stall, not an error: every write
# and fsync succeeds, every checksum verifies after a remount and a cache
# drop, the kernel log has no I/O error, and the host's e2fsck is clean.
# Same setup as e2e_guest.sh (host-lib.sh).
#
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build),
# PVFS_E2E_KEEP=1.

E2E_NAME=e2e-restart
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

write_guest_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# restart (guest side, from tests/e2e/e2e_restart.sh): keep writing files
# with fsync while the host kills and restarts pvfsd; nothing may fail.
. /lib/pvfs-e2e.sh

pvfs_load_disk restart-insmod 60
pvfs_mkfs_mount restart
mkdir -p /mnt/data
i=0
pvfs_note "restart-ready"
# Write until the host says it has restarted pvfsd, then a few more.
while [ $i -lt 400 ]; do
	pvfs_write_file $i
	i=$((i + 1))
	[ -e /sys/module/pvfs_blk ] || break
	if [ $i -ge 40 ] && dmesg | grep -q 'pvfs.*host restarted'; then
		[ "${after:-0}" -ge 20 ] && break
		after=$((${after:-0} + 1))
	fi
done
pvfs_verify_files restart $i
if dmesg | grep -qE 'I/O error|EXT4-fs error|Buffer I/O'; then
	pvfs_fail restart-dmesg "$(dmesg | grep -E 'I/O error|EXT4-fs error|Buffer I/O' | head -n 3)"
else
	pvfs_pass restart-dmesg
fi
dmesg | grep -E 'pvfs' | tail -n 8 | sed 's/^/    /'
pvfs_check restart-rmmod rmmod pvfs_blk
pvfs_check_dmesg restart
pvfs_done
EOF
}

e2e_init
e2e_guest_test restart

e2e_start_pvfsd
e2e_attach "$e2e_tenant" vol.img 256M
e2e_start_shim "$e2e_tenant"

e2e_boot_start restart 400

# Wait (bounded) until the guest has its file system mounted and is writing.
e2e_wait_note restart-ready "writing"
# Let some writes be in flight, then kill pvfsd in the middle of them.
before=$("${e2e_ctl[@]}" --json stats "$e2e_tenant" | python3 -c \
	'import json, sys; print(json.load(sys.stdin)["tenants"][0]["ops"]["write"]["ops"])')
for _ in $(seq 300); do
	now=$("${e2e_ctl[@]}" --json stats "$e2e_tenant" | python3 -c \
		'import json, sys; print(json.load(sys.stdin)["tenants"][0]["ops"]["write"]["ops"])')
	[ "$now" -gt $((before + 50)) ] && break
	sleep 0.1
done
kill -9 "$e2e_pvfsd_pid"
wait "$e2e_pvfsd_pid" 2>/dev/null
e2e_pvfsd_pid=
e2e_log "killed pvfsd (SIGKILL) after $((now - before)) writes of the guest's run"
e2e_start_pvfsd
e2e_log "pvfsd restarted; waiting for pvfs-shim to re-plug"
for _ in $(seq 300); do
	state=$("${e2e_ctl[@]}" --json stats "$e2e_tenant" 2>/dev/null | python3 -c \
		'import json, sys; print(json.load(sys.stdin)["tenants"][0]["state"])' 2>/dev/null)
	[ "$state" = running ] && break
	sleep 0.1
done
[ "$state" = running ] || e2e_fail "the tenant was not re-plugged within 30 s (state '$state')"
grep -a 're-issued' "$e2e_work/pvfsd.log" | sed 's/^/  /'
e2e_log "re-plugged: $(grep -c 'plugged' "$e2e_work/shim.log") plug(s) in the shim's log"

e2e_boot_wait
e2e_check_serial restart
kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "the new pvfsd died"
e2e_host_fsck vol.img
e2e_log "PASS (guest ran ${e2e_boot_secs}s)"
