/* SPDX-License-Identifier: MIT */
/*
 * config.h - pvfsd's configuration: an INI file (etc/pvfsd.conf documents
 * every key, parsed with libinih) overridden by command-line options. Keys
 * and long options share names ("volume-dir" or "volume_dir").
 */
#ifndef PVFSD_CONFIG_H
#define PVFSD_CONFIG_H

#include <getopt.h>

/* config_load - read file (NULL: the default path if it exists). */
int config_load(const char *file, int required);
/* config_set_option - apply the long option whose val is c (from the command line). */
int config_set_option(const struct option *opts, int c, const char *value);
/* config_set - apply one key; -ENOENT unknown key, -EINVAL bad value (logged). */
int config_set(const char *key, const char *value);
/*
 * config_reload - SIGHUP: re-read the file and apply what can change at
 * run time (volume dirs, admin group, block devices, max connections); the
 * command line still wins. Other keys need a restart and say so.
 */
void config_reload(void);
void config_free(void);

#define PVFSD_DEFAULT_CONFIG "/etc/pvfsd/pvfsd.conf"
/*
 * max_connections: control connections that plug no VM (plugged VMs'
 * connections do not count). Enough for operators and VMMs about to plug.
 */
#define PVFSD_MAX_CONNS_DEFAULT	64
#define PVFSD_MAX_CONNS_MAX	65536
/* NBD volumes: how long I/O waits for a server that went away; connections per volume. */
#define PVFSD_NBD_TIMEOUT_MS_DEFAULT	30000
#define PVFSD_NBD_CONNECTIONS_DEFAULT	4
/* RBD volumes: bound on connecting and on each mon and OSD operation, in seconds. */
#define PVFSD_RBD_TIMEOUT_DEFAULT	30

#endif
