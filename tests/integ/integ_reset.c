/* SPDX-License-Identifier: MIT */
/*
 * integ_reset - the guest-reset handshake (issue 11, item 2; pvfs_ring.h
 * "Reset"): a rebooted guest, or a driver that unbinds or probes, asks
 * pvfsd to forget everything it had submitted, and nothing of that life
 * may complete into the new one. Before, the ABI had no such request: a
 * new guest instance could only take over the ring as it found it, and
 * pvfsd went on writing the old READs' data into pages the new kernel
 * owned, or ran old WRITEs after the guest had forgotten them.
 *   1. a READ held in the backend (slowfs) and completed requests not yet
 *      reaped: the reset's wait is bounded (-ETIMEDOUT while the READ
 *      cannot be cancelled); once it comes back the host answers, the CQ is
 *      empty, no CQE of the old life ever shows up, and new I/O on every
 *      tag works with verified data;
 *   2. no host: pvfsd is stopped, a WRITE is left in the SQ, the reset
 *      times out; the next pvfsd answers the pending request when the VMM
 *      plugs the region, before it runs anything: the WRITE never lands;
 *   3. many requests in flight on a fast volume: the reset cancels or
 *      waits for them and posts none of them;
 *   4. a reset repairs a BROKEN ring: READY again, I/O works.
 * Part 1 is left out (and says why) without root, /dev/fuse or
 * python3-fusepy; the rest runs anyway. About 1 s.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM		(1u << 20)
#define VOLSIZE		(16u << 20)
#define GATE_OFF	(8u << 20)
#define BLK		4096u
#define DEPTH		8u

static struct tl_daemon d;
static struct tl_slowfs fs;

static void cleanup(void)
{
	tl_slowfs_stop(&fs);
	tl_daemon_cleanup(&d);
}

static int queue_rw(struct tl_vm *vm, bool write, uint64_t off, uint64_t ram_off)
{
	struct pvfs_sqe sqe = { .opcode = write ? PVFS_OP_WRITE : PVFS_OP_READ, .nr_segs = 1,
				.len = BLK, .offset = off };
	struct pvfs_seg seg = { .addr = tl_vm_gpa(vm, ram_off), .len = BLK };

	return pvfs_uguest_queue_sqe(&vm->guest.queues[0], &sqe, &seg, 1);
}

/* ring_empty - every queue's SQ consumed and CQ reaped, as the reset leaves them. */
static bool ring_empty(struct tl_vm *vm)
{
	struct pvfs_uguest_queue *uq = &vm->guest.queues[0];
	struct pvfs_queue_ctrl *c = uq->q.ctrl;

	return c->sq_head == c->sq_tail && c->cq_tail == c->cq_head &&
	       uq->sq_tail == c->sq_tail && uq->cq_head == c->cq_tail &&
	       uq->nr_free == uq->q.depth;
}

/* new_life_ok - every tag once: write, read back, compare; no stray CQE in between. */
static bool new_life_ok(struct tl_vm *vm, uint8_t pat)
{
	for (uint32_t i = 0; i < DEPTH; i++)
		if (!tl_vm_roundtrip(vm, (uint64_t)i * BLK, (uint8_t)(pat + i)))
			return false;
	return true;
}

static uint64_t resets_of(const char *name)
{
	json_t *st = tl_tenant_stats(&d, name);
	uint64_t n = st ? (uint64_t)json_integer_value(json_object_get(st, "resets")) : 0;

	json_decref(st);
	return n;
}

