#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# integ_includes - scripts/check-includes passes on the tree (the include
# graph of daemon/, ctl/, lib/, vmm-shim/ and proto/ has no cycle and the
# data plane includes no control-plane header), and it does catch each kind
# of violation when one is introduced on purpose into a copy of the tree: a
# module cycle (stats.c including control.h, as before issue #13; pvfsctl's
# client needing its main module, as ctl.c and pvfsctl.c did), a header
# cycle, and a data-plane file including a control-plane header.
set -u
# shellcheck source=tests/integ/integ-lib.sh
. "$(dirname "$0")/integ-lib.sh"

command -v git > /dev/null && git -C "$ROOT" rev-parse --is-inside-work-tree > /dev/null 2>&1 ||
	{ echo "SKIP: needs a git checkout (copies the tracked files)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

if out=$("$ROOT/scripts/check-includes" 2>&1); then
	ok "the tree: $out"
else
	notok "the tree has include problems:"
	echo "$out" | sed 's/^/    /'
fi

# violation NAME FILE LINE EXPECT: add LINE to FILE in a fresh copy; the
# check must fail with EXPECT in its output.
violation() {
	rm -rf "$T/src"
	copy_tree "$T/src"
	echo "$3" >> "$T/src/$2"
	if out=$("$T/src/scripts/check-includes" 2>&1); then
		notok "$1: not detected"
	elif grep -q -- "$4" <<< "$out"; then
		ok "$1: detected ($(tr '\n' ' ' <<< "$out"))"
	else
		notok "$1: failed without '$4': $out"
	fi
}
violation "module cycle control <-> stats" daemon/stats.c '#include "control.h"' 'module include cycle'
violation "header cycle sched.h <-> pvfsd.h" daemon/sched.h '#include "pvfsd.h"' 'file include cycle'
violation "module cycle client <-> pvfsctl in ctl/" ctl/client.h '#include "pvfsctl.h"' \
	'module include cycle'
violation "data plane includes tenant.h" daemon/poller.c '#include "tenant.h"' \
	'data plane includes control-plane header daemon/tenant.h'
exit $fail
