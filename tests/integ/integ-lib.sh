# SPDX-License-Identifier: MIT
#
# integ-lib.sh - sourced by the shell integration tests: the repository
# root, the build directory ($PVFS_BUILD, default build) as an absolute
# path, ok/notok lines that remember a failure in $fail, stop_pid,
# wait_for, and copy_tree.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${PVFS_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }
stop_pid() {	# PID: TERM, bounded wait, KILL
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
# wait_for COND...: poll a condition, at most 10 s.
wait_for() {
	for _ in $(seq 200); do "$@" && return 0; sleep 0.05; done
	return 1
}
# copy_tree DEST - the tracked files as they are in the working tree
# (uncommitted edits included, no build output): a fresh clone of this tree.
copy_tree() {
	mkdir -p "$1"
	git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 sh -c \
		'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
		(cd "$ROOT" && xargs -0 cp -a --parents -t "$1")
}
