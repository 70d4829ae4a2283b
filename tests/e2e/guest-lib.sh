# SPDX-License-Identifier: GPL-2.0-only
#
# pvfs-e2e.sh - helpers shared by /init and the guest test scripts in
# tests/e2e/guest/ (installed as /lib/pvfs-e2e.sh). Every result goes to the
# serial console as one line starting with "PVFS-E2E: " so the host can grep
# the log: PASS name, FAIL name reason, SKIP name reason, NOTE text. A test
# script exits with the number of failed checks.

PVFS_KO=/lib/modules/pvfs/pvfs_blk.ko
pvfs_failures=0

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
