/* SPDX-License-Identifier: MIT */
/*
 * poller.c - pvfsd's data plane: one thread per poller, each with its own
 * io_uring, serving the tenants pinned to it.
 *
 * One pass of the loop:
 *   1. mailbox: take tenants in or out (only when the control thread set
 *      the flag; the lock is never taken otherwise);
 *   2. reap io_uring completions, continue short transfers, post CQEs to the
 *      guests, then one interrupt per queue that got CQEs (never per CQE);
 *   3. scan every queue's SQ tail (one acquire load each) and tell the
 *      scheduler who has work;
 *   4. dispatch what the scheduler picks: copy the SQE and its segments out
 *      of shared memory once, validate, translate, prepare an io_uring SQE;
 *   5. submit; if nothing happened for the adaptive spin window, go to sleep
 *      the safe way (NEED_WAKEUP, full barrier, re-check every tail) in one
 *      io_uring_enter that also waits for kicks and outstanding completions.
 *
 * Nothing in the loop allocates or locks. Request slots, iovecs and
 * timestamps are preallocated per tenant at plug time (tenant.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "domain.h"
#include "lifecycle.h"
#include "log.h"
#include "poller.h"
#include "poller_test.h"
#include "pvfsd.h"
#include "request.h"
#include "util.h"

#define RING_ENTRIES	1024
#define CQ_ENTRIES	8192
#define FILE_SLOTS	1024
#define MAX_POLLERS	64
#define HEARTBEAT_NS	500000000ull	/* longest sleep: the watchdog needs a pulse */
#define YIELD_NS	100000ull	/* nothing done for this long: yield the CPU this often */

/* user_data kinds in the low 3 bits (every pointer we pass is 8-aligned). */
enum { UD_REQ = 0, UD_KICK = 1, UD_MBOX = 2, UD_IGNORE = 3, UD_CALL = 4, UD_WATCH = 5 };
#define UD(p, kind) ((uint64_t)(uintptr_t)(p) | (kind))
#define UD_PTR(ud) ((void *)(uintptr_t)((ud) & ~7ull))
#define UD_KIND(ud) ((unsigned)((ud) & 7))

enum msg_type { MSG_ADD, MSG_REMOVE, MSG_QOS, MSG_MOVE, MSG_RESIZE, MSG_COALESCE, MSG_DROP_IRQS };

/*
 * A message names its tenant by pointer and id. MSG_ADD hands the tenant
 * over (the control thread owned it until then). Every later message is
 * about a tenant the poller may already have handed back (a remove that
 * finished while a second one, e.g. a forced detach after a VMM's
 * disconnect, was on its way): the poller acts on it only if that tenant
 * is still in its own list with the same id, and never dereferences the
 * message's pointer otherwise (it may be freed, or reused by a new plug).
 */
struct poller_msg {
	struct poller_msg *next;
	enum msg_type type;
	struct tenant_io *tio;
	uint64_t tio_id;
	bool fail_new;
	bool force;
	bool moved;			/* MSG_ADD: arrives from another poller */
	struct sched_qos qos;
	uint64_t capacity;		/* MSG_RESIZE */
	struct irq_coalesce coalesce;	/* MSG_COALESCE */
	uint32_t count;			/* MSG_DROP_IRQS */
};

struct poller {
	int idx;
	pthread_t thread;
	struct io_uring ring;
	struct sched sched;
	struct tenant_io *tenants;
	struct io_queue *hot;		/* queues the pass scans (see "Dormant queues") */
	uint32_t nr_tenants;
	/* Tenants waiting for their I/O to drain: a pass looks at these, not all. */
	struct tenant_io *settling;	/* resetting, or a state due (settle_tenants) */
	struct tenant_io *leaving;	/* removing or moving, not yet handed back */
	uint64_t last_sweep;		/* sweep_dormant */
	uint32_t inflight;		/* io_uring operations (requests) in flight */
	uint32_t pending_sqes;		/* prepared, not yet submitted */
	struct backend_host host;	/* what this poller lends its tenants' backends */
	struct backend_io *bdone;	/* completions backends delivered, reaped this pass */
	struct backend *passes;		/* backends that asked for a pass (backend_want_pass) */

	/* Mailbox: written by the control thread under mbox_lock. */
	pthread_mutex_t mbox_lock;
	struct poller_msg *mbox_head, **mbox_tail;
	int mbox_flag;			/* atomic: the list is non-empty */
	int mbox_efd;
	bool mbox_armed;

	int stop;			/* atomic */
	uint8_t slot_used[FILE_SLOTS];
	uint64_t spin_ns;		/* adaptive idle window */
	uint64_t yielded_ns;		/* last sched_yield() while waiting (poller_main) */
	bool wakeup_set;		/* NEED_WAKEUP is still set from a heartbeat */
	uint64_t irq_wake;		/* earliest coalesced interrupt due, UINT64_MAX: none */
	struct poller_stats st;
	struct pvfs_seg seg_scratch[PVFS_MAX_SEGS];
	/*
	 * Stage stamps (stage.h): requests prepared since the last submit, and
	 * tenants of the requests completed by the current reap, so that one
	 * clock read after the submit or the reap stamps the whole batch.
	 */
	uint32_t nr_unsub, nr_reaped;
	struct io_req *unsub[RING_ENTRIES];
	struct tenant_io *reaped[CQ_ENTRIES];
};

static struct poller *pollers[MAX_POLLERS];
static int nr_pollers;
/* Where io-wq workers may run: pvfsd's CPUs but the pollers' (--cpus only). */
static cpu_set_t iowq_cpus;
static bool iowq_cpus_set;

/* Removes that finished, handed back to the control thread. */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tenant_io *done_head;
static int done_efd = -1;

const char *const pvfs_op_names[PVFS_OP_MAX] = {
	[PVFS_OP_READ] = "read",
	[PVFS_OP_WRITE] = "write",
	[PVFS_OP_FLUSH] = "flush",
	[PVFS_OP_DISCARD] = "discard",
	[PVFS_OP_WRITE_ZEROES] = "write_zeroes",
};

static void start_reset(struct poller *p, struct tenant_io *tio, uint32_t req, uint64_t now);

/* settle_add - settle_tenants looks at tio until its life-cycle step is done. */
static void settle_add(struct poller *p, struct tenant_io *tio)
{
	if (tio->settling)
		return;
	tio->settling = true;
	tio->settle_next = p->settling;
	p->settling = tio;
}

/* settle_del - tio leaves the poller: off the settle list, if on it (a short list). */
static void settle_del(struct poller *p, struct tenant_io *tio)
{
	struct tenant_io **pp;

	if (!tio->settling)
		return;
	for (pp = &p->settling; *pp && *pp != tio; pp = &(*pp)->settle_next)
		;
	if (*pp)
		*pp = tio->settle_next;
	tio->settle_next = NULL;
	tio->settling = false;
}

/* stamp_submitted - the requests prepared since the last submit were just submitted. */
static void stamp_submitted(struct poller *p)
{
	uint64_t t;

	if (!STAGES_ON || !p->nr_unsub)
		return;
	t = now_ns();
	for (uint32_t i = 0; i < p->nr_unsub; i++) {
		struct io_req *req = p->unsub[i];

		req->t_sub = t;
		stage_add(&req->tio->t->st.stages, STAGE_SUBMIT, t - req->t_disp);
	}
	p->nr_unsub = 0;
}

static void submit(struct poller *p)
{
	io_uring_submit(&p->ring);
	p->pending_sqes = 0;
	stamp_submitted(p);
}

static struct io_uring_sqe *get_sqe(struct poller *p)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);

	if (unlikely(!sqe)) {
		/* SQ ring full: hand what we have to the kernel and retry once. */
		submit(p);
		sqe = io_uring_get_sqe(&p->ring);
	}
	if (sqe)
		p->pending_sqes++;
	return sqe;
}

/* ---- guest-visible effects ---- */

/*
 * state_due - the tenant is to end in terminal state st (pvfs_ring.h "Host
 * states"): DRAINING now, st once nothing it consumed is in flight
 * (settle_tenants). A detach's REMOVED wins over BROKEN.
 */
static void state_due(struct tenant_io *tio, uint32_t st)
{
	if (tio->terminal)
		return;
	if (tio->state_due != PVFS_HOST_REMOVED)
		tio->state_due = st;
	settle_add(tio->p, tio);
	PVFS_STORE_RELEASE(&tio->hdr->host_state, (uint32_t)PVFS_HOST_DRAINING);
}

#define GUEST_LOG_NS	1000000000ull	/* one message a guest can trigger, per tenant and second */

/*
 * guest_log_ok - whether a message that a guest can trigger at will (a
 * corrupt ring, a reset: a reset repairs the ring, so both repeat as fast
 * as it likes) may be logged now. One per tenant per GUEST_LOG_NS; more
 * would flood the log from the poller thread and make journald's rate
 * limit drop the messages about every other tenant. *ret_skipped: how many
 * were held back since the last one.
 */
static bool guest_log_ok(struct tenant_io *tio, uint32_t *ret_skipped)
{
	uint64_t now = now_ns();

	if (tio->log_ns && now - tio->log_ns < GUEST_LOG_NS) {
		tio->log_skipped++;
		return false;
	}
	tio->log_ns = now;
	*ret_skipped = tio->log_skipped;
	tio->log_skipped = 0;
	return true;
}

