/* SPDX-License-Identifier: MIT */
/*
 * pvfs-bench - a simulated VM and load generator.
 *
 * It plugs itself into pvfsd as a tenant, exactly as a VMM would: it creates
 * a ring region and eventfds with libpvfs-shim, backs its "guest RAM" with a
 * memfd described to pvfsd as two guest-physical ranges (so translation is
 * exercised), and drives the ring with the userspace guest driver, one
 * thread per queue. With --direct FILE the same workload runs on FILE with
 * io_uring from this process instead: the baseline pvfs is compared with.
 * With --rbd POOL/IMAGE it runs on a Ceph RBD image with librbd from this
 * process, completions through an eventfd as pvfsd's RBD backend gets them:
 * the baseline for a tenant on that image. With --nbd URI it runs on an NBD
 * export with libnbd's asynchronous API from this process, its socket polled
 * (one handle, the guest buffers used in place): the baseline for a tenant
 * on that export.
 *
 * --verify writes self-checking blocks (lib/verify.h), checks every block
 * it reads, and after a write workload reads back every block it wrote. In
 * verify mode each block belongs to one queue and is never in flight twice,
 * so the expected generation of every block is known exactly.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libnbd.h>
#include <liburing.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <rbd/librbd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hist.h"
#include "pvfs_ctl.h"
#include "pvfs_shim.h"
#include "rpc.h"
#include "util.h"
#include "verify.h"

enum rw { RW_READ, RW_WRITE, RW_RANDREAD, RW_RANDWRITE, RW_RANDRW, RW_BACKREAD };
static const char *const rw_names[] = { "read", "write", "randread", "randwrite", "randrw",
					"backread" };

static struct {
	const char *sock, *tenant, *volume, *direct, *cache, *rbd, *ceph_conf, *ceph_id, *nbd;
	enum rw rw;
	uint64_t bs, size, seg_size, ios, seed;
	uint32_t iodepth, queues, rwmixread;
	double runtime, reconnect_timeout;
	bool verify, json, poll, buffered, quiet;
} o = {
	.rw = RW_RANDREAD, .bs = 4096, .iodepth = 1, .queues = 1, .runtime = 5,
	.rwmixread = 50, .seed = 1, .reconnect_timeout = 30,
};

struct slot {
	uint64_t offset, block, gen, t_submit;
	bool write;
	bool busy;
};

struct job {
	int idx;
	pthread_t thread;
	/* pvfs mode */
	struct pvfs_uguest_queue *uq;
	/* direct mode */
	struct io_uring ring;
	int fd;
	uint8_t *buf;			/* iodepth buffers of bs bytes */
	uint64_t buf_gpa[PVFS_MAX_DEPTH];
	struct slot *slots;		/* by tag (pvfs) or slot index (direct) */
	uint32_t inflight;
	uint64_t rng;
	uint64_t cursor;		/* sequential modes: next block of this job */
	uint64_t nblocks;		/* blocks this job owns */
	bool verify_pass;		/* reading back what was written */
	uint64_t verify_cursor;
	/* results */
	uint64_t ops, bytes, reads, writes, errors, verify_errors, verified, irqs;
	uint64_t lat_sum_ns;
	uint64_t hist[HIST_BUCKETS];
	uint64_t t_start, t_end;
	int first_error;
};

/* --rbd: one image, one eventfd for its completions (one job: see parse_args). */
static rados_t rados;
static rados_ioctx_t rados_io;
static rbd_image_t rbd_image;
static int rbd_efd = -1;

/* --nbd: one handle; completions noted by the callback, handled after notify. */
static struct nbd_handle *nbd;
static struct { uint32_t si; int err; } nbd_done[PVFS_MAX_DEPTH];
static uint32_t nbd_nr_done;

static struct pvfs_region *region;
static struct pvfs_uguest guest;
static struct pvfs_plug *plug;
static struct pvfs_memregion memtab[2];
static int ram_fd = -1;
static uint8_t *ram;
static uint64_t ram_size;
static uint64_t total_blocks;
static uint32_t *block_gen;		/* last generation written, 0 = not this run */
static uint8_t *block_busy;
static volatile sig_atomic_t stop_flag;
static bool jobs_done;			/* atomic: every job has finished */
static uint32_t nr_jobs_done;		/* atomic */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pvfs-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: fast and good enough to spread offsets. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* The volume offset of job j's k-th block: blocks are dealt round-robin to jobs. */
static uint64_t block_of(const struct job *j, uint64_t k)
{
	return (uint64_t)j->idx + k * o.queues;
}

static bool is_write_workload(void)
{
	return o.rw == RW_WRITE || o.rw == RW_RANDWRITE || o.rw == RW_RANDRW;
}

/*
 * next_io - choose the next block and direction for job j. Returns false
 * when the verify pass is finished.
 */
static bool next_io(struct job *j, uint64_t *ret_block, bool *ret_write)
{
	uint64_t k, b;
	int tries = 0;

	if (j->verify_pass) {
		while (j->verify_cursor < j->nblocks) {
			b = block_of(j, j->verify_cursor++);
			if (block_gen[b]) {
				*ret_block = b;
				*ret_write = false;
				return true;
			}
		}
		return false;
	}
	for (;;) {
		switch (o.rw) {
		case RW_READ:
		case RW_WRITE:
			k = j->cursor++ % j->nblocks;
			break;
		case RW_BACKREAD:
			k = j->nblocks - 1 - (j->cursor++ % j->nblocks);
			break;
		default:
			k = rnd(&j->rng) % j->nblocks;
		}
		b = block_of(j, k);
		/* Never two requests on one block at once, so verify knows what is there. */
		if (!block_busy[b] || ++tries > 64)
			break;
	}
	*ret_block = b;
	switch (o.rw) {
	case RW_WRITE:
	case RW_RANDWRITE:
		*ret_write = true;
		break;
	case RW_RANDRW:
		*ret_write = rnd(&j->rng) % 100 >= o.rwmixread;
		break;
	default:
		*ret_write = false;
	}
	return true;
}

