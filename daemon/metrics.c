/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - `GET /metrics` in the Prometheus text format 0.0.4, served on
 * the main thread by a minimal HTTP/1.1 server on libevent bufferevents
 * that bounds everything a client controls (see "The HTTP server" below).
 * Every metric family is named once, in the table below, with its HELP and
 * TYPE. Data-plane counters are read with relaxed atomic loads: a scrape
 * never takes a lock the pollers could wait on.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "domain.h"
#include "log.h"
#include "metrics.h"
#include "placement.h"
#include "poller.h"
#include "pvfsd.h"
#include "tenant.h"
#include "util.h"

enum fam {
	F_OPS, F_BYTES, F_ERRORS, F_LATENCY, F_INFLIGHT, F_DOORBELLS, F_INTERRUPTS, F_COALESCED,
	F_RESETS, F_COALESCE_US,
	F_THROTTLED, F_THROTTLED_SEC, F_QDELAY, F_INVALID, F_POLL_BUSY, F_POLL_IDLE,
	F_POLL_WAKEUPS, F_DOM_INFLIGHT, F_DOM_CAP, F_DOM_TENANTS, F_DOM_BUSY, F_DOM_OPS,
	F_DOM_REFITS,
	F_TENANTS, F_BUILD, F_MOVES, F_POLL_TENANTS, F_POLL_ACTIVE, F_MOVES_ALL, F_BE_RECONNECTS,
	F_BE_ERRORS, F_BE_QDEPTH, F_BE_CONNECTIONS, F_STAGE, F_NR
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
			  "Doorbells the guest rang (VM exits)." },
	[F_INTERRUPTS] = { "pvfs_tenant_interrupts_total", "counter",
			   "Interrupts (call eventfd signals) sent to the guest." },
	[F_COALESCED] = { "pvfs_tenant_coalesced_total", "counter",
			  "Completions whose interrupt was merged into another by coalescing." },
	[F_RESETS] = { "pvfs_tenant_resets_total", "counter",
		       "Reset handshakes the guest asked for and pvfsd answered." },
	[F_COALESCE_US] = { "pvfs_tenant_irq_coalesce_seconds", "gauge",
			    "Interrupt coalescing window (0: off)." },
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
	[F_DOM_INFLIGHT] = { "pvfs_domain_inflight", "gauge",
			     "Requests of a scheduling domain (device) in flight, all pollers." },
	[F_DOM_CAP] = { "pvfs_domain_inflight_cap", "gauge",
			"A domain's in-flight cap in force (lowered while a latency target "
			"is missed)." },
	[F_DOM_TENANTS] = { "pvfs_domain_tenants", "gauge", "Tenants attached in a domain." },
	[F_DOM_BUSY] = { "pvfs_domain_busy_tenants", "gauge",
			 "Tenants of a domain with requests queued or in flight." },
	[F_DOM_OPS] = { "pvfs_domain_ops_total", "counter",
			"Requests completed in a domain (its attached tenants' ops)." },
	[F_DOM_REFITS] = { "pvfs_domain_cost_refits_total", "counter",
			   "Times a calibrated domain's cost model was refitted from completions "
			   "(pvfsd --cost-learning)." },
	[F_TENANTS] = { "pvfsd_tenants", "gauge", "Tenants by state." },
	[F_BUILD] = { "pvfsd_build_info", "gauge", "Build information; the value is 1." },
	[F_MOVES] = { "pvfs_tenant_moves_total", "counter",
		      "Times the tenant moved between pollers (pvfsctl move or rebalancing)." },
	[F_POLL_TENANTS] = { "pvfs_poller_tenants", "gauge", "Tenants the poller serves." },
	[F_POLL_ACTIVE] = { "pvfs_poller_active", "gauge",
			    "1 if placement uses the poller, 0 if parked (--io-threads auto)." },
	[F_MOVES_ALL] = { "pvfsd_moves_total", "counter",
			  "Tenant moves between pollers since pvfsd started." },
	[F_BE_RECONNECTS] = { "pvfs_backend_reconnects_total", "counter",
			      "Connections to a remote volume's server re-established." },
	[F_BE_ERRORS] = { "pvfs_backend_errors_total", "counter",
			  "Requests the backend failed (server errors, nbd_timeout passed)." },
	[F_BE_QDEPTH] = { "pvfs_backend_queue_depth", "gauge",
			  "Requests in the backend now: on the wire or waiting for a server." },
	[F_BE_CONNECTIONS] = { "pvfs_backend_connections", "gauge",
			       "Connections to a remote volume's server that are up." },
	[F_STAGE] = { "pvfs_stage_seconds", "histogram",
		      "Time a request spent in one stage inside pvfsd, by tenant and stage: "
		      "queue (seen to dispatched), submit (to the backend), backend (to its "
		      "completion reaped), complete (to the CQE published)." },
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

