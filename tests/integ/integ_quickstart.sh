#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# integ_quickstart - the README's quick start works as the first command in
# a fresh clone of a machine without the build dependencies (issue #13:
# `make demo` compiled before it installed anything and stopped at
# "jansson.h: No such file").
#
# A copy of the tracked files (uncommitted edits included, no build/) runs
# `make demo` in a sandbox where the packages are missing until apt-get
# installs them: stubs early in PATH make dpkg-query report every package
# missing, pkg-config find nothing and cc fail on jansson.h until the
# apt-get stub has run "install". Passes if make demo succeeds, the install
# came before the first compile, and the demo ran to pvfsd's clean exit.
# `make -n check` (the quick start's other command) must likewise install
# before it compiles. What this cannot show: that the real apt-get installs
# the right packages (scripts/install-deps lists them).
set -u
# shellcheck source=tests/integ/integ-lib.sh
. "$(dirname "$0")/integ-lib.sh"

command -v git > /dev/null && git -C "$ROOT" rev-parse --is-inside-work-tree > /dev/null 2>&1 ||
	{ echo "SKIP: needs a git checkout (the quick start runs in a clone)"; exit 77; }
real_cc=$(command -v cc) || { echo "SKIP: no cc"; exit 77; }
real_pkgconfig=$(command -v pkg-config) || { echo "SKIP: no pkg-config"; exit 77; }
real_dpkgquery=$(command -v dpkg-query) || { echo "SKIP: no dpkg-query (not Debian)"; exit 77; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin"
EV=$T/events
: > "$EV"

copy_tree "$T/src"

# The sandbox: "installed" appears when apt-get installs.
stub() {	# name body
	printf '#!/bin/sh\n%s\n' "$2" > "$T/bin/$1"
	chmod +x "$T/bin/$1"
}
stub apt-get "echo \"apt-get \$*\" >> '$EV'
[ \"\$1\" = install ] && touch '$T/installed'
exit 0"
stub dpkg-query "[ -e '$T/installed' ] || exit 1
exec '$real_dpkgquery' \"\$@\""
stub pkg-config "[ -e '$T/installed' ] || exit 1
exec '$real_pkgconfig' \"\$@\""
stub cc "if [ ! -e '$T/installed' ]; then
	echo 'cc before install' >> '$EV'
	echo 'lib/rpc.h:12:10: fatal error: jansson.h: No such file or directory (sandbox)' >&2
	exit 1
fi
echo cc >> '$EV'
exec '$real_cc' \"\$@\""
stub id "[ \"\$1\" = -u ] && { echo 0; exit 0; }
exec /usr/bin/id \"\$@\""

(cd "$T/src" && env -u CC -u MAKEFLAGS -u MFLAGS -u MAKELEVEL PATH="$T/bin:$PATH" \
	make demo DEMO_SECONDS=1) > "$T/demo.log" 2>&1
rc=$?
if [ $rc = 0 ]; then
	ok "make demo succeeds as the first command in a fresh copy without the packages"
else
	notok "make demo exited $rc; its last lines:"
	tail -20 "$T/demo.log" | sed 's/^/    /'
fi
first_install=$(grep -n -m1 '^apt-get install' "$EV" | cut -d: -f1)
first_cc=$(grep -n -m1 '^cc' "$EV" | cut -d: -f1)
if [ -n "$first_install" ] && [ -n "$first_cc" ] && [ "$first_install" -lt "$first_cc" ] &&
   ! grep -q 'cc before install' "$EV"; then
	ok "apt-get install ran before the first compile"
else
	notok "install/compile order: $(grep -v '^cc$' "$EV" | head -3 | tr '\n' ';') first cc at event ${first_cc:-none}"
fi
grep -q '^pvfsd exited with status 0' "$T/demo.log" &&
	ok "the demo ran to pvfsd's clean exit" || notok "the demo did not end with pvfsd's clean exit"

# make check: the dependencies step comes before any compile (a dry run in
# the same fresh copy, packages present: only the order is checked).
rm -rf "$T/src/build"
(cd "$T/src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n check) > "$T/check.log" 2>&1
deps_line=$(grep -n -m1 'scripts/install-deps' "$T/check.log" | cut -d: -f1)
cc_line=$(grep -n -m1 -E '(^| )(cc|clang) .* -c ' "$T/check.log" | cut -d: -f1)
if [ -n "$deps_line" ] && [ -n "$cc_line" ] && [ "$deps_line" -lt "$cc_line" ]; then
	ok "make check installs (line $deps_line) before it compiles (line $cc_line)"
else
	notok "make -n check: install-deps at line ${deps_line:-none}, first compile at ${cc_line:-none}"
fi
exit $fail
