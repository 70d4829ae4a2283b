/* SPDX-License-Identifier: MIT */
/*
 * stage.h - where a request's time goes inside pvfsd: the per-stage latency
 * breakdown, always on, kept per tenant as log-linear histograms (hist.h)
 * next to the end-to-end latency. A request passes five events in pvfsd:
 *
 *   seen        the poller observed its SQ slot behind the guest's tail
 *   dispatched  the scheduler picked it and it was copied, validated and
 *               translated (prepared for the backend)
 *   submitted   the backend took it (for the file backend: the
 *               io_uring_enter that carried its SQE returned)
 *   reaped      the backend handed its completion back to the poller
 *   published   its CQE is visible to the guest (cq_tail stored)
 *
 * and each stage is named for the interval ending at one of them: queue
 * (seen -> dispatched: scheduler and QoS), submit (dispatched -> submitted),
 * backend (submitted -> reaped: the device, the kernel's completion work and
 * the poller's delay in reaping it), complete (reaped -> published). The
 * guest's side of the ring (its publish -> seen, published -> it sees the
 * CQE) only the guest can time: pvfs-bench reports it.
 *
 * Cost: no clock read per request. The poller reads the clock once per pass
 * already ("now": seen, dispatched and reaped are that pass's time), once
 * after each submit and once after a reap that published CQEs; everything in
 * one batch shares those stamps (stage_add_batch). Build with
 * -DPVFSD_NO_STAGES to compile it all out (only to measure what it costs).
 * Poller thread only; readers use stat_get like every other counter.
 */
#ifndef PVFSD_STAGE_H
#define PVFSD_STAGE_H

#include <stdint.h>

#include "hist.h"
#include "util.h"

enum stage {
	STAGE_QUEUE,		/* seen -> dispatched */
	STAGE_SUBMIT,		/* dispatched -> submitted */
	STAGE_BACKEND,		/* submitted -> reaped */
	STAGE_COMPLETE,		/* reaped -> published */
	STAGE_MAX
};

/* Stage names as in stats, metrics (label stage) and pvfsctl (stage.c). */
extern const char *const stage_names[STAGE_MAX];

struct stage_stats {
	uint64_t count[STAGE_MAX];
	uint64_t sum_ns[STAGE_MAX];
	uint64_t hist[STAGE_MAX][HIST_BUCKETS];
};

#ifdef PVFSD_NO_STAGES
#define STAGES_ON 0
#else
#define STAGES_ON 1
#endif

/* stage_add_batch - n requests spent ns each in stage s. */
static inline void stage_add_batch(struct stage_stats *ss, enum stage s, uint64_t ns, uint64_t n)
{
	if (!STAGES_ON)
		return;
	stat_add(&ss->count[s], n);
	stat_add(&ss->sum_ns[s], ns * n);
	stat_add(&ss->hist[s][hist_bucket(ns)], n);
}

static inline void stage_add(struct stage_stats *ss, enum stage s, uint64_t ns)
{
	stage_add_batch(ss, s, ns, 1);
}

#endif
