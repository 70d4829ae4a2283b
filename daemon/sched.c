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
 * Three indexed binary heaps hold the active entities: by virtual time (all
 * runnable), by reservation tag (runnable with a reservation), by eligible
 * time (held by a limit). A throttled entity is parked lazily: it leaves
 * the runnable heaps the first time pick would have chosen it, which keeps
 * dispatch O(log n) and counts only the throttling that held back work.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "util.h"

#define NS_PER_S 1000000000ull
#define HEAP_NONE UINT32_MAX
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
};

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
	uint64_t v = __atomic_load_n(c, __ATOMIC_RELAXED);

	if (v)
		__atomic_store_n(c, v - 1, __ATOMIC_RELAXED);
}

static bool heap_less(int h, const struct sched_entity *a, const struct sched_entity *b)
{
	switch (h) {
	case SCHED_HEAP_WEIGHT:
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

static inline struct sched_entity *heap_top(const struct sched *s, int h)
{
	return s->heap[h].n ? s->heap[h].v[0] : NULL;
}

/* Capacity is max_entities and an entity is in each heap at most once. */
static void heap_push(struct sched *s, int h, struct sched_entity *e)
{
	struct sched_heap *hp = &s->heap[h];

	heap_put(hp, h, hp->n++, e);
	sift_up(hp, h, hp->n - 1);
}

static void heap_fix(struct sched *s, int h, struct sched_entity *e)
{
	struct sched_heap *hp = &s->heap[h];

	sift_up(hp, h, e->heap_idx[h]);
	sift_down(hp, h, e->heap_idx[h]);
}

static void heap_del(struct sched *s, int h, struct sched_entity *e)
{
	struct sched_heap *hp = &s->heap[h];
	uint32_t i = e->heap_idx[h];
	struct sched_entity *last = hp->v[--hp->n];

	e->heap_idx[h] = HEAP_NONE;
	if (i == hp->n)
		return;
	heap_put(hp, h, i, last);
	heap_fix(s, h, last);
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
 * busy_update - keep busy_weight (and busy_count, FIFO's equal shares) the
 * sum over entities that are active or still have requests in flight:
 * those are the ones the in-flight slots are shared among.
 */
static void busy_update(struct sched *s, struct sched_entity *e)
{
	bool busy = (e->flags & F_ADDED) &&
		    ((e->flags & F_ACTIVE) || stat_get(&e->stats.inflight));

	if (busy == !!(e->flags & F_BUSY))
		return;
	if (busy) {
		e->flags |= F_BUSY;
		s->busy_weight += e->qos.weight;
		s->busy_count++;
	} else {
		e->flags &= ~F_BUSY;
		s->busy_weight -= e->qos.weight;
		s->busy_count--;
	}
}

/*
 * slot_share - the in-flight slots e is guaranteed: its weight's part of
 * the effective cap among busy entities (FIFO: an equal part), rounded
 * down, so the shares add up to at most the cap.
 */
static uint32_t slot_share(const struct sched *s, const struct sched_entity *e)
{
	if (s->mode == SCHED_MODE_FIFO)
		return s->busy_count ? s->cap_eff / s->busy_count : s->cap_eff;
	if (!s->busy_weight)
		return s->cap_eff;
	return (uint32_t)((uint64_t)s->cap_eff * e->qos.weight / s->busy_weight);
}

/* No banked credit: a (re)runnable entity starts at the system virtual time. */
static void vtime_clamp(struct sched *s, struct sched_entity *e)
{
	if (vt_before(e->vtime, s->vnow) || e->vtime - s->vnow > VLEAD_MAX)
		e->vtime = s->vnow;
}

static void make_runnable(struct sched *s, struct sched_entity *e)
{
	vtime_clamp(s, e);
	heap_push(s, SCHED_HEAP_WEIGHT, e);
	if (e->qos.iops_reservation)
		heap_push(s, SCHED_HEAP_RESV, e);
}

static void park(struct sched *s, struct sched_entity *e, uint64_t now)
{
	heap_del(s, SCHED_HEAP_WEIGHT, e);
	if (in_heap(e, SCHED_HEAP_RESV))
		heap_del(s, SCHED_HEAP_RESV, e);
	e->flags |= F_PARKED;
	e->throttle_start = now;
	heap_push(s, SCHED_HEAP_THROTTLE, e);
	stat_add(&e->stats.throttled, 1);
}

/* Leave the throttle heap; held back from throttle_start until `until`. */
static void unpark_account(struct sched *s, struct sched_entity *e, uint64_t until)
{
	heap_del(s, SCHED_HEAP_THROTTLE, e);
	e->flags &= ~F_PARKED;
	stat_add(&e->stats.throttled_ns, sat_sub(until, e->throttle_start));
}

int sched_init(struct sched *s, enum sched_mode mode, uint32_t inflight_cap,
	       uint32_t max_entities)
{
	int h;

	if ((mode != SCHED_MODE_FAIR && mode != SCHED_MODE_FIFO) ||
	    inflight_cap < 1 || inflight_cap > SCHED_INFLIGHT_CAP_MAX ||
	    max_entities < 1 || max_entities > SCHED_ENTITIES_MAX)
		return -EINVAL;

	memset(s, 0, sizeof(*s));
	for (h = 0; h < SCHED_HEAP_NR; h++) {
		s->heap[h].v = calloc(max_entities, sizeof(*s->heap[h].v));
		if (!s->heap[h].v) {
			sched_destroy(s);
			return -ENOMEM;
		}
	}
	s->mode = mode;
	s->inflight_cap = inflight_cap;
	s->cap_eff = inflight_cap;
	s->max_entities = max_entities;
	return 0;
}

void sched_destroy(struct sched *s)
{
	int h;

	if (!s)
		return;
	for (h = 0; h < SCHED_HEAP_NR; h++)
		free(s->heap[h].v);
	memset(s, 0, sizeof(*s));
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

int sched_entity_add(struct sched *s, struct sched_entity *e,
		     const struct sched_qos *q, uint64_t now)
{
	int h, r;

	r = sched_qos_validate(q);
	if (r < 0)
		return r;
	if (s->nentities >= s->max_entities)
		return -ENOSPC;

	memset(e, 0, sizeof(*e));
	for (h = 0; h < SCHED_HEAP_NR; h++)
		e->heap_idx[h] = HEAP_NONE;
	e->qos = *q;
	e->vtime = s->vnow;
	e->resv_tag = now;
	e->iops_tat = now;
	e->bps_tat = now;
	ready_update(e);
	e->flags = F_ADDED;
	s->nentities++;
	return 0;
}

void sched_entity_remove(struct sched *s, struct sched_entity *e)
{
	int h;

	if (!(e->flags & F_ADDED))
		return;
	for (h = 0; h < SCHED_HEAP_NR; h++)
		if (in_heap(e, h))
			heap_del(s, h, e);
	e->flags &= ~(F_ADDED | F_ACTIVE);
	busy_update(s, e);
	e->flags = 0;
	s->nentities--;
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
	int r;

	r = sched_qos_validate(q);
	if (r < 0)
		return r;
	if (e->flags & F_BUSY)
		s->busy_weight += (uint64_t)q->weight - old.weight;
	e->qos = *q;
	if (!(e->flags & F_ADDED) || s->mode == SCHED_MODE_FIFO)
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

	if (!(e->flags & F_ACTIVE))
		return 0;
	if (e->flags & F_PARKED) {
		if (e->ready_ns > now) {
			heap_fix(s, SCHED_HEAP_THROTTLE, e);
		} else {
			unpark_account(s, e, now);
			make_runnable(s, e);
		}
		return 0;
	}
	if (in_heap(e, SCHED_HEAP_RESV) && !q->iops_reservation)
		heap_del(s, SCHED_HEAP_RESV, e);
	else if (in_heap(e, SCHED_HEAP_RESV))
		heap_fix(s, SCHED_HEAP_RESV, e);
	else if (q->iops_reservation)
		heap_push(s, SCHED_HEAP_RESV, e);
	return 0;
}

void sched_activate(struct sched *s, struct sched_entity *e, uint64_t now)
{
	if ((e->flags & (F_ADDED | F_ACTIVE)) != F_ADDED)
		return;
	e->flags |= F_ACTIVE;
	busy_update(s, e);
	if (s->mode == SCHED_MODE_FIFO) {
		e->vtime = ++s->seq;
		heap_push(s, SCHED_HEAP_WEIGHT, e);
		return;
	}
	/* Idle time banks no reservation either. */
	e->resv_tag = MAX(e->resv_tag, now);
	make_runnable(s, e);
	if (e->ready_ns > now)
		park(s, e, now);
}

void sched_deactivate(struct sched *s, struct sched_entity *e, uint64_t now)
{
	if (!(e->flags & F_ACTIVE))
		return;
	if (e->flags & F_PARKED) {
		unpark_account(s, e, MIN(now, e->ready_ns));
	} else {
		heap_del(s, SCHED_HEAP_WEIGHT, e);
		if (in_heap(e, SCHED_HEAP_RESV))
			heap_del(s, SCHED_HEAP_RESV, e);
	}
	e->flags &= ~F_ACTIVE;
	busy_update(s, e);
}

/*
 * pick_guaranteed - the cap is reached: the runnable entity that is below
 * its slot share and first in fair order, if any. Without this, a tenant
 * whose requests are slow (a hung backend, long flushes) would hold every
 * slot and stall all the others; with it, its slow requests only slow
 * itself. O(runnable entities), only while the cap is full.
 */
static struct sched_entity *pick_guaranteed(struct sched *s, uint64_t now)
{
	const struct sched_heap *hp = &s->heap[SCHED_HEAP_WEIGHT];
	struct sched_entity *best = NULL;

	for (uint32_t i = 0; i < hp->n; i++) {
		struct sched_entity *e = hp->v[i];

		if (e->ready_ns > now || stat_get(&e->stats.inflight) >= slot_share(s, e))
			continue;
		if (!best || heap_less(SCHED_HEAP_WEIGHT, e, best))
			best = e;
	}
	if (best)
		best->flags &= ~F_PICK_RESV;
	return best;
}

struct sched_entity *sched_pick(struct sched *s, uint64_t now, uint64_t *ret_wake_ns)
{
	struct sched_entity *e;

	*ret_wake_ns = UINT64_MAX;
	if (s->inflight >= s->cap_eff)
		return s->busy_count > 1 ? pick_guaranteed(s, now) : NULL;
	if (s->mode == SCHED_MODE_FIFO)
		return heap_top(s, SCHED_HEAP_WEIGHT);

	/* Whoever's limit allows it again competes from the current virtual time. */
	while ((e = heap_top(s, SCHED_HEAP_THROTTLE)) && e->ready_ns <= now) {
		unpark_account(s, e, e->ready_ns);
		make_runnable(s, e);
	}

	/*
	 * Each iteration either returns or parks one entity; an entity is
	 * parked at most once per dispatch it made, so this is amortised
	 * O(log n) per dispatch.
	 */
	for (;;) {
		e = heap_top(s, SCHED_HEAP_RESV);
		if (e && e->resv_tag <= now) {
			if (e->ready_ns > now) {
				park(s, e, now);
				continue;
			}
			e->flags |= F_PICK_RESV;
			break;
		}
		e = heap_top(s, SCHED_HEAP_WEIGHT);
		if (!e)
			break;
		if (e->ready_ns > now) {
			park(s, e, now);
			continue;
		}
		/* Runnable entities never lag vnow, so this is SFQ's V(t). */
		if (vt_before(s->vnow, e->vtime))
			s->vnow = e->vtime;
		e->flags &= ~F_PICK_RESV;
		break;
	}
	if (e)
		return e;
	e = heap_top(s, SCHED_HEAP_THROTTLE);
	if (e)
		*ret_wake_ns = e->ready_ns;
	return NULL;
}

static void charge_fair(struct sched_entity *e, uint64_t cost, uint32_t bytes,
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

void sched_dispatched(struct sched *s, struct sched_entity *e, uint32_t bytes,
		      uint64_t now)
{
	uint64_t cost = sched_cost(bytes);

	__atomic_store_n(&s->inflight, s->inflight + 1, __ATOMIC_RELAXED);
	stat_add(&e->stats.inflight, 1);
	stat_add(&e->stats.dispatched, 1);
	stat_add(&e->stats.cost, cost);
	if (!(e->flags & F_ADDED))
		return;
	busy_update(s, e);

	if (s->mode == SCHED_MODE_FIFO) {
		e->vtime = ++s->seq;
		if (in_heap(e, SCHED_HEAP_WEIGHT))
			heap_fix(s, SCHED_HEAP_WEIGHT, e);
		return;
	}

	charge_fair(e, cost, bytes, now);
	if (!(e->flags & F_ACTIVE))
		return;
	if (e->flags & F_PARKED) {
		heap_fix(s, SCHED_HEAP_THROTTLE, e);
		return;
	}
	heap_fix(s, SCHED_HEAP_WEIGHT, e);
	if (in_heap(e, SCHED_HEAP_RESV))
		heap_fix(s, SCHED_HEAP_RESV, e);
}

/*
 * lat_adjust - end of a latency window: any missed target halves the
 * effective cap (a quarter at a time once it is small), met targets let it
 * grow by one eighth (at least one). A window without an evaluation changes
 * nothing (a targeted tenant between bursts, or not scheduled on its CPU);
 * only after SCHED_LAT_QUIET_WINDOWS of them, when no targeted entity is
 * doing I/O any more, does the cap return to the configured one. O(1):
 * entities evaluate themselves as their samples come in.
 */
static void lat_adjust(struct sched *s, uint64_t now)
{
	uint32_t cap = s->cap_eff;

	s->lat_quiet = s->lat_missed || s->lat_met ? 0 : s->lat_quiet + 1;
	if (s->lat_missed)
		cap = cap > 4 ? cap / 2 : cap * 3 / 4;
	else if (s->lat_met)
		cap += MAX(1u, cap / 8);
	else if (s->lat_quiet >= SCHED_LAT_QUIET_WINDOWS)
		cap = s->inflight_cap;
	cap = MAX(1u, MIN(cap, s->inflight_cap));
	__atomic_store_n(&s->cap_eff, cap, __ATOMIC_RELAXED);
	s->lat_missed = s->lat_met = false;
	s->lat_window_end = now + SCHED_LAT_WINDOW_NS;
}

void sched_completed(struct sched *s, struct sched_entity *e, uint64_t lat_ns, uint64_t now)
{
	if (s->inflight)
		__atomic_store_n(&s->inflight, s->inflight - 1, __ATOMIC_RELAXED);
	stat_dec(&e->stats.inflight);
	busy_update(s, e);
	if (s->mode != SCHED_MODE_FAIR)
		return;
	if (lat_ns && e->qos.latency_target_ns && (e->flags & F_ADDED)) {
		e->lat_sum += lat_ns;
		if (++e->lat_cnt >= SCHED_LAT_SAMPLES) {
			if (e->lat_sum / e->lat_cnt > e->qos.latency_target_ns)
				s->lat_missed = true;
			else
				s->lat_met = true;
			e->lat_sum = 0;
			e->lat_cnt = 0;
		}
	}
	if (now >= s->lat_window_end)
		lat_adjust(s, now);
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
