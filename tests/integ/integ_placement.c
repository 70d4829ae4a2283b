/* SPDX-License-Identifier: MIT */
/*
 * integ_placement - pvfsd places and rebalances tenants by measured load
 * (issue 9, item 3; docs/placement.md):
 *
 *   1. --io-threads 2 --cpus 1: both pollers run pinned to CPU 1. Two busy
 *      tenants put on poller 0 by the operator (`move`) are split over the
 *      two pollers by automatic rebalancing once their cool-down (10 s
 *      after a move) is over, and no further move follows in the next
 *      3 s (hysteresis: the pollers' loads are then even).
 *   2. --io-threads auto --cpus 0,1 --tenants-per-poller 1: with idle
 *      tenants one poller is in use and the other parked (both tenants on
 *      poller 0); when both get busy the second poller is activated and
 *      takes one of them; when both are idle again it is parked and its
 *      tenant goes back to poller 0.
 *   3. A bad --cpus list is refused at start.
 *
 * The guests keep their queues full of 4 KiB reads (sparse volumes) from
 * their own threads. About 35 s.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define DEPTH	16
#define RAM	(1u << 20)

struct guest {
	const char *name;
	struct tl_vm vm;
	pthread_t thread;
	int busy;		/* atomic: keep the queue full */
	int quit;		/* atomic */
	uint64_t done;
};

static struct tl_daemon d;
static struct guest guests[2] = { { .name = "a" }, { .name = "b" } };

static void *guest_main(void *arg)
{
	struct guest *g = arg;
	struct pvfs_uguest_queue *uq = &g->vm.guest.queues[0];
	uint64_t rng = (uint64_t)(uintptr_t)g | 1;
	uint32_t inflight = 0;

	while (!__atomic_load_n(&g->quit, __ATOMIC_RELAXED) || inflight) {
		struct pvfs_cqe cqes[DEPTH];
		unsigned n;

		while (__atomic_load_n(&g->busy, __ATOMIC_RELAXED) &&
		       !__atomic_load_n(&g->quit, __ATOMIC_RELAXED) && inflight < DEPTH) {
			int tag = pvfs_uguest_next_tag(uq);
			struct pvfs_sqe sqe = { .opcode = PVFS_OP_READ, .nr_segs = 1, .len = 4096,
						.offset = 4096 * (tl_rand(&rng) % 256) };
			struct pvfs_seg seg = { .addr = tl_vm_gpa(&g->vm, 4096u * (unsigned)tag),
						.len = 4096 };

			if (tag < 0 || pvfs_uguest_queue_sqe(uq, &sqe, &seg, 1) < 0)
				break;
			inflight++;
		}
		pvfs_uguest_commit(uq);
		n = pvfs_uguest_reap(uq, cqes, DEPTH);
		inflight -= n;
		g->done += n;
		if (!n)
			pvfs_uguest_wait(uq, 100);
	}
	return NULL;
}

static void set_busy(int busy)
{
	for (int i = 0; i < 2; i++)
		__atomic_store_n(&guests[i].busy, busy, __ATOMIC_RELAXED);
}

static void plug_guests(void)
{
	char err[512];

	for (int i = 0; i < 2; i++) {
		char vol[16];

		snprintf(vol, sizeof(vol), "%s.img", guests[i].name);
		tl_volume(&d, vol, 1u << 20);
		if (tl_vm_plug(&d, &guests[i].vm, guests[i].name, vol, 1, DEPTH, RAM, err,
			       sizeof(err)))
			tl_fatal("plug %s: %s", guests[i].name, err);
		guests[i].quit = 0;
		if (pthread_create(&guests[i].thread, NULL, guest_main, &guests[i]))
			tl_fatal("pthread_create");
	}
}

static void unplug_guests(void)
{
	for (int i = 0; i < 2; i++) {
		__atomic_store_n(&guests[i].quit, 1, __ATOMIC_RELAXED);
		pthread_join(guests[i].thread, NULL);
		tl_vm_unplug(&guests[i].vm);
	}
}

static int poller_of(const char *name)
{
	json_t *t = tl_tenant_stats(&d, name);
	json_t *p = json_object_get(t, "poller");
	int r = p && !json_object_get(t, "moving_to") ? (int)json_integer_value(p) : -1;

	json_decref(t);
	return r;
}

