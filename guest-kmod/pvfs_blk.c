// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvfs_blk - guest block driver for a pvfs volume.
 *
 * pvfsd serves a volume through a shared-memory ring region (the ABI is
 * proto/pvfs_ring.h) that QEMU exposes to the guest as BAR2 of an ivshmem
 * PCI device (1af4:1110). This driver binds to such a device only if BAR2
 * carries a valid pvfs region header, maps ring queue pairs to blk-mq
 * hardware queues, and presents the volume as /dev/pvfsN. Submission writes
 * SQEs straight into shared memory and rings the ivshmem doorbell (BAR0, a
 * VM exit) only when the host poller asked for a wakeup. Default queues take
 * completions through MSI-X vector q for ring queue q; poll queues
 * (poll_queues=N, HCTX_TYPE_POLL) keep PVFS_CQ_NO_INTERRUPT set for good,
 * have no vector, and are reaped by ->poll (io_uring IOPOLL). A watchdog
 * follows the host state so that a restarting pvfsd leaves requests pending
 * while a detached, broken or vanished device fails them, and the volume
 * properties so that a resize reaches the disk. The reset handshake
 * (PVFS_F_RESET) makes the host forget a previous life at probe, unbind
 * and shutdown.
 *
 * The one rule for guest memory: a request completes (and its pages go
 * back to their owner) only once the host can no longer touch them: its
 * CQE arrived, or the host said so (a terminal state under PVFS_F_DRAIN,
 * an acknowledged reset). When the driver must give up without that word
 * (a host that stopped answering, a ring that makes no sense), the pages
 * of what it fails are quarantined: it keeps a reference on each until a
 * reset is acknowledged, so they are never reused while a stale write may
 * still land.
 */

#include <linux/bitmap.h>
#include <linux/blk-mq.h>
#include <linux/blk-mq-pci.h>
#include <linux/blkdev.h>
#include <linux/cc_platform.h>
#include <linux/delay.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "pvfs_ring.h"

#define PVFS_PCI_VENDOR		0x1af4	/* Red Hat, Inc. (QEMU) */
#define PVFS_PCI_DEVICE		0x1110	/* Inter-VM shared memory */

/* ivshmem BARs and the one BAR0 register we use. */
#define IVSHMEM_BAR_REGS	0
#define IVSHMEM_BAR_SHM		2
#define IVSHMEM_REG_DOORBELL	12	/* write (peer << 16) | vector */

#define PVFS_WATCHDOG_MS	100
#define PVFS_READY_POLL_MS	10
/*
 * Scatterlist entries kept in each request's PDU; larger requests chain
 * from the sg pool (sg_alloc_table_chained). The table is only needed while
 * the segments are copied into the ring, so it is freed at submission.
 */
#define PVFS_INLINE_SG_CNT	4

static unsigned int ready_timeout_ms = 30000;
module_param(ready_timeout_ms, uint, 0444);
MODULE_PARM_DESC(ready_timeout_ms,
		 "How long probe waits, in all, for pvfsd to mark the region READY and to drain a previous instance's requests (default 30000)");

static unsigned int io_timeout_s = 30;
module_param(io_timeout_s, uint, 0444);
MODULE_PARM_DESC(io_timeout_s,
		 "Seconds before a request is checked: the CQ is reaped (a lost interrupt), then it is reported and keeps waiting while the host may still answer (default 30)");

static unsigned int remove_timeout_ms = 10000;
module_param(remove_timeout_ms, uint, 0444);
MODULE_PARM_DESC(remove_timeout_ms,
		 "While unbinding, how long the host may complete nothing before its requests are failed (default 10000)");

static unsigned int poll_queues;
module_param(poll_queues, uint, 0444);
MODULE_PARM_DESC(poll_queues,
		 "Ring queues to use as polled queues (HCTX_TYPE_POLL, no interrupts), at most all but one (default 0)");

static DEFINE_IDA(pvfs_index_ida);

struct pvfs_dev;

/*
 * struct pvfs_hwq - one ring queue pair, driven by one blk-mq hardware queue
 * and, unless polled, one MSI-X vector.
 */
struct pvfs_hwq {
	struct pvfs_dev *dev;		/* immutable */
	struct pvfs_queue ring;		/* immutable: pointers into the region */
	u16 index;			/* immutable: ring queue = hctx (= vector) */
	bool polled;			/* immutable: HCTX_TYPE_POLL, no vector */

	/*
	 * Protects sq_tail, kick_pending and the SQ slots: blk-mq may call
	 * ->queue_rq for one hctx on several CPUs at once.
	 */
	spinlock_t sq_lock;
	u32 sq_tail;			/* sq_lock: private copy of ctrl->sq_tail */
	bool kick_pending;		/* sq_lock: published, no kick check yet */

	/* Protects cq_head and broken; taken in hard-irq context. */
	spinlock_t cq_lock ____cacheline_aligned_in_smp;
	u32 cq_head;			/* cq_lock: private copy of ctrl->cq_head */
	bool broken;			/* cq_lock: the CQ tail was impossible; never reap again */

	/*
	 * Tags handed to the host and not yet completed. Set under sq_lock
	 * before the SQE is published; whoever clears a bit with
	 * test_and_clear_bit() owns the completion of that tag, so a CQE, the
	 * timeout handler and pvfs_kill() can race without completing a
	 * request twice.
	 */
	unsigned long *inflight;
	/* rqs[tag]: written under sq_lock before the bit is set and published. */
	struct request **rqs;

	char irq_name[32];		/* immutable, referenced by request_irq() */
} ____cacheline_aligned_in_smp;

struct pvfs_dev {
	struct pci_dev *pdev;		/* immutable */
	int index;			/* immutable: N in /dev/pvfsN */
	void __iomem *regs;		/* immutable: ivshmem BAR0 */
	void *region;			/* immutable: BAR2, write-back mapping */
	struct pvfs_region_hdr *hdr;	/* == region */

	/* Validated copies of the creator's geometry (never re-read). */
	u32 nr_queues;			/* ring queue pairs the region has */
	u32 queue_depth;
	u32 max_segs;
	u32 doorbell_peer;

	/* Validated copies of the host's volume properties (state_lock after probe). */
	u64 features;			/* accepted: host offer & what we support */
	u64 capacity;
	u32 lbs;
	u32 pbs;
	u32 max_io_bytes;
	u32 max_discard_bytes;

	unsigned int nr_hwqs;		/* immutable: hardware queues in use */
	unsigned int nr_default;	/* immutable: hwqs [0, nr_default) have vectors */
	unsigned int nr_poll;		/* immutable: the rest are polled */
	struct pvfs_hwq *hwqs;		/* immutable: nr_hwqs entries */

	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;

	/*
	 * dead: new requests fail in ->queue_rq. Set once by pvfs_kill() or
	 * pvfs_fence() (under state_lock), read locklessly and re-checked
	 * under sq_lock.
	 */
	bool dead;
	/* ring_broken: a CQ we reaped was impossible; set from hard irq. */
	bool ring_broken;
	/*
	 * reap_stopped: no CQE is taken any more (a reset request is out, or
	 * the driver gave up on the host). Set under every cq_lock in turn.
	 */
	bool reap_stopped;

	/* Serialises the watchdog's state tracking with removal and PM. */
	struct mutex state_lock;
	u32 generation;			/* state_lock: last host_generation seen */
	u32 last_state;			/* state_lock: last host_state seen */
	bool removing;			/* state_lock: del_gendisk() has started */
	unsigned long progress;		/* state_lock: jiffies of the last reaped CQE while removing */
	u32 progress_heads;		/* state_lock: sum of cq_heads at that time */
	u32 config_gen;			/* state_lock: last even config_generation applied */
	u32 reset_req;			/* state_lock: reset request not yet acknowledged */
	bool reset_pending;		/* state_lock: reset_req is valid */
	struct list_head quarantine;	/* state_lock: struct pvfs_quarantine */
	unsigned long quarantined;	/* state_lock: pages held in it */
	struct delayed_work watchdog;
};

/* Pages of requests failed while the host may still write into them. */
struct pvfs_quarantine {
	struct list_head node;
	unsigned int nr;
	struct page *pages[];
};

/* The command behind every request: blk-mq's per-request driver data. */
struct pvfs_cmd {
	struct pvfs_sqe sqe;		/* built by pvfs_prep(), copied into the SQ */
	bool data;			/* READ or WRITE: result must be expected */
	u32 expected;			/* bytes a successful READ/WRITE moves */
	blk_status_t status;		/* set by whoever owns the completion */
	struct sg_table sgt;		/* only between mapping and the ring copy */
	struct scatterlist inline_sg[PVFS_INLINE_SG_CNT];
};

static const char *pvfs_state_name(u32 state)
{
	switch (state) {
	case PVFS_HOST_INIT:	return "INIT";
	case PVFS_HOST_READY:	return "READY";
	case PVFS_HOST_BROKEN:	return "BROKEN";
	case PVFS_HOST_REMOVED:	return "REMOVED";
	case PVFS_HOST_DRAINING: return "DRAINING";
	default:		return "UNKNOWN";
	}
}

static struct device *pvfs_device(struct pvfs_dev *dev)
{
	return &dev->pdev->dev;
}

static u32 pvfs_host_state(struct pvfs_dev *dev)
{
	/* Acquire: the host release-stores host_state after its properties. */
	return PVFS_LOAD_ACQUIRE(&dev->hdr->host_state);
}

/*
 * pvfs_gone_reason - why the host will never serve the ring again, or NULL
 * while it may. Anything but INIT, READY and DRAINING is terminal, unknown
 * values included (a newer host speaks an ABI we do not; a corrupt header),
 * and so is a device that vanished: its BAR reads all ones.
 */