/* histogram - one series of family f: labels is `tenant="x",op="y"` or the like. */
static void histogram(struct evbuffer *b, enum fam f, const char *labels, const uint64_t *hist,
		      uint64_t sum_ns)
{
	uint64_t cum = 0, total = 0;
	unsigned next = 0;

	for (unsigned k = 0; k < LE_COUNT; k++) {
		unsigned edge = LE_FIRST_BUCKET + 8 * k;

		for (; next < edge; next++)
			cum += stat_get(&hist[next]);
		evbuffer_add_printf(b, "%s_bucket{%s,le=\"%.9g\"} %llu\n", fams[f].name, labels,
				    (double)hist_bucket_lower(edge) / 1e9, (unsigned long long)cum);
	}
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		total += stat_get(&hist[i]);
	evbuffer_add_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n%s_sum{%s} %.9f\n%s_count{%s} %llu\n",
			    fams[f].name, labels, (unsigned long long)total,
			    fams[f].name, labels, (double)sum_ns / 1e9,
			    fams[f].name, labels, (unsigned long long)total);
}

static void latency_histogram(struct evbuffer *b)
{
	char labels[PVFS_CTL_MAX_NAME + 64];

	header(b, F_LATENCY);
	for (const struct tenant *t = tenant_first(); t; t = t->next) {
		for (unsigned op = 0; op < PVFS_OP_MAX; op++) {
			const struct op_stats *os = &t->st.op[op];

			snprintf(labels, sizeof(labels), "tenant=\"%s\",op=\"%s\"", t->name,
				 pvfs_op_names[op]);
			histogram(b, F_LATENCY, labels, os->lat_hist, stat_get(&os->lat_sum_ns));
		}
	}
}

