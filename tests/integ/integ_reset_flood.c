/* SPDX-License-Identifier: MIT */
/*
 * integ_reset_flood - a guest that asks for resets as fast as it can, and
 * corrupts its ring between them, costs only itself: its neighbour's round
 * trips go on with verified data, and pvfsd's log does not grow with the
 * guest's request rate.
 *
 * Regression (found by review): every reset logged two lines and every
 * corruption one warning, from the poller thread. A guest that bumps
 * reset_req in a loop (each reset repairs a BROKEN ring, so corrupting
 * and resetting repeats for ever) made pvfsd write thousands of lines a
 * second: journald's rate limit then drops pvfsd's messages about every
 * tenant, the poller spends its time in write(2) on stderr, and a slow log
 * reader blocks it. Guest-triggered messages are now limited per tenant.
 *
 * About 3 s.
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
#define FLOOD_NS	2000000000ull
#define MAX_LINES	40	/* for the whole flood: a few a second at most */

static struct tl_daemon d;

static void cleanup(void)
{
	tl_daemon_cleanup(&d);
}

static uint64_t resets_of(const char *name)
{
	json_t *st = tl_tenant_stats(&d, name);
	uint64_t n = st ? (uint64_t)json_integer_value(json_object_get(st, "resets")) : 0;

	json_decref(st);
	return n;
}

/* log_lines - lines of pvfsd's log that mention tenant name. */
static int log_lines(const char *name)
{
	char line[2048], want[128];
	FILE *f = fopen(d.log, "r");
	int n = 0;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "tenant %s:", name);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, want) != NULL;
	fclose(f);
	return n;
}

int main(void)
{
	struct tl_vm evil, good;
	struct pvfs_region_hdr *h;
	struct pvfs_queue_ctrl *c;
	uint64_t one = 1, t0, resets;
	unsigned rounds = 0, bad = 0, iter = 0;
	int lines;

	atexit(cleanup);
	tl_daemon_start(&d, NULL);
	tl_vm_plug_new(&d, &good, "good", VOLSIZE, 1, DEPTH, RAM);
	tl_vm_plug_new(&d, &evil, "evil", VOLSIZE, 1, DEPTH, RAM);
	h = pvfs_region_hdr(evil.region);
	c = evil.guest.queues[0].q.ctrl;
	TL_CHECK(h->host_features & PVFS_F_RESET, "pvfsd offers PVFS_F_RESET");

	t0 = now_ns();
	while (now_ns() - t0 < FLOOD_NS) {
		/* A burst of resets, every other one after a corrupt tail. */
		for (int i = 0; i < 200; i++, iter++) {
			if (iter & 1)
				PVFS_STORE_RELEASE(&c->sq_tail, c->sq_head + 5 * DEPTH);
			else
				PVFS_STORE_RELEASE(&c->sq_tail, c->sq_head);
			pvfs_reset_request(h);
			if (write(evil.guest.queues[0].kick_fd, &one, sizeof(one)) < 0)
				tl_fatal("kick: %m");
			usleep(50);
		}
		if (!tl_vm_roundtrip(&good, (uint64_t)(rounds % 64) * 4096, (uint8_t)rounds))
			bad++;
		rounds++;
	}
	resets = resets_of("evil");
	TL_CHECK(bad == 0 && rounds > 0, "good's %u round trips all verified (%u failed)", rounds,
		 bad);
	TL_CHECK(resets >= 100, "pvfsd answered the flood of resets (%llu)",
		 (unsigned long long)resets);
	lines = log_lines("evil");
	TL_CHECK(lines >= 1 && lines <= MAX_LINES,
		 "pvfsd logged %d line(s) about evil for %llu resets (at most %d)", lines,
		 (unsigned long long)resets, MAX_LINES);
	TL_CHECK(tl_wait_state(&d, "good", "running", 1000), "good still runs");

	tl_vm_unplug(&evil);
	tl_vm_unplug(&good);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits cleanly");
	return tl_done();
}