static const char *pvfs_gone_reason(struct pvfs_dev *dev, u32 state)
{
	if (state == PVFS_HOST_READY || state == PVFS_HOST_INIT ||
	    state == PVFS_HOST_DRAINING)
		return NULL;
	if (state == PVFS_HOST_BROKEN)
		return "the host found the ring broken";
	if (state == PVFS_HOST_REMOVED)
		return "the host removed the volume";
	if (state == U32_MAX && !pci_device_is_present(dev->pdev))
		return "the device is gone";
	return "the host state is unknown";
}

/*
 * pvfs_status - the one place that turns a CQE result into a blk_status_t.
 * A READ or WRITE must move exactly the bytes it asked for: pvfsd continues
 * short transfers itself, so a short count means the data is not all there.
 * Other operations succeed with any result >= 0. Errors go through
 * errno_to_blk_status(), keeping only statuses a completion may carry.
 */
static blk_status_t pvfs_status(s32 result, const struct pvfs_cmd *cmd)
{
	blk_status_t status;

	if (result >= 0) {
		if (cmd->data && (u32)result != cmd->expected)
			return BLK_STS_IOERR;
		return BLK_STS_OK;
	}
	if (result == -EDQUOT)
		return BLK_STS_NOSPC;

	status = errno_to_blk_status(result);
	switch (status) {
	case BLK_STS_NOTSUPP:
	case BLK_STS_TIMEOUT:
	case BLK_STS_NOSPC:
	case BLK_STS_OFFLINE:	/* -ENODEV: the host is removing the volume */
	case BLK_STS_MEDIUM:
	case BLK_STS_TARGET:
		return status;
	default:		/* -EIO, -EINVAL (a driver bug), -EROFS, ... */
		return BLK_STS_IOERR;
	}
}

static void pvfs_doorbell(struct pvfs_dev *dev, u16 queue)
{
	/* QEMU turns this write into a kick of the host's eventfd for the queue. */
	iowrite32((dev->doorbell_peer << 16) | queue, dev->regs + IVSHMEM_REG_DOORBELL);
}

static void pvfs_ring_doorbell(struct pvfs_hwq *hq)
{
	pvfs_doorbell(hq->dev, hq->index);
}

static void pvfs_complete_batch(struct io_comp_batch *iob)
{
	blk_mq_end_request_batch(iob);
}

/*
 * Complete a tag whose inflight bit the caller has just cleared: into @iob
 * when the caller batches (interrupt handler, ->poll) and the request can
 * go there, else through blk_mq_complete_request().
 */
static void pvfs_finish(struct request *rq, blk_status_t status,
			struct io_comp_batch *iob)
{
	struct pvfs_cmd *cmd = blk_mq_rq_to_pdu(rq);

	cmd->status = status;
	if (!iob) {
		blk_mq_complete_request(rq);
		return;
	}
	if (blk_mq_complete_request_remote(rq))
		return;
	if (!blk_mq_add_to_batch(rq, iob, status != BLK_STS_OK, pvfs_complete_batch))
		blk_mq_end_request(rq, status);
}

/* ---- submission ---- */

static void pvfs_reap_on_submit(struct pvfs_hwq *hq);

/*
 * Fill the command's SQE and the tag's segment table for @rq. The segment
 * table belongs to the tag, which blk-mq gave to this request alone, so no
 * lock is needed; the release in pvfs_sq_publish() makes it visible to the
 * host.
 */
static blk_status_t pvfs_setup_cmd(struct pvfs_hwq *hq, struct request *rq)
{
	struct pvfs_dev *dev = hq->dev;
	struct pvfs_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct pvfs_sqe *sqe = &cmd->sqe;
	struct pvfs_seg *segs;
	struct scatterlist *sg;
	int nents, i;

	memset(sqe, 0, sizeof(*sqe));
	sqe->tag = rq->tag;
	cmd->data = false;
	cmd->expected = 0;

	switch (req_op(rq)) {
	case REQ_OP_READ:
		sqe->opcode = PVFS_OP_READ;
		break;
	case REQ_OP_WRITE:
		sqe->opcode = PVFS_OP_WRITE;
		if ((rq->cmd_flags & REQ_FUA) && (dev->features & PVFS_F_FLUSH))
			sqe->flags = PVFS_SQE_FUA;
		break;
	case REQ_OP_FLUSH:
		sqe->opcode = PVFS_OP_FLUSH;
		return BLK_STS_OK;
	case REQ_OP_DISCARD:
		sqe->opcode = PVFS_OP_DISCARD;
		goto range;
	case REQ_OP_WRITE_ZEROES:
		sqe->opcode = PVFS_OP_WRITE_ZEROES;
		goto range;
	default:
		return BLK_STS_NOTSUPP;
	}

	sqe->offset = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	sqe->len = blk_rq_bytes(rq);
	cmd->data = true;
	cmd->expected = sqe->len;

	cmd->sgt.sgl = cmd->inline_sg;
	if (sg_alloc_table_chained(&cmd->sgt, blk_rq_nr_phys_segments(rq),
				   cmd->inline_sg, PVFS_INLINE_SG_CNT))
		return BLK_STS_RESOURCE;
	nents = blk_rq_map_sg(rq->q, rq, cmd->sgt.sgl);
	if (WARN_ON_ONCE(nents <= 0 || nents > dev->max_segs)) {
		sg_free_table_chained(&cmd->sgt, PVFS_INLINE_SG_CNT);
		return BLK_STS_IOERR;
	}

	segs = pvfs_tag_segs(&hq->ring, rq->tag);
	for_each_sg(cmd->sgt.sgl, sg, nents, i) {
		/* Guest-physical: pvfsd translates it through the VM's memory map. */
		WRITE_ONCE(segs[i].addr, (u64)sg_phys(sg));
		WRITE_ONCE(segs[i].len, sg->length);
		WRITE_ONCE(segs[i].rsvd, 0);
	}
	sqe->nr_segs = nents;
	sg_free_table_chained(&cmd->sgt, PVFS_INLINE_SG_CNT);
	return BLK_STS_OK;

range:
	sqe->offset = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	sqe->len = blk_rq_bytes(rq);
	return BLK_STS_OK;
}

/* Everything before the SQ lock: build the command and start the request. */
static blk_status_t pvfs_prep(struct pvfs_hwq *hq, struct request *rq)
{
	blk_status_t status;

	if (unlikely(READ_ONCE(hq->dev->dead)))
		return BLK_STS_IOERR;
	if (WARN_ON_ONCE(rq->tag < 0 || rq->tag >= hq->ring.depth))
		return BLK_STS_IOERR;

	status = pvfs_setup_cmd(hq, rq);
	if (status != BLK_STS_OK)
		return status;
	blk_mq_start_request(rq);
	return BLK_STS_OK;
}

/*
 * Under sq_lock: put a prepared request into the SQ (not yet published).
 * False if the device died since pvfs_prep(): pvfs_kill() sets dead and
 * then takes sq_lock, so a request added here is one it will see.
 */
static bool pvfs_sq_add(struct pvfs_hwq *hq, struct request *rq)
{
	struct pvfs_cmd *cmd = blk_mq_rq_to_pdu(rq);

	lockdep_assert_held(&hq->sq_lock);
	if (unlikely(READ_ONCE(hq->dev->dead)))
		return false;
	hq->rqs[rq->tag] = rq;
	set_bit(rq->tag, hq->inflight);
	memcpy(&hq->ring.sq[hq->sq_tail & hq->ring.mask], &cmd->sqe, sizeof(cmd->sqe));
	hq->sq_tail++;
	return true;
}

static blk_status_t pvfs_queue_rq(struct blk_mq_hw_ctx *hctx,
				  const struct blk_mq_queue_data *bd)
{
	struct pvfs_hwq *hq = hctx->driver_data;
	struct request *rq = bd->rq;
	unsigned long flags;
	blk_status_t status;
	bool kick = false;

	status = pvfs_prep(hq, rq);
	if (status != BLK_STS_OK)
		return status;

	spin_lock_irqsave(&hq->sq_lock, flags);
	if (unlikely(!pvfs_sq_add(hq, rq))) {
		spin_unlock_irqrestore(&hq->sq_lock, flags);
		return BLK_STS_IOERR;
	}
	/*
	 * Publish now so a polling host can start at once; the costly part
	 * (full barrier, maybe a doorbell exit) waits for the end of the batch.
	 */
	pvfs_sq_publish(&hq->ring, hq->sq_tail);
	if (bd->last) {
		hq->kick_pending = false;
		kick = pvfs_sq_needs_kick(&hq->ring);
	} else {
		hq->kick_pending = true;
	}
	spin_unlock_irqrestore(&hq->sq_lock, flags);

	if (kick)
		pvfs_ring_doorbell(hq);
	if (bd->last)
		pvfs_reap_on_submit(hq);
	return BLK_STS_OK;
}

/* blk-mq promised more requests (bd->last == false) but then ran out. */
static void pvfs_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct pvfs_hwq *hq = hctx->driver_data;
	unsigned long flags;
	bool kick = false;

	spin_lock_irqsave(&hq->sq_lock, flags);
	if (hq->kick_pending) {
		hq->kick_pending = false;
		kick = pvfs_sq_needs_kick(&hq->ring);
	}
	spin_unlock_irqrestore(&hq->sq_lock, flags);

	if (kick)
		pvfs_ring_doorbell(hq);
	pvfs_reap_on_submit(hq);
}

/*
 * Submit a plug's run of prepared requests for one queue: one lock, one
 * publication, at most one doorbell. Those the device refuses (it died)
 * go to @requeue for blk-mq to issue one by one (and fail).
 */