static void stage_histogram(struct evbuffer *b)
{
	char labels[PVFS_CTL_MAX_NAME + 64];

	header(b, F_STAGE);
	for (const struct tenant *t = tenant_first(); t; t = t->next) {
		for (unsigned s = 0; s < STAGE_MAX; s++) {
			const struct stage_stats *ss = &t->st.stages;

			snprintf(labels, sizeof(labels), "tenant=\"%s\",stage=\"%s\"", t->name,
				 stage_names[s]);
			histogram(b, F_STAGE, labels, ss->hist[s], stat_get(&ss->sum_ns[s]));
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

/* A domain key in a label value: Prometheus escapes \\, " and newline. */
static void label_value(struct evbuffer *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(b, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
}

static void domain_metrics(struct evbuffer *b)
{
	static const enum fam df[] = { F_DOM_INFLIGHT, F_DOM_CAP, F_DOM_TENANTS, F_DOM_BUSY,
				       F_DOM_OPS, F_DOM_REFITS };

	for (size_t j = 0; j < ARRAY_SIZE(df); j++) {
		header(b, df[j]);
		for (const struct domain *d = domain_first(); d; d = d->next) {
			struct sched_domain_stats ds;
			struct sched_learn_stats ls;
			uint64_t v = 0;

			sched_domain_stats(d->sd, &ds);
			switch (df[j]) {
			case F_DOM_INFLIGHT:
				v = ds.inflight;
				break;
			case F_DOM_CAP:
				v = ds.inflight_cap;
				break;
			case F_DOM_TENANTS:
				v = d->tenants;
				break;
			case F_DOM_BUSY:
				v = ds.busy;
				break;
			case F_DOM_REFITS:
				sched_domain_learn_stats(d->sd, &ls);
				v = ls.refits;
				break;
			default:
				for (const struct tenant *t = tenant_first(); t; t = t->next)
					for (unsigned op = 0; t->dom == d && op < PVFS_OP_MAX; op++)
						v += stat_get(&t->st.op[op].ops);
				break;
			}
			evbuffer_add_printf(b, "%s{domain=\"", fams[df[j]].name);
			label_value(b, d->key);
			evbuffer_add_printf(b, "\"} %llu\n", (unsigned long long)v);
		}
	}
}

/* Remote backends only: a file volume has no connection to count. */
static void backend_metrics(struct evbuffer *b)
{
	static const enum fam bf[] = { F_BE_RECONNECTS, F_BE_ERRORS, F_BE_QDEPTH,
				       F_BE_CONNECTIONS };

	for (size_t j = 0; j < ARRAY_SIZE(bf); j++) {
		header(b, bf[j]);
		for (const struct tenant *t = tenant_first(); t; t = t->next) {
			struct backend_stats bs;
			uint64_t v;

			t->backend->ops->stats(t->backend, &bs);
			if (!bs.state)
				continue;
			v = bf[j] == F_BE_RECONNECTS ? bs.reconnects :
			    bf[j] == F_BE_ERRORS ? bs.errors :
			    bf[j] == F_BE_QDEPTH ? bs.queue_depth : bs.connections;
			evbuffer_add_printf(b, "%s{tenant=\"%s\",kind=\"%s\"} %llu\n",
					    fams[bf[j]].name, t->name, t->backend->ops->kind,
					    (unsigned long long)v);
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
	stage_histogram(b);
	tenant_counter(b, F_INFLIGHT, offsetof(struct tenant_stats, inflight), 1.0);
	tenant_counter(b, F_DOORBELLS, offsetof(struct tenant_stats, doorbells), 1.0);
	tenant_counter(b, F_INTERRUPTS, offsetof(struct tenant_stats, interrupts), 1.0);
	tenant_counter(b, F_COALESCED, offsetof(struct tenant_stats, coalesced), 1.0);
	tenant_counter(b, F_RESETS, offsetof(struct tenant_stats, resets), 1.0);
	header(b, F_COALESCE_US);
	for (const struct tenant *t = tenant_first(); t; t = t->next)
		evbuffer_add_printf(b, "%s{tenant=\"%s\"} %.6f\n", fams[F_COALESCE_US].name, t->name,
				    (double)t->coalesce.us / 1e6);
	throttle_metrics(b);
	tenant_counter(b, F_QDELAY, offsetof(struct tenant_stats, queue_delay_ns), 1e-9);
	tenant_counter(b, F_INVALID, offsetof(struct tenant_stats, invalid), 1.0);
	poller_metrics(b);
	domain_metrics(b);
	header(b, F_POLL_TENANTS);
	for (int i = 0; i < poller_count(); i++)
		evbuffer_add_printf(b, "%s{poller=\"%d\"} %u\n", fams[F_POLL_TENANTS].name, i,
				    poller_tenants(i));
	header(b, F_POLL_ACTIVE);
	for (int i = 0; i < poller_count(); i++)
		evbuffer_add_printf(b, "%s{poller=\"%d\"} %d\n", fams[F_POLL_ACTIVE].name, i,
				    i < placement_active());
	header(b, F_MOVES);
	for (const struct tenant *t = tenant_first(); t; t = t->next)
		evbuffer_add_printf(b, "%s{tenant=\"%s\"} %llu\n", fams[F_MOVES].name, t->name,
				    (unsigned long long)t->moves);
	header(b, F_MOVES_ALL);
	evbuffer_add_printf(b, "%s %llu\n", fams[F_MOVES_ALL].name,
			    (unsigned long long)tenant_moves_total());
	header(b, F_TENANTS);
	for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
		unsigned n = 0;

		for (const struct tenant *t = tenant_first(); t; t = t->next)
			n += tenant_effective_state(t) == states[i];
		evbuffer_add_printf(b, "%s{state=\"%s\"} %u\n", fams[F_TENANTS].name,
				    tenant_state_name(states[i]), n);
	}
	backend_metrics(b);
	header(b, F_BUILD);
	evbuffer_add_printf(b, "%s{version=\"%s\",abi=\"%u\"} 1\n", fams[F_BUILD].name,
			    PVFSD_VERSION, PVFS_ABI_VERSION);
}

/*
 * The HTTP server. evhttp, libevent's, bounds head and body sizes, but in
 * libevent 2.1 (Debian 12) it has no connection limit (that came with
 * evhttp_set_max_connections in 2.2), no hook that would let us count its
 * connections, and only an inactivity timeout, which a client sending a
 * header byte every few seconds never trips. The endpoint serves one
 * resource, so pvfsd speaks the small part of HTTP/1.1 that needs on
 * bufferevents of its own, where each limit on what a client controls is
 * a constant below:
 *
 *   MAX_CONNS     connections; one more is accepted, told 503 and closed
 *                 (as 2.2's evhttp does), the first time logged.
 *   MAX_HEAD      bytes of request line and headers: 414 or 431 beyond.
 *   no body       a request announcing one gets 413; the body is not read.
 *   CONN_TIMEOUT  from accept to the response's last byte, whatever the
 *                 client's pace: reading the request, rendering, writing.
 *                 Prometheus' default scrape_timeout is the same 10 s.
 *   LINGER_MAX    after the response, bytes read and dropped until the
 *                 client closes, so that it sees the status rather than
 *                 the reset that closing on unread data would send.
 *
 * One request per connection (Connection: close): a scraper connects once
 * per interval anyway, and a connection only ever reads a head, writes one
 * response and lingers.
 */
#define MAX_CONNS	64
#define MAX_HEAD	8192
#define CONN_TIMEOUT	10
#define LINGER_MAX	(1u << 20)

/*
 * Responses that overlap share a rendering: a request takes the newest one
 * while some response still holds it and it is younger than SHARE_NS, so
 * clients that ask at once and read slowly hold one copy (about 11 MB at
 * 1000 tenants), not one each, and rendering costs at most one pass per
 * SHARE_NS however fast they ask. Once MAX_RENDERINGS are held, the newest
 * is shared whatever its age (stale by about CONN_TIMEOUT at most, and only
 * under that load), so no more than MAX_RENDERINGS ever exist: a new one is
 * made only below that count or when the newest was just released, which
 * lowered it. A scrape that overlaps no other gets a fresh one.
 */
#define SHARE_NS	1000000000ull
#define MAX_RENDERINGS	4

#define CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct rendering {
	struct evbuffer *buf;
	uint64_t born_ns;
	unsigned refs;			/* responses holding it */
};

enum method { M_NONE, M_GET, M_HEAD, M_OTHER };

struct mconn {
	struct mconn *next, **pprev;
	struct bufferevent *bev;
	struct event *deadline;
	struct rendering *r;		/* held while the response is written */
	size_t head;			/* bytes of the request head read so far */
	size_t dropped;			/* bytes read and dropped after the head */
	enum { READING, WRITING, LINGERING } state;
	enum method method;
	bool bad;			/* malformed request line or header */
	bool body;			/* the request announces a body */
	bool is_metrics;		/* the path is /metrics */
	bool eof;			/* the client has stopped sending */
};

static struct event_base *base;
static struct evconnlistener *listener;
static struct event *resume_ev;		/* re-enables accepting after EMFILE */
static struct mconn *conns;
static unsigned nr_conns;
static bool refusing;			/* at MAX_CONNS; logged once per episode */
static struct rendering *newest;	/* NULL once no response holds it */
static unsigned nr_renderings;

static struct rendering *rendering_get(void)
{
	static size_t last_size = 4096;
	uint64_t now = now_ns();
	struct rendering *r;

	if (newest && (now - newest->born_ns < SHARE_NS || nr_renderings >= MAX_RENDERINGS)) {
		newest->refs++;
		return newest;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->buf = evbuffer_new();
	if (!r->buf) {
		free(r);
		return NULL;
	}
	/*
	 * In one chain: evbuffer_add_printf alone would make ~1 KiB chains, and
	 * a reference costs a chain header of that size for each of them, as
	 * much as a copy. Room for the last size and an eighth is reserved up
	 * front; the pullup copies only when the tenants grew past that.
	 */
	evbuffer_expand(r->buf, last_size + last_size / 8);
	metrics_render(r->buf);
	last_size = evbuffer_get_length(r->buf);
	if (!evbuffer_pullup(r->buf, -1)) {
		evbuffer_free(r->buf);
		free(r);
		return NULL;
	}
	r->born_ns = now;
	r->refs = 1;
	nr_renderings++;
	newest = r;
	return r;
}

/*
 * rendering_put - drop a hold. An output buffer may still reference the
 * chains (evbuffer_add_buffer_reference): libevent counts that reference,
 * so freeing here only releases ours.
 */
static void rendering_put(struct rendering *r)
{
	if (!r || --r->refs)
		return;
	if (newest == r)
		newest = NULL;
	evbuffer_free(r->buf);
	free(r);
	nr_renderings--;
}

static void conn_free(struct mconn *c)
{
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	bufferevent_free(c->bev);
	event_free(c->deadline);
	rendering_put(c->r);
	free(c);
	if (nr_conns-- == MAX_CONNS && refusing) {
		log_info("metrics: below %d connections again, accepting", MAX_CONNS);
		refusing = false;
	}
}

static void conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	default: return "Service Unavailable";
	}
}

/*
 * respond - queue the one response of this connection. Returns false if
 * that failed and c is freed.
 */
static bool respond(struct mconn *c, int status)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char why[64];

	c->state = WRITING;
	if (status == 200) {
		c->r = rendering_get();
		if (!c->r) {
			conn_free(c);
			return false;
		}
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: " CONTENT_TYPE "\r\n"
				    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
				    evbuffer_get_length(c->r->buf));
		if (c->method == M_HEAD) {
			rendering_put(c->r);
			c->r = NULL;
		} else if (evbuffer_add_buffer_reference(out, c->r->buf) < 0) {
			conn_free(c);
			return false;
		}
	} else {
		switch (status) {
		case 400: snprintf(why, sizeof(why), "malformed request"); break;
		case 404: snprintf(why, sizeof(why), "metrics are at /metrics"); break;
		case 405: snprintf(why, sizeof(why), "only GET and HEAD"); break;
		case 413: snprintf(why, sizeof(why), "requests have no body here"); break;
		default: snprintf(why, sizeof(why), "request %s longer than %d bytes",
				  status == 414 ? "line" : "head", MAX_HEAD); break;
		}
		evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8"
				    "\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s\n",
				    status, reason(status), strlen(why) + 1,
				    status == 405 ? "Allow: GET, HEAD\r\n" : "", why);
	}
	bufferevent_enable(c->bev, EV_WRITE);
	return true;
}

