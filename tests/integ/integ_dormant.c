/* SPDX-License-Identifier: MIT */
/*
 * integ_dormant - per-queue adaptive polling loses no doorbell. pvfsd runs
 * with a tiny spin window (--poll-us 1:4), so its queues go dormant and
 * wake all the time: a queue quiet for its own window leaves the poller's
 * hot list with NEED_WAKEUP set on it alone, and returns on its doorbell.
 * Four VMs, two queues each, one thread per queue, submit one request at a
 * time for many rounds with a pseudo-random pause of 0-5 us between them,
 * so that submissions keep landing right when a queue goes dormant, while
 * 24 idle VMs stay plugged. If the handshake were wrong (the flag set
 * without the barrier and the tail re-read after it, or a dormant queue's
 * flag cleared by the poller waking up) a request would be published
 * without a doorbell to a queue nobody scans: its wait, bounded at 5 s,
 * fails: with the re-read removed from go_dormant(), 3 of 5 runs failed.
 * Checks every completion's data, that queues did go dormant (pvfsd's
 * dormant counter) and that doorbells were rung, and that the idle VMs'
 * queues all ask for a doorbell at the end. 2-4 s (8 s under TSan); in
 * the TSan list too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tlib.h"
#include "util.h"

#define BUSY 4
#define IDLE 24
#define NQ 2
#define ROUNDS 8000

struct worker {
	struct tl_vm *vm;
	uint32_t q;
	uint64_t rng;
	int failures;
	int first_err;
	uint64_t kicks;
};

static void spin_us(uint64_t us)
{
	/* A pause of the guest, the thing under test, not synchronisation. */
	uint64_t end = now_ns() + us * 1000;

	while (now_ns() < end)
		;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	/* Each queue writes and reads its own 4 KiB block, from its own RAM. */
	uint64_t off = (uint64_t)w->q * 4096, ram = (uint64_t)w->q * 8192;
	uint8_t *buf = w->vm->ram + ram;

	for (int i = 0; i < ROUNDS && !w->failures; i++) {
		uint8_t pat = (uint8_t)(i * 7 + w->q + 1);
		struct pvfs_sqe sqe = { .nr_segs = 1, .len = 4096, .offset = off };
		struct pvfs_seg seg = { .addr = tl_vm_gpa(w->vm, ram), .len = 4096 };
		int r;

		if (i & 1) {
			sqe.opcode = PVFS_OP_READ;
			memset(buf, 0, 4096);
		} else {
			sqe.opcode = PVFS_OP_WRITE;
			memset(buf, pat, 4096);
		}
		r = tl_vm_io(w->vm, w->q, &sqe, &seg, 1, 5000);
		if (r != 4096 || ((i & 1) && (buf[0] != (uint8_t)((i - 1) * 7 + w->q + 1) ||
					      buf[4095] != buf[0]))) {
			w->failures++;
			w->first_err = r;
			break;
		}
		spin_us(tl_rand(&w->rng) % 6);
	}
	w->kicks = w->vm->guest.queues[w->q].kicks;
	return NULL;
}

int main(void)
{
	struct tl_daemon d = { 0 };
	static struct tl_vm busy[BUSY], idle[IDLE];
	struct worker w[BUSY * NQ];
	pthread_t th[BUSY * NQ];
	char err[512], name[16], vol[32];
	uint64_t kicks = 0, t0;
	long long dormant = 0;
	json_t *res = NULL, *p;
	size_t i;
	int failures = 0;
	bool asleep = true;

	tl_daemon_start(&d, "--poll-us", "1:4", NULL);
	for (int v = 0; v < IDLE; v++) {
		snprintf(name, sizeof(name), "idle%d", v);
		snprintf(vol, sizeof(vol), "idle%d.img", v);
		tl_volume(&d, vol, 1u << 20);
		if (tl_vm_plug(&d, &idle[v], name, vol, 1, 4, 64 * 1024, err, sizeof(err)))
			tl_fatal("plug %s: %s", name, err);
	}
	for (int v = 0; v < BUSY; v++) {
		snprintf(name, sizeof(name), "busy%d", v);
		snprintf(vol, sizeof(vol), "busy%d.img", v);
		tl_volume(&d, vol, 1u << 20);
		if (tl_vm_plug(&d, &busy[v], name, vol, NQ, 4, 64 * 1024, err, sizeof(err)))
			tl_fatal("plug %s: %s", name, err);
	}
	t0 = now_ns();
	for (int k = 0; k < BUSY * NQ; k++) {
		w[k] = (struct worker){ .vm = &busy[k / NQ], .q = (uint32_t)(k % NQ),
					.rng = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1) };
		if (pthread_create(&th[k], NULL, run, &w[k]))
			tl_fatal("pthread_create");
	}
	for (int k = 0; k < BUSY * NQ; k++) {
		pthread_join(th[k], NULL);
		failures += w[k].failures;
		kicks += w[k].kicks;
		if (w[k].failures)
			fprintf(stderr, "# busy%d queue %u: result %d\n", k / NQ, w[k].q,
				w[k].first_err);
	}
	TL_CHECK(!failures, "%d x %d rounds, every request completed with the right data within "
		 "5 s (%.1f s in all)", BUSY * NQ, ROUNDS, (double)(now_ns() - t0) / 1e9);
	if (tl_rpc(&d, "stats", NULL, &res) < 0)
		tl_fatal("stats");
	json_array_foreach(json_object_get(res, "pollers"), i, p)
		dormant += json_integer_value(json_object_get(p, "dormant"));
	json_decref(res);
	TL_CHECK(dormant > 0 && kicks > 0, "queues went dormant %lld times and the guests rang %llu "
		 "doorbells", dormant, (unsigned long long)kicks);
	for (int v = 0; v < IDLE; v++)
		asleep &= pvfs_sq_needs_kick(&idle[v].guest.queues[0].q);
	TL_CHECK(asleep, "every idle VM's queue asks for a doorbell");
	for (int v = 0; v < BUSY; v++)
		tl_vm_unplug(&busy[v]);
	for (int v = 0; v < IDLE; v++)
		tl_vm_unplug(&idle[v]);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits cleanly");
	return tl_done();
}