static void pvfs_submit_list(struct pvfs_hwq *hq, struct request **rqlist,
			     struct request **requeue)
{
	unsigned long flags;
	bool kick;

	spin_lock_irqsave(&hq->sq_lock, flags);
	while (!rq_list_empty(*rqlist)) {
		struct request *rq = rq_list_pop(rqlist);

		if (!pvfs_sq_add(hq, rq))
			rq_list_add(requeue, rq);
	}
	pvfs_sq_publish(&hq->ring, hq->sq_tail);
	hq->kick_pending = false;
	kick = pvfs_sq_needs_kick(&hq->ring);
	spin_unlock_irqrestore(&hq->sq_lock, flags);

	if (kick)
		pvfs_ring_doorbell(hq);
	pvfs_reap_on_submit(hq);
}

/* ->queue_rqs: a plug's whole list, split into runs per hardware queue. */
static void pvfs_queue_rqs(struct request **rqlist)
{
	struct request *rq, *next, *prev = NULL;
	struct request *requeue = NULL;

	rq_list_for_each_safe(rqlist, rq, next) {
		struct pvfs_hwq *hq = rq->mq_hctx->driver_data;

		/* The plug path skips blk_mq_get_driver_tag(): the timeout scan needs this. */
		rq->mq_hctx->tags->rqs[rq->tag] = rq;
		if (pvfs_prep(hq, rq) != BLK_STS_OK) {
			rq_list_move(rqlist, &requeue, rq, prev);
			rq = prev;
			if (!rq)
				continue;
		}

		if (!next || rq->mq_hctx != next->mq_hctx) {
			rq->rq_next = NULL;
			pvfs_submit_list(hq, rqlist, &requeue);
			*rqlist = next;
			prev = NULL;
		} else {
			prev = rq;
		}
	}
	*rqlist = requeue;
}

/* ---- completion ---- */

/*
 * The host published a CQ tail that no correct host can: more than a
 * queue's depth of completions at once. Stop reaping this queue (the
 * entries mean nothing) and let the watchdog take the device down.
 */
static void pvfs_cq_broken(struct pvfs_hwq *hq, u32 tail)
{
	lockdep_assert_held(&hq->cq_lock);
	hq->broken = true;
	WRITE_ONCE(hq->dev->ring_broken, true);
	dev_err_ratelimited(pvfs_device(hq->dev),
			    "q%u: CQ tail %u is %u entries past head %u (depth %u): ring broken\n",
			    hq->index, tail, tail - hq->cq_head, hq->cq_head,
			    hq->ring.depth);
	mod_delayed_work(system_wq, &hq->dev->watchdog, 0);
}

/* Reap every CQE published so far; cq_lock held. Returns how many. */
static int pvfs_reap_cq(struct pvfs_hwq *hq, struct io_comp_batch *iob)
{
	struct pvfs_queue *q = &hq->ring;
	int found = 0;
	u32 tail;

	if (hq->broken || READ_ONCE(hq->dev->reap_stopped))
		return 0;
	/* Acquire: the CQEs below the tail are complete. */
	tail = PVFS_LOAD_ACQUIRE(&q->ctrl->cq_tail);
	if (unlikely(tail - hq->cq_head > q->depth)) {
		pvfs_cq_broken(hq, tail);
		return 0;
	}

	while (hq->cq_head != tail) {
		struct pvfs_cqe *cqe = &q->cq[hq->cq_head & q->mask];
		u16 tag = READ_ONCE(cqe->tag);
		s32 result = READ_ONCE(cqe->result);
		struct request *rq;

		/*
		 * Hand the slot back before completing: once the request ends
		 * its tag may be reused, and the host may then need a CQ slot
		 * for it (the ABI counts unconsumed CQEs against the depth).
		 */
		pvfs_cq_release(q, ++hq->cq_head);
		found++;

		if (tag >= q->depth || !test_and_clear_bit(tag, hq->inflight)) {
			dev_warn_ratelimited(pvfs_device(hq->dev),
					     "q%u: completion for tag %u which is not in flight, ignored\n",
					     hq->index, tag);
			continue;
		}
		rq = hq->rqs[tag];
		pvfs_finish(rq, pvfs_status(result, blk_mq_rq_to_pdu(rq)), iob);
	}
	return found;
}

/*
 * pvfs_reap - drain a queue's CQ. An interrupt-driven queue asks the host
 * for no interrupt while it drains (like virtio's event index) and looks
 * once more after turning interrupts back on, so nothing posted in between
 * is lost; a polled queue keeps NO_INTERRUPT set for good.
 */
static int pvfs_reap(struct pvfs_hwq *hq, struct io_comp_batch *iob)
{
	unsigned long flags;
	int found = 0;

	spin_lock_irqsave(&hq->cq_lock, flags);
	if (hq->polled) {
		found = pvfs_reap_cq(hq, iob);
		goto out;
	}
	for (;;) {
		pvfs_cq_interrupts_off(&hq->ring);
		found += pvfs_reap_cq(hq, iob);
		/* Nothing taken (broken, stopped): looking again would spin. */
		if (hq->broken || READ_ONCE(hq->dev->reap_stopped) ||
		    !pvfs_cq_interrupts_on(&hq->ring, hq->cq_head))
			break;
	}
out:
	spin_unlock_irqrestore(&hq->cq_lock, flags);
	return found;
}

/*
 * pvfs_reap_on_submit - at the end of a submission batch, take what the
 * host has completed meanwhile, if nobody else is reaping this queue. With
 * interrupt coalescing on the host (pvfsctl --irq-coalesce-us) a CQE waits
 * a little before its interrupt, and the host sends none if the guest has
 * reaped it by then: a guest that keeps submitting then gets its
 * completions without interrupts (bench/GUEST.md). Submitters hold no
 * spinlock (submit_bio may sleep), so ending requests here is as safe as in
 * the interrupt handler. Polled queues are left to ->poll.
 */
static void pvfs_reap_on_submit(struct pvfs_hwq *hq)
{
	DEFINE_IO_COMP_BATCH(iob);
	unsigned long flags;

	if (hq->polled || READ_ONCE(hq->ring.ctrl->cq_tail) == READ_ONCE(hq->cq_head))
		return;
	if (!spin_trylock_irqsave(&hq->cq_lock, flags))
		return;		/* the interrupt handler is at it */
	pvfs_reap_cq(hq, &iob);
	spin_unlock_irqrestore(&hq->cq_lock, flags);
	if (!rq_list_empty(iob.req_list))
		iob.complete(&iob);
}

/* Like nvme_irq: completions go to the block layer as one batch. */
static irqreturn_t pvfs_irq(int irq, void *data)
{
	struct pvfs_hwq *hq = data;
	struct pvfs_dev *dev = hq->dev;
	DEFINE_IO_COMP_BATCH(iob);

	pvfs_reap(hq, &iob);
	if (!rq_list_empty(iob.req_list))
		iob.complete(&iob);
	/*
	 * A resize is announced by an interrupt on queue 0: the watchdog
	 * applies it now rather than at its next tick (it may sleep).
	 */
	if (hq->index == 0 && (READ_ONCE(dev->features) & PVFS_F_RESIZE) &&
	    READ_ONCE(dev->hdr->config_generation) != READ_ONCE(dev->config_gen))
		mod_delayed_work(system_wq, &dev->watchdog, 0);
	/*
	 * MSI-X is never shared and the host may signal a batch we already
	 * reaped; IRQ_NONE would eventually get the vector disabled.
	 */
	return IRQ_HANDLED;
}

/* ->poll for HCTX_TYPE_POLL queues: the caller ends the batch. */
static int pvfs_poll(struct blk_mq_hw_ctx *hctx, struct io_comp_batch *iob)
{
	return pvfs_reap(hctx->driver_data, iob);
}

static void pvfs_complete_rq(struct request *rq)
{
	struct pvfs_cmd *cmd = blk_mq_rq_to_pdu(rq);

	blk_mq_end_request(rq, cmd->status);
}

/*
 * A request that took io_timeout_s. First reap its CQ, like nvme_timeout:
 * a lost interrupt leaves the completion sitting there. Otherwise it is
 * only reported: failing it would let the host (or a restarted one, which
 * re-issues what its predecessor had consumed) later write into pages the
 * guest has reused. A host gone for good is the watchdog's to handle, for
 * all requests at once and by the memory rule; it is woken now.
 */
static enum blk_eh_timer_return pvfs_timeout(struct request *rq)
{
	struct pvfs_hwq *hq = rq->mq_hctx->driver_data;
	struct pvfs_dev *dev = hq->dev;
	u32 state;
	const char *gone;

	pvfs_reap(hq, NULL);
	if (blk_mq_rq_state(rq) != MQ_RQ_IN_FLIGHT) {
		dev_warn_ratelimited(pvfs_device(dev),
				     "q%u tag %d timed out, completion polled (lost interrupt)\n",
				     hq->index, rq->tag);
		return BLK_EH_DONE;
	}

	state = pvfs_host_state(dev);
	gone = pvfs_gone_reason(dev, state);
	dev_warn_ratelimited(pvfs_device(dev),
			     "q%u tag %d %s sector %llu len %u timed out after %us, host %s gen %u: %s\n",
			     hq->index, rq->tag, blk_op_str(req_op(rq)),
			     (unsigned long long)blk_rq_pos(rq), blk_rq_bytes(rq),
			     io_timeout_s, pvfs_state_name(state),
			     READ_ONCE(dev->hdr->host_generation),
			     gone ? gone : "still waiting");

