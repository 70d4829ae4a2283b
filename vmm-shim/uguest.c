/* SPDX-License-Identifier: MIT */
/*
 * uguest.c - a userspace guest driver on the ring helpers of pvfs_ring.h.
 * It does from a process what pvfs_blk.ko does in a guest kernel: allocate
 * tags, fill SQEs and segment tables, publish, ring the doorbell only when
 * the host asked for it, and reap CQEs. Used by pvfs-bench and the tests.
 * One thread per queue; no locking.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "pvfs_shim.h"

int pvfs_uguest_init(struct pvfs_uguest *g, struct pvfs_region *r)
{
	memset(g, 0, sizeof(*g));
	g->r = r;
	g->nr_queues = r->nr_queues;
	g->queues = calloc(r->nr_queues, sizeof(*g->queues));
	if (!g->queues)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->nr_queues; i++) {
		struct pvfs_uguest_queue *uq = &g->queues[i];

		pvfs_queue_init(&uq->q, r->base, i, r->depth, r->max_segs);
		uq->kick_fd = r->kick_fd[i];
		uq->call_fd = r->call_fd[i];
		/* Resume where the ring is: a guest may re-init on a used region. */
		uq->sq_tail = uq->sq_published = PVFS_READ_ONCE(&uq->q.ctrl->sq_tail);
		uq->cq_head = PVFS_READ_ONCE(&uq->q.ctrl->cq_head);
		uq->free_tags = malloc(sizeof(uint16_t) * r->depth);
		if (!uq->free_tags) {
			pvfs_uguest_free(g);
			return -ENOMEM;
		}
		for (uint32_t t = 0; t < r->depth; t++)
			uq->free_tags[t] = (uint16_t)(r->depth - 1 - t);
		uq->nr_free = r->depth;
	}
	return 0;
}

void pvfs_uguest_free(struct pvfs_uguest *g)
{
	if (!g->queues)
		return;
	for (uint32_t i = 0; i < g->nr_queues; i++)
		free(g->queues[i].free_tags);
	free(g->queues);
	g->queues = NULL;
}

uint32_t pvfs_uguest_host_state(struct pvfs_uguest *g, uint32_t *gen)
{
	struct pvfs_region_hdr *h = g->r->base;
	/* Acquire: host fields written before host_state are visible after it. */
	uint32_t st = PVFS_LOAD_ACQUIRE(&h->host_state);

	if (gen)
		*gen = PVFS_READ_ONCE(&h->host_generation);
	return st;
}

int pvfs_uguest_queue_sqe(struct pvfs_uguest_queue *uq, const struct pvfs_sqe *sqe,
			  const struct pvfs_seg *segs, unsigned nsegs)
{
	struct pvfs_sqe *slot;
	uint16_t tag;

	if (!uq->nr_free)
		return -EBUSY;
	if (nsegs > uq->q.max_segs)
		return -EINVAL;
	tag = uq->free_tags[--uq->nr_free];
	if (nsegs)
		memcpy(pvfs_tag_segs(&uq->q, tag), segs, sizeof(*segs) * nsegs);
	slot = &uq->q.sq[uq->sq_tail & uq->q.mask];
	*slot = *sqe;
	slot->tag = tag;
	uq->sq_tail++;
	return tag;
}

int pvfs_uguest_next_tag(const struct pvfs_uguest_queue *uq)
{
	return uq->nr_free ? uq->free_tags[uq->nr_free - 1] : -EBUSY;
}

void pvfs_uguest_limit_tags(struct pvfs_uguest_queue *uq, uint32_t n)
{
	if (n > uq->q.depth)
		n = uq->q.depth;
	uq->nr_free = n;
	for (uint32_t t = 0; t < n; t++)
		uq->free_tags[t] = (uint16_t)(n - 1 - t);
}

