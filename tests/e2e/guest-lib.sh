# SPDX-License-Identifier: GPL-2.0-only
#
# pvfs-e2e.sh - helpers shared by /init and the guest test scripts in
# tests/e2e/guest/ (installed as /lib/pvfs-e2e.sh). Every result goes to the
# serial console as one line starting with "PVFS-E2E: " so the host can grep
# the log: PASS name, FAIL name reason, SKIP name reason, NOTE text. A test
# script exits with the number of failed checks.

PVFS_KO=/lib/modules/pvfs/pvfs_blk.ko
pvfs_failures=0
pvfs_write_errors=0

pvfs_pass() { echo "PVFS-E2E: PASS $1"; }

pvfs_fail() {
	local name=$1
	shift
	echo "PVFS-E2E: FAIL $name $*"
	pvfs_failures=$((pvfs_failures + 1))
}

pvfs_skip() {
	local name=$1
	shift
	echo "PVFS-E2E: SKIP $name $*"
}

pvfs_note() { echo "PVFS-E2E: NOTE $*"; }

# pvfs_check NAME CMD...: run CMD, PASS or FAIL NAME by its status; output
# is shown only on failure so the log stays readable.
pvfs_check() {
	local name=$1
	shift
	local out
	if out=$("$@" 2>&1); then
		pvfs_pass "$name"
		return 0
	fi
	echo "$out" | tail -n 20 | sed 's/^/    /'
	pvfs_fail "$name" "command failed: $*"
	return 1
}

# pvfs_arg KEY DEFAULT: value of pvfs.KEY=VALUE on the kernel command line.
pvfs_arg() {
	local word
	for word in $(cat /proc/cmdline); do
		case "$word" in
		pvfs."$1"=*) echo "${word#*=}"; return 0 ;;
		esac
	done
	echo "$2"
}

# pvfs_wait_for PATH SECONDS: wait until PATH exists.
pvfs_wait_for() {
	local i=0
	while [ ! -e "$1" ]; do
		[ "$i" -ge "$(($2 * 10))" ] && return 1
		usleep 100000
		i=$((i + 1))
	done
}

# pvfs_load_disk NAME SECONDS [PARAM=VALUE...]: insmod pvfs_blk with the
# module parameters given (check NAME) and wait up to SECONDS for /dev/pvfs0
# (check NAME-disk); without the disk nothing else can run, so on failure
# show the driver's log and end the test.
pvfs_load_disk() {
	local name=$1 secs=$2
	shift 2
	if ! pvfs_check "$name" insmod "$PVFS_KO" "$@" || ! pvfs_wait_for /dev/pvfs0 "$secs"; then
		pvfs_fail "$name-disk" "/dev/pvfs0 did not appear within ${secs}s"
		dmesg | grep pvfs | tail -n 20 | sed 's/^/    /'
		pvfs_check_dmesg "$name"
		pvfs_done
	fi
	pvfs_pass "$name-disk"
}

# pvfs_mkfs_mount NAME: a new ext4 on /dev/pvfs0, mounted on /mnt (checks
# NAME-mkfs and NAME-mount); without the mount the test ends.
pvfs_mkfs_mount() {
	pvfs_check "$1-mkfs" mkfs.ext4 -q -F /dev/pvfs0
	pvfs_check "$1-mount" mount -t ext4 /dev/pvfs0 /mnt || pvfs_done
}

# pvfs_write_file N: write /mnt/data/fN (256 KiB of random data, fsync) and
# add its sha256 to /tmp/sums for pvfs_verify_files; a failed write is
# noted and counted in pvfs_write_errors.
pvfs_write_file() {
	local f=/mnt/data/f$1
	if ! dd if=/dev/urandom of=$f bs=64k count=4 conv=fsync 2>/tmp/dd.err; then
		pvfs_write_errors=$((pvfs_write_errors + 1))
		pvfs_note "write $1 failed: $(tail -n 1 /tmp/dd.err)"
	fi
	sha256sum $f >> /tmp/sums
}

# pvfs_verify_files NAME N: after N pvfs_write_file calls, NAME-writes passes
# if none failed; then unmount, drop the caches, mount again and check every
# file's sha256 (NAME-umount, NAME-remount, NAME-verify, NAME-umount2).
pvfs_verify_files() {
	pvfs_note "wrote $2 files, $pvfs_write_errors failed writes"
	if [ $pvfs_write_errors -eq 0 ]; then
		pvfs_pass "$1-writes"
	else
		pvfs_fail "$1-writes" "$pvfs_write_errors writes failed"
	fi
	sync
	pvfs_check "$1-umount" umount /mnt
	echo 3 > /proc/sys/vm/drop_caches
	pvfs_check "$1-remount" mount -t ext4 /dev/pvfs0 /mnt
	if sha256sum -c /tmp/sums > /tmp/check.log 2>&1; then
		pvfs_pass "$1-verify"
	else
		pvfs_fail "$1-verify" "$(grep -v ': OK' /tmp/check.log | head -n 3)"
	fi
	pvfs_check "$1-umount2" umount /mnt
}

# pvfs_round_trip NAME MIB WHY: 4 MiB of random data written to /dev/pvfs0
# at MIB MiB and read back (O_DIRECT both ways) must match: PASS NAME, else
# FAIL NAME WHY.
pvfs_round_trip() {
	dd if=/dev/urandom of=/tmp/blob bs=1M count=4 2>/dev/null
	dd if=/tmp/blob of=/dev/pvfs0 bs=1M seek="$2" oflag=direct 2>/dev/null
	if [ "$(dd if=/dev/pvfs0 bs=1M skip="$2" count=4 iflag=direct 2>/dev/null | md5sum)" = \
	     "$(md5sum < /tmp/blob)" ]; then
		pvfs_pass "$1"
	else
		pvfs_fail "$1" "$3"
	fi
}

# pvfs_irqs DISK: interrupts taken so far on DISK's MSI-X vectors, all CPUs.
pvfs_irqs() {
	awk -v pat="$1-q" 'index($0, pat) { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i }
		END { print n + 0 }' /proc/interrupts
}

# pvfs_check_dmesg NAME: FAIL if the kernel log holds a warning, bug, oops
# or lockdep/KASAN/UBSAN report; print the lines around it.
pvfs_check_dmesg() {
	local pat='WARNING:|BUG:|Oops|Call Trace|general protection|UBSAN|KASAN|possible recursive locking|circular locking|hung_task|blocked for more than'
	if dmesg | grep -Eq "$pat"; then
		dmesg | grep -E -B 5 -A 20 "$pat" | head -n 80 | sed 's/^/    /'
		pvfs_fail "$1-dmesg" "kernel log has a warning or oops"
		return 1
	fi
	pvfs_pass "$1-dmesg"
}

# pvfs_done: end a test script; its exit status is the failure count.
pvfs_done() { exit "$pvfs_failures"; }