/* stats_moves - pvfsd's moves since start, and whether poller 1 is active. */
static long long stats_moves(bool *ret_active1)
{
	json_t *res = NULL;
	long long m;

	if (tl_rpc(&d, "stats", NULL, &res))
		tl_fatal("stats");
	m = json_integer_value(json_object_get(res, "moves"));
	if (ret_active1)
		*ret_active1 = json_is_true(json_object_get(
			json_array_get(json_object_get(res, "pollers"), 1), "active"));
	json_decref(res);
	return m;
}

/* wait_until - poll every 100 ms until both tenants are on pollers (pa, pb) in either order. */
static bool wait_split(int want_p0, int want_p1, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (now_ns() < end) {
		int a = poller_of("a"), b = poller_of("b");
		struct timespec ts = { 0, 100000000 };

		if ((a == want_p0 && b == want_p1) || (a == want_p1 && b == want_p0))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* pinned_threads - threads of pid allowed on exactly the CPU list `cpus`. */
static int pinned_threads(pid_t pid, const char *cpus)
{
	char path[PATH_MAX], line[256];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "Cpus_allowed_list:", 18)) {
				char *v = line + 18;

				v += strspn(v, " \t");
				v[strcspn(v, "\n")] = '\0';
				n += !strcmp(v, cpus);
			}
		fclose(f);
	}
	closedir(dir);
	return n;
}

static void rebalancing(void)
{
	long long m0, m1;

	tl_daemon_start(&d, "--io-threads", "2", "--cpus", "1", NULL);
	TL_CHECK(pinned_threads(d.pid, "1") == 2, "--cpus 1: both pollers run on CPU 1 only (%d)",
		 pinned_threads(d.pid, "1"));
	plug_guests();
	TL_CHECK(wait_split(0, 1, 5000), "plugs are spread: one tenant per poller");
	for (int i = 0; i < 2; i++)
		if (tl_rpc(&d, "move", json_pack("{s:s, s:i}", "name", guests[i].name, "poller", 0),
			   NULL))
			tl_fatal("move %s to poller 0", guests[i].name);
	TL_CHECK(poller_of("a") == 0 && poller_of("b") == 0, "both moved to poller 0");
	set_busy(1);
	m0 = stats_moves(NULL);
	TL_CHECK(wait_split(0, 1, 25000),
		 "busy tenants on one poller are split by rebalancing (moves %lld -> %lld)", m0,
		 stats_moves(NULL));
	m1 = stats_moves(NULL);
	TL_CHECK(m1 == m0 + 1, "one rebalancing move (%lld)", m1 - m0);
	sleep(3);
	TL_CHECK(stats_moves(NULL) == m1, "no further move with even loads (%lld more)",
		 stats_moves(NULL) - m1);
	set_busy(0);
	unplug_guests();
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
}

static void auto_threads(void)
{
	bool active1 = true;

	memset(&d, 0, sizeof(d));
	tl_daemon_start(&d, "--io-threads", "auto", "--cpus", "0,1", "--tenants-per-poller", "1",
			NULL);
	plug_guests();
	stats_moves(&active1);
	TL_CHECK(!active1 && poller_of("a") == 0 && poller_of("b") == 0,
		 "auto, idle: poller 1 parked, both tenants on poller 0");
	set_busy(1);
	TL_CHECK(wait_split(0, 1, 15000), "auto, two busy tenants: poller 1 takes one of them");
	stats_moves(&active1);
	TL_CHECK(active1, "auto, busy: poller 1 active");
	set_busy(0);
	TL_CHECK(wait_split(0, 0, 20000), "auto, idle again: both tenants back on poller 0");
	stats_moves(&active1);
	TL_CHECK(!active1, "auto, idle again: poller 1 parked");
	unplug_guests();
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
}

/* A bad CPU list is refused at start (exit 2), before any thread. */
static void bad_cpus(void)
{
	static const char *const bad[] = { "5-3", "x", "0,,1", "1-", "65536", "" };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *argv[] = { (char *)tl_bin("pvfsd"), "--runtime-dir", "/nonexistent/pvfs",
				 "--metrics-listen", "none", "--cpus", (char *)bad[i], NULL };
		int rc = tl_run(argv, "/dev/null", 10000);

		TL_CHECK(rc == 2, "--cpus '%s' is refused as a usage error (exit %d)", bad[i], rc);
	}
}

int main(void)
{
	bad_cpus();
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		tl_skip("needs 2 CPUs to pin pollers to CPU 1");
	rebalancing();
	auto_threads();
	return tl_done();
}
