/* SPDX-License-Identifier: MIT */
/*
 * integ_enospc - the host file system under a thin volume fills up. A 4 MiB
 * sparse volume (cache=writeback) lives on a 1 MiB tmpfs: the guest writes
 * 4 KiB blocks until one fails, and it must fail with -ENOSPC (not -EIO,
 * not a hang, not a broken tenant) at about 1 MiB; every block written
 * before reads back intact; a discard of the first 512 KiB punches holes
 * and frees space, after which the failed write succeeds. Needs root to
 * mount the tmpfs (skips otherwise).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM (1u << 20)
#define BLK 4096u
#define VOL (4u << 20)

static char mnt[400];

/* Whatever happens, the tmpfs does not outlive the test. */
static void unmount_at_exit(void)
{
	if (mnt[0])
		umount2(mnt, MNT_DETACH);
}

static void fill(uint8_t *p, uint32_t blk)
{
	for (uint32_t i = 0; i < BLK; i += 4)
		memcpy(p + i, &(uint32_t){ blk * 7919u + i }, 4);
}

int main(void)
{
	struct tl_daemon d = { 0 };
	struct tl_vm vm;
	char err[512];
	uint32_t nblk = 0, bad = 0;
	int r = 0;

	if (geteuid() != 0)
		tl_skip("mounting a small tmpfs needs root");
	tl_daemon_start(&d, NULL);
	snprintf(mnt, sizeof(mnt), "%s/small", d.vols);
	if (mkdir(mnt, 0700) < 0)
		tl_fatal("mkdir %s: %m", mnt);
	if (mount("pvfs-test", mnt, "tmpfs", 0, "size=1m,mode=0700") < 0) {
		int e = errno;

		if (e == EPERM || e == EACCES) {
			tl_daemon_stop(&d);
			tl_daemon_cleanup(&d);
			tl_skip("cannot mount a tmpfs here (%s): needs CAP_SYS_ADMIN", strerror(e));
		}
		tl_fatal("mount a 1 MiB tmpfs on %s: %m", mnt);
	}
	atexit(unmount_at_exit);
	tl_volume(&d, "small/vol.img", VOL);
	if (tl_rpc(&d, "attach", json_pack("{s:s, s:s, s:s}", "name", "thin", "volume",
					   "small/vol.img", "cache", "writeback"), NULL))
		tl_fatal("attach thin (cache=writeback: tmpfs has no O_DIRECT)");
	if (tl_vm_plug(&d, &vm, "thin", NULL, 1, 16, RAM, err, sizeof(err)))
		tl_fatal("plug thin: %s", err);

	/* Fill: write block after block until the host file system is full. */
	while (nblk < VOL / BLK) {
		fill(vm.ram, nblk);
		r = tl_vm_rw(&vm, 0, true, (uint64_t)nblk * BLK, BLK, 0);
		if (r != (int)BLK)
			break;
		nblk++;
	}
	TL_CHECK(r == -ENOSPC, "the write that does not fit fails with -ENOSPC (%d)", r);
	TL_CHECK(nblk * BLK >= 512u * 1024 && nblk * BLK <= 1024u * 1024,
		 "after %u KiB, about the 1 MiB the file system holds", nblk * BLK / 1024);
	TL_CHECK(tl_wait_state(&d, "thin", "running", 1000), "the tenant is still running");

	for (uint32_t b = 0; b < nblk; b++) {
		memset(vm.ram + 8192, 0, BLK);
		fill(vm.ram, b);
		if (tl_vm_rw(&vm, 0, false, (uint64_t)b * BLK, BLK, 8192) != (int)BLK ||
		    memcmp(vm.ram, vm.ram + 8192, BLK))
			bad++;
	}
	TL_CHECK(bad == 0, "all %u blocks written before it read back intact (%u bad)", nblk, bad);

	/* Discard punches holes: the space comes back and the write goes through. */
	r = tl_vm_io(&vm, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_DISCARD, .offset = 0,
		     .len = 512u * 1024 }, NULL, 0, 10000);
	TL_CHECK(r == 0, "discard of the first 512 KiB completes (%d)", r);
	fill(vm.ram, nblk);
	r = tl_vm_rw(&vm, 0, true, (uint64_t)nblk * BLK, BLK, 0);
	TL_CHECK(r == (int)BLK, "with space freed the failed write succeeds (%d)", r);
	memset(vm.ram + 8192, 0, BLK);
	TL_CHECK(tl_vm_rw(&vm, 0, false, (uint64_t)nblk * BLK, BLK, 8192) == (int)BLK &&
		 !memcmp(vm.ram, vm.ram + 8192, BLK), "... and reads back");
	memset(vm.ram + 8192, 0xff, BLK);
	TL_CHECK(tl_vm_rw(&vm, 0, false, 0, BLK, 8192) == (int)BLK && vm.ram[8192] == 0 &&
		 vm.ram[8192 + BLK - 1] == 0, "a discarded block reads as zeroes");

	tl_vm_unplug(&vm);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	if (umount(mnt) < 0)
		tl_fatal("umount %s: %m", mnt);
	mnt[0] = '\0';
	tl_daemon_cleanup(&d);
	return tl_done();
}
