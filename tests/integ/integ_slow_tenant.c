/* SPDX-License-Identifier: MIT */
/*
 * integ_slow_tenant - a tenant's slow requests only slow itself (issue 8,
 * item 5). The poller's in-flight cap was shared with no per-tenant
 * bound: a tenant whose backend hangs (here: its volume's file system is
 * frozen with fsfreeze, so every write to it blocks until thawed) took all
 * 64 slots and its neighbour on another disk waited for them. Now each
 * busy tenant is guaranteed its weight's share of the cap, and io-wq has
 * enough workers for the hung requests: the neighbour's verified round
 * trips go on at normal speed while 64 writes of the hung tenant are
 * stuck, and once the file system is thawed those writes complete and
 * their data is there.
 *
 * Needs root (mount, fsfreeze) and e2fsprogs; skips with the reason
 * otherwise. The frozen file system is thawed and unmounted at exit,
 * whatever happens.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM	(1u << 20)
#define DEPTH	64

static struct tl_daemon d;
static char img[400], mnt[400];
static bool mounted, frozen;

static int sh(const char *cmd)
{
	char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };

	return tl_run(argv, NULL, 60000);
}

static void thaw(void)
{
	char cmd[600];

	if (frozen) {
		snprintf(cmd, sizeof(cmd), "fsfreeze -u %s", mnt);
		if (sh(cmd) == 0)
			frozen = false;
	}
}

static void cleanup(void)
{
	thaw();
	if (d.pid > 0)
		tl_daemon_kill(&d);
	if (mounted && umount2(mnt, MNT_DETACH) == 0)
		mounted = false;
	tl_daemon_cleanup(&d);
}

int main(void)
{
	struct tl_vm good, slow;
	struct pvfs_uguest_queue *uq;
	struct pvfs_cqe cqes[DEPTH];
	char cmd[1200], err[512], tmpl[] = "/tmp/pvfs-slow.XXXXXX", *base;
	uint64_t worst = 0, deadline;
	int ok = 0, rounds = 0, done = 0, bad = 0, fd;

	if (geteuid() != 0)
		tl_skip("SKIP: needs root to mount and freeze a file system");
	base = mkdtemp(tmpl);
	if (!base)
		tl_fatal("mkdtemp: %m");
	snprintf(img, sizeof(img), "%s/fs.img", base);
	snprintf(mnt, sizeof(mnt), "%s/mnt", base);
	if (mkdir(mnt, 0700) < 0)
		tl_fatal("mkdir: %m");
	atexit(cleanup);
	snprintf(cmd, sizeof(cmd), "truncate -s 64M %s && mkfs.ext4 -q -F %s", img, img);
	if (sh(cmd) != 0)
		tl_skip("SKIP: cannot make an ext4 image (mkfs.ext4 from e2fsprogs missing?)");
	snprintf(cmd, sizeof(cmd), "mount -o loop %s %s", img, mnt);
	if (sh(cmd) != 0)
		tl_skip("SKIP: cannot loop-mount an ext4 image here (no loop devices?)");
	mounted = true;
	snprintf(cmd, sizeof(cmd), "truncate -s 4M %s/slow.img", mnt);
	if (sh(cmd) != 0)
		tl_fatal("volume on the mounted fs");

	tl_daemon_start(&d, "--volume-dir", mnt, NULL);
	tl_volume(&d, "good.img", 4u << 20);
	if (tl_vm_plug(&d, &good, "good", "good.img", 1, 16, RAM, err, sizeof(err)) ||
	    tl_vm_plug(&d, &slow, "slow", "slow.img", 1, DEPTH, RAM, err, sizeof(err)))
		tl_fatal("plug: %s", err);
	TL_CHECK(tl_vm_roundtrip(&slow, 0, 1) && tl_vm_roundtrip(&good, 0, 2), "both work");

	/* The backend hangs: every write to the slow volume now blocks. */
	snprintf(cmd, sizeof(cmd), "sync -f %s/slow.img && fsfreeze -f %s", mnt, mnt);
	if (sh(cmd) != 0)
		tl_skip("SKIP: fsfreeze does not work here");
	frozen = true;
	uq = &slow.guest.queues[0];
	for (int i = 0; i < DEPTH; i++) {
		struct pvfs_sqe sqe = { .opcode = PVFS_OP_WRITE, .nr_segs = 1, .len = 4096,
					.offset = 4096ull * (uint64_t)i };
		struct pvfs_seg seg = { .addr = tl_vm_gpa(&slow, 4096ull * (uint64_t)i), .len = 4096 };

		memset(slow.ram + 4096 * i, 0x40 + i, 4096);
		if (pvfs_uguest_queue_sqe(uq, &sqe, &seg, 1) < 0)
			tl_fatal("queue");
	}
	pvfs_uguest_commit(uq);
	/* Until pvfsd has them all in flight (they cannot complete). */
	deadline = now_ns() + 10000000000ull;
	for (;;) {
		json_t *st = tl_tenant_stats(&d, "slow");
		long long inflight = st ? json_integer_value(json_object_get(st, "inflight")) : -1;

		json_decref(st);
		if (inflight == DEPTH)
			break;
		if (now_ns() > deadline) {
			TL_CHECK(0, "the slow tenant's %d writes are all in flight (%lld)", DEPTH,
				 inflight);
			break;
		}
	}

	for (rounds = 0; rounds < 30; rounds++) {
		uint64_t t0 = now_ns();

		ok += tl_vm_roundtrip(&good, 4096ull * (uint64_t)(rounds + 1), (uint8_t)rounds);
		worst = MAX(worst, now_ns() - t0);
	}
	TL_CHECK(ok == rounds && worst < 1000000000ull,
		 "the neighbour's %d verified round trips pass while %d writes hang, the slowest "
		 "%.1f ms (before the fix: they waited for the hung writes)", rounds, DEPTH,
		 (double)worst / 1e6);
	TL_CHECK(pvfs_uguest_reap(uq, cqes, DEPTH) == 0, "no hung write has completed");

	thaw();
	TL_CHECK(!frozen, "thawed");
	deadline = now_ns() + 20000000000ull;
	while (done < DEPTH && now_ns() < deadline) {
		int n = (int)pvfs_uguest_reap(uq, cqes, DEPTH);

		for (int i = 0; i < n; i++)
			bad += cqes[i].result != 4096;
		done += n;
		if (!n)
			pvfs_uguest_wait(uq, 100);
	}
	TL_CHECK(done == DEPTH && !bad, "after the thaw all %d writes complete (%d, %d failed)",
		 DEPTH, done, bad);
	snprintf(cmd, sizeof(cmd), "%s/slow.img", mnt);
	fd = open(cmd, O_RDONLY);
	if (fd >= 0) {
		uint8_t blk[4096];
		int good_blocks = 0;

		for (int i = 0; i < DEPTH; i++)
			good_blocks += pread(fd, blk, sizeof(blk), 4096 * i) == 4096 &&
				       blk[0] == 0x40 + i && blk[4095] == 0x40 + i;
		close(fd);
		TL_CHECK(good_blocks == DEPTH, "their data is in the volume (%d of %d blocks)",
			 good_blocks, DEPTH);
	}
	tl_vm_unplug(&slow);
	tl_vm_unplug(&good);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	sh(cmd);
	return tl_done();
}
