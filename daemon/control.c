/* SPDX-License-Identifier: MIT */
/*
 * control.c - pvfsd's control plane: the Unix SOCK_SEQPACKET socket, peer
 * authorization, JSON-RPC 2.0 framing and the method table. One handler per
 * method decodes its parameters strictly (unknown keys are errors), calls the
 * core API in tenant.c, and replies. proto/CONTROL.md documents the methods;
 * the table at the end of this file is the one list of them.
 *
 * Limits on what a peer controls: one message per packet, at most
 * PVFS_CTL_MAX_MSG bytes and PVFS_CTL_MAX_FDS descriptors (more is an error
 * reply, and the descriptors are closed). Connections: at most
 * cfg.max_conns that plug no VM (operators, VMMs about to plug); a
 * connection through which a VM is plugged does not count, because the plug
 * lasts as long as the connection and tenants are bounded anyway, so that
 * plugged VMs can never lock the operator out. A refused connection gets
 * an error reply before it is closed, never a silent close.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "domain.h"
#include "log.h"
#include "placement.h"
#include "poller.h"
#include "pvfsd.h"
#include "qos_json.h"
#include "rpc.h"
#include "state.h"
#include "stats.h"
#include "tenant.h"
#include "util.h"

/* Room in a reply for {"jsonrpc":"2.0","id":,"result":} and "next":"NAME". */
#define REPLY_ENVELOPE 128

struct ctl_conn {
	struct ctl_conn *next;
	int fd;
	struct event *ev;
	uid_t uid;
	pid_t pid;
	bool authorized;
	unsigned plugs;			/* running tenants plugged through it (idle_conns) */
};

static struct event_base *base;
static int listen_fd = -1;
static struct event *listen_ev;
static struct ctl_conn *conns;
static char *msgbuf;
static bool accepting = true;
/*
 * An fd kept in reserve: out of descriptors, accept() fails and leaves the
 * listening socket readable, so the event loop would spin on it. Closing the
 * spare lets pvfsd accept that connection, tell the peer why, and close it.
 */
static int spare_fd = -1;

/* ---- replies ---- */

static void send_json(struct ctl_conn *c, json_t *msg)
{
	int r = rpc_send(c->fd, msg, NULL, 0);

	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		log_warn("control: reply to pid %d failed: %s", (int)c->pid, strerror(-r));
	json_decref(msg);
}

