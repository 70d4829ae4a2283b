#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_libvirt - pvfs VMs under a real libvirtd, defined with virsh and
# started by it: the pvfs libvirt hook (etc/pvfs-shim.libvirt-hook) starts
# one pvfs-shim --mem-from-peer per domain, which finds the guest RAM QEMU
# created itself and plugs it into pvfsd.
#
# libvirtd and virtlogd run as the system instance (root, QEMU as
# libvirt-qemu) in a private mount namespace the test makes for itself:
# /etc and /var are overlays whose changes land in the work directory (the
# libvirt-qemu user, qemu.conf, the hook, /etc/pvfs-shim, libvirt's state)
# and /run is a fresh tmpfs, so nothing of the host's configuration is
# touched and nothing is left running: the test stops every domain and
# daemon it started, by pid, on any exit.
#
# Two domains, TCG, q35, direct kernel + initramfs boot:
#   pvfs-memfd  <source type='memfd'/>: boot 1 makes ext4 on /dev/pvfs0 and
#               writes checksummed files; `virsh destroy` while its writes
#               are in flight (pvfsd must unplug cleanly and keep serving);
#               `virsh start` again (the hook starts a new shim, which
#               re-plugs): boot 2 replays the journal, verifies every file
#               that was synced and does a fresh round trip, e2fsck.
#   pvfs-file   <source type='file'/> (libvirt's pc.ram under
#               /var/lib/libvirt/qemu/ram): the same, but boot 1 starts
#               while pvfsd is down; the guest's driver must stall, not
#               fail, until pvfsd comes back.
# Also: `virsh start` of a domain with private RAM, with MSI vectors that
# are not the shim's queues, or with the device of a shim that serves
# another running domain fails with the hook's message and disturbs nothing; the host's e2fsck of both volumes at the end. About 3 minutes.
#
# Exit status: 0 pass, 1 fail, 77 skip (not root, no libvirt, no unshare,
# or what e2e_guest.sh needs). Environment: PVFS_BUILD (build),
# PVFS_E2E_KEEP=1 keeps the work directory.

E2E_NAME=e2e-libvirt
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

