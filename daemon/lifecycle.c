/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.c - the host's side of a region's life cycle: what the reset
 * handshake does to the ring once nothing is in flight, and the volume
 * properties a guest reads under config_generation. Runs on the poller that
 * owns the tenant, or on the control thread at plug time before the tenant
 * is handed to a poller: one writer at a time, as pvfsd.h's ownership rule
 * says. Pure ring manipulation: the draining and cancelling that must come
 * first is the poller's (poller.c, "reset").
 */
#include "lifecycle.h"
#include "pvfsd.h"

bool lifecycle_plug_needs_reset(const struct tenant_io *tio)
{
	uint32_t st = PVFS_READ_ONCE(&tio->hdr->host_state);
	uint32_t req;

	if (pvfs_host_reset_pending(tio->hdr, PVFS_READ_ONCE(&tio->hdr->reset_ack), &req))
		return true;
	return st == PVFS_HOST_BROKEN || st == PVFS_HOST_REMOVED || st == PVFS_HOST_DRAINING;
}

void lifecycle_reset_ring(struct tenant_io *tio, uint32_t req)
{
	for (uint32_t i = 0; i < tio->nr_queues; i++) {
		struct io_queue *ioq = &tio->queues[i];
		struct pvfs_queue *q = &ioq->q;

		/*
		 * The guest's indices, read once: whatever it wrote there, both
		 * queues are now empty at them, and every later check (tail at
		 * most depth ahead, CQ room) starts from this copy.
		 */
		ioq->sq_head = ioq->seen_tail = PVFS_READ_ONCE(&q->ctrl->sq_tail);
		ioq->cq_tail = ioq->cq_head_seen = PVFS_READ_ONCE(&q->ctrl->cq_head);
		PVFS_WRITE_ONCE(&q->ctrl->sq_head, ioq->sq_head);
		PVFS_WRITE_ONCE(&q->ctrl->cq_tail, ioq->cq_tail);
		PVFS_WRITE_ONCE(&q->ctrl->sq_flags, 0u);
		for (uint32_t tag = 0; tag < q->depth; tag++)
			PVFS_WRITE_ONCE(&q->inflight[tag].state, (uint32_t)PVFS_INFLIGHT_FREE);
		ioq->nr_recov = ioq->recov_pos = 0;
		ioq->need_irq = false;
		ioq->irq_cqes = 0;
	}
	tio->has_recov = false;
	tio->reset_ack = req;
	/* Release: the indices and the table above before the answer. */
	pvfs_host_reset_ack(tio->hdr, req);
}

void lifecycle_publish_volume(struct tenant_io *tio, uint64_t features, uint32_t pbs)
{
	struct pvfs_region_hdr *h = tio->hdr;
	uint32_t gen = pvfs_host_config_begin(h);

	PVFS_WRITE_ONCE(&h->host_features, features);
	PVFS_WRITE_ONCE(&h->capacity, tio->capacity);
	PVFS_WRITE_ONCE(&h->logical_block_size, tio->lbs);
	PVFS_WRITE_ONCE(&h->physical_block_size, pbs);
	PVFS_WRITE_ONCE(&h->max_io_bytes, tio->max_io_bytes);
	PVFS_WRITE_ONCE(&h->max_discard_bytes, tio->max_discard_bytes);
	pvfs_host_config_end(h, gen);
}

void lifecycle_set_capacity(struct tenant_io *tio, uint64_t capacity)
{
	struct pvfs_region_hdr *h = tio->hdr;
	uint32_t gen = pvfs_host_config_begin(h);

	tio->capacity = capacity;
	PVFS_WRITE_ONCE(&h->capacity, capacity);
	pvfs_host_config_end(h, gen);
}
