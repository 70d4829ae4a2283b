#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_mem_from_peer - pvfs-shim --mem-from-peer with a plain QEMU command
# line: QEMU creates guest RAM itself (memory-backend-memfd), the shim finds
# it through QEMU's pid (SO_PEERCRED, /proc/PID/fd and /proc/PID/maps) and
# plugs it. First the VMs the shim must refuse, each of which must make QEMU
# fail its ivshmem device at once (no hang in the handshake) with the reason
# in the shim's log: RAM mapped private (share=off), anonymous RAM (no
# backend), and two shared backends with nothing to choose between them.
# Then a guest whose QEMU also holds a second shared memfd backend, told
# apart by --mem-size, runs the full data test (guest/fs-verify.sh, smaller
# sizes) and the host checks the volume with e2fsck. Same setup as
# e2e_guest.sh: host-lib.sh, whose functions this script sources.
#
# Exit status: 0 pass, 1 fail, 77 skip. Environment: PVFS_BUILD (build),
# PVFS_E2E_KEEP=1.

E2E_NAME=e2e-mem-from-peer
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

mem=512M
kernel=

# start_shim EXTRA...: pvfs-shim --mem-from-peer --once for the tenant.
start_shim() {
	: >"$e2e_work/shim.log"
	"$e2e_bin/pvfs-shim" --tenant "$e2e_tenant" -s "$e2e_sock" --chardev "$e2e_work/ivshmem.sock" \
		--mem-from-peer --queues "$e2e_queues" --once "$@" >>"$e2e_work/shim.log" 2>&1 &
	e2e_shim_pid=$!
	for _ in $(seq 100); do
		[ -S "$e2e_work/ivshmem.sock" ] && return 0
		kill -0 "$e2e_shim_pid" 2>/dev/null || e2e_fail "pvfs-shim exited at start"
		sleep 0.1
	done
	e2e_fail "pvfs-shim did not listen within 10 s"
}

# refused NAME WANT-QEMU WANT-SHIM SHIM-ARGS -- QEMU-MEMORY-ARGS...: QEMU must
# exit with an error within 30 s, saying WANT-QEMU; the shim's log must say
# WANT-SHIM, and the shim (--once) must end.
refused() {
	local name=$1 want_qemu=$2 want_shim=$3 t0 rc
	shift 3
	local shim_args=()
	while [ "$1" != -- ]; do shim_args+=("$1"); shift; done
	shift
	start_shim "${shim_args[@]}"
	t0=$EPOCHREALTIME
	timeout -k 5 30 qemu-system-x86_64 -accel tcg -machine q35 -m "$mem" -nographic -nodefaults \
		-kernel "$kernel" -initrd "$e2e_initrd" -append "console=ttyS0 no_timer_check pvfs.test=none" \
		"$@" -chardev socket,id=pvfs,path="$e2e_work/ivshmem.sock" \
		-device ivshmem-doorbell,chardev=pvfs,vectors="$e2e_queues" \
		</dev/null >"$e2e_work/qemu-$name.log" 2>&1
	rc=$?
	[ "$rc" = 124 ] || [ "$rc" = 137 ] && e2e_fail "$name: QEMU still in its device setup after 30 s"
	[ "$rc" != 0 ] || e2e_fail "$name: QEMU ran although the shim refused it"
	grep -q -- "$want_qemu" "$e2e_work/qemu-$name.log" ||
		{ cat "$e2e_work/qemu-$name.log"; e2e_fail "$name: QEMU did not say '$want_qemu'"; }
	grep -q -- "$want_shim" "$e2e_work/shim.log" || e2e_fail "$name: shim log lacks '$want_shim'"
	wait "$e2e_shim_pid" || e2e_fail "$name: pvfs-shim --once exited with $?"
	e2e_shim_pid=
	e2e_log "$name: QEMU failed in $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $t0 }") s:" \
		"$(grep -o 'server sent version.*' "$e2e_work/qemu-$name.log")"
	e2e_log "$name: shim: $(grep -o 'refusing the VM.*' "$e2e_work/shim.log" | cut -c1-160)"
}

e2e_init
kernel=/boot/vmlinuz-$e2e_kver
e2e_start_pvfsd
e2e_attach "$e2e_tenant" vol.img 512M

ram=(-object "memory-backend-memfd,id=ram,size=$mem,share=on" -machine "memory-backend=ram")
extra=(-object "memory-backend-memfd,id=extra,size=64M,share=on")
refused private "server sent version -22" "private, so pvfsd would not see" -- \
	-object "memory-backend-memfd,id=ram,size=$mem,share=off" -machine memory-backend=ram
refused anonymous "server sent version -2," "no shared memory backend" --
refused ambiguous "server sent version -76" "pass --mem-size" -- "${ram[@]}" "${extra[@]}"

# The real guest, with the second shared backend present: --mem-size picks RAM.
start_shim --mem-size "$mem"
e2e_mem=$mem
e2e_qemu_args=("${ram[@]}" "${extra[@]}" -chardev "socket,id=pvfs,path=$e2e_work/ivshmem.sock"
	-device "ivshmem-doorbell,chardev=pvfs,vectors=$e2e_queues")
e2e_boot fs-verify 420 "pvfs.mib=${PVFS_E2E_MIB:-16} pvfs.fio_size=4M pvfs.fio_jobs=2"
e2e_check_serial fs-verify
grep -q "guest RAM of QEMU pid .*memory-backend-memfd.*, 512 MiB, found in" "$e2e_work/shim.log" ||
	e2e_fail "the shim did not log the RAM it found"
e2e_log "shim: $(grep -o 'guest RAM of QEMU.*' "$e2e_work/shim.log")"
e2e_report "$e2e_tenant"
kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "pvfsd died"
e2e_host_fsck vol.img
e2e_log "PASS (guest ran ${e2e_boot_secs}s)"
