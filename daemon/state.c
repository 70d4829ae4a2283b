/* SPDX-License-Identifier: MIT */
/*
 * state.c - see state.h. The file format is {"version":1,"tenants":[attach
 * params...],"domains":[{"domain":KEY,"cost_model":{...}}...]}, domains only
 * with a calibrated cost model.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "domain.h"
#include "log.h"
#include "pvfsd.h"
#include "qos_json.h"
#include "state.h"
#include "tenant.h"
#include "util.h"

/* write_all - all of buf, or -1 with errno set. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Entries of the state file that state_load could not restore (a volume
 * missing at start: a disk not mounted yet, a Ceph cluster or NBD server
 * down, a config that no longer allows it). They are written back by every
 * save, unchanged, so a restart before the volume is back forgets nobody:
 * the next start that can open the volume restores the tenant. An attach
 * under the same name replaces the kept entry for good.
 */
static json_t *unrestored;

static void append_unrestored(json_t *arr)
{
	size_t i = 0;

	while (unrestored && i < json_array_size(unrestored)) {
		json_t *e = json_array_get(unrestored, i);
		const char *name = json_string_value(json_object_get(e, "name"));

		if (name && tenant_find(name)) {
			json_array_remove(unrestored, i);
			continue;
		}
		json_array_append(arr, e);
		i++;
	}
}

