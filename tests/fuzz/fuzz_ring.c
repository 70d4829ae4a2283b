/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ring - libFuzzer harness for pvfsd's data plane against a hostile
 * guest: the real tenant and poller code (daemon/tenant.c, poller.c,
 * request.c, sched.c) in this process, with one poller that the harness
 * runs one pass at a time (poller_test.h, no thread), so that the input
 * decides exactly what the guest's shared memory holds between passes.
 *
 * Two tenants on 1 MiB volumes in a temporary directory (on /dev/shm if
 * there is one), plugged with real regions, eventfds and guest-RAM memfds
 * from libpvfs-shim:
 *   - "evil" (2 queues of depth 8, 4 segments per tag): the input scribbles
 *     on its whole region (header, indices, SQEs, segment tables, CQ,
 *     in-flight table), publishes any SQ tail, rings its doorbells, and
 *     unplugs and plugs it again, which makes pvfsd recover from whatever
 *     the in-flight table then holds;
 *   - "good" (1 queue): the userspace guest driver (pvfs_uguest_*) writes a
 *     4 KiB block and reads it back, round trip after round trip, advanced
 *     after every poller pass.
 * The poller's in-flight cap is 4, so evil can fill it and leave SQEs it
 * published seen but not yet consumed.
 *
 * Input: a sequence of operations, each a byte (mod 9) and its arguments;
 * see the OP_* list below. After the operations the harness runs passes
 * until good's current round trip is done, then unplugs evil, drains it
 * and plugs a fresh region, so every input starts from the same state.
 *
 * What aborts the run (libFuzzer reports a crash): a sanitizer report; a
 * poller pass that runs for more than 1 s of CPU time (a watchdog thread
 * sends SIGABRT to the pass, so the report shows where it loops); good not
 * RUNNING, its request failing, its read returning other data than it
 * wrote, its round trip not done in 10 s, or its guest RAM changed outside
 * its buffers; evil in any state but running, broken, or unplugged after a
 * re-plug of a region it made invalid; evil not drained in 10 s; pvfsd's
 * descriptors piling up.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
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

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) do { fprintf(stderr, "fuzz_ring: " __VA_ARGS__); fputc('\n', stderr); \
		       abort(); } while (0)

#define VOL_SIZE	(1u << 20)
#define RAM_SIZE	(64u * 1024)	/* per tenant; evil's is split at gpa 0 and 4 GiB */
#define EVIL_QUEUES	2u
#define EVIL_DEPTH	8u
#define EVIL_SEGS	4u
#define INFLIGHT_CAP	4u
#define BLOCK		4096u
#define MAX_OPS		64		/* per input */
#define MAX_PASSES	256		/* run by OP_PASS, per input */
#define MAX_REPLUGS	4		/* per input */
#define OP_SLEEP_NS	50000ull	/* the most an idle OP_PASS pass may sleep */
#define SETTLE_SLEEP_NS	1000000ull	/* ... and a pass that waits for I/O */
#define SETTLE_NS	10000000000ull	/* bound on a round trip or a drain */
#define PASS_CPU_NS	1000000000ull	/* bound on one pass */

/* Good's guest RAM: what it writes, what it reads back, the rest a canary. */
#define GOOD_WBUF	0u
#define GOOD_RBUF	(2 * BLOCK)
#define CANARY		0x5a

struct vm {
	const char *name;
	struct tenant *t;
	struct pvfs_region *r;
	struct pvfs_region_params rp;
	int ram_fd;
	uint8_t *ram;
	struct plug_params pp;
};

static char dir[64], voldir[128];
static struct vm evil = { .name = "evil" }, good = { .name = "good" };
static struct pvfs_queue evil_q[EVIL_QUEUES];	/* the harness's view of evil's queues */
static bool evil_plug_refused;			/* a re-plug found the region invalid */
static int fd_baseline;
static bool verbose;				/* FUZZ_VERBOSE: pvfsd's log and a line per input */

/* Good's round trips: write a block, read it back, compare; then the next. */
static struct {
	struct pvfs_uguest g;
	enum { GOOD_IDLE, GOOD_WRITE, GOOD_READ } st;
	bool again;			/* start the next round trip when one is done */
	int tag;
	uint32_t round;			/* round trips done since the start */
	uint32_t done;			/* ... in this input */
} gd;

