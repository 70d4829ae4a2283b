// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvfs_blk - guest block driver for a pvfs volume.
 *
 * pvfsd serves a volume through a shared-memory ring region (the ABI is
 * proto/pvfs_ring.h) that QEMU exposes to the guest as BAR2 of an ivshmem
 * PCI device (1af4:1110). This driver binds to such a device only if BAR2
 * carries a valid pvfs region header, maps every ring queue pair to one
 * blk-mq hardware queue, and presents the volume as /dev/pvfsN. Submission
 * writes SQEs straight into shared memory and rings the ivshmem doorbell
 * (BAR0, a VM exit) only when the host poller asked for a wakeup; the host
 * signals completions through MSI-X vector q for queue q. A watchdog follows
 * the host state so that a restarting pvfsd leaves requests pending while a
 * detached or broken volume fails them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/blk-mq.h>
#include <linux/blk-mq-pci.h>
#include <linux/blkdev.h>
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

static unsigned int ready_timeout_ms = 30000;
module_param(ready_timeout_ms, uint, 0444);
MODULE_PARM_DESC(ready_timeout_ms,
		 "How long probe waits for pvfsd to mark the region READY (default 30000)");

static unsigned int io_timeout_s = 30;
module_param(io_timeout_s, uint, 0444);
MODULE_PARM_DESC(io_timeout_s,
		 "Seconds before a request is reported as slow; it keeps waiting while the host may still answer (default 30)");

static DEFINE_IDA(pvfs_index_ida);

struct pvfs_dev;

/*
 * struct pvfs_hwq - one ring queue pair, driven by one blk-mq hardware queue
 * and one MSI-X vector.
 */
struct pvfs_hwq {
	struct pvfs_dev *dev;		/* immutable */
	struct pvfs_queue ring;		/* immutable: pointers into the region */
	u16 index;			/* immutable: ring queue = hctx = vector */

	/*
	 * Protects sq_tail, kick_pending and the SQ slots: blk-mq may call
	 * ->queue_rq for one hctx on several CPUs at once.
	 */
	spinlock_t sq_lock;
	u32 sq_tail;			/* sq_lock: private copy of ctrl->sq_tail */
	bool kick_pending;		/* sq_lock: published, no kick check yet */

	/* Protects cq_head; taken in hard-irq context. */
	spinlock_t cq_lock ____cacheline_aligned_in_smp;
	u32 cq_head;			/* cq_lock: private copy of ctrl->cq_head */

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

	/* Validated copies of the host's volume properties. */
	u64 features;			/* accepted: host offer & what we support */
	u64 capacity;
	u32 lbs;
	u32 pbs;
	u32 max_io_bytes;
	u32 max_discard_bytes;

	unsigned int nr_hwqs;		/* immutable: hardware queues in use */
	struct pvfs_hwq *hwqs;		/* immutable: nr_hwqs entries */

	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;

	/*
	 * dead: the host is BROKEN or REMOVED for good; new requests fail in
	 * ->queue_rq. Set once by pvfs_kill() (under state_lock), read
	 * locklessly and re-checked under sq_lock.
	 */
	bool dead;

	/* Serialises the watchdog's state tracking with pvfs_remove(). */
	struct mutex state_lock;
	u32 generation;			/* state_lock: last host_generation seen */
	u32 last_state;			/* state_lock: last host_state seen */
	bool removing;			/* state_lock: del_gendisk() has started */
	struct delayed_work watchdog;
};

