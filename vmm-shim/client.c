/* SPDX-License-Identifier: MIT */
/*
 * client.c - libpvfs-shim's side of the control protocol: attach a tenant and
 * plug a VM's region into it. See proto/CONTROL.md for the messages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvfs_ctl.h"
#include "pvfs_shim.h"
#include "rpc.h"
#include "util.h"

#define CALL_TIMEOUT_MS 30000

struct pvfs_plug {
	int sock;
};

static void copy_error(json_t *error, int r, const char *sock, char *err, size_t errlen)
{
	const char *msg;

	if (!err || !errlen)
		return;
	if (error) {
		msg = json_string_value(json_object_get(error, "message"));
		snprintf(err, errlen, "%s", msg ? msg : "pvfsd returned an error");
	} else if (r == -ENOENT || r == -ECONNREFUSED) {
		snprintf(err, errlen, "pvfsd is not running at %s", sock);
	} else {
		snprintf(err, errlen, "control socket %s: %s", sock, strerror(-r));
	}
}

/* error_code - the daemon's code when it sent one, else r. */
static int error_code(json_t *error, int r)
{
	json_t *c = error ? json_object_get(error, "code") : NULL;

	if (json_is_integer(c) && json_integer_value(c) < 0 && json_integer_value(c) > -4096)
		return (int)json_integer_value(c);
	return r;
}

int pvfs_attach(const char *sock, const char *name, const struct pvfs_attach_opts *o,
		char *err, size_t errlen)
{
	_cleanup_close_ int s = -1;
	json_t *params, *result = NULL, *error = NULL;
	int r;

	r = rpc_connect(sock, &s);
	if (r < 0) {
		copy_error(NULL, r, sock, err, errlen);
		return r;
	}
	params = json_pack("{s:s, s:s, s:b, s:s}", "name", name, "volume", o->volume,
			   "readonly", o->readonly, "cache", o->cache ? o->cache : "none");
	if (!params)
		return -ENOMEM;
	if (o->weight)
		json_object_set_new(params, "weight", json_integer(o->weight));
	if (o->iops_limit)
		json_object_set_new(params, "iops_limit", json_integer((json_int_t)o->iops_limit));
	if (o->bps_limit)
		json_object_set_new(params, "bps_limit", json_integer((json_int_t)o->bps_limit));
	if (o->iops_reservation)
		json_object_set_new(params, "iops_reservation",
				    json_integer((json_int_t)o->iops_reservation));
	r = rpc_call(s, "attach", params, NULL, 0, CALL_TIMEOUT_MS, &result, &error);
	if (r < 0) {
		copy_error(error, r, sock, err, errlen);
		r = error_code(error, r);
	}
	json_decref(result);
	json_decref(error);
	return r;
}

int pvfs_plug(const char *sock, const char *name, struct pvfs_region *reg,
	      const struct pvfs_memregion *mem, unsigned nmem, struct pvfs_plug **ret,
	      char *err, size_t errlen)
{
	_cleanup_close_ int s = -1;
	int fds[PVFS_CTL_MAX_FDS];
	size_t nfds = 0;
	json_t *params, *memory, *result = NULL, *error = NULL;
	struct pvfs_plug *p;
	int r;

	if (nmem < 1 || nmem > PVFS_CTL_MAX_MEMREGIONS)
		return -EINVAL;
	r = rpc_connect(sock, &s);
	if (r < 0) {
		copy_error(NULL, r, sock, err, errlen);
		return r;
	}
	/* Fixed fd order (CONTROL.md): region, kick[0..nq), call[0..nq), memory[0..nmem). */
	fds[nfds++] = reg->memfd;
	for (unsigned i = 0; i < reg->nr_queues; i++)
		fds[nfds++] = reg->kick_fd[i];
	for (unsigned i = 0; i < reg->nr_queues; i++)
		fds[nfds++] = reg->call_fd[i];
	memory = json_array();
	for (unsigned i = 0; i < nmem; i++) {
		fds[nfds++] = mem[i].fd;
		json_array_append_new(memory, json_pack("{s:I, s:I, s:I}",
				"gpa", (json_int_t)mem[i].gpa, "size", (json_int_t)mem[i].size,
				"offset", (json_int_t)mem[i].offset));
	}
	params = json_pack("{s:s, s:i, s:o}", "name", name, "queues", (int)reg->nr_queues,
			   "memory", memory);
	if (!params)
		return -ENOMEM;
	r = rpc_call(s, "plug", params, fds, nfds, CALL_TIMEOUT_MS, &result, &error);
	if (r < 0) {
		copy_error(error, r, sock, err, errlen);
		r = error_code(error, r);
		json_decref(error);
		return r;
	}
	json_decref(result);
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->sock = take_fd(&s);
	*ret = p;
	return 0;
}

int pvfs_plug_fd(const struct pvfs_plug *p)
{
	return p->sock;
}

void pvfs_unplug(struct pvfs_plug *p)
{
	if (!p)
		return;
	close(p->sock);
	free(p);
}
