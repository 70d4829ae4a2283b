/* SPDX-License-Identifier: MIT */
/*
 * integ_conns - plugged VMs do not lock the operator out (issue 8, item 9).
 * pvfsd is started with a soft RLIMIT_NOFILE of 1024, as a shell gives it,
 * and --max-connections 8. 1000 tenants (pvfsd's maximum) are attached and
 * each plugged by its own simulated VM over its own connection: all must
 * plug, pvfsd must have raised its soft fd limit to the hard one, a sample
 * of VMs must do verified round trips, and `pvfsctl list` must still answer
 * with all 1000 running. A 1001st tenant is refused with -ENOSPC and a
 * message, not a silent close. Then 8 idle connections fill the limit on
 * connections that plug nothing: a 9th gets a JSON-RPC error (-EAGAIN, the
 * limit and the key that raises it) before pvfsd closes it, and pvfsctl
 * prints that message; closing one idle connection lets pvfsctl in again.
 * Every VM unplugs and pvfsd holds no fd more than at the start. `list`
 * replies come in pages ("after"/"next"): 1000 tenants do not fit one
 * packet. Last, a pvfsd whose fd limit is lowered to 1100 once it runs (its
 * pollers' io_uring needs 1024 to start) runs out of fds with idle
 * connections: the next peer gets an -EMFILE reply that names the limit,
 * and pvfsd does not spin on its listening socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rpc.h"
#include "tlib.h"
#include "util.h"

#define VMS 1000
#define IDLE_MAX 8
#define RAM (64u << 10)

static struct tl_daemon d;
static struct tl_vm vms[VMS];

/* pvfsctl - run pvfsctl ARGS with stdout and stderr into out; its exit status. */
static int pvfsctl(const char *args, char *out, size_t outlen)
{
	char cmd[1024], path[600];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	FILE *f;
	int r;

	snprintf(cmd, sizeof(cmd), "exec %s -s %s %s 2>&1", tl_bin("pvfsctl"), d.sock, args);
	snprintf(path, sizeof(path), "%s/pvfsctl.out", d.dir);
	r = tl_run(argv, path, 30000);
	out[0] = '\0';
	f = fopen(path, "r");
	if (f) {
		out[fread(out, 1, outlen - 1, f)] = '\0';
		fclose(f);
	}
	return r;
}

/* idle_connect - a connection pvfsd has accepted (it answered version); code on refusal. */
static int idle_connect(int *ret_sock, char *msg, size_t msglen)
{
	json_t *res = NULL, *error = NULL;
	int s, r;

	r = rpc_connect(d.sock, &s);
	if (r < 0)
		return r;
	r = rpc_call(s, "version", NULL, NULL, 0, 10000, &res, &error);
	json_decref(res);
	if (r == -EREMOTEIO) {
		r = (int)json_integer_value(json_object_get(error, "code"));
		snprintf(msg, msglen, "%s", json_string_value(json_object_get(error, "message")) ?: "");
		json_decref(error);
	}
	if (r < 0) {
		close(s);
		return r;
	}
	*ret_sock = s;
	return 0;
}

/* count_state - tenants in state want, over every page of `list`. */
static size_t count_state(const char *want)
{
	char *after = NULL;
	size_t n = 0, k;
	json_t *res, *t;

	do {
		res = NULL;
		if (tl_rpc(&d, "list", after ? json_pack("{s:s}", "after", after) : NULL, &res))
			break;
		free(after);
		after = NULL;
		json_array_foreach(json_object_get(res, "tenants"), k, t)
			n += !strcmp(json_string_value(json_object_get(t, "state")) ?: "", want);
		if (json_string_value(json_object_get(res, "next")))
			after = strdup(json_string_value(json_object_get(res, "next")));
		json_decref(res);
	} while (after);
	free(after);
	return n;
}

