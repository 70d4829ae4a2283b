# SPDX-License-Identifier: MIT
#
# integ-lib.sh - sourced by the shell integration tests: the repository root, the
# build directory ($PVFS_BUILD, default build) as an absolute path, and
# ok/notok lines that remember a failure in $fail.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${PVFS_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }
