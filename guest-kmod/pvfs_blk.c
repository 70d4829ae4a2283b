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
 * while a detached, broken or vanished device fails them.
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

	/* Serialises the watchdog's state tracking with removal and PM. */
	struct mutex state_lock;
	u32 generation;			/* state_lock: last host_generation seen */
	u32 last_state;			/* state_lock: last host_state seen */
	bool removing;			/* state_lock: del_gendisk() has started */
	unsigned long progress;		/* state_lock: jiffies of the last reaped CQE while removing */
	u32 progress_heads;		/* state_lock: sum of cq_heads at that time */
	struct delayed_work watchdog;
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
 * while it may. Anything but INIT and READY is terminal, unknown values
 * included (a newer host speaks an ABI we do not; a corrupt header), and so
 * is a device that vanished: its BAR reads all ones.
 */
static const char *pvfs_gone_reason(struct pvfs_dev *dev, u32 state)
{
	if (state == PVFS_HOST_READY || state == PVFS_HOST_INIT)
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

static void pvfs_ring_doorbell(struct pvfs_hwq *hq)
{
	/* QEMU turns this write into a kick of the host's eventfd for queue q. */
	iowrite32((hq->dev->doorbell_peer << 16) | hq->index,
		  hq->dev->regs + IVSHMEM_REG_DOORBELL);
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

	if (hq->broken)
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
		if (hq->broken || !pvfs_cq_interrupts_on(&hq->ring, hq->cq_head))
			break;
	}
out:
	spin_unlock_irqrestore(&hq->cq_lock, flags);
	return found;
}

/* Like nvme_irq: completions go to the block layer as one batch. */
static irqreturn_t pvfs_irq(int irq, void *data)
{
	DEFINE_IO_COMP_BATCH(iob);

	pvfs_reap(data, &iob);
	if (!rq_list_empty(iob.req_list))
		iob.complete(&iob);
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
 * only reported while a host may still answer: failing it would let the
 * host (or a restarted one, which re-issues what its predecessor had
 * consumed) later write into pages the guest has reused. Only a host gone
 * for good lets us complete it ourselves; the watchdog does that for all.
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
			     gone || READ_ONCE(dev->dead) ? "failing it" : "still waiting");

	if (!gone && !READ_ONCE(dev->dead))
		return BLK_EH_RESET_TIMER;
	/* The watchdog fails the rest; this one need not wait for it. */
	if (test_and_clear_bit(rq->tag, hq->inflight))
		pvfs_finish(rq, BLK_STS_IOERR, NULL);
	return BLK_EH_DONE;
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

	lockdep_assert_held(&dev->state_lock);
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

static unsigned int pvfs_nr_inflight(struct pvfs_dev *dev)
{
	unsigned int q, n = 0;

	for (q = 0; q < dev->nr_hwqs; q++)
		n += bitmap_weight(dev->hwqs[q].inflight, dev->queue_depth);
	return n;
}

/*
 * The host will not serve the ring again: take what it completed, fail the
 * rest and make the disk refuse new I/O. Runs once, under state_lock.
 */