/* The command behind every request: blk-mq's per-request driver data. */
struct pvfs_cmd {
	bool data;			/* READ or WRITE: result must be expected */
	u32 expected;			/* bytes a successful READ/WRITE moves */
	blk_status_t status;		/* set by whoever owns the completion */
	struct scatterlist sg[];	/* max_segs entries */
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

static u32 pvfs_host_state(struct pvfs_dev *dev)
{
	/* Acquire: the host release-stores host_state after its properties. */
	return PVFS_LOAD_ACQUIRE(&dev->hdr->host_state);
}

static bool pvfs_state_terminal(u32 state)
{
	return state == PVFS_HOST_BROKEN || state == PVFS_HOST_REMOVED;
}

/*
 * pvfs_status - the one place that turns a CQE result into a blk_status_t.
 * A READ or WRITE must move exactly the bytes it asked for: pvfsd continues
 * short transfers itself, so a short count means the data is not all there.
 * Other operations succeed with any result >= 0.
 */
static blk_status_t pvfs_status(s32 result, const struct pvfs_cmd *cmd)
{
	if (result >= 0) {
		if (cmd->data && (u32)result != cmd->expected)
			return BLK_STS_IOERR;
		return BLK_STS_OK;
	}

	switch (result) {
	case -EOPNOTSUPP:
		return BLK_STS_NOTSUPP;
	case -ENOSPC:
	case -EDQUOT:
		return BLK_STS_NOSPC;
	case -ENODEV:
		return BLK_STS_OFFLINE;
	case -ETIMEDOUT:
		return BLK_STS_TIMEOUT;
	case -EIO:		/* backend error */
	case -EINVAL:		/* pvfsd rejected the SQE: a driver bug */
	case -EROFS:		/* no blk_status_t for it; the disk is ro anyway */
	default:
		return BLK_STS_IOERR;
	}
}

static void pvfs_ring_doorbell(struct pvfs_hwq *hq)
{
	/* QEMU turns this write into a kick of the host's eventfd for queue q. */
	iowrite32((hq->dev->doorbell_peer << 16) | hq->index,
		  hq->dev->regs + IVSHMEM_REG_DOORBELL);
}

/* Complete a tag whose inflight bit the caller has just cleared. */
static void pvfs_finish(struct request *rq, blk_status_t status)
{
	struct pvfs_cmd *cmd = blk_mq_rq_to_pdu(rq);

	cmd->status = status;
	blk_mq_complete_request(rq);
}

/* ---- submission ---- */

/*
 * Fill @sqe and the tag's segment table for @rq. The segment table belongs
 * to the tag, which blk-mq gave to this request alone, so no lock is needed;
 * the release in pvfs_sq_publish() makes it visible to the host.
 */
static blk_status_t pvfs_setup_cmd(struct pvfs_hwq *hq, struct request *rq,
				   struct pvfs_sqe *sqe)
{
	struct pvfs_dev *dev = hq->dev;
	struct pvfs_cmd *cmd = blk_mq_rq_to_pdu(rq);
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

	sg_init_table(cmd->sg, blk_rq_nr_phys_segments(rq));
	nents = blk_rq_map_sg(rq->q, rq, cmd->sg);
	if (WARN_ON_ONCE(nents <= 0 || nents > dev->max_segs))
		return BLK_STS_IOERR;