static bool fd_limit_raised(void)
{
	char path[64], line[256];
	bool ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)d.pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long soft, hard;

		if (sscanf(line, "Max open files %llu %llu", &soft, &hard) == 2) {
			printf("# pvfsd: Max open files %llu %llu\n", soft, hard);
			ok = soft == hard;
		}
	}
	fclose(f);
	return ok;
}

int main(void)
{
	struct rlimit rl, low;
	int idle[IDLE_MAX], extra, plugged = 0, fds0, fds1, r;
	char err[512], out[1 << 18], msg[512] = "", name[32], vol[32];
	uint64_t t0;
	json_t *list = NULL;
	size_t running = 0;

	/* The VMs' fds live in this process: 5 per VM. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max < 6 * VMS)
		tl_skip("RLIMIT_NOFILE hard limit %llu is below %d",
			(unsigned long long)rl.rlim_max, 6 * VMS);
	low = (struct rlimit){ 1024, rl.rlim_max };
	if (setrlimit(RLIMIT_NOFILE, &low) < 0)
		tl_fatal("setrlimit: %m");
	tl_daemon_start(&d, "--max-connections", "8", NULL);
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		tl_fatal("setrlimit: %m");
	TL_CHECK(fd_limit_raised(), "pvfsd raised its soft fd limit to the hard limit");
	/*
	 * Counted while pvfsd answers on a connection of ours: it has finished
	 * starting (sd_notify's socket is closed) and our connection is one.
	 */
	if (idle_connect(&extra, msg, sizeof(msg)) < 0)
		tl_fatal("version: %s", msg);
	fds0 = tl_fd_count(d.pid) - 1;
	close(extra);

	t0 = now_ns();
	for (int i = 0; i < VMS; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		snprintf(vol, sizeof(vol), "vm%d.img", i);
		tl_volume(&d, vol, 1 << 20);
		r = tl_vm_plug(&d, &vms[i], name, vol, 1, 2, RAM, err, sizeof(err));
		if (r < 0) {
			printf("# plug of %s failed: %d %s\n", name, r, err);
			break;
		}
		plugged++;
	}
	TL_CHECK(plugged == VMS, "%d of %d VMs plugged, each on its own connection (%.1f s)",
		 plugged, VMS, (double)(now_ns() - t0) / 1e9);
	if (plugged == VMS)
		TL_CHECK(tl_vm_roundtrip(&vms[0], 0, 0x11) &&
			 tl_vm_roundtrip(&vms[VMS / 2], 4096, 0x22) &&
			 tl_vm_roundtrip(&vms[VMS - 1], 8192, 0x33),
			 "the first, a middle and the last VM do verified I/O");

	r = pvfsctl("list", out, sizeof(out));
	TL_CHECK(r == 0 && strstr(out, "vm999 ") && strstr(out, "vm0 "),
		 "pvfsctl list answers with %d VMs plugged (exit %d%s%.200s)", plugged, r,
		 r ? ": " : "", r ? out : "");
	r = tl_rpc(&d, "list", NULL, &list);
	TL_CHECK(r == 0 && json_string_value(json_object_get(list, "next")),
		 "list replies with a first page and where the next starts (%d)", r);
	json_decref(list);
	running = count_state("running");
	TL_CHECK(running == (size_t)plugged, "list, page by page: %zu tenants running", running);
	r = pvfsctl("stats", out, sizeof(out));
	TL_CHECK(r == 0 && strstr(out, "vm999 ") && strstr(out, "vm0 "),
		 "pvfsctl stats answers, all pages (exit %d)", r);

	tl_volume(&d, "one-more.img", 1 << 20);
	r = tl_rpc(&d, "attach", json_pack("{s:s, s:s}", "name", "one-more", "volume",
					   "one-more.img"), NULL);
	TL_CHECK(r == -ENOSPC, "a 1001st tenant is refused with -ENOSPC (%d), in a reply", r);

	/* Idle connections: the limit counts only those, and a refusal says why. */
	for (int i = 0; i < IDLE_MAX; i++) {
		uint64_t deadline = now_ns() + 2000000000ull;

		/* An earlier call's connection may not be closed yet on pvfsd's side. */
		while ((r = idle_connect(&idle[i], msg, sizeof(msg))) == -EAGAIN &&
		       now_ns() < deadline)
			usleep(10000);
		if (r < 0)
			tl_fatal("idle connection %d: %d %s", i, r, msg);
	}
	r = idle_connect(&extra, msg, sizeof(msg));
	TL_CHECK(r == -EAGAIN && strstr(msg, "max_connections") && strstr(msg, "8"),
		 "connection %d without a plug is refused with a reply: %d \"%s\"", IDLE_MAX + 1,
		 r, msg);
	if (r == 0)
		close(extra);
	r = pvfsctl("list", out, sizeof(out));
	TL_CHECK(r == 1 && strstr(out, "too many control connections"),
		 "pvfsctl says so: %.300s", out);
	close(idle[0]);
	{
		uint64_t deadline = now_ns() + 2000000000ull;

		while ((r = pvfsctl("list", out, sizeof(out))) != 0 && now_ns() < deadline)
			usleep(10000);	/* pvfsd sees our close in its own time */
	}
	TL_CHECK(r == 0, "with one idle connection closed, pvfsctl list works again");
	for (int i = 1; i < IDLE_MAX; i++)
		close(idle[i]);

	t0 = now_ns();
	for (int i = 0; i < plugged; i++)
		tl_vm_unplug(&vms[i]);
	{
		uint64_t deadline = now_ns() + 30000000000ull;

		while ((running = (size_t)plugged - count_state("unplugged")) &&
		       now_ns() < deadline)
			usleep(20000);	/* draining is asynchronous; bounded by the deadline */
	}
	TL_CHECK(!running, "all VMs unplug (%.1f s)", (double)(now_ns() - t0) / 1e9);
	/* Unplugged, the tenants keep only their volume fds. */
	fds1 = tl_fd_count_settled(d.pid, fds0 + plugged);
	TL_CHECK(fds1 == fds0 + plugged, "pvfsd holds %d fds: %d at start + %d volumes", fds1,
		 fds0, plugged);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);

	/* Out of fds: a reply that says so, and no busy loop on the listening socket. */
	memset(&d, 0, sizeof(d));
	tl_daemon_start(&d, "--max-connections", "2000", NULL);
	/* Lowered from outside: raising a hard limit again needs CAP_SYS_RESOURCE. */
	low = (struct rlimit){ 1100, 1100 };
	if (prlimit(d.pid, RLIMIT_NOFILE, &low, NULL) < 0)
		tl_fatal("prlimit: %m");
	{
		static int socks[1200];
		int n = 0;
		uint64_t cpu0;

		while (n < 1200 && (r = idle_connect(&socks[n], msg, sizeof(msg))) == 0)
			n++;
		TL_CHECK(r == -EMFILE && strstr(msg, "file descriptors") && strstr(msg, "1100"),
			 "after %d connections pvfsd is out of fds and says so: %d \"%s\"", n, r,
			 msg);
		r = pvfsctl("version", out, sizeof(out));
		TL_CHECK(r == 1 && strstr(out, "out of file descriptors"),
			 "pvfsctl prints it: %.200s", out);
		cpu0 = tl_cpu_ns(d.pid);
		usleep(500000);	/* measuring CPU time over a fixed window */
		TL_CHECK(tl_cpu_ns(d.pid) - cpu0 < 100000000ull,
			 "pvfsd does not spin while out of fds (%.0f ms CPU in 500 ms)",
			 (double)(tl_cpu_ns(d.pid) - cpu0) / 1e6);
		for (int i = 0; i < n; i++)
			close(socks[i]);
		{
			uint64_t deadline = now_ns() + 2000000000ull;

			while ((r = tl_rpc(&d, "version", NULL, NULL)) && now_ns() < deadline)
				usleep(10000);	/* pvfsd sees our closes in its own time */
		}
		TL_CHECK(r == 0, "with the connections closed, pvfsd answers again");
	}
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
