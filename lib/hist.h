/* SPDX-License-Identifier: MIT */
/*
 * hist.h - the latency histogram shared by pvfsd (stats, metrics) and
 * pvfs-bench: log-linear, 8 buckets per power of two of 64 ns units, so
 * every bucket is at most 12.5% wide; from 0 to ~68 s, the last bucket
 * taking everything above. Powers of two of 64 ns fall on bucket edges,
 * which the Prometheus histogram's "le" bounds use.
 */
#ifndef PVFS_HIST_H
#define PVFS_HIST_H

#include <stdint.h>

#define HIST_BUCKETS 232

static inline unsigned hist_bucket(uint64_t ns)
{
	uint64_t v = ns >> 6;
	unsigned msb, b;

	if (v < 8)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	b = (msb - 2) * 8 + (unsigned)((v >> (msb - 3)) & 7);
	return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/* hist_bucket_lower - the smallest latency (ns) counted in bucket b. */
static inline uint64_t hist_bucket_lower(unsigned b)
{
	if (b < 8)
		return (uint64_t)b << 6;
	return ((uint64_t)(8 + b % 8) << (b / 8 - 1)) << 6;
}

/*
 * hist_percentile_us - the p-quantile (0..1) in microseconds, interpolated
 * inside its bucket; 0 for an empty histogram. Reads counters with relaxed
 * atomic loads, so another thread may be adding to them.
 */
double hist_percentile_us(const uint64_t *hist, double p);

#endif
