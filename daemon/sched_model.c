// SPDX-License-Identifier: MIT
/*
 * sched_model.c - the scheduler's cost model: the fixed one, a calibrated
 * one (pvfsctl calibrate), and its refinement online from the device's
 * completions (see sched.h "Online refinement" for the API and the rule).
 *
 * Why a fit over windows and not per-request latencies: under concurrency a
 * request's latency is mostly other requests' time (queueing in the device,
 * internal parallelism), so per-class latencies do not tell a class's cost
 * apart; what the device gives away exactly is how much work it completed
 * while it was kept busy. A window in which the domain never dropped below
 * the probe's queue depth is device-bound, so its length W is what its
 * completions cost:
 *
 *     W = sum_c z_c * s_c
 *
 * z_c the calibrated cost of the window's completions of class c (so the
 * rows are in nanoseconds whatever the device), s_c the unknown scales
 * (1 = the calibration holds). Why a scale per class and not a coefficient
 * per term: the per-request and per-byte terms of one class are issued
 * together (a tenant doing 4 KiB reads moves both in a fixed proportion),
 * so a fit of both would split their sum arbitrarily and misprice the
 * same class at other sizes; the calibrated shape is kept instead. Ridge
 * least squares with forgetting (weight SCHED_LEARN_KEEP per window):
 *
 *     (Z'Z + L) s = Z'W + L 1,  L_cc = Z'Z_cc / 20 + trace(Z'Z) / 1000 / C
 *
 * The first term holds a class to its calibration in proportion to its
 * own evidence, the second keeps a class seen a handful of times from
 * absorbing the other classes' noise. A direction the windows never vary
 * along (two classes always in the same proportion) stays where the
 * calibration put it instead of being split arbitrarily; classes whose
 * share changes between windows (tenants come, go, burst) are told apart.
 * The scales are clamped to [1 / SCHED_LEARN_CLAMP, SCHED_LEARN_CLAMP]: a
 * tenant can move its class's price only by really making the device
 * slower or faster, and never far.
 *
 * Threading: counting is relaxed atomics in the domain's own cache lines;
 * the poller whose completion ends a window (a compare-and-swap on its
 * start) takes the counts, and the fit runs under a try-lock (a window that
 * finds it taken is dropped, not waited for). sched_domain_set_model takes
 * the same lock, from the control thread, for the few microseconds a fit
 * lasts.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#include "sched.h"
#include "util.h"

#define C SCHED_LC_NR
#define SCHED_LEARN_KEEP 0.99	/* forgetting: a window's weight after the next */
#define SCHED_LEARN_RIDGE 0.05	/* the prior's weight, relative to a class's own evidence */
#define SCHED_LEARN_FLOOR 0.001	/* ... and relative to the mean class's */

#define ld(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define st(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

uint64_t sched_model_cost(const struct sched_model *m, const struct sched_io *io, bool seq)
{
	unsigned rw = io->op == SCHED_IO_WRITE;
	uint64_t req, ps;

	if (io->op == SCHED_IO_FLUSH) {
		req = ld(&m->flush_ns);
		return req ? req : ld(&m->rand_ns[1]) ? ld(&m->rand_ns[1]) : SCHED_OP_COST;
	}
	req = ld(seq ? &m->seq_ns[rw] : &m->rand_ns[rw]);
	ps = ld(&m->byte_ps[rw]);
	if (!req && !ps)
		return sched_cost(io->bytes);
	return req + io->bytes * ps / 1000;
}

int sched_model_validate(const struct sched_model *m)
{
	for (int i = 0; i < 2; i++)
		if (m->seq_ns[i] > SCHED_MODEL_NS_MAX || m->rand_ns[i] > SCHED_MODEL_NS_MAX ||
		    m->byte_ps[i] > SCHED_MODEL_PS_MAX)
			return -EINVAL;
	return m->flush_ns > SCHED_MODEL_NS_MAX ? -EINVAL : 0;
}

static bool model_fixed(const struct sched_model *m)
{
	static const struct sched_model fixed;

	return !memcmp(m, &fixed, sizeof(*m));
}

/* The lead is four random 4 KiB reads' worth under the domain's model. */
static uint64_t lead_of(const struct sched_model *m)
{
	struct sched_io io = { .op = SCHED_IO_READ, .bytes = 4096 };

	return MAX(1ull, 4 * sched_model_cost(m, &io, false));
}

static void model_store(struct sched_model *dst, const struct sched_model *m)
{
	for (int i = 0; i < 2; i++) {
		st(&dst->seq_ns[i], m->seq_ns[i]);
		st(&dst->rand_ns[i], m->rand_ns[i]);
		st(&dst->byte_ps[i], m->byte_ps[i]);
	}
	st(&dst->flush_ns, m->flush_ns);
}