static void mark_broken(struct tenant_io *tio, const char *why)
{
	uint32_t skipped;

	if (tio->broken)
		return;
	tio->broken = true;
	/* Release: whoever sees st.broken below also finds the reason. */
	__atomic_store_n(&tio->t->broken_reason, why, __ATOMIC_RELEASE);
	stat_add(&tio->t->st.broken, 1);
	state_due(tio, PVFS_HOST_BROKEN);
	if (guest_log_ok(tio, &skipped))
		log_warn("tenant %s: ring is corrupt (%s); tenant marked broken, others "
			 "unaffected (%u message(s) about its guest held back)", tio->t->name, why,
			 skipped);
}

/*
 * post_cqe - complete tag with result, keeping the in-flight record's
 * two-phase protocol (pvfs_ring.h "Recovery"): COMPLETING with the CQ index,
 * the CQE, publish, FREE.
 */
static void post_cqe(struct tenant_io *tio, struct io_queue *ioq, uint16_t tag, int32_t res)
{
	struct pvfs_queue *q = &ioq->q;
	struct pvfs_inflight *inf = &q->inflight[tag & q->mask];
	struct pvfs_cqe *cqe;

	if (ioq->cq_tail - ioq->cq_head_seen >= q->depth) {
		ioq->cq_head_seen = PVFS_LOAD_ACQUIRE(&q->ctrl->cq_head);
		if (ioq->cq_tail - ioq->cq_head_seen >= q->depth) {
			/* Only a guest that reuses tags without reaping gets here. */
			mark_broken(tio, "completion queue overflow");
			return;
		}
	}
	PVFS_WRITE_ONCE(&inf->cq_idx, ioq->cq_tail);
	PVFS_WRITE_ONCE(&inf->state, (uint32_t)PVFS_INFLIGHT_COMPLETING);
	cqe = &q->cq[ioq->cq_tail & q->mask];
	cqe->tag = tag;
	cqe->flags = 0;
	cqe->result = res;
	cqe->rsvd = 0;
	ioq->cq_tail++;
	pvfs_cq_publish(q, ioq->cq_tail);
	/* After the publish: a new host instance must see COMPLETING until here. */
	PVFS_WRITE_ONCE(&inf->state, (uint32_t)PVFS_INFLIGHT_FREE);
	ioq->need_irq = true;
}

/* The call eventfd's increment; static: io-wq may read it after the pass. */
static const uint64_t call_one = 1;

/*
 * signal_call - interrupt the guest through io_uring, never with write():
 * the VMM shares the eventfd's file description and may have cleared
 * O_NONBLOCK and filled the counter, and a blocking write would stop every
 * tenant of this poller. With O_NONBLOCK set (tenant_plug sets it) the
 * write completes inline in the submit; without it io_uring hands it to an
 * io-wq worker, where it may block for as long as the VMM likes: one
 * write per queue at most, cancelled when the tenant is removed.
 */
static void signal_call(struct poller *p, struct io_queue *ioq)
{
	struct io_uring_sqe *sqe;

	if (ioq->call_busy) {
		ioq->call_again = true;
		return;
	}
	sqe = get_sqe(p);
	if (unlikely(!sqe)) {
		ioq->need_irq = true;	/* next pass */
		return;
	}
	io_uring_prep_write(sqe, ioq->call_fd, &call_one, sizeof(call_one), 0);
	io_uring_sqe_set_data64(sqe, UD(ioq, UD_CALL));
	ioq->call_busy = true;
	ioq->call_again = false;
	ioq->tio->fd_ops++;
}

/* arm_kick - wait for the guest's doorbell: an io_uring read of kick_fd. */
static void arm_kick(struct poller *p, struct io_queue *ioq)
{
	struct io_uring_sqe *sqe = get_sqe(p);

	if (unlikely(!sqe))
		return;
	/*
	 * eventfd has read_iter and FMODE_NOWAIT: io_uring tries it without
	 * blocking and otherwise waits by poll, whatever O_NONBLOCK says, so
	 * a VMM that drains the counter first costs nothing but a wakeup.
	 */
	io_uring_prep_read(sqe, ioq->kick_fd, &ioq->kick_buf, sizeof(ioq->kick_buf), 0);
	io_uring_sqe_set_data64(sqe, UD(ioq, UD_KICK));
	ioq->kick_armed = true;
	ioq->tio->fd_ops++;
}

static void account(struct tenant *t, unsigned op, int32_t res, uint64_t lat_ns)
{
	struct op_stats *os = &t->st.op[op];

	stat_add(&os->ops, 1);
	if (res < 0)
		stat_add(&os->errors, 1);
	else
		stat_add(&os->bytes, (uint64_t)res);
	stat_add(&os->lat_sum_ns, lat_ns);
	stat_add(&os->lat_hist[hist_bucket(lat_ns)], 1);
}

static void complete_req(struct poller *p, struct io_req *req, int32_t res, uint64_t now)
{
	struct tenant_io *tio = req->tio;

	req->busy = 0;
	account(tio->t, req->op, res, now - req->t_seen);
	post_cqe(tio, req->ioq, req->tag, res);
	if (!req->ioq->irq_cqes++)
		req->ioq->irq_first_ns = now;
}

/* ---- submission ---- */

/*
 * prep_req - hand req's (remaining) operation to the tenant's backend; the
 * backend's -errno (-EAGAIN: io_uring has no room) if it did not take it.
 */
static int prep_req(struct poller *p, struct io_req *req)
{
	struct tenant_io *tio = req->tio;
	struct backend *b = tio->backend;
	struct backend_io *io = &req->bio;
	int r;

	io->op = req->op;
	io->fua = req->fua;
	io->offset = req->offset + req->done;
	io->len = req->len - req->done;
	io->iov = req->iov + req->iov_pos;
	io->nr_iov = req->nr_iov - req->iov_pos;
	io->ud = UD(req, UD_REQ);
	r = b->ops->submit(b, io);
	if (unlikely(r < 0))
		return r;
	/* Stamped "submitted" after this pass's submit; at most RING_ENTRIES between. */
	if (STAGES_ON && p->nr_unsub < RING_ENTRIES)
		p->unsub[p->nr_unsub++] = req;
	tio->inflight++;
	req->ioq->inflight++;
	p->inflight++;
	stat_add(&tio->t->st.inflight, 1);
	return 0;
}

/*
 * start_sqe - take one consumed SQE (already copied) into a request slot.
 * Returns the request if it went to io_uring (and *ret_io is what the
 * scheduler charges), NULL if it was completed (or dropped) at once.
 */
static struct io_req *start_sqe(struct poller *p, struct tenant_io *tio, struct io_queue *ioq,
		     const struct pvfs_sqe *sqe, uint32_t sq_idx, uint64_t seen, uint64_t now,
		     struct sched_io *ret_io)
{
	struct pvfs_queue *q = &ioq->q;
	struct io_req *req;
	struct pvfs_inflight *inf;
	uint32_t nr_iov = 0;
	int r;

	if (unlikely(sqe->tag >= q->depth)) {
		mark_broken(tio, "tag out of range");
		return NULL;
	}
	req = &ioq->reqs[sqe->tag];
	if (unlikely(req->busy)) {
		mark_broken(tio, "tag reused while in flight");
		return NULL;
	}
	/* The in-flight record first: a restarted host re-issues from it. */
	inf = &q->inflight[sqe->tag];
	inf->sqe = *sqe;
	PVFS_WRITE_ONCE(&inf->sq_idx, sq_idx);
	PVFS_WRITE_ONCE(&inf->state, (uint32_t)PVFS_INFLIGHT_ACTIVE);

	req->busy = 1;
	req->sq_idx = sq_idx;
	req->op = sqe->opcode < PVFS_OP_MAX ? sqe->opcode : PVFS_OP_READ;
	req->len = sqe->len;
	req->offset = sqe->offset;
	req->done = 0;
	req->iov_pos = 0;
	req->t_seen = seen;
	req->fua = sqe->flags & PVFS_SQE_FUA;

	if (unlikely(tio->fail_new)) {
		complete_req(p, req, -ENODEV, now);
		return NULL;
	}
	r = -EINVAL;
	if (sqe->nr_segs <= q->max_segs) {
		/* One copy of the segment table out of shared memory. */
		shm_copy(p->seg_scratch, pvfs_tag_segs(q, sqe->tag),
			 sizeof(struct pvfs_seg) * sqe->nr_segs);
		r = request_prepare(tio, sqe, p->seg_scratch, req->iov, &nr_iov);
	}
	if (unlikely(r)) {
		stat_add(&tio->t->st.invalid, 1);
		complete_req(p, req, r, now);
		return NULL;
	}
	req->nr_iov = nr_iov;
	req->t_disp = now;
	stat_add(&tio->t->st.queue_delay_ns, now - seen);
	stage_add(&tio->t->st.stages, STAGE_QUEUE, now - seen);
	r = prep_req(p, req);
	if (unlikely(r)) {
		complete_req(p, req, r, now);
		return NULL;
	}
	stat_add(&tio->t->st.dispatched, 1);
	/*
	 * For the scheduler's cost and bytes/s limit: DISCARD and
	 * WRITE_ZEROES count their length like a write (zeroing a block
	 * device is write bandwidth), only FLUSH is free of bytes.
	 */
	ret_io->op = req->op == PVFS_OP_READ ? SCHED_IO_READ :
		     req->op == PVFS_OP_FLUSH ? SCHED_IO_FLUSH : SCHED_IO_WRITE;
	ret_io->bytes = req->op == PVFS_OP_FLUSH ? 0 : req->len;
	ret_io->offset = req->offset;
	return req;
}

