/* SPDX-License-Identifier: MIT */
/*
 * integ_chaos - a hostile guest. The whole ring region is guest-writable
 * memory (an ivshmem BAR), so a guest can scribble not only on its own
 * fields but on the host's: sq_head, cq_tail, host_state, the in-flight
 * table, the header. For 400 rounds (fixed seed) an "evil" tenant writes
 * random values at random places of its region - biased to the queue
 * control blocks, SQEs, segment tables and in-flight records - sometimes
 * publishes a random SQ tail or well-formed SQEs with random fields, and
 * rings its doorbells. After every round a "good" tenant on the same
 * poller must complete a verified write/read round trip within 10 s, and
 * pvfsd must answer stats with evil running or broken. Evil is re-plugged
 * when broken and every 25 rounds. At the end pvfsd must exit 0 on SIGTERM
 * (every drain finished; under ASan also leak-free) with no fd left over.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM (1u << 20)
#define ROUNDS 400

static uint64_t rng = 0x5eed;

static uint64_t rnd(void)
{
	return tl_rand(&rng);
}

/* A value a careless or hostile guest would write: small, edge or random. */
static uint64_t nasty(void)
{
	static const uint64_t edges[] = { 0, 1, 2, 15, 16, 17, 127, 128, 255, 256, 4096,
					  0x7fffffff, 0x80000000, 0xffffffff, UINT64_MAX,
					  1ull << 32, 1ull << 40 };

	switch (rnd() % 3) {
	case 0: return edges[rnd() % ARRAY_SIZE(edges)];
	case 1: return rnd() % 64;
	default: return rnd();
	}
}

static void poke(void *base, size_t len, size_t width)
{
	uint64_t v = nasty();
	size_t off;

	if (len < width)
		return;
	off = (size_t)(rnd() % (len - width + 1)) & ~(width - 1);
	memcpy((uint8_t *)base + off, &v, width);
}

/* scribble - one round of damage to evil's region, then doorbells. */
static void scribble(struct tl_vm *vm)
{
	struct pvfs_region *r = vm->region;
	int n = 1 + (int)(rnd() % 8);

	for (int i = 0; i < n; i++) {
		struct pvfs_queue *q = &vm->guest.queues[rnd() % r->nr_queues].q;
		size_t w = (size_t)1 << (rnd() % 4);

		switch (rnd() % 8) {
		case 0: poke(q->ctrl, sizeof(*q->ctrl), w); break;
		case 1: poke(q->sq, sizeof(*q->sq) * q->depth, w); break;
		case 2: poke(q->seg, sizeof(*q->seg) * q->depth * q->max_segs, w); break;
		case 3: poke(q->inflight, sizeof(*q->inflight) * q->depth, w); break;
		case 4: poke(q->cq, sizeof(*q->cq) * q->depth, w); break;
		case 5: poke(r->base, PVFS_HDR_SIZE, w); break;
		case 6: {	/* a well-formed-looking SQE with random fields, published */
			struct pvfs_sqe *s = &q->sq[q->ctrl->sq_tail & q->mask];

			s->opcode = (uint8_t)(rnd() % 7);
			s->flags = rnd() % 4 ? 0 : (uint8_t)rnd();
			s->tag = (uint16_t)(rnd() % (q->depth + 2));
			s->nr_segs = (uint16_t)(rnd() % 4);
			s->len = (uint32_t)(rnd() % 3 ? (rnd() % 16) * 512 : nasty());
			s->offset = rnd() % 3 ? (rnd() % 256) * 4096 : nasty();
			for (uint16_t k = 0; k < s->nr_segs && k < q->max_segs; k++) {
				struct pvfs_seg *g = &q->seg[(size_t)s->tag % q->depth * q->max_segs + k];

				g->addr = rnd() % 2 ? tl_vm_gpa(vm, (rnd() % 64) * 4096) : nasty();
				g->len = rnd() % 2 ? 4096 : (uint32_t)nasty();
			}
			PVFS_STORE_RELEASE(&q->ctrl->sq_tail, q->ctrl->sq_tail + 1);
			break;
		}
		default:	/* a random SQ tail */
			PVFS_STORE_RELEASE(&q->ctrl->sq_tail, (uint32_t)(q->ctrl->sq_tail + nasty()));
			break;
		}
	}
	for (uint32_t q = 0; q < r->nr_queues; q++)
		if (eventfd_write(r->kick_fd[q], 1) < 0)
			tl_fatal("kick: %m");
}

int main(void)
{
	struct tl_daemon d = { 0 };
	struct tl_vm good, evil;
	char err[512];
	int bad_rounds = 0, bad_state = 0, broken = 0, replugs = 0, fd0, fd1;

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "good.img", 4u << 20);
	tl_volume(&d, "evil.img", 4u << 20);
	if (tl_vm_plug(&d, &good, "good", "good.img", 1, 16, RAM, err, sizeof(err)))
		tl_fatal("plug good: %s", err);
	if (tl_rpc(&d, "attach", json_pack("{s:s, s:s}", "name", "evil", "volume", "evil.img"),
		   NULL))
		tl_fatal("attach evil");
	/*
	 * From here on only plugs come and go; the attached volumes stay open.
	 * The attach's control connection may still be open for a moment.
	 */
	fd0 = tl_fd_count_settled(d.pid, tl_fd_count(d.pid) - 1);
	if (tl_vm_plug(&d, &evil, "evil", NULL, 2, 16, RAM, err, sizeof(err)))
		tl_fatal("plug evil: %s", err);

	for (int round = 0; round < ROUNDS; round++) {
		json_t *st;
		const char *state;

		scribble(&evil);
		if (!tl_vm_roundtrip(&good, (uint64_t)(round % 512) * 4096, (uint8_t)round))
			bad_rounds++;
		st = tl_tenant_stats(&d, "evil");
		state = st ? json_string_value(json_object_get(st, "state")) : NULL;
		if (!state || (strcmp(state, "running") && strcmp(state, "broken")))
			bad_state++;
		if (state && !strcmp(state, "broken"))
			broken++;
		if ((state && !strcmp(state, "broken")) || round % 25 == 24) {
			tl_vm_unplug(&evil);
			if (!tl_wait_state(&d, "evil", "unplugged", 10000))
				bad_state++;
			if (tl_vm_plug(&d, &evil, "evil", NULL, 2, 16, RAM, err, sizeof(err)))
				tl_fatal("re-plug evil: %s", err);
			replugs++;
		}
		json_decref(st);
	}
	TL_CHECK(bad_rounds == 0, "%d rounds of a hostile neighbour: the good tenant's round trips "
		 "all verified (%d failed)", ROUNDS, bad_rounds);
	TL_CHECK(bad_state == 0, "pvfsd answered every round; evil was running or broken, and "
		 "unplugged when asked (%d bad)", bad_state);
	printf("# evil was found broken after %d of %d rounds; %d re-plugs\n", broken, ROUNDS,
	       replugs);
	TL_CHECK(broken > 0, "some of the damage was caught as a corrupt ring (%d rounds)", broken);

	tl_vm_unplug(&evil);
	TL_CHECK(tl_wait_state(&d, "evil", "unplugged", 10000), "evil unplugs");
	fd1 = tl_fd_count_settled(d.pid, fd0);
	TL_CHECK(fd1 == fd0, "no fd left from %d plugs of evil (%d, want %d)", replugs + 1, fd1, fd0);
	TL_CHECK(tl_vm_roundtrip(&good, 0, 0xee), "the good tenant still works");
	tl_vm_unplug(&good);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
