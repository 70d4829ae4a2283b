# SPDX-License-Identifier: MIT
#
# integ-lib.sh - sourced by the shell integration tests: the repository
# root, the build directory ($PVFS_BUILD, default build) as an absolute
# path, and its PVFSD, PVFSCTL and BENCH; ok/notok lines that count in
# $passed and $failed and remember a failure in $fail, skip, need_built,
# need_cmd, stop_pid, wait_for, a work directory with pvfsd in it
# (integ_dir, start_pvfsd, tfield), and copy_tree.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${PVFS_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
PVFSD=$BUILD/bin/pvfsd
PVFSCTL=$BUILD/bin/pvfsctl
BENCH=$BUILD/bin/pvfs-bench
fail=0 passed=0 failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
notok() { echo "not ok - $*"; failed=$((failed + 1)); fail=1; }
skip() { echo "skip - $*"; exit 77; }
# need_built PROG...: skip unless each of these $BUILD/bin programs is built.
need_built() {
	local p
	for p; do [ -x "$BUILD/bin/$p" ] || skip "$BUILD/bin/$p not built (run make)"; done
}
# need_cmd CMD [WHY]: skip (saying WHY) unless CMD is installed.
need_cmd() { command -v "$1" > /dev/null || skip "${2:-$1 not found}"; }
# stop_pid PID [WHAT]: TERM, bounded wait, KILL (saying so when WHAT is given).
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$1" 2>/dev/null; then
		[ -n "${2:-}" ] && echo "# $2 did not stop on SIGTERM; killing it"
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
}
# wait_for COND...: poll a condition, at most 10 s.
wait_for() {
	for _ in $(seq 200); do "$@" && return 0; sleep 0.05; done
	return 1
}
sock_up() { [ -S "$1" ]; }
# integ_dir NAME: $D, a new directory removed at exit, that holds pvfsd's
# control socket ($PVFS_SOCKET); the exit first stops $BG, $PID and $SRV
# (the test's background load, pvfsd, a server) where the test set them.
integ_dir() {
	D=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1
	export PVFS_SOCKET=$D/run/control.sock
	PID= SRV= BG=
	trap integ_cleanup EXIT
}
integ_cleanup() {
	stop_pid "$BG"
	stop_pid "$PID"
	stop_pid "$SRV"
	rm -rf "$D"
}
# start_pvfsd ARGS...: $PVFSD on integ_dir's $D with ARGS, its pid in $PID and
# its log in $D/pvfsd.log; ready when $PVFSCTL version answers (at most 10 s).
start_pvfsd() {
	mkdir -p "$D/vols"
	"$PVFSD" --runtime-dir "$D/run" --volume-dir "$D/vols" "$@" 2>> "$D/pvfsd.log" &
	PID=$!
	wait_for "$PVFSCTL" version > /dev/null 2>&1 ||
		{ notok "pvfsd did not start"; cat "$D/pvfsd.log"; exit 1; }
}
# tfield NAME EXPR: a field of the tenant's stats (python expression on t).
tfield() {
	"$PVFSCTL" --json stats "$1" | python3 -c "import json,sys
t=json.load(sys.stdin)['tenants'][0]
print($2)"
}
unplugged() { [ "$(tfield "$1" "t['state']")" = unplugged ]; }
# copy_tree DEST - the tracked files as they are in the working tree
# (uncommitted edits included, no build output): a fresh clone of this tree.
copy_tree() {
	mkdir -p "$1"
	git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 sh -c \
		'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
		(cd "$ROOT" && xargs -0 cp -a --parents -t "$1")
}
