/* SPDX-License-Identifier: MIT */
/*
 * pvfsctl.h - what pvfsctl's subcommands share: the command table (one entry
 * per subcommand, defined in pvfsctl.c, used for dispatch, usage and help),
 * the global options, the one function that talks to pvfsd, strict option
 * parsing, and the aligned tables the human-readable output is made of.
 *
 * Every subcommand is `int NAME_main(int argc, char **argv)` with argv[0] the
 * subcommand's name; it returns 0 on success and 1 on any error, having
 * printed the error once to stderr.
 */
#ifndef PVFSCTL_H
#define PVFSCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#define PROG_NAME	"pvfsctl"
#define PVFSCTL_VERSION	"0.1.0"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;	/* synopsis after the name */
	const char *summary;	/* one line for the command list */
	const char *details;	/* options and notes for `help COMMAND`, or NULL */
};

extern const struct command commands[];
extern const size_t nr_commands;

/* Global options, set in pvfsctl.c before a subcommand runs. */
extern const char *ctl_socket;	/* resolved socket path */
extern bool ctl_json;		/* --json: print the daemon's result as JSON */

int attach_main(int argc, char **argv);
int detach_main(int argc, char **argv);
int help_main(int argc, char **argv);
int list_main(int argc, char **argv);
int set_qos_main(int argc, char **argv);
int stats_main(int argc, char **argv);
int version_main(int argc, char **argv);

/* ---- ctl.c ---- */

/* Timeouts of one call; detach waits for in-flight I/O to drain. */
#define CTL_TIMEOUT_MS		30000
#define CTL_DETACH_TIMEOUT_MS	600000

const struct command *command_find(const char *name);

/* usage_error - "pvfsctl: CMD: <msg>" and CMD's synopsis on stderr; returns 1. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* option_error - usage_error for getopt's '?' or ':' (opterr = 0, optstring ":..."). */
int option_error(const char *cmd, int opt, char **argv);
/*
 * no_options - argument parsing of a command that takes nothing but --help:
 * -1 to go on, else the exit status to return (help printed, or usage error).
 */
int no_options(int argc, char **argv);
/*
 * name_operand - after the options, the one tenant NAME; NULL (usage error
 * printed) if it is missing or followed by more.
 */
const char *name_operand(int argc, char **argv);
/* print_usage - CMD's synopsis (and details when full) on f. */
void print_usage(FILE *f, const struct command *c, bool full);

/*
 * ctl_call - connect to ctl_socket, call method with params (consumed) and
 * store the result in *ret_result (new reference). On failure prints the one
 * error message ("pvfsctl: <why>") and returns -1.
 */
int ctl_call(const char *method, json_t *params, int timeout_ms, json_t **ret_result);
/*
 * ctl_call_pages - ctl_call for list and stats, whose replies come in pages
 * (proto/CONTROL.md): call again with "after" set to the last page's "next"
 * until there is none, and return one result holding every page's tenants.
 */
int ctl_call_pages(const char *method, json_t *params, int timeout_ms, json_t **ret_result);

/* print_json - the result, indented, on stdout. */
void print_json(json_t *v);

/*
 * Strict option values: the whole string must be a number (a size with
 * K/M/G/T for parse_opt_size) that fits a JSON integer; otherwise prints
 * "pvfsctl: CMD: invalid --OPT value 'X': ..." and returns -1.
 */
int parse_opt_u64(const char *cmd, const char *opt, const char *s, uint64_t *ret);
int parse_opt_size(const char *cmd, const char *opt, const char *s, uint64_t *ret);

/* ---- qos.c ---- */

/* getopt values of the QoS options; QOS_LONG_OPTIONS goes in a struct option table. */
enum { QOS_OPT_WEIGHT = 0x100, QOS_OPT_IOPS_LIMIT, QOS_OPT_BPS_LIMIT, QOS_OPT_IOPS_RESV,
       QOS_OPT_LAT_TARGET };
#define QOS_LONG_OPTIONS \
	{ "weight", required_argument, NULL, QOS_OPT_WEIGHT }, \
	{ "iops-limit", required_argument, NULL, QOS_OPT_IOPS_LIMIT }, \
	{ "bps-limit", required_argument, NULL, QOS_OPT_BPS_LIMIT }, \
	{ "iops-reservation", required_argument, NULL, QOS_OPT_IOPS_RESV }, \
	{ "latency-target", required_argument, NULL, QOS_OPT_LAT_TARGET }

/*
 * qos_option - if opt is a QoS option, parse arg into params (weight,
 * iops_limit, bps_limit, iops_reservation, latency_target_us) and return 1;
 * 0 if it is not one;
 * -1 (message printed) on a bad value.
 */
int qos_option(const char *cmd, int opt, const char *arg, json_t *params);
/* fmt_qos - a qos object as the RESV ("-" or N) and LIMITS ("iops=N,bps=100M") cells. */
void fmt_qos(json_t *qos, char *resv, size_t resvlen, char *limits, size_t limlen);

/* ---- output helpers (table.c) ---- */

struct table;

/*
 * table_new - a table with the given column headers; align has one
 * character per column: 'l' (text) or 'r' (numbers).
 */
struct table *table_new(const char *const *headers, const char *align);
/* table_row - start a new row; table_cell adds the next cell to it. */
void table_row(struct table *t);
void table_cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* table_print - columns padded to their widest cell, two spaces apart. */
void table_print(struct table *t, FILE *f);
void table_free(struct table *t);

/* fmt_bytes_human - 1073741824 -> "1.0 GiB", 512 -> "512 B". */
void fmt_bytes_human(uint64_t bytes, char *buf, size_t len);
/* fmt_size_exact - 104857600 -> "100M", as parse_size reads it back; 1000 -> "1000". */
void fmt_size_exact(uint64_t bytes, char *buf, size_t len);

/* sort_by_name - order an array of tenant objects by "name" (pvfsd lists newest first). */
void sort_by_name(json_t *arr);
/* print_broken - after a table: one line per broken tenant, why and what to do. */
void print_broken(json_t *tenants, FILE *f);

/* JSON accessors that tolerate a missing member (0 or "-"). */
json_int_t jint(json_t *o, const char *key);
double jreal(json_t *o, const char *key);
const char *jstr(json_t *o, const char *key);

#endif
