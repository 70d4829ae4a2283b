# SPDX-License-Identifier: GPL-2.0-only
#
# host-lib.sh - sourced by the host side of the end-to-end tests that run
# the real product (e2e_guest.sh and most other e2e_*.sh): pvfsd on a private runtime directory, a volume attached
# with pvfsctl, pvfs-shim serving QEMU's ivshmem-doorbell chardev, the
# Debian guest kernel booted with pvfs_blk.ko, and the host's checks of the
# volume afterwards. Its guest-side counterpart is guest-lib.sh.
#
# The sourcing script sets E2E_NAME (its name in messages) first.
# Environment: PVFS_BUILD (build), PVFS_E2E_MEM (guest RAM, 1G; 3G puts
# RAM above 4 GiB too), PVFS_E2E_KEEP=1 keeps the work directory.

set -uo pipefail

e2e_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
e2e_repo=$(cd "$e2e_here/../.." && pwd)
e2e_build=${PVFS_BUILD:-build}
case $e2e_build in /*) ;; *) e2e_build=$e2e_repo/$e2e_build ;; esac
e2e_bin=$e2e_build/bin
e2e_name=${E2E_NAME:-e2e-guest}
e2e_tenant=e2e
e2e_mem=${PVFS_E2E_MEM:-1G}
e2e_queues=2
e2e_work=
e2e_pvfsd_pid=
e2e_shim_pid=
e2e_sampler_pid=

e2e_log() { echo "$e2e_name: $*"; }
e2e_skip() { e2e_log "SKIP: $*"; exit 77; }
e2e_fail() {
	e2e_log "FAIL: $*"
	e2e_dump_logs
	exit 1
}

e2e_dump_logs() {
	local f
	[ -n "$e2e_work" ] || return 0
	for f in pvfsd.log shim.log; do
		[ -s "$e2e_work/$f" ] && { echo "--- $f (tail)"; tail -n 30 "$e2e_work/$f"; }
	done
	[ -s "$e2e_work/serial.log" ] &&
		{ echo "--- serial.log (tail)"; tail -n 60 "$e2e_work/serial.log" | cat -v; }
	return 0
}

# e2e_stop PIDVAR: SIGTERM the process in $PIDVAR (ours), wait up to 10 s, then SIGKILL.
e2e_stop() {
	local pid=${!1} i
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	printf -v "$1" '%s' ""
}

e2e_cleanup() {
	e2e_stop e2e_sampler_pid
	e2e_stop e2e_shim_pid
	e2e_stop e2e_pvfsd_pid
	if [ -n "$e2e_work" ]; then
		if [ "${PVFS_E2E_KEEP:-0}" = 1 ]; then
			e2e_log "work directory kept: $e2e_work"
		else
			rm -rf "$e2e_work"
		fi
	fi
}

# e2e_init: skip if the guest toolchain is missing, build the module and the
# initramfs, make the work directory.
e2e_init() {
	local b
	command -v qemu-system-x86_64 >/dev/null || e2e_skip "qemu-system-x86_64 missing"
	command -v fio >/dev/null || e2e_skip "fio missing"
	command -v e2fsck >/dev/null && command -v debugfs >/dev/null || e2e_skip "e2fsprogs missing"
	command -v python3 >/dev/null || e2e_skip "python3 missing"
	e2e_kver=$(ls /lib/modules 2>/dev/null | grep -- '-amd64$' | sort -V | tail -n 1)
	[ -n "$e2e_kver" ] && [ -r "/boot/vmlinuz-$e2e_kver" ] ||
		e2e_skip "no Debian amd64 guest kernel in /boot"
	[ -d "/lib/modules/$e2e_kver/build" ] || e2e_skip "no headers for $e2e_kver"
	for b in pvfsd pvfsctl pvfs-shim; do
		[ -x "$e2e_bin/$b" ] || e2e_fail "$e2e_bin/$b not built (run make)"
	done

	e2e_work=$(mktemp -d "${TMPDIR:-/tmp}/pvfs-$e2e_name.XXXXXX")
	trap e2e_cleanup EXIT
	mkdir -p "$e2e_work/run" "$e2e_work/vols"
	e2e_sock=$e2e_work/run/control.sock
	e2e_ctl=("$e2e_bin/pvfsctl" -s "$e2e_sock")

	make -s -C "$e2e_repo/guest-kmod" KVER="$e2e_kver" >"$e2e_work/kmod.log" 2>&1 ||
		{ cat "$e2e_work/kmod.log"; e2e_fail "module build"; }
	"$e2e_here/mkinitramfs" -k "$e2e_kver" "$e2e_work" >/dev/null || e2e_fail "mkinitramfs"
	e2e_initrd=$e2e_work/initramfs.cpio.gz
}

# e2e_overlay DIR: append DIR's tree to the initramfs as a second cpio
# archive (the kernel unpacks concatenated archives in order);
# e2e_guest_test adds a guest script this way.
e2e_overlay() {
	(cd "$1" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >>"$e2e_initrd" ||
		e2e_fail "cannot append $1 to the initramfs"
}

# e2e_guest_test NAME: the guest script that the caller's write_guest_script
# FILE writes becomes /tests/NAME.sh in the initramfs (run by pvfs.test=NAME).
e2e_guest_test() {
	local ov=$e2e_work/overlay-$1
	mkdir -p "$ov/tests" || e2e_fail "cannot create $ov"
	write_guest_script "$ov/tests/$1.sh"
	chmod 0755 "$ov/tests/$1.sh"
	e2e_overlay "$ov"
}

# e2e_start_pvfsd [ARGS...]: pvfsd in the foreground on the work directory,
# with ARGS added to its command line; ready when pvfsctl version answers
# (bounded).
e2e_start_pvfsd() {
	local i
	"$e2e_bin/pvfsd" --runtime-dir "$e2e_work/run" --volume-dir "$e2e_work/vols" \
		--metrics-listen none "$@" >>"$e2e_work/pvfsd.log" 2>&1 &
	e2e_pvfsd_pid=$!
	for i in $(seq 100); do
		"${e2e_ctl[@]}" version >/dev/null 2>&1 && return 0
		kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "pvfsd exited at start"
		sleep 0.1
	done
	e2e_fail "pvfsd not ready after 10 s"
}

# e2e_attach NAME FILE SIZE: a sparse volume, attached as tenant NAME.
e2e_attach() {
	truncate -s "$3" "$e2e_work/vols/$2" || e2e_fail "cannot create volume $2"
	"${e2e_ctl[@]}" attach "$1" --volume "$2" >/dev/null || e2e_fail "pvfsctl attach $1"
}

# e2e_start_shim NAME: pvfs-shim for tenant NAME; fills e2e_qemu_args.
e2e_start_shim() {
	local shim=("$e2e_bin/pvfs-shim" --tenant "$1" -s "$e2e_sock"
		    --chardev "$e2e_work/ivshmem.sock" --mem-path "$e2e_work/guest-ram"
		    --mem-size "$e2e_mem" --machine q35 --queues "$e2e_queues" --once) i
	mapfile -t e2e_qemu_args < <("${shim[@]}" --print-qemu-args)
	[ "${#e2e_qemu_args[@]}" -gt 0 ] || e2e_fail "pvfs-shim --print-qemu-args printed nothing"
	"${shim[@]}" >>"$e2e_work/shim.log" 2>&1 &
	e2e_shim_pid=$!
	for i in $(seq 100); do
		[ -S "$e2e_work/ivshmem.sock" ] && return 0
		kill -0 "$e2e_shim_pid" 2>/dev/null || e2e_fail "pvfs-shim exited at start"
		sleep 0.1
	done
	e2e_fail "pvfs-shim did not listen within 10 s"
}

# e2e_sampler NAME: record pvfsd's one-second IOPS of NAME while the guest runs.
e2e_sampler() {
	while :; do
		"${e2e_ctl[@]}" --json stats "$1" 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)["tenants"][0]
print("%.0f %.0f" % (t["iops"], t["bps"]))' >>"$e2e_work/iops.samples" 2>/dev/null
		sleep 1
	done
}

# e2e_boot TEST SECONDS [KERNEL-ARGS]: boot the guest on the shim's device;
# sets e2e_boot_rc and e2e_boot_secs.
e2e_boot() {
	local t0=$SECONDS
	e2e_sampler "$e2e_tenant" &
	e2e_sampler_pid=$!
	"$e2e_here/boot-guest" -k "$e2e_kver" -i "${e2e_boot_initrd:-$e2e_initrd}" -t "$1" \
		-m "$e2e_mem" -c 2 -T "$2" -l "$e2e_work/serial.log" ${3:+-a "$3"} -- \
		"${e2e_qemu_args[@]}"
	e2e_boot_rc=$?
	e2e_boot_secs=$((SECONDS - t0))
	e2e_stop e2e_sampler_pid
}

# e2e_boot_start TEST SECONDS [KERNEL-ARGS]: boot the guest on the shim's
# device in the background, for a test whose host side acts while the guest
# runs; its pid in e2e_boot_pid. e2e_boot_wait waits for it to end and sets
# e2e_boot_rc and e2e_boot_secs.
e2e_boot_start() {
	e2e_boot_t0=$SECONDS
	"$e2e_here/boot-guest" -k "$e2e_kver" -i "${e2e_boot_initrd:-$e2e_initrd}" -t "$1" \
		-m "$e2e_mem" -c 2 -T "$2" -l "$e2e_work/serial.log" ${3:+-a "$3"} -- \
		"${e2e_qemu_args[@]}" &
	e2e_boot_pid=$!
}

e2e_boot_wait() {
	wait "$e2e_boot_pid"
	e2e_boot_rc=$?
	e2e_boot_secs=$((SECONDS - e2e_boot_t0))
}

# e2e_wait_note NOTE WHAT: wait (up to 240 s) until the guest e2e_boot_start
# booted prints "PVFS-E2E: NOTE <NOTE>"; fail with WHAT if it ends or never
# does.
e2e_wait_note() {
	local t0=$SECONDS
	while ! grep -aq "PVFS-E2E: NOTE $1" "$e2e_work/serial.log" 2>/dev/null; do
		if ! kill -0 "$e2e_boot_pid" 2>/dev/null; then
			wait "$e2e_boot_pid"
			e2e_boot_rc=$?
			grep -a 'PVFS-E2E:' "$e2e_work/serial.log" | sed 's/^/  guest: /'
			e2e_fail "guest ended (rc $e2e_boot_rc) before it was $2"
		fi
		[ $((SECONDS - t0)) -lt 240 ] || e2e_fail "guest not $2 after 240 s"
		sleep 0.2
	done
}

# e2e_check_serial TEST: the guest's verdict from the serial log. Any FAIL,
# kernel splat or missing RESULT line fails, whatever the rc said.
e2e_check_serial() {
	local log=$e2e_work/serial.log bad
	grep -a 'PVFS-E2E:' "$log" | sed 's/^/  guest: /'
	grep -aq "PVFS-E2E: RESULT $1 rc=0" "$log" ||
		e2e_fail "guest test $1 did not pass (boot-guest rc $e2e_boot_rc after ${e2e_boot_secs}s)"
	grep -aq 'PVFS-E2E: FAIL' "$log" && e2e_fail "guest reported a FAIL"
	bad=$(grep -aE 'WARNING:|BUG:|Oops|Kernel panic|Call Trace|general protection' "$log" | head -n 5)
	[ -z "$bad" ] || e2e_fail "guest kernel log: $bad"
	[ "$e2e_boot_rc" = 0 ] || e2e_fail "boot-guest rc $e2e_boot_rc"
}

# e2e_fs_verify: the guest runs guest/fs-verify.sh on the tenant attached
# as e2e_tenant (PVFS_E2E_MIB, PVFS_E2E_FIO_SIZE, PVFS_E2E_FIO_JOBS,
# PVFS_E2E_TIMEOUT) and must pass; then pvfsd's counters, and pvfsd must
# still run.
e2e_fs_verify() {
	local mib=${PVFS_E2E_MIB:-64} fio_size=${PVFS_E2E_FIO_SIZE:-16M}
	local fio_jobs=${PVFS_E2E_FIO_JOBS:-4} tmo=${PVFS_E2E_TIMEOUT:-420}

	e2e_boot fs-verify "$tmo" "pvfs.mib=$mib pvfs.fio_size=$fio_size pvfs.fio_jobs=$fio_jobs"
	e2e_check_serial fs-verify
	e2e_report "$e2e_tenant"
	kill -0 "$e2e_pvfsd_pid" 2>/dev/null || e2e_fail "pvfsd died"
}

# e2e_report NAME: pvfsd's counters for NAME, doorbells and interrupts per I/O.
e2e_report() {
	"${e2e_ctl[@]}" --json stats "$1" >"$e2e_work/stats.json" || e2e_fail "pvfsctl stats $1"
	python3 - "$e2e_work/stats.json" "$e2e_work/iops.samples" "$e2e_boot_secs" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["tenants"][0]
ios = sum(o["ops"] for o in t["ops"].values())
byt = sum(o["bytes"] for o in t["ops"].values())
err = sum(o["errors"] for o in t["ops"].values())
per = lambda n: n / ios if ios else 0.0
peak = 0
try:
    peak = max(float(l.split()[0]) for l in open(sys.argv[2]) if l.strip())
except (OSError, ValueError):
    pass
print("pvfsd: %d I/Os (%s), %.1f MiB, %d errors, %d invalid in %s s of guest run" % (
    ios, ", ".join("%s %d" % (k, o["ops"]) for k, o in t["ops"].items() if o["ops"]),
    byt / 2**20, err, t["invalid"], sys.argv[3]))
print("pvfsd: doorbells %d (%.4f per I/O), interrupts %d (%.4f per I/O), peak %.0f IOPS" % (
    t["doorbells"], per(t["doorbells"]), t["interrupts"], per(t["interrupts"]), peak))
EOF
}

# e2e_host_fsck FILE: the volume as the host sees it is a clean ext4 with the
# guest's files.
e2e_host_fsck() {
	local vol=$e2e_work/vols/$1 n
	e2fsck -fn "$vol" >"$e2e_work/fsck.log" 2>&1 ||
		{ cat "$e2e_work/fsck.log"; e2e_fail "host e2fsck -fn $1 found errors"; }
	e2e_log "host e2fsck: $(tail -n 1 "$e2e_work/fsck.log")"
	debugfs -R 'ls -l /' "$vol" 2>/dev/null >"$e2e_work/ls.log"
	grep -qw data "$e2e_work/ls.log" || { cat "$e2e_work/ls.log"; e2e_fail "debugfs: no /data"; }
	n=$(debugfs -R 'ls /data' "$vol" 2>/dev/null | grep -o '\bf[0-9]\+\b' | sort -u | wc -l)
	[ "$n" -gt 0 ] || e2e_fail "debugfs: /data holds no files"
	e2e_log "host debugfs: / lists $(grep -c . "$e2e_work/ls.log") entries, /data $n files"
}
