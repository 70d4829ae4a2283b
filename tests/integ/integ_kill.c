/* SPDX-License-Identifier: MIT */
/*
 * integ_kill - a VMM killed with SIGKILL in the middle of I/O. pvfsd must
 * notice the dropped control connection, drain the dead VM's in-flight
 * requests before unmapping its memory, unplug it, and go on serving a
 * neighbour that does verified I/O the whole time, without leaking a file
 * descriptor (counted in /proc/PID/fd) or memory.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

int main(void)
{
	struct tl_daemon d = { 0 };
	int fd0, fd1, r;
	uint64_t rss0, rss1;
	pid_t victim;
	char *vargv[] = { (char *)tl_bin("pvfs-bench"), "-q", "-s", d.sock, "--tenant", "b",
			  "--rw", "randrw", "--verify", "--seed", "2", "--runtime", "8",
			  "--iodepth", "4", NULL };

	tl_daemon_start(&d, NULL);
	vargv[3] = d.sock;
	tl_volume(&d, "a.img", 64u << 20);
	tl_volume(&d, "b.img", 16u << 20);
	TL_CHECK(tl_rpc(&d, "attach", json_pack("{s:s, s:s}", "name", "a", "volume", "a.img"),
			NULL) == 0, "attach a");
	TL_CHECK(tl_rpc(&d, "attach", json_pack("{s:s, s:s}", "name", "b", "volume", "b.img"),
			NULL) == 0, "attach b");
	fd0 = tl_fd_count_settled(d.pid, tl_fd_count(d.pid) - 1);
	rss0 = tl_rss_kb(d.pid);

	victim = tl_spawn(vargv, "/dev/null");
	for (int round = 0; round < 5; round++) {
		char *argv[] = { (char *)tl_bin("pvfs-bench"), "-q", "-s", d.sock, "--tenant", "a",
				 "--rw", "randwrite", "--runtime", "60", "--iodepth", "32",
				 "--queues", "2", NULL };
		long long before = tl_tenant_rw_ops(&d, "a");
		pid_t vmm = tl_spawn(argv, "/dev/null");

		/* Wait (bounded) until the VM is really doing I/O, then kill it. */
		TL_CHECK(tl_wait_ops(&d, "a", before, 2001, 10000), "round %d: VMM a is doing I/O",
			 round);
		kill(vmm, SIGKILL);
		tl_wait(vmm, 5000);
		TL_CHECK(tl_wait_state(&d, "a", "unplugged", 10000),
			 "round %d: pvfsd unplugs the killed VMM", round);
	}
	r = tl_wait(victim, 60000);
	TL_CHECK(r == 0, "the neighbour's verified I/O completed without error (exit %d)", r);
	TL_CHECK(tl_wait_state(&d, "b", "unplugged", 10000), "the neighbour unplugged cleanly");
	fd1 = tl_fd_count_settled(d.pid, fd0);
	rss1 = tl_rss_kb(d.pid);
	TL_CHECK(fd1 == fd0, "no fd leak: %d fds before, %d after 5 killed VMMs", fd0, fd1);
	if (fd1 != fd0) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "ls -l /proc/%d/fd | sed 's/^/# /'", (int)d.pid);
		if (system(cmd) < 0)
			perror("system");
	}
	if (tl_rss_meaningful())
		TL_CHECK(rss1 < rss0 + 8192, "no memory growth: RSS %llu KiB before, %llu KiB after",
			 (unsigned long long)rss0, (unsigned long long)rss1);
	TL_CHECK(tl_rpc(&d, "version", NULL, NULL) == 0, "pvfsd still answers");
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
