/* SPDX-License-Identifier: MIT */
/* config.c - see config.h. */
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pvfsd.h"
#include "util.h"

#define MAX_CMDLINE 64

/* The defaults, before the config file and the command line. */
struct daemon_config cfg = {
	.runtime_dir = "/run/pvfsd",
	.io_threads = 1,
	.tenants_per_poller = 4,
	.rebalance = true,
	.sched_mode = SCHED_MODE_FAIR,
	.inflight_cap = SCHED_INFLIGHT_CAP_DEFAULT,
	.anticipation_us = SCHED_ANTIC_NS_DEFAULT / 1000,
	.cost_learning = true,
	.poll_min_us = 50,
	.poll_max_us = 1000,
	.admin_gid = (gid_t)-1,
	.max_conns = PVFSD_MAX_CONNS_DEFAULT,
	.nbd_timeout_ms = PVFSD_NBD_TIMEOUT_MS_DEFAULT,
	.nbd_connections = PVFSD_NBD_CONNECTIONS_DEFAULT,
	.rbd_timeout_s = PVFSD_RBD_TIMEOUT_DEFAULT,
	.metrics_listen = "127.0.0.1:9477",
};

/* Command-line settings, re-applied after a reload so that they keep winning. */
static struct { char *key, *value; } cmdline[MAX_CMDLINE];
static int nr_cmdline;
static bool reloading;

static void normalize(const char *in, char *out, size_t n)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < n; i++)
		out[i] = in[i] == '_' ? '-' : in[i];
	out[i] = '\0';
}

/* parse_pair - v is `no` (*ret = false) or `yes` (*ret = true), by name. */
static int parse_pair(const char *v, const char *no, const char *yes, bool *ret)
{
	if (strcmp(v, no) && strcmp(v, yes))
		return -EINVAL;
	*ret = !strcmp(v, yes);
	return 0;
}

static int parse_bool(const char *v, bool *ret)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		*ret = true;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

/*
 * parse_cpus - "0-3,8,10-11": the CPUs pollers are pinned to, in order
 * (poller i on the i-th, wrapping round), at most ARRAY_SIZE(cfg.cpus).
 */
static int parse_cpus(const char *v)
{
	int n = 0;

	while (*v) {
		char *end;
		unsigned long lo = strtoul(v, &end, 10), hi = lo;

		if (end == v || *v == '-' || *v == '+')
			return -EINVAL;
		if (*end == '-') {
			v = end + 1;
			hi = strtoul(v, &end, 10);
			if (end == v || *v == '-' || *v == '+' || hi < lo)
				return -EINVAL;
		}
		if (hi >= CPU_SETSIZE || hi - lo >= ARRAY_SIZE(cfg.cpus) ||
		    n + (int)(hi - lo + 1) > (int)ARRAY_SIZE(cfg.cpus))
			return -EINVAL;
		for (unsigned long c = lo; c <= hi; c++)
			cfg.cpus[n++] = (uint16_t)c;
		if (*end == ',')
			end++;
		else if (*end)
			return -EINVAL;
		v = end;
	}
	if (!n)
		return -EINVAL;
	cfg.nr_cpus = n;
	return 0;
}

/*
 * dir_alias - v, absolute, in the form open_volume() compares with: no
 * repeated or trailing '/' ("/" stays "/"). NULL if v is relative or has a
 * "." or ".." component (only its real path is used then) or is real.
 */