/* What dispatch_one did with a tenant's next request. */
enum dispatch_result {
	DISPATCH_NONE,		/* the tenant has no work left */
	DISPATCH_SUBMITTED,	/* an SQE went to io_uring */
	DISPATCH_COMPLETED,	/* completed at once (invalid, -ENODEV, corrupt): not in flight */
};

/* has_sqes - tio has SQEs seen and not yet taken (or records to recover). */
static bool has_sqes(const struct tenant_io *tio)
{
	if (tio->has_recov)
		return true;
	for (uint32_t i = 0; i < tio->nr_queues; i++)
		if (tio->queues[i].sq_head != tio->queues[i].seen_tail)
			return true;
	return false;
}

/*
 * dispatch_one - take the next SQE of tio (round-robin over its queues);
 * *ret_req is the request when it went to the backend (DISPATCH_SUBMITTED).
 */
static enum dispatch_result dispatch_one(struct poller *p, struct tenant_io *tio, uint64_t now,
					 struct sched_io *ret_io, struct io_req **ret_req)
{
	/* Requests of a previous pvfsd first, in the order recover() found them. */
	while (unlikely(tio->has_recov)) {
		for (uint32_t i = 0; i < tio->nr_queues; i++) {
			struct io_queue *ioq = &tio->queues[i];
			struct pvfs_inflight *inf;
			struct pvfs_sqe sqe;
			uint16_t tag;

			if (ioq->recov_pos == ioq->nr_recov)
				continue;
			tag = ioq->recov_tags[ioq->recov_pos++];
			inf = &ioq->q.inflight[tag];
			/* One copy, then validated like a fresh SQE by start_sqe. */
			shm_copy(&sqe, &inf->sqe, sizeof(sqe));
			if (sqe.tag != tag) {
				mark_broken(tio, "in-flight table corrupt");
				return DISPATCH_COMPLETED;
			}
			*ret_req = start_sqe(p, tio, ioq, &sqe, PVFS_READ_ONCE(&inf->sq_idx), now,
					     now, ret_io);
			return *ret_req ? DISPATCH_SUBMITTED : DISPATCH_COMPLETED;
		}
		tio->has_recov = false;
	}
	for (uint32_t n = 0; n < tio->nr_queues; n++) {
		struct io_queue *ioq = &tio->queues[(tio->rr_queue + n) % tio->nr_queues];
		struct pvfs_sqe sqe;
		uint32_t idx;

		if (ioq->sq_head == ioq->seen_tail)
			continue;
		idx = ioq->sq_head;
		/* One copy out of shared memory; all checks use the copy. */
		shm_copy(&sqe, &ioq->q.sq[idx & ioq->q.mask], sizeof(sqe));
		ioq->sq_head++;
		tio->rr_queue = (tio->rr_queue + n + 1) % tio->nr_queues;
		*ret_req = start_sqe(p, tio, ioq, &sqe, idx, ioq->seen_ns[idx & ioq->q.mask], now,
				     ret_io);
		pvfs_sq_consume(&ioq->q, ioq->sq_head);
		return *ret_req ? DISPATCH_SUBMITTED : DISPATCH_COMPLETED;
	}
	return DISPATCH_NONE;
}

/*
 * Dormant queues. A poller pass looks only at its hot queues, so that its
 * cost grows with the busy queues, not with the plugged ones. A queue that
 * has had no new SQE and nothing in the backend for its own adaptive window
 * (spin_ns, between the --poll-us bounds, adapted like the poller's own)
 * goes dormant: NEED_WAKEUP is set on that ring alone, a full barrier, and
 * the tail read again (pvfs_host_prepare_sleep, which pairs with the
 * guest's pvfs_sq_needs_kick: either we see its new tail, or it sees the
 * flag and rings), its kick read is armed in io_uring, and it leaves the
 * hot list. The kick's completion wakes it (handle_kick). A queue woken
 * soon after it went dormant doubles its window; one that stayed dormant
 * longer than poll_max halves it. The poller's own sleep (try_sleep) is
 * unchanged, over the queues still hot; a dormant queue keeps its flag
 * when the poller wakes (clear_wakeup touches hot queues only).
 */
static void hot_add(struct poller *p, struct io_queue *ioq)
{
	if (ioq->hot_pprev)
		return;
	ioq->hot_next = p->hot;
	if (p->hot)
		p->hot->hot_pprev = &ioq->hot_next;
	p->hot = ioq;
	ioq->hot_pprev = &p->hot;
}

static void hot_del(struct io_queue *ioq)
{
	if (!ioq->hot_pprev)
		return;
	*ioq->hot_pprev = ioq->hot_next;
	if (ioq->hot_next)
		ioq->hot_next->hot_pprev = ioq->hot_pprev;
	ioq->hot_next = NULL;
	ioq->hot_pprev = NULL;
}

/*
 * go_dormant - take a quiet queue off the hot list unless its tail moved
 * meanwhile (check_tail false: a broken or terminal ring, whose tail means
 * nothing any more; it waits for a reset's doorbell only).
 */
static void go_dormant(struct poller *p, struct io_queue *ioq, uint64_t now, bool check_tail)
{
	if (!pvfs_host_prepare_sleep(&ioq->q, ioq->seen_tail) && check_tail) {
		pvfs_host_clear_wakeup(&ioq->q);	/* new SQEs: the next pass takes them */
		ioq->last_work = now;
		return;
	}
	if (!ioq->kick_armed)
		arm_kick(p, ioq);
	if (unlikely(!ioq->kick_armed)) {
		/* No io_uring SQE for the kick read: stay hot, try again later. */
		pvfs_host_clear_wakeup(&ioq->q);
		return;
	}
	hot_del(ioq);
	ioq->dormant = true;
	ioq->dormant_at = now;
	stat_add(&p->st.dormant, 1);
}

/* wake_queue - its doorbell rang (or its tenant leaves this poller): scan it again. */
static void wake_queue(struct poller *p, struct io_queue *ioq, uint64_t now)
{
	uint64_t lo = (uint64_t)cfg.poll_min_us * 1000, hi = (uint64_t)cfg.poll_max_us * 1000;

	if (!ioq->dormant)
		return;
	ioq->dormant = false;
	pvfs_host_clear_wakeup(&ioq->q);
	hot_add(p, ioq);
	ioq->last_work = now;
	if (now - ioq->dormant_at < hi)
		ioq->spin_ns = MIN(ioq->spin_ns * 2, hi);
	else
		ioq->spin_ns = MAX(ioq->spin_ns / 2, lo);
}

/*
 * sweep_dormant - once per heartbeat interval, look at every dormant queue:
 * one whose guest published SQEs (or, on queue 0, asked for a reset)
 * without ringing its doorbell is woken anyway. A correct guest always
 * rings; this bounds what a buggy or hostile one costs itself (its ring is
 * still checked, and found corrupt, within half a second, as when the
 * whole poller sleeps), at O(plugged queues) per half second.
 */
static void sweep_dormant(struct poller *p, uint64_t now)
{
	uint32_t req;

	p->last_sweep = now;
	for (struct tenant_io *tio = p->tenants; tio; tio = tio->next) {
		for (uint32_t i = 0; i < tio->nr_queues; i++) {
			struct io_queue *ioq = &tio->queues[i];

			if (!ioq->dormant)
				continue;
			if ((!tio->broken && !tio->terminal &&
			     PVFS_READ_ONCE(&ioq->q.ctrl->sq_tail) != ioq->seen_tail) ||
			    (i == 0 && pvfs_host_reset_pending(tio->hdr, tio->reset_ack, &req)))
				wake_queue(p, ioq, now);
		}
	}
}

/*
 * scan - observe every hot queue's SQ tail once; quiet ones go dormant.
 * Returns 1 if any tenant has work. The tail may only move forward, and at
 * most to sq_head + depth: anything else (backwards, or further) is
 * corruption. Checking only "tail - sq_head <= depth" let a tail moved back
 * between sq_head and the last tail seen through, and the time-stamp loop
 * below then ran ~2^32 times, stalling every tenant of the poller for
 * seconds.
 */