/* The watchdog: pass_seq is odd while a pass runs. */
static pthread_t main_thread;
static clockid_t main_cpu;
static uint64_t pass_seq;

static void *watchdog(void *arg)
{
	uint64_t seen = 0, cpu0 = 0;

	for (;;) {
		struct timespec ts = { .tv_nsec = 100000000 };
		uint64_t seq, cpu;

		nanosleep(&ts, NULL);
		seq = __atomic_load_n(&pass_seq, __ATOMIC_ACQUIRE);
		if (clock_gettime(main_cpu, &ts) < 0)
			continue;
		cpu = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		if (!(seq & 1) || seq != seen) {
			seen = seq;
			cpu0 = cpu;
			continue;
		}
		if (cpu - cpu0 > PASS_CPU_NS) {
			fprintf(stderr, "fuzz_ring: one poller pass has run for more than %llu ms "
				"of CPU time: a loop bounded by what the guest wrote?\n",
				(unsigned long long)((cpu - cpu0) / 1000000));
			/* In the looping thread, so that the report shows the loop. */
			pthread_kill(main_thread, SIGABRT);
			return NULL;
		}
	}
}

static void cleanup(void)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/evil.img", voldir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/good.img", voldir);
	unlink(path);
	rmdir(voldir);
	rmdir(dir);
}

static void on_drained(struct tenant_io *tio)
{
	tenant_drained(tio);
}

/* ---- plugging ---- */

