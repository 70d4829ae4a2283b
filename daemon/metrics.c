/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - `GET /metrics` in the Prometheus text format 0.0.4, served by
 * libevent's HTTP server on the main thread. Every metric family is named
 * once, in the table below, with its HELP and TYPE. Data-plane counters are
 * read with relaxed atomic loads: a scrape never takes a lock the pollers
 * could wait on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "pvfsd.h"
#include "tenant.h"
#include "util.h"

static struct evhttp *http;

enum fam {
	F_OPS, F_BYTES, F_ERRORS, F_LATENCY, F_INFLIGHT, F_DOORBELLS, F_INTERRUPTS,
	F_THROTTLED, F_THROTTLED_SEC, F_QDELAY, F_INVALID, F_POLL_BUSY, F_POLL_IDLE,
	F_POLL_WAKEUPS, F_POLL_CAP, F_TENANTS, F_BUILD, F_NR
};

static const struct {
	const char *name, *type, *help;
} fams[F_NR] = {
	[F_OPS] = { "pvfs_tenant_ops_total", "counter", "Requests completed, by tenant and op." },
	[F_BYTES] = { "pvfs_tenant_bytes_total", "counter", "Bytes transferred, by tenant and op." },
	[F_ERRORS] = { "pvfs_tenant_errors_total", "counter",
		       "Requests completed with an error, by tenant and op." },
	[F_LATENCY] = { "pvfs_tenant_latency_seconds", "histogram",
			"Time from a request seen in the ring to its completion posted." },
	[F_INFLIGHT] = { "pvfs_tenant_inflight", "gauge", "Requests in io_uring now." },
	[F_DOORBELLS] = { "pvfs_tenant_doorbells_total", "counter",
			  "Doorbells (guest kicks, VM exits) received." },
	[F_INTERRUPTS] = { "pvfs_tenant_interrupts_total", "counter",
			   "Interrupts (call eventfd signals) sent to the guest." },
	[F_THROTTLED] = { "pvfs_tenant_throttled_total", "counter",
			  "Times a QoS limit held the tenant back while it had work." },
	[F_THROTTLED_SEC] = { "pvfs_tenant_throttled_seconds_total", "counter",
			      "Time the tenant was held back by a QoS limit." },
	[F_QDELAY] = { "pvfs_tenant_queue_delay_seconds_total", "counter",
		       "Sum over dispatched requests of the time from seen to dispatched." },
	[F_INVALID] = { "pvfs_tenant_invalid_requests_total", "counter",
			"Requests rejected by validation (malformed or out of range)." },
	[F_POLL_BUSY] = { "pvfs_poller_busy_seconds_total", "counter",
			  "Time a poller thread spent on passes that did work." },
	[F_POLL_IDLE] = { "pvfs_poller_idle_seconds_total", "counter",
			  "Time a poller thread spun idle or slept." },
	[F_POLL_WAKEUPS] = { "pvfs_poller_wakeups_total", "counter",
			     "Times a poller thread woke from sleep." },
	[F_POLL_CAP] = { "pvfs_poller_inflight_cap", "gauge",
			 "In-flight cap in force (lowered while a latency target is missed)." },
	[F_TENANTS] = { "pvfsd_tenants", "gauge", "Tenants by state." },
	[F_BUILD] = { "pvfsd_build_info", "gauge", "Build information; the value is 1." },
};

static void header(struct evbuffer *b, enum fam f)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fams[f].name, fams[f].help,
			    fams[f].name, fams[f].type);
}

/* Tenant names are [A-Za-z0-9_.-]: no label escaping is needed. */
static void tenant_op_counter(struct evbuffer *b, enum fam f, size_t off)
{
	header(b, f);
	for (const struct tenant *t = tenant_first(); t; t = t->next)
		for (unsigned op = 0; op < PVFS_OP_MAX; op++)
			evbuffer_add_printf(b, "%s{tenant=\"%s\",op=\"%s\"} %llu\n", fams[f].name,
					    t->name, pvfs_op_names[op],
					    (unsigned long long)stat_get((const uint64_t *)
						((const char *)&t->st.op[op] + off)));
}