static bool want_more(struct job *j, uint64_t now)
{
	if (stop_flag)
		return false;
	if (j->verify_pass)
		return true;
	if (o.ios)
		return j->ops + j->inflight < (o.ios + o.queues - 1 - (uint64_t)j->idx) / o.queues;
	return (double)(now - j->t_start) < o.runtime * 1e9;
}

static void prepare_slot(struct job *j, struct slot *s, uint8_t *buf, uint64_t b, bool write)
{
	s->block = b;
	s->offset = b * o.bs;
	s->write = write;
	s->busy = true;
	block_busy[b] = 1;
	if (write) {
		s->gen = block_gen[b] + 1;
		if (o.verify)
			verify_fill(buf, o.bs, o.seed, s->offset, s->gen);
	}
	s->t_submit = now_ns();
}

/*
 * take_slot - a free slot, prepared (prepare_slot) with the job's next I/O;
 * false when next_io has none. The same for every baseline side.
 */
static bool take_slot(struct job *j, uint32_t *ret_si, bool *ret_write)
{
	uint32_t si;
	uint64_t b;
	bool write;

	for (si = 0; si < o.iodepth && j->slots[si].busy; si++)
		;
	if (!next_io(j, &b, &write))
		return false;
	prepare_slot(j, &j->slots[si], j->buf + si * o.bs, b, write);
	*ret_si = si;
	*ret_write = write;
	return true;
}

/*
 * submit_baseline - the submission loop of the three baseline sides: while
 * the job has room and wants more, take a slot (take_slot) and hand it to
 * issue, the one step each baseline does its own way. Always inlined with
 * issue a constant, so each side still makes a direct call per I/O.
 */
static inline __attribute__((always_inline)) int
submit_baseline(struct job *j, void (*issue)(struct job *j, uint32_t si, bool write))
{
	uint64_t now;
	int queued = 0;
	uint32_t si;
	bool write;

	if (j->inflight >= o.iodepth)
		return 0;
	now = now_ns();
	while (j->inflight < o.iodepth && want_more(j, now) && take_slot(j, &si, &write)) {
		issue(j, si, write);
		j->inflight++;
		queued++;
	}
	return queued;
}

static void complete_slot(struct job *j, struct slot *s, const uint8_t *buf, int res)
{
	uint64_t lat = now_ns() - s->t_submit;

	s->busy = false;
	block_busy[s->block] = 0;
	j->inflight--;
	j->ops++;
	j->hist[hist_bucket(lat)]++;
	j->lat_sum_ns += lat;
	if (res != (int)o.bs) {
		j->errors++;
		if (!j->first_error)
			j->first_error = res < 0 ? res : -EIO;
		return;
	}
	j->bytes += o.bs;
	if (s->write) {
		j->writes++;
		block_gen[s->block] = (uint32_t)s->gen;
		return;
	}
	j->reads++;
	if (o.verify) {
		uint64_t gen = block_gen[s->block] ? block_gen[s->block] : UINT64_MAX;
		enum verify_result r = verify_check(buf, o.bs, o.seed, s->offset, gen);

		if (r == VERIFY_ZERO && !block_gen[s->block])
			return;
		if (r != VERIFY_OK) {
			if (j->verify_errors++ < 5)
				fprintf(stderr, "pvfs-bench: verify error at offset %llu (block "
					"written %s): %s\n", (unsigned long long)s->offset,
					block_gen[s->block] ? "this run" : "before",
					verify_result_name(r));
		} else {
			j->verified++;
		}
	}
}

/* ---- pvfs backend: the ring ---- */

static uint8_t *tag_buf(struct job *j, uint16_t tag)
{
	return j->buf + (uint64_t)tag * o.bs;
}

static int submit_pvfs(struct job *j)
{
	uint64_t now;

	/* No clock read while the queue is full: it would be the guest's own overhead. */
	if (j->inflight >= o.iodepth)
		return pvfs_uguest_commit(j->uq);
	now = now_ns();
	while (j->inflight < o.iodepth && want_more(j, now)) {
		struct pvfs_seg segs[PVFS_MAX_SEGS];
		struct pvfs_sqe sqe = { 0 };
		unsigned nsegs = 0;
		uint64_t b;
		bool write;
		int tag;

		if (!next_io(j, &b, &write))
			break;
		/* Each tag has its own buffer, so the segments depend on the tag. */
		tag = pvfs_uguest_next_tag(j->uq);
		if (tag < 0)
			break;
		for (uint64_t off = 0; off < o.bs; off += o.seg_size, nsegs++) {
			segs[nsegs].addr = j->buf_gpa[tag] + off;
			segs[nsegs].len = (uint32_t)MIN(o.seg_size, o.bs - off);
			segs[nsegs].rsvd = 0;
		}
		sqe.opcode = write ? PVFS_OP_WRITE : PVFS_OP_READ;
		sqe.nr_segs = (uint16_t)nsegs;
		sqe.len = (uint32_t)o.bs;
		sqe.offset = b * o.bs;
		prepare_slot(j, &j->slots[tag], tag_buf(j, (uint16_t)tag), b, write);
		if (pvfs_uguest_queue_sqe(j->uq, &sqe, segs, nsegs) != tag)
			die("internal error: tag allocation mismatch");
		j->inflight++;
	}
	return pvfs_uguest_commit(j->uq);
}