static int scan(struct poller *p, uint64_t now)
{
	struct io_queue *ioq, *next;
	int any = 0;

	for (ioq = p->hot; ioq; ioq = next) {
		struct tenant_io *tio = ioq->tio;
		uint32_t tail, req;

		next = ioq->hot_next;
		/*
		 * One load per hot queue 0 and pass: the guest's line, written
		 * only by a reset, which also rings queue 0's doorbell whatever
		 * sq_flags say, so a dormant queue 0 wakes for it.
		 */
		if (ioq == tio->queues &&
		    unlikely(pvfs_host_reset_pending(tio->hdr, tio->reset_ack, &req)) &&
		    !tio->resetting && !tio->removing && !tio->moving)
			start_reset(p, tio, req, now);
		if (tio->moving || tio->resetting || (tio->removing && !tio->fail_new))
			continue;
		if (tio->broken || tio->terminal) {
			/*
			 * Nothing to scan: it waits for a reset only, or for its
			 * I/O to drain. Queue 0 stays hot, for a reset requested
			 * without its doorbell (one load per pass, as before).
			 */
			if (ioq != tio->queues && !ioq->inflight && !ioq->need_irq &&
			    !ioq->call_busy && !tio->removing)
				go_dormant(p, ioq, now, false);
			continue;
		}
		if (tio->moving || (tio->removing && !tio->fail_new))
			continue;
		tail = pvfs_sq_tail_acquire(&ioq->q);
		if (tail != ioq->seen_tail) {
			/* seen_tail - sq_head <= depth always holds. */
			if (tail - ioq->seen_tail > ioq->q.depth - (ioq->seen_tail - ioq->sq_head)) {
				mark_broken(tio, (int32_t)(tail - ioq->seen_tail) < 0 ?
					    "submission tail moved backwards" :
					    "submission tail beyond queue depth");
				continue;
			}
			for (uint32_t j = ioq->seen_tail; j != tail; j++)
				ioq->seen_ns[j & ioq->q.mask] = now;
			ioq->seen_tail = tail;
			ioq->last_work = now;
		}
		if (ioq->sq_head != ioq->seen_tail || unlikely(tio->has_recov)) {
			sched_activate(&p->sched, &tio->se, now);
			any = 1;
		} else if (!ioq->inflight && !ioq->need_irq && !ioq->call_busy && !tio->removing &&
			   now - ioq->last_work >= ioq->spin_ns) {
			go_dormant(p, ioq, now, true);
		}
	}
	return any;
}

static int dispatch(struct poller *p, uint64_t now, uint64_t *ret_wake)
{
	struct sched_entity *se;
	int n = 0;

	while ((se = sched_pick(&p->sched, now, ret_wake))) {
		struct tenant_io *tio = container_of(se, struct tenant_io, se);
		struct sched_io io = { .op = SCHED_IO_READ };
		struct io_req *req = NULL;
		unsigned cls;
		enum dispatch_result r = tio->broken || tio->resetting || tio->terminal ?
					 DISPATCH_NONE : dispatch_one(p, tio, now, &io, &req);

		if (r == DISPATCH_NONE) {
			sched_deactivate(&p->sched, se, now);
			continue;
		}
		cls = sched_dispatched(&p->sched, se, &io, now);
		/* Completed at once (invalid, -ENODEV): nothing stays in flight. */
		if (r == DISPATCH_COMPLETED)
			sched_completed(&p->sched, se, 0, now);
		else
			req->learn_cls = (uint8_t)cls;
		n++;
		/*
		 * Its last SQE: off the scheduler now, not after one more pick
		 * that finds nothing (a pick, a dispatch_one and the final
		 * empty pick: about 0.15 µs of every QD1 request's path).
		 */
		if (!has_sqes(tio))
			sched_deactivate(&p->sched, se, now);
	}
	return n;
}

/* ---- completions ---- */

/* stamp_reaped - the CQEs of the requests reaped since now were just published. */
static void stamp_reaped(struct poller *p, uint64_t now)
{
	uint64_t t;

	if (!STAGES_ON || !p->nr_reaped)
		return;
	t = now_ns();
	for (uint32_t i = 0; i < p->nr_reaped; i++)
		stage_add(&p->reaped[i]->t->st.stages, STAGE_COMPLETE, t - now);
	p->nr_reaped = 0;
}

static void handle_req_cqe(struct poller *p, struct io_req *req, int32_t res, uint64_t now)
{
	struct tenant_io *tio = req->tio;

	tio->inflight--;
	req->ioq->inflight--;
	req->ioq->last_work = now;
	p->inflight--;
	stat_add(&tio->t->st.inflight, (uint64_t)-1);
	if (unlikely(tio->resetting)) {
		/* The guest forgot it: no CQE, no continuation (pvfs_ring.h "Reset"). */
		req->busy = 0;
		account(tio->t, req->op, -ECANCELED, now - req->t_seen);
		sched_completed(&p->sched, &tio->se, now - req->t_seen, now);
		return;
	}
	if (res > 0 && (req->op == PVFS_OP_READ || req->op == PVFS_OP_WRITE)) {
		req->done += (uint32_t)res;
		if (req->done < req->len) {
			/*
			 * Short transfer: continue with the rest, do not report it.
			 * For the scheduler it is still the same request in flight.
			 */
			request_advance_iov(req->iov, req->nr_iov, &req->iov_pos, (uint32_t)res);
			res = prep_req(p, req);
			if (likely(!res))
				return;
		} else {
			res = (int32_t)req->done;
		}
	} else if (res == 0 && (req->op == PVFS_OP_READ || req->op == PVFS_OP_WRITE)) {
		res = -EIO;	/* no progress inside the volume: not retriable */
	}
	if (res >= 0)
		sched_learn(&tio->se, req->learn_cls, req->len, now);
	sched_completed(&p->sched, &tio->se, now - req->t_seen, now);
	if (STAGES_ON) {
		stage_add(&tio->t->st.stages, STAGE_BACKEND, now - req->t_sub);
		if (p->nr_reaped == CQ_ENTRIES)
			stamp_reaped(p, now);
		p->reaped[p->nr_reaped++] = tio;
	}
	complete_req(p, req, res, now);
}

static void handle_kick(struct poller *p, struct io_queue *ioq, int res, uint64_t now)
{
	ioq->kick_armed = false;
	wake_queue(p, ioq, now);
	ioq->tio->fd_ops--;
	/* The read reset the counter: the next one waits for a new kick. */
	if (res == (int)sizeof(ioq->kick_buf))
		stat_add(&ioq->tio->t->st.doorbells, ioq->kick_buf);
}

static void handle_call(struct poller *p, struct io_queue *ioq, int res)
{
	struct tenant_io *tio = ioq->tio;

	ioq->call_busy = false;
	tio->fd_ops--;
	if (res == (int)sizeof(call_one))
		stat_add(&tio->t->st.interrupts, 1);
	if (ioq->call_again && !tio->fd_cancelled)
		signal_call(p, ioq);
}

static int reap(struct poller *p, uint64_t now)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	/*
	 * COOP_TASKRUN: a completion that needs the kernel's task work (an
	 * O_DIRECT read finished by the disk's interrupt on another CPU) does
	 * not interrupt the spinning poller with an IPI; the kernel flags it
	 * and the poller runs it here, one system call for the whole batch,
	 * only when there is some. (bench/README.md: the IPI and the
	 * interrupted pass cost 9 µs p50 per O_DIRECT read on the development
	 * VM.) A poller asleep in io_uring_enter is still woken.
	 */
	if (IO_URING_READ_ONCE(*p->ring.sq.kflags) & IORING_SQ_TASKRUN)
		io_uring_get_events(&p->ring);
	io_uring_for_each_cqe(&p->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);

		n++;
		switch (UD_KIND(ud)) {
		case UD_REQ:
			handle_req_cqe(p, UD_PTR(ud), cqe->res, now);
			break;
		case UD_KICK:
			handle_kick(p, UD_PTR(ud), cqe->res, now);
			break;
		case UD_CALL:
			handle_call(p, UD_PTR(ud), cqe->res);
			break;
		case UD_WATCH: {
			struct backend_watch *w = UD_PTR(ud);

			w->armed = false;
			w->b->watches--;
			w->fn(w, cqe->res);
			break;
		}
		case UD_MBOX: {
			uint64_t v;

			p->mbox_armed = false;
			if (read(p->mbox_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("poller %d: mailbox read: %m", p->idx);
			break;
		}
		default:
			break;
		}
	}
	if (n)
		io_uring_cq_advance(&p->ring, n);
	/* Completions of backends that do not complete through io_uring. */
	while (p->bdone) {
		struct backend_io *io = p->bdone;

		p->bdone = io->next;
		handle_req_cqe(p, container_of(io, struct io_req, bio), io->res, now);
		n++;
	}
	stamp_reaped(p, now);
	return (int)n;
}

/*
 * backend_passes - the per-pass hook of the backends that asked for it
 * (e.g. to arm a watch): O(those), not O(plugged). One that asks again
 * from its pass (io_uring still full) runs in the next pass.
 */
static void backend_passes(struct poller *p)
{
	struct backend *b = p->passes, *next;

	p->passes = NULL;
	for (; b; b = next) {
		next = b->pass_next;
		b->pass_next = NULL;
		b->want_pass = false;
		b->ops->pass(b);
	}
}

/* passes_del - b leaves this poller (unbound): off the pass list, if on it. */
static void passes_del(struct poller *p, struct backend *b)
{
	struct backend **pp;

	if (!b->want_pass)
		return;
	for (pp = &p->passes; *pp && *pp != b; pp = &(*pp)->pass_next)
		;
	if (*pp)
		*pp = b->pass_next;
	b->pass_next = NULL;
	b->want_pass = false;
}

/*
 * coalesce_hold - true if ioq's interrupt waits for more CQEs (interrupt
 * coalescing): until count of them are posted or the first has waited
 * coalesce.us, whichever is first; the poller wakes up for the deadline.
 * When it fires and the guest has reaped everything meanwhile (it polls, or
 * another queue's interrupt woke it), no interrupt is needed at all.
 */
