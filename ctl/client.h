/* SPDX-License-Identifier: MIT */
/*
 * client.h - pvfsctl's one path to pvfsd (client.c): a JSON-RPC call on the
 * control socket, with every failure reported once on stderr.
 */
#ifndef PVFSCTL_CLIENT_H
#define PVFSCTL_CLIENT_H

#include <jansson.h>

/* Timeouts of one call; detach waits for in-flight I/O to drain. */
#define CTL_TIMEOUT_MS		30000
#define CTL_DETACH_TIMEOUT_MS	600000

/* The resolved control socket path; main sets it before a subcommand runs. */
extern const char *ctl_socket;

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

#endif
