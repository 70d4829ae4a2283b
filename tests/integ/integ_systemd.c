/* SPDX-License-Identifier: MIT */
/*
 * integ_systemd - pvfsd's systemd integration, with this test as the
 * service manager: READY=1 arrives only once the control socket accepts
 * (the test connects the moment it sees READY), STATUS= carries tenant
 * counts, WATCHDOG=1 pings come at half of WATCHDOG_USEC, STOPPING=1 on
 * SIGTERM, and a socket-activated control socket (LISTEN_FDS) is used as
 * passed and survives a restart of pvfsd.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc.h"
#include "tlib.h"

int main(void)
{
	struct tl_daemon d = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, r, lfd;

	setenv("WATCHDOG_USEC", "400000", 1);
	d.keep_notify = true;
	tl_daemon_start(&d, NULL);
	/* READY=1 has just been read: the socket must accept right now. */
	r = rpc_connect(d.sock, &s);
	TL_CHECK(r == 0, "control socket accepts at READY=1 (%d)", r);
	if (r == 0)
		close(s);
	TL_CHECK(tl_rpc(&d, "version", NULL, NULL) == 0, "version answers");
	TL_CHECK(tl_notify_wait(&d, "WATCHDOG=1", 4, 3000) == 4,
		 "four WATCHDOG=1 pings within 3 s (WATCHDOG_USEC=400 ms)");
	tl_volume(&d, "v.img", 1 << 20);
	TL_CHECK(tl_rpc(&d, "attach", json_pack("{s:s, s:s}", "name", "t", "volume", "v.img"),
			NULL) == 0, "attach");
	TL_CHECK(tl_notify_wait(&d, "STATUS=1 tenant(s), 0 plugged", 1, 3000) == 1,
		 "STATUS= reports the tenant");
	kill(d.pid, SIGTERM);
	TL_CHECK(tl_notify_wait(&d, "STOPPING=1", 1, 5000) == 1, "STOPPING=1 on SIGTERM");
	TL_CHECK(tl_wait(d.pid, 20000) == 0, "pvfsd exits 0 after SIGTERM");
	d.pid = 0;
	unsetenv("WATCHDOG_USEC");

	/* Socket activation: we own the listening socket, pvfsd inherits it. */
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/activated.sock", d.dir) >=
	    (int)sizeof(sa.sun_path))
		tl_fatal("socket path too long");
	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0)
		tl_fatal("activation socket: %m");
	d.listen_fd = lfd;
	for (int round = 0; round < 2; round++) {
		tl_daemon_start(&d, NULL);
		r = rpc_connect(sa.sun_path, &s);
		if (r == 0) {
			json_t *res = NULL;

			r = rpc_call(s, "list", NULL, NULL, 0, 5000, &res, NULL);
			TL_CHECK(r == 0 && json_array_size(json_object_get(res, "tenants")) == 1,
				 "round %d: the inherited socket serves, state restored", round);
			json_decref(res);
			close(s);
		} else {
			TL_CHECK(0, "round %d: connect to the inherited socket: %d", round, r);
		}
		TL_CHECK(access(d.sock, F_OK) != 0, "round %d: no socket of its own was created",
			 round);
		TL_CHECK(tl_daemon_stop(&d) == 0, "round %d: pvfsd exits 0", round);
	}
	TL_CHECK(access(sa.sun_path, F_OK) == 0, "the activated socket is left to its owner");
	close(lfd);
	tl_daemon_cleanup(&d);
	return tl_done();
}
