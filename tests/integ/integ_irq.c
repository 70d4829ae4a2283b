/* SPDX-License-Identifier: MIT */
/*
 * integ_irq - interrupt coalescing and the lost-interrupt test hook (issue
 * 11, items 3 and 5).
 *   - Coalescing off (the default), a guest that submits READs one at a
 *     time, 500 us apart, up to 8 in flight, gets one interrupt per pvfsd
 *     reap batch (here about one per READ); with --irq-coalesce-us 5000
 *     --irq-coalesce-count 8 the interrupts per I/O drop to about 1/8 (here:
 *     below 0.2 and below 3/4 of the default's; the default varies with
 *     how soon pvfsd's poller wakes up), counted by pvfsd.
 *   - The window bounds the delay: with a 2000 us window and no count, one
 *     READ at a time, the interrupt comes about 2000 us after the CQE is
 *     visible (median at least 1000 us: coalescing holds it), never much
 *     later: the 95th percentile below the window plus 10 ms. No program
 *     can keep a bound on a starved CPU, so the same measurement without
 *     coalescing comes first: when its 95th percentile is above 1 ms (the
 *     2-core machine shared by a Ceph cluster and QEMU guests) the bound is
 *     reported, not checked. The numbers are printed (2-5 ms is typical).
 *   - pvfsd --test-hooks: test_drop_interrupts makes the next interrupt
 *     get lost; the CQE is in the CQ all the same (what a driver's timeout
 *     path reaps), stats count it, and the next I/O is interrupted again.
 * Before, pvfsd had neither. About 2 s.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlib.h"
#include "util.h"

#define RAM	(1u << 20)
#define DEPTH	8u
#define IOS	1000

static struct tl_daemon d;

static uint64_t stat_of(const char *key)
{
	json_t *st = tl_tenant_stats(&d, "c");
	uint64_t v = st ? (uint64_t)json_integer_value(json_object_get(st, key)) : 0;

	json_decref(st);
	return v;
}

static int set_coalesce(uint64_t us, uint64_t count)
{
	return tl_rpc(&d, "set_qos", json_pack("{s:s, s:I, s:I}", "name", "c",
					       "irq_coalesce_us", (json_int_t)us,
					       "irq_coalesce_count", (json_int_t)count), NULL);
}

static void queue_read(struct tl_vm *vm, uint32_t i)
{
	struct pvfs_uguest_queue *uq = &vm->guest.queues[0];
	int tag = pvfs_uguest_next_tag(uq);
	struct pvfs_sqe sqe = { .opcode = PVFS_OP_READ, .nr_segs = 1, .len = 4096,
				.offset = (uint64_t)(i % 256) * 4096 };
	struct pvfs_seg seg = { .addr = tl_vm_gpa(vm, (uint64_t)tag * 4096), .len = 4096 };

	if (tag < 0 || pvfs_uguest_queue_sqe(uq, &sqe, &seg, 1) < 0)
		tl_fatal("queue: %d", tag);
}

/*
 * irqs_per_io - IOS READs with up to DEPTH in flight, each published on its
 * own, the guest woken by interrupts only.
 */
