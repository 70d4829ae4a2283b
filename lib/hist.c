/* SPDX-License-Identifier: MIT */
/* hist.c - see hist.h. */
#include "hist.h"
#include "util.h"

double hist_percentile_us(const uint64_t *hist, double p)
{
	uint64_t total = 0, want, acc = 0;

	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		total += stat_get(&hist[b]);
	if (!total)
		return 0;
	want = (uint64_t)(p * (double)total);
	if (want >= total)
		want = total - 1;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		uint64_t n = stat_get(&hist[b]);

		if (acc + n > want) {
			uint64_t lo = hist_bucket_lower(b);
			uint64_t hi = b + 1 < HIST_BUCKETS ? hist_bucket_lower(b + 1) : lo * 2;
			double frac = ((double)(want - acc) + 0.5) / (double)n;

			return ((double)lo + frac * (double)(hi - lo)) / 1000.0;
		}
		acc += n;
	}
	return 0;
}