static int reap_pvfs(struct job *j)
{
	struct pvfs_cqe cqes[64];
	unsigned n = pvfs_uguest_reap(j->uq, cqes, ARRAY_SIZE(cqes));

	for (unsigned i = 0; i < n; i++) {
		uint16_t tag = cqes[i].tag;

		if (tag >= region->depth || !j->slots[tag].busy) {
			fprintf(stderr, "pvfs-bench: completion for idle tag %u\n", tag);
			j->errors++;
			continue;
		}
		complete_slot(j, &j->slots[tag], tag_buf(j, tag), cqes[i].result);
	}
	return (int)n;
}

/* ---- direct backend: io_uring on the file ---- */

static void issue_direct(struct job *j, uint32_t si, bool write)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&j->ring);

	if (write)
		io_uring_prep_write(sqe, j->fd, j->buf + si * o.bs, (unsigned)o.bs,
				    j->slots[si].offset);
	else
		io_uring_prep_read(sqe, j->fd, j->buf + si * o.bs, (unsigned)o.bs,
				   j->slots[si].offset);
	io_uring_sqe_set_data64(sqe, si);
}

static int reap_direct(struct job *j)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&j->ring, head, cqe) {
		uint64_t si = io_uring_cqe_get_data64(cqe);

		complete_slot(j, &j->slots[si], j->buf + si * o.bs, cqe->res);
		n++;
	}
	io_uring_cq_advance(&j->ring, n);
	return (int)n;
}

/* ---- rbd backend: librbd aio, completions through an eventfd ---- */

static void issue_rbd(struct job *j, uint32_t si, bool write)
{
	char *buf = (char *)j->buf + si * o.bs;
	rbd_completion_t c;
	int r;

	r = rbd_aio_create_completion((void *)(uintptr_t)si, NULL, &c);
	if (r < 0)
		die("rbd_aio_create_completion: %s", strerror(-r));
	r = write ? rbd_aio_write(rbd_image, j->slots[si].offset, o.bs, buf, c) :
		    rbd_aio_read(rbd_image, j->slots[si].offset, o.bs, buf, c);
	if (r < 0)
		die("rbd_aio_%s: %s", write ? "write" : "read", strerror(-r));
}

