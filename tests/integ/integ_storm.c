/* SPDX-License-Identifier: MIT */
/*
 * integ_storm - every life-cycle path of one tenant at once, against a
 * neighbour that must not notice. On two pollers, tenant "evil" asks for
 * resets without end, corrupts its SQ tail, publishes garbage SQEs, never
 * or suddenly reaps its CQ, while the operator moves it between the
 * pollers, toggles its interrupt coalescing, grows its volume, and its VMM
 * unplugs and plugs it again; at the end it is detached with --force in
 * the middle of all that. Claims: pvfsd answers every control call
 * (errors allowed, no hang), "good" (on the same pollers, moved too) does
 * verified round trips throughout, the detach completes, and pvfsd exits
 * 0 (under ASan/TSan: no report). Written by review to race the reset
 * handshake, moves, resize and coalescing against each other.
 *
 * About 6 s (longer under sanitizers).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM		(1u << 20)
#define VOLSIZE		(16u << 20)
#define DEPTH		8u
#define STORM_NS	4000000000ull

static struct tl_daemon d;

static void cleanup(void)
{
	tl_daemon_cleanup(&d);
}

/* garbage - publish n SQEs of whatever the RNG says. */
static void garbage(struct tl_vm *vm, uint64_t *rng, unsigned n)
{
	struct pvfs_queue *q = &vm->guest.queues[0].q;
	uint32_t tail = PVFS_READ_ONCE(&q->ctrl->sq_tail);

	for (unsigned i = 0; i < n; i++) {
		struct pvfs_sqe *sqe = &q->sq[(tail + i) & q->mask];
		uint64_t r = tl_rand(rng);

		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = (uint8_t)(r % 6);
		sqe->tag = (uint16_t)((r >> 8) % (DEPTH + 1));
		sqe->len = (r >> 16) & 1 ? 4096 : (uint32_t)(r >> 20);
		sqe->offset = ((r >> 24) % 4096) * 4096;
		sqe->nr_segs = (uint8_t)((r >> 40) % 3);
	}
	PVFS_STORE_RELEASE(&q->ctrl->sq_tail, tail + n);
}

static void kick(struct tl_vm *vm)
{
	uint64_t one = 1;

	if (write(vm->guest.queues[0].kick_fd, &one, sizeof(one)) < 0)
		tl_fatal("kick: %m");
}

int main(void)
{
	struct tl_vm evil, good;
	uint64_t rng = 0x5eed, t0, size = VOLSIZE;
	unsigned rounds = 0, bad = 0, calls = 0, replugs = 0;
	int hung = 0, r;
	char err[512];

	atexit(cleanup);
	tl_daemon_start(&d, "--io-threads", "2", "--rebalance", "no", NULL);
	tl_vm_plug_new(&d, &good, "good", VOLSIZE, 1, DEPTH, RAM);
	tl_vm_plug_new(&d, &evil, "evil", VOLSIZE, 1, DEPTH, RAM);

	t0 = now_ns();
	for (unsigned i = 0; now_ns() - t0 < STORM_NS; i++) {
		struct pvfs_region_hdr *h = pvfs_region_hdr(evil.region);
		struct pvfs_queue_ctrl *c = evil.guest.queues[0].q.ctrl;
		uint64_t x = tl_rand(&rng);

		/* The guest. */
		switch (x % 6) {
		case 0:
		case 1:
			pvfs_reset_request(h);
			kick(&evil);
			break;
		case 2:
			PVFS_STORE_RELEASE(&c->sq_tail, c->sq_head + (uint32_t)(x >> 8) % (3 * DEPTH));
			kick(&evil);
			break;
		case 3:
			garbage(&evil, &rng, 1 + (unsigned)(x >> 8) % DEPTH);
			kick(&evil);
			break;
		case 4:
			PVFS_STORE_RELEASE(&c->cq_head, PVFS_READ_ONCE(&c->cq_tail));
			break;
		default:
			break;
		}
		/* The operator and the VMM. */
		switch ((x >> 32) % 8) {
		case 0:
		case 1:
			r = tl_rpc(&d, "move", json_pack("{s:s, s:i}", "name", "evil", "poller",
							 (int)(i & 1)), NULL);
			calls++;
			hung += r == -ETIMEDOUT;
			break;
		case 2:
			r = tl_rpc(&d, "set_qos", json_pack("{s:s, s:I, s:I}", "name", "evil",
							    "irq_coalesce_us",
							    (json_int_t)((x >> 40) % 3 * 50),
							    "irq_coalesce_count",
							    (json_int_t)((x >> 40) % 3 ? 4 : 0)),
				   NULL);
			calls++;
			hung += r == -ETIMEDOUT;
			break;
		case 3:
			size += 1u << 20;
			r = tl_rpc(&d, "resize", json_pack("{s:s, s:I}", "name", "evil", "size",
							   (json_int_t)size), NULL);
			calls++;
			hung += r == -ETIMEDOUT;
			break;
		case 4:
			r = tl_rpc(&d, "move", json_pack("{s:s, s:i}", "name", "good", "poller",
							 (int)((x >> 40) & 1)), NULL);
			calls++;
			hung += r == -ETIMEDOUT;
			break;
		case 5:
			if ((x >> 40) % 16 == 0) {
				tl_vm_unplug(&evil);
				if (!tl_wait_state(&d, "evil", "unplugged", 10000))
					tl_fatal("evil did not drain after its VMM left");
				if (tl_vm_plug(&d, &evil, "evil", NULL, 1, DEPTH, RAM, err,
					       sizeof(err)) < 0)
					tl_fatal("re-plug evil: %s", err);
				replugs++;
			}
			break;
		default:
			break;
		}
		if (i % 8 == 0) {
			if (!tl_vm_roundtrip(&good, (uint64_t)(rounds % 64) * 4096, (uint8_t)rounds))
				bad++;
			rounds++;
		}
	}
	printf("# %u control calls, %u re-plugs, %u round trips of good\n", calls, replugs, rounds);
	TL_CHECK(hung == 0, "pvfsd answered every control call (%d timed out)", hung);
	TL_CHECK(rounds > 10 && bad == 0, "good's %u round trips all verified (%u failed)", rounds,
		 bad);

	/* Detach with force while the guest goes on resetting. */
	pvfs_reset_request(pvfs_region_hdr(evil.region));
	garbage(&evil, &rng, DEPTH);
	kick(&evil);
	r = tl_rpc(&d, "detach", json_pack("{s:s, s:b}", "name", "evil", "force", 1), NULL);
	TL_CHECK(r == 0, "detach --force of evil completes (%d)", r);
	TL_CHECK(tl_vm_host_state_is(&evil, PVFS_HOST_REMOVED, 5000), "evil's guest sees REMOVED");
	TL_CHECK(tl_vm_roundtrip(&good, 0, 0x77), "good goes on");
	tl_vm_unplug(&evil);
	tl_vm_unplug(&good);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	return tl_done();
}
