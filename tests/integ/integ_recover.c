/* SPDX-License-Identifier: MIT */
/*
 * integ_recover - the in-flight table, deterministically. A VM's region
 * outlives pvfsd. We leave in it exactly what a pvfsd killed at the worst
 * moments would have left, start a new pvfsd, plug the same region again,
 * and check the two-phase protocol of pvfs_ring.h:
 *   - tag A: consumed (sq_head advanced), recorded ACTIVE, never completed
 *     -> re-issued: its write lands and its CQE arrives;
 *   - tag B: recorded COMPLETING at a CQ index already published (the guest
 *     has its CQE) -> not re-issued, no second CQE;
 *   - tag C: recorded ACTIVE but the old pvfsd died before advancing sq_head,
 *     so the same SQE is still in the SQ -> done exactly once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM (1u << 20)

static struct pvfs_sqe write_sqe(uint64_t off)
{
	return (struct pvfs_sqe){ .opcode = PVFS_OP_WRITE, .nr_segs = 1, .len = 4096, .offset = off };
}

/* queue_one - fill an SQE (and its tag's segment) without publishing it. */
static int queue_one(struct tl_vm *vm, uint64_t off, uint64_t ram_off, uint8_t pat)
{
	struct pvfs_uguest_queue *uq = &vm->guest.queues[0];
	struct pvfs_sqe sqe = write_sqe(off);
	struct pvfs_seg seg = { .addr = tl_vm_gpa(vm, ram_off), .len = 4096 };

	memset(vm->ram + ram_off, pat, 4096);
	return pvfs_uguest_queue_sqe(uq, &sqe, &seg, 1);
}

int main(void)
{
	struct tl_daemon d = { 0 };
	struct tl_vm vm;
	struct pvfs_uguest_queue *uq;
	struct pvfs_queue *q;
	struct pvfs_cqe cqes[8];
	char err[512];
	int a, b, c, n, got_a = 0, got_b = 0, got_c = 0;
	uint32_t gen0, gen1;
	uint64_t deadline;

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "r.img", 1u << 20);
	if (tl_vm_plug(&d, &vm, "r", "r.img", 1, 8, RAM, err, sizeof(err)))
		tl_fatal("plug: %s", err);
	uq = &vm.guest.queues[0];
	q = &uq->q;
	TL_CHECK(tl_vm_rw(&vm, 0, true, 0, 4096, 0) == 4096, "a normal write first");
	pvfs_uguest_host_state(&vm.guest, &gen0);
	tl_daemon_kill(&d);

	/* What a killed pvfsd leaves behind, written as the host would have. */
	a = queue_one(&vm, 8192, 8192, 0xaa);
	b = queue_one(&vm, 16384, 16384, 0xbb);
	c = queue_one(&vm, 24576, 24576, 0xcc);
	/* A and B were consumed: the host advanced sq_head past them. */
	q->inflight[a].sqe = q->sq[(uq->sq_tail - 3) & q->mask];
	q->inflight[a].sq_idx = uq->sq_tail - 3;
	q->inflight[a].state = PVFS_INFLIGHT_ACTIVE;
	q->inflight[b].sqe = q->sq[(uq->sq_tail - 2) & q->mask];
	q->inflight[b].sq_idx = uq->sq_tail - 2;
	/* B's write had landed and its CQE is published (the guest will reap it). */
	{
		char path[600];
		int fd;

		snprintf(path, sizeof(path), "%s/r.img", d.vols);
		fd = open(path, O_WRONLY);
		if (fd < 0 || pwrite(fd, vm.ram + 16384, 4096, 16384) != 4096)
			tl_fatal("write %s: %m", path);
		close(fd);
	}
	q->cq[q->ctrl->cq_tail & q->mask] = (struct pvfs_cqe){ .tag = (uint16_t)b, .result = 4096 };
	q->inflight[b].cq_idx = q->ctrl->cq_tail;
	q->inflight[b].state = PVFS_INFLIGHT_COMPLETING;
	q->ctrl->cq_tail++;
	/* C was recorded, but sq_head not advanced: it is still in the SQ. */
	q->inflight[c].sqe = q->sq[(uq->sq_tail - 1) & q->mask];
	q->inflight[c].sq_idx = uq->sq_tail - 1;
	q->inflight[c].state = PVFS_INFLIGHT_ACTIVE;
	q->ctrl->sq_head = uq->sq_tail - 1;
	pvfs_uguest_commit(uq);	/* sq_tail covers A, B (consumed) and C */

	/* A new pvfsd; the VMM re-plugs the same region. */
	pvfs_unplug(vm.plug);
	vm.plug = NULL;
	tl_daemon_start(&d, NULL);
	if (pvfs_plug(d.sock, "r", vm.region, vm.mem, 2, &vm.plug, err, sizeof(err)))
		tl_fatal("re-plug: %s", err);
	pvfs_uguest_host_state(&vm.guest, &gen1);
	TL_CHECK(gen1 == gen0 + 1, "the new pvfsd bumped the host generation (%u -> %u)", gen0, gen1);

	deadline = now_ns() + 5000000000ull;
	while (now_ns() < deadline && !(got_a && got_c)) {
		n = (int)pvfs_uguest_reap(uq, cqes, 8);
		for (int i = 0; i < n; i++) {
			got_a += cqes[i].tag == a && cqes[i].result == 4096;
			got_b += cqes[i].tag == b;
			got_c += cqes[i].tag == c && cqes[i].result == 4096;
		}
		if (!n)
			pvfs_uguest_wait(uq, 100);
	}
	/* Anything more (a duplicate) would be here by now: give it a moment. */
	pvfs_uguest_wait(uq, 200);
	n = (int)pvfs_uguest_reap(uq, cqes, 8);
	for (int i = 0; i < n; i++) {
		got_a += cqes[i].tag == a;
		got_b += cqes[i].tag == b;
		got_c += cqes[i].tag == c;
	}
	TL_CHECK(got_a == 1, "tag A (consumed, never completed) re-issued and completed once (%d)",
		 got_a);
	TL_CHECK(got_b == 1, "tag B (completion published) not re-issued: its one CQE only (%d)",
		 got_b);
	TL_CHECK(got_c == 1, "tag C (recorded, still in the SQ) completed exactly once (%d)", got_c);
	TL_CHECK(q->inflight[a].state == PVFS_INFLIGHT_FREE &&
		 q->inflight[b].state == PVFS_INFLIGHT_FREE &&
		 q->inflight[c].state == PVFS_INFLIGHT_FREE, "the in-flight table is clean again");

	/* The re-issued writes really landed. */
	for (int i = 1; i <= 3; i++) {
		uint64_t off = 8192ull * (uint64_t)i;

		memset(vm.ram + 65536, 0, 4096);
		TL_CHECK(tl_vm_rw(&vm, 0, false, off, 4096, 65536) == 4096 &&
			 vm.ram[65536] == (i == 1 ? 0xaa : i == 2 ? 0xbb : 0xcc) &&
			 vm.ram[65536 + 4095] == vm.ram[65536],
			 "data at %llu is the %s write's", (unsigned long long)off,
			 i == 1 ? "re-issued" : i == 2 ? "completed" : "recorded");
	}
	tl_vm_unplug(&vm);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "grep -q 're-issuing 1 in-flight' %s", d.log);
		TL_CHECK(system(cmd) == 0, "pvfsd logged that it re-issues 1 request (A; C comes from the SQ)");
	}
	tl_daemon_cleanup(&d);
	return tl_done();
}
