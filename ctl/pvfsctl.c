/* SPDX-License-Identifier: MIT */
/*
 * pvfsctl.c - the operator's command-line client of pvfsd: global options,
 * the command table (the one list of subcommands: dispatch, usage and help
 * all come from it), `help`, usage errors and the strict parsing of option
 * values the subcommands share. Each subcommand lives in its own file.
 * Names are matched exactly; there is no prefix matching. Exit status: 0 on
 * success, 1 on any error (usage errors included).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "output.h"
#include "pvfsctl.h"
#include "rpc.h"
#include "util.h"

#define QOS_OPTIONS \
"      --weight N             proportional share, 1-10000 (default 100)\n" \
"      --iops-limit N         at most N requests per second (0 = no limit)\n" \
"      --bps-limit SIZE       at most SIZE bytes per second; K, M, G, T suffixes\n" \
"                             are powers of 1024 (e.g. 100M; 0 = no limit)\n" \
"      --iops-reservation N   at least N requests per second when it has work\n" \
"                             (not above --iops-limit; 0 = none)\n" \
"      --latency-target US    defend a mean latency of US microseconds: while it\n" \
"                             is missed, pvfsd keeps the device queue shorter\n" \
"                             (costs other tenants throughput; 0 = none)\n" \
"      --irq-coalesce-us US   interrupt coalescing: at most one interrupt per\n" \
"                             queue per US microseconds, and no completion's\n" \
"                             interrupt delayed longer (0 = off, the default;\n" \
"                             at most 10000)\n" \
"      --irq-coalesce-count N with --irq-coalesce-us: interrupt at once when N\n" \
"                             completions wait (0 = no count threshold)\n"

const struct command commands[] = {
	{ "attach", attach_main, "NAME --volume PATH [OPTIONS]",
	  "Provision tenant NAME on a volume inside pvfsd's volume directories.",
	  "      --volume PATH          volume file or block device: absolute, or\n"
	  "                             relative to a volume directory (required)\n"
	  "      --readonly             serve the volume read-only\n"
	  "      --cache none|writeback\n"
	  "                             none (default): O_DIRECT, bypassing the host's\n"
	  "                             page cache; writeback: through the page cache\n"
	  "                             (RBD: librbd's cache off or on)\n"
	  "      --ceph-conf PATH       RBD: one of the ceph.conf files pvfsd's config\n"
	  "                             lists (default: its first)\n"
	  "      --ceph-id NAME         RBD: one of the Ceph clients pvfsd's config\n"
	  "                             lists (default: its first)\n"
	  "      --force                RBD: break another client's exclusive lock on\n"
	  "                             the image (that client is blocklisted)\n"
	  QOS_OPTIONS },
	{ "detach", detach_main, "NAME [--force]",
	  "Remove tenant NAME; returns once its in-flight I/O has drained.",
	  "      --force                also cancel the tenant's in-flight I/O where\n"
	  "                             the kernel can (a hung backend) instead of only\n"
	  "                             waiting for it; also escalates a detach of NAME\n"
	  "                             already in progress\n" },
	{ "list", list_main, "",
	  "List tenants: state, volume, size, mode, cache, QoS, queues, poller.", NULL },
	{ "move", move_main, "NAME --poller N",
	  "Move running tenant NAME to poller N without stopping its VM.",
	  "  -p, --poller N             the poller to serve NAME from now on (pvfsctl\n"
	  "                             stats lists them); NAME's queued requests wait\n"
	  "                             while its in-flight ones complete, then the new\n"
	  "                             poller takes over. Automatic rebalancing may move\n"
	  "                             it again later (pvfsd --rebalance no turns it off)\n" },
	{ "stats", stats_main, "[NAME] [--watch SECONDS] [--latency-breakdown]",
	  "Show I/O statistics of all tenants (or NAME), their devices and the pollers.",
	  "  -w, --watch SECONDS        repeat every SECONDS until interrupted\n"
	  "  -b, --latency-breakdown    where each tenant's request time goes inside\n"
	  "                             pvfsd, per stage: queue (seen to dispatched),\n"
	  "                             submit (to the backend), backend (the device\n"
	  "                             and the kernel, to the completion reaped),\n"
	  "                             complete (to the CQE published); since attach\n"
	  "\n"
	  "IOPS and MiB/s are over pvfsd's last one-second interval; READ, WRITE and\n"
	  "ERRORS count since attach. Latencies (P50us, P99us, P99.9us) are in\n"
	  "microseconds: the larger of the read and write values. QDELAYus is the mean\n"
	  "time a request waited in the scheduler.\n" },
	{ "resize", resize_main, "NAME SIZE",
	  "Grow tenant NAME's volume to SIZE; a running guest sees the new size.",
	  "SIZE is in bytes, or with a K, M, G or T suffix (powers of 1024), and a\n"
	  "multiple of the volume's block size. pvfsd only grows volumes: a SIZE\n"
	  "below the current one is refused. A file volume is extended (sparse);\n"
	  "a block device must be grown on the host first.\n" },
	{ "set-qos", set_qos_main, "NAME [--weight N] [--iops-limit N] [--bps-limit SIZE] "
	  "[--iops-reservation N] [--latency-target US] [--irq-coalesce-us US] "
	  "[--irq-coalesce-count N]",
	  "Change tenant NAME's QoS at run time; unnamed settings are kept.",
	  QOS_OPTIONS },
	{ "calibrate", calibrate_main, "DOMAIN --dir DIR [--seconds S] [--size SIZE] | DOMAIN --fixed",
	  "Measure a device and give pvfsd its cost model (or back to the fixed one).",
	  "      --dir DIR        a directory on DOMAIN's device for a scratch file (removed\n"
	  "                       after); the probe reads and writes it with O_DIRECT\n"
	  "      --seconds S      how long the six probe runs take in all (default 3)\n"
	  "      --size SIZE      the scratch file's size (default 256M)\n"
	  "      --fixed          forget the measured model: 4 KiB + length per request\n"
	  "DOMAIN is as pvfsctl stats shows it (e.g. dev:259:0). The model is kept in\n"
	  "pvfsd's state file. Run it while the device is otherwise quiet.\n" },
	{ "version", version_main, "",
	  "Show pvfsctl's version and the running pvfsd's version and ring ABI.", NULL },
	{ "help", help_main, "[COMMAND]",
	  "Show the commands, or COMMAND's options.", NULL },
	{ "test-drop-interrupts", test_drop_interrupts_main, "NAME [COUNT]",
	  "Test hook: do not send tenant NAME's next COUNT (1) interrupts.",
	  "Only for testing a guest driver's recovery from a lost interrupt: pvfsd\n"
	  "refuses it unless started with --test-hooks. The completions are posted\n"
	  "as usual; only the interrupts that would announce them are not sent.\n" },
};

const size_t nr_commands = ARRAY_SIZE(commands);

const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < nr_commands; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

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

int option_default(int opt, char **argv)
{
	if (opt != 'h')
		return option_error(argv[0], opt, argv);
	print_usage(stdout, command_find(argv[0]), true);
	return 0;
}

int help_option(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	opterr = 0;
	opt = getopt_long(argc, argv, ":h", opts, NULL);
	return opt == -1 ? -1 : option_default(opt, argv);
}

int no_options(int argc, char **argv)
{
	int r = help_option(argc, argv);

	if (r >= 0)
		return r;
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
int parse_opt_number(const char *cmd, const char *opt, const char *s, enum opt_unit unit,
		     uint64_t *ret)
{
	static const char *const expected[] = {
		[OPT_COUNT] = "a non-negative decimal number below 2^63",
		[OPT_SIZE] = "bytes, optionally with a K, M, G or T suffix (e.g. 100M)",
	};
	uint64_t v;

	if ((unit == OPT_SIZE ? parse_size(s, &v) : parse_u64(s, &v)) < 0) {
		fprintf(stderr, "%s: %s: invalid %s value '%s': expected %s\n", PROG_NAME, cmd,
			opt, s, expected[unit]);
		return -1;
	}
	/* A JSON integer is signed 64-bit; larger values would arrive negative. */
	if (v > (uint64_t)INT64_MAX) {
		fprintf(stderr, "%s: %s: invalid %s value '%s': too large\n", PROG_NAME, cmd,
			opt, s);
		return -1;
	}
	*ret = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [-s SOCKET] [--json] COMMAND [ARGS]\n"
		"Control pvfsd, the pvfs host daemon.\n\n"
		"  -s, --socket SOCKET  pvfsd's control socket (default: $%s,\n"
		"                       else %s)\n"
		"  -j, --json           print pvfsd's JSON result instead of tables\n"
		"  -h, --help           this help\n"
		"      --version        print pvfsctl's version\n\n"
		"Commands:\n", PROG_NAME, "PVFS_SOCKET", "/run/pvfsd/control.sock");
	for (size_t i = 0; i < nr_commands; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun '%s help COMMAND' for a command's options. "
		"Exit status: 0 on success, 1 on error.\n", PROG_NAME);
}

