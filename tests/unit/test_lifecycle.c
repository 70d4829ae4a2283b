/* SPDX-License-Identifier: MIT */
/*
 * test_lifecycle - life-cycle corners of the data plane that a real pvfsd
 * cannot be made to reach on demand, driven pass by pass in this process
 * (the real tenant and poller code, one poller without a thread, as
 * tests/fuzz/fuzz_ring.c does it).
 *
 * Claim: a tenant whose volume could not be bound to its poller stays
 * BROKEN through a guest's reset. A reset repairs a BROKEN ring and
 * publishes READY; when the tenant was broken because its backend never
 * bound (add_tenant: "volume registration failed"), READY let the guest's
 * next SQE reach the unbound backend, whose submit dereferenced its NULL
 * host: pvfsd died with SIGSEGV (found by review; a bind can fail when
 * io_uring refuses the fixed-file update, or a remote backend's bind does).
 *
 * Claim: a pass runs the per-pass hook (ops->pass) of exactly the backends
 * that asked for it (backend_want_pass), once per asking and pass: not of
 * the other tenants (the poller keeps a list of the askers, so that a pass
 * costs nothing per idle tenant), not twice or in a loop within one pass
 * for a backend that asks again from its hook, and never after the tenant
 * left the poller while on that list (the list would point at a backend
 * the control thread may free: an ASan/TSan build, run-tests --san, sees
 * any such use).
 *
 * About 0.1 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "poller.h"
#include "poller_test.h"
#include "pvfs_shim.h"
#include "pvfsd.h"
#include "tenant.h"
#include "tlib.h"
#include "util.h"

#define VOL_SIZE	(1u << 20)
#define RAM_SIZE	(64u * 1024)
#define BLOCK		4096u
#define MAX_PASSES	2000

static char dir[64], voldir[128];

static void cleanup(void)
{
	char path[200];

	snprintf(path, sizeof(path), "%s/a.img", voldir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.img", voldir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/c.img", voldir);
	unlink(path);
	rmdir(voldir);
	rmdir(dir);
}

static void on_drained(struct tenant_io *tio)
{
	tenant_drained(tio);
}

static void pass(void)
{
	poller_test_pass(100000);
	poller_reap_done(on_drained);
}

static int bind_fails(struct backend *b, struct backend_host *h)
{
	(void)b;
	(void)h;
	return -ENFILE;
}

static struct tenant *attach(const char *name, const char *volume)
{
	struct attach_params ap = { .name = name, .volume = volume, .cache = CACHE_NONE,
				    .qos = SCHED_QOS_DEFAULT };
	struct tenant *t = NULL;
	char err[512], path[200];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", voldir, volume);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, VOL_SIZE) < 0)
		tl_fatal("volume %s: %m", path);
	close(fd);
	r = tenant_attach(&ap, &t, err, sizeof(err));
	if (r == -EINVAL) {
		ap.cache = CACHE_WRITEBACK;	/* no O_DIRECT here (tmpfs) */
		r = tenant_attach(&ap, &t, err, sizeof(err));
	}
	if (r < 0)
		tl_fatal("attach %s: %s", name, err);
	return t;
}

static int plug(struct tenant *t, struct pvfs_region *reg, int ram_fd)
{
	struct plug_params pp = { .name = t->name, .queues = 1, .nr_mem = 1,
				  .mem = { { .gpa = 0, .size = RAM_SIZE } } };
	int fds[4] = {
		fcntl(reg->memfd, F_DUPFD_CLOEXEC, 0),
		fcntl(reg->kick_fd[0], F_DUPFD_CLOEXEC, 0),
		fcntl(reg->call_fd[0], F_DUPFD_CLOEXEC, 0),
		fcntl(ram_fd, F_DUPFD_CLOEXEC, 0),
	};
	char err[512];
	int r = tenant_plug(&pp, fds, 4, NULL, err, sizeof(err));

	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (r < 0)
		tl_fatal("plug: %s", err);
	return r;
}