static int reap_rbd(struct job *j)
{
	rbd_completion_t comps[64];
	uint64_t v;
	int n, total = 0;

	/* Drain the counter first: a completion after it rings again. */
	if (read(rbd_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		die("reading the completion eventfd: %m");
	while ((n = rbd_poll_io_events(rbd_image, comps, (int)ARRAY_SIZE(comps))) > 0) {
		for (int i = 0; i < n; i++) {
			uint32_t si = (uint32_t)(uintptr_t)rbd_aio_get_arg(comps[i]);
			ssize_t res = rbd_aio_get_return_value(comps[i]);

			rbd_aio_release(comps[i]);
			/* librbd returns the length for reads and 0 for writes. */
			if (res == 0 && j->slots[si].write)
				res = (ssize_t)o.bs;
			complete_slot(j, &j->slots[si], j->buf + si * o.bs, (int)res);
		}
		total += n;
	}
	return total;
}

/* ---- nbd backend: libnbd's aio API, its socket polled ---- */

/* nbd_cb - libnbd's completion callback: no libnbd call here, only a note. */
static int nbd_cb(void *user_data, int *error)
{
	nbd_done[nbd_nr_done].si = (uint32_t)(uintptr_t)user_data;
	nbd_done[nbd_nr_done].err = *error;
	nbd_nr_done++;
	return 1;
}

static void issue_nbd(struct job *j, uint32_t si, bool write)
{
	nbd_completion_callback cb = { .callback = nbd_cb, .user_data = (void *)(uintptr_t)si };
	char *buf = (char *)j->buf + si * o.bs;
	int64_t r;

	r = write ? nbd_aio_pwrite(nbd, buf, o.bs, j->slots[si].offset, cb, 0) :
		    nbd_aio_pread(nbd, buf, o.bs, j->slots[si].offset, cb, 0);
	if (r < 0)
		die("nbd_aio_%s: %s", write ? "pwrite" : "pread", nbd_get_error());
}

static int reap_nbd(struct job *j)
{
	uint32_t n = nbd_nr_done;

	nbd_nr_done = 0;
	for (uint32_t i = 0; i < n; i++)
		complete_slot(j, &j->slots[nbd_done[i].si], j->buf + nbd_done[i].si * o.bs,
			      nbd_done[i].err ? -nbd_done[i].err : (int)o.bs);
	return (int)n;
}

/* wait_nbd - poll the socket the way libnbd wants it (timeout_ms 0: --poll), then notify. */
static void wait_nbd(int timeout_ms)
{
	unsigned dir = nbd_aio_get_direction(nbd);
	struct pollfd pfd = {
		.fd = nbd_aio_get_fd(nbd),
		.events = (short)(((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
				  ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0)),
	};

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return;
	if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && nbd_aio_notify_read(nbd) < 0)
		die("NBD connection: %s", nbd_get_error());
	if ((pfd.revents & POLLOUT) && nbd_aio_notify_write(nbd) < 0)
		die("NBD connection: %s", nbd_get_error());
}

/* ---- the job loop ---- */

/*
 * run_phase - the job's loop, the same for both sides of the comparison.
 * A poll iteration that finds nothing reads no clock and touches no other
 * shared memory than the CQ: the stall and host-state checks run once per
 * CHECK_EVERY iterations, so the simulated guest's own overhead (a clock
 * read costs 40-70 ns on this VM) does not stretch the time it takes to
 * notice a completion; and after every blocking wait (up to a second each,
 * against which a clock read is nothing), so a host that went away is
 * noticed in seconds, not after CHECK_EVERY of those waits. Per I/O both sides pay the same bookkeeping
 * (prepare_slot, complete_slot).
 */
#define CHECK_EVERY 1024

static void run_phase(struct job *j)
{
	uint64_t last_progress = now_ns(), ops_seen = j->ops;
	uint32_t iter = 0;

	for (;;) {
		bool waited = false;
		int r;

		if (o.direct) {
			r = submit_baseline(j, issue_direct);
			if (r > 0 || j->inflight)
				io_uring_submit_and_wait(&j->ring, o.poll || !j->inflight ? 0 : 1);
			reap_direct(j);
		} else if (o.nbd) {
			submit_baseline(j, issue_nbd);
			if (!reap_nbd(j) && j->inflight) {
				wait_nbd(o.poll ? 0 : 1000);
				waited = !o.poll;
				reap_nbd(j);
			}
		} else if (o.rbd) {
			submit_baseline(j, issue_rbd);
			if (!reap_rbd(j) && j->inflight && !o.poll) {
				struct pollfd pfd = { .fd = rbd_efd, .events = POLLIN };

				poll(&pfd, 1, 1000);
				waited = true;
				reap_rbd(j);
			}
		} else {
			r = submit_pvfs(j);
			if (r < 0)
				die("queue %d: doorbell: %s", j->idx, strerror(-r));
			if (!reap_pvfs(j) && j->inflight && !o.poll) {
				r = pvfs_uguest_wait(j->uq, 1000);
				if (r > 0)
					j->irqs++;
				waited = true;
				reap_pvfs(j);
			}
		}
		if (!j->inflight) {
			if (!want_more(j, now_ns()))
				break;
			if (j->verify_pass && j->verify_cursor >= j->nblocks)
				break;
		}
		if (++iter % CHECK_EVERY && !waited)
			continue;
		if (o.tenant && j->inflight) {
			uint32_t st = pvfs_uguest_host_state(&guest, NULL);

			if (st == PVFS_HOST_BROKEN || st == PVFS_HOST_REMOVED)
				die("queue %d: host state %s with %u request(s) in flight", j->idx,
				    st == PVFS_HOST_BROKEN ? "BROKEN" : "REMOVED", j->inflight);
		}
		if (j->ops != ops_seen) {
			ops_seen = j->ops;
			last_progress = now_ns();
		} else if ((double)(now_ns() - last_progress) > (o.reconnect_timeout + 10) * 1e9) {
			die("queue %d: no completion for %.0f s with %u request(s) in flight",
			    j->idx, o.reconnect_timeout + 10, j->inflight);
		}
	}
}

static void *job_main(void *arg)
{
	struct job *j = arg;

	if (o.poll && o.tenant)
		pvfs_uguest_set_polling(j->uq, 1);
	j->t_start = now_ns();
	run_phase(j);
	j->t_end = now_ns();
	if (o.verify && is_write_workload() && !stop_flag) {
		j->verify_pass = true;
		run_phase(j);
	}
	if (__atomic_add_fetch(&nr_jobs_done, 1, __ATOMIC_ACQ_REL) == o.queues)
		__atomic_store_n(&jobs_done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- setup ---- */

static void setup_guest_ram(void)
{
	uint64_t count = (uint64_t)o.queues * o.iodepth, half;

	ram_size = count * o.bs;
	ram_fd = memfd_create("pvfs-bench-ram", MFD_CLOEXEC);
	if (ram_fd < 0 || ftruncate(ram_fd, (off_t)ram_size) < 0)
		die("guest RAM: %m");
	ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
	if (ram == MAP_FAILED)
		die("guest RAM: mmap: %m");
	/*
	 * Two guest-physical ranges, like a PC's RAM below and above the PCI
	 * hole: buffers in the second half live at 4 GiB and up.
	 */
	half = (count / 2) * o.bs;
	memtab[0] = (struct pvfs_memregion){ .gpa = 0, .size = half ? half : ram_size,
					     .fd = ram_fd, .offset = 0 };
	memtab[1] = (struct pvfs_memregion){ .gpa = 1ull << 32, .size = ram_size - half,
					     .fd = ram_fd, .offset = half };
}

static uint64_t buf_gpa(uint64_t host_off)
{
	if (host_off < memtab[0].size)
		return memtab[0].gpa + host_off;
	return memtab[1].gpa + (host_off - memtab[1].offset);
}

static unsigned nr_memtab(void)
{
	return memtab[1].size ? 2 : 1;
}

static void do_plug(void)
{
	char err[512];
	int r = pvfs_plug(o.sock, o.tenant, region, memtab, nr_memtab(), &plug, err, sizeof(err));

	if (r < 0)
		die("plug %s: %s", o.tenant, err);
}

/*
 * watch_plug - the main thread's job while the workers run: if pvfsd goes
 * away, plug the same region again once it is back (it re-issues what was
 * in flight, so the workers only see a stall).
 */
static void watch_plug(void)
{
	while (!__atomic_load_n(&jobs_done, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = { .fd = pvfs_plug_fd(plug), .events = POLLIN };
		char buf[256], err[512];
		uint64_t deadline;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(pfd.fd, buf, sizeof(buf)) > 0)
			continue;
		if (!o.quiet)
			fprintf(stderr, "pvfs-bench: lost pvfsd; re-plugging (up to %.0f s)\n",
				o.reconnect_timeout);
		pvfs_unplug(plug);
		plug = NULL;
		deadline = now_ns() + (uint64_t)(o.reconnect_timeout * 1e9);
		while (!plug) {
			int r = pvfs_plug(o.sock, o.tenant, region, memtab, nr_memtab(), &plug,
					  err, sizeof(err));

			if (r == 0)
				break;
			if (now_ns() > deadline)
				die("pvfsd did not come back within %.0f s: %s",
				    o.reconnect_timeout, err);
			/* Retry pacing while the daemon restarts, not synchronisation. */
			usleep(100000);
		}
		if (!o.quiet)
			fprintf(stderr, "pvfs-bench: re-plugged into pvfsd\n");
	}
}

static void on_signal(int sig)
{
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: pvfs-bench [OPTIONS] --tenant NAME     (through pvfsd)\n"
"       pvfs-bench [OPTIONS] --direct FILE     (io_uring on FILE, the baseline)\n"
"       pvfs-bench [OPTIONS] --rbd POOL/IMAGE  (librbd on a Ceph image, the RBD baseline)\n"
"       pvfs-bench [OPTIONS] --nbd URI         (libnbd on an NBD export, the NBD baseline)\n\n"
"  -s, --socket PATH        pvfsd control socket (default $PVFS_SOCKET or %s)\n"
"  -T, --tenant NAME        plug into this tenant\n"
"      --volume PATH        attach the tenant first (if it is not attached)\n"
"      --cache MODE         with --volume: none (default) or writeback\n"
"      --direct FILE        run the workload on FILE directly\n"
"      --buffered           with --direct: no O_DIRECT\n"
"      --rbd POOL/IMAGE     run the workload on the RBD image with librbd (one queue)\n"
"      --ceph-conf PATH     with --rbd: the cluster's ceph.conf (default $CEPH_CONF)\n"
"      --ceph-id NAME       with --rbd: the client name, without \"client.\" (admin)\n"
"      --nbd URI            run the workload on the NBD export with libnbd (one queue,\n"
"                           one connection): nbd://HOST[:PORT]/EXPORT, nbd+unix:///...\n"
"      --rw MODE            read|write|randread|randwrite|randrw|backread (randread)\n"
"      --rwmixread PCT      randrw: percentage of reads (50)\n"
"      --bs SIZE            block size (4k)\n"
"      --seg-size SIZE      split each request into segments of SIZE (= bs)\n"
"      --iodepth N          requests in flight per queue (1)\n"
"      --queues N           queue pairs, one thread each (1)\n"
"      --size SIZE          bytes of the volume to use (default: its capacity)\n"
"      --runtime SECONDS    run time (5)\n"
"      --ios N              stop after N I/Os in all instead\n"
"      --verify             write self-checking blocks and verify all reads\n"
"      --seed N             verify seed: who wrote a block (1)\n"
"      --poll               poll completions (NO_INTERRUPT) instead of waiting\n"
"      --reconnect-timeout S  how long to wait for a restarted pvfsd (30)\n"
"      --json               machine-readable result\n"
"  -q, --quiet              no progress messages\n", PVFS_CTL_DEFAULT_SOCKET);
}

static uint64_t size_arg(const char *name, const char *v)
{
	uint64_t x;

	if (parse_size(v, &x) < 0)
		die("invalid %s \"%s\" (e.g. 4k, 1M, 2G)", name, v);
	return x;
}

static uint64_t num_arg(const char *name, const char *v, uint64_t lo, uint64_t hi)
{
	uint64_t x;

	if (parse_u64(v, &x) < 0 || x < lo || x > hi)
		die("invalid %s \"%s\" (a number %llu-%llu)", name, v, (unsigned long long)lo,
		    (unsigned long long)hi);
	return x;
}

static double secs_arg(const char *name, const char *v)
{
	char *end;
	double d = strtod(v, &end);

	if (*end || !(d > 0) || d > 1e6)
		die("invalid %s \"%s\" (seconds > 0)", name, v);
	return d;
}

static void parse_args(int argc, char **argv)
{
	enum { O_VOLUME = 256, O_DIRECT_, O_BUFFERED, O_RW, O_MIX, O_BS, O_SEG, O_DEPTH,
	       O_QUEUES, O_SIZE, O_RUNTIME, O_IOS, O_VERIFY, O_SEED, O_POLL, O_RECONNECT,
	       O_JSON, O_CACHE, O_RBD, O_CEPH_CONF, O_CEPH_ID, O_NBD };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "tenant", required_argument, NULL, 'T' },
		{ "volume", required_argument, NULL, O_VOLUME },
		{ "cache", required_argument, NULL, O_CACHE },
		{ "direct", required_argument, NULL, O_DIRECT_ },
		{ "buffered", no_argument, NULL, O_BUFFERED },
		{ "rbd", required_argument, NULL, O_RBD },
		{ "ceph-conf", required_argument, NULL, O_CEPH_CONF },
		{ "ceph-id", required_argument, NULL, O_CEPH_ID },
		{ "nbd", required_argument, NULL, O_NBD },
		{ "rw", required_argument, NULL, O_RW },
		{ "rwmixread", required_argument, NULL, O_MIX },
		{ "bs", required_argument, NULL, O_BS },
		{ "seg-size", required_argument, NULL, O_SEG },
		{ "iodepth", required_argument, NULL, O_DEPTH },
		{ "queues", required_argument, NULL, O_QUEUES },
		{ "size", required_argument, NULL, O_SIZE },
		{ "runtime", required_argument, NULL, O_RUNTIME },
		{ "ios", required_argument, NULL, O_IOS },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "seed", required_argument, NULL, O_SEED },
		{ "poll", no_argument, NULL, O_POLL },
		{ "reconnect-timeout", required_argument, NULL, O_RECONNECT },
		{ "json", no_argument, NULL, O_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:T:qh", opts, NULL)) != -1) {
		switch (c) {
		case 's': o.sock = optarg; break;
		case 'T': o.tenant = optarg; break;
		case O_VOLUME: o.volume = optarg; break;
		case O_CACHE: o.cache = optarg; break;
		case O_DIRECT_: o.direct = optarg; break;
		case O_BUFFERED: o.buffered = true; break;
		case O_RBD: o.rbd = optarg; break;
		case O_CEPH_CONF: o.ceph_conf = optarg; break;
		case O_CEPH_ID: o.ceph_id = optarg; break;
		case O_NBD: o.nbd = optarg; break;
		case O_RW:
			for (c = 0; c < (int)ARRAY_SIZE(rw_names); c++)
				if (!strcmp(optarg, rw_names[c]))
					break;
			if (c == (int)ARRAY_SIZE(rw_names))
				die("invalid --rw \"%s\" (read|write|randread|randwrite|randrw|"
				    "backread)", optarg);
			o.rw = (enum rw)c;
			break;
		case O_MIX: o.rwmixread = (uint32_t)num_arg("--rwmixread", optarg, 0, 100); break;
		case O_BS: o.bs = size_arg("--bs", optarg); break;
		case O_SEG: o.seg_size = size_arg("--seg-size", optarg); break;
		case O_DEPTH: o.iodepth = (uint32_t)num_arg("--iodepth", optarg, 1, 1024); break;
		case O_QUEUES:
			o.queues = (uint32_t)num_arg("--queues", optarg, 1, PVFS_MAX_QUEUES);
			break;
		case O_SIZE: o.size = size_arg("--size", optarg); break;
		case O_RUNTIME: o.runtime = secs_arg("--runtime", optarg); break;
		case O_IOS: o.ios = num_arg("--ios", optarg, 1, UINT64_MAX >> 1); break;
		case O_VERIFY: o.verify = true; break;
		case O_SEED: o.seed = num_arg("--seed", optarg, 0, UINT64_MAX >> 1); break;
		case O_POLL: o.poll = true; break;
		case O_RECONNECT: o.reconnect_timeout = secs_arg("--reconnect-timeout", optarg); break;
		case O_JSON: o.json = true; break;
		case 'q': o.quiet = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(1);
		}
	}
	if (optind < argc)
		die("unexpected argument \"%s\"", argv[optind]);
	if (!!o.tenant + !!o.direct + !!o.rbd + !!o.nbd != 1)
		die("give exactly one of --tenant NAME, --direct FILE, --rbd POOL/IMAGE or --nbd URI "
		    "(see --help)");
	if (o.nbd && o.queues != 1)
		die("--nbd runs one queue (one libnbd handle)");
	if (o.rbd && o.queues != 1)
		die("--rbd runs one queue (one image handle, one completion eventfd)");
	if (o.bs < 512 || o.bs % 512 || o.bs > (1u << 20))
		die("--bs must be a multiple of 512 up to 1M");
	if (!o.seg_size)
		o.seg_size = o.bs;
	if (o.seg_size % 512 || o.bs / o.seg_size > PVFS_MAX_SEGS || o.bs % o.seg_size)
		die("--seg-size must be a multiple of 512 dividing --bs into at most %u segments",
		    PVFS_MAX_SEGS);
	if (o.verify && o.bs < sizeof(struct verify_hdr))
		die("--verify needs --bs of at least %zu", sizeof(struct verify_hdr));
	if (o.iodepth > PVFS_MAX_DEPTH)
		die("--iodepth is at most %u", PVFS_MAX_DEPTH);
	o.sock = rpc_socket_path(o.sock);
}

static uint64_t setup_pvfs(void)
{
	struct pvfs_region_params rp = { .nr_queues = o.queues, .max_segs = PVFS_MAX_SEGS };
	struct pvfs_region_hdr *h;
	char err[512];
	uint32_t depth = 2;
	uint64_t deadline;
	int r;

	while (depth < o.iodepth)
		depth <<= 1;
	rp.depth = depth;
	rp.max_segs = (uint32_t)(o.bs / o.seg_size);
	if (o.volume) {
		struct pvfs_attach_opts ao = { .volume = o.volume, .cache = o.cache };

		r = pvfs_attach(o.sock, o.tenant, &ao, err, sizeof(err));
		if (r < 0 && r != -EEXIST)
			die("attach %s: %s", o.tenant, err);
	}
	r = pvfs_region_create(&rp, &region);
	if (r < 0)
		die("cannot create region: %s", strerror(-r));
	setup_guest_ram();
	do_plug();
	r = pvfs_uguest_init(&guest, region);
	if (r < 0)
		die("guest driver: %s", strerror(-r));
	/* pvfsd sets READY before it answers plug; this wait is only a guard. */
	deadline = now_ns() + 5000000000ull;
	while (pvfs_uguest_host_state(&guest, NULL) != PVFS_HOST_READY)
		if (now_ns() > deadline)
			die("host did not become ready");
	h = pvfs_region_hdr(region);
	if (o.bs % h->logical_block_size)
		die("--bs must be a multiple of the volume's block size %u", h->logical_block_size);
	if (o.bs > h->max_io_bytes)
		die("--bs is above the host's max I/O size %u", h->max_io_bytes);
	return h->capacity;
}

static uint64_t setup_direct(void)
{
	struct stat st;
	int fd = open(o.direct, (o.buffered ? 0 : O_DIRECT) | O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("cannot open %s: %m", o.direct);
	if (fstat(fd, &st) < 0)
		die("%s: %m", o.direct);
	close(fd);
	return (uint64_t)st.st_size;
}

/* setup_rbd - connect, open the image, route its completions to rbd_efd. */
static uint64_t setup_rbd(void)
{
	char pool[256];
	const char *image = strchr(o.rbd, '/');
	uint64_t size;
	int r;

	if (!image || image == o.rbd || !image[1] || (size_t)(image - o.rbd) >= sizeof(pool))
		die("--rbd wants POOL/IMAGE, got \"%s\"", o.rbd);
	snprintf(pool, sizeof(pool), "%.*s", (int)(image - o.rbd), o.rbd);
	image++;
	r = rados_create(&rados, o.ceph_id ? o.ceph_id : "admin");
	if (r < 0)
		die("rados_create: %s", strerror(-r));
	r = rados_conf_read_file(rados, o.ceph_conf);
	if (r < 0)
		die("cannot read ceph config %s: %s", o.ceph_conf ? o.ceph_conf : "($CEPH_CONF)",
		    strerror(-r));
	rados_conf_set(rados, "client_mount_timeout", "15");
	r = rados_connect(rados);
	if (r < 0)
		die("cannot connect to the Ceph cluster: %s", strerror(-r));
	r = rados_ioctx_create(rados, pool, &rados_io);
	if (r < 0)
		die("pool %s: %s", pool, strerror(-r));
	r = rbd_open(rados_io, image, &rbd_image, NULL);
	if (r < 0)
		die("image %s: %s", o.rbd, strerror(-r));
	rbd_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rbd_efd < 0)
		die("eventfd: %m");
	r = rbd_set_image_notification(rbd_image, rbd_efd, EVENT_TYPE_EVENTFD);
	if (r < 0)
		die("rbd_set_image_notification: %s", strerror(-r));
	r = rbd_get_size(rbd_image, &size);
	if (r < 0)
		die("rbd_get_size: %s", strerror(-r));
	return size;
}

/* setup_nbd - connect (blocking is fine here) and read the export's size. */
static uint64_t setup_nbd(void)
{
	int64_t size;

	nbd = nbd_create();
	if (!nbd)
		die("nbd_create: %s", nbd_get_error());
	/* As pvfsd's backend: reads are not zeroed first. */
	nbd_set_pread_initialize(nbd, false);
	if (nbd_connect_uri(nbd, o.nbd) < 0)
		die("cannot connect to %s: %s", o.nbd, nbd_get_error());
	size = nbd_get_size(nbd);
	if (size < 0)
		die("%s: %s", o.nbd, nbd_get_error());
	return (uint64_t)size;
}

static void teardown_rbd(void)
{
	if (rbd_image)
		rbd_close(rbd_image);
	if (rados_io)
		rados_ioctx_destroy(rados_io);
	if (rados)
		rados_shutdown(rados);
	if (rbd_efd >= 0)
		close(rbd_efd);
}

static void init_jobs(struct job *jobs)
{
	for (uint32_t i = 0; i < o.queues; i++) {
		struct job *j = &jobs[i];

		j->idx = (int)i;
		j->rng = o.seed * 0x9e3779b97f4a7c15ull + i + 1;
		j->nblocks = total_blocks / o.queues + (i < total_blocks % o.queues);
		j->slots = calloc(PVFS_MAX_DEPTH, sizeof(*j->slots));
		if (!j->slots)
			die("out of memory");
		if (o.direct) {
			int r = io_uring_queue_init(o.iodepth * 2, &j->ring, 0);

			if (r < 0)
				die("io_uring: %s", strerror(-r));
			j->fd = open(o.direct, (o.buffered ? 0 : O_DIRECT) | O_RDWR | O_CLOEXEC);
			if (j->fd < 0)
				die("%s: %m", o.direct);
			if (posix_memalign((void **)&j->buf, 4096, o.iodepth * o.bs))
				die("out of memory");
			memset(j->buf, 0, o.iodepth * o.bs);
		} else if (o.rbd || o.nbd) {
			if (posix_memalign((void **)&j->buf, 4096, o.iodepth * o.bs))
				die("out of memory");
			memset(j->buf, 0, o.iodepth * o.bs);
		} else {
			uint64_t depth = region->depth;

			j->uq = &guest.queues[i];
			/* Tag t of queue i uses buffer i * iodepth + t (tags < iodepth). */
			j->buf = ram + (uint64_t)i * o.iodepth * o.bs;
			for (uint64_t t = 0; t < depth && t < o.iodepth; t++)
				j->buf_gpa[t] = buf_gpa((uint64_t)(j->buf - ram) + t * o.bs);
			/* Tags below iodepth only, so every tag has a buffer. */
			pvfs_uguest_limit_tags(j->uq, o.iodepth);
		}
	}
}

static const char *target_kind(void)
{
	return o.direct ? "direct" : o.rbd ? "librbd" : o.nbd ? "libnbd" : "pvfsd";
}

static const char *target_name(void)
{
	return o.direct ? o.direct : o.rbd ? o.rbd : o.nbd ? o.nbd : o.tenant;
}

static void report(struct job *jobs, uint64_t capacity)
{
	uint64_t hist[HIST_BUCKETS] = { 0 };
	uint64_t ops = 0, bytes = 0, errors = 0, verrs = 0, verified = 0, irqs = 0, kicks = 0;
	uint64_t t0 = UINT64_MAX, t1 = 0, submitted = 0, lat_sum = 0, all_ops = 0;
	double secs, iops, mibps;

	for (uint32_t i = 0; i < o.queues; i++) {
		struct job *j = &jobs[i];

		ops += j->ops;
		all_ops += j->ops;
		lat_sum += j->lat_sum_ns;
		bytes += j->bytes;
		errors += j->errors;
		verrs += j->verify_errors;
		verified += j->verified;
		irqs += j->irqs;
		t0 = MIN(t0, j->t_start);
		t1 = MAX(t1, j->t_end);
		for (unsigned b = 0; b < HIST_BUCKETS; b++)
			hist[b] += j->hist[b];
		if (j->uq) {
			kicks += j->uq->kicks;
			submitted += j->uq->submitted;
		}
	}
	secs = (double)(t1 - t0) / 1e9;
	/* Rates over the measured phase; the verify pass is not part of them. */
	if (o.verify && is_write_workload()) {
		uint64_t vops = verified;

		ops -= MIN(ops, vops);
		bytes -= MIN(bytes, vops * o.bs);
	}
	iops = secs > 0 ? (double)ops / secs : 0;
	mibps = secs > 0 ? (double)bytes / secs / 1048576.0 : 0;
	if (o.json) {
		json_t *r = json_pack("{s:s, s:s, s:I, s:i, s:i, s:I, s:f, s:I, s:I, s:f, s:f, "
				      "s:{s:f, s:f, s:f, s:f, s:f}, s:I, s:I, s:I, s:I, s:I}",
				      "target", target_kind(),
				      "rw", rw_names[o.rw], "bs", (json_int_t)o.bs,
				      "iodepth", (int)o.iodepth, "queues", (int)o.queues,
				      "size", (json_int_t)capacity, "seconds", secs,
				      "ops", (json_int_t)ops, "bytes", (json_int_t)bytes,
				      "iops", iops, "mibps", mibps,
				      "lat_us", "p50", hist_percentile_us(hist, 0.5),
				      "p99", hist_percentile_us(hist, 0.99),
				      "p999", hist_percentile_us(hist, 0.999),
				      "max", hist_percentile_us(hist, 1.0),
				      "mean", all_ops ? (double)lat_sum / (double)all_ops / 1000.0 : 0.0,
				      "errors", (json_int_t)errors, "verify_errors", (json_int_t)verrs,
				      "verified", (json_int_t)verified, "doorbells", (json_int_t)kicks,
				      "interrupts", (json_int_t)irqs);

		json_object_set_new(r, "submitted", json_integer((json_int_t)submitted));
		if (o.tenant)
			json_object_set_new(r, "tenant", json_string(o.tenant));
		json_dumpf(r, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(r);
	} else {
		printf("%s %s: %s bs=%llu iodepth=%u queues=%u, %.2f s\n",
		       target_kind(), target_name(), rw_names[o.rw],
		       (unsigned long long)o.bs, o.iodepth, o.queues, secs);
		printf("  %llu ops  %.0f IOPS  %.1f MiB/s  latency us: p50 %.1f  p99 %.1f  "
		       "p99.9 %.1f\n", (unsigned long long)ops, iops, mibps,
		       hist_percentile_us(hist, 0.5), hist_percentile_us(hist, 0.99),
		       hist_percentile_us(hist, 0.999));
		if (o.tenant)
			printf("  doorbells %llu (%.4f per I/O)  interrupts %llu (%.4f per I/O)\n",
			       (unsigned long long)kicks, submitted ? (double)kicks / (double)submitted : 0,
			       (unsigned long long)irqs, submitted ? (double)irqs / (double)submitted : 0);
		if (o.verify)
			printf("  verify: %llu block(s) checked, %llu error(s)\n",
			       (unsigned long long)verified, (unsigned long long)verrs);
		if (errors)
			printf("  I/O errors: %llu (first: %s)\n", (unsigned long long)errors,
			       strerror(-jobs[0].first_error ? -jobs[0].first_error : EIO));
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t capacity;
	struct job *jobs;
	uint64_t errors = 0;

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	parse_args(argc, argv);
	capacity = o.direct ? setup_direct() : o.rbd ? setup_rbd() : o.nbd ? setup_nbd() :
		   setup_pvfs();
	if (o.size && o.size < capacity)
		capacity = o.size;
	total_blocks = capacity / o.bs;
	if (total_blocks < o.queues)
		die("the volume (%llu bytes) has fewer than %u blocks of %llu bytes",
		    (unsigned long long)capacity, o.queues, (unsigned long long)o.bs);
	block_gen = calloc(total_blocks, sizeof(*block_gen));
	block_busy = calloc(total_blocks, 1);
	jobs = calloc(o.queues, sizeof(*jobs));
	if (!block_gen || !block_busy || !jobs)
		die("out of memory");
	init_jobs(jobs);
	if (!o.quiet && !o.json)
		fprintf(stderr, "pvfs-bench: %s %s, %s, %llu MiB, running...\n",
			o.direct ? "direct on" : o.rbd ? "librbd on" : o.nbd ? "libnbd on" : "tenant",
			target_name(),
			rw_names[o.rw], (unsigned long long)(capacity >> 20));
	for (uint32_t i = 0; i < o.queues; i++)
		if (pthread_create(&jobs[i].thread, NULL, job_main, &jobs[i]))
			die("cannot start thread");
	if (plug)
		watch_plug();
	for (uint32_t i = 0; i < o.queues; i++)
		pthread_join(jobs[i].thread, NULL);
	report(jobs, capacity);
	for (uint32_t i = 0; i < o.queues; i++)
		errors += jobs[i].errors + jobs[i].verify_errors;
	for (uint32_t i = 0; i < o.queues; i++) {
		free(jobs[i].slots);
		if (o.direct) {
			io_uring_queue_exit(&jobs[i].ring);
			close(jobs[i].fd);
			free(jobs[i].buf);
		} else if (o.rbd || o.nbd) {
			free(jobs[i].buf);
		}
	}
	free(jobs);
	free(block_gen);
	free(block_busy);
	teardown_rbd();
	if (nbd)
		nbd_close(nbd);
	pvfs_unplug(plug);
	pvfs_uguest_free(&guest);
	pvfs_region_free(region);
	if (ram)
		munmap(ram, ram_size);
	if (ram_fd >= 0)
		close(ram_fd);
	return errors ? 1 : 0;
}
