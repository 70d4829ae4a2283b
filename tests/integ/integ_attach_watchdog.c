/* SPDX-License-Identifier: MIT */
/*
 * integ_attach_watchdog - an attach that waits for a remote server (here an
 * NBD server that accepts the connection and never says a word) does not
 * silence pvfsd's systemd watchdog: WATCHDOG=1 pings keep coming at their
 * interval while the attach waits out nbd_timeout, so systemd never kills
 * pvfsd, and every tenant with it, for one operator's attach. The attach
 * itself fails with a clear error once the timeout has passed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

int main(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct tl_daemon d = { 0 };
	char uri[128];
	json_t *res = NULL;
	uint64_t t0;
	int s, r, pings;

	/* The silent server: the kernel completes the handshake, nobody answers. */
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &len) < 0)
		tl_fatal("silent server: %m");
	snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%d/x", ntohs(sa.sin_port));

	setenv("WATCHDOG_USEC", "1000000", 1);	/* a ping every 500 ms */
	d.keep_notify = true;
	tl_daemon_start(&d, "--allow-nbd", "nbd://127.0.0.1:*/*", "--nbd-timeout", "4", NULL);
	tl_notify_wait(&d, "no such message", 1, 200);	/* drain what came so far */
	t0 = now_ns();
	r = tl_rpc(&d, "attach", json_pack("{s:s, s:s}", "name", "n", "volume", uri), &res);
	printf("# attach returned %d after %.1f s\n", r, (double)(now_ns() - t0) / 1e9);
	TL_CHECK(r < 0, "the attach fails once nbd_timeout has passed (%d)", r);
	pings = tl_notify_wait(&d, "WATCHDOG=1", 100, 300);
	TL_CHECK(pings >= 5, "%d WATCHDOG=1 pings while the attach waited about 4 s (>= 5)",
		 pings);
	TL_CHECK(tl_rpc(&d, "version", NULL, NULL) == 0, "pvfsd answers afterwards");
	json_decref(res);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	unsetenv("WATCHDOG_USEC");
	close(s);
	tl_daemon_cleanup(&d);
	return tl_done();
}