/* vm_plug - plug vm's region with fresh copies of its fds, as a VMM would. */
static int vm_plug(struct vm *vm, char *err, size_t errlen)
{
	int fds[1 + 2 * PVFS_MAX_QUEUES + PVFS_CTL_MAX_MEMREGIONS];
	size_t n = 0;
	int r;

	fds[n++] = fcntl(vm->r->memfd, F_DUPFD_CLOEXEC, 0);
	for (uint32_t i = 0; i < vm->r->nr_queues; i++)
		fds[n++] = fcntl(vm->r->kick_fd[i], F_DUPFD_CLOEXEC, 0);
	for (uint32_t i = 0; i < vm->r->nr_queues; i++)
		fds[n++] = fcntl(vm->r->call_fd[i], F_DUPFD_CLOEXEC, 0);
	for (uint32_t i = 0; i < vm->pp.nr_mem; i++)
		fds[n++] = fcntl(vm->ram_fd, F_DUPFD_CLOEXEC, 0);
	for (size_t i = 0; i < n; i++)
		if (fds[i] < 0)
			FAIL("dup: %m");
	r = tenant_plug(&vm->pp, fds, n, NULL, err, errlen);
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

static void evil_new_region(void)
{
	pvfs_region_free(evil.r);
	evil.r = NULL;
	if (pvfs_region_create(&evil.rp, &evil.r) < 0)
		FAIL("cannot create evil's region");
	for (uint32_t i = 0; i < EVIL_QUEUES; i++)
		pvfs_queue_init(&evil_q[i], evil.r->base, i, EVIL_DEPTH, EVIL_SEGS);
}

/* ---- one pass, and what must hold after it ---- */

static void good_submit(bool write)
{
	struct pvfs_uguest_queue *uq = &gd.g.queues[0];
	uint64_t off = (uint64_t)(gd.round * 7u % (VOL_SIZE / BLOCK)) * BLOCK;
	struct pvfs_sqe sqe = {
		.opcode = write ? PVFS_OP_WRITE : PVFS_OP_READ,
		.nr_segs = 1,
		.len = BLOCK,
		.offset = off,
	};
	struct pvfs_seg seg = { .addr = write ? GOOD_WBUF : GOOD_RBUF, .len = BLOCK };

	gd.tag = pvfs_uguest_queue_sqe(uq, &sqe, &seg, 1);
	if (gd.tag < 0)
		FAIL("good has no free tag: %s", strerror(-gd.tag));
	if (pvfs_uguest_commit(uq) < 0)
		FAIL("good cannot ring its doorbell: %m");
}

static void good_start(void)
{
	uint8_t *w = good.ram + GOOD_WBUF;

	/* The round number at both ends: a stale block reads back different. */
	memset(w, (int)(gd.round * 31u + 1), BLOCK);
	memcpy(w, &gd.round, sizeof(gd.round));
	memcpy(w + BLOCK - sizeof(gd.round), &gd.round, sizeof(gd.round));
	memset(good.ram + GOOD_RBUF, 0xee, BLOCK);
	good_submit(true);
	gd.st = GOOD_WRITE;
}

static void good_step(void)
{
	struct pvfs_cqe cqe;

	if (gd.st == GOOD_IDLE || !pvfs_uguest_reap(&gd.g.queues[0], &cqe, 1))
		return;
	if (cqe.tag != gd.tag || cqe.result != (int32_t)BLOCK)
		FAIL("good's %s (tag %d) completed as tag %u with %d",
		     gd.st == GOOD_WRITE ? "write" : "read", gd.tag, cqe.tag, cqe.result);
	if (gd.st == GOOD_WRITE) {
		good_submit(false);
		gd.st = GOOD_READ;
		return;
	}
	if (memcmp(good.ram + GOOD_RBUF, good.ram + GOOD_WBUF, BLOCK))
		FAIL("good read back other data than it wrote (round trip %u)", gd.round);
	gd.round++;
	gd.done++;
	gd.st = GOOD_IDLE;
	if (gd.again)
		good_start();
}

static void check_good(void)
{
	enum tenant_state s = tenant_effective_state(good.t);
	struct pvfs_region_hdr *h = pvfs_region_hdr(good.r);

	if (s != TENANT_RUNNING)
		FAIL("good is %s (%s)", tenant_state_name(s),
		     good.t->broken_reason ? good.t->broken_reason : "no reason");
	if (PVFS_LOAD_ACQUIRE(&h->host_state) != PVFS_HOST_READY)
		FAIL("good's host_state is %u", h->host_state);
}

static void pass(uint64_t max_sleep_ns)
{
	__atomic_add_fetch(&pass_seq, 1, __ATOMIC_RELEASE);
	poller_test_pass(max_sleep_ns);
	__atomic_add_fetch(&pass_seq, 1, __ATOMIC_RELEASE);
	poller_reap_done(on_drained);
	check_good();
	good_step();
}

static void evil_unplug(void)
{
	uint64_t deadline = now_ns() + SETTLE_NS;

	tenant_unplug(evil.t);
	while (evil.t->state != TENANT_UNPLUGGED) {
		if (now_ns() > deadline)
			FAIL("evil did not drain in %llu s (state %s, %llu in flight)",
			     SETTLE_NS / 1000000000ull, tenant_state_name(evil.t->state),
			     (unsigned long long)stat_get(&evil.t->st.inflight));
		pass(SETTLE_SLEEP_NS);
	}
}

/* ---- the input ---- */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t in_u8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t in_u16(struct input *in)
{
	uint16_t lo = in_u8(in);

	return (uint16_t)(lo | in_u8(in) << 8);
}

static uint32_t in_u32(struct input *in)
{
	uint32_t lo = in_u16(in);

	return lo | (uint32_t)in_u16(in) << 16;
}

enum {
	OP_POKE,	/* off:u16 len:u8 bytes[len % 8 + 1]: raw bytes at region[off % size] */
	OP_FIELD,	/* sel:u8 val:u32: a header or queue-control field (field_off) = val */
	OP_SQE,		/* ctl opc tag nsegs len off:u16 seg: an SQE and its segments, see op_sqe */
	OP_PUBLISH,	/* ctl:u8 delta:i8: sq_tail of queue ctl&1 += delta (0: 1); kick if ctl&2 */
	OP_KICK,	/* q:u8: ring queue q&1's doorbell */
	OP_PASS,	/* n:u8: n%8+1 poller passes; idle ones sleep (50 us at most) if n&8 */
	OP_REAP_CQ,	/* ctl:u8: evil's cq_head of queue ctl&1 += ctl>>1, or = cq_tail if that is 0 */
	OP_REPLUG,	/* (none): unplug evil, drain it, plug the same region again */
	OP_INFLIGHT,	/* ctl tag state cqd:i8 sqd:i8: an in-flight record, see op_inflight */
	NR_OPS,
};

static uint8_t *evil_base(void)
{
	return evil.r->base;
}

/* field_off - region offset of the sel-th 32-bit field a guest may scribble on. */
static uint32_t field_off(uint8_t sel)
{
	static const uint32_t hdr[] = {
		PVFS_OFFSETOF(struct pvfs_region_hdr, magic),
		PVFS_OFFSETOF(struct pvfs_region_hdr, abi_version),
		PVFS_OFFSETOF(struct pvfs_region_hdr, region_size),
		PVFS_OFFSETOF(struct pvfs_region_hdr, nr_queues),
		PVFS_OFFSETOF(struct pvfs_region_hdr, queue_depth),
		PVFS_OFFSETOF(struct pvfs_region_hdr, max_segs),
		PVFS_OFFSETOF(struct pvfs_region_hdr, queue_stride),
		PVFS_OFFSETOF(struct pvfs_region_hdr, host_features),
		PVFS_OFFSETOF(struct pvfs_region_hdr, capacity),
		PVFS_OFFSETOF(struct pvfs_region_hdr, host_state),
		PVFS_OFFSETOF(struct pvfs_region_hdr, host_generation),
		PVFS_OFFSETOF(struct pvfs_region_hdr, guest_features),
		PVFS_OFFSETOF(struct pvfs_region_hdr, guest_generation),
		/* A reset request at any moment, and the host's answer scribbled on. */
		PVFS_OFFSETOF(struct pvfs_region_hdr, reset_req),
		PVFS_OFFSETOF(struct pvfs_region_hdr, reset_ack),
		PVFS_OFFSETOF(struct pvfs_region_hdr, config_generation),
	};
	static const uint32_t ctrl[] = {
		PVFS_OFFSETOF(struct pvfs_queue_ctrl, sq_tail),
		PVFS_OFFSETOF(struct pvfs_queue_ctrl, sq_head),
		PVFS_OFFSETOF(struct pvfs_queue_ctrl, sq_flags),
		PVFS_OFFSETOF(struct pvfs_queue_ctrl, cq_tail),
		PVFS_OFFSETOF(struct pvfs_queue_ctrl, cq_head),
		PVFS_OFFSETOF(struct pvfs_queue_ctrl, cq_flags),
	};
	unsigned i = sel % (ARRAY_SIZE(hdr) + EVIL_QUEUES * ARRAY_SIZE(ctrl));

	if (i < ARRAY_SIZE(hdr))
		return hdr[i];
	i -= ARRAY_SIZE(hdr);
	return (uint32_t)((uint8_t *)evil_q[i / ARRAY_SIZE(ctrl)].ctrl - evil_base()) +
	       ctrl[i % ARRAY_SIZE(ctrl)];
}

static void kick(uint32_t q)
{
	uint64_t one = 1;

	if (write(evil.r->kick_fd[q], &one, sizeof(one)) < 0 && errno != EAGAIN)
		FAIL("kick: %m");
}

static void publish(uint32_t q, int32_t delta, bool ring)
{
	struct pvfs_queue *eq = &evil_q[q];

	pvfs_sq_publish(eq, PVFS_READ_ONCE(&eq->ctrl->sq_tail) + (uint32_t)delta);
	if (ring && pvfs_sq_needs_kick(eq))
		kick(q);
}

/*
 * op_sqe - an SQE at slot sq_tail + (ctl>>4 & 7) of queue ctl&1, mostly
 * plausible so that requests get through validation and into io_uring:
 *   ctl:   bit 0 queue, 1 publish it (tail + 1), 2 kick if asked, 3 FUA,
 *          4-6 slot ahead of the tail
 *   opc:   opcode opc % 7 (5 and 6 invalid); bit 7 an unknown flag,
 *          bit 6 a misaligned offset
 *   tag:   tag & 7, or tag itself from 0xf8 on (out of range)
 *   nsegs: nsegs % 6 segments (5 is over max_segs)
 *   len:   len * 512 bytes
 *   off:   (off % 4096) * 512 (half of it beyond the 1 MiB volume)
 *   seg:   bit 7 RAM at 4 GiB instead of 0, bits 0-3 the first page
 *          (8-15 beyond the 32 KiB there), bit 4 misaligned, bit 5 one
 *          segment 512 bytes too long, bit 6 a nonzero reserved field
 */
static void op_sqe(struct input *in)
{
	uint8_t ctl = in_u8(in), opc = in_u8(in), tagb = in_u8(in), nsegs = in_u8(in);
	uint8_t len = in_u8(in);
	uint16_t off = in_u16(in);
	uint8_t seg = in_u8(in);
	uint32_t q = ctl & 1;
	struct pvfs_queue *eq = &evil_q[q];
	uint16_t tag = tagb >= 0xf8 ? tagb : tagb & 7;
	uint32_t n = nsegs % 6u, bytes = (uint32_t)len * 512u;
	uint64_t addr = ((seg & 0x80) ? 1ull << 32 : 0) + (seg & 15u) * 4096ull + !!(seg & 0x10);
	uint32_t slot = PVFS_READ_ONCE(&eq->ctrl->sq_tail) + (ctl >> 4 & 7u);
	struct pvfs_sqe sqe = {
		.opcode = (uint8_t)(opc % 7u),
		.flags = (uint8_t)(((ctl & 8) ? PVFS_SQE_FUA : 0) | ((opc & 0x80) ? 2 : 0)),
		.tag = tag,
		.nr_segs = (uint16_t)n,
		.len = bytes,
		.offset = (uint64_t)(off % 4096u) * 512u + !!(opc & 0x40),
	};
	struct pvfs_seg *segs = pvfs_tag_segs(eq, tag);

	for (uint32_t i = 0; i < n && i < EVIL_SEGS; i++) {
		uint32_t l = bytes / n;

		if (i == n - 1)
			l = bytes - l * (n - 1);
		segs[i] = (struct pvfs_seg){
			.addr = addr,
			.len = l + ((seg & 0x20) && i == 0 ? 512u : 0u),
			.rsvd = (seg & 0x40) ? 1u : 0u,
		};
		addr += l;
	}
	eq->sq[slot & eq->mask] = sqe;
	if (ctl & 2)
		publish(q, 1, ctl & 4);
}

/*
 * op_inflight - an in-flight record of queue ctl&1 for tag & 7, as if a
 * previous pvfsd had consumed a request (usually followed by OP_REPLUG):
 *   ctl:   bit 0 queue, 1 copy the SQE at SQ slot tag (else keep the record's),
 *          2 re-plug right after
 *   tag:   the record; the SQE copy gets tag itself (a mismatch from 8 on)
 *   state: state % 4 (3 unknown)
 *   cqd:   cq_idx = cq_tail + cqd; sqd: sq_idx = sq_head + sqd
 */
static void op_replug(void);

static void op_inflight(struct input *in)
{
	uint8_t ctl = in_u8(in), tag = in_u8(in), state = in_u8(in);
	int8_t cqd = (int8_t)in_u8(in), sqd = (int8_t)in_u8(in);
	struct pvfs_queue *eq = &evil_q[ctl & 1];
	struct pvfs_inflight *inf = &eq->inflight[tag & eq->mask];

	if (ctl & 2) {
		inf->sqe = eq->sq[tag & eq->mask];
		inf->sqe.tag = tag;
	}
	inf->state = state % 4u;
	inf->cq_idx = PVFS_READ_ONCE(&eq->ctrl->cq_tail) + (uint32_t)cqd;
	inf->sq_idx = PVFS_READ_ONCE(&eq->ctrl->sq_head) + (uint32_t)sqd;
	if (ctl & 4)
		op_replug();
}

static int replugs, passes;

static void op_replug(void)
{
	char err[512];

	if (replugs >= MAX_REPLUGS)
		return;
	replugs++;
	if (evil.t->state != TENANT_UNPLUGGED)
		evil_unplug();
	/* The guest may have made the header invalid: then the plug is refused. */
	evil_plug_refused = vm_plug(&evil, err, sizeof(err)) < 0;
}

static void run_op(struct input *in)
{
	uint8_t b = in_u8(in);

	switch (b % NR_OPS) {
	case OP_POKE: {
		uint32_t off = in_u16(in) % (uint32_t)evil.r->size;
		uint32_t len = in_u8(in) % 8u + 1;

		for (uint32_t i = 0; i < len && off + i < evil.r->size; i++)
			evil_base()[off + i] = in_u8(in);
		break;
	}
	case OP_FIELD: {
		uint32_t off = field_off(in_u8(in));

		PVFS_WRITE_ONCE((uint32_t *)(evil_base() + off), in_u32(in));
		break;
	}
	case OP_SQE:
		op_sqe(in);
		break;
	case OP_PUBLISH: {
		uint8_t ctl = in_u8(in);
		int8_t delta = (int8_t)in_u8(in);

		publish(ctl & 1, delta ? delta : 1, ctl & 2);
		break;
	}
	case OP_KICK:
		kick(in_u8(in) & 1);
		break;
	case OP_PASS: {
		uint8_t n = in_u8(in);

		for (int i = 0; i <= (n & 7) && passes < MAX_PASSES; i++, passes++)
			pass((n & 8) ? OP_SLEEP_NS : 0);
		break;
	}
	case OP_REAP_CQ: {
		uint8_t ctl = in_u8(in);
		struct pvfs_queue *eq = &evil_q[ctl & 1];
		uint32_t head = PVFS_READ_ONCE(&eq->ctrl->cq_head);

		pvfs_cq_release(eq, ctl >> 1 ? head + (ctl >> 1) : PVFS_LOAD_ACQUIRE(&eq->ctrl->cq_tail));
		break;
	}
	case OP_REPLUG:
		op_replug();
		break;
	case OP_INFLIGHT:
		op_inflight(in);
		break;
	}
}

/* ---- setup ---- */

static void vm_setup(struct vm *vm, const char *volname, uint32_t nq, uint32_t depth,
		     uint32_t segs, bool split_ram)
{
	struct attach_params ap = {
		.name = vm->name,
		.volume = volname,
		.cache = CACHE_NONE,
		.qos = SCHED_QOS_DEFAULT,
	};
	char err[512], path[160];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", voldir, volname);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, VOL_SIZE) < 0)
		FAIL("volume %s: %m", path);
	close(fd);
	r = tenant_attach(&ap, &vm->t, err, sizeof(err));
	if (r == -EINVAL) {
		/* No O_DIRECT on this file system: the page cache then. */
		ap.cache = CACHE_WRITEBACK;
		r = tenant_attach(&ap, &vm->t, err, sizeof(err));
	}
	if (r < 0)
		FAIL("attach %s: %s", vm->name, err);

	vm->ram_fd = memfd_create(vm->name, MFD_CLOEXEC);
	if (vm->ram_fd < 0 || ftruncate(vm->ram_fd, RAM_SIZE) < 0)
		FAIL("guest RAM: %m");
	vm->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, vm->ram_fd, 0);
	if (vm->ram == MAP_FAILED)
		FAIL("guest RAM: %m");
	vm->pp.name = vm->name;
	vm->pp.queues = nq;
	if (split_ram) {
		/* As a q35 guest has it: RAM below and above a hole. */
		vm->pp.mem[0] = (struct plug_mem){ .gpa = 0, .size = RAM_SIZE / 2 };
		vm->pp.mem[1] = (struct plug_mem){ .gpa = 1ull << 32, .size = RAM_SIZE / 2,
						   .offset = RAM_SIZE / 2 };
		vm->pp.nr_mem = 2;
	} else {
		vm->pp.mem[0] = (struct plug_mem){ .gpa = 0, .size = RAM_SIZE };
		vm->pp.nr_mem = 1;
	}
	vm->rp = (struct pvfs_region_params){ .nr_queues = nq, .depth = depth, .max_segs = segs };
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;
	pthread_t wd;
	char err[512];

	verbose = getenv("FUZZ_VERBOSE");
	log_init("fuzz_ring", verbose ? LOG_DEBUG : LOG_CRIT);
	signal(SIGPIPE, SIG_IGN);
	/* Volumes in memory if we can: a disk would set the pace. */
	if (!tmp || strlen(tmp) >= 32)
		tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
		      access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/pvfs-fuzz-XXXXXX", tmp);
	if (!mkdtemp(dir))
		FAIL("mkdtemp: %m");
	snprintf(voldir, sizeof(voldir), "%s/vols", dir);
	atexit(cleanup);
	if (mkdir(voldir, 0700) < 0)
		FAIL("mkdir %s: %m", voldir);
	if (config_set("volume-dir", voldir) < 0)
		FAIL("volume-dir %s refused", voldir);
	if (poller_test_start(cfg.sched_mode, INFLIGHT_CAP) < 0)
		FAIL("cannot start a poller (io_uring)");

	vm_setup(&good, "good.img", 1, 8, 1, false);
	if (pvfs_region_create(&good.rp, &good.r) < 0)
		FAIL("cannot create good's region");
	if (vm_plug(&good, err, sizeof(err)) < 0)
		FAIL("plug good: %s", err);
	if (pvfs_uguest_init(&gd.g, good.r) < 0)
		FAIL("out of memory");
	memset(good.ram, CANARY, RAM_SIZE);

	vm_setup(&evil, "evil.img", EVIL_QUEUES, EVIL_DEPTH, EVIL_SEGS, true);
	evil_new_region();
	if (vm_plug(&evil, err, sizeof(err)) < 0)
		FAIL("plug evil: %s", err);
	/* Both plugs are taken in by the first pass. */
	pass(0);

	main_thread = pthread_self();
	if (pthread_getcpuclockid(main_thread, &main_cpu) ||
	    pthread_create(&wd, NULL, watchdog, NULL))
		FAIL("cannot start the watchdog");
	/*
	 * libFuzzer symbolizes each newly covered function it reports, which
	 * starts llvm-symbolizer on a pair of pipes that stay open; start it now
	 * so that those belong to the baseline and are not taken for a leak.
	 */
	{
		char sym[256];

		__sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", sym, sizeof(sym));
	}
	fd_baseline = tl_fd_count(getpid());
	return 0;
}