static double irqs_per_io(struct tl_vm *vm)
{
	struct pvfs_uguest_queue *uq = &vm->guest.queues[0];
	uint64_t irq0 = stat_of("interrupts");
	struct pvfs_cqe cqes[DEPTH];
	uint32_t sent = 0, done = 0, inflight = 0;

	while (done < IOS) {
		/*
		 * One at a time, 500 us apart, as requests come from different
		 * tasks of a guest: each completes in its own pvfsd batch.
		 */
		while (inflight < DEPTH && sent < IOS) {
			uint64_t next = now_ns() + 500000;

			queue_read(vm, sent++);
			inflight++;
			pvfs_uguest_commit(uq);
			while (now_ns() < next)
				;
		}
		if (pvfs_uguest_wait(uq, 5000) != 1)
			tl_fatal("no interrupt in 5 s (%u of %u done)", done, IOS);
		for (unsigned n; (n = pvfs_uguest_reap(uq, cqes, DEPTH));) {
			for (unsigned i = 0; i < n; i++)
				if (cqes[i].result != 4096)
					tl_fatal("READ failed: %d", cqes[i].result);
			done += n;
			inflight -= n;
		}
	}
	/* pvfsd counts an interrupt when its eventfd write completes: all have by now. */
	return (double)(stat_of("interrupts") - irq0) / IOS;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* delays - n single READs: time from the CQE being visible to its interrupt, in us. */
static void delays(struct tl_vm *vm, uint64_t *us, int n)
{
	struct pvfs_uguest_queue *uq = &vm->guest.queues[0];
	struct pvfs_cqe cqe;

	for (int i = 0; i < n; i++) {
		uint64_t deadline = now_ns() + 5000000000ull, t_cqe;

		queue_read(vm, (uint32_t)i);
		pvfs_uguest_commit(uq);
		while (PVFS_LOAD_ACQUIRE(&uq->q.ctrl->cq_tail) == uq->cq_head)
			if (now_ns() > deadline)
				tl_fatal("no CQE in 5 s");
		t_cqe = now_ns();
		if (pvfs_uguest_wait(uq, 5000) != 1)
			tl_fatal("no interrupt in 5 s");
		us[i] = (now_ns() - t_cqe) / 1000;
		pvfs_uguest_reap(uq, &cqe, 1);
	}
	qsort(us, (size_t)n, sizeof(*us), cmp_u64);
}

int main(void)
{
	struct pvfs_uguest_queue *uq;
	struct pvfs_cqe cqe;
	struct tl_vm vm;
	uint64_t us[40], base[40], coalesced0;
	double off, on;
	int r;

	tl_daemon_start(&d, "--test-hooks", NULL);
	tl_vm_plug_new(&d, &vm, "c", 4u << 20, 1, DEPTH, RAM);
	uq = &vm.guest.queues[0];

	off = irqs_per_io(&vm);
	TL_CHECK(set_coalesce(5000, DEPTH) == 0,
		 "set_qos --irq-coalesce-us 5000 --irq-coalesce-count 8");
	coalesced0 = stat_of("coalesced");
	on = irqs_per_io(&vm);
	printf("# interrupts per I/O at iodepth %u: %.3f default, %.3f coalesced\n", DEPTH, off,
	       on);
	TL_CHECK(on < 0.2 && on < off * 3 / 4,
		 "coalescing cuts interrupts per I/O (%.3f -> %.3f)", off, on);
	TL_CHECK(stat_of("coalesced") > coalesced0, "stats count the coalesced completions");

	/* The same measurement without coalescing: what this machine adds now. */
	TL_CHECK(set_coalesce(0, 0) == 0, "coalescing off for a baseline");
	delays(&vm, base, 40);
	TL_CHECK(set_coalesce(2000, 0) == 0, "a 2000 us window, no count");
	delays(&vm, us, 40);
	printf("# interrupt delay after the CQE: without coalescing median %llu us, 95th "
	       "percentile %llu us; with a 2000 us window median %llu us, 95th percentile "
	       "%llu us, max %llu us\n", (unsigned long long)base[20],
	       (unsigned long long)base[37], (unsigned long long)us[20],
	       (unsigned long long)us[37], (unsigned long long)us[39]);
	TL_CHECK(us[20] >= 1000, "the window holds the interrupt (median %llu us)",
		 (unsigned long long)us[20]);
	if (base[37] > 1000)
		printf("# the machine is too busy to judge the bound (a baseline 95th percentile "
		       "of %llu us): not checked\n", (unsigned long long)base[37]);
	else
		TL_CHECK(us[37] <= 2000 + 10000,
			 "never much beyond the window (95th percentile %llu us)",
			 (unsigned long long)us[37]);

	TL_CHECK(set_coalesce(0, 0) == 0, "coalescing off");
	r = tl_rpc(&d, "test_drop_interrupts", json_pack("{s:s, s:i}", "name", "c", "count", 1),
		   NULL);
	TL_CHECK(r == 0, "test_drop_interrupts with --test-hooks (%d)", r);
	queue_read(&vm, 1);
	pvfs_uguest_commit(uq);
	TL_CHECK(pvfs_uguest_wait(uq, 300) == 0, "the interrupt is lost");
	TL_CHECK(pvfs_uguest_reap(uq, &cqe, 1) == 1 && cqe.result == 4096,
		 "the CQE is there for a timeout path to reap, no error");
	TL_CHECK(stat_of("interrupts_dropped") == 1, "stats count the dropped interrupt");
	queue_read(&vm, 2);
	pvfs_uguest_commit(uq);
	TL_CHECK(pvfs_uguest_wait(uq, 5000) == 1 && pvfs_uguest_reap(uq, &cqe, 1) == 1,
		 "the next I/O is interrupted again");
	tl_vm_unplug(&vm);
	return tl_done();
}