static void tenant_counter(struct evbuffer *b, enum fam f, size_t off, double scale)
{
	header(b, f);
	for (const struct tenant *t = tenant_first(); t; t = t->next) {
		uint64_t v = stat_get((const uint64_t *)((const char *)&t->st + off));

		if (scale == 1.0)
			evbuffer_add_printf(b, "%s{tenant=\"%s\"} %llu\n", fams[f].name, t->name,
					    (unsigned long long)v);
		else
			evbuffer_add_printf(b, "%s{tenant=\"%s\"} %.9f\n", fams[f].name, t->name,
					    (double)v * scale);
	}
}

/*
 * Histogram bounds: 1.024 us * 2^k for k = 0..20 (up to ~1.07 s). Each is a
 * bucket edge of the log-linear histogram (64 ns << (k + 4)), so the
 * cumulative counts are exact.
 */
#define LE_FIRST_BUCKET	16	/* hist_bucket(1024 ns) */
#define LE_COUNT	21

static void latency_histogram(struct evbuffer *b)
{
	header(b, F_LATENCY);
	for (const struct tenant *t = tenant_first(); t; t = t->next) {
		for (unsigned op = 0; op < PVFS_OP_MAX; op++) {
			const struct op_stats *os = &t->st.op[op];
			uint64_t cum = 0, total = 0;
			unsigned next = 0;

			for (unsigned k = 0; k < LE_COUNT; k++) {
				unsigned edge = LE_FIRST_BUCKET + 8 * k;

				for (; next < edge; next++)
					cum += stat_get(&os->lat_hist[next]);
				evbuffer_add_printf(b, "%s_bucket{tenant=\"%s\",op=\"%s\",le=\"%.9g\"} "
						    "%llu\n", fams[F_LATENCY].name, t->name,
						    pvfs_op_names[op],
						    (double)hist_bucket_lower(edge) / 1e9,
						    (unsigned long long)cum);
			}
			for (unsigned i = 0; i < HIST_BUCKETS; i++)
				total += stat_get(&os->lat_hist[i]);
			evbuffer_add_printf(b, "%s_bucket{tenant=\"%s\",op=\"%s\",le=\"+Inf\"} %llu\n"
					    "%s_sum{tenant=\"%s\",op=\"%s\"} %.9f\n"
					    "%s_count{tenant=\"%s\",op=\"%s\"} %llu\n",
					    fams[F_LATENCY].name, t->name, pvfs_op_names[op],
					    (unsigned long long)total,
					    fams[F_LATENCY].name, t->name, pvfs_op_names[op],
					    (double)stat_get(&os->lat_sum_ns) / 1e9,
					    fams[F_LATENCY].name, t->name, pvfs_op_names[op],
					    (unsigned long long)total);
		}
	}
}

static void throttle_metrics(struct evbuffer *b)
{
	header(b, F_THROTTLED);
	for (const struct tenant *t = tenant_first(); t; t = t->next) {
		uint64_t n = stat_get(&t->st.throttled);

		if (t->tio) {
			struct sched_stats ss;

			sched_entity_stats(&t->tio->se, &ss);
			n += ss.throttled;
		}
		evbuffer_add_printf(b, "%s{tenant=\"%s\"} %llu\n", fams[F_THROTTLED].name, t->name,
				    (unsigned long long)n);
	}
	header(b, F_THROTTLED_SEC);
	for (const struct tenant *t = tenant_first(); t; t = t->next) {
		uint64_t ns = stat_get(&t->st.throttled_ns);

		if (t->tio) {
			struct sched_stats ss;

			sched_entity_stats(&t->tio->se, &ss);
			ns += ss.throttled_ns;
		}
		evbuffer_add_printf(b, "%s{tenant=\"%s\"} %.9f\n", fams[F_THROTTLED_SEC].name,
				    t->name, (double)ns / 1e9);
	}
}

