/* SPDX-License-Identifier: MIT */
/* rpc.c - see rpc.h. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvfs_ctl.h"
#include "rpc.h"
#include "util.h"

ssize_t rpc_send_raw(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * PVFS_CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > PVFS_CTL_MAX_FDS)
		return -ETOOMANYREFS;
	if (nfds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int rpc_send(int sock, json_t *msg, const int *fds, size_t nfds)
{
	_cleanup_free_ char *text = json_dumps(msg, JSON_COMPACT);
	ssize_t n;

	if (!text)
		return -ENOMEM;
	n = rpc_send_raw(sock, text, strlen(text), fds, nfds);
	return n < 0 ? (int)n : 0;
}

ssize_t rpc_recv_raw(int sock, char *buf, size_t bufsz, int *fds, size_t max_fds,
		     size_t *ret_nfds)
{
	/* Room for more than we accept, so that an excess is seen, not truncated silently. */
	union {
		char buf[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = bufsz - 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	size_t nfds = 0, i;
	int toomany = 0;
	ssize_t n;

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t cnt;
		int *p;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(c);
		for (i = 0; i < cnt; i++) {
			if (nfds < max_fds)
				fds[nfds++] = p[i];
			else {
				close(p[i]);
				toomany = 1;
			}
		}
	}
	if (toomany || (mh.msg_flags & MSG_CTRUNC)) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		*ret_nfds = 0;
		return -ETOOMANYREFS;
	}
	*ret_nfds = nfds;
	/*
	 * An empty packet reads as end of file, and a truncated one is refused:
	 * either way the caller takes no descriptors, so close what came with
	 * it (fuzz_control found pvfsd leaking those of an empty packet).
	 */
	if (n == 0 || (mh.msg_flags & MSG_TRUNC)) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		*ret_nfds = 0;
		return n == 0 ? 0 : -EMSGSIZE;
	}
	buf[n] = '\0';
	return n;
}

int rpc_connect(const char *path, int *ret_sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int s = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	*ret_sock = take_fd(&s);
	return 0;
}

const char *rpc_socket_path(const char *arg)
{
	const char *e;

	if (arg)
		return arg;
	e = getenv(PVFS_CTL_SOCKET_ENV);
	if (e && *e)
		return e;
	return PVFS_CTL_DEFAULT_SOCKET;
}

int rpc_call(int sock, const char *method, json_t *params, const int *fds, size_t nfds,
	     int timeout_ms, json_t **ret_result, json_t **ret_error)
{
	static json_int_t next_id = 1;
	json_int_t id = next_id++;
	_cleanup_free_ char *buf = NULL;
	json_t *req, *resp = NULL, *v;
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	bool reset_seen = false;
	int r, send_err;

	req = json_pack("{s:s, s:s, s:I}", "jsonrpc", "2.0", "method", method, "id", id);
	if (!req) {
		json_decref(params);
		return -ENOMEM;
	}
	if (params)
		json_object_set_new(req, "params", params);
	/*
	 * A peer that refuses the connection (pvfsd at its connection limit)
	 * replies at once and closes: our send then fails with EPIPE, but its
	 * reply is still there to read.
	 */
	send_err = rpc_send(sock, req, fds, nfds);
	json_decref(req);
	if (send_err < 0 && send_err != -EPIPE && send_err != -ECONNRESET)
		return send_err;

	buf = malloc(PVFS_CTL_MAX_MSG + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		int64_t left = (int64_t)(deadline - now_ns()) / 1000000;
		int rfds[PVFS_CTL_MAX_FDS];
		size_t n_rfds = 0;
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = rpc_recv_raw(sock, buf, PVFS_CTL_MAX_MSG + 1, rfds, PVFS_CTL_MAX_FDS, &n_rfds);
		if (n == -EAGAIN)
			continue;
		/*
		 * A peer that closed with our request unread makes the first
		 * receive fail with ECONNRESET; a reply it sent before is next.
		 */
		if (n == -ECONNRESET && !reset_seen) {
			reset_seen = true;
			continue;
		}
		if (n < 0)
			return (int)n;
		for (size_t i = 0; i < n_rfds; i++)
			close(rfds[i]);
		if (n == 0)
			return send_err < 0 ? send_err : -ECONNRESET;
		resp = json_loads(buf, 0, NULL);
		if (!resp)
			return -EBADMSG;
		v = json_object_get(resp, "id");
		if (json_is_integer(v) && json_integer_value(v) == id)
			break;
		/* An error with a null id is about a request pvfsd could not read: ours. */
		if (json_is_null(v) && json_object_get(resp, "error"))
			break;
		json_decref(resp);	/* a stale reply to an earlier, timed-out call */
	}
	v = json_object_get(resp, "error");
	if (v) {
		if (ret_error)
			*ret_error = json_incref(v);
		json_decref(resp);
		return -EREMOTEIO;
	}
	v = json_object_get(resp, "result");
	if (ret_result)
		*ret_result = json_incref(v ? v : json_null());
	json_decref(resp);
	return 0;
}