	if (gone)
		mod_delayed_work(system_wq, &dev->watchdog, 0);
	return BLK_EH_RESET_TIMER;
}

static int pvfs_init_hctx(struct blk_mq_hw_ctx *hctx, void *data,
			  unsigned int hctx_idx)
{
	struct pvfs_dev *dev = data;

	hctx->driver_data = &dev->hwqs[hctx_idx];
	return 0;
}

/*
 * Default queues go on the CPUs their MSI-X vector is affine to; poll
 * queues have no vector, so the block layer spreads them.
 */
static void pvfs_map_queues(struct blk_mq_tag_set *set)
{
	struct pvfs_dev *dev = set->driver_data;
	struct blk_mq_queue_map *map = &set->map[HCTX_TYPE_DEFAULT];

	map->nr_queues = dev->nr_default;
	map->queue_offset = 0;
	blk_mq_pci_map_queues(map, dev->pdev, 0);
	if (set->nr_maps <= HCTX_TYPE_POLL)
		return;

	set->map[HCTX_TYPE_READ].nr_queues = 0;
	map = &set->map[HCTX_TYPE_POLL];
	map->nr_queues = dev->nr_poll;
	map->queue_offset = dev->nr_default;
	blk_mq_map_queues(map);
}

/* The block layer pins the module through fops->owner while the disk is open. */
static const struct block_device_operations pvfs_fops = {
	.owner		= THIS_MODULE,
};

static const struct blk_mq_ops pvfs_mq_ops = {
	.queue_rq	= pvfs_queue_rq,
	.queue_rqs	= pvfs_queue_rqs,
	.commit_rqs	= pvfs_commit_rqs,
	.complete	= pvfs_complete_rq,
	.timeout	= pvfs_timeout,
	.poll		= pvfs_poll,
	.init_hctx	= pvfs_init_hctx,
	.map_queues	= pvfs_map_queues,
};

/* ---- host state ---- */

static void pvfs_reap_all(struct pvfs_dev *dev)
{
	unsigned int q;

	for (q = 0; q < dev->nr_hwqs; q++)
		pvfs_reap(&dev->hwqs[q], NULL);
}

/* New requests fail from now on; the ones in flight are left alone. */
static void pvfs_fence(struct pvfs_dev *dev)
{
	unsigned long flags;
	unsigned int q;

	WRITE_ONCE(dev->dead, true);
	/*
	 * A submitter that saw dead == false under sq_lock has set its bit
	 * before unlocking; later ones see dead == true.
	 */
	for (q = 0; q < dev->nr_hwqs; q++) {
		spin_lock_irqsave(&dev->hwqs[q].sq_lock, flags);
		spin_unlock_irqrestore(&dev->hwqs[q].sq_lock, flags);
	}
}

/* No CQE is taken from now on: a reaper that started has finished. */
static void pvfs_stop_reaping(struct pvfs_dev *dev)
{
	unsigned long flags;
	unsigned int q;

	WRITE_ONCE(dev->reap_stopped, true);
	for (q = 0; q < dev->nr_hwqs; q++) {
		spin_lock_irqsave(&dev->hwqs[q].cq_lock, flags);
		spin_unlock_irqrestore(&dev->hwqs[q].cq_lock, flags);
	}
}

static unsigned int pvfs_nr_inflight(struct pvfs_dev *dev)
{
	unsigned int q, n = 0;

	for (q = 0; q < dev->nr_hwqs; q++)
		n += bitmap_weight(dev->hwqs[q].inflight, dev->queue_depth);
	return n;
}

/*
 * Keep a reference on every page of @rq, so that failing it does not put
 * them back into use while the host may still write into them; released
 * when a reset is acknowledged (pvfs_release_quarantine), else never.
 */
static void pvfs_quarantine_rq(struct pvfs_dev *dev, struct request *rq)
{
	struct pvfs_quarantine *qr;
	struct req_iterator iter;
	struct bio_vec bv;
	unsigned int n = 0;

	lockdep_assert_held(&dev->state_lock);
	rq_for_each_segment(bv, rq, iter)
		n++;
	if (!n)
		return;
	/* Small, rare, and failing it would mean reusing the pages. */
	qr = kmalloc(struct_size(qr, pages, n), GFP_NOIO | __GFP_NOFAIL);
	qr->nr = 0;
	rq_for_each_segment(bv, rq, iter) {
		get_page(bv.bv_page);
		qr->pages[qr->nr++] = bv.bv_page;
	}
	list_add_tail(&qr->node, &dev->quarantine);
	dev->quarantined += qr->nr;
}

static void pvfs_release_quarantine(struct pvfs_dev *dev)
{
	struct pvfs_quarantine *qr, *tmp;
	unsigned int i;

	lockdep_assert_held(&dev->state_lock);
	if (dev->quarantined)
		dev_info(pvfs_device(dev), "reset acknowledged: %lu quarantined page(s) released\n",
			 dev->quarantined);
	list_for_each_entry_safe(qr, tmp, &dev->quarantine, node) {
		for (i = 0; i < qr->nr; i++)
			put_page(qr->pages[i]);
		list_del(&qr->node);
		kfree(qr);
	}
	dev->quarantined = 0;
}

/*
 * pvfs_reset_post - send the reset request (PVFS_F_RESET): the caller has
 * stopped submission and reaping. Ring queue 0's doorbell whatever sq_flags
 * say: the host may sleep with NEED_WAKEUP clear.
 */
static void pvfs_reset_post(struct pvfs_dev *dev)
{
	lockdep_assert_held(&dev->state_lock);
	dev->reset_req = pvfs_reset_request(dev->hdr);
	dev->reset_pending = true;
	pvfs_doorbell(dev, 0);
}

/*
 * pvfs_reset_wait - wait until @deadline for the host to acknowledge the
 * posted reset. 0: nothing of the previous life is or will be in flight;
 * each queue restarts where the host left its indices, the quarantine is
 * released, and requests still marked in flight are the caller's to fail. -ENODEV: the volume is gone (REMOVED, unknown state,
 * no device). -ETIMEDOUT: no answer; the request stays posted, and a host
 * that plugs the region later answers it before it runs anything.
 */
static int pvfs_reset_wait(struct pvfs_dev *dev, unsigned long deadline)
{
	unsigned int q;
	u32 state;

	lockdep_assert_held(&dev->state_lock);
	for (;;) {
		if (pvfs_reset_acked(dev->hdr, dev->reset_req))
			break;
		/* BROKEN answers a reset (and is READY again); REMOVED never does. */
		state = pvfs_host_state(dev);
		if (state != PVFS_HOST_BROKEN &&
		    (pvfs_gone_reason(dev, state) || !pci_device_is_present(dev->pdev)))
			return -ENODEV;
		if (time_after(jiffies, deadline))
			return -ETIMEDOUT;
		msleep(PVFS_READY_POLL_MS);
	}
	dev->reset_pending = false;
	for (q = 0; q < dev->nr_hwqs; q++) {
		struct pvfs_hwq *hq = &dev->hwqs[q];

		/* The host set sq_head = our sq_tail and cq_tail = our cq_head. */
		hq->sq_tail = READ_ONCE(hq->ring.ctrl->sq_head);
		hq->cq_head = READ_ONCE(hq->ring.ctrl->cq_tail);
		hq->broken = false;
	}
	WRITE_ONCE(dev->reap_stopped, false);
	pvfs_release_quarantine(dev);
	return 0;
}

/* pvfs_reset - the whole handshake, for callers that need nothing between. */
static int pvfs_reset(struct pvfs_dev *dev, unsigned long deadline)
{
	if (!(dev->features & PVFS_F_RESET))
		return -EOPNOTSUPP;
	pvfs_reset_post(dev);
	return pvfs_reset_wait(dev, deadline);
}

static const char *pvfs_reset_error(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return "the host did not answer the reset";
	case -ENODEV:
		return "the volume is gone";
	case -EOPNOTSUPP:
		return "the host does not offer the reset handshake";
	default:
		return "reset failed";
	}
}

/*
 * The host will not serve the ring again: take what it completed, fail
 * the rest and make the disk refuse new I/O. @drained: the host said that
 * nothing it consumed is in flight (a terminal state under PVFS_F_DRAIN),
 * so the pages are ours again. Otherwise the driver gives up without that
 * word: it stops reaping, posts a reset request (a host that answers, now
 * or after a restart, forgets the requests), and quarantines the pages of
 * every request it fails. Under state_lock.
 */
static void pvfs_kill(struct pvfs_dev *dev, const char *why, bool drained)
{
	unsigned int q, tag, failed = 0;
	unsigned long before = dev->quarantined;

	lockdep_assert_held(&dev->state_lock);
	if (dev->dead && !pvfs_nr_inflight(dev)) {
		WRITE_ONCE(dev->dead, true);
		goto out;
	}
	pvfs_fence(dev);
	pvfs_reap_all(dev);
	if (!drained) {
		pvfs_stop_reaping(dev);
		if ((dev->features & PVFS_F_RESET) && !dev->reset_pending &&
		    pvfs_host_state(dev) != PVFS_HOST_REMOVED)
			pvfs_reset_post(dev);
	}

	for (q = 0; q < dev->nr_hwqs; q++) {
		struct pvfs_hwq *hq = &dev->hwqs[q];

		for_each_set_bit(tag, hq->inflight, hq->ring.depth) {
			if (!test_and_clear_bit(tag, hq->inflight))
				continue;
			if (!drained)
				pvfs_quarantine_rq(dev, hq->rqs[tag]);
			pvfs_finish(hq->rqs[tag], BLK_STS_IOERR, NULL);
			failed++;
		}
	}
	if (drained)
		dev_err(pvfs_device(dev), "%s: failing all I/O (%u in flight), the disk is gone\n",
			why, failed);
	else
		dev_err(pvfs_device(dev),
			"%s: failing all I/O (%u in flight, %lu page(s) quarantined until the host acknowledges a reset), the disk is gone\n",
			why, failed, dev->quarantined - before);
out:
	/* del_gendisk() drains the queue itself; marking it dead then races. */
	if (!dev->removing)
		blk_mark_disk_dead(dev->disk);
}

