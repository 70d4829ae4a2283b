/* SPDX-License-Identifier: MIT */
/*
 * test_ring - the ring helpers of proto/pvfs_ring.h: layout, empty/full,
 * wrap-around of the free-running indices, and a two-thread stress in which
 * a guest thread submits N entries (default 10 million; argv[1] or
 * PVFS_RING_STRESS overrides) and a host thread consumes and completes them,
 * sleeping on an eventfd with the NEED_WAKEUP protocol whenever it runs dry.
 * A lost wakeup shows as a timeout; reordering as a sequence error. Run
 * under TSan by `make check` (tsan:test_ring).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pvfs_ring.h"
#include "tlib.h"
#include "util.h"

#define DEPTH 64u
#define SEGS 4u

static void *region;
static uint64_t stress_n = 10000000;
static int kick_fd, call_fd;
static uint64_t host_sleeps, guest_kicks;
static int seq_errors;			/* atomic: both threads report */

static void layout_checks(void)
{
	uint64_t stride = pvfs_queue_stride(DEPTH, SEGS);

	TL_CHECK(stride % 4096 == 0, "queue stride %llu is page aligned", (unsigned long long)stride);
	TL_CHECK(pvfs_cq_off(DEPTH) == 256 + DEPTH * 64, "CQ follows the SQ");
	TL_CHECK(pvfs_seg_off(DEPTH) == pvfs_cq_off(DEPTH) + DEPTH * 16, "segments follow the CQ");
	TL_CHECK(pvfs_geometry_valid(2, DEPTH, SEGS, (uint32_t)stride,
				     pvfs_region_size(2, DEPTH, SEGS)), "valid geometry accepted");
	TL_CHECK(!pvfs_geometry_valid(2, 48, SEGS, (uint32_t)pvfs_queue_stride(48, SEGS),
				      pvfs_region_size(2, 48, SEGS)), "non-power-of-two depth refused");
	TL_CHECK(!pvfs_geometry_valid(0, DEPTH, SEGS, (uint32_t)stride, 1ull << 30),
		 "zero queues refused");
	TL_CHECK(!pvfs_geometry_valid(PVFS_MAX_QUEUES + 1, DEPTH, SEGS, (uint32_t)stride, 1ull << 40),
		 "too many queues refused");
	TL_CHECK(!pvfs_geometry_valid(2, DEPTH, SEGS, (uint32_t)stride + 4096, 1ull << 30),
		 "inconsistent stride refused");
	TL_CHECK(!pvfs_geometry_valid(2, DEPTH, SEGS, (uint32_t)stride,
				      pvfs_region_size(2, DEPTH, SEGS) - 1), "short region refused");
	TL_CHECK(!pvfs_geometry_valid(1, DEPTH, PVFS_MAX_SEGS + 1,
				      (uint32_t)pvfs_queue_stride(DEPTH, PVFS_MAX_SEGS + 1),
				      1ull << 30), "too many segments refused");
}

static void *new_region(void)
{
	void *r = aligned_alloc(4096, pvfs_region_size(1, DEPTH, SEGS));

	if (!r)
		tl_fatal("out of memory");
	memset(r, 0, pvfs_region_size(1, DEPTH, SEGS));
	return r;
}

/* Empty, fill to depth, drain, across the 2^32 wrap of the indices. */
static void wrap_checks(uint32_t start)
{
	struct pvfs_queue q;
	void *r = new_region();
	uint32_t tail = start, head = start;
	int ok = 1;

	pvfs_queue_init(&q, r, 0, DEPTH, SEGS);
	q.ctrl->sq_tail = q.ctrl->sq_head = q.ctrl->cq_tail = q.ctrl->cq_head = start;
	TL_CHECK(pvfs_sq_tail_acquire(&q) - head == 0, "start %#x: empty SQ has 0 entries", start);
	TL_CHECK(pvfs_cq_peek(&q, start) == NULL, "start %#x: empty CQ peeks NULL", start);
	for (int round = 0; round < 3; round++) {
		for (uint32_t i = 0; i < DEPTH; i++) {
			q.sq[tail & q.mask].offset = tail;
			tail++;
		}
		pvfs_sq_publish(&q, tail);
		if (pvfs_sq_tail_acquire(&q) - head != DEPTH)
			ok = 0;
		while (head != pvfs_sq_tail_acquire(&q)) {
			if (q.sq[head & q.mask].offset != head)
				ok = 0;
			q.cq[q.ctrl->cq_tail & q.mask].tag = (uint16_t)(head & q.mask);
			pvfs_cq_publish(&q, q.ctrl->cq_tail + 1);
			head++;
		}
		pvfs_sq_consume(&q, head);
		for (uint32_t h = q.ctrl->cq_head; h != q.ctrl->cq_tail; h++) {
			struct pvfs_cqe *c = pvfs_cq_peek(&q, h);

			if (!c || c->tag != (h & q.mask))
				ok = 0;
			pvfs_cq_release(&q, h + 1);
		}
	}
	TL_CHECK(ok, "start %#x: full SQ holds depth entries, FIFO order kept across wrap", start);
	TL_CHECK(pvfs_cq_peek(&q, q.ctrl->cq_head) == NULL, "start %#x: drained CQ is empty", start);
	TL_CHECK(pvfs_host_prepare_sleep(&q, head) == 1, "start %#x: idle host may sleep", start);
	TL_CHECK(pvfs_sq_needs_kick(&q) == 1, "start %#x: guest sees NEED_WAKEUP", start);
	q.ctrl->sq_tail = head + 1;
	TL_CHECK(pvfs_host_prepare_sleep(&q, head) == 0, "start %#x: pending work vetoes sleep",
		 start);
	pvfs_host_clear_wakeup(&q);
	TL_CHECK(pvfs_sq_needs_kick(&q) == 0, "start %#x: no kick while the host polls", start);
	free(r);
}