int help_main(int argc, char **argv)
{
	const struct command *c;

	if (argc > 2)
		return usage_error("help", "too many arguments");
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	c = command_find(argv[1]);
	if (!c) {
		fprintf(stderr, "%s: unknown command '%s'; run '%s help' for the list\n",
			PROG_NAME, argv[1], PROG_NAME);
		return 1;
	}
	print_usage(stdout, c, true);
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_VERSION = 256 };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ 0 },
	};
	const char *sock = NULL;
	const struct command *c;
	int opt, cmd, ret;

	opterr = 0;
	/* '+': stop at the command; its own options are parsed by the subcommand. */
	while ((opt = getopt_long(argc, argv, "+:s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			ctl_json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case O_VERSION:
			printf("%s %s\n", PROG_NAME, PVFSCTL_VERSION);
			return 0;
		case ':':
			fprintf(stderr, "%s: option %s needs a value\n", PROG_NAME, argv[optind - 1]);
			return 1;
		default:
			fprintf(stderr, "%s: unknown option %s; run '%s --help'\n", PROG_NAME,
				argv[optind - 1], PROG_NAME);
			return 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	ctl_socket = rpc_socket_path(sock);
	c = command_find(argv[optind]);
	if (!c) {
		fprintf(stderr, "%s: unknown command '%s'; run '%s help' for the list\n",
			PROG_NAME, argv[optind], PROG_NAME);
		return 1;
	}
	cmd = optind;
	optind = 0;	/* glibc: re-initialise getopt for the subcommand */
	ret = c->fn(argc - cmd, argv + cmd);
	return ret ? 1 : 0;
}
