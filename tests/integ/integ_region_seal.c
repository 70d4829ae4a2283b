/* SPDX-License-Identifier: MIT */
/*
 * integ_region_seal - a VMM's memory cannot crash pvfsd (issue 8, item 4).
 * pvfsd's CPU reads and writes the ring region, so a region that shrinks
 * under it would kill it with SIGBUS: plug must refuse a region that is not
 * a memfd sealed with F_SEAL_SHRINK and F_SEAL_SEAL (an unsealed memfd, one
 * that does not allow sealing, one sealed against shrinking but open to
 * more seals, a regular file), with -EBADF and a message that says to seal
 * it, and accept the sealed region libpvfs-shim makes. Should one of the
 * bad regions be accepted, the test shrinks it to show what that costs.
 * Guest RAM is only touched by the kernel through io_uring, so it needs no
 * seal: after a plugged VM's RAM file shrinks, a read into and a write from
 * the gone part complete with -EFAULT (O_DIRECT and page-cache tenants),
 * the part that is left still works, pvfsd survives and a neighbour keeps
 * doing verified round trips.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM (1u << 20)
#define VOL (8u << 20)

static struct tl_daemon d;

enum bad_region { UNSEALED, NO_SEALING, SHRINK_ONLY, REGULAR_FILE };

static const char *const bad_names[] = {
	[UNSEALED] = "a memfd without seals",
	[NO_SEALING] = "a memfd that does not allow sealing",
	[SHRINK_ONLY] = "a memfd sealed against shrinking, not against more seals",
	[REGULAR_FILE] = "a regular file",
};

/* bad_region_fd - a region of kind k holding a copy of the valid region reg. */
static int bad_region_fd(enum bad_region k, const struct pvfs_region *reg)
{
	char path[600];
	int fd;

	switch (k) {
	case UNSEALED:
		fd = memfd_create("bad-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		break;
	case NO_SEALING:
		fd = memfd_create("bad-region", MFD_CLOEXEC);
		break;
	case SHRINK_ONLY:
		fd = memfd_create("bad-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		break;
	default:
		snprintf(path, sizeof(path), "%s/region", d.dir);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		break;
	}
	if (fd < 0 || ftruncate(fd, (off_t)reg->size) < 0 ||
	    pwrite(fd, reg->base, PVFS_HDR_SIZE, 0) != PVFS_HDR_SIZE)
		tl_fatal("make %s: %m", bad_names[k]);
	if (k == SHRINK_ONLY && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		tl_fatal("seal: %m");
	return fd;
}

static bool pvfsd_alive(int ms)
{
	uint64_t deadline = now_ns() + (uint64_t)ms * 1000000ull;
	int status;

	do {
		if (waitpid(d.pid, &status, WNOHANG) == d.pid) {
			printf("# pvfsd died: %s\n", WIFSIGNALED(status) ?
			       strsignal(WTERMSIG(status)) : "exited");
			d.pid = 0;
			return false;
		}
		usleep(10000);	/* watching for a death, bounded by the deadline */
	} while (now_ns() < deadline);
	return tl_rpc(&d, "version", NULL, NULL) == 0;
}

/* plug_bad - plug tenant "t" with a bad region of kind k; false if pvfsd died. */
static bool plug_bad(enum bad_region k)
{
	struct pvfs_region_params rp = { .nr_queues = 1, .depth = 4, .max_segs = 4 };
	struct pvfs_region *reg;
	struct pvfs_plug *plug = NULL;
	struct pvfs_memregion mem;
	char err[512] = "";
	int ram, r;

	if (pvfs_region_create(&rp, &reg) < 0)
		tl_fatal("region: %m");
	ram = memfd_create("ram", MFD_CLOEXEC);
	if (ram < 0 || ftruncate(ram, RAM) < 0)
		tl_fatal("ram: %m");
	mem = (struct pvfs_memregion){ 0, RAM, ram, 0 };
	close(reg->memfd);
	reg->memfd = bad_region_fd(k, reg);
	r = pvfs_plug(d.sock, "t", reg, &mem, 1, &plug, err, sizeof(err));
	TL_CHECK(r == -EBADF && strstr(err, "F_SEAL_SHRINK"),
		 "plug with %s as the region: %d (want -EBADF), \"%s\"", bad_names[k], r, err);
	if (r == 0) {
		bool alive;

		/* Accepted: shrink it under pvfsd and kick, so that a poller looks at it. */
		if (ftruncate(reg->memfd, 0) < 0)
			tl_fatal("shrink: %m");
		eventfd_write(reg->kick_fd[0], 1);
		alive = pvfsd_alive(1500);
		TL_CHECK(alive, "... accepted, then shrunk: pvfsd survives");
		pvfs_unplug(plug);
		if (!alive) {
			pvfs_region_free(reg);
			close(ram);
			return false;
		}
		tl_wait_state(&d, "t", "unplugged", 5000);
	}
	pvfs_region_free(reg);
	close(ram);
	return true;
}

/* shrink_ram - shrink vm's RAM file to a quarter, then use the gone part. */
static void shrink_ram(struct tl_vm *vm, struct tl_vm *good, const char *what)
{
	int r;

	TL_CHECK(tl_vm_roundtrip(vm, 0, 0x21), "%s: I/O works before the shrink", what);
	if (ftruncate(vm->ram_fd, RAM / 4) < 0)
		tl_fatal("shrink RAM: %m");
	/* ram[RAM/2] is gpa 4 GiB, ram[RAM/4 + 64K] the end of the low half: both gone. */
	r = tl_vm_rw(vm, 0, false, 0, 4096, RAM / 2);
	TL_CHECK(r == -EFAULT, "%s: a read into shrunk-away RAM completes with %d (want -EFAULT)",
		 what, r);
	r = tl_vm_rw(vm, 0, true, 8192, 4096, RAM / 4 + 65536);
	TL_CHECK(r == -EFAULT, "%s: a write from shrunk-away RAM completes with %d (want -EFAULT)",
		 what, r);
	TL_CHECK(pvfsd_alive(0), "%s: pvfsd survives", what);
	TL_CHECK(tl_vm_roundtrip(vm, 4096, 0x22), "%s: the RAM that is left still works", what);
	TL_CHECK(tl_vm_roundtrip(good, 0, 0x5a) && tl_vm_roundtrip(good, 65536, 0xa5),
		 "%s: the neighbour keeps doing verified I/O", what);
	TL_CHECK(tl_wait_state(&d, what, "running", 1000), "%s: still running", what);
}

int main(void)
{
	struct pvfs_attach_opts wb = { .volume = "wb.img", .cache = "writeback" };
	struct tl_vm good, vm;
	char err[512];

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "t.img", VOL);
	tl_volume(&d, "good.img", VOL);
	tl_volume(&d, "direct.img", VOL);
	tl_volume(&d, "wb.img", VOL);
	if (tl_rpc(&d, "attach", json_pack("{s:s, s:s}", "name", "t", "volume", "t.img"), NULL))
		tl_fatal("attach t");

	for (enum bad_region k = UNSEALED; k <= REGULAR_FILE; k++) {
		if (!plug_bad(k)) {
			tl_daemon_cleanup(&d);
			return tl_done();
		}
	}
	if (tl_vm_plug(&d, &vm, "t", NULL, 1, 4, RAM, err, sizeof(err)))
		tl_fatal("plug with a sealed region: %s", err);
	TL_CHECK(tl_vm_roundtrip(&vm, 0, 0x33), "the sealed region of pvfs_region_create plugs "
		 "and serves");
	TL_CHECK(ftruncate(vm.region->memfd, 0) < 0 && errno == EPERM,
		 "... and cannot be shrunk (EPERM)");
	tl_vm_unplug(&vm);

	if (tl_vm_plug(&d, &good, "good", "good.img", 1, 4, RAM, err, sizeof(err)))
		tl_fatal("plug good: %s", err);
	if (tl_vm_plug(&d, &vm, "direct", "direct.img", 1, 4, RAM, err, sizeof(err)))
		tl_fatal("plug direct: %s", err);
	shrink_ram(&vm, &good, "direct");
	tl_vm_unplug(&vm);
	if (pvfs_attach(d.sock, "wb", &wb, err, sizeof(err)) < 0 ||
	    tl_vm_plug(&d, &vm, "wb", NULL, 1, 4, RAM, err, sizeof(err)))
		tl_fatal("plug wb: %s", err);
	shrink_ram(&vm, &good, "wb");
	tl_vm_unplug(&vm);
	tl_vm_unplug(&good);

	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
