/* SPDX-License-Identifier: MIT */
/*
 * ctl.c - pvfsctl's one path to pvfsd (connect, call, turn every failure into
 * one operator-readable line) and the strict parsing of option values that
 * all subcommands share.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvfsctl.h"
#include "rpc.h"
#include "util.h"

void print_usage(FILE *f, const struct command *c, bool full)
{
	fprintf(f, "Usage: %s [-s SOCKET] [--json] %s%s%s\n", PROG_NAME, c->name,
		*c->args ? " " : "", c->args);
	if (!full)
		return;
	fprintf(f, "%s\n", c->summary);
	if (c->details)
		fprintf(f, "\n%s", c->details);
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	const struct command *c = command_find(cmd);
	va_list ap;

	fprintf(stderr, "%s: %s: ", PROG_NAME, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c)
		print_usage(stderr, c, false);
	fprintf(stderr, "Try '%s help %s' for more information.\n", PROG_NAME, cmd);
	return 1;
}

int option_error(const char *cmd, int opt, char **argv)
{
	char name[64];
	const char *arg = optind > 0 ? argv[optind - 1] : "";

	/* glibc: optopt is the short option; for long ones, the word just consumed. */
	if (!strncmp(arg, "--", 2) || optopt <= 0 || optopt > 0x7f)
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg, "="), arg);
	else
		snprintf(name, sizeof(name), "-%c", optopt);
	if (opt == ':')
		return usage_error(cmd, "option %s needs a value", name);
	return usage_error(cmd, "unknown option %s", name);
}

int no_options(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (opt != 'h')
			return option_error(argv[0], opt, argv);
		print_usage(stdout, command_find(argv[0]), true);
		return 0;
	}
	if (optind < argc)
		return usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	return -1;
}

const char *name_operand(int argc, char **argv)
{
	if (optind >= argc) {
		usage_error(argv[0], "missing tenant NAME");
		return NULL;
	}
	if (optind + 1 < argc) {
		usage_error(argv[0], "unexpected argument '%s'", argv[optind + 1]);
		return NULL;
	}
	return argv[optind];
}

static void connect_error(int r)
{
	switch (-r) {
	case ENOENT:
	case ECONNREFUSED:
		fprintf(stderr, "%s: pvfsd is not running at %s\n", PROG_NAME, ctl_socket);
		break;
	case EACCES:
	case EPERM:
		fprintf(stderr, "%s: permission denied on %s (need root or the admin group)\n",
			PROG_NAME, ctl_socket);
		break;
	case ENAMETOOLONG:
		fprintf(stderr, "%s: socket path %s is too long for a Unix socket\n", PROG_NAME,
			ctl_socket);
		break;
	default:
		fprintf(stderr, "%s: cannot connect to %s: %s\n", PROG_NAME, ctl_socket,
			strerror(-r));
	}
}

int ctl_call(const char *method, json_t *params, int timeout_ms, json_t **ret_result)
{
	_cleanup_close_ int sock = -1;
	json_t *error = NULL;
	const char *msg;
	int r;

	r = rpc_connect(ctl_socket, &sock);
	if (r < 0) {
		json_decref(params);
		connect_error(r);
		return -1;
	}
	r = rpc_call(sock, method, params, NULL, 0, timeout_ms, ret_result, &error);
	if (r == 0)
		return 0;
	if (r == -EREMOTEIO) {
		msg = json_string_value(json_object_get(error, "message"));
		fprintf(stderr, "%s: %s\n", PROG_NAME, msg ? msg : "pvfsd returned an error");
		json_decref(error);
	} else if (r == -ETIMEDOUT) {
		fprintf(stderr, "%s: no reply from pvfsd at %s within %d s\n", PROG_NAME,
			ctl_socket, timeout_ms / 1000);
	} else if (r == -ECONNRESET || r == -EPIPE) {
		fprintf(stderr, "%s: pvfsd at %s closed the connection without a reply\n",
			PROG_NAME, ctl_socket);
	} else if (r == -EBADMSG) {
		fprintf(stderr, "%s: pvfsd at %s sent a reply that is not JSON\n", PROG_NAME,
			ctl_socket);
	} else {
		fprintf(stderr, "%s: %s on %s: %s\n", PROG_NAME, method, ctl_socket, strerror(-r));
	}
	return -1;
}

int ctl_call_pages(const char *method, json_t *params, int timeout_ms, json_t **ret_result)
{
	json_t *all = NULL, *page = NULL;
	char *after = NULL;

	if (!params)
		params = json_object();
	for (;;) {
		json_t *p = json_copy(params), *next;

		if (after)
			json_object_set_new(p, "after", json_string(after));
		free(after);
		after = NULL;
		if (ctl_call(method, p, timeout_ms, &page) < 0) {
			json_decref(all);
			json_decref(params);
			return -1;
		}
		next = json_object_get(page, "next");
		if (json_is_string(next))
			after = strdup(json_string_value(next));
		json_object_del(page, "next");
		if (!all) {
			all = page;
		} else {
			json_array_extend(json_object_get(all, "tenants"),
					  json_object_get(page, "tenants"));
			json_decref(page);
		}
		if (!after)
			break;
	}
	json_decref(params);
	*ret_result = all;
	return 0;
}

void print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

/* A JSON integer is signed 64-bit; larger values would arrive negative. */
static int check_json_range(const char *cmd, const char *opt, const char *s, uint64_t v)
{
	if (v > (uint64_t)INT64_MAX) {
		fprintf(stderr, "%s: %s: invalid %s value '%s': too large\n", PROG_NAME, cmd,
			opt, s);
		return -1;
	}
	return 0;
}

int parse_opt_u64(const char *cmd, const char *opt, const char *s, uint64_t *ret)
{
	uint64_t v;

	if (parse_u64(s, &v) < 0) {
		fprintf(stderr, "%s: %s: invalid %s value '%s': expected a non-negative "
			"decimal number below 2^63\n", PROG_NAME, cmd, opt, s);
		return -1;
	}
	if (check_json_range(cmd, opt, s, v) < 0)
		return -1;
	*ret = v;
	return 0;
}

int parse_opt_size(const char *cmd, const char *opt, const char *s, uint64_t *ret)
{
	uint64_t v;

	if (parse_size(s, &v) < 0) {
		fprintf(stderr, "%s: %s: invalid %s value '%s': expected bytes, optionally "
			"with a K, M, G or T suffix (e.g. 100M)\n", PROG_NAME, cmd, opt, s);
		return -1;
	}
	if (check_json_range(cmd, opt, s, v) < 0)
		return -1;
	*ret = v;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(jstr(*(json_t *const *)a, "name"), jstr(*(json_t *const *)b, "name"));
}

void sort_by_name(json_t *arr)
{
	size_t n = json_array_size(arr);
	_cleanup_free_ json_t **v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return;		/* unsorted is still correct */
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp_name);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
}

void print_broken(json_t *tenants, FILE *f)
{
	json_t *t;
	size_t i;

	json_array_foreach(tenants, i, t)
		if (json_object_get(t, "broken_reason"))
			fprintf(f, "\n%s is broken: %s. Its I/O has stopped; restart the VM "
				"(its VMM re-plugs) or detach it.\n", jstr(t, "name"),
				jstr(t, "broken_reason"));
}

json_int_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : (json_int_t)json_number_value(v);
}

double jreal(json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}
