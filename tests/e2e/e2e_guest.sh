#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_guest - the whole product end to end: a real pvfsd on a private
# runtime directory, a 512 MiB volume attached with pvfsctl, pvfs-shim
# serving QEMU's ivshmem-doorbell chardev, and the Debian guest kernel with
# pvfs_blk.ko running guest/fs-verify.sh (raw fio verify, ext4, 64 MiB of
# checksummed files across remounts and cache drops, fio randwrite+verify,
# module unload/reload). The host then checks the volume file with e2fsck and
# debugfs and reports pvfsd's doorbells and interrupts per I/O and the peak
# IOPS it saw.
#
# The setup and checks are host-lib.sh's, shared with the other e2e_*.sh.
#
# Exit status: 0 pass, 1 fail, 77 skip (qemu, guest kernel, headers, fio or
# e2fsprogs missing; scripts/install-deps installs them). Environment:
# PVFS_BUILD (build), PVFS_E2E_MIB (64), PVFS_E2E_FIO_SIZE (16M per job),
# PVFS_E2E_FIO_JOBS (4), PVFS_E2E_TIMEOUT (420 s for the guest),
# PVFS_E2E_MEM (guest RAM, 1G; 3G puts RAM above 4 GiB too),
# PVFS_E2E_KEEP=1 keeps the work directory.

set -uo pipefail

E2E_NAME=e2e-guest
# shellcheck source=tests/e2e/host-lib.sh
. "$(dirname "$0")/host-lib.sh"

e2e_main() {
	e2e_init
	e2e_start_pvfsd
	e2e_attach "$e2e_tenant" vol.img 512M
	e2e_start_shim "$e2e_tenant"
	e2e_log "QEMU args from pvfs-shim: ${e2e_qemu_args[*]}"
	e2e_fs_verify
	e2e_host_fsck vol.img
	e2e_log "PASS (guest ran ${e2e_boot_secs}s)"
}

e2e_main "$@"