static void unbound_stays_broken(void)
{
	struct pvfs_region_params rp = { .nr_queues = 1, .depth = 8, .max_segs = 1 };
	struct tenant *t = attach("a", "a.img");
	const struct backend_ops *real = t->backend->ops;
	struct backend_ops failing = *real;
	struct pvfs_region *reg = NULL;
	struct pvfs_region_hdr *h;
	struct pvfs_uguest g;
	struct pvfs_sqe sqe = { .opcode = PVFS_OP_READ, .nr_segs = 1, .len = BLOCK };
	struct pvfs_seg seg = { .addr = 0, .len = BLOCK };
	uint32_t req;
	int ram_fd, n;

	ram_fd = memfd_create("ram", MFD_CLOEXEC);
	if (ram_fd < 0 || ftruncate(ram_fd, RAM_SIZE) < 0)
		tl_fatal("guest RAM: %m");
	if (pvfs_region_create(&rp, &reg) < 0 || pvfs_uguest_init(&g, reg) < 0)
		tl_fatal("region");
	h = pvfs_region_hdr(reg);

	failing.bind = bind_fails;
	t->backend->ops = &failing;
	plug(t, reg, ram_fd);
	for (n = 0; n < MAX_PASSES && PVFS_LOAD_ACQUIRE(&h->host_state) != PVFS_HOST_BROKEN; n++)
		pass();
	TL_CHECK(PVFS_LOAD_ACQUIRE(&h->host_state) == PVFS_HOST_BROKEN,
		 "a tenant whose volume did not bind is BROKEN (state %u)", h->host_state);

	/* The guest resets (pvfs_ring.h "Reset"), then submits a READ. */
	req = pvfs_reset_request(h);
	for (n = 0; n < MAX_PASSES && !pvfs_reset_acked(h, req); n++)
		pass();
	TL_CHECK(pvfs_reset_acked(h, req), "the reset is answered");
	TL_CHECK(PVFS_LOAD_ACQUIRE(&h->host_state) == PVFS_HOST_BROKEN,
		 "the reset leaves a tenant without a bound volume BROKEN (state %u)",
		 h->host_state);
	TL_CHECK(pvfs_uguest_queue_sqe(&g.queues[0], &sqe, &seg, 1) >= 0, "queue a READ");
	pvfs_uguest_commit(&g.queues[0]);
	for (n = 0; n < 50; n++)
		pass();	/* before the fix: SIGSEGV in the backend's submit */
	TL_CHECK(PVFS_READ_ONCE(&g.queues[0].q.ctrl->sq_head) == 0,
		 "the READ was not consumed by a broken tenant");

	tenant_unplug(t);
	for (n = 0; n < MAX_PASSES && t->state != TENANT_UNPLUGGED; n++)
		pass();
	TL_CHECK(t->state == TENANT_UNPLUGGED, "the tenant drains and unplugs");
	t->backend->ops = real;
	pvfs_uguest_free(&g);
	pvfs_region_free(reg);
	close(ram_fd);
}

/* A backend's per-pass hook counts its calls and asks again again_left more times. */
static const struct backend_ops *pass_real;
static struct backend *pass_b[2];
static unsigned pass_calls[2], pass_again[2];

static int pass_idx(const struct backend *b)
{
	return b == pass_b[0] ? 0 : 1;
}

static void counting_pass(struct backend *b)
{
	int i = pass_idx(b);

	pass_calls[i]++;
	if (pass_again[i]) {
		pass_again[i]--;
		backend_want_pass(b);
		backend_want_pass(b);	/* asking twice is asking once */
	}
}

static int asking_submit(struct backend *b, struct backend_io *io)
{
	backend_want_pass(b);
	return pass_real->submit(b, io);
}

