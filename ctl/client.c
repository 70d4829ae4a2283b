/* SPDX-License-Identifier: MIT */
/*
 * client.c - pvfsctl's one path to pvfsd: connect to the control socket,
 * call a method, and turn every failure into one operator-readable line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "output.h"
#include "rpc.h"
#include "util.h"

const char *ctl_socket;

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
