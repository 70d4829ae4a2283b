#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# integ_iowq_cpus - with --cpus, io_uring's io-wq workers stay off the
# pollers' CPUs (docs/architecture.md, "Completions without IPIs, and a
# poller that steps aside"). Cached writes on ext4 (no async buffered
# writes) go to io-wq workers, as flushes do; a worker inherits the submitting thread's CPU, so before this
# every one of them ran on the pinned poller's core and waited for the
# spinning poller's slice. One poller, --cpus FIRST,SECOND on a machine
# with at least two CPUs, a tenant writing through the page cache: every
# iou-wrk thread pvfsd has meanwhile must exclude FIRST from its allowed
# CPUs, and the data written reads back verified. With a poller on every
# CPU pvfsd may use, pvfsd says that workers share them.
set -u
# shellcheck source=tests/integ/integ-lib.sh
. "$(dirname "$0")/integ-lib.sh"
need_built pvfsd pvfsctl pvfs-bench
need_cmd python3
# the CPUs this test (and so pvfsd) may use, expanded
cpus_of() {
	python3 -c "import sys
out = []
for part in sys.argv[1].split(','):
    a, _, b = part.partition('-')
    out += range(int(a), int(b or a) + 1)
print(' '.join(map(str, out)))" "$1"
}
read -r -a MINE <<< "$(cpus_of "$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)")"
[ "${#MINE[@]}" -ge 2 ] || skip "needs 2 CPUs to keep workers off the poller's (has ${#MINE[@]})"
FIRST=${MINE[0]}

integ_dir integ_iowq_cpus
# One poller and a --cpus list longer than that: only the poller's CPU is
# kept from the workers (the second CPU in the list has no poller).
start_pvfsd --metrics-listen none --io-threads 1 --cpus "$FIRST,${MINE[1]}"
truncate -s 256M "$D/vols/v.img"
"$PVFSCTL" attach t --volume v.img --cache writeback > /dev/null || notok "attach"
# Random cached writes, verified (read back after): io-wq work all along.
"$BENCH" --tenant t --rw randwrite --bs 4k --iodepth 8 --runtime 3 --size 128M \
	--verify -q > "$D/bench.out" 2>&1 &
BG=$!

# Collect every iou-wrk thread seen while the tenant writes (bounded).
workers() {
	local t
	for t in /proc/"$PID"/task/*; do
		case $(cat "$t/comm" 2>/dev/null) in
		iou-wrk-*) echo "$(basename "$t") $(awk '/^Cpus_allowed_list/ {print $2}' "$t/status" 2>/dev/null)" ;;
		esac
	done
}
seen=
for _ in $(seq 300); do
	seen+=$(workers)$'\n'
	kill -0 "$BG" 2>/dev/null || break
	sleep 0.01
done
wait "$BG"
rc=$?
BG=
[ $rc = 0 ] && ok "verified cached writes" ||
	{ notok "pvfs-bench failed ($rc)"; cat "$D/bench.out"; }
seen=$(echo "$seen" | sort -u | sed '/^$/d')
n=$(echo -n "$seen" | grep -c .)
[ "$n" -ge 1 ] && ok "pvfsd had io-wq workers ($n seen)" || notok "no iou-wrk thread seen"
bad=0
while read -r tid list; do
	[ -n "$tid" ] || continue
	for c in $(cpus_of "$list"); do
		[ "$c" = "$FIRST" ] && { bad=1; echo "# iou-wrk $tid may run on the poller's CPU $FIRST ($list)"; }
	done
done <<< "$seen"
[ $bad = 0 ] && ok "no io-wq worker may run on the poller's CPU $FIRST" ||
	notok "io-wq workers share the poller's CPU $FIRST"
stop_pid "$PID"
PID=

# --cpus naming every CPU pvfsd may use: said, and pvfsd still serves.
ALL=$(IFS=,; echo "${MINE[*]}")
start_pvfsd --metrics-listen none --io-threads "${#MINE[@]}" --cpus "$ALL"
grep -q "io-wq workers .* share the pollers' CPUs" "$D/pvfsd.log" &&
	ok "pvfsd says workers share the pollers' CPUs when --cpus names them all" ||
	{ notok "no word on workers sharing the pollers' CPUs"; tail -3 "$D/pvfsd.log"; }
truncate -s 128M "$D/vols/u.img"
"$PVFSCTL" attach u --volume u.img --cache writeback > /dev/null || notok "attach (all CPUs)"
"$BENCH" --tenant u --rw randwrite --bs 4k --iodepth 4 --runtime 1 --size 128M --verify -q \
	> "$D/bench2.out" 2>&1 && ok "verified writes with every CPU a poller's" ||
	{ notok "pvfs-bench failed with every CPU a poller's"; cat "$D/bench2.out"; }

echo "$passed passed, $failed failed"
exit $fail