static void passes_only_askers(void)
{
	struct pvfs_region_params rp = { .nr_queues = 1, .depth = 8, .max_segs = 1 };
	struct tenant *t[2] = { attach("p0", "b.img"), attach("p1", "c.img") };
	struct backend_ops asking;
	struct pvfs_region *reg[2] = { NULL, NULL };
	struct pvfs_uguest g;
	struct pvfs_sqe sqe = { .opcode = PVFS_OP_READ, .nr_segs = 1, .len = BLOCK };
	struct pvfs_seg seg = { .addr = 0, .len = BLOCK };
	struct pvfs_cqe cqe;
	unsigned got = 0, before;
	int ram_fd, n;

	ram_fd = memfd_create("ram", MFD_CLOEXEC);
	if (ram_fd < 0 || ftruncate(ram_fd, RAM_SIZE) < 0)
		tl_fatal("guest RAM: %m");
	pass_real = t[0]->backend->ops;
	asking = *pass_real;
	asking.submit = asking_submit;
	asking.pass = counting_pass;
	for (int i = 0; i < 2; i++) {
		if (pvfs_region_create(&rp, &reg[i]) < 0)
			tl_fatal("region");
		pass_b[i] = t[i]->backend;
		t[i]->backend->ops = &asking;
		plug(t[i], reg[i], ram_fd);
	}
	if (pvfs_uguest_init(&g, reg[0]) < 0)
		tl_fatal("guest");
	for (n = 0; n < 20; n++)
		pass();
	TL_CHECK(pass_calls[0] == 0 && pass_calls[1] == 0,
		 "no pass hook runs for backends that did not ask (%u, %u)", pass_calls[0],
		 pass_calls[1]);

	/* p0's guest reads: its submit asks, p1 never does. */
	TL_CHECK(pvfs_uguest_queue_sqe(&g.queues[0], &sqe, &seg, 1) >= 0, "queue a READ");
	pvfs_uguest_commit(&g.queues[0]);
	for (n = 0; n < MAX_PASSES && !got; n++) {
		pass();
		got = pvfs_uguest_reap(&g.queues[0], &cqe, 1);
	}
	TL_CHECK(got == 1 && cqe.result == (int32_t)BLOCK, "the READ completes (res %d)",
		 got ? cqe.result : 0);
	for (n = 0; n < 5; n++)
		pass();
	TL_CHECK(pass_calls[0] == 1, "the asking backend's hook ran once (%u)", pass_calls[0]);
	TL_CHECK(pass_calls[1] == 0, "the other backend's hook never ran (%u)", pass_calls[1]);

	/* Asking again from the hook: once per pass, not in a loop. */
	pass_again[0] = 3;
	backend_want_pass(pass_b[0]);
	for (n = 1; n <= 4; n++) {
		before = pass_calls[0];
		pass();
		TL_CHECK(pass_calls[0] == before + 1, "pass %d runs the hook once (%u)", n,
			 pass_calls[0] - before);
	}
	pass();
	TL_CHECK(pass_calls[0] == 5, "three asks from the hook: 3 more runs, then none (%u in all)", pass_calls[0]);

	/* Both on the list, p0 leaves: its hook stops, p1's goes on. */
	pass_again[0] = pass_again[1] = 1000000;
	backend_want_pass(pass_b[0]);
	backend_want_pass(pass_b[1]);
	tenant_unplug(t[0]);
	for (n = 0; n < MAX_PASSES && t[0]->state != TENANT_UNPLUGGED; n++)
		pass();
	TL_CHECK(t[0]->state == TENANT_UNPLUGGED, "p0 drains and unplugs");
	before = pass_calls[0];
	got = pass_calls[1];
	for (n = 0; n < 10; n++)
		pass();
	TL_CHECK(pass_calls[0] == before, "no hook after the backend left its poller (%u)",
		 pass_calls[0] - before);
	TL_CHECK(pass_calls[1] == got + 10, "the other's hook ran once per pass (%u)",
		 pass_calls[1] - got);
	pass_again[1] = 0;
	tenant_unplug(t[1]);
	for (n = 0; n < MAX_PASSES && t[1]->state != TENANT_UNPLUGGED; n++)
		pass();
	TL_CHECK(t[1]->state == TENANT_UNPLUGGED, "p1 drains and unplugs");
	for (int i = 0; i < 2; i++) {
		t[i]->backend->ops = pass_real;
		pvfs_region_free(reg[i]);
	}
	pvfs_uguest_free(&g);
	close(ram_fd);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	log_init("test_lifecycle", getenv("TL_VERBOSE") ? LOG_DEBUG : LOG_CRIT);
	if (!tmp || strlen(tmp) >= 32)
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/pvfs-life-XXXXXX", tmp);
	if (!mkdtemp(dir))
		tl_fatal("mkdtemp: %m");
	snprintf(voldir, sizeof(voldir), "%s/vols", dir);
	atexit(cleanup);
	if (mkdir(voldir, 0700) < 0)
		tl_fatal("mkdir %s: %m", voldir);
	if (config_set("volume-dir", voldir) < 0)
		tl_fatal("volume-dir %s refused", voldir);
	if (poller_test_start(cfg.sched_mode, 16) < 0)
		tl_skip("cannot start a poller (io_uring unavailable)");

	unbound_stays_broken();
	passes_only_askers();
	return tl_done();
}