	segs = pvfs_tag_segs(&hq->ring, rq->tag);
	for_each_sg(cmd->sg, sg, nents, i) {
		/* Guest-physical: pvfsd translates it through the VM's memory map. */
		WRITE_ONCE(segs[i].addr, (u64)sg_phys(sg));
		WRITE_ONCE(segs[i].len, sg->length);
		WRITE_ONCE(segs[i].rsvd, 0);
	}
	sqe->nr_segs = nents;
	return BLK_STS_OK;

range:
	sqe->offset = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	sqe->len = blk_rq_bytes(rq);
	return BLK_STS_OK;
}

static blk_status_t pvfs_queue_rq(struct blk_mq_hw_ctx *hctx,
				  const struct blk_mq_queue_data *bd)
{
	struct pvfs_hwq *hq = hctx->driver_data;
	struct request *rq = bd->rq;
	struct pvfs_sqe sqe;
	unsigned long flags;
	blk_status_t status;
	bool kick = false;

	if (unlikely(READ_ONCE(hq->dev->dead)))
		return BLK_STS_IOERR;
	if (WARN_ON_ONCE(rq->tag < 0 || rq->tag >= hq->ring.depth))
		return BLK_STS_IOERR;

	status = pvfs_setup_cmd(hq, rq, &sqe);
	if (status != BLK_STS_OK)
		return status;

	blk_mq_start_request(rq);

	spin_lock_irqsave(&hq->sq_lock, flags);
	/* Re-check under the lock that pvfs_kill() takes after setting dead. */
	if (unlikely(READ_ONCE(hq->dev->dead))) {
		spin_unlock_irqrestore(&hq->sq_lock, flags);
		return BLK_STS_IOERR;
	}
	hq->rqs[rq->tag] = rq;
	set_bit(rq->tag, hq->inflight);
	memcpy(&hq->ring.sq[hq->sq_tail & hq->ring.mask], &sqe, sizeof(sqe));
	hq->sq_tail++;
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

/* ---- completion ---- */

static void pvfs_reap(struct pvfs_hwq *hq)
{
	struct pvfs_cqe *cqe;
	unsigned long flags;

	spin_lock_irqsave(&hq->cq_lock, flags);
	/*
	 * While we drain, completions the host posts are picked up by this
	 * loop: ask it not to interrupt for them (like virtio's event index).
	 */
	pvfs_cq_interrupts_off(&hq->ring);
again:
	while ((cqe = pvfs_cq_peek(&hq->ring, hq->cq_head))) {
		u16 tag = READ_ONCE(cqe->tag);
		s32 result = READ_ONCE(cqe->result);
		struct request *rq;

		/*
		 * Hand the slot back before completing: once the request ends
		 * its tag may be reused, and the host may then need a CQ slot
		 * for it (the ABI counts unconsumed CQEs against the depth).
		 */
		pvfs_cq_release(&hq->ring, ++hq->cq_head);

		if (tag >= hq->ring.depth || !test_and_clear_bit(tag, hq->inflight)) {
			pr_warn_ratelimited("pvfs%d: q%u: completion for tag %u which is not in flight, ignored\n",
					    hq->dev->index, hq->index, tag);
			continue;
		}
		rq = hq->rqs[tag];
		pvfs_finish(rq, pvfs_status(result, blk_mq_rq_to_pdu(rq)));
	}
	/* Interrupts back on, then one more look: nothing posted in between is lost. */
	if (pvfs_cq_interrupts_on(&hq->ring, hq->cq_head)) {
		pvfs_cq_interrupts_off(&hq->ring);
		goto again;
	}
	spin_unlock_irqrestore(&hq->cq_lock, flags);
}

static irqreturn_t pvfs_irq(int irq, void *data)
{
	pvfs_reap(data);
	/*
	 * MSI-X is never shared and the host may signal a batch we already
	 * reaped; IRQ_NONE would eventually get the vector disabled.
	 */
	return IRQ_HANDLED;
}

static void pvfs_complete_rq(struct request *rq)
{
	struct pvfs_cmd *cmd = blk_mq_rq_to_pdu(rq);

	blk_mq_end_request(rq, cmd->status);
}

/*
 * A slow request is only reported while a host may still answer it: the
 * ABI has no way to take a request back, so failing it here would let a
 * (restarted) host later write into pages the guest has reused. Only a host
 * that gave up for good (BROKEN, REMOVED) lets us complete it ourselves.
 */
static enum blk_eh_timer_return pvfs_timeout(struct request *rq)
{
	struct pvfs_hwq *hq = rq->mq_hctx->driver_data;
	struct pvfs_dev *dev = hq->dev;
	u32 state = pvfs_host_state(dev);
	bool terminal = pvfs_state_terminal(state) || READ_ONCE(dev->dead);

	pr_warn("pvfs%d: q%u tag %d %s sector %llu len %u timed out after %us, host %s gen %u: %s\n",
		dev->index, hq->index, rq->tag, blk_op_str(req_op(rq)),
		(unsigned long long)blk_rq_pos(rq), blk_rq_bytes(rq),
		io_timeout_s, pvfs_state_name(state),
		READ_ONCE(dev->hdr->host_generation),
		terminal ? "failing it" : "still waiting");

	if (!terminal)
		return BLK_EH_RESET_TIMER;
	if (test_and_clear_bit(rq->tag, hq->inflight))
		pvfs_finish(rq, BLK_STS_IOERR);
	return BLK_EH_DONE;
}

static int pvfs_init_hctx(struct blk_mq_hw_ctx *hctx, void *data,
			  unsigned int hctx_idx)
{
	struct pvfs_dev *dev = data;

	hctx->driver_data = &dev->hwqs[hctx_idx];
	return 0;
}

/* Put each queue on the CPUs its MSI-X vector is affine to. */
static void pvfs_map_queues(struct blk_mq_tag_set *set)
{
	struct pvfs_dev *dev = set->driver_data;

	blk_mq_pci_map_queues(&set->map[HCTX_TYPE_DEFAULT], dev->pdev, 0);
}

/* The block layer pins the module through fops->owner while the disk is open. */
static const struct block_device_operations pvfs_fops = {
	.owner		= THIS_MODULE,
};

static const struct blk_mq_ops pvfs_mq_ops = {
	.queue_rq	= pvfs_queue_rq,
	.commit_rqs	= pvfs_commit_rqs,
	.complete	= pvfs_complete_rq,
	.timeout	= pvfs_timeout,
	.init_hctx	= pvfs_init_hctx,
	.map_queues	= pvfs_map_queues,
};

/* ---- host state ---- */

/*
 * The host will not serve the ring again: fail everything in flight and
 * make the disk refuse new I/O. Runs once, under state_lock.
 */
static void pvfs_kill(struct pvfs_dev *dev)
{
	unsigned int q, tag;
	unsigned long flags;

	lockdep_assert_held(&dev->state_lock);
	if (dev->dead)
		return;
	WRITE_ONCE(dev->dead, true);

	for (q = 0; q < dev->nr_hwqs; q++) {
		struct pvfs_hwq *hq = &dev->hwqs[q];

		/*
		 * A submitter that saw dead == false under sq_lock has set
		 * its bit before unlocking; later ones see dead == true.
		 */
		spin_lock_irqsave(&hq->sq_lock, flags);
		spin_unlock_irqrestore(&hq->sq_lock, flags);

		for_each_set_bit(tag, hq->inflight, hq->ring.depth)
			if (test_and_clear_bit(tag, hq->inflight))
				pvfs_finish(hq->rqs[tag], BLK_STS_IOERR);
	}

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

static void pvfs_watchdog(struct work_struct *work)
{
	struct pvfs_dev *dev = container_of(to_delayed_work(work),
					    struct pvfs_dev, watchdog);
	u32 state, gen;

	mutex_lock(&dev->state_lock);
	state = pvfs_host_state(dev);
	gen = READ_ONCE(dev->hdr->host_generation);

	if (state != dev->last_state)
		pr_info("pvfs%d: host state %s -> %s (generation %u)\n",
			dev->index, pvfs_state_name(dev->last_state),
			pvfs_state_name(state), gen);

	if (pvfs_state_terminal(state)) {
		if (!dev->dead)
			pr_err("pvfs%d: host %s: failing all I/O, the disk is gone\n",
			       dev->index, state == PVFS_HOST_REMOVED ?
			       "removed the volume" : "found the ring broken");
		pvfs_kill(dev);
		dev->last_state = state;
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
		pr_info("pvfs%d: host restarted (generation %u -> %u), requests stay queued\n",
			dev->index, dev->generation, gen);
		dev->generation = gen;
		PVFS_STORE_RELEASE(&dev->hdr->guest_generation, gen);
		pvfs_kick_all(dev);
	} else if (state == PVFS_HOST_READY && dev->last_state != PVFS_HOST_READY) {
		pvfs_kick_all(dev);
	}
	dev->last_state = state;
	mutex_unlock(&dev->state_lock);

	schedule_delayed_work(&dev->watchdog, msecs_to_jiffies(PVFS_WATCHDOG_MS));
}

/* ---- probe and remove ---- */

/* Copy and check the creator's geometry; the live header is never trusted. */
static int pvfs_read_geometry(struct pvfs_dev *dev, u64 bar_len)
{
	struct pvfs_region_hdr *hdr = dev->hdr;
	u32 magic = READ_ONCE(hdr->magic);
	u32 abi = READ_ONCE(hdr->abi_version);
	u64 region_size = READ_ONCE(hdr->region_size);
	u32 stride = READ_ONCE(hdr->queue_stride);

	if (magic != PVFS_MAGIC) {
		pr_info("%s: BAR2 has no pvfs region (magic %#x), not binding\n",
			pci_name(dev->pdev), magic);
		return -ENODEV;
	}
	if (abi != PVFS_ABI_VERSION) {
		pr_info("%s: pvfs ABI version %u, driver speaks %u, not binding\n",
			pci_name(dev->pdev), abi, PVFS_ABI_VERSION);
		return -ENODEV;
	}

	dev->nr_queues = READ_ONCE(hdr->nr_queues);
	dev->queue_depth = READ_ONCE(hdr->queue_depth);
	dev->max_segs = READ_ONCE(hdr->max_segs);
	dev->doorbell_peer = READ_ONCE(hdr->doorbell_peer);

	if (!pvfs_geometry_valid(dev->nr_queues, dev->queue_depth, dev->max_segs,
				 stride, region_size) ||
	    region_size > bar_len || dev->doorbell_peer > U16_MAX) {
		pr_info("%s: invalid pvfs geometry (queues %u depth %u segs %u stride %u size %llu, BAR2 %llu, peer %u), not binding\n",
			pci_name(dev->pdev), dev->nr_queues, dev->queue_depth,
			dev->max_segs, stride, region_size, bar_len,
			dev->doorbell_peer);
		return -ENODEV;
	}
	return 0;
}

static int pvfs_wait_ready(struct pvfs_dev *dev)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(ready_timeout_ms);
	u32 state;

	for (;;) {
		state = pvfs_host_state(dev);
		if (state == PVFS_HOST_READY)
			return 0;
		if (state != PVFS_HOST_INIT) {
			pr_info("%s: pvfs host state is %s, not binding\n",
				pci_name(dev->pdev), pvfs_state_name(state));
			return -ENODEV;
		}
		if (time_after(jiffies, deadline))
			break;
		msleep(PVFS_READY_POLL_MS);
	}
	pr_info("%s: pvfs host not READY after %u ms (state %s), not binding\n",
		pci_name(dev->pdev), ready_timeout_ms, pvfs_state_name(state));
	return -ENODEV;
}

/* Copy and check what the host published before it release-stored READY. */
static int pvfs_read_properties(struct pvfs_dev *dev)
{
	struct pvfs_region_hdr *hdr = dev->hdr;
	u64 offered = READ_ONCE(hdr->host_features);

	dev->capacity = READ_ONCE(hdr->capacity);
	dev->lbs = READ_ONCE(hdr->logical_block_size);
	dev->pbs = READ_ONCE(hdr->physical_block_size);
	dev->max_io_bytes = READ_ONCE(hdr->max_io_bytes);
	dev->max_discard_bytes = READ_ONCE(hdr->max_discard_bytes);
	dev->generation = READ_ONCE(hdr->host_generation);

	if (dev->pbs < dev->lbs)
		dev->pbs = dev->lbs;
	if (dev->lbs < SECTOR_SIZE || dev->lbs > PAGE_SIZE ||
	    !is_power_of_2(dev->lbs) || !is_power_of_2(dev->pbs) ||
	    (dev->capacity & (dev->lbs - 1)) || dev->max_io_bytes < PAGE_SIZE ||
	    (dev->max_io_bytes & (dev->lbs - 1))) {
		pr_info("%s: invalid pvfs volume (capacity %llu, block %u/%u, max io %u), not binding\n",
			pci_name(dev->pdev), dev->capacity, dev->lbs, dev->pbs,
			dev->max_io_bytes);
		return -ENODEV;
	}

	/* Never accept a bit the host did not offer, nor one we do not know. */
	dev->features = offered & PVFS_F_ALL;
	dev->max_discard_bytes = round_down(dev->max_discard_bytes, dev->lbs);
	if (!dev->max_discard_bytes)
		dev->features &= ~(PVFS_F_DISCARD | PVFS_F_WRITE_ZEROES);

	WRITE_ONCE(hdr->guest_features, dev->features);
	/* Release: a host that acquires guest_generation sees the features. */
	PVFS_STORE_RELEASE(&hdr->guest_generation, dev->generation);
	return 0;
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
		/* We take interrupts; never ask the host to skip them. */
		WRITE_ONCE(hq->ring.ctrl->cq_flags, 0);
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
 * So wait, bounded by ready_timeout_ms, until the host has consumed every
 * published SQE and its in-flight table for the queue is empty, then skip
 * every completion posted so far. A module reload finds the queue idle
 * (removal waits for our requests), so this costs nothing there.
 */
static void pvfs_quiesce_queue(struct pvfs_dev *dev, struct pvfs_hwq *hq)
{
	struct pvfs_queue *q = &hq->ring;
	unsigned long deadline = jiffies + msecs_to_jiffies(ready_timeout_ms);
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
			pr_warn("pvfs%d: q%u: the host still holds %u request(s) of a previous driver instance (state %s); going on without them\n",
				dev->index, hq->index, busy,
				pvfs_state_name(pvfs_host_state(dev)));
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
		pr_info("pvfs%d: q%u: skipped %u completion(s) of a previous driver instance\n",
			dev->index, hq->index, head - hq->cq_head);
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

	for (q = 0; q < dev->nr_hwqs; q++) {
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

static int pvfs_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct pvfs_dev *dev;
	unsigned int q;
	u64 bar_len;
	int err, nvec;

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
		pr_info("%s: no shared memory BAR, not binding\n", pci_name(pdev));
		err = -ENODEV;
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
		pr_info("%s: cannot map the ivshmem registers, not binding\n",
			pci_name(pdev));
		err = -ENODEV;
		goto out_unmap_region;
	}

	err = pvfs_wait_ready(dev);
	if (err)
		goto out_unmap_regs;
	err = pvfs_read_properties(dev);
	if (err)
		goto out_unmap_regs;

	/* Vector q signals queue q; more queues than CPUs buy nothing. */
	nvec = pci_alloc_irq_vectors(pdev, 1,
				     min(dev->nr_queues, num_online_cpus()),
				     PCI_IRQ_MSIX | PCI_IRQ_AFFINITY);
	if (nvec < 0) {
		pr_info("%s: no MSI-X vectors (%d): use ivshmem-doorbell with vectors=%u, not binding\n",
			pci_name(pdev), nvec, dev->nr_queues);
		err = -ENODEV;
		goto out_unmap_regs;
	}
	dev->nr_hwqs = nvec;

	err = pvfs_alloc_hwqs(dev);
	if (err)
		goto out_free_hwqs;
	for (q = 0; q < dev->nr_hwqs; q++)
		pvfs_quiesce_queue(dev, &dev->hwqs[q]);

	err = pvfs_request_irqs(dev);
	if (err)
		goto out_free_hwqs;

	dev->tag_set.ops = &pvfs_mq_ops;
	dev->tag_set.nr_hw_queues = dev->nr_hwqs;
	dev->tag_set.queue_depth = dev->queue_depth;
	dev->tag_set.numa_node = dev_to_node(&pdev->dev);
	dev->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	dev->tag_set.cmd_size = struct_size((struct pvfs_cmd *)NULL, sg,
					    dev->max_segs);
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

	err = device_add_disk(&pdev->dev, dev->disk, NULL);
	if (err)
		goto out_put_disk;

	schedule_delayed_work(&dev->watchdog, msecs_to_jiffies(PVFS_WATCHDOG_MS));

	pr_info("pvfs%d: %llu bytes, block %u/%u, %u of %u queues x %u, %u segs, max io %u, features %#llx, peer %u, generation %u\n",
		dev->index, dev->capacity, dev->lbs, dev->pbs, dev->nr_hwqs,
		dev->nr_queues, dev->queue_depth, dev->max_segs,
		dev->max_io_bytes, (unsigned long long)dev->features,
		dev->doorbell_peer, dev->generation);
	return 0;

out_put_disk:
	put_disk(dev->disk);
out_free_tag_set:
	blk_mq_free_tag_set(&dev->tag_set);
out_free_irqs:
	pvfs_free_irqs(dev, dev->nr_hwqs);
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
	mutex_unlock(&dev->state_lock);

	/*
	 * The watchdog keeps running while del_gendisk() waits for requests
	 * in flight, so that a host that goes away now still lets it finish.
	 */
	del_gendisk(dev->disk);
	cancel_delayed_work_sync(&dev->watchdog);

	blk_mq_free_tag_set(&dev->tag_set);
	pvfs_free_irqs(dev, dev->nr_hwqs);
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
};
module_pci_driver(pvfs_pci_driver);

MODULE_DESCRIPTION("pvfs paravirtual block device (ivshmem ring to pvfsd)");
MODULE_LICENSE("GPL");