static void pvfs_kick_all(struct pvfs_dev *dev)
{
	unsigned int q;

	for (q = 0; q < dev->nr_hwqs; q++)
		pvfs_ring_doorbell(&dev->hwqs[q]);
}

/*
 * While del_gendisk() waits for requests in flight, a host that completes
 * nothing for remove_timeout_ms (pvfsd killed and not restarted) must not
 * make unbind or rmmod wait for ever: give up on it.
 */
static void pvfs_check_remove_progress(struct pvfs_dev *dev)
{
	unsigned int q;
	u32 heads = 0;

	lockdep_assert_held(&dev->state_lock);
	for (q = 0; q < dev->nr_hwqs; q++)
		heads += READ_ONCE(dev->hwqs[q].cq_head);
	if (heads != dev->progress_heads || !pvfs_nr_inflight(dev)) {
		dev->progress_heads = heads;
		dev->progress = jiffies;
		return;
	}
	if (time_after(jiffies, dev->progress + msecs_to_jiffies(remove_timeout_ms)))
		pvfs_kill(dev, "unbinding, and the host completed nothing for remove_timeout_ms",
			  false);
}

/* ---- volume properties ---- */

struct pvfs_props {
	u64 features;
	u64 capacity;
	u32 lbs, pbs, max_io_bytes, max_discard_bytes;
};

/*
 * Copy and check what the host published before it release-stored READY.
 * Fills @props only if the values are usable.
 */
static int pvfs_read_props(struct pvfs_dev *dev, struct pvfs_props *props)
{
	struct pvfs_region_hdr *hdr = dev->hdr;
	struct pvfs_props p;

	/* Never accept a bit the host did not offer, nor one we do not know. */
	p.features = READ_ONCE(hdr->host_features) & PVFS_F_ALL;
	p.capacity = READ_ONCE(hdr->capacity);
	p.lbs = READ_ONCE(hdr->logical_block_size);
	p.pbs = READ_ONCE(hdr->physical_block_size);
	p.max_io_bytes = READ_ONCE(hdr->max_io_bytes);
	p.max_discard_bytes = READ_ONCE(hdr->max_discard_bytes);

	if (p.pbs < p.lbs)
		p.pbs = p.lbs;
	if (p.lbs < SECTOR_SIZE || p.lbs > PAGE_SIZE ||
	    !is_power_of_2(p.lbs) || !is_power_of_2(p.pbs) ||
	    (p.capacity & (p.lbs - 1)) || p.max_io_bytes < PAGE_SIZE ||
	    (p.max_io_bytes & (p.lbs - 1))) {
		dev_err(pvfs_device(dev),
			"invalid pvfs volume (capacity %llu, block %u/%u, max io %u)\n",
			p.capacity, p.lbs, p.pbs, p.max_io_bytes);
		return -EINVAL;
	}
	p.max_discard_bytes = round_down(p.max_discard_bytes, p.lbs);
	if (!p.max_discard_bytes)
		p.features &= ~(PVFS_F_DISCARD | PVFS_F_WRITE_ZEROES);
	*props = p;
	return 0;
}

static void pvfs_accept_props(struct pvfs_dev *dev, const struct pvfs_props *p)
{
	WRITE_ONCE(dev->features, p->features);
	dev->capacity = p->capacity;
	dev->lbs = p->lbs;
	dev->pbs = p->pbs;
	dev->max_io_bytes = p->max_io_bytes;
	dev->max_discard_bytes = p->max_discard_bytes;

	WRITE_ONCE(dev->hdr->guest_features, dev->features);
	/* Release: a host that acquires guest_generation sees the features. */
	PVFS_STORE_RELEASE(&dev->hdr->guest_generation, dev->generation);
}

static void pvfs_set_capacity(struct pvfs_dev *dev, u64 capacity)
{
	u64 old = dev->capacity;

	dev->capacity = capacity;
	if (set_capacity_and_notify(dev->disk, capacity >> SECTOR_SHIFT))
		dev_info(pvfs_device(dev), "capacity %llu -> %llu bytes\n", old, capacity);
}

/* Discard and write-zeroes limits from the accepted features. */
static void pvfs_set_discard_limits(struct pvfs_dev *dev)
{
	struct request_queue *q = dev->disk->queue;
	u32 sectors = dev->max_discard_bytes >> SECTOR_SHIFT;

	if (dev->features & (PVFS_F_DISCARD | PVFS_F_WRITE_ZEROES))
		q->limits.discard_granularity = dev->lbs;
	blk_queue_max_discard_sectors(q, dev->features & PVFS_F_DISCARD ? sectors : 0);
	blk_queue_max_write_zeroes_sectors(q, dev->features & PVFS_F_WRITE_ZEROES ? sectors : 0);
}

/*
 * A new host generation may change any volume property: apply what a live
 * disk can take (capacity, read-only, write cache, discard), and fence the
 * disk when it cannot (another block size, a smaller I/O limit: requests
 * already built would be refused).
 */
static void pvfs_revalidate(struct pvfs_dev *dev)
{
	struct pvfs_props p;
	u64 changed;

	lockdep_assert_held(&dev->state_lock);
	if (pvfs_read_props(dev, &p) ||
	    p.lbs != dev->lbs || p.pbs != dev->pbs || p.max_io_bytes < dev->max_io_bytes) {
		dev_err(pvfs_device(dev),
			"the new host generation changed the block size or I/O limit (block %u/%u -> %u/%u, max io %u -> %u): new I/O fails\n",
			dev->lbs, dev->pbs, p.lbs, p.pbs, dev->max_io_bytes, p.max_io_bytes);
		pvfs_fence(dev);
		return;
	}
	changed = p.features ^ dev->features;
	if (p.capacity != dev->capacity)
		pvfs_set_capacity(dev, p.capacity);
	pvfs_accept_props(dev, &p);
	if (changed & PVFS_F_RO)
		set_disk_ro(dev->disk, p.features & PVFS_F_RO);
	if (changed & PVFS_F_FLUSH)
		blk_queue_write_cache(dev->disk->queue, p.features & PVFS_F_FLUSH,
				      p.features & PVFS_F_FLUSH);
	pvfs_set_discard_limits(dev);
	if (changed)
		dev_info(pvfs_device(dev), "features %#llx -> %#llx\n",
			 (unsigned long long)(p.features ^ changed),
			 (unsigned long long)p.features);
}

/* PVFS_F_RESIZE: a READY host grew the volume (config_generation moved). */
static void pvfs_check_resize(struct pvfs_dev *dev)
{
	u64 capacity;
	u32 gen;

	lockdep_assert_held(&dev->state_lock);
	if (!(dev->features & PVFS_F_RESIZE) ||
	    pvfs_config_read_capacity(dev->hdr, &capacity, &gen) || gen == dev->config_gen)
		return;		/* busy (odd): the next tick looks again */
	WRITE_ONCE(dev->config_gen, gen);
	if (capacity == dev->capacity)
		return;
	if (capacity < dev->capacity || (capacity & (dev->lbs - 1))) {
		dev_warn(pvfs_device(dev), "host announced capacity %llu (now %llu): ignored\n",
			 capacity, dev->capacity);
		return;
	}
	pvfs_set_capacity(dev, capacity);
}

static void pvfs_watchdog(struct work_struct *work)
{
	struct pvfs_dev *dev = container_of(to_delayed_work(work),
					    struct pvfs_dev, watchdog);
	const char *gone;
	u32 state, prev, gen;

	mutex_lock(&dev->state_lock);
	state = pvfs_host_state(dev);
	gen = READ_ONCE(dev->hdr->host_generation);
	prev = dev->last_state;
	dev->last_state = state;

	if (state != prev)
		dev_info(pvfs_device(dev), "host state %s -> %s (generation %u)\n",
			 pvfs_state_name(prev), pvfs_state_name(state), gen);

	gone = pvfs_gone_reason(dev, state);
	if (gone) {
		/* Under PVFS_F_DRAIN a terminal state means nothing is in flight. */
		pvfs_kill(dev, gone, (state == PVFS_HOST_BROKEN || state == PVFS_HOST_REMOVED) &&
				     (dev->features & PVFS_F_DRAIN) && !dev->ring_broken);
		mutex_unlock(&dev->state_lock);
		return;		/* terminal: nothing left to watch */
	}
	if (READ_ONCE(dev->ring_broken)) {
		pvfs_kill(dev, "the driver found the ring broken", false);
		mutex_unlock(&dev->state_lock);
		return;
	}
	if (state == PVFS_HOST_DRAINING && !dev->dead) {
		/* Stop submitting, keep reaping: a terminal state follows. */
		dev_info(pvfs_device(dev), "host is draining: new I/O fails, %u request(s) in flight complete\n",
			 pvfs_nr_inflight(dev));
		pvfs_fence(dev);
	}

	if (gen != dev->generation && state == PVFS_HOST_READY) {
		/*
		 * A new pvfsd instance took the region over. It re-issues
		 * what its predecessor had consumed; requests it has not
		 * seen are still in the SQ. Kick every queue in case it
		 * sleeps before looking.
		 */
		dev_info(pvfs_device(dev),
			 "host restarted (generation %u -> %u), requests stay queued\n",
			 dev->generation, gen);
		dev->generation = gen;
		pvfs_revalidate(dev);
		WRITE_ONCE(dev->config_gen, READ_ONCE(dev->hdr->config_generation));
		pvfs_kick_all(dev);
	} else if (state == PVFS_HOST_READY && prev != PVFS_HOST_READY) {
		pvfs_kick_all(dev);
	}
	if (state == PVFS_HOST_READY)
		pvfs_check_resize(dev);
	if (dev->removing)
		pvfs_check_remove_progress(dev);
	mutex_unlock(&dev->state_lock);

	schedule_delayed_work(&dev->watchdog, msecs_to_jiffies(PVFS_WATCHDOG_MS));
}