/* parse_request_line - "METHOD SP TARGET SP HTTP/1.x"; sets c->method, c->is_metrics. */
static void parse_request_line(struct mconn *c, char *line)
{
	char *target = strchr(line, ' '), *version = target ? strchr(target + 1, ' ') : NULL;
	size_t path_len;

	if (!target || !version || strncmp(version + 1, "HTTP/1.", 7) ||
	    !isdigit((unsigned char)version[8]) || version[9] || target == line ||
	    target[1] != '/') {
		c->method = M_OTHER;
		c->bad = true;
		return;
	}
	*target++ = '\0';
	*version = '\0';
	if (!strcmp(line, "GET"))
		c->method = M_GET;
	else if (!strcmp(line, "HEAD"))
		c->method = M_HEAD;
	else
		c->method = M_OTHER;
	/* The query (Prometheus' `params`) does not choose anything here. */
	path_len = strcspn(target, "?");
	c->is_metrics = path_len == strlen("/metrics") && !strncmp(target, "/metrics", path_len);
}

static void parse_header(struct mconn *c, const char *line)
{
	static const char cl[] = "content-length:", te[] = "transfer-encoding:";

	if (!strncasecmp(line, cl, strlen(cl))) {
		const char *v = line + strlen(cl) + strspn(line + strlen(cl), " \t");
		size_t digits = strspn(v, "0123456789");

		if (!digits || v[digits + strspn(v + digits, " \t")])
			c->bad = true;
		else if (strspn(v, "0") < digits)
			c->body = true;		/* a digit other than 0: a body follows */
	} else if (!strncasecmp(line, te, strlen(te))) {
		c->body = true;
	} else if (!strchr(line, ':')) {
		c->bad = true;
	}
}

