// SPDX-License-Identifier: MIT
/*
 * sched.c - the data-plane scheduler (see sched.h for the API and the
 * policy, docs/qos.md for the operator's view).
 *
 * Why this design and not plain mClock: mClock stamps three tags on every
 * request at arrival, which needs each request's size when it arrives and a
 * per-request tag store. Here requests stay in the tenant's shared-memory SQ
 * until dispatched, so the scheduler keeps tags per entity instead:
 *
 *  - proportional share is start-time fair queueing (SFQ): virtual time per
 *    entity, advanced by cost / weight when the entity dispatches, the
 *    system virtual time being the start tag of the last request picked by
 *    weight. Charging after dispatch is exact for SFQ: the start tag of the
 *    next request is the finish tag of the previous one, known without the
 *    next size;
 *  - reservations and limits are real-time tags (GCRA for limits), also
 *    charged after dispatch: an entity may overdraw by one request and then
 *    waits its debt off, which keeps the long-run rate exact without
 *    knowing the next request's size at pick time.
 *
 * Four indexed binary heaps per (poller, domain) hold the entities: by
 * virtual time (all runnable), by reservation tag (runnable with a
 * reservation), by eligible time (held by a limit), by virtual time again
 * (inactive, within their anticipation window). A throttled entity is
 * parked lazily: it leaves the runnable heaps the first time pick would
 * have chosen it, which keeps dispatch O(log n) and counts only the
 * throttling that held back work.
 *
 * Why fronts and not one shared heap: pollers must not take a lock per
 * request. Each poller orders its own entities of a domain and publishes
 * the smallest virtual time among them (runnable or anticipated) in its
 * own cache line of the domain; a poller dispatches its best entity only
 * while that is at most SCHED_LEAD_COST / weight ahead of every other
 * poller's front. Virtual time is the domain's (vnow is an atomic
 * maximum), so all pollers' entities are in one order, as in dmClock
 * where servers share tags and not queues. A poller that waits for a
 * front looks again within SCHED_RECHECK_NS (sched_pick's wake time); a
 * front from an anticipated entity carries its expiry, so a poller that
 * went to sleep cannot hold the others back beyond the window, and a front
 * that has not moved for SCHED_FRONT_STALE_NS is not waited for (its
 * poller's thread may be preempted on a busy host).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "util.h"

#define NS_PER_S 1000000000ull
#define HEAP_NONE UINT32_MAX
#define VT_NONE UINT64_MAX	/* a front with no entity */
/*
 * A runnable entity is never more than one request's charge (< 2^33) ahead
 * of the system virtual time; anything further ahead after a long idle
 * period is a wrapped comparison, not a debt.
 */
#define VLEAD_MAX (1ull << 40)

enum {
	F_ADDED = 1u << 0,	/* between entity_add and entity_remove */
	F_ACTIVE = 1u << 1,	/* caller has work queued */
	F_PARKED = 1u << 2,	/* in the throttle heap, not the runnable ones */
	F_PICK_RESV = 1u << 3,	/* last pick was by reservation */
	F_BUSY = 1u << 4,	/* active or with requests in flight: has a slot share */
	F_ANTIC = 1u << 5,	/* in the anticipation heap */
	F_QUEUED = 1u << 6,	/* in a poller's queues (not between detach and attach) */
};

enum { LAT_MISSED = 1u << 0, LAT_MET = 1u << 1 };

#define ld(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define st(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define sub(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)

/* Virtual time may wrap; compare by signed distance (as Linux CFS does). */
static inline bool vt_before(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

static inline uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* Per-entity counters: single writer (the poller), read from anywhere. */
static inline void stat_dec(uint64_t *c)
{
	uint64_t v = ld(c);

	if (v)
		st(c, v - 1);
}

static inline struct sched_dq *dq_of(const struct sched *s, const struct sched_entity *e)
{
	return &e->dom->dq[s->idx];
}

static bool heap_less(int h, const struct sched_entity *a, const struct sched_entity *b)
{
	switch (h) {
	case SCHED_HEAP_WEIGHT:
	case SCHED_HEAP_ANTIC:
		return vt_before(a->vtime, b->vtime);
	case SCHED_HEAP_RESV:
		return a->resv_tag < b->resv_tag;
	default:
		return a->ready_ns < b->ready_ns;
	}
}

static inline void heap_put(struct sched_heap *hp, int h, uint32_t i, struct sched_entity *e)
{
	hp->v[i] = e;
	e->heap_idx[h] = i;
}

static void sift_up(struct sched_heap *hp, int h, uint32_t i)
{
	struct sched_entity *e = hp->v[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;

		if (!heap_less(h, e, hp->v[p]))
			break;
		heap_put(hp, h, i, hp->v[p]);
		i = p;
	}
	heap_put(hp, h, i, e);
}

static void sift_down(struct sched_heap *hp, int h, uint32_t i)
{
	struct sched_entity *e = hp->v[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= hp->n)
			break;
		if (c + 1 < hp->n && heap_less(h, hp->v[c + 1], hp->v[c]))
			c++;
		if (!heap_less(h, hp->v[c], e))
			break;
		heap_put(hp, h, i, hp->v[c]);
		i = c;
	}
	heap_put(hp, h, i, e);
}

