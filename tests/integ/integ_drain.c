/* SPDX-License-Identifier: MIT */
/*
 * integ_drain - a terminal host state comes only after pvfsd has drained
 * (issue 11, item 1; pvfs_ring.h "Host states"). pvfsd published REMOVED
 * when a detach began and BROKEN when it found the ring corrupt, while a
 * READ it had consumed was still in its backend: a guest driver that fails
 * its requests on a terminal state (pvfs_blk did) gave the READ's pages
 * back to the kernel, and the READ then wrote into pages reused for
 * something else. Here the READ is held in a FUSE backend (slowfs) for as
 * long as the test likes:
 *   - detach: the guest sees DRAINING, never REMOVED, while the READ is
 *     held; once it is let go, REMOVED follows with the READ's CQE (full
 *     length, right data) already in the CQ;
 *   - a corrupt SQE (tag out of range): DRAINING, not BROKEN, while the READ
 *     is held; then BROKEN, with the READ's CQE before it;
 *   - a guest acting on the old rule (reuse the pages once a terminal state
 *     shows) finds its data intact: before the fix the held READ's data
 *     overwrote the reused page.
 * And a READ held in a FUSE volume opened O_DIRECT does not hold pvfsd's
 * poller (direct_held_read). Skips without root, /dev/fuse or
 * python3-fusepy. About 1 s.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM		(1u << 20)
#define VOLSIZE		(16u << 20)
#define GATE_OFF	(8u << 20)
#define BLK		4096u
#define REUSED		0xee

static struct tl_daemon d;
static struct tl_slowfs fs;

static void cleanup(void)
{
	tl_slowfs_stop(&fs);
	tl_daemon_cleanup(&d);
}

static bool data_ok(const uint8_t *p, uint64_t off)
{
	for (uint32_t i = 0; i < BLK; i++)
		if (p[i] != tl_slowfs_byte(off + i))
			return false;
	return true;
}

/* submit_read - a READ of one block at off into ram[ram_off], published; returns the tag. */
static int submit_read(struct tl_vm *vm, uint64_t off, uint64_t ram_off)
{
	struct pvfs_uguest_queue *uq = &vm->guest.queues[0];
	struct pvfs_sqe sqe = { .opcode = PVFS_OP_READ, .nr_segs = 1, .len = BLK, .offset = off };
	struct pvfs_seg seg = { .addr = tl_vm_gpa(vm, ram_off), .len = BLK };
	int tag = pvfs_uguest_queue_sqe(uq, &sqe, &seg, 1);

	if (tag < 0 || pvfs_uguest_commit(uq) < 0)
		tl_fatal("submit: %d", tag);
	return tag;
}

/* state_left_ready - the first host state other than READY, within 10 s (or READY). */
static uint32_t state_left_ready(struct tl_vm *vm)
{
	uint64_t deadline = now_ns() + 10000000000ull;
	uint32_t st;

	while ((st = pvfs_uguest_host_state(&vm->guest, NULL)) == PVFS_HOST_READY &&
	       now_ns() < deadline)
		;
	return st;
}

/*
 * held_read_then - a READ held in the backend at off (at or beyond
 * GATE_OFF, a different one each time: the page cache keeps what slowfs
 * served), then a detach or a corrupt SQE for terminal state want; checks
 * the rule and the guest's data.
 */