/* ---- sysfs: /sys/block/pvfsN/pvfs/ ---- */

static struct pvfs_dev *pvfs_from_disk_dev(struct device *d)
{
	return dev_to_disk(d)->private_data;
}

static ssize_t host_state_show(struct device *d, struct device_attribute *attr,
			       char *buf)
{
	struct pvfs_dev *dev = pvfs_from_disk_dev(d);

	return sysfs_emit(buf, "%s\n", pvfs_state_name(pvfs_host_state(dev)));
}
static DEVICE_ATTR_RO(host_state);

static ssize_t host_generation_show(struct device *d, struct device_attribute *attr,
				    char *buf)
{
	struct pvfs_dev *dev = pvfs_from_disk_dev(d);

	return sysfs_emit(buf, "%u\n", READ_ONCE(dev->hdr->host_generation));
}
static DEVICE_ATTR_RO(host_generation);

static ssize_t features_show(struct device *d, struct device_attribute *attr,
			     char *buf)
{
	struct pvfs_dev *dev = pvfs_from_disk_dev(d);

	return sysfs_emit(buf, "%#llx\n", (unsigned long long)READ_ONCE(dev->features));
}
static DEVICE_ATTR_RO(features);

static ssize_t queues_show(struct device *d, struct device_attribute *attr,
			   char *buf)
{
	struct pvfs_dev *dev = pvfs_from_disk_dev(d);

	return sysfs_emit(buf, "%u\n", dev->nr_default);
}
static DEVICE_ATTR_RO(queues);

static ssize_t poll_queues_show(struct device *d, struct device_attribute *attr,
				char *buf)
{
	struct pvfs_dev *dev = pvfs_from_disk_dev(d);

	return sysfs_emit(buf, "%u\n", dev->nr_poll);
}
static DEVICE_ATTR_RO(poll_queues);

static struct attribute *pvfs_attrs[] = {
	&dev_attr_host_state.attr,
	&dev_attr_host_generation.attr,
	&dev_attr_features.attr,
	&dev_attr_queues.attr,
	&dev_attr_poll_queues.attr,
	NULL,
};

static const struct attribute_group pvfs_attr_group = {
	.name	= "pvfs",
	.attrs	= pvfs_attrs,
};

static const struct attribute_group *pvfs_attr_groups[] = {
	&pvfs_attr_group,
	NULL,
};

/* ---- probe and remove ---- */

/* Copy and check the creator's geometry; the live header is never trusted. */
static int pvfs_read_geometry(struct pvfs_dev *dev, u64 bar_len)
{
	struct pvfs_region_hdr *hdr = dev->hdr;
	u32 magic = READ_ONCE(hdr->magic);
	u32 abi = READ_ONCE(hdr->abi_version);
	u64 region_size = READ_ONCE(hdr->region_size);
	u32 stride = READ_ONCE(hdr->queue_stride);

	/* Another ivshmem user's device: not an error, just not ours. */
	if (magic != PVFS_MAGIC) {
		dev_info(pvfs_device(dev), "BAR2 has no pvfs region (magic %#x), not binding\n",
			 magic);
		return -ENODEV;
	}
	if (abi != PVFS_ABI_VERSION)
		return dev_err_probe(pvfs_device(dev), -ENODEV,
				     "pvfs ABI version %u, driver speaks %u, not binding\n",
				     abi, PVFS_ABI_VERSION);

	dev->nr_queues = READ_ONCE(hdr->nr_queues);
	dev->queue_depth = READ_ONCE(hdr->queue_depth);
	dev->max_segs = READ_ONCE(hdr->max_segs);
	dev->doorbell_peer = READ_ONCE(hdr->doorbell_peer);

	if (!pvfs_geometry_valid(dev->nr_queues, dev->queue_depth, dev->max_segs,
				 stride, region_size) ||
	    region_size > bar_len || dev->doorbell_peer > U16_MAX)
		return dev_err_probe(pvfs_device(dev), -ENODEV,
				     "invalid pvfs geometry (queues %u depth %u segs %u stride %u size %llu, BAR2 %llu, peer %u), not binding\n",
				     dev->nr_queues, dev->queue_depth, dev->max_segs,
				     stride, region_size, bar_len, dev->doorbell_peer);
	return 0;
}

/*
 * Wait for a READY host. @broken_ok: a BROKEN one will do too, because the
 * caller is about to reset it (which repairs the ring).
 */
static int pvfs_wait_ready(struct pvfs_dev *dev, unsigned long deadline, bool broken_ok)
{
	u32 state;

	for (;;) {
		state = pvfs_host_state(dev);
		if (state == PVFS_HOST_READY || (broken_ok && state == PVFS_HOST_BROKEN))
			return 0;
		if (state != PVFS_HOST_INIT && state != PVFS_HOST_DRAINING)
			return dev_err_probe(pvfs_device(dev), -ENODEV,
					     "pvfs host state is %s, not binding\n",
					     pvfs_state_name(state));
		if (time_after(jiffies, deadline))
			break;
		msleep(PVFS_READY_POLL_MS);
	}
	return dev_err_probe(pvfs_device(dev), -ENODEV,
			     "pvfs host not READY after %u ms (state %s), not binding\n",
			     ready_timeout_ms, pvfs_state_name(state));
}

static int pvfs_alloc_hwqs(struct pvfs_dev *dev)
{
	unsigned int q;

	dev->hwqs = kcalloc(dev->nr_hwqs, sizeof(*dev->hwqs), GFP_KERNEL);
	if (!dev->hwqs)
		return -ENOMEM;

	for (q = 0; q < dev->nr_hwqs; q++) {
		struct pvfs_hwq *hq = &dev->hwqs[q];

		hq->dev = dev;
		hq->index = q;
		hq->polled = q >= dev->nr_default;
		spin_lock_init(&hq->sq_lock);
		spin_lock_init(&hq->cq_lock);
		pvfs_queue_init(&hq->ring, dev->region, q, dev->queue_depth,
				dev->max_segs);
		/*
		 * Resume from the indices in the region rather than zero: a
		 * previous driver instance may have used the queue, and the
		 * host continues from where it was.
		 */
		hq->sq_tail = READ_ONCE(hq->ring.ctrl->sq_tail);
		hq->cq_head = READ_ONCE(hq->ring.ctrl->cq_head);
		/* Default queues take interrupts; poll queues never want one. */
		WRITE_ONCE(hq->ring.ctrl->cq_flags, hq->polled ? PVFS_CQ_NO_INTERRUPT : 0);
		snprintf(hq->irq_name, sizeof(hq->irq_name), "pvfs%d-q%u",
			 dev->index, q);

		hq->inflight = bitmap_zalloc(dev->queue_depth, GFP_KERNEL);
		hq->rqs = kcalloc(dev->queue_depth, sizeof(*hq->rqs), GFP_KERNEL);
		if (!hq->inflight || !hq->rqs)
			return -ENOMEM;	/* the caller frees what was allocated */
	}
	return 0;
}

/*
 * pvfs_quiesce_queue - take over a queue a previous kernel of this VM may
 * have left busy (a reboot, kexec or crash does not unload us, and the
 * region outlives it). The host still serves that kernel's requests and
 * posts their completions; their tags mean nothing to us, and a completion
 * taken for a new request of ours with the same tag would end it early.
 * So wait, until @deadline (one for the whole probe), until the host has
 * consumed every published SQE and its in-flight table for the queue is
 * empty, then skip every completion posted so far. A module reload finds
 * the queue idle (removal waits for our requests), so this costs nothing
 * there.
 */
static void pvfs_quiesce_queue(struct pvfs_dev *dev, struct pvfs_hwq *hq,
			       unsigned long deadline)
{
	struct pvfs_queue *q = &hq->ring;
	u32 tail = READ_ONCE(q->ctrl->sq_tail), busy, t, head;
	bool kicked = false;

	for (;;) {
		busy = READ_ONCE(q->ctrl->sq_head) != tail;
		for (t = 0; t < q->depth; t++)
			busy += READ_ONCE(q->inflight[t].state) != PVFS_INFLIGHT_FREE;
		if (!busy)
			break;
		if (pvfs_host_state(dev) != PVFS_HOST_READY ||
		    time_after(jiffies, deadline)) {
			dev_warn(pvfs_device(dev),
				 "q%u: the host still holds %u request(s) of a previous driver instance (state %s); going on without them\n",
				 hq->index, busy, pvfs_state_name(pvfs_host_state(dev)));
			break;
		}
		/* A sleeping host may not have seen the old kernel's last SQEs. */
		if (!kicked && pvfs_sq_needs_kick(q)) {
			pvfs_ring_doorbell(hq);
			kicked = true;
		}
		msleep(PVFS_READY_POLL_MS);
	}
	/*
	 * The host publishes cq_tail before it frees a tag's in-flight record:
	 * read the records (above) before cq_tail, so the tail covers them.
	 */
	PVFS_MB();
	head = PVFS_LOAD_ACQUIRE(&q->ctrl->cq_tail);
	if (head != hq->cq_head)
		dev_info(pvfs_device(dev),
			 "q%u: skipped %u completion(s) of a previous driver instance\n",
			 hq->index, head - hq->cq_head);
	hq->cq_head = head;
	hq->sq_tail = tail;
	pvfs_cq_release(q, head);
}