static char *dir_alias(const char *v, const char *real)
{
	char out[PATH_MAX];
	size_t n = 0;

	if (v[0] != '/')
		return NULL;
	for (const char *p = v; *p; ) {
		size_t len;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (!len)
			break;
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return NULL;
		if (n + 1 + len >= sizeof(out))
			return NULL;
		out[n++] = '/';
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
	if (!n)
		out[n++] = '/';
	out[n] = '\0';
	return strcmp(out, real) ? strdup(out) : NULL;
}

/*
 * add_volume_dir - a volume dir is kept by its real path (no symlink, no
 * trailing '/'), which is what volumes are opened beneath, and also by the
 * name it was given if that differs (a symlink to it), so that an absolute
 * volume path written through that name is recognised as inside it.
 */
static int add_volume_dir(const char *v)
{
	char real[PATH_MAX];
	int i;

	if (!realpath(v, real)) {
		log_err("volume dir %s: %m", v);
		return -EINVAL;
	}
	for (i = 0; i < cfg.nr_volume_dirs; i++)
		if (!strcmp(cfg.volume_dirs[i], real))
			break;
	if (i == cfg.nr_volume_dirs) {
		if (cfg.nr_volume_dirs >= (int)ARRAY_SIZE(cfg.volume_dirs)) {
			log_err("at most %zu volume dirs", ARRAY_SIZE(cfg.volume_dirs));
			return -EINVAL;
		}
		cfg.volume_dirs[i] = strdup(real);
		cfg.volume_dir_aliases[i] = NULL;
		cfg.nr_volume_dirs++;
	}
	if (!cfg.volume_dir_aliases[i])
		cfg.volume_dir_aliases[i] = dir_alias(v, real);
	return 0;
}

/* add_allow_nbd - one more allow_nbd glob (matched against the whole URI). */
static int add_allow_nbd(const char *v)
{
	char *dup;

	if (cfg.nr_allow_nbd >= (int)ARRAY_SIZE(cfg.allow_nbd)) {
		log_err("at most %zu allow_nbd patterns", ARRAY_SIZE(cfg.allow_nbd));
		return -E2BIG;
	}
	if (!*v) {
		log_err("allow_nbd needs a pattern (e.g. nbd://10.0.0.*/* or nbd+unix://*)");
		return -EINVAL;
	}
	dup = strdup(v);
	if (!dup)
		return -ENOMEM;
	cfg.allow_nbd[cfg.nr_allow_nbd++] = dup;
	return 0;
}

static void free_allow_nbd(char **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
}

/* add_str - append a copy of v to list (n entries, at most max); key names it in errors. */
static int add_str(char **list, int *n, size_t max, const char *key, const char *v)
{
	char *dup;

	for (int i = 0; i < *n; i++)
		if (!strcmp(list[i], v))
			return 0;
	if ((size_t)*n >= max) {
		log_err("at most %zu %s values", max, key);
		return -E2BIG;
	}
	if (!*v) {
		log_err("%s needs a value", key);
		return -EINVAL;
	}
	dup = strdup(v);
	if (!dup)
		return -ENOMEM;
	list[(*n)++] = dup;
	return 0;
}

static void free_strs(char **list, int *n)
{
	for (int i = 0; i < *n; i++)
		free(list[i]);
	*n = 0;
}

/* add_rbd_pools - allow_rbd_pools = POOL[,POOL...] (repeatable). */
static int add_rbd_pools(const char *v)
{
	char buf[1024], *save = NULL;
	int r;

	if (strlen(v) >= sizeof(buf)) {
		log_err("allow_rbd_pools: value too long");
		return -EINVAL;
	}
	strcpy(buf, v);
	for (char *p = strtok_r(buf, ", \t", &save); p; p = strtok_r(NULL, ", \t", &save)) {
		r = add_str(cfg.allow_rbd_pools, &cfg.nr_allow_rbd_pools,
			    ARRAY_SIZE(cfg.allow_rbd_pools), "allow_rbd_pools", p);
		if (r < 0)
			return r;
	}
	return 0;
}

/* reset_rbd - the RBD keys as if never given (a reload re-reads them). */
static void reset_rbd(void)
{
	free_strs(cfg.ceph_confs, &cfg.nr_ceph_confs);
	free_strs(cfg.ceph_ids, &cfg.nr_ceph_ids);
	free_strs(cfg.allow_rbd_pools, &cfg.nr_allow_rbd_pools);
	free(cfg.ceph_keyring);
	cfg.ceph_keyring = NULL;
	cfg.rbd_timeout_s = PVFSD_RBD_TIMEOUT_DEFAULT;
}

static int restart_only(const char *key)
{
	if (reloading) {
		log_warn("config: %s changes take effect only after a restart", key);
		return 1;
	}
	return 0;
}

int config_set(const char *rawkey, const char *v)
{
	char key[64];
	uint64_t n;

	normalize(rawkey, key, sizeof(key));
	if (!strcmp(key, "volume-dir")) {
		return add_volume_dir(v);
	} else if (!strcmp(key, "admin-group")) {
		struct group *g = getgrnam(v);

		if (!g) {
			log_err("admin group %s does not exist", v);
			return -EINVAL;
		}
		cfg.admin_gid = g->gr_gid;
	} else if (!strcmp(key, "max-connections")) {
		if (parse_u64(v, &n) < 0 || n < 1 || n > PVFSD_MAX_CONNS_MAX)
			goto bad;
		cfg.max_conns = (uint32_t)n;
	} else if (!strcmp(key, "allow-block-devices")) {
		if (parse_bool(v, &cfg.allow_bdev) < 0)
			goto bad;
	} else if (!strcmp(key, "allow-nbd")) {
		return add_allow_nbd(v);
	} else if (!strcmp(key, "nbd-timeout")) {
		char *end;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (errno || end == v)
			goto bad;
		if (!strcmp(end, "ms"))
			;
		else if (!*end || !strcmp(end, "s"))
			n *= 1000;
		else
			goto bad;
		if (n < 100 || n > 3600000)
			goto bad;
		cfg.nbd_timeout_ms = (uint32_t)n;
	} else if (!strcmp(key, "ceph-conf")) {
		if (v[0] != '/') {
			log_err("ceph_conf must be an absolute path, got \"%s\"", v);
			return -EINVAL;
		}
		return add_str(cfg.ceph_confs, &cfg.nr_ceph_confs, ARRAY_SIZE(cfg.ceph_confs),
			       "ceph_conf", v);
	} else if (!strcmp(key, "ceph-id")) {
		if (!strncmp(v, "client.", 7))
			v += 7;
		return add_str(cfg.ceph_ids, &cfg.nr_ceph_ids, ARRAY_SIZE(cfg.ceph_ids), "ceph_id",
			       v);
	} else if (!strcmp(key, "ceph-keyring")) {
		char *dup = strdup(v);

		if (!dup)
			return -ENOMEM;
		free(cfg.ceph_keyring);
		cfg.ceph_keyring = dup;
	} else if (!strcmp(key, "allow-rbd-pools")) {
		return add_rbd_pools(v);
	} else if (!strcmp(key, "rbd-timeout")) {
		if (parse_u64(v, &n) < 0 || n > 3600)
			goto bad;
		cfg.rbd_timeout_s = (uint32_t)n;
	} else if (!strcmp(key, "nbd-connections")) {
		if (parse_u64(v, &n) < 0 || n < 1 || n > 16)
			goto bad;
		cfg.nbd_connections = (uint32_t)n;
	} else if (!strcmp(key, "io-threads")) {
		if (restart_only(key))
			return 0;
		cfg.io_threads_auto = !strcmp(v, "auto");
		if (cfg.io_threads_auto)
			return 0;
		if (parse_u64(v, &n) < 0 || n < 1 || n > 64)
			goto bad;
		cfg.io_threads = (int)n;
	} else if (!strcmp(key, "cpus")) {
		if (restart_only(key))
			return 0;
		if (parse_cpus(v) < 0)
			goto bad;
	} else if (!strcmp(key, "tenants-per-poller")) {
		if (parse_u64(v, &n) < 0 || n < 1 || n > PVFSD_MAX_TENANTS)
			goto bad;
		cfg.tenants_per_poller = (uint32_t)n;
	} else if (!strcmp(key, "rebalance")) {
		if (parse_bool(v, &cfg.rebalance) < 0)
			goto bad;
	} else if (!strcmp(key, "scheduler")) {
		bool fifo;

		if (restart_only(key))
			return 0;
		if (parse_pair(v, "fair", "fifo", &fifo) < 0)
			goto bad;
		cfg.sched_mode = fifo ? SCHED_MODE_FIFO : SCHED_MODE_FAIR;
	} else if (!strcmp(key, "inflight-cap")) {
		if (restart_only(key))
			return 0;
		if (parse_u64(v, &n) < 0 || n < 1 || n > SCHED_INFLIGHT_CAP_MAX)
			goto bad;
		cfg.inflight_cap = (uint32_t)n;
	} else if (!strcmp(key, "anticipation-us")) {
		if (restart_only(key))
			return 0;
		if (parse_u64(v, &n) < 0 || n > SCHED_ANTIC_NS_MAX / 1000)
			goto bad;
		cfg.anticipation_us = (uint32_t)n;
	} else if (!strcmp(key, "slot-shares")) {
		if (restart_only(key))
			return 0;
		if (parse_pair(v, "count", "cost", &cfg.slots_by_cost) < 0)
			goto bad;
	} else if (!strcmp(key, "cost-learning")) {
		if (restart_only(key))
			return 0;
		if (parse_bool(v, &cfg.cost_learning) < 0)
			goto bad;
	} else if (!strcmp(key, "poll-us")) {
		unsigned lo, hi;
		char end;

		if (restart_only(key))
			return 0;
		if (sscanf(v, "%u:%u%c", &lo, &hi, &end) != 2 || lo > hi || hi > 1000000)
			goto bad;
		cfg.poll_min_us = lo;
		cfg.poll_max_us = hi;
	} else if (!strcmp(key, "metrics-listen")) {
		static char *listen;
		char *dup;

		if (restart_only(key))
			return 0;
		dup = strdup(v);
		if (!dup)
			return -ENOMEM;
		/* Given twice (the file, then the command line): the last one wins. */
		free(listen);
		cfg.metrics_listen = listen = dup;
	} else {
		return -ENOENT;
	}
	return 0;
bad:
	log_err("invalid value \"%s\" for %s", v, key);
	return -EINVAL;
}

static int on_ini_line(void *user, const char *section, const char *name, const char *value)
{
	int r;

	if (strcmp(section, "pvfsd")) {
		log_err("config: unknown section [%s]", section);
		return 0;
	}
	/* Volume dirs from the file are replaced on reload, not accumulated. */
	r = config_set(name, value);
	if (r == -ENOENT)
		log_err("config: unknown key %s", name);
	return r == 0;
}

int config_load(const char *file, int required)
{
	int r;

	if (!file) {
		if (access(PVFSD_DEFAULT_CONFIG, R_OK) < 0)
			return 0;
		file = PVFSD_DEFAULT_CONFIG;
	}
	cfg.config_file = file;
	r = ini_parse(file, on_ini_line, NULL);
	if (r < 0) {
		r = log_errno(LOG_ERR, "cannot read config %s: %m", file);
		return required ? r : 0;
	}
	if (r > 0) {
		log_err("config %s: error on line %d", file, r);
		return -EINVAL;
	}
	return 0;
}

int config_set_option(const struct option *opts, int c, const char *value)
{
	for (const struct option *o = opts; o->name; o++) {
		if (o->val != c)
			continue;
		if (nr_cmdline < MAX_CMDLINE) {
			cmdline[nr_cmdline].key = strdup(o->name);
			cmdline[nr_cmdline].value = value ? strdup(value) : strdup("true");
			nr_cmdline++;
		}
		return config_set(o->name, value ? value : "true");
	}
	return -ENOENT;
}

void config_reload(void)
{
	char *old_dirs[ARRAY_SIZE(cfg.volume_dirs)], *old_aliases[ARRAY_SIZE(cfg.volume_dirs)];
	char *old_nbd[ARRAY_SIZE(cfg.allow_nbd)];
	int old_n = cfg.nr_volume_dirs, old_nbd_n = cfg.nr_allow_nbd;

	memcpy(old_dirs, cfg.volume_dirs, sizeof(old_dirs));
	memcpy(old_aliases, cfg.volume_dir_aliases, sizeof(old_aliases));
	memcpy(old_nbd, cfg.allow_nbd, sizeof(old_nbd));
	cfg.nr_volume_dirs = 0;
	cfg.admin_gid = (gid_t)-1;
	cfg.allow_bdev = false;
	cfg.max_conns = PVFSD_MAX_CONNS_DEFAULT;
	cfg.rebalance = true;
	cfg.tenants_per_poller = 4;
	cfg.nr_allow_nbd = 0;
	cfg.nbd_timeout_ms = PVFSD_NBD_TIMEOUT_MS_DEFAULT;
	cfg.nbd_connections = PVFSD_NBD_CONNECTIONS_DEFAULT;
	reset_rbd();
	reloading = true;
	if (cfg.config_file && ini_parse(cfg.config_file, on_ini_line, NULL) != 0)
		log_err("reload of %s had errors; what parsed is applied", cfg.config_file);
	for (int i = 0; i < nr_cmdline; i++)
		config_set(cmdline[i].key, cmdline[i].value);
	reloading = false;
	for (int i = 0; i < old_n; i++) {
		free(old_dirs[i]);
		free(old_aliases[i]);
	}
	free_allow_nbd(old_nbd, old_nbd_n);
	log_info("config reloaded: %d volume dir(s), block devices %s, max_connections %u, "
		 "rebalance %s, tenants_per_poller %u", cfg.nr_volume_dirs,
		 cfg.allow_bdev ? "allowed" : "refused", cfg.max_conns,
		 cfg.rebalance ? "on" : "off", cfg.tenants_per_poller);
}

void config_free(void)
{
	for (int i = 0; i < cfg.nr_volume_dirs; i++) {
		free(cfg.volume_dirs[i]);
		free(cfg.volume_dir_aliases[i]);
	}
	cfg.nr_volume_dirs = 0;
	free_allow_nbd(cfg.allow_nbd, cfg.nr_allow_nbd);
	cfg.nr_allow_nbd = 0;
	reset_rbd();
	for (int i = 0; i < nr_cmdline; i++) {
		free(cmdline[i].key);
		free(cmdline[i].value);
	}
	nr_cmdline = 0;
}
