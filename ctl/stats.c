/* SPDX-License-Identifier: MIT */
/*
 * stats.c - `pvfsctl stats`: per-tenant I/O statistics, the scheduling
 * domains (devices) and the pollers' activity (method "stats"), once or every --watch SECONDS until SIGINT or
 * SIGTERM. The screen is cleared between prints only when stdout is a
 * terminal, so that a redirected --watch is a plain log.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "output.h"
#include "pvfsctl.h"
#include "util.h"

#define WATCH_MAX_SECONDS 86400

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
}

/* The larger of the read and write value: an upper bound of the combined percentile. */
static double latency(json_t *ops, const char *pct)
{
	double r = jreal(json_object_get(json_object_get(ops, "read"), "latency_us"), pct);
	double w = jreal(json_object_get(json_object_get(ops, "write"), "latency_us"), pct);

	return MAX(r, w);
}

static void print_tenants(json_t *tenants)
{
	static const char *const headers[] = {
		"NAME", "STATE", "POLLER", "IOPS", "MiB/s", "READ", "WRITE", "ERRORS", "INFLIGHT",
		"P50us", "P99us", "P99.9us", "DOORBELLS", "IRQS", "THROTTLED", "QDELAYus", NULL,
	};
	struct table *tab = table_new(headers, "llrrrrrrrrrrrrrr");
	json_t *t;
	size_t i;

	sort_by_name(tenants);
	json_array_foreach(tenants, i, t) {
		json_t *ops = json_object_get(t, "ops"), *op;
		json_int_t errors = 0, rw;
		const char *key;

		json_object_foreach(ops, key, op)
			errors += jint(op, "errors");
		rw = jint(json_object_get(ops, "read"), "ops") +
		     jint(json_object_get(ops, "write"), "ops");
		table_row(tab);
		table_cell(tab, "%s", jstr(t, "name"));
		table_cell(tab, "%s", jstr(t, "state"));
		if (json_object_get(t, "poller"))
			table_cell(tab, "%lld", (long long)jint(t, "poller"));
		else
			table_cell(tab, "-");
		table_cell(tab, "%.0f", jreal(t, "iops"));
		table_cell(tab, "%.1f", jreal(t, "bps") / (1024.0 * 1024.0));
		table_cell(tab, "%lld", (long long)jint(json_object_get(ops, "read"), "ops"));
		table_cell(tab, "%lld", (long long)jint(json_object_get(ops, "write"), "ops"));
		table_cell(tab, "%lld", (long long)errors);
		table_cell(tab, "%lld", (long long)jint(t, "inflight"));
		if (rw) {
			table_cell(tab, "%.1f", latency(ops, "p50"));
			table_cell(tab, "%.1f", latency(ops, "p99"));
			table_cell(tab, "%.1f", latency(ops, "p999"));
		} else {
			table_cell(tab, "-");
			table_cell(tab, "-");
			table_cell(tab, "-");
		}
		table_cell(tab, "%lld", (long long)jint(t, "doorbells"));
		table_cell(tab, "%lld", (long long)jint(t, "interrupts"));
		table_cell(tab, "%lld", (long long)jint(t, "throttled"));
		table_cell(tab, "%.1f", jreal(t, "queue_delay_us_mean"));
	}
	table_print(tab, stdout);
	table_free(tab);
	print_broken(tenants, stdout);
}

/* print_backends - remote volumes' connections; nothing when every volume is local. */
static void print_backends(json_t *tenants)
{
	static const char *const headers[] = {
		"NAME", "BACKEND", "CONNECTION", "CONNS", "RECONNECTS", "ERRORS", "QUEUE", "DOMAIN",
		NULL,
	};
	struct table *tab = NULL;
	json_t *t;
	size_t i;

	json_array_foreach(tenants, i, t) {
		json_t *b = json_object_get(t, "backend");

		if (!json_object_get(b, "state"))
			continue;
		if (!tab)
			tab = table_new(headers, "lllrrrrl");
		table_row(tab);
		table_cell(tab, "%s", jstr(t, "name"));
		table_cell(tab, "%s", jstr(b, "kind"));
		table_cell(tab, "%s", jstr(b, "state"));
		table_cell(tab, "%lld", (long long)jint(b, "connections"));
		table_cell(tab, "%lld", (long long)jint(b, "reconnects"));
		table_cell(tab, "%lld", (long long)jint(b, "errors"));
		table_cell(tab, "%lld", (long long)jint(b, "queue_depth"));
		table_cell(tab, "%s", jstr(b, "domain"));
	}
	if (!tab)
		return;
	putchar('\n');
	table_print(tab, stdout);
	table_free(tab);
}

static void print_pollers(json_t *pollers)
{
	static const char *const headers[] = {
		"POLLER", "BUSY(s)", "IDLE(s)", "WAKEUPS", "INFLIGHT", "TENANTS", "LOAD%", "STATE",
		NULL,
	};
	struct table *tab = table_new(headers, "rrrrrrrl");
	json_t *p;
	size_t i;

	json_array_foreach(pollers, i, p) {
		table_row(tab);
		table_cell(tab, "%lld", (long long)jint(p, "poller"));
		table_cell(tab, "%.3f", jreal(p, "busy_seconds"));
		table_cell(tab, "%.3f", jreal(p, "idle_seconds"));
		table_cell(tab, "%lld", (long long)jint(p, "wakeups"));
		table_cell(tab, "%lld", (long long)jint(p, "inflight"));
		table_cell(tab, "%lld", (long long)jint(p, "tenants"));
		table_cell(tab, "%.0f", jreal(p, "load") * 100.0);
		table_cell(tab, "%s", json_is_true(json_object_get(p, "active")) ? "active" : "parked");
	}
	table_print(tab, stdout);
	table_free(tab);
}