static int status_of(const struct mconn *c)
{
	if (c->bad)
		return 400;
	if (c->method == M_OTHER)
		return 405;
	if (c->body)
		return 413;
	return c->is_metrics ? 200 : 404;
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct mconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t before, n;
	char *line;

	while (c->state == READING) {
		before = evbuffer_get_length(in);
		line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
		if (!line)
			break;
		c->head += before - evbuffer_get_length(in);
		if (c->head > MAX_HEAD) {
			free(line);
			if (!respond(c, c->method == M_NONE ? 414 : 431))
				return;
			break;
		}
		if (c->method == M_NONE) {
			/* RFC 9112 2.2: an empty line before the request line is ignored. */
			if (n)
				parse_request_line(c, line);
		} else if (!n) {
			free(line);
			if (!respond(c, status_of(c)))
				return;
			break;
		} else {
			parse_header(c, line);
		}
		free(line);
	}
	/* A partial line already past the limit is not waited for. */
	if (c->state == READING && c->head + evbuffer_get_length(in) > MAX_HEAD &&
	    !respond(c, c->method == M_NONE ? 414 : 431))
		return;
	if (c->state == READING)
		return;
	/*
	 * The request is answered: what follows (a pipelined request, a body)
	 * is dropped, up to a limit; draining also keeps the read watermark
	 * from stopping the reads that will see the client's EOF.
	 */
	n = evbuffer_get_length(in);
	c->dropped += n;
	evbuffer_drain(in, n);
	if (c->dropped > LINGER_MAX)
		conn_free(c);
}

