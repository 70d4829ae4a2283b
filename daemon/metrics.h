/* SPDX-License-Identifier: MIT */
/* metrics.h - the Prometheus endpoint (metrics.c). Main thread only. */
#ifndef PVFSD_METRICS_H
#define PVFSD_METRICS_H

struct event_base;
struct evbuffer;

/*
 * metrics_start - serve GET and HEAD /metrics on "ADDR:PORT" ("none" or
 * NULL: off), within the limits documented in metrics.c and pvfsd(8).
 * Port 0 picks a free port; the address bound is written to
 * RUNTIME_DIR/metrics.addr either way, for scripts and tests.
 */
int metrics_start(struct event_base *base, const char *listen);
void metrics_stop(void);
/* metrics_render - the whole exposition, appended to b. */
void metrics_render(struct evbuffer *b);

#endif
