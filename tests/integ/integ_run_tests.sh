#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# integ_run_tests - tests/run-tests runs exactly the tests make knows
# (`make list-tests`), nothing more: a stale binary left in the build
# directory by a deleted test does not run, and removing a test's source
# removes it from the run (issue #13).
set -u
# shellcheck source=tests/integ/integ-lib.sh
. "$(dirname "$0")/integ-lib.sh"

command -v git > /dev/null && git -C "$ROOT" rev-parse --is-inside-work-tree > /dev/null 2>&1 ||
	{ echo "SKIP: needs a git checkout (copies the tracked files)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# names TREE KIND-OPTION: what run-tests would run, and what make lists.
ran() { (cd "$1" && tests/run-tests --list $2) | sort; }
made() {
	(cd "$1" && env -u MAKEFLAGS -u MAKELEVEL make -s --no-print-directory list-tests) |
		awk -v k="$2" '$1 == k { n = split($2, p, "/"); print (k == "fuzz" ? "fuzz:" : "") p[n] }' | sort
}

for kind in unit integ e2e fuzz; do
	if [ "$(ran "$ROOT" "--$kind")" = "$(made "$ROOT" "$kind")" ] && [ -n "$(made "$ROOT" "$kind")" ]; then
		ok "run-tests --$kind runs what make list-tests names ($(made "$ROOT" "$kind" | wc -l) tests)"
	else
		notok "run-tests --$kind: $(diff <(ran "$ROOT" "--$kind") <(made "$ROOT" "$kind") | tr '\n' ' ')"
	fi
done

# Stale binaries of deleted tests in the build directory do not run.
mkdir -p "$T/b/tests"
for t in test_stale integ_stale; do
	printf '#!/bin/sh\nexit 1\n' > "$T/b/tests/$t"
	chmod +x "$T/b/tests/$t"
done
(cd "$ROOT" && tests/run-tests --build "$T/b" --unit stale) > "$T/stale.out" 2>&1
(cd "$ROOT" && tests/run-tests --build "$T/b" --integ stale) >> "$T/stale.out" 2>&1
if ! grep -q 'stale' "$T/stale.out" && [ "$(grep -c '^0 passed, 0 failed, 0 skipped' "$T/stale.out")" = 2 ]; then
	ok "stale binaries in the build directory are not run"
else
	notok "stale binaries ran: $(tr '\n' ' ' < "$T/stale.out")"
fi

# Removing a test's source removes it from the run (one of each kind).
copy_tree "$T/src"
rm "$T/src/tests/unit/test_verify.c" "$T/src/tests/integ/integ_idle.c" \
	"$T/src/tests/integ/integ_units.sh" "$T/src/tests/e2e/e2e_reboot.sh"
after=$( (ran "$T/src" ""; ran "$T/src" --fuzz) | sort)
if ! grep -qx -e test_verify -e integ_idle -e integ_units.sh -e e2e_reboot.sh <<< "$after" &&
   grep -qx test_ring <<< "$after" && grep -qx integ_tenants <<< "$after" &&
   [ "$after" = "$( (made "$T/src" unit; made "$T/src" integ; made "$T/src" e2e; made "$T/src" fuzz) | sort)" ]; then
	ok "a test whose source is removed leaves the run, the others stay"
else
	notok "after removing sources, run-tests lists: $(tr '\n' ' ' <<< "$after")"
fi
exit $fail