static inline bool in_heap(const struct sched_entity *e, int h)
{
	return e->heap_idx[h] != HEAP_NONE;
}

static inline struct sched_entity *heap_top(const struct sched_dq *q, int h)
{
	return q->heap[h].n ? q->heap[h].v[0] : NULL;
}

/* Capacity is max_entities and an entity is in each heap at most once. */
static void heap_push(struct sched_dq *q, int h, struct sched_entity *e)
{
	struct sched_heap *hp = &q->heap[h];

	heap_put(hp, h, hp->n++, e);
	sift_up(hp, h, hp->n - 1);
}

static void heap_fix(struct sched_dq *q, int h, struct sched_entity *e)
{
	struct sched_heap *hp = &q->heap[h];

	sift_up(hp, h, e->heap_idx[h]);
	sift_down(hp, h, e->heap_idx[h]);
}

static void heap_del(struct sched_dq *q, int h, struct sched_entity *e)
{
	struct sched_heap *hp = &q->heap[h];
	uint32_t i = e->heap_idx[h];
	struct sched_entity *last = hp->v[--hp->n];

	e->heap_idx[h] = HEAP_NONE;
	if (i == hp->n)
		return;
	heap_put(hp, h, i, last);
	heap_fix(q, h, last);
}

/* Exact long-run division: q = (num + *rem) / d, remainder carried over. */
static inline uint64_t div_carry(uint64_t num, uint64_t d, uint64_t *rem)
{
	uint64_t n = num + *rem;

	*rem = n % d;
	return n / d;
}

/*
 * GCRA: the limit lets a request go while tat - burst <= now; dispatch
 * moves tat by one request's worth of time from max(tat, now).
 */
static void ready_update(struct sched_entity *e)
{
	uint64_t r = 0;

	if (e->qos.iops_limit)
		r = MAX(r, sat_sub(e->iops_tat, SCHED_BURST_NS));
	if (e->qos.bps_limit)
		r = MAX(r, sat_sub(e->bps_tat, SCHED_BURST_NS));
	e->ready_ns = r;
}

/*
 * share_key - what e's slot share is in proportion to: its weight, or
 * with slots_by_cost its weight over the average cost of its requests, so
 * that the slots' shares are shares of the cost in flight and not of the
 * request count. Which is right depends on the device: one that serves its
 * queue in order (a disk, one queue to a remote target) turns slots held
 * into throughput, so count shares hand a tenant of costly requests device
 * time beyond its weight; one that serves its whole queue at once (NVMe)
 * already makes a costly request hold its slot longer, so cost shares
 * would charge it twice.
 */
static uint64_t share_key(const struct sched_entity *e)
{
	if (!e->dom->slots_by_cost)
		return (uint64_t)e->qos.weight << 20;
	return MAX(1ull, ((uint64_t)e->qos.weight << 32) / MAX(1ull, e->cost_avg));
}

/* rekey - e's share_key changed (weight, cost): keep busy_key the sum. */
static void rekey(struct sched_entity *e)
{
	uint64_t k = share_key(e);

	if (k == e->share_key)
		return;
	if (e->flags & F_BUSY)
		add(&e->dom->busy_key, k - e->share_key);	/* mod 2^64 */
	e->share_key = k;
}

/*
 * busy_update - keep the domain's busy_key (and busy_count, FIFO's equal
 * shares) the sum over entities that are active or still have requests in
 * flight: those are the ones the in-flight slots are shared among.
 */
static void busy_update(struct sched_entity *e)
{
	struct sched_domain *d = e->dom;
	bool busy = (e->flags & F_ADDED) &&
		    ((e->flags & F_ACTIVE) || stat_get(&e->stats.inflight));

	if (busy == !!(e->flags & F_BUSY))
		return;
	if (busy) {
		e->flags |= F_BUSY;
		add(&d->busy_key, e->share_key);
		add(&d->busy_count, 1u);
	} else {
		e->flags &= ~F_BUSY;
		sub(&d->busy_key, e->share_key);
		sub(&d->busy_count, 1u);
	}
}