int pvfs_uguest_commit(struct pvfs_uguest_queue *uq)
{
	uint64_t one = 1;

	if (uq->sq_tail == uq->sq_published)
		return 0;
	uq->submitted += uq->sq_tail - uq->sq_published;
	pvfs_sq_publish(&uq->q, uq->sq_tail);
	uq->sq_published = uq->sq_tail;
	if (!pvfs_sq_needs_kick(&uq->q))
		return 0;
	uq->kicks++;
	if (write(uq->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

unsigned pvfs_uguest_reap(struct pvfs_uguest_queue *uq, struct pvfs_cqe *out, unsigned max)
{
	unsigned n = 0;
	struct pvfs_cqe *cqe;

	while (n < max && (cqe = pvfs_cq_peek(&uq->q, uq->cq_head))) {
		out[n] = *cqe;
		/* A tag we did not submit would corrupt the free stack: drop it. */
		if (uq->nr_free < uq->q.depth)
			uq->free_tags[uq->nr_free++] = out[n].tag;
		uq->cq_head++;
		n++;
	}
	if (n)
		pvfs_cq_release(&uq->q, uq->cq_head);
	return n;
}

int pvfs_uguest_wait(struct pvfs_uguest_queue *uq, int timeout_ms)
{
	struct pollfd pfd = { .fd = uq->call_fd, .events = POLLIN };
	uint64_t v;
	int r;

	r = poll(&pfd, 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return 0;
	if (read(uq->call_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	return 1;
}

void pvfs_uguest_set_polling(struct pvfs_uguest_queue *uq, int polling)
{
	PVFS_WRITE_ONCE(&uq->q.ctrl->cq_flags, polling ? PVFS_CQ_NO_INTERRUPT : 0u);
	/* Order the flag store before the next CQ check of the caller. */
	PVFS_MB();
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* reset_adopt - after the ack: both queues of every queue pair are empty where the host says. */
static void reset_adopt(struct pvfs_uguest *g)
{
	for (uint32_t i = 0; i < g->nr_queues; i++) {
		struct pvfs_uguest_queue *uq = &g->queues[i];
		uint32_t depth = uq->q.depth;

		uq->sq_tail = uq->sq_published = PVFS_READ_ONCE(&uq->q.ctrl->sq_head);
		uq->cq_head = PVFS_READ_ONCE(&uq->q.ctrl->cq_tail);
		pvfs_cq_release(&uq->q, uq->cq_head);
		for (uint32_t t = 0; t < depth; t++)
			uq->free_tags[t] = (uint16_t)(depth - 1 - t);
		uq->nr_free = depth;
	}
}

int pvfs_uguest_reset(struct pvfs_uguest *g, int timeout_ms)
{
	struct pvfs_region_hdr *h = g->r->base;
	uint64_t one = 1, deadline = mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	uint32_t req, st;

	if (!(PVFS_READ_ONCE(&h->host_features) & PVFS_F_RESET))
		return -EOPNOTSUPP;
	req = pvfs_reset_request(h);
	/* Whatever sq_flags say: the host may sleep without NEED_WAKEUP set. */
	if (write(g->queues[0].kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	for (;;) {
		if (pvfs_reset_acked(h, req)) {
			reset_adopt(g);
			return 0;
		}
		st = PVFS_LOAD_ACQUIRE(&h->host_state);
		if (st != PVFS_HOST_INIT && st != PVFS_HOST_READY && st != PVFS_HOST_DRAINING &&
		    st != PVFS_HOST_BROKEN)
			return -ENODEV;
		if (mono_ms() >= deadline)
			return -ETIMEDOUT;
		/* A bounded poll, like a guest driver's msleep loop. */
		poll(NULL, 0, 1);
	}
}

int pvfs_uguest_capacity(struct pvfs_uguest *g, uint64_t *ret_capacity, uint32_t *ret_gen)
{
	__u64 cap;
	__u32 gen;

	if (pvfs_config_read_capacity(g->r->base, &cap, &gen) < 0)
		return -EAGAIN;
	*ret_capacity = cap;
	*ret_gen = gen;
	return 0;
}