static void held_read(void)
{
	struct pvfs_attach_opts ao = { .volume = "fuse/vol.img", .readonly = 1,
				       .cache = "writeback" };
	struct pvfs_uguest_queue *uq;
	struct pvfs_region_hdr *h;
	char err[512];
	struct tl_vm vm;
	uint64_t t0, ms;
	bool clean = true;
	int r;

	if (pvfs_attach(d.sock, "held", &ao, err, sizeof(err)) < 0)
		tl_fatal("attach: %s", err);
	if (tl_vm_plug(&d, &vm, "held", NULL, 1, DEPTH, RAM, err, sizeof(err)) < 0)
		tl_fatal("plug: %s", err);
	uq = &vm.guest.queues[0];
	h = pvfs_region_hdr(vm.region);
	TL_CHECK(h->host_features & PVFS_F_RESET, "pvfsd offers PVFS_F_RESET (features %#llx)",
		 (unsigned long long)h->host_features);

	queue_rw(&vm, false, GATE_OFF, BLK);
	pvfs_uguest_commit(uq);
	TL_CHECK(tl_slowfs_wait_read(&fs, 10000) == GATE_OFF, "a READ is held in the backend");
	/* Two more that complete, their CQEs left unreaped. */
	queue_rw(&vm, false, 0, 2 * BLK);
	queue_rw(&vm, false, BLK, 3 * BLK);
	pvfs_uguest_commit(uq);
	t0 = now_ns();
	while (uq->q.ctrl->cq_tail - uq->cq_head < 2 && now_ns() - t0 < 10000000000ull)
		pvfs_uguest_wait(uq, 10);
	TL_CHECK(uq->q.ctrl->cq_tail - uq->cq_head == 2, "two CQEs wait in the CQ");

	t0 = now_ns();
	r = pvfs_uguest_reset(&vm.guest, 300);
	ms = (now_ns() - t0) / 1000000;
	TL_CHECK(r == -ETIMEDOUT && ms < 2000,
		 "the reset's wait is bounded while the READ cannot be cancelled (%d after %llu ms)",
		 r, (unsigned long long)ms);
	TL_CHECK(h->reset_ack != h->reset_req, "no answer while the READ is held");

	tl_slowfs_release(&fs);
	r = pvfs_uguest_reset(&vm.guest, 10000);
	TL_CHECK(r == 0, "answered once the READ came back (%d)", r);
	TL_CHECK(ring_empty(&vm), "the ring is empty: nothing of the old life in the CQ");
	/* The guest reuses the held READ's page now; nothing may write it again. */
	memset(vm.ram + BLK, 0xee, BLK);
	r = tl_vm_rw(&vm, 0, false, 0, BLK, 4 * BLK);
	TL_CHECK(r == (int)BLK && vm.ram[4 * BLK] == tl_slowfs_byte(0),
		 "a new READ on the first tag completes with its data (%d)", r);
	for (uint32_t i = 0; i < BLK; i++)
		clean &= vm.ram[BLK + i] == 0xee;
	TL_CHECK(clean, "the old READ's page is not written after the answer");
	TL_CHECK(resets_of("held") >= 1, "stats count the reset");
	tl_vm_unplug(&vm);
}

static void no_host(void)
{
	struct pvfs_uguest_queue *uq;
	struct pvfs_region_hdr *h;
	char err[512];
	struct tl_vm vm;
	int r;

	tl_vm_plug_new(&d, &vm, "w", VOLSIZE, 1, DEPTH, RAM);
	uq = &vm.guest.queues[0];
	h = pvfs_region_hdr(vm.region);
	TL_CHECK(tl_vm_roundtrip(&vm, 0, 0x11), "block 0 holds 0x11");

	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd stops");
	pvfs_unplug(vm.plug);
	vm.plug = NULL;
	/* An old-life WRITE nobody consumed: its data must never land. */
	memset(vm.ram + 5 * BLK, 0x22, BLK);
	queue_rw(&vm, true, 0, 5 * BLK);
	pvfs_uguest_commit(uq);
	r = pvfs_uguest_reset(&vm.guest, 300);
	TL_CHECK(r == -ETIMEDOUT, "no host: the reset times out (%d)", r);

	tl_daemon_start(&d, NULL);
	if (pvfs_plug(d.sock, "w", vm.region, vm.mem, 2, &vm.plug, err, sizeof(err)))
		tl_fatal("re-plug: %s", err);
	TL_CHECK(h->reset_ack == h->reset_req, "the new pvfsd answered the request at plug");
	r = pvfs_uguest_reset(&vm.guest, 10000);
	TL_CHECK(r == 0, "the guest's next reset is answered (%d)", r);
	TL_CHECK(ring_empty(&vm), "the ring is empty");
	r = tl_vm_rw(&vm, 0, false, 0, BLK, 6 * BLK);
	TL_CHECK(r == (int)BLK && vm.ram[6 * BLK] == 0x11 && vm.ram[7 * BLK - 1] == 0x11,
		 "the old life's WRITE never ran: block 0 still holds 0x11 (%d, %#x)", r,
		 vm.ram[6 * BLK]);
	TL_CHECK(new_life_ok(&vm, 0x60), "new life: every tag writes and reads back");
	tl_vm_unplug(&vm);
}