static bool coalesce_hold(struct poller *p, struct tenant_io *tio, struct io_queue *ioq,
			  uint64_t now)
{
	uint64_t due = ioq->irq_first_ns + (uint64_t)tio->coalesce.us * 1000;

	if (now < due && (!tio->coalesce.count || ioq->irq_cqes < tio->coalesce.count)) {
		p->irq_wake = MIN(p->irq_wake, due);
		return true;
	}
	if (PVFS_LOAD_ACQUIRE(&ioq->q.ctrl->cq_head) == ioq->cq_tail) {
		stat_add(&tio->t->st.coalesced, ioq->irq_cqes);
		ioq->need_irq = false;
		ioq->irq_cqes = 0;
		return true;
	}
	if (ioq->irq_cqes > 1)
		stat_add(&tio->t->st.coalesced, ioq->irq_cqes - 1);
	return false;
}

/*
 * interrupt - signal ioq's guest, unless the test hook eats this one. The
 * hook only eats an interrupt the guest needs at this instant (CQEs it has
 * not reaped), so that a test's drop is not spent on a completion the
 * guest's submission path already took.
 */
static void interrupt(struct poller *p, struct tenant_io *tio, struct io_queue *ioq)
{
	if (unlikely(tio->drop_irqs) &&
	    PVFS_LOAD_ACQUIRE(&ioq->q.ctrl->cq_head) != ioq->cq_tail) {
		tio->drop_irqs--;
		stat_add(&tio->t->st.interrupts_dropped, 1);
		return;
	}
	signal_call(p, ioq);
}

/*
 * signal_guests - one interrupt per queue that got CQEs in this batch (a
 * queue whose last interrupt is still being written gets one more after
 * it, covering everything posted meanwhile).
 */
static void signal_guests(struct poller *p)
{
	uint64_t now = 0;

	p->irq_wake = UINT64_MAX;
	/* A dormant queue has nothing in flight and no interrupt due. */
	for (struct io_queue *ioq = p->hot; ioq; ioq = ioq->hot_next) {
		struct tenant_io *tio = ioq->tio;

		if (!ioq->need_irq || tio->fd_cancelled)
			continue;
		if (unlikely(tio->coalesce.us) && !ioq->force_irq) {
			if (!now)
				now = now_ns();
			if (coalesce_hold(p, tio, ioq, now))
				continue;
		}
		ioq->need_irq = false;
		ioq->irq_cqes = 0;
		if (ioq->force_irq || pvfs_cq_wants_interrupt(&ioq->q)) {
			ioq->force_irq = false;
			interrupt(p, tio, ioq);
		}
	}
}

/* ---- tenants in and out ---- */

/*
 * recover - find what a previous host instance consumed but did not
 * complete (pvfs_ring.h "Recovery") and queue it for re-issue through the
 * scheduler, ahead of any new SQE: limits and shares apply to it like to
 * anything else the guest asks for, and dispatch_one validates each record
 * like a fresh SQE. A record whose SQE was never consumed (its sq_idx is
 * not behind sq_head: the old host died between the two) is dropped: the
 * SQE is still in the SQ and is taken from there, once. The loop is
 * bounded by the geometry copied at plug, whatever the table holds.
 */
static void recover(struct tenant_io *tio)
{
	uint32_t found = 0;

	for (uint32_t i = 0; i < tio->nr_queues; i++) {
		struct io_queue *ioq = &tio->queues[i];
		struct pvfs_queue *q = &ioq->q;

		for (uint32_t tag = 0; tag < q->depth; tag++) {
			struct pvfs_inflight *inf = &q->inflight[tag];
			uint32_t state = PVFS_READ_ONCE(&inf->state);

			if (state == PVFS_INFLIGHT_FREE)
				continue;
			if ((state == PVFS_INFLIGHT_COMPLETING &&
			     (int32_t)(PVFS_READ_ONCE(&inf->cq_idx) - ioq->cq_tail) < 0) ||
			    (int32_t)(PVFS_READ_ONCE(&inf->sq_idx) - ioq->sq_head) >= 0) {
				/* Its CQE was published, or its SQE is still queued. */
				PVFS_WRITE_ONCE(&inf->state, (uint32_t)PVFS_INFLIGHT_FREE);
				continue;
			}
			ioq->recov_tags[ioq->nr_recov++] = (uint16_t)tag;
		}
		found += ioq->nr_recov;
	}
	if (found) {
		tio->has_recov = true;
		log_notice("tenant %s: re-issuing %u in-flight request(s) of a previous pvfsd",
			   tio->t->name, found);
	}
}

/*
 * arrive - a tenant handed over by another poller (poller_move): it left
 * that poller at a quiescent point (nothing in flight, its eventfd
 * operations cancelled), with its ring indices, recovered requests still
 * to re-issue and QoS in tio. An interrupt the old poller had to cancel
 * may not have reached the guest: send one on every queue (a guest that
 * has nothing new to reap takes a spurious interrupt, never a lost one).
 */
static void arrive(struct tenant_io *tio)
{
	tio->moving = false;
	tio->fd_cancelled = false;
	tio->fd_cancel_sent = false;
	for (uint32_t i = 0; i < tio->nr_queues; i++)
		tio->queues[i].need_irq = true;
}

static void add_tenant(struct poller *p, struct tenant_io *tio, uint64_t now, bool moved)
{
	int r = tio->backend->ops->bind(tio->backend, &p->host);

	if (r < 0) {
		log_err("tenant %s: binding its %s volume to poller %d: %s", tio->t->name,
			tio->backend->ops->kind, p->idx, strerror(-r));
		mark_broken(tio, "volume registration failed");
		passes_del(p, tio->backend);
	} else {
		tio->bound = true;
	}
	tio->next = p->tenants;
	p->tenants = tio;
	for (uint32_t i = 0; i < tio->nr_queues; i++) {
		struct io_queue *ioq = &tio->queues[i];

		ioq->last_work = now;
		ioq->spin_ns = (uint64_t)cfg.poll_min_us * 1000;
		hot_add(p, ioq);
	}
	__atomic_store_n(&p->nr_tenants, p->nr_tenants + 1, __ATOMIC_RELAXED);
	/* attach validated the QoS and the slots bound the entity count. */
	if (moved) {
		/*
		 * Its place in the fair order, tags and debts come with it; its
		 * QoS is the newest (a set_qos that reached the old poller after
		 * the hand-back was dropped there).
		 */
		sched_entity_attach(&p->sched, &tio->se, now);
		sched_set_qos(&p->sched, &tio->se, &tio->qos, now);
		arrive(tio);
		return;
	}
	sched_entity_add(&p->sched, &tio->se, tio->dom, &tio->qos, now);
	if (!tio->broken)
		recover(tio);
}

static bool cancel_ud(struct poller *p, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(p);

	if (!sqe)
		return false;
	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, UD(NULL, UD_IGNORE));
	return true;
}

/*
 * cancel_eventfd_ops - the pending kick reads, and the call writes if calls
 * too. False if io_uring had no room for every cancel (try again later).
 */
static bool cancel_eventfd_ops(struct poller *p, struct tenant_io *tio, bool calls)
{
	bool all = true;

	for (uint32_t i = 0; i < tio->nr_queues; i++) {
		struct io_queue *ioq = &tio->queues[i];

		if (ioq->kick_armed)
			all &= cancel_ud(p, UD(ioq, UD_KICK));
		if (calls && ioq->call_busy)
			all &= cancel_ud(p, UD(ioq, UD_CALL));
	}
	return all;
}

/*
 * cancel_io - forced detach: the backend cancels or fails what it can.
 * Whatever cannot be cancelled still completes; either way each request
 * completes once, and only then is the tenant's memory released.
 */
static void cancel_io(struct tenant_io *tio)
{
	if (tio->bound)
		tio->backend->ops->cancel(tio->backend);
}

/*
 * start_reset - the guest asked to forget its previous life (pvfs_ring.h
 * "Reset"): take no SQE, cancel what is in flight, and post nothing for it
 * (handle_req_cqe); settle_tenants finishes once it has all come back.
 */
static void start_reset(struct poller *p, struct tenant_io *tio, uint32_t req, uint64_t now)
{
	uint32_t skipped;

	tio->resetting = true;
	tio->reset_req = req;
	settle_add(p, tio);
	/* Hot through the reset: lifecycle_reset_ring clears every NEED_WAKEUP. */
	for (uint32_t i = 0; i < tio->nr_queues; i++)
		wake_queue(p, &tio->queues[i], now);
	sched_deactivate(&p->sched, &tio->se, now);
	if (tio->inflight)
		cancel_io(tio);
	if (guest_log_ok(tio, &skipped))
		log_notice("tenant %s: the guest asked for a reset; cancelling its %u request(s) "
			   "in flight (%u message(s) about its guest held back)", tio->t->name,
			   tio->inflight, skipped);
}

/*
 * settle_tenants - the life-cycle steps that wait for a tenant's in-flight
 * I/O to drain: answer a reset (a BROKEN ring comes back READY), or publish
 * the terminal state due (pvfs_ring.h "Host states"), after which the ring
 * and the guest's memory are not touched again.
 */
