/* SPDX-License-Identifier: MIT */
/*
 * pvfsctl.h - pvfsctl's command table and argument handling (pvfsctl.c):
 * one entry per subcommand, used for dispatch, usage and help; usage
 * errors; strict parsing of option values. What the subcommands print is
 * output.h's, how they reach pvfsd client.h's.
 *
 * Every subcommand is `int NAME_main(int argc, char **argv)` with argv[0] the
 * subcommand's name; it returns 0 on success and 1 on any error, having
 * printed the error once to stderr.
 */
#ifndef PVFSCTL_H
#define PVFSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

int attach_main(int argc, char **argv);
int calibrate_main(int argc, char **argv);
int detach_main(int argc, char **argv);
int help_main(int argc, char **argv);
int list_main(int argc, char **argv);
int move_main(int argc, char **argv);
int resize_main(int argc, char **argv);
int set_qos_main(int argc, char **argv);
int stats_main(int argc, char **argv);
int test_drop_interrupts_main(int argc, char **argv);
int version_main(int argc, char **argv);

const struct command *command_find(const char *name);
/* print_usage - CMD's synopsis (and details when full) on f. */
void print_usage(FILE *f, const struct command *c, bool full);
/* usage_error - "pvfsctl: CMD: <msg>" and CMD's synopsis on stderr; returns 1. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* option_error - usage_error for getopt's '?' or ':' (opterr = 0, optstring ":..."). */
int option_error(const char *cmd, int opt, char **argv);
/*
 * option_default - the default branch of a subcommand's getopt switch:
 * 'h' prints CMD's usage and details on stdout and returns 0, anything else
 * is option_error's (returns 1).
 */
int option_default(int opt, char **argv);
/*
 * help_option - option parsing of a command whose one option is --help:
 * -1 to go on with its operands (from optind), else the exit status to
 * return (help printed, or usage error).
 */
int help_option(int argc, char **argv);
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

/* What an option's value is: a count, or a size in bytes with K, M, G, T (powers of 1024). */
enum opt_unit { OPT_COUNT, OPT_SIZE };
/*
 * parse_opt_number - the whole string s must be a number of that unit that
 * fits a JSON integer; otherwise prints "pvfsctl: CMD: invalid OPT value
 * 'S': ..." and returns -1.
 */
int parse_opt_number(const char *cmd, const char *opt, const char *s, enum opt_unit unit,
		     uint64_t *ret);

#endif