static void pvfs_kill(struct pvfs_dev *dev, const char *why)
{
	unsigned int q, tag, failed = 0;

	lockdep_assert_held(&dev->state_lock);
	if (dev->dead && !pvfs_nr_inflight(dev))
		return;
	pvfs_fence(dev);
	pvfs_reap_all(dev);

	for (q = 0; q < dev->nr_hwqs; q++) {
		struct pvfs_hwq *hq = &dev->hwqs[q];

		for_each_set_bit(tag, hq->inflight, hq->ring.depth) {
			if (test_and_clear_bit(tag, hq->inflight)) {
				pvfs_finish(hq->rqs[tag], BLK_STS_IOERR, NULL);
				failed++;
			}
		}
	}
	dev_err(pvfs_device(dev), "%s: failing all I/O (%u in flight), the disk is gone\n",
		why, failed);

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
 * make unbind or rmmod wait for ever: fail what it holds.
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
		pvfs_kill(dev, "unbinding, and the host completed nothing for remove_timeout_ms");
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
	if (!gone && READ_ONCE(dev->ring_broken))
		gone = "the driver found the ring broken";
	if (gone) {
		pvfs_kill(dev, gone);
		mutex_unlock(&dev->state_lock);
		return;		/* terminal: nothing left to watch */
	}

	if (gen != dev->generation) {
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
		PVFS_STORE_RELEASE(&dev->hdr->guest_generation, gen);
		pvfs_kick_all(dev);
	} else if (state == PVFS_HOST_READY && prev != PVFS_HOST_READY) {
		pvfs_kick_all(dev);
	}
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

static int pvfs_wait_ready(struct pvfs_dev *dev, unsigned long deadline)
{
	u32 state;

	for (;;) {
		state = pvfs_host_state(dev);
		if (state == PVFS_HOST_READY)
			return 0;
		if (state != PVFS_HOST_INIT)
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

/*
 * Copy and check what the host published before it release-stored READY.
 * Fills @props only if the values are usable.
 */
struct pvfs_props {
	u64 features;
	u64 capacity;
	u32 lbs, pbs, max_io_bytes, max_discard_bytes;
};

static int pvfs_read_props(struct pvfs_dev *dev, struct pvfs_props *props)
{
	struct pvfs_region_hdr *hdr = dev->hdr;
	struct pvfs_props p;

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
	/* Never accept a bit the host did not offer, nor one we do not know. */
	p.max_discard_bytes = round_down(p.max_discard_bytes, p.lbs);
	if (!p.max_discard_bytes)
		p.features &= ~(PVFS_F_DISCARD | PVFS_F_WRITE_ZEROES);
	*props = p;
	return 0;
}

static void pvfs_accept_props(struct pvfs_dev *dev, const struct pvfs_props *p)
{
	dev->features = p->features;
	dev->capacity = p->capacity;
	dev->lbs = p->lbs;
	dev->pbs = p->pbs;
	dev->max_io_bytes = p->max_io_bytes;
	dev->max_discard_bytes = p->max_discard_bytes;

	WRITE_ONCE(dev->hdr->guest_features, dev->features);
	/* Release: a host that acquires guest_generation sees the features. */
	PVFS_STORE_RELEASE(&dev->hdr->guest_generation, dev->generation);
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
	if (dev->features & (PVFS_F_DISCARD | PVFS_F_WRITE_ZEROES))
		q->limits.discard_granularity = dev->lbs;
	if (dev->features & PVFS_F_DISCARD)
		blk_queue_max_discard_sectors(q, dev->max_discard_bytes >> SECTOR_SHIFT);
	if (dev->features & PVFS_F_WRITE_ZEROES)
		blk_queue_max_write_zeroes_sectors(q, dev->max_discard_bytes >> SECTOR_SHIFT);

	set_capacity(dev->disk, dev->capacity >> SECTOR_SHIFT);
	if (dev->features & PVFS_F_RO)
		set_disk_ro(dev->disk, true);
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
	unsigned int q;
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

	err = pvfs_wait_ready(dev, deadline);
	if (err)
		goto out_unmap_regs;
	dev->generation = READ_ONCE(dev->hdr->host_generation);
	err = pvfs_read_props(dev, &props);
	if (err) {
		err = dev_err_probe(&pdev->dev, -ENODEV, "not binding\n");
		goto out_unmap_regs;
	}
	pvfs_accept_props(dev, &props);

	err = pvfs_setup_vectors(dev);
	if (err)
		goto out_unmap_regs;

	err = pvfs_alloc_hwqs(dev);
	if (err)
		goto out_free_hwqs;
	for (q = 0; q < dev->nr_hwqs; q++)
		pvfs_quiesce_queue(dev, &dev->hwqs[q], deadline);

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

static void pvfs_remove(struct pci_dev *pdev)
{
	struct pvfs_dev *dev = pci_get_drvdata(pdev);

	mutex_lock(&dev->state_lock);
	dev->removing = true;
	dev->progress = jiffies;
	/* Surprise removal: nobody will ever answer (like nvme_remove). */
	if (!pci_device_is_present(pdev))
		pvfs_kill(dev, "the device is gone");
	mutex_unlock(&dev->state_lock);

	/*
	 * The watchdog keeps running while del_gendisk() waits for requests
	 * in flight, so that a host that goes away now, or is gone already,
	 * still lets it finish (pvfs_check_remove_progress).
	 */
	del_gendisk(dev->disk);
	cancel_delayed_work_sync(&dev->watchdog);

	blk_mq_free_tag_set(&dev->tag_set);
	pvfs_free_irqs(dev, dev->nr_default);
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

	for (q = 0; q < dev->nr_hwqs; q++) {
		struct pvfs_hwq *hq = &dev->hwqs[q];

		hq->sq_tail = READ_ONCE(hq->ring.ctrl->sq_tail);
		hq->cq_head = READ_ONCE(hq->ring.ctrl->cq_head);
		WRITE_ONCE(hq->ring.ctrl->cq_flags, hq->polled ? PVFS_CQ_NO_INTERRUPT : 0);
		pvfs_quiesce_queue(dev, hq, deadline);
	}
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
	.driver		= {
		.pm		= pm_sleep_ptr(&pvfs_pm_ops),
		/* probe may wait for pvfsd: do not hold up the rest of boot */
		.probe_type	= PROBE_PREFER_ASYNCHRONOUS,
	},
};
module_pci_driver(pvfs_pci_driver);

MODULE_DESCRIPTION("pvfs paravirtual block device (ivshmem ring to pvfsd)");
MODULE_LICENSE("GPL");