static void settle_tenants(struct poller *p)
{
	struct tenant_io **pp = &p->settling, *tio;

	while ((tio = *pp)) {
		/* Only tenants still draining need another look. */
		if (tio->inflight) {
			pp = &tio->settle_next;
			continue;
		}
		*pp = tio->settle_next;
		tio->settle_next = NULL;
		tio->settling = false;
		if (tio->resetting) {
			/*
			 * A reset repairs a corrupt ring, not a volume that never
			 * bound to this poller: that tenant stays BROKEN (its
			 * backend has no host to submit to).
			 */
			if (tio->bound && (tio->broken || tio->state_due == PVFS_HOST_BROKEN)) {
				tio->broken = false;
				tio->state_due = 0;
				tio->terminal = false;
				__atomic_store_n(&tio->t->broken_reason, NULL, __ATOMIC_RELAXED);
				__atomic_store_n(&tio->t->st.broken, 0, __ATOMIC_RELAXED);
				PVFS_STORE_RELEASE(&tio->hdr->host_state, (uint32_t)PVFS_HOST_READY);
				/* A resize that came while BROKEN: the guest re-reads it after the ack. */
				lifecycle_set_capacity(tio, tio->capacity);
			}
			lifecycle_reset_ring(tio, tio->reset_req);
			tio->resetting = false;
			stat_add(&tio->t->st.resets, 1);
			/* Its start was logged (guest_log_ok): the end only for debugging. */
			log_debug("tenant %s: reset done; the guest starts afresh", tio->t->name);
		}
		if (tio->state_due && !tio->terminal) {
			/* Release: a guest that sees it sees every CQE posted before. */
			PVFS_STORE_RELEASE(&tio->hdr->host_state, tio->state_due);
			tio->terminal = true;
		}
	}
}

/*
 * finish_removes - hand back tenants whose last operation has completed.
 * Once a removed tenant's I/O has drained, the interrupts it still had on
 * their way are cancelled and no new ones start (a VMM may make a call
 * write block forever: the drain must not wait for it).
 */
static void finish_removes(struct poller *p)
{
	struct tenant_io **pp = &p->leaving, **tp, *tio;
	int any = 0;

	/* A move hands the tenant back like a remove, at the same quiescent point. */
	while ((tio = *pp)) {
		if (tio->inflight) {
			pp = &tio->leave_next;
			continue;
		}
		if (tio->fd_ops) {
			tio->fd_cancelled = true;	/* no new eventfd operations */
			if (!tio->fd_cancel_sent)
				tio->fd_cancel_sent = cancel_eventfd_ops(p, tio, true);
			pp = &tio->leave_next;
			continue;
		}
		/* The backend lets go of the poller: its watches cancelled and reaped. */
		if (tio->bound && tio->backend->ops->unbind(tio->backend)) {
			tio->bound = false;
			passes_del(p, tio->backend);
		}
		if (tio->bound || tio->backend->watches) {
			pp = &tio->leave_next;
			continue;
		}
		*pp = tio->leave_next;
		tio->leave_next = NULL;
		/* Once per tenant that leaves, never per pass: O(plugged) is fine here. */
		for (tp = &p->tenants; *tp != tio; tp = &(*tp)->next)
			;
		*tp = tio->next;
		settle_del(p, tio);
		for (uint32_t i = 0; i < tio->nr_queues; i++)
			hot_del(&tio->queues[i]);
		__atomic_store_n(&p->nr_tenants, p->nr_tenants - 1, __ATOMIC_RELAXED);
		/* A move keeps the tenant's scheduling state for the next poller. */
		if (tio->moving)
			sched_entity_detach(&p->sched, &tio->se, now_ns());
		else
			sched_entity_remove(&p->sched, &tio->se);
		pthread_mutex_lock(&done_lock);
		tio->next = done_head;
		done_head = tio;
		pthread_mutex_unlock(&done_lock);
		any = 1;
	}
	if (any) {
		uint64_t one = 1;

		if (write(done_efd, &one, sizeof(one)) < 0)
			log_err("poller %d: cannot signal the control thread: %m", p->idx);
	}
}

/* owned - the message's tenant if this poller still serves it, else NULL. */
static struct tenant_io *owned(struct poller *p, const struct poller_msg *m)
{
	for (struct tenant_io *tio = p->tenants; tio; tio = tio->next)
		if (tio == m->tio && tio->id == m->tio_id)
			return tio;
	return NULL;
}

static void process_mailbox(struct poller *p, uint64_t now)
{
	struct poller_msg *m, *next;
	struct tenant_io *tio;

	pthread_mutex_lock(&p->mbox_lock);
	m = p->mbox_head;
	p->mbox_head = NULL;
	p->mbox_tail = &p->mbox_head;
	__atomic_store_n(&p->mbox_flag, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&p->mbox_lock);

	for (; m; m = next) {
		next = m->next;
		switch (m->type) {
		case MSG_ADD:
			add_tenant(p, m->tio, now, m->moved);
			break;
		case MSG_REMOVE:
			tio = owned(p, m);
			if (!tio)
				break;	/* drained and handed back already */
			if (!tio->removing && !tio->moving) {
				/* A move is on the list already. */
				tio->leave_next = p->leaving;
				p->leaving = tio;
			}
			tio->removing = true;
			tio->moving = false;	/* a remove wins over a move */
			/* Hot again, as before going dormant: a detach fails what it finds there. */
			for (uint32_t i = 0; i < tio->nr_queues; i++)
				wake_queue(p, &tio->queues[i], now);
			/* A second remove may upgrade (unplug, then detach), never downgrade. */
			if (m->fail_new && !tio->fail_new) {
				tio->fail_new = true;
				/* Detach: the guest sees the device go away, once drained. */
				state_due(tio, PVFS_HOST_REMOVED);
			}
			sched_deactivate(&p->sched, &tio->se, now);
			cancel_eventfd_ops(p, tio, false);
			if (m->force)
				cancel_io(tio);
			break;
		case MSG_QOS:
			tio = owned(p, m);
			if (tio)
				sched_set_qos(&p->sched, &tio->se, &m->qos, now);
			break;
		case MSG_MOVE:
			/*
			 * Stop consuming its SQEs; finish_removes hands it back
			 * once its last request has completed (what the guest
			 * queues meanwhile waits in its SQ for the new poller).
			 */
			tio = owned(p, m);
			if (!tio || tio->removing)
				break;
			if (!tio->moving) {
				tio->leave_next = p->leaving;
				p->leaving = tio;
			}
			tio->moving = true;
			/* Hot until it leaves: the new poller takes its queues as they are. */
			for (uint32_t i = 0; i < tio->nr_queues; i++)
				wake_queue(p, &tio->queues[i], now);
			sched_deactivate(&p->sched, &tio->se, now);
			cancel_eventfd_ops(p, tio, false);
			break;
		case MSG_RESIZE:
			tio = owned(p, m);
			if (tio && tio->terminal && m->capacity > tio->capacity) {
				/* Hands off the region: a reset that repairs it publishes it. */
				tio->capacity = m->capacity;
			} else if (tio && m->capacity > tio->capacity) {
				lifecycle_set_capacity(tio, m->capacity);
				/* pvfs_ring.h "Volume properties": queue 0, whatever its flags. */
				tio->queues[0].need_irq = true;
				tio->queues[0].force_irq = true;
				wake_queue(p, &tio->queues[0], now);	/* signal_guests: hot only */
			}
			break;
		case MSG_COALESCE:
			tio = owned(p, m);
			if (tio)
				tio->coalesce = m->coalesce;
			break;
		case MSG_DROP_IRQS:
			tio = owned(p, m);
			if (tio)
				tio->drop_irqs += m->count;
			break;
		}
		free(m);
	}
}

static void post_msg(struct poller *p, struct poller_msg *m)
{
	uint64_t one = 1;

	pthread_mutex_lock(&p->mbox_lock);
	*p->mbox_tail = m;
	p->mbox_tail = &m->next;
	/* Release: the poller that sees the flag sees the message. */
	__atomic_store_n(&p->mbox_flag, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&p->mbox_lock);
	if (write(p->mbox_efd, &one, sizeof(one)) < 0)
		log_err("poller %d: cannot wake: %m", p->idx);
}

static struct poller_msg *new_msg(enum msg_type type, struct tenant_io *tio)
{
	struct poller_msg *m = calloc(1, sizeof(*m));

	if (!m) {
		/* The control thread cannot go on without telling the poller. */
		log_err("out of memory");
		abort();
	}
	m->type = type;
	m->tio = tio;
	m->tio_id = tio->id;
	return m;
}

/*
 * tio->p is written here, before a hand-over (at plug, or to finish a
 * move), while the control thread owns tio.
 */
void poller_add(struct poller *p, struct tenant_io *tio, bool moved)
{
	struct poller_msg *m = new_msg(MSG_ADD, tio);

	m->moved = moved;
	tio->p = p;
	post_msg(p, m);
}

void poller_move(struct tenant_io *tio)
{
	post_msg(tio->p, new_msg(MSG_MOVE, tio));
}

void poller_remove(struct tenant_io *tio, bool fail_new, bool force)
{
	struct poller_msg *m = new_msg(MSG_REMOVE, tio);

	m->fail_new = fail_new;
	m->force = force;
	post_msg(tio->p, m);
}

void poller_set_qos(struct tenant_io *tio, const struct sched_qos *q)
{
	struct poller_msg *m = new_msg(MSG_QOS, tio);

	m->qos = *q;
	post_msg(tio->p, m);
}

void poller_resize(struct tenant_io *tio, uint64_t capacity)
{
	struct poller_msg *m = new_msg(MSG_RESIZE, tio);

	m->capacity = capacity;
	post_msg(tio->p, m);
}