static void many_in_flight(void)
{
	struct pvfs_uguest_queue *uq;
	struct tl_vm vm;
	int r;

	tl_vm_plug_new(&d, &vm, "m", VOLSIZE, 1, DEPTH, RAM);
	uq = &vm.guest.queues[0];
	for (int round = 0; round < 20; round++) {
		for (uint32_t i = 0; i < DEPTH; i++)
			queue_rw(&vm, i & 1, (uint64_t)(round * DEPTH + i) * BLK, (8 + i) * BLK);
		pvfs_uguest_commit(uq);
		r = pvfs_uguest_reset(&vm.guest, 10000);
		if (r || !ring_empty(&vm))
			break;
	}
	TL_CHECK(r == 0 && ring_empty(&vm),
		 "20 resets with 8 requests each in flight: answered, ring empty (%d)", r);
	TL_CHECK(new_life_ok(&vm, 0x80), "new life: every tag writes and reads back, no stray CQE");
	TL_CHECK(resets_of("m") == 20, "stats: 20 resets (%llu)",
		 (unsigned long long)resets_of("m"));
	tl_vm_unplug(&vm);
}

static void repairs_broken(void)
{
	struct pvfs_uguest_queue *uq;
	struct pvfs_sqe bad = { .opcode = PVFS_OP_FLUSH };
	struct tl_vm vm;
	int r;

	tl_vm_plug_new(&d, &vm, "b", VOLSIZE, 1, DEPTH, RAM);
	uq = &vm.guest.queues[0];
	pvfs_uguest_queue_sqe(uq, &bad, NULL, 0);
	uq->q.sq[(uq->sq_tail - 1) & uq->q.mask].tag = 999;
	pvfs_uguest_commit(uq);
	TL_CHECK(tl_vm_host_state_is(&vm, PVFS_HOST_BROKEN, 10000), "a corrupt SQE: BROKEN");
	TL_CHECK(tl_wait_state(&d, "b", "broken", 5000), "pvfsctl shows it broken");
	r = pvfs_uguest_reset(&vm.guest, 10000);
	TL_CHECK(r == 0 && pvfs_uguest_host_state(&vm.guest, NULL) == PVFS_HOST_READY,
		 "a reset answers and makes the ring READY again (%d)", r);
	TL_CHECK(tl_wait_state(&d, "b", "running", 5000), "pvfsctl shows it running");
	TL_CHECK(new_life_ok(&vm, 0xa0), "I/O works again");
	tl_vm_unplug(&vm);
}

int main(void)
{
	const char *why;

	atexit(cleanup);
	tl_daemon_start(&d, NULL);
	no_host();
	many_in_flight();
	repairs_broken();
	why = tl_slowfs_missing();
	if (why) {
		printf("# SKIP the held READ: %s\n", why);
		return tl_done();
	}
	tl_slowfs_start(&d, &fs, VOLSIZE, GATE_OFF);
	held_read();
	return tl_done();
}