static void reply_result(struct ctl_conn *c, json_t *id, json_t *result)
{
	if (!id) {		/* a notification: no reply */
		json_decref(result);
		return;
	}
	send_json(c, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

static void reply_error(struct ctl_conn *c, json_t *id, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void reply_error(struct ctl_conn *c, json_t *id, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	send_json(c, json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0",
			       "id", id ? id : json_null(), "error", "code", code, "message", msg));
}

/*
 * A detach that waits for its tenant's drain: answered from detach_done.
 * Its connection may close first; then the detach goes on and nobody is
 * answered (conn_close clears c).
 */
struct pending_detach {
	struct pending_detach *next;
	struct ctl_conn *c;
	json_t *id;
};

static struct pending_detach *pending_detaches;

static void detach_done(void *arg, const char *name)
{
	struct pending_detach *pd = arg;

	for (struct pending_detach **pp = &pending_detaches; *pp; pp = &(*pp)->next) {
		if (*pp == pd) {
			*pp = pd->next;
			break;
		}
	}
	if (pd->c)
		reply_result(pd->c, pd->id, json_pack("{s:s}", "detached", name));
	json_decref(pd->id);
	free(pd);
	state_save();
}

/*
 * A move on its way: answered from move_done once the tenant runs on its
 * new poller (or the move gave way to an unplug or detach). Like a
 * detach, it goes on if its connection closes.
 */
struct pending_move {
	struct pending_move *next;
	struct ctl_conn *c;
	json_t *id;
};

static struct pending_move *pending_moves;

static void move_done(void *arg, const char *name, int result)
{
	struct pending_move *pm = arg;

	for (struct pending_move **pp = &pending_moves; *pp; pp = &(*pp)->next) {
		if (*pp == pm) {
			*pp = pm->next;
			break;
		}
	}
	if (pm->c && result >= 0)
		reply_result(pm->c, pm->id, json_pack("{s:s, s:i, s:b}", "name", name,
						      "poller", result, "moved", 1));
	else if (pm->c)
		reply_error(pm->c, pm->id, result,
			    "tenant %s was unplugged or detached before its move finished", name);
	json_decref(pm->id);
	free(pm);
}

/* ---- parameter decoding ---- */

/*
 * unpack - json_unpack_ex in strict mode (unknown keys are errors); on
 * failure replies -32602 with jansson's precise text and returns -1.
 */
static int unpack(struct ctl_conn *c, json_t *id, json_t *params, const char *fmt, ...)
{
	json_error_t jerr;
	va_list ap;
	int r;

	if (!params)
		params = json_object();
	else
		json_incref(params);
	va_start(ap, fmt);
	r = json_vunpack_ex(params, &jerr, JSON_STRICT, fmt, ap);
	va_end(ap);
	json_decref(params);
	if (r < 0) {
		reply_error(c, id, PVFS_RPC_INVALID_PARAMS, "invalid params: %s", jerr.text);
		return -1;
	}
	return 0;
}

/* ---- methods ---- */

struct call {
	struct ctl_conn *c;
	json_t *id;
	json_t *params;
	int *fds;
	size_t nfds;
};

static void m_version(struct call *k)
{
	if (unpack(k->c, k->id, k->params, "{}"))
		return;
	reply_result(k->c, k->id, json_pack("{s:s, s:i, s:I}", "version", PVFSD_VERSION,
					    "abi_version", PVFS_ABI_VERSION,
					    "features", (json_int_t)PVFS_F_ALL));
}

static void m_attach(struct call *k)
{
	const char *name, *volume, *cache = "none", *ceph_conf = NULL, *ceph_id = NULL;
	int readonly = 0, force = 0;
	struct qos_params qp = QOS_PARAMS_ABSENT;
	json_int_t co_us = QOS_ABSENT, co_count = QOS_ABSENT;
	struct attach_params ap = { .qos = SCHED_QOS_DEFAULT };
	struct tenant *t;
	char err[512];
	int r;

	if (unpack(k->c, k->id, k->params,
		   "{s:s, s:s, s?b, s?s, s?I, s?I, s?I, s?I, s?I, s?I, s?I, s?s, s?s, s?b}",
		   "name", &name, "volume", &volume, "readonly", &readonly, "cache", &cache,
		   "weight", &qp.weight, "iops_reservation", &qp.iops_reservation,
		   "iops_limit", &qp.iops_limit, "bps_limit", &qp.bps_limit,
		   "latency_target_us", &qp.latency_target_us, "irq_coalesce_us", &co_us,
		   "irq_coalesce_count", &co_count, "ceph_conf", &ceph_conf, "ceph_id", &ceph_id,
		   "force", &force))
		return;
	if (!strcmp(cache, "none"))
		ap.cache = CACHE_NONE;
	else if (!strcmp(cache, "writeback"))
		ap.cache = CACHE_WRITEBACK;
	else
		return reply_error(k->c, k->id, -EINVAL,
				   "cache must be \"none\" or \"writeback\", got \"%s\"", cache);
	r = qos_decode(&qp, &ap.qos, err, sizeof(err));
	if (!r)
		r = coalesce_decode(co_us, co_count, &ap.coalesce, err, sizeof(err));
	if (r)
		return reply_error(k->c, k->id, r, "%s", err);
	ap.name = name;
	ap.volume = volume;
	ap.readonly = readonly;
	ap.ceph_conf = ceph_conf;
	ap.ceph_id = ceph_id;
	ap.force = force;
	r = tenant_attach(&ap, &t, err, sizeof(err));
	if (r < 0)
		return reply_error(k->c, k->id, r, "%s", err);
	state_save();
	reply_result(k->c, k->id, stats_tenant_summary(t));
}

static void m_plug(struct call *k)
{
	struct plug_params pp = { 0 };
	json_t *memory, *m;
	size_t i;
	char err[512];
	int queues, r;

	if (unpack(k->c, k->id, k->params, "{s:s, s:i, s:o}", "name", &pp.name,
		   "queues", &queues, "memory", &memory))
		return;
	if (queues < 1 || queues > (int)PVFS_MAX_QUEUES)
		return reply_error(k->c, k->id, -EINVAL, "queues must be 1-%u, got %d",
				   PVFS_MAX_QUEUES, queues);
	pp.queues = (uint32_t)queues;
	if (!json_is_array(memory) || json_array_size(memory) < 1 ||
	    json_array_size(memory) > PVFS_CTL_MAX_MEMREGIONS)
		return reply_error(k->c, k->id, PVFS_RPC_INVALID_PARAMS,
				   "invalid params: memory must be an array of 1-%d objects",
				   PVFS_CTL_MAX_MEMREGIONS);
	json_array_foreach(memory, i, m) {
		json_int_t gpa, size, offset;
		json_error_t jerr;

		if (json_unpack_ex(m, &jerr, JSON_STRICT, "{s:I, s:I, s:I}", "gpa", &gpa,
				   "size", &size, "offset", &offset) < 0)
			return reply_error(k->c, k->id, PVFS_RPC_INVALID_PARAMS,
					   "invalid params: memory[%zu]: %s", i, jerr.text);
		if (gpa < 0 || size <= 0 || offset < 0)
			return reply_error(k->c, k->id, -EINVAL,
					   "memory[%zu]: gpa and offset must be >= 0, size > 0", i);
		pp.mem[i] = (struct plug_mem){ (uint64_t)gpa, (uint64_t)size, (uint64_t)offset };
	}
	pp.nr_mem = (uint32_t)json_array_size(memory);
	pp.poller = placement_pick();
	r = tenant_plug(&pp, k->fds, k->nfds, k->c, err, sizeof(err));
	if (r < 0)
		return reply_error(k->c, k->id, r, "%s", err);
	reply_result(k->c, k->id, stats_tenant_summary(tenant_find(pp.name)));
}

static void m_detach(struct call *k)
{
	const char *name;
	int force = 0, r;
	struct tenant *t;
	struct pending_detach *pd;

	if (unpack(k->c, k->id, k->params, "{s:s, s?b}", "name", &name, "force", &force))
		return;
	t = tenant_find(name);
	if (!t)
		return reply_error(k->c, k->id, -ENOENT, "no tenant named %s (see pvfsctl list)",
				   name);
	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return reply_error(k->c, k->id, -ENOMEM, "out of memory");
	r = tenant_detach(t, force, detach_done, pd);
	if (r != 1)
		free(pd);
	if (r == -EALREADY)
		return reply_error(k->c, k->id, -EALREADY,
				   force ? "tenant %s is already being detached; its in-flight I/O "
					   "is now being cancelled (the first detach gets the reply)" :
					   "tenant %s is already being detached; wait for it, or "
					   "detach --force to cancel its in-flight I/O", name);
	if (r == 0) {
		state_save();
		reply_result(k->c, k->id, json_pack("{s:s}", "detached", name));
		return;
	}
	pd->c = k->c;
	pd->id = json_incref(k->id);
	pd->next = pending_detaches;
	pending_detaches = pd;
}

static void m_move(struct call *k)
{
	const char *name;
	int poller, r;
	struct tenant *t;
	struct pending_move *pm;
	char err[512];

	if (unpack(k->c, k->id, k->params, "{s:s, s:i}", "name", &name, "poller", &poller))
		return;
	t = tenant_find(name);
	if (!t)
		return reply_error(k->c, k->id, -ENOENT, "no tenant named %s (see pvfsctl list)",
				   name);
	if (poller < 0 || poller >= poller_count())
		return reply_error(k->c, k->id, -EINVAL,
				   "poller %d does not exist; pvfsd runs %d poller(s), numbered "
				   "from 0 (pvfsd --io-threads)", poller, poller_count());
	if (poller >= placement_active())
		return reply_error(k->c, k->id, -EINVAL,
				   "poller %d is parked (--io-threads auto has %d in use, numbered "
				   "from 0); choose one of those", poller, placement_active());
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return reply_error(k->c, k->id, -ENOMEM, "out of memory");
	r = tenant_move(t, poller_get(poller), move_done, pm, err, sizeof(err));
	if (r != 1)
		free(pm);
	if (r < 0)
		return reply_error(k->c, k->id, r, "%s", err);
	if (r == 0)
		return reply_result(k->c, k->id, json_pack("{s:s, s:i, s:b}", "name", name,
							   "poller", poller, "moved", 0));
	pm->c = k->c;
	pm->id = json_incref(k->id);
	pm->next = pending_moves;
	pending_moves = pm;
}

static size_t json_size(json_t *v)
{
	return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

static json_t *tenant_stats(const struct tenant *t)
{
	json_t *all = stats_json(t);
	json_t *one = json_incref(json_array_get(json_object_get(all, "tenants"), 0));

	json_decref(all);
	return one;
}

/*
 * fill_page - append to result's "tenants" array, made by fn, the tenants
 * after the one named after (NULL: from the first), in list order (newest
 * first), as long as the reply fits one packet of PVFS_CTL_MAX_MSG bytes,
 * what every client receives: 1000 tenants' stats are over a megabyte, more
 * than one Unix socket packet takes. When more follow, "next" names the last
 * tenant of this page, the client's "after" for the next call. A cursor by
 * name rather than an offset, so that an attach or detach between two pages
 * neither repeats nor skips a tenant. -1 (reply sent) if after is unknown.
 */
static int fill_page(struct call *k, json_t *result, const char *after,
		     json_t *(*fn)(const struct tenant *t))
{
	json_t *arr = json_object_get(result, "tenants");
	size_t used = REPLY_ENVELOPE + json_size(result) + (k->id ? json_size(k->id) : 4);
	const struct tenant *t = tenant_first(), *last = NULL;

	if (after) {
		t = tenant_find(after);
		if (!t) {
			reply_error(k->c, k->id, -ENOENT,
				    "tenant %s, after which this page was to start, is gone "
				    "(detached meanwhile); list again from the start", after);
			return -1;
		}
		t = t->next;
	}
	for (; t; t = t->next) {
		json_t *e = fn(t);
		size_t n = json_size(e) + 1;

		if (last && used + n > PVFS_CTL_MAX_MSG) {
			json_decref(e);
			json_object_set_new(result, "next", json_string(last->name));
			break;
		}
		json_array_append_new(arr, e);
		used += n;
		last = t;
	}
	return 0;
}

static void m_list(struct call *k)
{
	const char *after = NULL;
	json_t *result;

	if (unpack(k->c, k->id, k->params, "{s?s}", "after", &after))
		return;
	result = json_pack("{s:[]}", "tenants");
	if (fill_page(k, result, after, stats_tenant_summary) == 0)
		return reply_result(k->c, k->id, result);
	json_decref(result);
}

static void m_stats(struct call *k)
{
	const char *name = NULL, *after = NULL;
	struct tenant *t = NULL;
	json_t *result;

	if (unpack(k->c, k->id, k->params, "{s?s, s?s}", "name", &name, "after", &after))
		return;
	if (name && after)
		return reply_error(k->c, k->id, -EINVAL,
				   "give name (one tenant) or after (the next page), not both");
	if (name && !(t = tenant_find(name)))
		return reply_error(k->c, k->id, -ENOENT, "no tenant named %s (see pvfsctl list)",
				   name);
	if (name)
		return reply_result(k->c, k->id, stats_json(t));
	/* The pollers' part of stats_json(), with the tenants left to fill_page(). */
	result = stats_json(tenant_first());
	json_array_clear(json_object_get(result, "tenants"));
	json_object_set_new(result, "domains", stats_domains_json(NULL));
	if (fill_page(k, result, after, tenant_stats) == 0)
		return reply_result(k->c, k->id, result);
	json_decref(result);
}

static void m_set_qos(struct call *k)
{
	const char *name;
	struct qos_params qp = QOS_PARAMS_ABSENT;
	json_int_t co_us = QOS_ABSENT, co_count = QOS_ABSENT;
	struct irq_coalesce co;
	struct tenant *t;
	struct sched_qos q;
	json_t *qos;
	char err[256];
	int r;

	if (unpack(k->c, k->id, k->params, "{s:s, s?I, s?I, s?I, s?I, s?I, s?I, s?I}",
		   "name", &name, "weight", &qp.weight, "iops_reservation", &qp.iops_reservation,
		   "iops_limit", &qp.iops_limit, "bps_limit", &qp.bps_limit,
		   "latency_target_us", &qp.latency_target_us,
		   "irq_coalesce_us", &co_us, "irq_coalesce_count", &co_count))
		return;
	t = tenant_find(name);
	if (!t)
		return reply_error(k->c, k->id, -ENOENT, "no tenant named %s (see pvfsctl list)",
				   name);
	q = t->qos;
	co = t->coalesce;
	r = qos_decode(&qp, &q, err, sizeof(err));
	if (!r)
		r = coalesce_decode(co_us, co_count, &co, err, sizeof(err));
	if (r)
		return reply_error(k->c, k->id, r, "%s", err);
	r = tenant_set_qos(t, &q, err, sizeof(err));
	if (r < 0)
		return reply_error(k->c, k->id, r, "%s", err);
	tenant_set_coalesce(t, &co);
	state_save();
	qos = qos_json(&t->qos);
	coalesce_json_add(qos, &t->coalesce);
	reply_result(k->c, k->id, json_pack("{s:s, s:o}", "name", name, "qos", qos));
}

static void m_resize(struct call *k)
{
	const char *name;
	json_int_t size;
	struct tenant *t;
	char err[512];
	int r;

	if (unpack(k->c, k->id, k->params, "{s:s, s:I}", "name", &name, "size", &size))
		return;
	t = tenant_find(name);
	if (!t)
		return reply_error(k->c, k->id, -ENOENT, "no tenant named %s (see pvfsctl list)",
				   name);
	if (size < 0)
		return reply_error(k->c, k->id, PVFS_RPC_INVALID_PARAMS,
				   "invalid params: size must be >= 0 (0: the volume's size now)");
	r = tenant_resize(t, (uint64_t)size, err, sizeof(err));
	if (r < 0)
		return reply_error(k->c, k->id, r, "%s", err);
	reply_result(k->c, k->id, stats_tenant_summary(t));
}

/*
 * m_test_drop_interrupts - a test hook (pvfsd --test-hooks only): the
 * tenant's next count interrupts are not sent, as if lost, so that a guest
 * driver's recovery from a lost interrupt can be tested. Not for production:
 * without --test-hooks the method refuses to run.
 */
static void m_test_drop_interrupts(struct call *k)
{
	const char *name;
	json_int_t count = 1;
	struct tenant *t;
	char err[256];
	int r;

	if (unpack(k->c, k->id, k->params, "{s:s, s?I}", "name", &name, "count", &count))
		return;
	if (!cfg.test_hooks)
		return reply_error(k->c, k->id, -EPERM,
				   "test hooks are off; start pvfsd with --test-hooks (for tests "
				   "only)");
	t = tenant_find(name);
	if (!t)
		return reply_error(k->c, k->id, -ENOENT, "no tenant named %s (see pvfsctl list)",
				   name);
	if (count < 1 || count > 1000000)
		return reply_error(k->c, k->id, -EINVAL, "count must be 1-1000000, got %lld",
				   (long long)count);
	r = tenant_drop_interrupts(t, (uint32_t)count, err, sizeof(err));
	if (r < 0)
		return reply_error(k->c, k->id, r, "%s", err);
	reply_result(k->c, k->id, json_pack("{s:s, s:I}", "name", name, "dropping",
					    (json_int_t)count));
}

static void m_set_cost_model(struct call *k)
{
	const char *key;
	struct sched_model m = { 0 };
	json_t *model;
	char err[256];
	int r;

	if (unpack(k->c, k->id, k->params, "{s:s, s:o}", "domain", &key, "cost_model", &model))
		return;
	r = model_decode(model, &m, err, sizeof(err));
	if (r < 0)
		return reply_error(k->c, k->id, r, "%s", err);
	r = domain_set_model(key, &m, false);
	if (r == -ENOENT || r == -EINVAL)
		return reply_error(k->c, k->id, -ENOENT, "no domain named %.*s (pvfsctl stats lists "
				   "them)", DOMAIN_KEY_MAX, key);
	if (r < 0)
		return reply_error(k->c, k->id, r, "cannot set the cost model of domain %s: %s",
				   key, strerror(-r));
	log_info("domain %s: cost model %s", key, memcmp(&m, &(struct sched_model){ 0 },
							 sizeof(m)) ? "calibrated" : "fixed (default)");
	state_save();
	reply_result(k->c, k->id, json_pack("{s:s, s:o}", "domain", key, "cost_model",
					    model_json(&m)));
}

struct method {
	const char *name;
	void (*fn)(struct call *k);
	bool takes_fds;
};

static const struct method methods[] = {
	{ "attach", m_attach, false },
	{ "detach", m_detach, false },
	{ "list", m_list, false },
	{ "move", m_move, false },
	{ "plug", m_plug, true },
	{ "resize", m_resize, false },
	{ "set_cost_model", m_set_cost_model, false },
	{ "set_qos", m_set_qos, false },
	{ "stats", m_stats, false },
	{ "test_drop_interrupts", m_test_drop_interrupts, false },
	{ "version", m_version, false },
};

/* ---- connections ---- */

static void conn_close(struct ctl_conn *c)
{
	for (struct ctl_conn **pp = &conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	for (struct pending_detach *pd = pending_detaches; pd; pd = pd->next)
		if (pd->c == c)
			pd->c = NULL;	/* nobody to answer any more; the detach goes on */
	for (struct pending_move *pm = pending_moves; pm; pm = pm->next)
		if (pm->c == c)
			pm->c = NULL;
	tenant_conn_closed(c);
	event_free(c->ev);
	close(c->fd);
	free(c);
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void handle_message(struct ctl_conn *c, const char *text, size_t len, int *fds,
			   size_t nfds)
{
	json_error_t jerr;
	json_t *req, *id, *params, *ver;
	const char *method;
	const struct method *m = NULL;
	struct call k;

	req = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req)
		return reply_error(c, NULL, PVFS_RPC_PARSE_ERROR,
				   "parse error at line %d column %d: %s", jerr.line, jerr.column,
				   jerr.text);
	id = json_object_get(req, "id");
	ver = json_object_get(req, "jsonrpc");
	method = json_string_value(json_object_get(req, "method"));
	params = json_object_get(req, "params");
	if (!json_is_object(req) || !json_is_string(ver) || strcmp(json_string_value(ver), "2.0") ||
	    !method || (id && !json_is_integer(id) && !json_is_string(id) && !json_is_null(id)) ||
	    json_object_size(req) != 2u + !!id + !!params || (params && !json_is_object(params))) {
		reply_error(c, json_is_object(req) ? id : NULL, PVFS_RPC_INVALID_REQUEST,
			    "invalid request: need {\"jsonrpc\":\"2.0\", \"method\": string, "
			    "\"id\": number|string, \"params\": object}");
		goto out;
	}
	if (!c->authorized) {
		reply_error(c, id, -EACCES,
			    "permission denied: uid %u is not root%s; run as root or add the user "
			    "to pvfsd's admin group", (unsigned)c->uid,
			    cfg.admin_gid != (gid_t)-1 ? " nor in the admin group" : "");
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (!strcmp(methods[i].name, method))
			m = &methods[i];
	if (!m) {
		char names[256] = "";

		for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", methods[i].name);
		reply_error(c, id, PVFS_RPC_NO_METHOD, "unknown method \"%s\" (methods: %s)",
			    method, names);
		goto out;
	}
	if (nfds && !m->takes_fds) {
		reply_error(c, id, -EBADF, "method %s takes no file descriptors, got %zu",
			    method, nfds);
		goto out;
	}
	k = (struct call){ .c = c, .id = id, .params = params, .fds = fds, .nfds = nfds };
	m->fn(&k);
out:
	json_decref(req);
}

static void conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *c = arg;
	int fds[PVFS_CTL_MAX_FDS];
	size_t nfds = 0;
	ssize_t n;

	n = rpc_recv_raw(fd, msgbuf, PVFS_CTL_MAX_MSG + 1, fds, PVFS_CTL_MAX_FDS, &nfds);
	if (n == -EAGAIN)
		return;
	if (n == -EMSGSIZE) {
		reply_error(c, NULL, PVFS_RPC_INVALID_REQUEST,
			    "message larger than %d bytes; send one request per packet",
			    PVFS_CTL_MAX_MSG);
		return;
	}
	if (n == -ETOOMANYREFS) {
		reply_error(c, NULL, -ETOOMANYREFS,
			    "too many file descriptors in one message (at most %d)",
			    PVFS_CTL_MAX_FDS);
		return;
	}
	if (n <= 0) {
		conn_close(c);
		return;
	}
	handle_message(c, msgbuf, (size_t)n, fds, nfds);
	close_fds(fds, nfds);	/* what the handler did not take */
	if (!c->authorized)
		conn_close(c);
}

static bool peer_authorized(int fd, uid_t uid, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (uid == 0)
		return true;
	if (cfg.admin_gid == (gid_t)-1)
		return false;
	if (gid == cfg.admin_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == cfg.admin_gid)
			return true;
	return false;
}

/*
 * idle_conns - connections through which no VM is plugged now. Counted
 * afresh at each accept, O(connections + tenants): a plug ends in several
 * places (unplug, detach, shutdown, the VMM's close) and none has to tell
 * us. Only running tenants are looked at: their plug_conn is always open.
 */
static unsigned idle_conns(void)
{
	unsigned n = 0;

	for (struct ctl_conn *c = conns; c; c = c->next)
		c->plugs = 0;
	for (struct tenant *t = tenant_first(); t; t = t->next)
		if (t->state == TENANT_RUNNING && t->plug_conn)
			t->plug_conn->plugs++;
	for (struct ctl_conn *c = conns; c; c = c->next)
		n += !c->plugs;
	return n;
}

static void refuse(int fd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * refuse - answer a connection we will not serve with one error reply
 * ("id": null: no request was read), then close it. Logged at most every
 * 10 s, with how many were refused, so that a flood cannot flood the log.
 */
static void refuse(int fd, int code, const char *fmt, ...)
{
	static uint64_t last_log_ns, refused;
	char msg[512];
	va_list ap;
	json_t *reply;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply = json_pack("{s:s, s:n, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", "error",
			  "code", code, "message", msg);
	rpc_send(fd, reply, NULL, 0);
	json_decref(reply);
	close(fd);
	refused++;
	if (now_ns() - last_log_ns >= 10000000000ull) {
		log_warn("control: refused %llu connection(s): %s", (unsigned long long)refused, msg);
		last_log_ns = now_ns();
		refused = 0;
	}
}

/* accept_spare - out of fds: use the spare to accept one peer and tell it. */
static void accept_spare(int lfd)
{
	struct rlimit rl = { 0 };
	int fd;

	if (spare_fd < 0)
		return;
	close(spare_fd);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd >= 0) {
		getrlimit(RLIMIT_NOFILE, &rl);
		refuse(fd, -EMFILE,
		       "pvfsd is out of file descriptors (limit %llu); raise LimitNOFILE in "
		       "pvfsd.service (or the hard limit, ulimit -Hn), or plug fewer VMs",
		       (unsigned long long)rl.rlim_cur);
	}
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void listen_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct ctl_conn *c;
	unsigned idle;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			accept_spare(lfd);
		return;
	}
	if (!accepting)
		return refuse(fd, -ESHUTDOWN, "pvfsd is shutting down; try again when it is back");
	idle = idle_conns();
	if (idle >= cfg.max_conns)
		return refuse(fd, -EAGAIN,
			      "too many control connections: %u are open without a plugged VM "
			      "(max_connections); close idle ones, or raise max_connections in "
			      "pvfsd's config (--max-connections)", idle);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->uid = cred.uid;
	c->pid = cred.pid;
	c->authorized = peer_authorized(fd, cred.uid, cred.gid);
	if (!c->authorized)
		log_notice("control: unauthorized peer pid %d uid %u", (int)cred.pid,
			   (unsigned)cred.uid);
	c->ev = event_new(base, fd, EV_READ | EV_PERSIST, conn_read, c);
	event_add(c->ev, NULL);
	c->next = conns;
	conns = c;
}

static char sock_path[PATH_MAX];	/* empty when socket-activated */

void ctl_config_changed(void)
{
	/* The admin group may have changed: the socket's group follows it. */
	if (sock_path[0] && chown(sock_path, 0, cfg.admin_gid != (gid_t)-1 ? cfg.admin_gid : 0) < 0)
		log_warn("control: cannot set the group of %s: %m", sock_path);
}

static int bind_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A stale socket of a dead pvfsd; a live one would have refused the lock. */
	unlink(path);
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		umask(old);
		return e;
	}
	umask(old);
	if (cfg.admin_gid != (gid_t)-1 && chown(path, 0, cfg.admin_gid) < 0)
		log_warn("control: cannot give %s to the admin group: %m", path);
	if (listen(fd, 64) < 0)
		return -errno;
	return take_fd(&fd);
}

int ctl_start(struct event_base *b, const char *path, int inherited_fd)
{
	int r;

	base = b;
	msgbuf = malloc(PVFS_CTL_MAX_MSG + 1);
	if (!msgbuf)
		return -ENOMEM;
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (spare_fd < 0)
		return -errno;
	if (inherited_fd >= 0) {
		listen_fd = inherited_fd;
		evutil_make_socket_nonblocking(listen_fd);
	} else {
		r = bind_socket(path);
		if (r < 0)
			return r;
		listen_fd = r;
		snprintf(sock_path, sizeof(sock_path), "%s", path);
	}
	listen_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, listen_accept, NULL);
	if (!listen_ev)
		return -ENOMEM;
	event_add(listen_ev, NULL);
	return 0;
}

void ctl_stop_accepting(void)
{
	accepting = false;
	if (listen_ev)
		event_del(listen_ev);
}

void ctl_shutdown(void)
{
	while (conns)
		conn_close(conns);
	if (listen_ev)
		event_free(listen_ev);
	listen_ev = NULL;
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
	if (spare_fd >= 0)
		close(spare_fd);
	spare_fd = -1;
	free(msgbuf);
	msgbuf = NULL;
}