void poller_set_coalesce(struct tenant_io *tio, const struct irq_coalesce *c)
{
	struct poller_msg *m = new_msg(MSG_COALESCE, tio);

	m->coalesce = *c;
	post_msg(tio->p, m);
}

void poller_drop_interrupts(struct tenant_io *tio, uint32_t count)
{
	struct poller_msg *m = new_msg(MSG_DROP_IRQS, tio);

	m->count = count;
	post_msg(tio->p, m);
}

int poller_done_fd(void)
{
	return done_efd;
}

void poller_reap_done(void (*cb)(struct tenant_io *tio))
{
	struct tenant_io *list, *next;
	uint64_t v;

	if (read(done_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("reading the poller done eventfd: %m");
	pthread_mutex_lock(&done_lock);
	list = done_head;
	done_head = NULL;
	pthread_mutex_unlock(&done_lock);
	for (; list; list = next) {
		next = list->next;
		cb(list);
	}
}

/* ---- sleeping ---- */

/* clear_wakeup - the poller is awake: hot queues need no doorbell (dormant ones keep theirs). */
static void clear_wakeup(struct poller *p)
{
	p->wakeup_set = false;
	for (struct io_queue *ioq = p->hot; ioq; ioq = ioq->hot_next)
		pvfs_host_clear_wakeup(&ioq->q);
}

/* How try_sleep ended. */
enum sleep_result {
	SLEEP_ABORTED,		/* new work showed up while preparing: keep polling */
	SLEEP_WOKEN,		/* slept until a kick, a completion, the mailbox or a timer */
	SLEEP_HEARTBEAT,	/* slept until the heartbeat, and nothing else happened */
};

/*
 * try_sleep - go to sleep unless work shows up while preparing.
 * The NEED_WAKEUP/barrier/re-check sequence pairs with the guest's
 * pvfs_sq_needs_kick(): no kick can be lost.
 *
 * A heartbeat wakeup leaves NEED_WAKEUP set: the poller only looks round
 * once and sleeps again, and clearing the flags would let a guest that
 * submits in that moment skip its doorbell for nothing (it would still be
 * served, but the idle host would have asked it not to ring). The flags are
 * cleared as soon as the poller finds work.
 */
static enum sleep_result try_sleep(struct poller *p, uint64_t now, uint64_t wake_ns)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	uint64_t timeout = HEARTBEAT_NS, t0, slept;
	int r;

	/* Dormant queues asked for their doorbell already, and wait for it. */
	for (struct io_queue *ioq = p->hot; ioq; ioq = ioq->hot_next) {
		if (ioq->tio->broken || ioq->tio->removing || ioq->tio->moving ||
		    ioq->tio->resetting)
			continue;
		if (!pvfs_host_prepare_sleep(&ioq->q, ioq->seen_tail)) {
			clear_wakeup(p);
			return SLEEP_ABORTED;
		}
	}
	/* Broken ones too: their guest's reset rings queue 0. */
	for (struct io_queue *ioq = p->hot; ioq; ioq = ioq->hot_next)
		if (!ioq->tio->removing && !ioq->tio->moving && !ioq->kick_armed)
			arm_kick(p, ioq);
	if (!p->mbox_armed) {
		struct io_uring_sqe *sqe = get_sqe(p);

		if (sqe) {
			io_uring_prep_poll_add(sqe, p->mbox_efd, POLLIN);
			io_uring_sqe_set_data64(sqe, UD(p, UD_MBOX));
			p->mbox_armed = true;
		}
	}
	if (__atomic_load_n(&p->mbox_flag, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&p->stop, __ATOMIC_RELAXED)) {
		clear_wakeup(p);
		return SLEEP_ABORTED;
	}
	if (wake_ns != UINT64_MAX && wake_ns > now && wake_ns - now < timeout)
		timeout = wake_ns - now;
	ts.tv_sec = (long long)(timeout / 1000000000ull);
	ts.tv_nsec = (long long)(timeout % 1000000000ull);
	t0 = now_ns();
	r = io_uring_submit_and_wait_timeout(&p->ring, &cqe, 1, &ts, NULL);
	p->pending_sqes = 0;
	stamp_submitted(p);	/* empty: poller_pass submitted every request */
	slept = now_ns() - t0;
	stat_add(&p->st.idle_ns, slept);
	stat_add(&p->st.wakeups, 1);
	if (r == -ETIME && timeout == HEARTBEAT_NS &&
	    !__atomic_load_n(&p->mbox_flag, __ATOMIC_ACQUIRE)) {
		p->wakeup_set = true;
		return SLEEP_HEARTBEAT;
	}
	clear_wakeup(p);
	/*
	 * Adapt the spin window: woken again soon means we gave up polling too
	 * early (grow, like QEMU's poll-grow); a long sleep means polling
	 * longer would only have burned CPU (shrink).
	 */
	if (slept < (uint64_t)cfg.poll_max_us * 1000)
		p->spin_ns = MIN(p->spin_ns * 2, (uint64_t)cfg.poll_max_us * 1000);
	else
		p->spin_ns = MAX(p->spin_ns / 2, (uint64_t)cfg.poll_min_us * 1000);
	return SLEEP_WOKEN;
}

/*
 * poller_pass - steps 1-4 of the loop and the submit (see the top of this
 * file), never a sleep. Returns 1 if it did work; *ret_wake (if dispatch
 * ran) is when the scheduler next releases a throttled tenant.
 */
static int poller_pass(struct poller *p, uint64_t now, uint64_t *ret_wake)
{
	int work = 0;

	stat_add(&p->st.heartbeat, 1);
	if (__atomic_load_n(&p->mbox_flag, __ATOMIC_ACQUIRE))
		process_mailbox(p, now);
	if (reap(p, now))
		work = 1;
	signal_guests(p);
	if (unlikely(now - p->last_sweep >= HEARTBEAT_NS))
		sweep_dormant(p, now);
	if (scan(p, now))
		work |= dispatch(p, now, ret_wake) > 0;
	backend_passes(p);
	if (p->pending_sqes)
		submit(p);
	else
		stamp_submitted(p);	/* a backend that sends without io_uring */
	signal_guests(p);
	settle_tenants(p);
	finish_removes(p);
	/* A coalesced interrupt is due then: sleep no longer. */
	*ret_wake = MIN(*ret_wake, p->irq_wake);
	return work;
}

static void *poller_main(void *arg)
{
	struct poller *p = arg;
	uint64_t last_work = now_ns(), prev = last_work;

	/*
	 * Registered for this thread (the registration is per task): each
	 * io_uring_enter then skips looking the ring's own fd up. Optional.
	 * From here on only this thread may enter or register on the ring
	 * (liburing passes the registered index, which other threads lack).
	 * It also gives this thread its io_uring context; before 5.18, which
	 * has no ring fd registration, a NOP does that.
	 */
	if (io_uring_register_ring_fd(&p->ring) < 0) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);

		if (sqe) {
			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data64(sqe, UD(NULL, UD_IGNORE));
			io_uring_submit(&p->ring);
		}
	}
	/*
	 * io-wq workers belong to the thread that submits (this one) and
	 * inherit its CPU: a pinned poller would share its core with every
	 * request the kernel cannot issue without blocking (fsync, buffered
	 * writes on ext4, FUSE and NFS volumes), each waiting for the spinning
	 * poller's slice to end. Per thread (the thread's io_uring context),
	 * so from here.
	 */
	if (iowq_cpus_set) {
		int r = io_uring_register_iowq_aff(&p->ring, sizeof(iowq_cpus), &iowq_cpus);

		if (r < 0)
			log_warn("poller %d: io-wq workers stay on the poller's CPU: %s", p->idx,
				 strerror(-r));
	}

	while (!__atomic_load_n(&p->stop, __ATOMIC_RELAXED) || p->tenants) {
		uint64_t now = now_ns(), wake = UINT64_MAX;
		int work = poller_pass(p, now, &wake);

		if (work) {
			if (p->wakeup_set)
				clear_wakeup(p);
			stat_add(&p->st.busy_ns, now - prev);
			last_work = now;
		} else if (now - last_work >= p->spin_ns) {
			stat_add(&p->st.busy_ns, now - prev);
			/* after a heartbeat, one look round and back to sleep */
			if (try_sleep(p, now, wake) == SLEEP_HEARTBEAT)
				last_work = 0;
			else
				last_work = now_ns();
			prev = now_ns();
			continue;
		} else {
			stat_add(&p->st.idle_ns, now - prev);
			/*
			 * Waiting for the backend, nothing done for YIELD_NS: let
			 * whatever else wants this CPU have it now, and again
			 * every YIELD_NS (never on the path of a fast device's
			 * completions, which come sooner). Above all
			 * io_uring's own io-wq workers, which inherit the poller's
			 * CPU: a request the kernel could not issue without
			 * blocking (an O_DIRECT read of a range with dirty page
			 * cache, a file system without IOCB_NOWAIT) waits for one,
			 * and the scheduler does not preempt a spinning thread for
			 * a woken one before its slice ends (bench/README.md: 1.2
			 * ms per read without this, 0.17 ms with it). Nothing else
			 * runnable: one cheap system call. Not when the workers
			 * have CPUs of their own (--cpus): then the only taker
			 * would be some other task, and the poller would lose
			 * its CPU to it for a slice at a time.
			 */
			if (!iowq_cpus_set && p->inflight && now - last_work >= YIELD_NS &&
			    now - p->yielded_ns >= YIELD_NS) {
				p->yielded_ns = now;
				sched_yield();
			}
		}
		__atomic_store_n(&p->st.inflight, p->inflight, __ATOMIC_RELAXED);
		prev = now;
	}
	return NULL;
}