static void pvfs_free_hwqs(struct pvfs_dev *dev)
{
	unsigned int q;

	if (!dev->hwqs)
		return;
	for (q = 0; q < dev->nr_hwqs; q++) {
		bitmap_free(dev->hwqs[q].inflight);
		kfree(dev->hwqs[q].rqs);
	}
	kfree(dev->hwqs);
	dev->hwqs = NULL;
}

static void pvfs_free_irqs(struct pvfs_dev *dev, unsigned int count)
{
	while (count--)
		free_irq(pci_irq_vector(dev->pdev, count), &dev->hwqs[count]);
}

static int pvfs_request_irqs(struct pvfs_dev *dev)
{
	unsigned int q;
	int err;

	for (q = 0; q < dev->nr_default; q++) {
		err = request_irq(pci_irq_vector(dev->pdev, q), pvfs_irq, 0,
				  dev->hwqs[q].irq_name, &dev->hwqs[q]);
		if (err) {
			pvfs_free_irqs(dev, q);
			return err;
		}
	}
	return 0;
}

static void pvfs_set_limits(struct pvfs_dev *dev)
{
	struct request_queue *q = dev->disk->queue;

	blk_queue_logical_block_size(q, dev->lbs);
	blk_queue_physical_block_size(q, dev->pbs);
	blk_queue_io_min(q, dev->pbs);
	blk_queue_max_hw_sectors(q, dev->max_io_bytes >> SECTOR_SHIFT);
	blk_queue_max_segments(q, dev->max_segs);
	blk_queue_max_segment_size(q, dev->max_io_bytes);
	/* pvfsd may use O_DIRECT on the volume: keep buffers block aligned. */
	blk_queue_dma_alignment(q, dev->lbs - 1);
	blk_queue_rq_timeout(q, io_timeout_s * HZ);

	if (dev->features & PVFS_F_FLUSH)
		blk_queue_write_cache(q, true, true);
	pvfs_set_discard_limits(dev);

	set_capacity(dev->disk, dev->capacity >> SECTOR_SHIFT);
	if (dev->features & PVFS_F_RO)
		set_disk_ro(dev->disk, true);
}

/*
 * pvfs_take_over - make the queues ours at probe. With PVFS_F_RESET: the
 * reset handshake, so nothing a previous kernel of this VM (reboot, kexec,
 * crash, QEMU system_reset) or a previous driver instance left in flight
 * can complete into our memory; then the host's properties again, as a
 * reset may follow a new host generation. Without it (an older host): wait
 * for the old requests to finish and skip their completions. Bounded by
 * the probe's deadline.
 */
static int pvfs_take_over(struct pvfs_dev *dev, unsigned long deadline)
{
	struct pvfs_props props;
	unsigned int q;
	int err;

	if (!(dev->features & PVFS_F_RESET)) {
		for (q = 0; q < dev->nr_hwqs; q++)
			pvfs_quiesce_queue(dev, &dev->hwqs[q], deadline);
		return 0;
	}

	mutex_lock(&dev->state_lock);
	err = pvfs_reset(dev, deadline);
	mutex_unlock(&dev->state_lock);
	if (err)
		return dev_err_probe(pvfs_device(dev), -ENODEV,
				     "%s within ready_timeout_ms=%u, not binding\n",
				     pvfs_reset_error(err), ready_timeout_ms);
	/* A BROKEN ring is READY again once the reset is answered. */
	err = pvfs_wait_ready(dev, deadline, false);
	if (err)
		return err;
	dev->generation = READ_ONCE(dev->hdr->host_generation);
	if (pvfs_read_props(dev, &props))
		return dev_err_probe(pvfs_device(dev), -ENODEV, "not binding\n");
	pvfs_accept_props(dev, &props);
	dev_info(pvfs_device(dev), "reset acknowledged by the host (generation %u)\n",
		 dev->generation);
	return 0;
}

/*
 * How many queues of each kind: poll_queues of the region's queues (at most
 * all but one) are polled; the rest, up to one per online CPU and as many as
 * MSI-X vectors can be had, take interrupts. Ring queue q < nr_default uses
 * vector q.
 */
static int pvfs_setup_vectors(struct pvfs_dev *dev)
{
	unsigned int want_poll = min(poll_queues, dev->nr_queues - 1);
	unsigned int want_default = min(dev->nr_queues - want_poll, num_online_cpus());
	int nvec;

	nvec = pci_alloc_irq_vectors(dev->pdev, 1, want_default,
				     PCI_IRQ_MSIX | PCI_IRQ_AFFINITY);
	if (nvec < 0)
		return dev_err_probe(pvfs_device(dev), -ENODEV,
				     "no MSI-X vectors (%d): use ivshmem-doorbell with vectors=%u, not binding\n",
				     nvec, dev->nr_queues);
	dev->nr_default = nvec;
	dev->nr_poll = want_poll;
	dev->nr_hwqs = dev->nr_default + dev->nr_poll;
	return 0;
}

static int pvfs_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	/* One deadline for everything probe waits for: READY, then every queue. */
	unsigned long deadline = jiffies + msecs_to_jiffies(ready_timeout_ms);
	struct pvfs_props props;
	struct pvfs_dev *dev;
	u64 bar_len;
	int err;

	/*
	 * pvfsd reads and writes guest pages by their physical address; with
	 * encrypted guest memory (SEV, TDX) it would see ciphertext, and
	 * bounce buffers would not help a ring that carries addresses.
	 */
	if (cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT))
		return dev_err_probe(&pdev->dev, -ENODEV,
				     "guest memory is encrypted: pvfsd cannot read it, not binding\n");

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	dev->pdev = pdev;
	INIT_LIST_HEAD(&dev->quarantine);
	mutex_init(&dev->state_lock);
	INIT_DELAYED_WORK(&dev->watchdog, pvfs_watchdog);
	pci_set_drvdata(pdev, dev);

	err = ida_alloc(&pvfs_index_ida, GFP_KERNEL);
	if (err < 0)
		goto out_free_dev;
	dev->index = err;

	err = pci_enable_device(pdev);
	if (err)
		goto out_free_index;

	err = pci_request_regions(pdev, KBUILD_MODNAME);
	if (err)
		goto out_disable_device;
	/*
	 * No DMA happens, but QEMU sends MSI-X messages through the device's
	 * bus-master address space: without this, completions never arrive.
	 */
	pci_set_master(pdev);

	bar_len = pci_resource_len(pdev, IVSHMEM_BAR_SHM);
	if (bar_len < PVFS_HDR_SIZE) {
		err = dev_err_probe(&pdev->dev, -ENODEV,
				    "no shared memory BAR, not binding\n");
		goto out_release_regions;
	}
	/* The region is host RAM behind a BAR: map it cacheable. */
	dev->region = memremap(pci_resource_start(pdev, IVSHMEM_BAR_SHM),
			       bar_len, MEMREMAP_WB);
	if (!dev->region) {
		err = -ENOMEM;
		goto out_release_regions;
	}
	dev->hdr = dev->region;

	err = pvfs_read_geometry(dev, bar_len);
	if (err)
		goto out_unmap_region;

	dev->regs = pci_iomap(pdev, IVSHMEM_BAR_REGS, 0);
	if (!dev->regs) {
		err = dev_err_probe(&pdev->dev, -ENODEV,
				    "cannot map the ivshmem registers, not binding\n");
		goto out_unmap_region;
	}

	err = pvfs_wait_ready(dev, deadline,
			      READ_ONCE(dev->hdr->host_features) & PVFS_F_RESET);
	if (err)
		goto out_unmap_regs;
	dev->generation = READ_ONCE(dev->hdr->host_generation);
	err = pvfs_read_props(dev, &props);
	if (err) {
		err = dev_err_probe(&pdev->dev, -ENODEV, "not binding\n");
		goto out_unmap_regs;
	}
	/* guest_features go out before the reset request (pvfs_ring.h, "Reset"). */
	pvfs_accept_props(dev, &props);

	err = pvfs_setup_vectors(dev);
	if (err)
		goto out_unmap_regs;

	err = pvfs_alloc_hwqs(dev);
	if (err)
		goto out_free_hwqs;
	err = pvfs_take_over(dev, deadline);
	if (err)
		goto out_free_hwqs;

	err = pvfs_request_irqs(dev);
	if (err)
		goto out_free_hwqs;

	dev->tag_set.ops = &pvfs_mq_ops;
	dev->tag_set.nr_hw_queues = dev->nr_hwqs;
	dev->tag_set.nr_maps = dev->nr_poll ? HCTX_MAX_TYPES : 1;
	dev->tag_set.queue_depth = dev->queue_depth;
	dev->tag_set.numa_node = dev_to_node(&pdev->dev);
	dev->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	dev->tag_set.cmd_size = sizeof(struct pvfs_cmd);
	dev->tag_set.driver_data = dev;
	err = blk_mq_alloc_tag_set(&dev->tag_set);
	if (err)
		goto out_free_irqs;

	dev->disk = blk_mq_alloc_disk(&dev->tag_set, dev);
	if (IS_ERR(dev->disk)) {
		err = PTR_ERR(dev->disk);
		goto out_free_tag_set;
	}
	/* major 0: dynamic (extended) dev_t, partitions allowed. */
	dev->disk->fops = &pvfs_fops;
	snprintf(dev->disk->disk_name, DISK_NAME_LEN, "pvfs%d", dev->index);
	dev->disk->private_data = dev;
	pvfs_set_limits(dev);
	dev->last_state = PVFS_HOST_READY;
	dev->config_gen = READ_ONCE(dev->hdr->config_generation) & ~1u;

	err = device_add_disk(&pdev->dev, dev->disk, pvfs_attr_groups);
	if (err)
		goto out_put_disk;

	schedule_delayed_work(&dev->watchdog, msecs_to_jiffies(PVFS_WATCHDOG_MS));

	dev_info(&pdev->dev,
		 "pvfs%d: %llu bytes, block %u/%u, %u+%u poll of %u queues x %u, %u segs, max io %u, features %#llx, peer %u, generation %u\n",
		 dev->index, dev->capacity, dev->lbs, dev->pbs, dev->nr_default,
		 dev->nr_poll, dev->nr_queues, dev->queue_depth, dev->max_segs,
		 dev->max_io_bytes, (unsigned long long)dev->features,
		 dev->doorbell_peer, dev->generation);
	return 0;

