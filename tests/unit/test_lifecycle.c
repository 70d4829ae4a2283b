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

static struct tenant *attach(const char *name)
{
	struct attach_params ap = { .name = name, .volume = "a.img", .cache = CACHE_NONE,
				    .qos = SCHED_QOS_DEFAULT };
	struct tenant *t = NULL;
	char err[512], path[200];
	int fd, r;

	snprintf(path, sizeof(path), "%s/a.img", voldir);
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
	struct tenant *t = attach("a");
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
	return tl_done();
}
