#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_detach - `pvfsctl detach` of a tenant whose disk a running guest has
# mounted and is writing to. The guest must see I/O errors within a bounded
# time (not hang), unmount, unload the module, and on reload refuse the
# removed device; pvfsd must answer throughout, release the volume, and
# accept a new attach of it. Same setup as e2e_guest.sh (host-lib.sh); the
# guest side is written below and appended to the initramfs as
# /tests/detach.sh.
#
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build),
# PVFS_E2E_DETACH_LIMIT (30 s the guest allows for the first error),
# PVFS_E2E_KEEP=1.

E2E_NAME=e2e-detach
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

limit=${PVFS_E2E_DETACH_LIMIT:-30}

# The guest side, on the pvfs-e2e conventions (tests/e2e/guest-lib.sh).
write_guest_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# detach (guest side, from tests/e2e/e2e_detach.sh): write to a mounted
# pvfs disk while the host detaches its tenant; the writes must fail with an
# error within pvfs.limit seconds, and the module must unload and, on reload,
# refuse the removed device.
. /lib/pvfs-e2e.sh

dev=/dev/pvfs0
limit=$(pvfs_arg limit 30)

pvfs_load_disk detach-insmod 60
pvfs_mkfs_mount detach
pvfs_check detach-write dd if=/dev/urandom of=/mnt/before bs=1M count=4 conv=fsync

# The host detaches once it reads this line. Every write below is O_DIRECT,
# so each one reaches the driver; timeout bounds a write that would hang.
pvfs_note "detach-ready"
start=$(date +%s)
n=0
while :; do
	if ! timeout "$limit" dd if=/dev/zero of=/mnt/after bs=64k count=16 oflag=direct \
			conv=notrunc 2>/tmp/dd.err; then
		break
	fi
	n=$((n + 1))
	if [ $(($(date +%s) - start)) -ge "$limit" ]; then
		pvfs_fail detach-eio "writes still succeed ${limit}s after detach-ready"
		break
	fi
	usleep 50000
done
secs=$(($(date +%s) - start))
# EIO once the driver has seen REMOVED; ENODEV ("No such device") for a write
# the host itself failed first with -ENODEV (device offline): both are the
# I/O error a removed disk must give, whichever side noticed first.
if grep -Eq 'Input/output error|No such device' /tmp/dd.err; then
	pvfs_pass detach-eio
	pvfs_note "first failed write after ${secs}s ($n writes succeeded): $(grep -m 1 error /tmp/dd.err)"
else
	pvfs_fail detach-eio "write ended without EIO/ENODEV after ${secs}s: $(cat /tmp/dd.err)"
fi
if timeout "$limit" dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null; then
	pvfs_fail detach-raw-eio "a raw read of the removed disk succeeded"
else
	pvfs_pass detach-raw-eio
fi

pvfs_check detach-umount timeout "$limit" umount /mnt
pvfs_check detach-rmmod rmmod pvfs_blk
# The device stays in the VM, but its region now says REMOVED.
pvfs_check detach-reinsmod insmod "$PVFS_KO" ready_timeout_ms=1000
if dmesg | grep -q 'pvfs_blk[ :].*pvfs host state is REMOVED, not binding' && [ ! -e "$dev" ]; then
	pvfs_pass detach-refused
else
	pvfs_fail detach-refused "the reloaded driver did not refuse the removed device"
fi
pvfs_check detach-rmmod2 rmmod pvfs_blk
dmesg | grep -E 'pvfs|I/O error|EXT4-fs error|JBD2' | tail -n 12 | sed 's/^/    /'
pvfs_check_dmesg detach
pvfs_done
EOF
}

e2e_init
e2e_guest_test detach

e2e_start_pvfsd
e2e_attach "$e2e_tenant" vol.img 256M
e2e_start_shim "$e2e_tenant"

e2e_boot_start detach 300 "pvfs.limit=$limit"

# Wait (bounded) until the guest has its file system mounted and is writing.
e2e_wait_note detach-ready "ready for the detach"

d0=$EPOCHREALTIME
timeout 60 "${e2e_ctl[@]}" detach "$e2e_tenant" >/dev/null ||
	e2e_fail "pvfsctl detach $e2e_tenant failed or took over 60 s"
e2e_log "detach of the mounted, busy disk returned in $(awk "BEGIN { printf \"%.3f\", $EPOCHREALTIME - $d0 }") s"

# pvfsd stays healthy: it answers, forgot the tenant, released the volume.
kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "pvfsd died on detach"
"${e2e_ctl[@]}" version >/dev/null || e2e_fail "pvfsctl version after detach"
"${e2e_ctl[@]}" list | grep -qw "$e2e_tenant" && e2e_fail "tenant $e2e_tenant still listed after detach"
"${e2e_ctl[@]}" attach "$e2e_tenant-again" --volume vol.img >/dev/null ||
	e2e_fail "attach of the detached volume under a new name"
truncate -s 64M "$e2e_work/vols/other.img"
"${e2e_ctl[@]}" attach "$e2e_tenant-other" --volume other.img >/dev/null ||
	e2e_fail "attach of another volume after detach"
e2e_log "pvfsd healthy after detach: $("${e2e_ctl[@]}" list | grep -c "$e2e_tenant-") new tenants attached"

e2e_boot_wait
e2e_check_serial detach
kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "pvfsd died"
"${e2e_ctl[@]}" detach "$e2e_tenant-again" >/dev/null || e2e_fail "detach $e2e_tenant-again"
"${e2e_ctl[@]}" detach "$e2e_tenant-other" >/dev/null || e2e_fail "detach $e2e_tenant-other"
e2e_log "PASS (guest ran ${e2e_boot_secs}s)"