static void poller_metrics(struct evbuffer *b)
{
	static const enum fam pf[] = { F_POLL_BUSY, F_POLL_IDLE, F_POLL_WAKEUPS };

	for (size_t j = 0; j < ARRAY_SIZE(pf); j++) {
		header(b, pf[j]);
		for (int i = 0; i < poller_count(); i++) {
			const struct poller_stats *ps = poller_stats(i);

			if (pf[j] == F_POLL_WAKEUPS)
				evbuffer_add_printf(b, "%s{poller=\"%d\"} %llu\n", fams[pf[j]].name, i,
						    (unsigned long long)stat_get(&ps->wakeups));
			else
				evbuffer_add_printf(b, "%s{poller=\"%d\"} %.9f\n", fams[pf[j]].name, i,
						    (double)stat_get(pf[j] == F_POLL_BUSY ?
						    &ps->busy_ns : &ps->idle_ns) / 1e9);
		}
	}
}

void metrics_render(struct evbuffer *b)
{
	static const enum tenant_state states[] = {
		TENANT_UNPLUGGED, TENANT_RUNNING, TENANT_BROKEN, TENANT_DRAINING,
	};

	tenant_op_counter(b, F_OPS, offsetof(struct op_stats, ops));
	tenant_op_counter(b, F_BYTES, offsetof(struct op_stats, bytes));
	tenant_op_counter(b, F_ERRORS, offsetof(struct op_stats, errors));
	latency_histogram(b);
	tenant_counter(b, F_INFLIGHT, offsetof(struct tenant_stats, inflight), 1.0);
	tenant_counter(b, F_DOORBELLS, offsetof(struct tenant_stats, doorbells), 1.0);
	tenant_counter(b, F_INTERRUPTS, offsetof(struct tenant_stats, interrupts), 1.0);
	throttle_metrics(b);
	tenant_counter(b, F_QDELAY, offsetof(struct tenant_stats, queue_delay_ns), 1e-9);
	tenant_counter(b, F_INVALID, offsetof(struct tenant_stats, invalid), 1.0);
	poller_metrics(b);
	header(b, F_POLL_CAP);
	for (int i = 0; i < poller_count(); i++)
		evbuffer_add_printf(b, "%s{poller=\"%d\"} %u\n", fams[F_POLL_CAP].name, i,
				    poller_effective_cap(i));
	header(b, F_TENANTS);
	for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
		unsigned n = 0;

		for (const struct tenant *t = tenant_first(); t; t = t->next)
			n += tenant_effective_state(t) == states[i];
		evbuffer_add_printf(b, "%s{state=\"%s\"} %u\n", fams[F_TENANTS].name,
				    tenant_state_name(states[i]), n);
	}
	header(b, F_BUILD);
	evbuffer_add_printf(b, "%s{version=\"%s\",abi=\"%u\"} 1\n", fams[F_BUILD].name,
			    PVFSD_VERSION, PVFS_ABI_VERSION);
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	b = evbuffer_new();
	if (!b) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	metrics_render(b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* write_addr - record where we listen (port 0 means the kernel chose). */
static void write_addr(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN], path[4200];
	uint16_t port;
	FILE *f;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
		port = ntohs(s6->sin6_port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
		port = ntohs(s4->sin_port);
	}
	snprintf(path, sizeof(path), "%s/metrics.addr", cfg.runtime_dir);
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, ss.ss_family == AF_INET6 ? "[%s]:%u\n" : "%s:%u\n", addr, port);
	fclose(f);
}

static void not_found(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, 404, "metrics are at /metrics");
}

int metrics_start(struct event_base *base, const char *listen)
{
	struct evhttp_bound_socket *bound;
	char host[256];
	const char *colon;
	uint64_t port;

	if (!listen || !strcmp(listen, "none"))
		return 0;
	colon = strrchr(listen, ':');
	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host) ||
	    parse_u64(colon + 1, &port) < 0 || port > 65535)
		return -EINVAL;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	http = evhttp_new(base);
	if (!http)
		return -ENOMEM;
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET);
	evhttp_set_cb(http, "/metrics", handle, NULL);
	evhttp_set_gencb(http, not_found, NULL);
	bound = evhttp_bind_socket_with_handle(http, host, (uint16_t)port);
	if (!bound) {
		evhttp_free(http);
		http = NULL;
		return -EADDRINUSE;
	}
	write_addr(evhttp_bound_socket_get_fd(bound));
	return 0;
}

void metrics_stop(void)
{
	if (http)
		evhttp_free(http);
	http = NULL;
}