/*
 * slot_share - the in-flight slots e is guaranteed: its part of the
 * domain's effective cap among busy entities by share_key (weight over
 * average cost; FIFO: an equal part), rounded down, so the shares add up
 * to at most the cap.
 */
static uint32_t slot_share(const struct sched_domain *d, const struct sched_entity *e)
{
	uint32_t cap = ld(&d->cap_eff), n = ld(&d->busy_count);
	uint64_t bk = ld(&d->busy_key);

	if (d->mode == SCHED_MODE_FIFO)
		return n ? cap / n : cap;
	if (!bk)
		return cap;
	return (uint32_t)MIN((unsigned __int128)cap * e->share_key / bk, (uint64_t)cap);
}

/* antic_expire - anticipated entities whose window ended at the top leave. */
static void antic_expire(struct sched_dq *q, uint64_t now)
{
	struct sched_entity *e;

	while ((e = heap_top(q, SCHED_HEAP_ANTIC)) && e->antic_until <= now) {
		heap_del(q, SCHED_HEAP_ANTIC, e);
		e->flags &= ~F_ANTIC;
	}
}

/*
 * publish - this poller's front in the domain: the smallest virtual time
 * among its runnable and anticipated entities, and until when it holds
 * (an anticipated entity's window). Stored only when it changed: each
 * poller writes its own cache line, the others only read it.
 */
static void publish(const struct sched *s, struct sched_dq *q, uint64_t now)
{
	struct sched_front *f = &q->dom->front[s->idx];
	struct sched_entity *w, *a;
	uint64_t vt = VT_NONE, until = UINT64_MAX;

	if (q->dom->mode != SCHED_MODE_FAIR)
		return;
	antic_expire(q, now);
	w = heap_top(q, SCHED_HEAP_WEIGHT);
	a = heap_top(q, SCHED_HEAP_ANTIC);
	if (w)
		vt = w->vtime;
	if (a && (!w || vt_before(a->vtime, vt))) {
		vt = a->vtime;
		until = a->antic_until;
	}
	if (ld(&f->vtime) == vt && ld(&f->until) == until)
		return;
	st(&f->vtime, vt);
	st(&f->until, until);
	if (now)	/* 0: a removal, which knows no time */
		st(&f->stamp, now);
}

/* No banked credit: a (re)runnable entity starts at the system virtual time. */
static void vtime_clamp(struct sched_domain *d, struct sched_entity *e)
{
	uint64_t vnow = ld(&d->vnow);

	if (vt_before(e->vtime, vnow) || e->vtime - vnow > VLEAD_MAX)
		e->vtime = vnow;
}