static void print_domains(json_t *domains)
{
	static const char *const headers[] = {
		"DOMAIN", "TENANTS", "BUSY", "IOPS", "MiB/s", "INFLIGHT", "CAP", "MODEL", NULL,
	};
	struct table *tab = table_new(headers, "lrrrrrrl");
	json_t *d, *learn;
	size_t i;

	json_array_foreach(domains, i, d) {
		table_row(tab);
		table_cell(tab, "%s", jstr(d, "domain"));
		table_cell(tab, "%lld", (long long)jint(d, "tenants"));
		table_cell(tab, "%lld", (long long)jint(d, "busy"));
		table_cell(tab, "%.0f", jreal(d, "iops"));
		table_cell(tab, "%.1f", jreal(d, "bps") / (1024.0 * 1024.0));
		table_cell(tab, "%lld", (long long)jint(d, "inflight"));
		table_cell(tab, "%lld", (long long)jint(d, "inflight_cap"));
		/* fixed, calibrated, or calibrated and refined online N times */
		learn = json_object_get(d, "cost_learning");
		if (!json_is_true(json_object_get(d, "calibrated")))
			table_cell(tab, "fixed");
		else if (jint(learn, "refits"))
			table_cell(tab, "learned (%lld refits)", (long long)jint(learn, "refits"));
		else
			table_cell(tab, "calibrated");
	}
	table_print(tab, stdout);
	table_free(tab);
}

/*
 * print_breakdown - one row per tenant and stage (stage.h in pvfsd); in
 * --json mode the "stages" object of each tenant, keyed by name.
 */
static void print_breakdown(json_t *tenants)
{
	static const char *const headers[] = {
		"NAME", "STAGE", "COUNT", "MEANus", "P50us", "P99us", "P99.9us", NULL,
	};
	struct table *tab = table_new(headers, "llrrrrr");
	json_t *t, *st;
	const char *stage;
	size_t i;

	sort_by_name(tenants);
	json_array_foreach(tenants, i, t) {
		json_object_foreach(json_object_get(t, "stages"), stage, st) {
			table_row(tab);
			table_cell(tab, "%s", jstr(t, "name"));
			table_cell(tab, "%s", stage);
			table_cell(tab, "%lld", (long long)jint(st, "count"));
			table_cell(tab, "%.2f", jreal(st, "mean_us"));
			table_cell(tab, "%.2f", jreal(st, "p50_us"));
			table_cell(tab, "%.2f", jreal(st, "p99_us"));
			table_cell(tab, "%.2f", jreal(st, "p999_us"));
		}
	}
	table_print(tab, stdout);
	table_free(tab);
}

static json_t *breakdown_json(json_t *tenants)
{
	json_t *o = json_object(), *t;
	size_t i;

	json_array_foreach(tenants, i, t)
		json_object_set(o, jstr(t, "name"), json_object_get(t, "stages"));
	return o;
}

static bool breakdown;

static int show(const char *name)
{
	json_t *params = name ? json_pack("{s:s}", "name", name) : NULL, *result = NULL;

	if (ctl_call_pages("stats", params, CTL_TIMEOUT_MS, &result) < 0)
		return -1;
	if (ctl_json && breakdown) {
		json_t *o = breakdown_json(json_object_get(result, "tenants"));

		print_json(o);
		json_decref(o);
	} else if (ctl_json) {
		print_json(result);
	} else if (breakdown) {
		print_breakdown(json_object_get(result, "tenants"));
	} else {
		print_tenants(json_object_get(result, "tenants"));
		print_backends(json_object_get(result, "tenants"));
		putchar('\n');
		print_domains(json_object_get(result, "domains"));
		putchar('\n');
		print_pollers(json_object_get(result, "pollers"));
	}
	json_decref(result);
	fflush(stdout);
	return 0;
}

static int watch(const char *name, unsigned seconds)
{
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART: wake the sleep */
	bool tty = isatty(STDOUT_FILENO);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!interrupted) {
		struct timespec ts = { .tv_sec = seconds };

		if (tty)
			fputs("\033[H\033[2J", stdout);
		if (show(name) < 0)
			return -1;
		while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if (!tty && !interrupted)
			putchar('\n');
	}
	return 0;
}

int stats_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "watch", required_argument, NULL, 'w' },
		{ "latency-breakdown", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *name = NULL;
	uint64_t seconds = 0;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":w:bh", opts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			if (parse_opt_number(argv[0], "--watch", optarg, OPT_COUNT, &seconds) < 0)
				return 1;
			if (seconds < 1 || seconds > WATCH_MAX_SECONDS)
				return usage_error(argv[0], "--watch must be 1-%d seconds, not %s",
						   WATCH_MAX_SECONDS, optarg);
			break;
		case 'b':
			breakdown = true;
			break;
		default:
			return option_default(opt, argv);
		}
	}
	if (optind < argc)
		name = argv[optind++];
	if (optind < argc)
		return usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	if (seconds)
		return watch(name, (unsigned)seconds) < 0 ? 1 : 0;
	return show(name) < 0 ? 1 : 0;
}