static void held_read_then(const char *name, uint32_t want, bool detach, uint64_t off)
{
	struct pvfs_attach_opts ao = { .volume = "fuse/vol.img", .readonly = 1,
				       .cache = "writeback" };
	char err[512], sock_arg[400];
	struct pvfs_cqe cqe;
	struct tl_vm vm;
	uint32_t st;
	pid_t ctl = -1;
	int tag, r;
	bool reused = false;

	if (pvfs_attach(d.sock, name, &ao, err, sizeof(err)) < 0)
		tl_fatal("attach %s: %s", name, err);
	if (tl_vm_plug(&d, &vm, name, NULL, 1, 8, RAM, err, sizeof(err)) < 0)
		tl_fatal("plug %s: %s", name, err);
	TL_CHECK(tl_vm_rw(&vm, 0, false, 0, BLK, 0) == (int)BLK && data_ok(vm.ram, 0),
		 "%s: a read outside the held range completes at once with its data", name);

	memset(vm.ram + BLK, 0, BLK);
	tag = submit_read(&vm, off, BLK);
	TL_CHECK(tl_slowfs_wait_read(&fs, 10000) == (int64_t)off,
		 "%s: the READ is in pvfsd's backend and held there", name);

	if (detach) {
		char *argv[] = { (char *)tl_bin("pvfsctl"), "-s", sock_arg, "detach",
				 (char *)name, NULL };

		snprintf(sock_arg, sizeof(sock_arg), "%s", d.sock);
		ctl = tl_spawn(argv, "/dev/null");
	} else {
		/* Corrupt: a tag beyond the queue depth. */
		struct pvfs_uguest_queue *uq = &vm.guest.queues[0];
		struct pvfs_sqe bad = { .opcode = PVFS_OP_FLUSH };

		pvfs_uguest_queue_sqe(uq, &bad, NULL, 0);
		uq->q.sq[(uq->sq_tail - 1) & uq->q.mask].tag = 999;
		pvfs_uguest_commit(uq);
	}
	st = state_left_ready(&vm);
	TL_CHECK(st == PVFS_HOST_DRAINING,
		 "%s: while the READ is held the guest sees DRAINING (got state %u; %u = "
		 "terminal before the drain)", name, st, want);
	if (st == want) {
		/* What pvfs_blk did on a terminal state: fail the request, reuse its page. */
		memset(vm.ram + BLK, REUSED, BLK);
		reused = true;
	}

	tl_slowfs_release(&fs);
	TL_CHECK(tl_vm_host_state_is(&vm, want, 10000), "%s: state %u once the READ is done",
		 name, want);
	r = (int)pvfs_uguest_reap(&vm.guest.queues[0], &cqe, 1);
	TL_CHECK(r == 1 && cqe.tag == tag && cqe.result == (int)BLK,
		 "%s: the READ's CQE was posted before the terminal state (tag %d result %d)",
		 name, r ? cqe.tag : -1, r ? cqe.result : 0);
	if (reused) {
		bool intact = true;

		for (uint32_t i = 0; i < BLK; i++)
			intact &= vm.ram[BLK + i] == REUSED;
		TL_CHECK(intact, "%s: a page reused on the terminal state is not written after it",
			 name);
	} else {
		TL_CHECK(data_ok(vm.ram + BLK, off), "%s: the READ's data is in its page",
			 name);
	}
	if (ctl > 0)
		TL_CHECK(tl_wait(ctl, 10000) == 0, "%s: the detach returns once drained", name);
	tl_vm_unplug(&vm);
}

/*
 * direct_held_read - a READ held in a FUSE volume opened O_DIRECT
 * (cache=none) does not hold pvfsd's poller: a neighbour on the same
 * poller goes on. FUSE's direct I/O waits for its server inside the
 * io_uring submission, so before the file backend sent such a volume's
 * requests to io-wq (IOSQE_ASYNC) the poller thread itself waited there
 * and the neighbour's requests timed out.
 */
static void direct_held_read(uint64_t off)
{
	struct pvfs_attach_opts ao = { .volume = "fuse/vol.img", .readonly = 1, .cache = "none" };
	struct pvfs_uguest_queue *uq;
	uint64_t deadline;
	struct pvfs_cqe cqe;
	struct tl_vm vm, nb;
	char err[512];
	int r, n = 0;

	/* The volume serves one tenant at a time: the broken one goes first. */
	if (tl_rpc(&d, "detach", json_pack("{s:s}", "name", "brk"), NULL) < 0)
		tl_fatal("detach brk");
	if (pvfs_attach(d.sock, "dio", &ao, err, sizeof(err)) < 0)
		tl_fatal("attach dio: %s", err);
	if (tl_vm_plug(&d, &vm, "dio", NULL, 1, 8, RAM, err, sizeof(err)) < 0 ||
	    tl_vm_plug(&d, &nb, "nb", tl_volume(&d, "nb.img", VOLSIZE), 1, 8, RAM, err,
		       sizeof(err)) < 0)
		tl_fatal("plug: %s", err);
	submit_read(&vm, off, BLK);
	TL_CHECK(tl_slowfs_wait_read(&fs, 10000) == (int64_t)off,
		 "dio: an O_DIRECT READ is held in the FUSE backend");
	r = tl_vm_rw(&nb, 0, true, 0, BLK, 0);
	TL_CHECK(r == (int)BLK, "dio: the neighbour's I/O goes on meanwhile (%d)", r);
	tl_slowfs_release(&fs);
	uq = &vm.guest.queues[0];
	deadline = now_ns() + 10000000000ull;
	while (!(n = (int)pvfs_uguest_reap(uq, &cqe, 1)) && now_ns() < deadline)
		pvfs_uguest_wait(uq, 100);
	TL_CHECK(n == 1 && cqe.result == (int)BLK && data_ok(vm.ram + BLK, off),
		 "dio: the held READ completes with its data once let go");
	tl_vm_unplug(&nb);
	tl_vm_unplug(&vm);
}

int main(void)
{
	atexit(cleanup);
	tl_daemon_start(&d, NULL);
	tl_slowfs_start(&d, &fs, VOLSIZE, GATE_OFF);

	held_read_then("det", PVFS_HOST_REMOVED, true, GATE_OFF);
	held_read_then("brk", PVFS_HOST_BROKEN, false, GATE_OFF + (1u << 20));
	direct_held_read(GATE_OFF + (2u << 20));
	return tl_done();
}