/* conn_written - the response is all with the kernel: linger until the client closes. */
static void conn_written(struct bufferevent *bev, void *arg)
{
	struct mconn *c = arg;

	if (c->state != WRITING || evbuffer_get_length(bufferevent_get_output(bev)))
		return;
	rendering_put(c->r);
	c->r = NULL;
	if (c->eof) {
		conn_free(c);
		return;
	}
	c->state = LINGERING;
	shutdown(bufferevent_getfd(bev), SHUT_WR);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct mconn *c = arg;

	/* A client that shuts down its side after the request still gets the response. */
	if (what == (BEV_EVENT_READING | BEV_EVENT_EOF) && c->state == WRITING) {
		c->eof = true;
		return;
	}
	conn_free(c);
}

#define BUSY_BODY	"too many connections, retry later\n"
#define BUSY_LEN	"34"
_Static_assert(sizeof(BUSY_BODY) - 1 == 34, "BUSY_LEN is the length of BUSY_BODY");

/*
 * refuse - over MAX_CONNS: a 503 into the new socket's empty buffer, then
 * close. Best effort: if it does not fit, the client sees the close.
 */
static void refuse(evutil_socket_t fd)
{
	static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: " BUSY_LEN "\r\n"
		"Connection: close\r\n\r\n" BUSY_BODY;

	(void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	evutil_closesocket(fd);
	if (!refusing)
		log_warn("metrics: %d connections open, refusing more until one closes", MAX_CONNS);
	refusing = true;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct timeval tv = { CONN_TIMEOUT, 0 };
	struct mconn *c;

	if (nr_conns >= MAX_CONNS) {
		refuse(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(base, conn_timeout, c);
	if (!c->bev || !c->deadline) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->deadline)
			event_free(c->deadline);
		free(c);
		return;
	}
	c->next = conns;
	if (conns)
		conns->pprev = &c->next;
	c->pprev = &conns;
	conns = c;
	nr_conns++;
	evtimer_add(c->deadline, &tv);
	/* Read no more than a head at a time; evbuffer_readln stays linear. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, MAX_HEAD + 1);
	bufferevent_setcb(c->bev, conn_read, conn_written, conn_event, c);
	bufferevent_enable(c->bev, EV_READ);
}

static void resume_accepting(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(listener);
}

/*
 * accept_error - out of descriptors (EMFILE, ENFILE) or memory: the pending
 * connection stays and the listener would fire again at once, so pause
 * accepting for a second instead of spinning.
 */
static void accept_error(struct evconnlistener *l, void *arg)
{
	struct timeval tv = { 1, 0 };
	int err = EVUTIL_SOCKET_ERROR();

	log_warn("metrics: cannot accept a connection: %s; pausing for a second", strerror(err));
	evconnlistener_disable(l);
	evtimer_add(resume_ev, &tv);
}

/* write_addr - record where we listen (port 0 means the kernel chose). */
static void write_addr(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN], path[PATH_MAX];
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

int metrics_start(struct event_base *evbase, const char *listen)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	struct addrinfo *ai;
	char host[256], port[8];
	const char *colon;
	uint64_t portnum;
	int r;

	if (!listen || !strcmp(listen, "none"))
		return 0;
	colon = strrchr(listen, ':');
	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host) ||
	    parse_u64(colon + 1, &portnum) < 0 || portnum > 65535)
		return -EINVAL;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	snprintf(port, sizeof(port), "%u", (unsigned)portnum);
	if (getaddrinfo(host, port, &hints, &ai))
		return -EADDRNOTAVAIL;
	base = evbase;
	resume_ev = evtimer_new(base, resume_accepting, NULL);
	if (!resume_ev) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	errno = 0;
	listener = evconnlistener_new_bind(base, accept_cb, NULL,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
					   LEV_OPT_REUSEABLE, -1, ai->ai_addr,
					   (int)ai->ai_addrlen);
	r = errno ? -errno : -EADDRINUSE;	/* bind's or listen's, if it failed */
	freeaddrinfo(ai);
	if (!listener) {
		event_free(resume_ev);
		resume_ev = NULL;
		return r;
	}
	evconnlistener_set_error_cb(listener, accept_error);
	write_addr(evconnlistener_get_fd(listener));
	return 0;
}

void metrics_stop(void)
{
	while (conns)
		conn_free(conns);
	if (listener)
		evconnlistener_free(listener);
	listener = NULL;
	if (resume_ev)
		event_free(resume_ev);
	resume_ev = NULL;
}
