/* SPDX-License-Identifier: MIT */
/*
 * pvfs-neighbours - do idle VMs cost the busy ones anything? One thread
 * drives B busy simulated VMs, keeping one 4 KiB read in flight on each
 * (the guest polls its CQ, like pvfs-bench --poll), while I more VMs are
 * plugged into the same pvfsd and do nothing. Prints the busy VMs' IOPS.
 * bench/neighbours runs it with I = 0 and I = 240 side by side.
 *
 *   pvfs-neighbours --busy B --idle I --runtime S [--json]
 *
 * Tenants busyN and idleN must be attached already (bench/neighbours
 * does it); each VM has one queue of depth 2 and 64 KiB of RAM.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hist.h"
#include "pvfs_shim.h"
#include "rpc.h"
#include "util.h"

#define RAM_SIZE (64 * 1024)
#define MAX_VMS 1000

struct vm {
	struct pvfs_region *region;
	struct pvfs_uguest guest;
	struct pvfs_plug *plug;
	struct pvfs_memregion mem[1];
	int ram_fd;
	uint8_t *ram;
	uint64_t blocks, rng, t_submit, ops;
	bool inflight;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pvfs-neighbours: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void plug(const char *sock, struct vm *vm, const char *name)
{
	struct pvfs_region_params rp = { .nr_queues = 1, .depth = 2, .max_segs = 1 };
	char err[512];
	int r;

	r = pvfs_region_create(&rp, &vm->region);
	if (r < 0)
		die("region: %s", strerror(-r));
	vm->ram_fd = memfd_create("pvfs-neighbours", MFD_CLOEXEC);
	if (vm->ram_fd < 0 || ftruncate(vm->ram_fd, RAM_SIZE) < 0)
		die("guest RAM: %m");
	vm->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, vm->ram_fd, 0);
	if (vm->ram == MAP_FAILED)
		die("guest RAM: %m");
	vm->mem[0] = (struct pvfs_memregion){ 0, RAM_SIZE, vm->ram_fd, 0 };
	r = pvfs_plug(sock, name, vm->region, vm->mem, 1, &vm->plug, err, sizeof(err));
	if (r < 0)
		die("plug %s: %s", name, err);
	r = pvfs_uguest_init(&vm->guest, vm->region);
	if (r < 0)
		die("guest driver: %s", strerror(-r));
	vm->blocks = pvfs_region_hdr(vm->region)->capacity / 4096;
	if (!vm->blocks)
		die("tenant %s: volume below 4 KiB", name);
}

static void submit(struct vm *vm)
{
	struct pvfs_uguest_queue *uq = &vm->guest.queues[0];
	struct pvfs_seg seg = { .addr = 0, .len = 4096 };
	struct pvfs_sqe sqe = { .opcode = PVFS_OP_READ, .nr_segs = 1, .len = 4096 };

	/* xorshift64*: a random block, as pvfs-bench's randread. */
	vm->rng ^= vm->rng >> 12;
	vm->rng ^= vm->rng << 25;
	vm->rng ^= vm->rng >> 27;
	sqe.offset = (vm->rng * 0x2545f4914f6cdd1dull) % vm->blocks * 4096;
	if (pvfs_uguest_queue_sqe(uq, &sqe, &seg, 1) < 0)
		die("no free tag");
	if (pvfs_uguest_commit(uq) < 0)
		die("doorbell: %m");
	vm->inflight = true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "busy", required_argument, NULL, 'b' },
		{ "idle", required_argument, NULL, 'i' },
		{ "runtime", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	static struct vm vms[MAX_VMS];
	const char *sock = rpc_socket_path(NULL);
	unsigned busy = 4, idle = 0;
	double runtime = 3;
	bool json = false;
	uint64_t t0, t1, ops = 0, kicks = 0;
	char name[32];
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': busy = (unsigned)atoi(optarg); break;
		case 'i': idle = (unsigned)atoi(optarg); break;
		case 'r': runtime = atof(optarg); break;
		case 'j': json = true; break;
		default: die("usage: pvfs-neighbours --busy B --idle I --runtime S [--json]");
		}
	}
	if (!busy || busy + idle > MAX_VMS || !(runtime > 0))
		die("need 1 <= busy, busy + idle <= %d, runtime > 0", MAX_VMS);
	for (unsigned i = 0; i < idle; i++) {
		snprintf(name, sizeof(name), "idle%u", i);
		plug(sock, &vms[busy + i], name);
	}
	for (unsigned i = 0; i < busy; i++) {
		snprintf(name, sizeof(name), "busy%u", i);
		plug(sock, &vms[i], name);
		vms[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
		pvfs_uguest_set_polling(&vms[i].guest.queues[0], 1);
	}
	/* Let the idle ones settle (the poller parks them or sleeps) before timing. */
	usleep(200000);
	t0 = now_ns();
	t1 = t0 + (uint64_t)(runtime * 1e9);
	for (uint64_t iter = 0;; iter++) {
		/* One clock read per 64 passes over the VMs: the loop is what is measured. */
		if (!(iter & 63) && now_ns() >= t1)
			break;
		for (unsigned i = 0; i < busy; i++) {
			struct vm *vm = &vms[i];
			struct pvfs_cqe cqe;

			if (!vm->inflight) {
				submit(vm);
			} else if (pvfs_uguest_reap(&vm->guest.queues[0], &cqe, 1)) {
				if (cqe.result != 4096)
					die("busy%u: read failed: %d", i, cqe.result);
				vm->inflight = false;
				vm->ops++;
			}
		}
	}
	t1 = now_ns();
	for (unsigned i = 0; i < busy; i++) {
		ops += vms[i].ops;
		kicks += vms[i].guest.queues[0].kicks;
	}
	if (json)
		printf("{\"busy\": %u, \"idle\": %u, \"iops\": %.0f, \"doorbells\": %llu}\n", busy,
		       idle, (double)ops * 1e9 / (double)(t1 - t0), (unsigned long long)kicks);
	else
		printf("busy %u idle %u: %.0f IOPS (%llu doorbells)\n", busy, idle,
		       (double)ops * 1e9 / (double)(t1 - t0), (unsigned long long)kicks);
	/* Exit unplugs every VM (pvfsd sees the connections close). */
	return 0;
}