static void model_load(const struct sched_model *src, struct sched_model *ret)
{
	for (int i = 0; i < 2; i++) {
		ret->seq_ns[i] = ld(&src->seq_ns[i]);
		ret->rand_ns[i] = ld(&src->rand_ns[i]);
		ret->byte_ps[i] = ld(&src->byte_ps[i]);
	}
	ret->flush_ns = ld(&src->flush_ns);
}

static void learn_lock(struct sched_learn *l)
{
	while (__atomic_exchange_n(&l->lock, 1u, __ATOMIC_ACQUIRE))
		sched_yield();
}

static bool learn_trylock(struct sched_learn *l)
{
	return !__atomic_exchange_n(&l->lock, 1u, __ATOMIC_ACQUIRE);
}

static void learn_unlock(struct sched_learn *l)
{
	__atomic_store_n(&l->lock, 0u, __ATOMIC_RELEASE);
}

/* Forget the fit and the window being counted (under the lock). */
static void learn_reset(struct sched_learn *l)
{
	memset(l->ata, 0, sizeof(l->ata));
	memset(l->atb, 0, sizeof(l->atb));
	l->mass = 0;
	for (int c = 0; c < C; c++)
		st(&l->x[c], 0ull);
	st(&l->n, 0u);
	st(&l->min_depth, UINT32_MAX);
	st(&l->start, 0ull);
}

/*
 * learn_restart - every scale back to 1, the fit forgotten, learning on if
 * enabled and m (the model as set) is calibrated (under the lock).
 */
static void learn_restart(struct sched_domain *d, const struct sched_model *m)
{
	for (int c = 0; c < C; c++)
		st(&d->scale[c], SCHED_SCALE_ONE);
	learn_reset(&d->learn);
	st(&d->learn.on, ld(&d->learn.enabled) && !model_fixed(m));
}

int sched_domain_set_model(struct sched_domain *d, const struct sched_model *m)
{
	struct sched_learn *l = &d->learn;
	int r = sched_model_validate(m);

	if (r < 0)
		return r;
	learn_lock(l);
	model_store(&d->model, m);
	st(&d->lead_cost, lead_of(m));
	learn_restart(d, m);
	learn_unlock(l);
	return 0;
}

void sched_domain_model(const struct sched_domain *d, struct sched_model *ret)
{
	model_load(&d->model, ret);
}

void sched_domain_set_learning(struct sched_domain *d, bool enabled)
{
	struct sched_learn *l = &d->learn;
	struct sched_model m;

	learn_lock(l);
	st(&l->enabled, enabled);
	model_load(&d->model, &m);
	learn_restart(d, &m);	/* back to the calibration as set, or afresh */
	learn_unlock(l);
}

void sched_domain_learn_stats(const struct sched_domain *d, struct sched_learn_stats *ret)
{
	ret->on = ld(&d->learn.on);
	ret->windows = ld(&d->learn.windows);
	ret->refits = ld(&d->learn.refits);
	for (int c = 0; c < C; c++)
		ret->scale[c] = (double)ld(&d->scale[c]) / SCHED_SCALE_ONE;
}

/* Solve a x = y (C x C, Gaussian elimination with partial pivoting); false if singular. */
static bool solve(double a[C][C], double *y, double *x)
{
	for (int col = 0; col < C; col++) {
		int piv = col;

		for (int r = col + 1; r < C; r++)
			if (__builtin_fabs(a[r][col]) > __builtin_fabs(a[piv][col]))
				piv = r;
		if (!(__builtin_fabs(a[piv][col]) > 1e-300))
			return false;
		if (piv != col) {
			double t;

			for (int k = 0; k < C; k++) {
				t = a[col][k];
				a[col][k] = a[piv][k];
				a[piv][k] = t;
			}
			t = y[col];
			y[col] = y[piv];
			y[piv] = t;
		}
		for (int r = col + 1; r < C; r++) {
			double f = a[r][col] / a[col][col];

			for (int k = col; k < C; k++)
				a[r][k] -= f * a[col][k];
			y[r] -= f * y[col];
		}
	}
	for (int r = C - 1; r >= 0; r--) {
		double v = y[r];

		for (int k = r + 1; k < C; k++)
			v -= a[r][k] * x[k];
		x[r] = v / a[r][r];
	}
	return true;
}

