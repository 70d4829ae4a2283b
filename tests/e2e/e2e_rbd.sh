#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_rbd - a real guest on a Ceph RBD volume: a single-node cluster
# (scripts/ceph-cluster, destroyed with the test), a 512 MiB image attached
# with pvfsctl attach --volume rbd:rbd/IMAGE, pvfs-shim and QEMU, and the
# guest running guest/fs-verify.sh on /dev/pvfs0 (raw fio verify, mkfs.ext4,
# checksummed files across remounts and cache drops, fio randwrite+verify,
# module reload). After detach the host exports the image with rbd export
# and checks it with e2fsck and debugfs: the guest's file system is in Ceph.
#
# Exit status: 0 pass, 1 fail, 77 skip (as e2e_guest.sh, or Ceph missing;
# scripts/install-deps installs it). About 3-4 min under TCG, ~20 s of
# them the cluster. Environment: as e2e_guest.sh.

set -uo pipefail

E2E_NAME=e2e-rbd
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

e2e_cluster=

cluster_cleanup() {
	[ -n "$e2e_cluster" ] &&
		"$e2e_repo/scripts/ceph-cluster" destroy "$e2e_cluster" >/dev/null 2>&1
	e2e_cleanup
}

e2e_main() {
	local b

	for b in ceph-mon ceph-mgr ceph-osd ceph rbd; do
		command -v $b >/dev/null || e2e_skip "$b missing (scripts/install-deps: Ceph)"
	done
	e2e_init
	trap cluster_cleanup EXIT
	e2e_cluster=$(mktemp -d /tmp/e2e_rbd.XXXXXX)
	# The cluster dies with this script, however it ends.
	CEPH_CLUSTER_OWNER=$$ "$e2e_repo/scripts/ceph-cluster" start "$e2e_cluster" \
		>"$e2e_work/cluster.log" 2>&1 ||
		{ cat "$e2e_work/cluster.log"; e2e_fail "ceph-cluster start"; }
	export CEPH_CONF=$e2e_cluster/ceph.conf
	rbd create --size 512M rbd/e2e || e2e_fail "rbd create"
	e2e_start_pvfsd --allow-rbd-pools rbd --ceph-conf "$CEPH_CONF" --ceph-id pvfs
	"${e2e_ctl[@]}" attach "$e2e_tenant" --volume rbd:rbd/e2e >/dev/null ||
		e2e_fail "pvfsctl attach $e2e_tenant --volume rbd:rbd/e2e"
	e2e_start_shim "$e2e_tenant"
	e2e_fs_verify
	e2e_stop e2e_shim_pid
	"${e2e_ctl[@]}" detach "$e2e_tenant" >/dev/null || e2e_fail "pvfsctl detach"
	rbd export --no-progress rbd/e2e "$e2e_work/vols/export.img" >/dev/null 2>&1 ||
		e2e_fail "rbd export"
	e2e_host_fsck export.img
	e2e_log "PASS (guest ran ${e2e_boot_secs}s)"
}

e2e_main "$@"