out_put_disk:
	put_disk(dev->disk);
out_free_tag_set:
	blk_mq_free_tag_set(&dev->tag_set);
out_free_irqs:
	pvfs_free_irqs(dev, dev->nr_default);
out_free_hwqs:
	pvfs_free_hwqs(dev);
	pci_free_irq_vectors(pdev);
out_unmap_regs:
	pci_iounmap(pdev, dev->regs);
out_unmap_region:
	memunmap(dev->region);
out_release_regions:
	pci_release_regions(pdev);
out_disable_device:
	pci_disable_device(pdev);
out_free_index:
	ida_free(&pvfs_index_ida, dev->index);
out_free_dev:
	kfree(dev);
	return err;
}

/*
 * Tell the host this instance is gone, so that nothing of it stays in
 * flight for the next one: the reset handshake, bounded by
 * remove_timeout_ms; quarantined pages are released once it is answered,
 * and kept for good otherwise. Submission and interrupts have stopped.
 */
static void pvfs_say_goodbye(struct pvfs_dev *dev, const char *when)
{
	int err;

	mutex_lock(&dev->state_lock);
	pvfs_stop_reaping(dev);
	if ((dev->features & PVFS_F_RESET) && pvfs_host_state(dev) != PVFS_HOST_REMOVED &&
	    pci_device_is_present(dev->pdev)) {
		if (!dev->reset_pending)
			pvfs_reset_post(dev);
		err = pvfs_reset_wait(dev, jiffies + msecs_to_jiffies(remove_timeout_ms));
		if (err)
			dev_err(pvfs_device(dev),
				"%s: %s within remove_timeout_ms=%u; a host that plugs this region later answers it before it runs anything\n",
				when, pvfs_reset_error(err), remove_timeout_ms);
	}
	if (dev->quarantined)
		dev_warn(pvfs_device(dev),
			 "%s: %lu page(s) stay quarantined for good: the host never confirmed it stopped using them\n",
			 when, dev->quarantined);
	mutex_unlock(&dev->state_lock);
}

static void pvfs_remove(struct pci_dev *pdev)
{
	struct pvfs_dev *dev = pci_get_drvdata(pdev);

	mutex_lock(&dev->state_lock);
	dev->removing = true;
	dev->progress = jiffies;
	/* Surprise removal: nobody will ever answer (like nvme_remove). */
	if (!pci_device_is_present(pdev))
		pvfs_kill(dev, "the device is gone", false);
	mutex_unlock(&dev->state_lock);

	/*
	 * The watchdog keeps running while del_gendisk() waits for requests
	 * in flight, so that a host that goes away now, or is gone already,
	 * still lets it finish (pvfs_check_remove_progress). Interrupts go
	 * before the watchdog: a queue-0 interrupt may queue it.
	 */
	del_gendisk(dev->disk);
	pvfs_free_irqs(dev, dev->nr_default);
	cancel_delayed_work_sync(&dev->watchdog);
	pvfs_say_goodbye(dev, "unbinding");

	blk_mq_free_tag_set(&dev->tag_set);
	pvfs_free_hwqs(dev);
	pci_free_irq_vectors(pdev);
	pci_iounmap(pdev, dev->regs);
	memunmap(dev->region);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	put_disk(dev->disk);
	ida_free(&pvfs_index_ida, dev->index);
	kfree(dev);
}

/*
 * Reboot, kexec, power-off: the next kernel (or firmware) gets this memory,
 * so the host must forget our requests now. Stop submitting and reaping,
 * reset, and fail what was in flight once the host has answered; without
 * an answer they are left alone (the next kernel's probe resets again).
 */
static void pvfs_shutdown(struct pci_dev *pdev)
{
	struct pvfs_dev *dev = pci_get_drvdata(pdev);
	unsigned int q, tag, n = 0;

	if (!dev)
		return;
	mutex_lock(&dev->state_lock);
	dev->removing = true;	/* no blk_mark_disk_dead() from here on */
	pvfs_fence(dev);
	mutex_unlock(&dev->state_lock);
	cancel_delayed_work_sync(&dev->watchdog);
	pvfs_say_goodbye(dev, "shutdown");

	mutex_lock(&dev->state_lock);
	if (!dev->reset_pending) {
		for (q = 0; q < dev->nr_hwqs; q++) {
			struct pvfs_hwq *hq = &dev->hwqs[q];

			for_each_set_bit(tag, hq->inflight, hq->ring.depth) {
				if (test_and_clear_bit(tag, hq->inflight)) {
					pvfs_finish(hq->rqs[tag], BLK_STS_IOERR, NULL);
					n++;
				}
			}
		}
	}
	mutex_unlock(&dev->state_lock);
	if (n)
		dev_info(&pdev->dev, "shutdown: %u request(s) in flight cancelled by the reset\n", n);
}

/* ---- power management ---- */

/*
 * Suspend and hibernation: wait (bounded) until no request is in flight
 * and stop the watchdog; the region and its indices stay with the host.
 */
static int __maybe_unused pvfs_pm_freeze(struct device *d)
{
	struct pvfs_dev *dev = pci_get_drvdata(to_pci_dev(d));
	struct request_queue *q = dev->disk->queue;

	blk_freeze_queue_start(q);
	if (blk_mq_freeze_queue_wait_timeout(q, msecs_to_jiffies(remove_timeout_ms)) <= 0) {
		blk_mq_unfreeze_queue(q);
		dev_err(d, "%u request(s) still in flight after %u ms, not suspending\n",
			pvfs_nr_inflight(dev), remove_timeout_ms);
		return -EBUSY;
	}
	cancel_delayed_work_sync(&dev->watchdog);
	return 0;
}

static int __maybe_unused pvfs_pm_thaw(struct device *d)
{
	struct pvfs_dev *dev = pci_get_drvdata(to_pci_dev(d));

	schedule_delayed_work(&dev->watchdog, 0);
	blk_mq_unfreeze_queue(dev->disk->queue);
	return 0;
}

/*
 * Resume from a hibernation image: the boot kernel may have driven the
 * region meanwhile, so our private indices are stale. Take the queues over
 * again as probe does; the watchdog then notices any new host generation.
 */
static int __maybe_unused pvfs_pm_restore(struct device *d)
{
	struct pvfs_dev *dev = pci_get_drvdata(to_pci_dev(d));
	unsigned long deadline = jiffies + msecs_to_jiffies(ready_timeout_ms);
	unsigned int q;
	int err;

	for (q = 0; q < dev->nr_hwqs; q++) {
		struct pvfs_hwq *hq = &dev->hwqs[q];

		hq->sq_tail = READ_ONCE(hq->ring.ctrl->sq_tail);
		hq->cq_head = READ_ONCE(hq->ring.ctrl->cq_head);
		WRITE_ONCE(hq->ring.ctrl->cq_flags, hq->polled ? PVFS_CQ_NO_INTERRUPT : 0);
	}
	/* The queue is frozen: nothing of ours is in flight. */
	err = pvfs_take_over(dev, deadline);
	if (err)
		dev_err(d, "restore: %d; the disk may see stale completions\n", err);
	return pvfs_pm_thaw(d);
}

static const struct dev_pm_ops pvfs_pm_ops = {
	.suspend	= pm_sleep_ptr(pvfs_pm_freeze),
	.resume		= pm_sleep_ptr(pvfs_pm_thaw),
	.freeze		= pm_sleep_ptr(pvfs_pm_freeze),
	.thaw		= pm_sleep_ptr(pvfs_pm_thaw),
	.poweroff	= pm_sleep_ptr(pvfs_pm_freeze),
	.restore	= pm_sleep_ptr(pvfs_pm_restore),
};

static const struct pci_device_id pvfs_pci_ids[] = {
	{ PCI_DEVICE(PVFS_PCI_VENDOR, PVFS_PCI_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, pvfs_pci_ids);

static struct pci_driver pvfs_pci_driver = {
	.name		= KBUILD_MODNAME,
	.id_table	= pvfs_pci_ids,
	.probe		= pvfs_probe,
	.remove		= pvfs_remove,
	.shutdown	= pvfs_shutdown,
	.driver		= {
		.pm		= pm_sleep_ptr(&pvfs_pm_ops),
		/* probe may wait for pvfsd: do not hold up the rest of boot */
		.probe_type	= PROBE_PREFER_ASYNCHRONOUS,
	},
};
module_pci_driver(pvfs_pci_driver);

MODULE_DESCRIPTION("pvfs paravirtual block device (ivshmem ring to pvfsd)");
MODULE_LICENSE("GPL");