/* Add the window (calibrated cost per class x, length w_ns) and refit (under the lock). */
static void learn_window(struct sched_domain *d, const uint64_t *x, uint64_t w_ns)
{
	struct sched_learn *l = &d->learn;
	double z[C], a[C][C], y[C], sc[C], trace = 0;

	for (int c = 0; c < C; c++)
		z[c] = (double)x[c];
	for (int i = 0; i < C; i++) {
		for (int j = 0; j < C; j++)
			l->ata[i][j] = l->ata[i][j] * SCHED_LEARN_KEEP + z[i] * z[j];
		l->atb[i] = l->atb[i] * SCHED_LEARN_KEEP + z[i] * (double)w_ns;
		trace += l->ata[i][i];
	}
	l->mass = l->mass * SCHED_LEARN_KEEP + 1.0;
	__atomic_fetch_add(&l->windows, 1ull, __ATOMIC_RELAXED);
	if (l->mass < SCHED_LEARN_MIN_WINDOWS)
		return;

	memcpy(a, l->ata, sizeof(a));
	for (int c = 0; c < C; c++) {
		double lambda = l->ata[c][c] * SCHED_LEARN_RIDGE + trace * SCHED_LEARN_FLOOR / C + 1.0;

		a[c][c] += lambda;
		y[c] = l->atb[c] + lambda;
	}
	if (!solve(a, y, sc))
		return;
	for (int c = 0; c < C; c++) {
		if (!(sc[c] >= 1.0 / SCHED_LEARN_CLAMP))	/* also NaN */
			sc[c] = 1.0 / SCHED_LEARN_CLAMP;
		else if (sc[c] > SCHED_LEARN_CLAMP)
			sc[c] = SCHED_LEARN_CLAMP;
		st(&d->scale[c], (uint32_t)(sc[c] * SCHED_SCALE_ONE + 0.5));
	}
	__atomic_fetch_add(&l->refits, 1ull, __ATOMIC_RELAXED);
}

unsigned sched_learn_class(const struct sched_domain *d, const struct sched_io *io, bool seq)
{
	if (!ld(&d->learn.on))
		return SCHED_LC_NONE;
	if (io->op == SCHED_IO_FLUSH)
		return SCHED_LC_FLUSH;
	if (io->op == SCHED_IO_WRITE)
		return seq ? SCHED_LC_SEQ_WRITE : SCHED_LC_RAND_WRITE;
	return seq ? SCHED_LC_SEQ_READ : SCHED_LC_RAND_READ;
}

void sched_learn_idle(struct sched_domain *d)
{
	if (ld(&d->learn.on))
		st(&d->learn.min_depth, 0u);
}

void sched_learn(struct sched_entity *e, unsigned cls, uint32_t bytes, uint64_t now)
{
	struct sched_domain *d = e->dom;
	struct sched_learn *l = &d->learn;
	struct sched_io io = { .offset = 0 };
	uint32_t depth, min, sat;
	uint64_t start, x[C];

	if (cls >= SCHED_LC_NR || !ld(&l->on))
		return;
	io.op = cls == SCHED_LC_FLUSH ? SCHED_IO_FLUSH :
		cls >= SCHED_LC_SEQ_WRITE ? SCHED_IO_WRITE : SCHED_IO_READ;
	io.bytes = bytes;
	__atomic_fetch_add(&l->x[cls], sched_model_cost(&d->model, &io,
							cls == SCHED_LC_SEQ_READ ||
							cls == SCHED_LC_SEQ_WRITE),
			   __ATOMIC_RELAXED);
	__atomic_fetch_add(&l->n, 1u, __ATOMIC_RELAXED);
	depth = ld(&d->inflight);	/* this request still counts */
	min = ld(&l->min_depth);
	while (depth < min && !__atomic_compare_exchange_n(&l->min_depth, &min, depth, true,
							   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;

	start = ld(&l->start);
	if (start && now - start < SCHED_LEARN_WINDOW_NS)
		return;
	if (!__atomic_compare_exchange_n(&l->start, &start, now, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return;		/* another poller closed it */
	for (int c = 0; c < C; c++)
		x[c] = __atomic_exchange_n(&l->x[c], 0ull, __ATOMIC_RELAXED);
	min = __atomic_exchange_n(&l->min_depth, UINT32_MAX, __ATOMIC_RELAXED);
	sat = MIN(SCHED_LEARN_DEPTH, ld(&d->cap_eff));
	if (__atomic_exchange_n(&l->n, 0u, __ATOMIC_RELAXED) < SCHED_LEARN_MIN_OPS ||
	    !start || min < sat || now - start > 4 * SCHED_LEARN_WINDOW_NS)
		return;		/* the first, or not device-bound, or a stale one */
	if (!learn_trylock(l))
		return;
	learn_window(d, x, now - start);
	learn_unlock(l);
}