static void check_canary(void)
{
	static uint8_t canary[RAM_SIZE];
	/* Good's RAM outside its two buffers; memcmp, not a loop the fuzzer traces. */
	static const struct { uint32_t start, end; } ranges[] = {
		{ GOOD_WBUF + BLOCK, GOOD_RBUF },
		{ GOOD_RBUF + BLOCK, RAM_SIZE },
	};

	if (!canary[0])
		memset(canary, CANARY, sizeof(canary));
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++)
		if (memcmp(good.ram + ranges[i].start, canary, ranges[i].end - ranges[i].start))
			FAIL("good's guest RAM changed outside its buffers (0x%x-0x%x)",
			     ranges[i].start, ranges[i].end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint64_t deadline;
	enum tenant_state es;
	char err[512];

	replugs = passes = 0;
	evil_plug_refused = false;
	gd.done = 0;
	gd.again = true;
	good_start();
	for (int i = 0; i < MAX_OPS && in.n; i++)
		run_op(&in);

	/* Good's round trip in flight completes, whatever evil did. */
	gd.again = false;
	deadline = now_ns() + SETTLE_NS;
	while (gd.st != GOOD_IDLE) {
		if (now_ns() > deadline)
			FAIL("good's round trip did not complete in %llu s",
			     SETTLE_NS / 1000000000ull);
		pass(SETTLE_SLEEP_NS);
	}
	check_canary();
	es = tenant_effective_state(evil.t);
	if (verbose) {
		const struct tenant_stats *st = &evil.t->st;

		fprintf(stderr, "fuzz_ring: evil %s%s%s: %llu read, %llu written, %llu errors, "
			"%llu invalid; good: %u round trip(s)\n", tenant_state_name(es),
			evil.t->broken_reason ? ", " : "",
			evil.t->broken_reason ? evil.t->broken_reason : "",
			(unsigned long long)st->op[PVFS_OP_READ].ops,
			(unsigned long long)st->op[PVFS_OP_WRITE].ops,
			(unsigned long long)(st->op[PVFS_OP_READ].errors +
					     st->op[PVFS_OP_WRITE].errors),
			(unsigned long long)st->invalid, gd.done);
	}
	if (!(es == TENANT_RUNNING || es == TENANT_BROKEN ||
	      (es == TENANT_UNPLUGGED && evil_plug_refused)))
		FAIL("evil is %s", tenant_state_name(es));

	/* A fresh region for the next input. */
	if (evil.t->state != TENANT_UNPLUGGED)
		evil_unplug();
	evil_new_region();
	if (vm_plug(&evil, err, sizeof(err)) < 0)
		FAIL("plug evil: %s", err);
	pass(0);
	if (tl_fd_count(getpid()) != fd_baseline)
		FAIL("descriptors pile up: %d, %d at start", tl_fd_count(getpid()), fd_baseline);
	return 0;
}