if [ "${PVFS_E2E_LIBVIRT_NS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || e2e_skip "needs root (libvirtd's system instance)"
	for b in libvirtd virtlogd virsh unshare useradd setsid; do
		command -v $b >/dev/null || e2e_skip "$b missing (scripts/install-deps: libvirt-daemon, libvirt-clients)"
	done
	compgen -G '/usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so' >/dev/null ||
		e2e_skip "libvirt's QEMU driver missing (libvirt-daemon-driver-qemu)"
	unshare --mount --propagation private true 2>/dev/null ||
		e2e_skip "cannot make a private mount namespace (unshare -m)"
	PVFS_E2E_LIBVIRT_NS=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi

lv_virsh=(virsh -q -c qemu:///system)
lv_mem_mib=512
lv_domains="pvfs-memfd pvfs-file"

# lv_kill_pidfile FILE: SIGTERM the process FILE names (ours), wait 10 s, SIGKILL.
lv_kill_pidfile() {
	local pid
	[ -s "$1" ] || return 0
	pid=$(cat "$1")
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
}

# lv_cleanup: domains, shims, libvirtd, virtlogd, then pvfsd and the work
# directory; every process by the pid it recorded. Runs on any exit.
lv_cleanup() {
	local d f ns p
	if [ -S /run/libvirt/libvirt-sock ]; then
		for d in $("${lv_virsh[@]}" list --name 2>/dev/null); do
			timeout 30 "${lv_virsh[@]}" destroy "$d" >/dev/null 2>&1
		done
	fi
	# A QEMU libvirt could not stop, by the pid libvirt recorded.
	for f in /run/libvirt/qemu/*.pid; do lv_kill_pidfile "$f"; done
	lv_kill_pidfile /run/libvirtd.pid
	lv_kill_pidfile /run/virtlogd.pid
	for f in /run/pvfs-shim/*.pid; do lv_kill_pidfile "$f"; done
	# Anything else still in this test's own mount namespace was started by it.
	ns=$(readlink /proc/$$/ns/mnt)
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		[ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$ns" ] || continue
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = bash ] && continue
		case " $e2e_pvfsd_pid $e2e_sampler_pid " in *" $p "*) continue ;; esac
		e2e_log "cleanup: ending leftover process $p ($(cat "/proc/$p/comm" 2>/dev/null))"
		kill -9 "$p" 2>/dev/null
	done
	[ -n "${e2e_work:-}" ] && [ -s "$e2e_work/ns/var/upper/log/libvirt/libvirtd.log" ] &&
		cp "$e2e_work/ns/var/upper/log/libvirt/libvirtd.log" "$e2e_work/libvirtd.log"
	umount -l /run /var /etc 2>/dev/null
	[ -n "${e2e_work:-}" ] && umount -l "$e2e_work/ns" 2>/dev/null
	e2e_cleanup
}

# lv_fail MSG: fail with libvirt's and the shims' logs.
lv_fail() {
	local f
	for f in /var/log/libvirt/libvirtd.log /var/log/libvirt/qemu/*.log /run/pvfs-shim/*.log; do
		[ -s "$f" ] && { echo "--- $f (tail)"; tail -n 20 "$f"; }
	done
	e2e_fail "$@"
}

# lv_setup: the private /etc, /var and /run; QEMU's user; libvirt's config;
# the hook; the shims' config.
lv_setup() {
	local d kvm=()
	# The overlays' upper layers on a tmpfs: /tmp may be an overlay itself.
	mkdir -p "$e2e_work/ns"
	mount -t tmpfs -o mode=0755 pvfs-e2e-ns "$e2e_work/ns" || e2e_fail "cannot mount a tmpfs"
	for d in etc var; do
		mkdir -p "$e2e_work/ns/$d/upper" "$e2e_work/ns/$d/work"
		mount -t overlay "pvfs-e2e-$d" \
			-o "lowerdir=/$d,upperdir=$e2e_work/ns/$d/upper,workdir=$e2e_work/ns/$d/work" "/$d" ||
			e2e_skip "cannot overlay /$d in the test's mount namespace"
	done
	mount -t tmpfs -o mode=0755 pvfs-e2e-run /run || e2e_fail "cannot mount a private /run"

	# Debian's libvirt runs QEMU as libvirt-qemu (and needs that user to exist),
	# a member of kvm: else libvirt finds /dev/kvm "changed" and probes QEMU
	# again for every lookup, a minute per virsh start.
	getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu || e2e_fail groupadd
	getent group kvm >/dev/null && kvm=(-G kvm)
	getent passwd libvirt-qemu >/dev/null ||
		useradd -r -g libvirt-qemu "${kvm[@]}" -d /var/lib/libvirt -s /usr/sbin/nologin \
			libvirt-qemu || e2e_fail useradd
	mkdir -p /etc/libvirt/hooks/qemu.d /etc/pvfs-shim /var/log/libvirt/qemu
	# No AppArmor or SELinux here, no cgroups without systemd; DAC stays on.
	cat >/etc/libvirt/qemu.conf <<-EOF
	security_driver = "none"
	cgroup_controllers = [ ]
	EOF
	cat >/etc/libvirt/libvirtd.conf <<-EOF
	log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
	EOF
	install -m 0755 "$e2e_repo/etc/pvfs-shim.libvirt-hook" /etc/libvirt/hooks/qemu.d/pvfs
	for d in $lv_domains; do
		echo "PVFS_SHIM_OPTS=\"-s $e2e_sock --queues $e2e_queues\"" >"/etc/pvfs-shim/$d.conf"
	done

	# QEMU runs as libvirt-qemu: everything it opens must be readable.
	chmod 0755 "$e2e_work"
	cp "/boot/vmlinuz-$e2e_kver" "$e2e_work/vmlinuz"
	chmod 0644 "$e2e_work/vmlinuz" "$e2e_initrd"
}

# lv_start_daemons: virtlogd and libvirtd, daemonized (pid files in the
# private /run); ready when virsh answers.
lv_start_daemons() {
	virtlogd -d || e2e_fail "virtlogd -d"
	# The hook finds this build's pvfs-shim through libvirtd's PATH.
	PATH=$e2e_bin:$PATH libvirtd -d || e2e_fail "libvirtd -d"
	for _ in $(seq 300); do
		"${lv_virsh[@]}" version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	lv_fail "libvirtd did not answer within 30 s"
}

# lv_define NAME SOURCE [ACCESS [VECTORS [VIA]]]: define domain NAME with
# guest RAM <source type=SOURCE> <access mode=ACCESS> (shared) and the pvfs
# device of pvfs-shim VIA (NAME; --print-libvirt-xml) with VECTORS (its
# queues).
lv_define() {
	local name=$1 source=$2 access=${3:-shared} vectors=${4:-$e2e_queues} via=${5:-$1} shmem
	shmem=$("$e2e_bin/pvfs-shim" --tenant "$via" --queues "$e2e_queues" --print-libvirt-xml |
		sed -n '/<shmem/,/<\/shmem>/p' | sed "s/vectors='[0-9]*'/vectors='$vectors'/")
	[ -n "$shmem" ] || e2e_fail "pvfs-shim --print-libvirt-xml printed no <shmem>"
	: >"$e2e_work/serial-$name.log"
	chmod 0666 "$e2e_work/serial-$name.log"
	cat >"$e2e_work/$name.xml" <<-EOF
	<domain type='qemu'>
	  <name>$name</name>
	  <memory unit='MiB'>$lv_mem_mib</memory>
	  <vcpu>2</vcpu>
	  <memoryBacking>
	    <source type='$source'/>
	    <access mode='$access'/>
	  </memoryBacking>
	  <os>
	    <type arch='x86_64' machine='q35'>hvm</type>
	    <kernel>$e2e_work/vmlinuz</kernel>
	    <initrd>$e2e_initrd</initrd>
	    <cmdline>console=ttyS0 no_timer_check panic=-1 oops=panic loglevel=4 pvfs.test=libvirt</cmdline>
	  </os>
	  <features><acpi/><apic/></features>
	  <cpu mode='maximum'/>
	  <on_poweroff>destroy</on_poweroff>
	  <on_reboot>destroy</on_reboot>
	  <on_crash>destroy</on_crash>
	  <devices>
	    <emulator>$(command -v qemu-system-x86_64)</emulator>
	    <serial type='file'><source path='$e2e_work/serial-$name.log' append='on'/></serial>
	    <controller type='usb' model='none'/>
	    <memballoon model='none'/>
	    $shmem
	  </devices>
	</domain>
	EOF
	"${lv_virsh[@]}" undefine "$name" >/dev/null 2>&1
	"${lv_virsh[@]}" define "$e2e_work/$name.xml" >/dev/null || lv_fail "virsh define $name"
}

# lv_state NAME: the domain's state as virsh says it ("running", "shut off").
lv_state() { "${lv_virsh[@]}" domstate "$1" 2>/dev/null | head -n 1; }

# lv_start NAME: virsh start, bounded; sets lv_off to where this boot's
# serial output starts.
lv_start() {
	lv_off=$(stat -c %s "$e2e_work/serial-$1.log")
	timeout 120 "${lv_virsh[@]}" start "$1" >"$e2e_work/start.log" 2>&1 ||
		{ cat "$e2e_work/start.log"; lv_fail "virsh start $1 failed or hung"; }
	lv_t0=$SECONDS
}

# lv_serial NAME: this boot's serial output.
lv_serial() { tail -c +"$((lv_off + 1))" "$e2e_work/serial-$1.log"; }

# lv_wait_note NAME NOTE SECONDS: wait until this boot printed NOTE.
lv_wait_note() {
	local t0=$SECONDS
	until lv_serial "$1" | grep -aq "PVFS-E2E: NOTE $2"; do
		if [ "$(lv_state "$1")" != running ]; then
			lv_serial "$1" | grep -a 'PVFS-E2E:' | sed 's/^/  guest: /'
			lv_fail "$1 stopped before it printed '$2'"
		fi
		[ $((SECONDS - t0)) -lt "$3" ] || lv_fail "$1: no '$2' after $3 s"
		sleep 0.2
	done
}

# lv_wait_off NAME SECONDS: wait until the domain has shut off.
lv_wait_off() {
	local t0=$SECONDS
	while [ "$(lv_state "$1")" != "shut off" ]; do
		[ $((SECONDS - t0)) -lt "$2" ] || lv_fail "$1 still $(lv_state "$1") after $2 s"
		sleep 0.5
	done
}

# lv_check_boot NAME TEST: the guest's verdict for this boot (see e2e_check_serial).
lv_check_boot() {
	lv_serial "$1" >"$e2e_work/serial.log"
	e2e_boot_rc=0
	e2e_boot_secs=$((SECONDS - lv_t0))
	e2e_check_serial "$2"
}

# lv_tenant_state NAME: pvfsd's state of tenant NAME.
lv_tenant_state() {
	"${e2e_ctl[@]}" --json stats "$1" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["tenants"][0]["state"])' 2>/dev/null
}

# lv_writes NAME: "WRITES INFLIGHT" of tenant NAME, from pvfsd.
lv_writes() {
	"${e2e_ctl[@]}" --json stats "$1" | python3 -c 'import json, sys
t = json.load(sys.stdin)["tenants"][0]
print(t["ops"]["write"]["ops"], t["inflight"])'
}

# lv_destroy_mid_io NAME: once the guest writes, and pvfsd has seen 50 more
# writes, virsh destroy; the tenant must be unplugged, its shim stopped by
# the hook, and pvfsd still serving.
lv_destroy_mid_io() {
	local before now inflight state
	lv_wait_note "$1" libvirt-writing 300
	read -r before inflight < <(lv_writes "$1")
	for _ in $(seq 300); do
		read -r now inflight < <(lv_writes "$1")
		[ "$now" -gt $((before + 50)) ] && break
		sleep 0.1
	done
	# Best effort: destroy while pvfsd has the guest's requests in flight.
	for _ in $(seq 50); do
		[ "$inflight" -gt 0 ] && break
		read -r now inflight < <(lv_writes "$1")
	done
	timeout 60 "${lv_virsh[@]}" destroy "$1" >/dev/null || lv_fail "virsh destroy $1"
	e2e_log "$1: virsh destroy with $inflight request(s) in flight in pvfsd, after" \
		"$((now - before)) writes of its run ($(lv_serial "$1" | grep -ac '^wrote ') files synced)"
	for _ in $(seq 100); do
		state=$(lv_tenant_state "$1")
		[ "$state" = unplugged ] && break
		sleep 0.1
	done
	[ "$state" = unplugged ] || lv_fail "$1: tenant is '$state' 10 s after virsh destroy"
	kill -0 "$e2e_pvfsd_pid" 2>/dev/null || lv_fail "pvfsd died on virsh destroy"
	[ ! -e "/run/pvfs-shim/$1.pid" ] || lv_fail "the hook left pvfs-shim $1 running"
	grep -q "VM connection closed (end of file); unplugged tenant $1" "/run/pvfs-shim/$1.log" ||
		lv_fail "$1: the shim did not log the unplug"
	lv_serial "$1" | grep -a 'PVFS-E2E:' | sed 's/^/  guest: /'
	lv_serial "$1" | grep -aq 'PVFS-E2E: FAIL' && lv_fail "$1: boot 1 reported a FAIL"
}

write_guest_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# libvirt (guest side, from tests/e2e/e2e_libvirt.sh). Boot 1 (no file
# system on the disk yet): mkfs.ext4, then files of random data, each
# fsynced before its sha256 goes to /mnt/sums (synced too), while a second
# writer streams O_DIRECT writes; the host destroys the domain in the middle.
# Boot 2: the journal replays, every file in sums must verify, a fresh
# 8 MiB file must survive a remount, and e2fsck must be clean.
. /lib/pvfs-e2e.sh

dev=/dev/pvfs0
# The host may bring pvfsd up only now: wait for the device, long.
if ! pvfs_check libvirt-insmod insmod "$PVFS_KO" ready_timeout_ms=240000 ||
   ! pvfs_wait_for "$dev" 10; then
	pvfs_fail libvirt-disk "/dev/pvfs0 did not appear"
	dmesg | grep pvfs | tail -n 10 | sed 's/^/    /'
	pvfs_done
fi
pvfs_note "libvirt-disk $(dmesg | grep -c 'pvfs.*not READY') not-ready"
mkdir -p /mnt
if mount -t ext4 "$dev" /mnt 2>/dev/null && [ -f /mnt/sums ]; then
	pvfs_note "libvirt-boot2"
	# Only whole lines: the last one may have been cut by the destroy.
	grep -E '^[0-9a-f]{64}  /mnt/data/f[0-9]+$' /mnt/sums > /tmp/sums
	n=$(wc -l < /tmp/sums)
	if [ "$n" -ge 10 ] && sha256sum -c -s /tmp/sums; then
		pvfs_pass libvirt-verify
		pvfs_note "verified $n files synced before the destroy"
	else
		pvfs_fail libvirt-verify "$n files in sums, $(sha256sum -c /tmp/sums 2>&1 | grep -vc ': OK$') bad"
	fi
	dd if=/dev/urandom of=/tmp/blob bs=1M count=8 2>/dev/null
	pvfs_check libvirt-write2 dd if=/tmp/blob of=/mnt/blob bs=1M conv=fsync
	pvfs_check libvirt-umount umount /mnt
	echo 3 > /proc/sys/vm/drop_caches
	pvfs_check libvirt-mount2 mount -t ext4 "$dev" /mnt
	if cmp -s /tmp/blob /mnt/blob; then pvfs_pass libvirt-roundtrip
	else pvfs_fail libvirt-roundtrip "8 MiB read back differ"; fi
	pvfs_check libvirt-umount2 umount /mnt
	pvfs_check libvirt-fsck e2fsck -fn "$dev"
	pvfs_check libvirt-rmmod rmmod pvfs_blk
	pvfs_check_dmesg libvirt
	pvfs_done
fi
umount /mnt 2>/dev/null
pvfs_note "libvirt-boot1"
pvfs_check libvirt-mkfs mkfs.ext4 -q -F "$dev" || pvfs_done
pvfs_check libvirt-mount mount -t ext4 "$dev" /mnt || pvfs_done
mkdir -p /mnt/data
: > /mnt/sums
sync
dd if=/dev/urandom of=/mnt/stream bs=64k count=100000 oflag=direct 2>/dev/null &
i=0
while [ $i -lt 2000 ]; do
	f=/mnt/data/f$i
	if ! dd if=/dev/urandom of=$f bs=64k count=4 conv=fsync 2>/tmp/dd.err; then
		pvfs_fail libvirt-write "f$i: $(tail -n 1 /tmp/dd.err)"
		break
	fi
	sha256sum $f >> /mnt/sums
	sync
	echo "wrote $f"
	i=$((i + 1))
	[ $i = 10 ] && pvfs_note "libvirt-writing"
done
pvfs_fail libvirt-destroy "the host did not destroy the domain"
pvfs_done
EOF
}

e2e_init
trap lv_cleanup EXIT
# run-tests' timeout sends SIGTERM: clean up on it too.
trap 'exit 143' TERM INT HUP
e2e_guest_test libvirt
lv_setup
e2e_start_pvfsd
lv_start_daemons
e2e_log "libvirtd $(libvirtd --version | awk '{ print $NF }'), QEMU as $(id -u libvirt-qemu >/dev/null && echo libvirt-qemu), private /etc /var /run"

# The hook refuses what cannot work, before QEMU starts, and starts no shim.
lv_define pvfs-memfd memfd private
timeout 60 "${lv_virsh[@]}" start pvfs-memfd >"$e2e_work/start.log" 2>&1 &&
	lv_fail "virsh start of a domain with private RAM succeeded"
grep -q "guest RAM must be shared with pvfsd" "$e2e_work/start.log" ||
	{ cat "$e2e_work/start.log"; lv_fail "no hook message for private RAM"; }
e2e_log "private RAM refused: $(grep -o 'pvfs hook:.*' "$e2e_work/start.log" | cut -c1-100)..."
lv_define pvfs-memfd memfd shared 4
timeout 60 "${lv_virsh[@]}" start pvfs-memfd >"$e2e_work/start.log" 2>&1 &&
	lv_fail "virsh start with 4 vectors for a 2-queue shim succeeded"
grep -q "msi vectors='4'/>, its pvfs-shim serves 2" "$e2e_work/start.log" ||
	{ cat "$e2e_work/start.log"; lv_fail "no hook message for the vectors"; }
[ -z "$(ls /run/pvfs-shim/*.pid 2>/dev/null)" ] || lv_fail "a refused start left a shim"
e2e_log "vectors mismatch refused: $(grep -o 'pvfs hook:.*' "$e2e_work/start.log" | cut -c1-100)..."

# memfd: boot, destroy mid-I/O, boot again and verify.
e2e_attach pvfs-memfd memfd.img 256M
lv_define pvfs-memfd memfd
lv_start pvfs-memfd
grep -q "guest RAM of QEMU pid .*memory-backend-memfd.*, $lv_mem_mib MiB, found in" \
	/run/pvfs-shim/pvfs-memfd.log || lv_fail "pvfs-memfd: the shim found no memfd RAM"
e2e_log "pvfs-memfd: $(grep -o 'guest RAM of QEMU.*' /run/pvfs-shim/pvfs-memfd.log)"
lv_destroy_mid_io pvfs-memfd
lv_start pvfs-memfd
# A second domain with the same device is refused, and leaves the first alone.
lv_define pvfs-dup memfd shared "$e2e_queues" pvfs-memfd
timeout 60 "${lv_virsh[@]}" start pvfs-dup >"$e2e_work/start.log" 2>&1 &&
	lv_fail "a second domain on pvfs-memfd's shim started"
grep -q "pvfs-shim pvfs-memfd already serves domain pvfs-memfd" "$e2e_work/start.log" ||
	{ cat "$e2e_work/start.log"; lv_fail "no hook message for a second domain on one shim"; }
kill -0 "$(cat /run/pvfs-shim/pvfs-memfd.pid)" 2>/dev/null ||
	lv_fail "the refused second domain stopped pvfs-memfd's shim"
"${lv_virsh[@]}" undefine pvfs-dup >/dev/null
e2e_log "second domain on one shim refused: $(grep -o 'pvfs hook:.*' "$e2e_work/start.log")"
lv_wait_off pvfs-memfd 300
lv_check_boot pvfs-memfd libvirt
lv_serial pvfs-memfd | grep -aq 'NOTE libvirt-boot2' || lv_fail "pvfs-memfd: boot 2 did not verify"

# file: pvfsd is down when the domain starts; the guest waits for it.
e2e_attach pvfs-file file.img 256M
e2e_stop e2e_pvfsd_pid
lv_define pvfs-file file
lv_start pvfs-file
e2e_log "pvfs-file started with pvfsd down ($(lv_state pvfs-file))"
sleep 15
lv_serial pvfs-file | grep -aq 'PVFS-E2E: NOTE libvirt-disk' && lv_fail "pvfs-file: a disk without pvfsd"
grep -q "not ready yet" /run/pvfs-shim/pvfs-file.log || lv_fail "pvfs-file: the shim did not wait for pvfsd"
e2e_start_pvfsd
lv_wait_note pvfs-file libvirt-disk 120
e2e_log "pvfs-file: pvfsd up after 15 s: $(grep -o 'plugged tenant.*' /run/pvfs-shim/pvfs-file.log)"
grep -q "guest RAM of QEMU pid .*/pc.ram (its fd" /run/pvfs-shim/pvfs-file.log ||
	lv_fail "pvfs-file: the shim did not take libvirt's pc.ram"
e2e_log "pvfs-file: $(grep -o 'guest RAM of QEMU.*' /run/pvfs-shim/pvfs-file.log)"
lv_destroy_mid_io pvfs-file
lv_start pvfs-file
lv_wait_off pvfs-file 300
lv_check_boot pvfs-file libvirt

for d in $lv_domains; do
	e2fsck -fn "$e2e_work/vols/${d#pvfs-}.img" >"$e2e_work/fsck.log" 2>&1 ||
		{ cat "$e2e_work/fsck.log"; lv_fail "host e2fsck of $d's volume"; }
	"${lv_virsh[@]}" undefine "$d" >/dev/null || lv_fail "virsh undefine $d"
done
e2e_log "host e2fsck of both volumes clean"
e2e_log "PASS ($SECONDS s)"
