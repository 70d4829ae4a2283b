#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_stale - no stale data ever lands in a reused page. In one boot of the
# real product (host-lib.sh), the guest keeps 64 O_DIRECT READs in flight
# (tests/e2e/staleread.c) on a volume the host filled with a known pattern,
# reuses each buffer the moment its READ fails, and checks the buffers
# again after a pause; every successful READ must carry the right block:
#   1. the host corrupts queue 0's ring (an impossible sq_tail written into
#      the region): pvfsd drains and marks the tenant BROKEN, the READs fail
#      with EIO, no reused buffer changes; unbind and bind then reset the
#      ring (PVFS_F_RESET repairs BROKEN) and the disk reads right again;
#   2. `pvfsctl detach` under the same READs: the same checks.
# The volume file is unchanged at the end (the guest only read). Needs
# pvfsd's drain-first terminal states and the reset handshake.
# About 60 s under TCG.
#
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build),
# PVFS_E2E_KEEP=1.

E2E_NAME=e2e-stale
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

blocks=4096	# 16 MiB of pattern

write_guest_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# stale (guest side, from tests/e2e/e2e_stale.sh).
. /lib/pvfs-e2e.sh

dev=/dev/pvfs0
drv=/sys/bus/pci/drivers/pvfs_blk
blocks=$(pvfs_arg blocks 4096)

# reads NAME NOTE: staleread in flight, tell the host NOTE, check its verdict.
reads() {
	staleread $dev "$blocks" 64 3 120 >/tmp/$1.out 2>&1 &
	pid=$!
	i=0
	while ! grep -q 'in flight' /tmp/$1.out; do
		i=$((i + 1))
		[ $i -lt 300 ] || { pvfs_fail "$1-start" "staleread did not start"; pvfs_done; }
		usleep 100000
	done
	pvfs_note "$2"
	if wait $pid; then
		pvfs_pass "$1"
	else
		pvfs_fail "$1" "$(tr '\n' ' ' < /tmp/$1.out)"
	fi
	pvfs_note "$1: $(grep 'ok=' /tmp/$1.out)"
}

pvfs_load_disk stale-insmod 60 ready_timeout_ms=10000
addr=$(basename "$(readlink -f /sys/block/pvfs0/device)")
if [ $(( $(cat /sys/block/pvfs0/pvfs/features) & 0x30 )) -ne $((0x30)) ]; then
	pvfs_skip stale "the host offers no PVFS_F_DRAIN and PVFS_F_RESET ($(cat /sys/block/pvfs0/pvfs/features))"
	pvfs_note "stale-skip"
	pvfs_done
fi

reads stale-broken stale-corrupt
if dmesg | grep -q 'host found the ring broken'; then
	pvfs_pass stale-broken-seen
else
	pvfs_fail stale-broken-seen "the driver did not report BROKEN"
fi
pvfs_check stale-unbind timeout 60 sh -c "echo $addr > $drv/unbind"
pvfs_check stale-bind timeout 60 sh -c "echo $addr > $drv/bind"
pvfs_wait_for $dev 30 || { pvfs_fail stale-repair "no $dev after the reset"; pvfs_done; }
pvfs_note "after the reset: host_state $(cat /sys/block/pvfs0/pvfs/host_state)"

reads stale-detach stale-detach
pvfs_check stale-umount-rmmod rmmod pvfs_blk
dmesg | grep pvfs | tail -n 10 | sed 's/^/    /'
pvfs_check_dmesg stale
pvfs_done
EOF
}

# corrupt_ring: write an impossible sq_tail into queue 0 of the tenant's
# region (the memfd pvfs-shim holds), for a second so that pvfsd reads it
# between the guest's own stores.
corrupt_ring() {
	python3 - "$e2e_shim_pid" <<'PY' || e2e_fail "cannot write into the region"
import glob, mmap, os, struct, sys, time
pid = sys.argv[1]
for fd in glob.glob("/proc/%s/fd/*" % pid):
    if "pvfs-region" in os.readlink(fd):
        break
else:
    sys.exit("no pvfs-region memfd in pvfs-shim")
with open(fd, "r+b") as f:
    m = mmap.mmap(f.fileno(), 8192)
    off = 4096   # queue 0's struct pvfs_queue_ctrl; sq_tail first
    end = time.time() + 1.0
    while time.time() < end:
        tail = struct.unpack_from("<I", m, off)[0]
        struct.pack_into("<I", m, off, (tail + 0x10000) & 0xffffffff)
        time.sleep(0.001)
    m.close()
PY
}

e2e_init
command -v gcc >/dev/null || e2e_skip "gcc missing"
mkdir -p "$e2e_work/tools/usr/bin"
gcc -static -O2 -Wall -Wextra -o "$e2e_work/tools/usr/bin/staleread" "$e2e_here/staleread.c" ||
	e2e_fail "cannot build staleread"
e2e_overlay "$e2e_work/tools"
e2e_guest_test stale
e2e_start_pvfsd
python3 - "$e2e_work/vols/vol.img" "$blocks" <<'PY' || e2e_fail "cannot write the pattern"
import array, sys
base = 0x1111000000000000
with open(sys.argv[1], "wb") as f:
    for b in range(int(sys.argv[2])):
        f.write(array.array("Q", range(base + b * 512, base + b * 512 + 512)).tobytes())
PY
sum0=$(md5sum < "$e2e_work/vols/vol.img")
"${e2e_ctl[@]}" attach "$e2e_tenant" --volume vol.img >/dev/null || e2e_fail "pvfsctl attach"
e2e_start_shim "$e2e_tenant"

e2e_boot_start stale 300 "pvfs.blocks=$blocks"
e2e_wait_note 'stale-\(corrupt\|skip\)' "reading"
if grep -aq 'PVFS-E2E: NOTE stale-skip' "$e2e_work/serial.log"; then
	wait "$e2e_boot_pid"
	e2e_skip "pvfsd offers no PVFS_F_DRAIN and PVFS_F_RESET yet"
fi
corrupt_ring
e2e_log "queue 0's sq_tail corrupted under 64 READs in flight"
e2e_wait_note stale-detach "reading again after the reset"
timeout 60 "${e2e_ctl[@]}" detach "$e2e_tenant" >/dev/null || e2e_fail "pvfsctl detach"
e2e_log "tenant detached under 64 READs in flight"
e2e_boot_wait
e2e_check_serial stale
[ "$(md5sum < "$e2e_work/vols/vol.img")" = "$sum0" ] || e2e_fail "the volume changed"
e2e_log "PASS (guest ran ${e2e_boot_secs}s; volume unchanged)"