static void *host_thread(void *arg)
{
	struct pvfs_queue q;
	uint32_t head = 0, cq_tail = 0;
	uint64_t done = 0, idle = 0;

	pvfs_queue_init(&q, region, 0, DEPTH, SEGS);
	while (done < stress_n) {
		uint32_t tail = pvfs_sq_tail_acquire(&q);

		if (tail - head > DEPTH) {
			__atomic_add_fetch(&seq_errors, 1, __ATOMIC_RELAXED);
			break;
		}
		if (tail == head) {
			struct pollfd pfd = { .fd = kick_fd, .events = POLLIN };
			uint64_t v;

			if (++idle < 200)
				continue;
			idle = 0;
			if (!pvfs_host_prepare_sleep(&q, head)) {
				pvfs_host_clear_wakeup(&q);
				continue;
			}
			host_sleeps++;
			if (poll(&pfd, 1, 10000) != 1) {
				fprintf(stderr, "host: lost wakeup (10 s without a kick)\n");
				__atomic_add_fetch(&seq_errors, 1, __ATOMIC_RELAXED);
				break;
			}
			if (read(kick_fd, &v, sizeof(v)) < 0)
				break;
			pvfs_host_clear_wakeup(&q);
			continue;
		}
		while (head != tail) {
			struct pvfs_sqe sqe;

			memcpy(&sqe, &q.sq[head & q.mask], sizeof(sqe));
			if (sqe.offset != done)
				__atomic_add_fetch(&seq_errors, 1, __ATOMIC_RELAXED);
			q.cq[cq_tail & q.mask] = (struct pvfs_cqe){ .tag = sqe.tag,
								   .result = (int32_t)(done & 0x7fffffff) };
			cq_tail++;
			head++;
			done++;
		}
		pvfs_sq_consume(&q, head);
		pvfs_cq_publish(&q, cq_tail);
	}
	return NULL;
}

static void ring_stress(void)
{
	struct pvfs_queue q;
	pthread_t host;
	uint32_t tail = 0, cq_head = 0, outstanding = 0;
	uint64_t sent = 0, got = 0;
	uint64_t t0 = now_ns();
	int ok = 1;

	region = new_region();
	kick_fd = eventfd(0, EFD_CLOEXEC);
	call_fd = eventfd(0, EFD_CLOEXEC);
	pvfs_queue_init(&q, region, 0, DEPTH, SEGS);
	pthread_create(&host, NULL, host_thread, NULL);
	while (got < stress_n && !__atomic_load_n(&seq_errors, __ATOMIC_RELAXED)) {
		uint32_t burst = 0;
		struct pvfs_cqe *c;

		while (outstanding < DEPTH && sent < stress_n && burst < 16) {
			struct pvfs_sqe *s = &q.sq[tail & q.mask];

			memset(s, 0, sizeof(*s));
			s->tag = (uint16_t)(tail & q.mask);
			s->offset = sent++;
			tail++;
			outstanding++;
			burst++;
		}
		if (burst) {
			pvfs_sq_publish(&q, tail);
			if (pvfs_sq_needs_kick(&q)) {
				uint64_t one = 1;

				guest_kicks++;
				if (write(kick_fd, &one, sizeof(one)) < 0)
					ok = 0;
			}
		}
		while ((c = pvfs_cq_peek(&q, cq_head))) {
			if ((uint64_t)c->result != (got & 0x7fffffff))
				ok = 0;
			cq_head++;
			got++;
			outstanding--;
		}
		pvfs_cq_release(&q, cq_head);
		if ((now_ns() - t0) > 300000000000ull) {
			ok = 0;
			break;
		}
	}
	pthread_join(host, NULL);
	TL_CHECK(ok && !seq_errors && got == stress_n,
		 "stress: %llu entries in order through a %u-deep ring (%.1f s, host slept %llu "
		 "times, guest kicked %llu times)", (unsigned long long)got, DEPTH,
		 (double)(now_ns() - t0) / 1e9, (unsigned long long)host_sleeps,
		 (unsigned long long)guest_kicks);
	close(kick_fd);
	close(call_fd);
	free(region);
}

int main(int argc, char **argv)
{
	const char *env = getenv("PVFS_RING_STRESS");

	if (argc > 1)
		stress_n = strtoull(argv[1], NULL, 10);
	else if (env)
		stress_n = strtoull(env, NULL, 10);
	layout_checks();
	wrap_checks(0);
	wrap_checks(0xffffffffu - DEPTH / 2);
	wrap_checks(0x80000000u - 3);
	ring_stress();
	return tl_done();
}