static void vnow_advance(struct sched_domain *d, uint64_t vt)
{
	uint64_t v = ld(&d->vnow);

	while (vt_before(v, vt) &&
	       !__atomic_compare_exchange_n(&d->vnow, &v, vt, true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

static void make_runnable(struct sched_dq *q, struct sched_entity *e, bool clamp)
{
	if (clamp)
		vtime_clamp(q->dom, e);
	heap_push(q, SCHED_HEAP_WEIGHT, e);
	if (e->qos.iops_reservation)
		heap_push(q, SCHED_HEAP_RESV, e);
}

static void park(struct sched_dq *q, struct sched_entity *e, uint64_t now)
{
	heap_del(q, SCHED_HEAP_WEIGHT, e);
	if (in_heap(e, SCHED_HEAP_RESV))
		heap_del(q, SCHED_HEAP_RESV, e);
	e->flags |= F_PARKED;
	e->throttle_start = now;
	heap_push(q, SCHED_HEAP_THROTTLE, e);
	stat_add(&e->stats.throttled, 1);
}

/* Leave the throttle heap; held back from throttle_start until `until`. */
static void unpark_account(struct sched_dq *q, struct sched_entity *e, uint64_t until)
{
	heap_del(q, SCHED_HEAP_THROTTLE, e);
	e->flags &= ~F_PARKED;
	stat_add(&e->stats.throttled_ns, sat_sub(until, e->throttle_start));
}

int sched_domain_create(enum sched_mode mode, uint32_t inflight_cap, uint64_t antic_ns,
			uint32_t npollers, uint32_t max_entities,
			struct sched_domain **ret_dom)
{
	struct sched_domain *d;

	if ((mode != SCHED_MODE_FAIR && mode != SCHED_MODE_FIFO) ||
	    inflight_cap < 1 || inflight_cap > SCHED_INFLIGHT_CAP_MAX ||
	    antic_ns > SCHED_ANTIC_NS_MAX || npollers < 1 || npollers > SCHED_POLLERS_MAX ||
	    max_entities < 1 || max_entities > SCHED_ENTITIES_MAX)
		return -EINVAL;

	d = aligned_alloc(64, (sizeof(*d) + npollers * sizeof(d->front[0]) + 63) / 64 * 64);
	if (!d)
		return -ENOMEM;
	memset(d, 0, sizeof(*d) + npollers * sizeof(d->front[0]));
	d->npollers = npollers;
	d->dq = calloc(npollers, sizeof(*d->dq));
	if (!d->dq)
		goto out_free;
	for (uint32_t i = 0; i < npollers; i++) {
		d->dq[i].dom = d;
		d->front[i].vtime = VT_NONE;
		d->front[i].until = UINT64_MAX;
		for (int h = 0; h < SCHED_HEAP_NR; h++) {
			d->dq[i].heap[h].v = calloc(max_entities, sizeof(d->dq[i].heap[h].v[0]));
			if (!d->dq[i].heap[h].v)
				goto out_free;
		}
	}
	d->mode = mode;
	d->inflight_cap = inflight_cap;
	d->cap_eff = inflight_cap;
	d->antic_ns = mode == SCHED_MODE_FAIR ? antic_ns : 0;
	d->max_entities = max_entities;
	d->lead_cost = SCHED_LEAD_COST;
	d->learn.enabled = true;
	d->learn.min_depth = UINT32_MAX;
	for (int c = 0; c < SCHED_LC_NR; c++)
		d->scale[c] = SCHED_SCALE_ONE;
	*ret_dom = d;
	return 0;

out_free:
	sched_domain_destroy(d);
	return -ENOMEM;
}

int sched_domain_set_slots_by_cost(struct sched_domain *d, bool by_cost)
{
	if (ld(&d->nentities))
		return -EBUSY;
	d->slots_by_cost = by_cost;
	return 0;
}

void sched_domain_destroy(struct sched_domain *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; d->dq && i < d->npollers; i++)
		for (int h = 0; h < SCHED_HEAP_NR; h++)
			free(d->dq[i].heap[h].v);
	free(d->dq);
	free(d);
}

void sched_init(struct sched *s, uint32_t idx)
{
	memset(s, 0, sizeof(*s));
	s->idx = idx;
}

int sched_qos_validate(const struct sched_qos *q)
{
	if (q->weight < SCHED_WEIGHT_MIN || q->weight > SCHED_WEIGHT_MAX || q->pad)
		return -EINVAL;
	if (q->iops_reservation > SCHED_IOPS_MAX || q->iops_limit > SCHED_IOPS_MAX ||
	    q->bps_limit > SCHED_BPS_MAX)
		return -EINVAL;
	/* A reservation above the limit could never be honoured. */
	if (q->iops_limit && q->iops_reservation > q->iops_limit)
		return -EINVAL;
	if (q->latency_target_ns > SCHED_LAT_TARGET_MAX)
		return -EINVAL;
	return 0;
}

/* queue_in - e joins poller s's queues of its domain (inactive). */
static int queue_in(struct sched *s, struct sched_entity *e)
{
	struct sched_dq *q = dq_of(s, e);

	if (q->nentities >= e->dom->max_entities)
		return -ENOSPC;
	if (!q->nentities++ && !q->linked) {
		q->next = s->dqs;
		s->dqs = q;
		q->linked = true;
	}
	e->flags |= F_QUEUED;
	return 0;
}

/* queue_out - e leaves poller s's queues, whatever heaps it is in. */
static void queue_out(struct sched *s, struct sched_entity *e, uint64_t now)
{
	struct sched_dq *q = dq_of(s, e);

	for (int h = 0; h < SCHED_HEAP_NR; h++)
		if (in_heap(e, h))
			heap_del(q, h, e);
	e->flags &= ~(F_QUEUED | F_ACTIVE | F_PARKED | F_ANTIC);
	if (!--q->nentities) {
		struct sched_dq **pp = &s->dqs;

		while (*pp != q)
			pp = &(*pp)->next;
		*pp = q->next;
		if (s->rr == q)
			s->rr = NULL;
		q->linked = false;
	}
	publish(s, q, now);
}

int sched_entity_add(struct sched *s, struct sched_entity *e, struct sched_domain *d,
		     const struct sched_qos *q, uint64_t now)
{
	int r;

	r = sched_qos_validate(q);
	if (r < 0)
		return r;
	memset(e, 0, sizeof(*e));
	for (int h = 0; h < SCHED_HEAP_NR; h++)
		e->heap_idx[h] = HEAP_NONE;
	e->dom = d;
	r = queue_in(s, e);
	if (r < 0)
		return r;
	e->qos = *q;
	e->cost_avg = MAX(1ull, ld(&d->lead_cost) / 4);	/* a 4 KiB random read, until known */
	e->share_key = share_key(e);
	e->vtime = ld(&d->vnow);
	e->resv_tag = now;
	e->iops_tat = now;
	e->bps_tat = now;
	ready_update(e);
	e->flags |= F_ADDED;
	add(&d->nentities, 1u);
	return 0;
}

void sched_entity_remove(struct sched *s, struct sched_entity *e)
{
	if (!(e->flags & F_ADDED))
		return;
	if (e->flags & F_QUEUED)
		queue_out(s, e, 0);
	e->flags &= ~(F_ADDED | F_ACTIVE);
	busy_update(e);
	e->flags = 0;
	sub(&e->dom->nentities, 1u);
}

void sched_entity_detach(struct sched *s, struct sched_entity *e, uint64_t now)
{
	if (!(e->flags & F_QUEUED))
		return;
	if (e->flags & F_PARKED)
		stat_add(&e->stats.throttled_ns, sat_sub(now, e->throttle_start));
	queue_out(s, e, now);
	busy_update(e);
}

int sched_entity_attach(struct sched *s, struct sched_entity *e, uint64_t now)
{
	int r;

	if (!(e->flags & F_ADDED) || (e->flags & F_QUEUED))
		return 0;
	r = queue_in(s, e);
	if (r < 0)
		return r;
	publish(s, dq_of(s, e), now);
	return 0;
}

/*
 * A limit's debt (tat - now) is time at the old rate; keep the same number
 * of requests (or bytes) owed, at the new rate.
 */
static void rescale_tat(uint64_t *tat, uint64_t *rem, uint64_t old_rate,
			uint64_t new_rate, uint64_t now)
{
	if (old_rate == new_rate)
		return;
	*rem = 0;
	if (!new_rate)
		return;
	if (!old_rate || *tat <= now) {
		*tat = MIN(*tat, now);
		return;
	}
	*tat = now + (uint64_t)((unsigned __int128)(*tat - now) * old_rate / new_rate);
}

int sched_set_qos(struct sched *s, struct sched_entity *e,
		  const struct sched_qos *q, uint64_t now)
{
	struct sched_qos old = e->qos;
	struct sched_dq *dq;
	int r;

	r = sched_qos_validate(q);
	if (r < 0)
		return r;
	e->qos = *q;
	rekey(e);
	if (!(e->flags & F_ADDED) || e->dom->mode == SCHED_MODE_FIFO)
		return 0;

	/* Virtual time is weight-normalised already: only the remainder changes. */
	if (q->weight != old.weight)
		e->vrem = 0;
	if (q->iops_reservation != old.iops_reservation) {
		e->resv_rem = 0;
		if (!old.iops_reservation)
			e->resv_tag = now;
	}
	rescale_tat(&e->iops_tat, &e->iops_rem, old.iops_limit, q->iops_limit, now);
	rescale_tat(&e->bps_tat, &e->bps_rem, old.bps_limit, q->bps_limit, now);
	ready_update(e);

	if (!(e->flags & F_ACTIVE) || !(e->flags & F_QUEUED))
		return 0;
	dq = dq_of(s, e);
	if (e->flags & F_PARKED) {
		if (e->ready_ns > now) {
			heap_fix(dq, SCHED_HEAP_THROTTLE, e);
		} else {
			unpark_account(dq, e, now);
			make_runnable(dq, e, true);
		}
	} else if (in_heap(e, SCHED_HEAP_RESV) && !q->iops_reservation) {
		heap_del(dq, SCHED_HEAP_RESV, e);
	} else if (in_heap(e, SCHED_HEAP_RESV)) {
		heap_fix(dq, SCHED_HEAP_RESV, e);
	} else if (q->iops_reservation) {
		heap_push(dq, SCHED_HEAP_RESV, e);
	}
	publish(s, dq, now);
	return 0;
}

void sched_activate(struct sched *s, struct sched_entity *e, uint64_t now)
{
	struct sched_dq *q;
	bool clamp = true;

	if ((e->flags & (F_ADDED | F_ACTIVE | F_QUEUED)) != (F_ADDED | F_QUEUED))
		return;
	q = dq_of(s, e);
	e->flags |= F_ACTIVE;
	busy_update(e);
	if (e->dom->mode == SCHED_MODE_FIFO) {
		e->vtime = add(&e->dom->seq, 1) + 1;
		heap_push(q, SCHED_HEAP_WEIGHT, e);
		return;
	}
	if (e->idle_since && e->dom->antic_ns) {
		/* How long its queue stays empty (BFQ's think time), 1/8 per gap. */
		uint64_t gap = MIN(now - e->idle_since, 4 * e->dom->antic_ns);

		e->gap_avg = (e->gap_avg * 7 + gap) / 8;
	}
	if (e->flags & F_ANTIC) {
		/* Back within its window: it keeps its place, no clamp. */
		clamp = e->antic_until <= now;
		heap_del(q, SCHED_HEAP_ANTIC, e);
		e->flags &= ~F_ANTIC;
	}
	/* Idle time banks no reservation either. */
	e->resv_tag = MAX(e->resv_tag, now);
	make_runnable(q, e, clamp);
	if (e->ready_ns > now)
		park(q, e, now);
	publish(s, q, now);
}

void sched_deactivate(struct sched *s, struct sched_entity *e, uint64_t now)
{
	struct sched_dq *q;

	if (!(e->flags & F_ACTIVE))
		return;
	q = dq_of(s, e);
	if (e->flags & F_PARKED) {
		unpark_account(q, e, MIN(now, e->ready_ns));
	} else {
		heap_del(q, SCHED_HEAP_WEIGHT, e);
		if (in_heap(e, SCHED_HEAP_RESV))
			heap_del(q, SCHED_HEAP_RESV, e);
		/*
		 * Only a tenant that keeps several requests in flight is
		 * waited for: one with at most one (synchronous, bound by its
		 * own latency) cannot use its share, and the others get it.
		 * Nor is one that usually stays away longer than the window:
		 * the device would idle for nothing.
		 */
		if (e->dom->antic_ns && stat_get(&e->stats.inflight) >= SCHED_ANTIC_MIN_INFLIGHT &&
		    e->gap_avg <= e->dom->antic_ns) {
			e->antic_until = now + e->dom->antic_ns;
			e->flags |= F_ANTIC;
			heap_push(q, SCHED_HEAP_ANTIC, e);
		}
	}
	e->idle_since = now;
	e->flags &= ~F_ACTIVE;
	busy_update(e);
	publish(s, q, now);
}

/*
 * pick_guaranteed - the cap is reached: the runnable entity that is below
 * its slot share and first in fair order, if any. Without this, a tenant
 * whose requests are slow (a hung backend, long flushes) would hold every
 * slot and stall all the others; with it, its slow requests only slow
 * itself. O(runnable entities), only while the cap is full.
 */
static struct sched_entity *pick_guaranteed(struct sched_dq *q, uint64_t now)
{
	const struct sched_heap *hp = &q->heap[SCHED_HEAP_WEIGHT];
	struct sched_entity *best = NULL;

	for (uint32_t i = 0; i < hp->n; i++) {
		struct sched_entity *e = hp->v[i];

		if (e->ready_ns > now || stat_get(&e->stats.inflight) >= slot_share(q->dom, e))
			continue;
		if (!best || heap_less(SCHED_HEAP_WEIGHT, e, best))
			best = e;
	}
	if (best)
		best->flags &= ~F_PICK_RESV;
	return best;
}

/*
 * may_go - e is first among this poller's runnable entities of its domain:
 * it goes unless it is more than its lead ahead of an anticipated entity
 * here or of another poller's front. Otherwise *wake is lowered to when
 * that may have changed.
 */
static bool may_go(const struct sched *s, const struct sched_dq *q,
		   const struct sched_entity *e, uint64_t now, uint64_t *wake)
{
	const struct sched_domain *d = q->dom;
	uint64_t lead = MAX(1ull, ld(&d->lead_cost) / e->qos.weight);
	const struct sched_entity *a = heap_top(q, SCHED_HEAP_ANTIC);

	if (a && a->antic_until > now && vt_before(a->vtime, e->vtime) &&
	    e->vtime - a->vtime > lead) {
		*wake = MIN(*wake, a->antic_until);
		return false;
	}
	for (uint32_t i = 0; i < d->npollers; i++) {
		uint64_t vt, until;

		if (i == s->idx)
			continue;
		vt = ld(&d->front[i].vtime);
		if (vt == VT_NONE || !vt_before(vt, e->vtime) || e->vtime - vt <= lead)
			continue;
		until = ld(&d->front[i].until);
		if (until <= now || now - ld(&d->front[i].stamp) > SCHED_FRONT_STALE_NS)
			continue;
		*wake = MIN(*wake, MIN(until, now + SCHED_RECHECK_NS));
		return false;
	}
	return true;
}

static struct sched_entity *pick_dq(struct sched *s, struct sched_dq *q, uint64_t now,
				    uint64_t *wake)
{
	struct sched_domain *d = q->dom;
	struct sched_entity *e;
	bool changed = false;

	if (ld(&d->inflight) >= ld(&d->cap_eff))
		return ld(&d->busy_count) > 1 ? pick_guaranteed(q, now) : NULL;
	if (d->mode == SCHED_MODE_FIFO)
		return heap_top(q, SCHED_HEAP_WEIGHT);

	/* Whoever's limit allows it again competes from the current virtual time. */
	while ((e = heap_top(q, SCHED_HEAP_THROTTLE)) && e->ready_ns <= now) {
		unpark_account(q, e, e->ready_ns);
		make_runnable(q, e, true);
		changed = true;
	}

	/*
	 * Each iteration either returns or parks one entity; an entity is
	 * parked at most once per dispatch it made, so this is amortised
	 * O(log n) per dispatch.
	 */
	for (;;) {
		e = heap_top(q, SCHED_HEAP_RESV);
		if (e && e->resv_tag <= now) {
			if (e->ready_ns > now) {
				park(q, e, now);
				changed = true;
				continue;
			}
			e->flags |= F_PICK_RESV;
			break;
		}
		e = heap_top(q, SCHED_HEAP_WEIGHT);
		if (!e)
			break;
		if (e->ready_ns > now) {
			park(q, e, now);
			changed = true;
			continue;
		}
		if (!may_go(s, q, e, now, wake)) {
			e = NULL;
			break;
		}
		/* The front never lags vnow by more than a lead: SFQ's V(t). */
		vnow_advance(d, e->vtime);
		e->flags &= ~F_PICK_RESV;
		break;
	}
	if (changed)
		publish(s, q, now);
	if (e)
		return e;
	e = heap_top(q, SCHED_HEAP_THROTTLE);
	if (e)
		*wake = MIN(*wake, e->ready_ns);
	return NULL;
}

struct sched_entity *sched_pick(struct sched *s, uint64_t now, uint64_t *ret_wake_ns)
{
	struct sched_dq *q, *start;

	*ret_wake_ns = UINT64_MAX;
	start = s->rr ? s->rr : s->dqs;
	if (!start)
		return NULL;
	/* Domains are independent resources: take turns, starting after the last pick. */
	q = start;
	do {
		struct sched_entity *e = pick_dq(s, q, now, ret_wake_ns);

		if (e) {
			s->rr = q->next;
			return e;
		}
		q = q->next ? q->next : s->dqs;
	} while (q != start);
	return NULL;
}

static void charge_fair(struct sched_entity *e, uint64_t cost, uint64_t bytes,
			uint64_t now)
{
	uint64_t lo = sat_sub(now, SCHED_BURST_NS);

	if (e->flags & F_PICK_RESV) {
		stat_add(&e->stats.resv_dispatched, 1);
	} else {
		/*
		 * Reservation dispatches are not charged to virtual time: the
		 * weighted share is of what reservations leave. Dispatches won
		 * by weight count towards the reservation below, so the
		 * entity gets max(reservation, weighted share).
		 */
		e->vtime += div_carry(cost, e->qos.weight, &e->vrem);
	}
	e->flags &= ~F_PICK_RESV;

	if (e->qos.iops_reservation) {
		/* Catch up at most one burst; run ahead at most one burst. */
		e->resv_tag = MAX(e->resv_tag, lo) +
			      div_carry(NS_PER_S, e->qos.iops_reservation, &e->resv_rem);
		e->resv_tag = MIN(e->resv_tag, now + SCHED_BURST_NS);
	}
	if (e->qos.iops_limit)
		e->iops_tat = MAX(e->iops_tat, now) +
			      div_carry(NS_PER_S, e->qos.iops_limit, &e->iops_rem);
	if (e->qos.bps_limit)
		e->bps_tat = MAX(e->bps_tat, now) +
			     div_carry((uint64_t)bytes * NS_PER_S, e->qos.bps_limit,
				       &e->bps_rem);
	ready_update(e);
}

unsigned sched_dispatched(struct sched *s, struct sched_entity *e, const struct sched_io *io,
			  uint64_t now)
{
	bool seq = io->op != SCHED_IO_FLUSH && io->offset == e->next_offset;
	uint64_t cost = sched_model_cost(&e->dom->model, io, seq);
	uint64_t bytes = io->op == SCHED_IO_FLUSH ? 0 : io->bytes;
	unsigned cls = sched_learn_class(e->dom, io, seq);
	struct sched_dq *q;

	if (cls < SCHED_LC_NR)	/* learned online (sched_model.c) */
		cost = MAX(1ull, cost * ld(&e->dom->scale[cls]) / SCHED_SCALE_ONE);

	if (io->op != SCHED_IO_FLUSH)
		e->next_offset = io->offset + io->bytes;
	if (!add(&e->dom->inflight, 1u))
		sched_learn_idle(e->dom);	/* the device was idle: not a device-bound window */
	stat_add(&e->stats.inflight, 1);
	stat_add(&e->stats.dispatched, 1);
	stat_add(&e->stats.cost, cost);
	if (!(e->flags & F_ADDED))
		return cls;
	/* A moving average over about 8 requests: the slot share follows the mix. */
	if (cost >= e->cost_avg)
		e->cost_avg += (cost - e->cost_avg + 7) / 8;
	else
		e->cost_avg -= (e->cost_avg - cost) / 8;
	rekey(e);
	busy_update(e);

	if (e->dom->mode == SCHED_MODE_FIFO) {
		e->vtime = add(&e->dom->seq, 1) + 1;
		if (in_heap(e, SCHED_HEAP_WEIGHT))
			heap_fix(dq_of(s, e), SCHED_HEAP_WEIGHT, e);
		return cls;
	}

	charge_fair(e, cost, bytes, now);
	if (!(e->flags & F_QUEUED))
		return cls;
	q = dq_of(s, e);
	if (e->flags & F_ACTIVE) {
		if (e->flags & F_PARKED) {
			heap_fix(q, SCHED_HEAP_THROTTLE, e);
		} else {
			heap_fix(q, SCHED_HEAP_WEIGHT, e);
			if (in_heap(e, SCHED_HEAP_RESV))
				heap_fix(q, SCHED_HEAP_RESV, e);
		}
	} else if (e->flags & F_ANTIC) {
		heap_fix(q, SCHED_HEAP_ANTIC, e);
	}
	publish(s, q, now);
	return cls;
}

/*
 * lat_adjust - end of a latency window: any missed target halves the
 * effective cap (a quarter at a time once it is small), met targets let it
 * grow by one eighth (at least one). A window without an evaluation changes
 * nothing (a targeted tenant between bursts, or not scheduled on its CPU);
 * only after SCHED_LAT_QUIET_WINDOWS of them, when no targeted entity is
 * doing I/O any more, does the cap return to the configured one. O(1):
 * entities evaluate themselves as their samples come in. Run by the one
 * poller that moved the window on.
 */
static void lat_adjust(struct sched_domain *d)
{
	uint32_t cap = ld(&d->cap_eff);
	uint32_t state = __atomic_exchange_n(&d->lat_state, 0u, __ATOMIC_RELAXED);
	uint32_t quiet = state ? 0 : ld(&d->lat_quiet) + 1;

	st(&d->lat_quiet, quiet);
	if (state & LAT_MISSED)
		cap = cap > 4 ? cap / 2 : cap * 3 / 4;
	else if (state & LAT_MET)
		cap += MAX(1u, cap / 8);
	else if (quiet >= SCHED_LAT_QUIET_WINDOWS)
		cap = d->inflight_cap;
	cap = MAX(1u, MIN(cap, d->inflight_cap));
	st(&d->cap_eff, cap);
}

void sched_completed(struct sched *s, struct sched_entity *e, uint64_t lat_ns, uint64_t now)
{
	struct sched_domain *d = e->dom;
	uint64_t end;

	(void)s;
	if (ld(&d->inflight))
		sub(&d->inflight, 1u);
	stat_dec(&e->stats.inflight);
	busy_update(e);
	if (d->mode != SCHED_MODE_FAIR)
		return;
	if (lat_ns && e->qos.latency_target_ns && (e->flags & F_ADDED)) {
		e->lat_sum += lat_ns;
		if (++e->lat_cnt >= SCHED_LAT_SAMPLES) {
			__atomic_fetch_or(&d->lat_state,
					  e->lat_sum / e->lat_cnt > e->qos.latency_target_ns ?
					  LAT_MISSED : LAT_MET, __ATOMIC_RELAXED);
			e->lat_sum = 0;
			e->lat_cnt = 0;
		}
	}
	end = ld(&d->lat_window_end);
	if (now >= end && __atomic_compare_exchange_n(&d->lat_window_end, &end,
						      now + SCHED_LAT_WINDOW_NS, false,
						      __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		lat_adjust(d);
}

void sched_entity_stats(const struct sched_entity *e, struct sched_stats *ret)
{
	ret->dispatched = stat_get(&e->stats.dispatched);
	ret->resv_dispatched = stat_get(&e->stats.resv_dispatched);
	ret->cost = stat_get(&e->stats.cost);
	ret->throttled = stat_get(&e->stats.throttled);
	ret->throttled_ns = stat_get(&e->stats.throttled_ns);
	ret->inflight = stat_get(&e->stats.inflight);
}

void sched_domain_stats(const struct sched_domain *d, struct sched_domain_stats *ret)
{
	ret->inflight = ld(&d->inflight);
	ret->inflight_cap = ld(&d->cap_eff);
	ret->busy = ld(&d->busy_count);
	ret->entities = ld(&d->nentities);
}
