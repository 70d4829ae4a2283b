/* SPDX-License-Identifier: MIT */
/*
 * integ_nbd_reset - a guest reset on an NBD volume (pvfs_ring.h "Reset")
 * does not take away the volume's patience with its server: after the
 * reset, a request made while the server is down still waits for it
 * (bounded by nbd_timeout) and completes once it is back.
 *
 * Regression (found by review): the reset cancels the tenant's in-flight
 * I/O through the backend's cancel, which for NBD is the forced detach's
 * "no more waiting", and that stayed set until the next plug. Every request
 * that later had to wait for a connection (a server restart) failed at once
 * with -ECANCELED, so a guest that had rebooted once with I/O in flight got
 * errors, not a stall, from the next server restart.
 *
 * Needs nbdkit with its memory plugin and delay filter (scripts/install-deps
 * installs it); skips otherwise. About 3 s.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM		(1u << 20)
#define BLK		4096u
#define DEPTH		8u

static struct tl_daemon d;
static pid_t srv = -1;
static char sock[400];

static void stop_server(void)
{
	if (srv > 0) {
		kill(srv, SIGTERM);
		tl_wait(srv, 5000);
	}
	srv = -1;
}

static void cleanup(void)
{
	stop_server();
	tl_daemon_cleanup(&d);
}

/* start_server - nbdkit on sock: a memory disk, reads delayed by rdelay if not NULL. */
static void start_server(const char *rdelay)
{
	char *argv[12];
	int n = 0;
	struct stat st;

	unlink(sock);
	argv[n++] = (char *)"/usr/bin/nbdkit";
	argv[n++] = (char *)"-f";
	argv[n++] = (char *)"--unix";
	argv[n++] = sock;
	if (rdelay) {
		argv[n++] = (char *)"--filter=delay";
	}
	argv[n++] = (char *)"memory";
	argv[n++] = (char *)"16M";
	if (rdelay)
		argv[n++] = (char *)rdelay;
	argv[n] = NULL;
	srv = tl_spawn(argv, NULL);
	for (int i = 0; i < 200 && stat(sock, &st) < 0; i++)
		usleep(10000);
	if (stat(sock, &st) < 0)
		tl_fatal("nbdkit did not start on %s", sock);
}

static long long inflight_of(const char *name)
{
	json_t *st = tl_tenant_stats(&d, name);
	long long n = st ? json_integer_value(json_object_get(st, "inflight")) : -1;

	json_decref(st);
	return n;
}

static int queue_read(struct tl_vm *vm, uint64_t off, uint64_t ram_off)
{
	struct pvfs_sqe sqe = { .opcode = PVFS_OP_READ, .nr_segs = 1, .len = BLK, .offset = off };
	struct pvfs_seg seg = { .addr = tl_vm_gpa(vm, ram_off), .len = BLK };

	return pvfs_uguest_queue_sqe(&vm->guest.queues[0], &sqe, &seg, 1);
}

/* wait_cqe - the next CQE's result on queue 0, or -ETIMEDOUT. */
static int wait_cqe(struct tl_vm *vm, int timeout_ms)
{
	struct pvfs_uguest_queue *uq = &vm->guest.queues[0];
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct pvfs_cqe cqe;

	while (now_ns() < deadline) {
		if (pvfs_uguest_reap(uq, &cqe, 1))
			return cqe.result;
		pvfs_uguest_wait(uq, 10);
	}
	return -ETIMEDOUT;
}

int main(void)
{
	struct pvfs_attach_opts ao = { .cache = "writeback" };
	char vol[512], err[512];
	struct tl_vm vm;
	long long n = 0;
	int r;

	if (access("/usr/bin/nbdkit", X_OK) < 0)
		tl_skip("nbdkit not installed (scripts/install-deps)");
	atexit(cleanup);
	tl_daemon_start(&d, "--allow-nbd", "nbd+unix://*", "--nbd-timeout", "10", NULL);
	snprintf(sock, sizeof(sock), "%s/nbd.sock", d.dir);
	start_server("rdelay=1");
	snprintf(vol, sizeof(vol), "nbd+unix:///?socket=%s", sock);
	ao.volume = vol;
	if (pvfs_attach(d.sock, "n", &ao, err, sizeof(err)) < 0)
		tl_fatal("attach: %s", err);
	if (tl_vm_plug(&d, &vm, "n", NULL, 1, DEPTH, RAM, err, sizeof(err)) < 0)
		tl_fatal("plug: %s", err);

	/* A READ the server holds for a second, then the guest resets. */
	TL_CHECK(queue_read(&vm, 0, 0) >= 0, "queue a READ");
	pvfs_uguest_commit(&vm.guest.queues[0]);
	for (int i = 0; i < 500 && (n = inflight_of("n")) < 1; i++)
		usleep(2000);
	TL_CHECK(n >= 1, "the READ is in flight at the server (%lld)", n);
	r = pvfs_uguest_reset(&vm.guest, 8000);
	TL_CHECK(r == 0, "the reset is answered once the READ is back (%d)", r);

	/* The server goes away; a READ made now waits for it. */
	stop_server();
	TL_CHECK(queue_read(&vm, BLK, BLK) >= 0, "queue a READ while the server is down");
	pvfs_uguest_commit(&vm.guest.queues[0]);
	r = wait_cqe(&vm, 300);
	TL_CHECK(r == -ETIMEDOUT, "it waits for the server, it does not fail (%d)", r);
	start_server(NULL);
	r = wait_cqe(&vm, 9000);
	TL_CHECK(r == (int)BLK, "it completes once the server is back (%d)", r);
	TL_CHECK(tl_vm_rw(&vm, 0, false, 0, BLK, 0) == (int)BLK, "I/O goes on");

	tl_vm_unplug(&vm);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits cleanly");
	return tl_done();
}