/* ---- what a poller lends backends (backend.h; poller thread only) ---- */

#define HOST_POLLER(h) container_of(h, struct poller, host)

static struct io_uring_sqe *host_get_sqe(struct backend_host *h)
{
	return get_sqe(HOST_POLLER(h));
}

static void host_complete(struct backend_host *h, struct backend_io *io, int32_t res)
{
	struct poller *p = HOST_POLLER(h);

	/* LIFO is fine: each request is complete on its own; the list is drained whole. */
	io->res = res;
	io->next = p->bdone;
	p->bdone = io;
}

static int host_watch(struct backend_host *h, struct backend_watch *w)
{
	struct io_uring_sqe *sqe = get_sqe(HOST_POLLER(h));

	if (!sqe)
		return -EAGAIN;
	io_uring_prep_poll_add(sqe, w->fd, (unsigned)w->events);
	io_uring_sqe_set_data64(sqe, UD(w, UD_WATCH));
	w->armed = true;
	w->cancelled = false;
	w->b->watches++;
	return 0;
}

static bool host_unwatch(struct backend_host *h, struct backend_watch *w)
{
	if (!w->armed || w->cancelled)
		return true;
	w->cancelled = cancel_ud(HOST_POLLER(h), UD(w, UD_WATCH));
	return w->cancelled;
}

static void host_want_pass(struct backend_host *h, struct backend *b)
{
	struct poller *p = HOST_POLLER(h);

	b->want_pass = true;
	b->pass_next = p->passes;
	p->passes = b;
}

static int host_register_file(struct backend_host *h, int fd)
{
	struct poller *p = HOST_POLLER(h);
	unsigned slot;
	int r;

	for (slot = 0; slot < FILE_SLOTS && p->slot_used[slot]; slot++)
		;
	/* attach admits at most FILE_SLOTS tenants in all, so a slot is free. */
	if (slot == FILE_SLOTS)
		return -ENFILE;
	r = io_uring_register_files_update(&p->ring, slot, &fd, 1);
	if (r < 0)
		return r;
	p->slot_used[slot] = 1;
	return (int)slot;
}

static void host_unregister_file(struct backend_host *h, int slot)
{
	struct poller *p = HOST_POLLER(h);
	int minus_one = -1;

	io_uring_register_files_update(&p->ring, (unsigned)slot, &minus_one, 1);
	p->slot_used[slot] = 0;
}

/* ---- setup ---- */

static int poller_create(int idx, uint32_t cap, struct poller **ret)
{
	struct io_uring_params params = {
		.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		.cq_entries = CQ_ENTRIES,
	};
	struct poller *p;
	int r;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->idx = idx;
	p->mbox_tail = &p->mbox_head;
	p->spin_ns = (uint64_t)cfg.poll_min_us * 1000;
	p->host = (struct backend_host){
		.get_sqe = host_get_sqe,
		.ud_ignore = UD(NULL, UD_IGNORE),
		.complete = host_complete,
		.watch = host_watch,
		.unwatch = host_unwatch,
		.register_file = host_register_file,
		.unregister_file = host_unregister_file,
		.want_pass = host_want_pass,
	};
	pthread_mutex_init(&p->mbox_lock, NULL);
	p->mbox_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->mbox_efd < 0) {
		r = -errno;
		goto fail;
	}
	sched_init(&p->sched, (uint32_t)idx);
	r = io_uring_queue_init_params(RING_ENTRIES, &p->ring, &params);
	if (r == -EINVAL) {	/* a kernel before 5.19: completions interrupt the poller */
		params = (struct io_uring_params){ .flags = IORING_SETUP_CQSIZE,
						   .cq_entries = CQ_ENTRIES };
		r = io_uring_queue_init_params(RING_ENTRIES, &p->ring, &params);
	}
	if (r < 0)
		goto fail_efd;
	r = io_uring_register_files_sparse(&p->ring, FILE_SLOTS);
	if (r < 0)
		goto fail_ring;
	/*
	 * io-wq runs the operations that would block (fsync, fallocate,
	 * buffered I/O that misses the page cache) on bounded workers, by
	 * default at most 4 per CPU: a tenant with that many hung requests
	 * would make everyone else's blocking requests queue behind them.
	 * Slot shares keep at most twice the cap in flight: allow that many.
	 */
	{
		unsigned int workers[2] = { MIN(2 * cap + 16, 8192u), 0 };

		r = io_uring_register_iowq_max_workers(&p->ring, workers);
		if (r < 0)
			log_warn("poller %d: cannot raise io-wq's worker limit: %s", idx,
				 strerror(-r));
	}
	*ret = p;
	return 0;

fail_ring:
	io_uring_queue_exit(&p->ring);
fail_efd:
	close(p->mbox_efd);
fail:
	free(p);
	return r;
}

int poller_start_all(int n, enum sched_mode mode, uint32_t inflight_cap)
{
	int r;

	if (n < 1 || n > MAX_POLLERS)
		return -EINVAL;
	done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (done_efd < 0)
		return -errno;
	domain_setup(mode, inflight_cap, (uint64_t)cfg.anticipation_us * 1000, (uint32_t)n,
		     cfg.cost_learning, cfg.slots_by_cost);
	if (cfg.nr_cpus && sched_getaffinity(0, sizeof(iowq_cpus), &iowq_cpus) == 0) {
		/* the CPUs of the n pollers, not every CPU --cpus lists */
		for (int i = 0; i < n; i++)
			CPU_CLR(cfg.cpus[i % cfg.nr_cpus], &iowq_cpus);
		iowq_cpus_set = CPU_COUNT(&iowq_cpus) > 0;
		if (!iowq_cpus_set)
			log_info("the pollers take every CPU pvfsd may use: io-wq workers (fsync, "
				 "buffered writes, FUSE/NFS volumes) share the pollers' CPUs");
	}
	for (int i = 0; i < n; i++) {
		r = poller_create(i, inflight_cap, &pollers[i]);
		if (r < 0)
			return r;
		r = -pthread_create(&pollers[i]->thread, NULL, poller_main, pollers[i]);
		if (r < 0)
			return r;
		nr_pollers++;
		if (cfg.nr_cpus) {
			cpu_set_t set;
			int cpu = cfg.cpus[i % cfg.nr_cpus];

			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			r = -pthread_setaffinity_np(pollers[i]->thread, sizeof(set), &set);
			if (r < 0) {
				log_err("poller %d: cannot pin to CPU %d: %s (is it online, and in "
					"pvfsd's own CPU affinity? see --cpus)", i, cpu, strerror(-r));
				return r;
			}
		}
	}
	return 0;
}

void poller_stop_all(void)
{
	uint64_t one = 1;

	for (int i = 0; i < nr_pollers; i++) {
		__atomic_store_n(&pollers[i]->stop, 1, __ATOMIC_RELAXED);
		if (write(pollers[i]->mbox_efd, &one, sizeof(one)) < 0)
			log_warn("poller %d: cannot wake for stop: %m", i);
	}
	for (int i = 0; i < nr_pollers; i++) {
		struct poller *p = pollers[i];

		pthread_join(p->thread, NULL);
		io_uring_queue_exit(&p->ring);
		close(p->mbox_efd);
		pthread_mutex_destroy(&p->mbox_lock);
		free(p);
		pollers[i] = NULL;
	}
	nr_pollers = 0;
	domain_teardown();
	if (done_efd >= 0)
		close(done_efd);
	done_efd = -1;
}

int poller_count(void)
{
	return nr_pollers;
}

const struct poller_stats *poller_stats(int i)
{
	return &pollers[i]->st;
}

struct poller *poller_get(int i)
{
	return pollers[i];
}

int poller_index(const struct poller *p)
{
	return p->idx;
}

uint32_t poller_tenants(int i)
{
	return __atomic_load_n(&pollers[i]->nr_tenants, __ATOMIC_RELAXED);
}

/* ---- test hooks (poller_test.h): one poller driven by the caller ---- */

int poller_test_start(enum sched_mode mode, uint32_t inflight_cap)
{
	int r;

	if (nr_pollers)
		return -EBUSY;
	done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (done_efd < 0)
		return -errno;
	domain_setup(mode, inflight_cap, (uint64_t)cfg.anticipation_us * 1000, 1, cfg.cost_learning,
		     cfg.slots_by_cost);
	r = poller_create(0, inflight_cap, &pollers[0]);
	if (r < 0) {
		close(done_efd);
		done_efd = -1;
		return r;
	}
	nr_pollers = 1;
	return 0;
}

int poller_test_pass(uint64_t max_sleep_ns)
{
	struct poller *p = pollers[0];
	uint64_t now = now_ns(), wake = UINT64_MAX, until;

	if (poller_pass(p, now, &wake))
		return 1;
	if (!max_sleep_ns)
		return 0;
	/* try_sleep sleeps until the earlier of until and a completion or kick. */
	until = now + MIN(max_sleep_ns, HEARTBEAT_NS - 1);
	if (wake > now && wake < until)
		until = wake;
	try_sleep(p, now, until);
	return 0;
}
