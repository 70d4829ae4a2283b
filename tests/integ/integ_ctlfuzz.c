/* SPDX-License-Identifier: MIT */
/*
 * integ_ctlfuzz - random input on the control socket: 5000 packets of
 * random bytes, random JSON, and JSON-RPC requests for every method with
 * parameters of random names, types and values, some carrying fds (eventfd,
 * pipe, memfd, regular file). Every packet must get exactly one reply with
 * the request's id (a result or a well-formed error), pvfsd must keep
 * serving, and no passed fd may stay open in pvfsd.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pvfs_ctl.h"
#include "rpc.h"
#include "tlib.h"
#include "util.h"

static uint64_t rng = 12345;

static uint64_t rnd(void)
{
	return tl_rand(&rng);
}

static json_t *random_value(int depth)
{
	static const char *const strs[] = { "", "t0", "vol.img", "../x", "none", "writeback",
					    "/etc/passwd", "t0.img", "\xff\xfe", "a/b" };

	switch (rnd() % (depth > 2 ? 6 : 8)) {
	case 0: return json_integer((json_int_t)rnd());
	case 1: return json_integer((json_int_t)(rnd() % 5) - 1);
	case 2: return json_string(strs[rnd() % ARRAY_SIZE(strs)]);
	case 3: return json_real((double)rnd() / 3.0);
	case 4: return rnd() % 2 ? json_true() : json_false();
	case 5: return json_null();
	case 6: {
		json_t *a = json_array();

		for (int i = (int)(rnd() % 3); i > 0; i--)
			json_array_append_new(a, random_value(depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();

		for (int i = (int)(rnd() % 3); i > 0; i--)
			json_object_set_new(o, rnd() % 2 ? "gpa" : "size", random_value(depth + 1));
		return o;
	}
	}
}

static json_t *random_request(json_int_t id)
{
	static const char *const methods[] = { "version", "attach", "plug", "detach", "list",
					       "stats", "set_qos", "nope", "" };
	static const char *const keys[] = { "name", "volume", "readonly", "cache", "weight",
					    "iops_limit", "bps_limit", "iops_reservation",
					    "latency_target_us", "force", "queues", "memory", "x" };
	json_t *params = json_object();
	json_t *req;

	for (int i = (int)(rnd() % 5); i > 0; i--)
		json_object_set_new(params, keys[rnd() % ARRAY_SIZE(keys)], random_value(0));
	if (rnd() % 2)
		json_object_set_new(params, "name", json_string("t0"));
	req = json_pack("{s:s, s:s, s:I, s:o}", "jsonrpc", rnd() % 10 ? "2.0" : "1.0",
			"method", methods[rnd() % ARRAY_SIZE(methods)], "id", id, "params", params);
	if (rnd() % 10 == 0)
		json_object_set_new(req, "extra", json_true());
	return req;
}

int main(void)
{
	struct tl_daemon d = { 0 };
	int s, fd0, fd1, replies = 0, bad = 0;
	char *buf = malloc(PVFS_CTL_MAX_MSG + 1);

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "t0.img", 1 << 20);
	if (rpc_connect(d.sock, &s) < 0)
		tl_fatal("connect");
	/*
	 * One answered call first: pvfsd accepts in its event loop, and a count
	 * taken before that would miss our connection (then the check at the
	 * end is off by one).
	 */
	{
		json_t *res = NULL, *rerr = NULL;

		if (rpc_call(s, "version", NULL, NULL, 0, 10000, &res, &rerr) < 0)
			tl_fatal("version on the fuzzing connection");
		json_decref(res);
		json_decref(rerr);
	}
	fd0 = tl_fd_count(d.pid);
	for (int i = 0; i < 5000; i++) {
		int fds[8], nfds = 0, rfds[PVFS_CTL_MAX_FDS];
		size_t n_rfds;
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		json_t *req = random_request(i), *resp;
		ssize_t n;

		if (rnd() % 5 == 0) {
			for (int k = (int)(rnd() % 4) + 1; k > 0; k--) {
				int p[2];

				switch (rnd() % 3) {
				case 0: fds[nfds++] = eventfd(0, EFD_CLOEXEC); break;
				case 1: fds[nfds++] = memfd_create("fuzz", MFD_CLOEXEC); break;
				default:
					if (pipe(p) == 0) {
						fds[nfds++] = p[0];
						close(p[1]);
					}
				}
			}
		}
		if (rnd() % 8 == 0) {
			/* Raw garbage instead of JSON. */
			char junk[256];
			struct iovec iov = { junk, 1 + rnd() % sizeof(junk) };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

			for (size_t k = 0; k < sizeof(junk); k++)
				junk[k] = (char)rnd();
			if (sendmsg(s, &mh, MSG_NOSIGNAL) < 0)
				tl_fatal("send: %m");
		} else if (rpc_send(s, req, fds, (size_t)nfds) < 0) {
			tl_fatal("send: %m");
		}
		json_decref(req);
		for (int k = 0; k < nfds; k++)
			close(fds[k]);
		if (poll(&pfd, 1, 5000) != 1) {
			printf("# packet %d: no reply within 5 s\n", i);
			bad++;
			break;
		}
		n = rpc_recv_raw(s, buf, PVFS_CTL_MAX_MSG + 1, rfds, PVFS_CTL_MAX_FDS, &n_rfds);
		if (n <= 0) {
			printf("# packet %d: connection closed (%zd)\n", i, n);
			bad++;
			break;
		}
		resp = json_loads(buf, 0, NULL);
		replies++;
		if (!resp || !json_is_object(resp) ||
		    strcmp(json_string_value(json_object_get(resp, "jsonrpc")) ?: "", "2.0") ||
		    (!json_object_get(resp, "result") &&
		     !json_is_integer(json_object_get(json_object_get(resp, "error"), "code")))) {
			if (bad++ < 3)
				printf("# packet %d: bad reply %s\n", i, buf);
		}
		json_decref(resp);
		/* A successful plug lives as long as this connection: start afresh. */
		if (strstr(buf, "\"result\"") && strstr(buf, "\"queues\"")) {
			close(s);
			if (rpc_connect(d.sock, &s) < 0)
				tl_fatal("reconnect");
		}
	}
	TL_CHECK(bad == 0 && replies == 5000, "5000 random packets, %d replies, %d bad", replies,
		 bad);
	close(s);
	TL_CHECK(tl_rpc(&d, "version", NULL, NULL) == 0, "pvfsd still serves");
	/*
	 * An empty packet is end of file, also with descriptors attached: pvfsd
	 * closes the connection and must close those too (found by fuzz_control).
	 */
	{
		struct pollfd pfd = { .events = POLLIN };
		int efds[3];
		ssize_t e;
		char c;

		for (int k = 0; k < 3; k++)
			efds[k] = eventfd(0, EFD_CLOEXEC);
		if (rpc_connect(d.sock, &s) < 0)
			tl_fatal("connect: %s", strerror(errno));
		e = rpc_send_raw(s, "", 0, efds, 3);
		pfd.fd = s;
		TL_CHECK(e == 0 && poll(&pfd, 1, 5000) == 1 && recv(s, &c, 1, 0) == 0,
			 "an empty packet with 3 fds: pvfsd closes the connection (%zd)", e);
		close(s);
		for (int k = 0; k < 3; k++)
			close(efds[k]);
	}
	/* Whatever the random attaches provisioned goes, then nothing may be left. */
	{
		json_t *list = NULL, *t;
		size_t k;

		tl_rpc(&d, "list", NULL, &list);
		json_array_foreach(json_object_get(list, "tenants"), k, t)
			tl_rpc(&d, "detach", json_pack("{s:O}", "name", json_object_get(t, "name")),
			       NULL);
		json_decref(list);
	}
	/* fd0 counted our fuzzing connection, now closed. */
	fd1 = tl_fd_count_settled(d.pid, fd0 - 1);
	TL_CHECK(fd1 == fd0 - 1, "no fd passed in stays open in pvfsd (%d before without our "
		 "connection, %d after)", fd0 - 1, fd1);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	free(buf);
	return tl_done();
}