void state_save(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	json_t *arr, *doms, *root;
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int dfd = -1;
	int fd;

	if (!cfg.state_file)
		return;
	arr = json_array();
	for (const struct tenant *t = tenant_first(); t; t = t->next) {
		json_t *qos, *e;

		if (t->detaching)
			continue;
		qos = qos_json(&t->qos);
		coalesce_json_add(qos, &t->coalesce);
		e = json_pack("{s:s, s:s, s:b, s:s, s:o}",
			      "name", t->name, "volume", t->volume, "readonly", t->readonly,
			      "cache", cache_mode_name(t->cache), "qos", qos);
		/*
		 * A remote volume's geometry too: a pvfsd that starts while its
		 * server is down restores the tenant from it and waits for the
		 * server, instead of forgetting the tenant.
		 */
		if (strcmp(t->backend->ops->kind, "file"))
			json_object_set_new(e, "remote", json_pack("{s:I, s:i, s:i, s:i}",
					"capacity", (json_int_t)t->backend->info.capacity,
					"logical_block_size", (int)t->backend->info.lbs,
					"physical_block_size", (int)t->backend->info.pbs,
					"features", (int)t->backend->info.features));
		/* Which ceph.conf and client, by name: the keyring stays where it is. */
		if (t->ceph_conf)
			json_object_set_new(e, "ceph_conf", json_string(t->ceph_conf));
		if (t->ceph_id)
			json_object_set_new(e, "ceph_id", json_string(t->ceph_id));
		json_array_append_new(arr, e);
	}
	append_unrestored(arr);
	doms = json_array();
	for (const struct domain *d = domain_first(); d; d = d->next) {
		struct sched_model m;

		if (!d->calibrated)
			continue;
		sched_domain_model(d->sd, &m);
		json_array_append_new(doms, json_pack("{s:s, s:o}", "domain", d->key,
						      "cost_model", model_json(&m)));
	}
	root = json_pack("{s:i, s:o, s:o}", "version", 1, "tenants", arr, "domains", doms);
	/*
	 * Into memory first, then one write: json_dumpfd() makes a write()
	 * call per token, and with 1000 tenants every attach then cost 50 ms.
	 */
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	snprintf(tmp, sizeof(tmp), "%s.tmp", cfg.state_file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !text || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		log_err("cannot write state file %s: %s; attached tenants will not survive a "
			"restart", tmp, text ? strerror(errno) : "out of memory");
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	if (rename(tmp, cfg.state_file) < 0) {
		log_err("cannot replace state file %s: %m", cfg.state_file);
		return;
	}
	/* The rename is durable only once the directory is. */
	snprintf(dir, sizeof(dir), "%s", cfg.state_file);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
}

static int restore_one(json_t *e, size_t i)
{
	struct attach_params ap = { .qos = SCHED_QOS_DEFAULT, .restore = true };
	const char *cache = "none";
	json_int_t weight = SCHED_WEIGHT_DEFAULT, resv = 0, iops = 0, bps = 0, lat = 0;
	json_int_t co_us = 0, co_count = 0;
	json_int_t cap = 0;
	int readonly = 0, lbs = 0, pbs = 0, features = 0;
	json_t *remote = NULL;
	struct backend_info known = { 0 };
	json_error_t jerr;
	struct tenant *t;
	char err[512];
	int r;

	if (json_unpack_ex(e, &jerr, JSON_STRICT,
			   "{s:s, s:s, s?b, s?s, s?{s?I, s?I, s?I, s?I, s?I, s?I, s?I}, s?o, "
			   "s?s, s?s}",
			   "name", &ap.name, "volume", &ap.volume, "readonly", &readonly,
			   "cache", &cache, "qos", "weight", &weight, "iops_reservation", &resv,
			   "iops_limit", &iops, "bps_limit", &bps, "latency_target_us", &lat,
			   "irq_coalesce_us", &co_us, "irq_coalesce_count", &co_count,
			   "remote", &remote, "ceph_conf", &ap.ceph_conf, "ceph_id", &ap.ceph_id) < 0 ||
	    (remote && json_unpack_ex(remote, &jerr, JSON_STRICT, "{s:I, s:i, s:i, s:i}",
				      "capacity", &cap, "logical_block_size", &lbs,
				      "physical_block_size", &pbs, "features", &features) < 0)) {
		log_err("state file %s: tenant %zu: %s; skipped", cfg.state_file, i, jerr.text);
		return -EINVAL;
	}
	ap.readonly = readonly;
	ap.cache = strcmp(cache, "writeback") ? CACHE_NONE : CACHE_WRITEBACK;
	if (remote) {
		/* Checked again by the backend; only a plausible geometry is kept. */
		known.capacity = (uint64_t)cap;
		known.lbs = (uint32_t)lbs;
		known.pbs = (uint32_t)pbs;
		known.features = (uint32_t)features;
		ap.known = &known;
	}
	if (weight < 0 || resv < 0 || iops < 0 || bps < 0 || lat < 0 ||
	    weight > SCHED_WEIGHT_MAX || lat > (json_int_t)(SCHED_LAT_TARGET_MAX / 1000)) {
		log_err("state file %s: tenant %s: QoS out of range; skipped", cfg.state_file, ap.name);
		return -EINVAL;
	}
	ap.qos.weight = (uint32_t)weight;
	ap.qos.iops_reservation = (uint64_t)resv;
	ap.qos.iops_limit = (uint64_t)iops;
	ap.qos.bps_limit = (uint64_t)bps;
	ap.qos.latency_target_ns = (uint64_t)lat * 1000;
	if (coalesce_decode(co_us, co_count, &ap.coalesce, err, sizeof(err))) {
		log_err("state file %s: tenant %s: %s; skipped", cfg.state_file, ap.name, err);
		return -EINVAL;
	}
	r = tenant_attach(&ap, &t, err, sizeof(err));
	if (r < 0)
		log_err("state file %s: cannot restore tenant %s: %s", cfg.state_file, ap.name, err);
	return r;
}

int state_load(void)
{
	json_error_t jerr;
	json_t *root, *arr, *e;
	size_t i;
	int n = 0;

	if (!cfg.state_file || access(cfg.state_file, F_OK) < 0)
		return 0;
	root = json_load_file(cfg.state_file, 0, &jerr);
	if (!root) {
		log_err("state file %s is unreadable (%s, line %d); starting with no tenants",
			cfg.state_file, jerr.text, jerr.line);
		return -EINVAL;
	}
	/* Models first: a tenant's domain is made when it is restored. */
	arr = json_object_get(root, "domains");
	json_array_foreach(arr, i, e) {
		struct sched_model m = { 0 };
		const char *key;
		char err[256];

		if (json_unpack(e, "{s:s}", "domain", &key) < 0 ||
		    model_decode(json_object_get(e, "cost_model"), &m, err, sizeof(err)) < 0 ||
		    domain_set_model(key, &m, true) < 0)
			log_err("state file %s: domain %zu: invalid cost model; the fixed one is used",
				cfg.state_file, i);
	}
	arr = json_object_get(root, "tenants");
	json_array_foreach(arr, i, e) {
		if (restore_one(e, i) == 0) {
			n++;
			continue;
		}
		if (!unrestored)
			unrestored = json_array();
		json_array_append(unrestored, e);
	}
	json_decref(root);
	if (n)
		log_info("restored %d tenant(s) from %s", n, cfg.state_file);
	if (json_array_size(unrestored))
		log_err("state file %s: %zu tenant(s) not restored (see above); they stay in the "
			"state file and come back at the next start that finds their volumes, or "
			"attach them again", cfg.state_file, json_array_size(unrestored));
	return n;
}
