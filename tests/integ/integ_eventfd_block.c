/* SPDX-License-Identifier: MIT */
/*
 * integ_eventfd_block - a VMM cannot block the poller through the eventfds
 * it shares with pvfsd (issue 8, item 3). O_NONBLOCK lives on the open file
 * description, which the VMM shares: it can clear it, fill the call
 * eventfd's counter to its maximum (0xfffffffffffffffe), or drain the kick
 * eventfd between pvfsd's poll and read. A write() or read() by the poller
 * then blocks in the kernel, and every tenant of that poller stalls for
 * good. Now the poller signals and waits through io_uring only: the
 * neighbour's round trips go on, the evil tenant's own completion is
 * still posted, its interrupt arrives once it drains the counter, and an
 * unplug with a write still blocked finishes (the write is cancelled).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM (1u << 20)

static int kick_fd;
static int stop_hammer;	/* atomic */

static void on_usr1(int sig)
{
	(void)sig;
}

/*
 * Ring and drain evil's kick eventfd, blocking mode, as fast as possible.
 * pvfsd may take the count between our poll and read: then our read blocks
 * until the next kick, or until main interrupts it with SIGUSR1 (installed
 * without SA_RESTART) to stop.
 */
static void *hammer(void *arg)
{
	uint64_t one = 1, v;

	while (!__atomic_load_n(&stop_hammer, __ATOMIC_RELAXED)) {
		struct pollfd pfd = { .fd = kick_fd, .events = POLLIN };

		if (write(kick_fd, &one, sizeof(one)) < 0)
			break;
		if (poll(&pfd, 1, 1) == 1 && read(kick_fd, &v, sizeof(v)) < 0)
			break;
	}
	return NULL;
}

static int clear_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

int main(void)
{
	struct tl_daemon d = { 0 };
	struct tl_vm good, evil;
	struct pvfs_uguest_queue *uq;
	struct pvfs_cqe cqe;
	char err[512];
	uint64_t full = 0xfffffffffffffffeull, v, worst = 0, deadline;
	pthread_t th;
	int ok = 0, call_fd, got = 0;

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "good.img", 1u << 20);
	tl_volume(&d, "evil.img", 1u << 20);
	if (tl_vm_plug(&d, &good, "good", "good.img", 1, 16, RAM, err, sizeof(err)) ||
	    tl_vm_plug(&d, &evil, "evil", "evil.img", 1, 16, RAM, err, sizeof(err)))
		tl_fatal("plug: %s", err);
	TL_CHECK(tl_vm_roundtrip(&evil, 0, 1) && tl_vm_roundtrip(&good, 0, 2), "both work");

	/* The call eventfd: blocking, and its counter at the maximum. */
	call_fd = evil.region->call_fd[0];
	kick_fd = evil.region->kick_fd[0];
	if (read(call_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)	/* still non-blocking */
		tl_fatal("read: %m");
	if (clear_nonblock(call_fd) < 0 || clear_nonblock(kick_fd) < 0)
		tl_fatal("fcntl: %m");
	if (write(call_fd, &full, sizeof(full)) != sizeof(full))
		tl_fatal("fill the call eventfd: %m");

	/* Evil submits a read that wants an interrupt, and does not reap. */
	uq = &evil.guest.queues[0];
	pvfs_uguest_set_polling(uq, 0);
	{
		struct pvfs_sqe sqe = { .opcode = PVFS_OP_READ, .nr_segs = 1, .len = 4096 };
		struct pvfs_seg seg = { .addr = tl_vm_gpa(&evil, 65536), .len = 4096 };

		if (pvfs_uguest_queue_sqe(uq, &sqe, &seg, 1) < 0)
			tl_fatal("queue");
		pvfs_uguest_commit(uq);
	}
	{
		struct sigaction sa = { .sa_handler = on_usr1 };

		sigaction(SIGUSR1, &sa, NULL);
	}
	pthread_create(&th, NULL, hammer, NULL);
	for (int i = 0; i < 20; i++) {
		uint64_t t0 = now_ns();

		ok += tl_vm_roundtrip(&good, 4096ull * (i + 1), (uint8_t)(i + 3));
		worst = MAX(worst, now_ns() - t0);
	}
	__atomic_store_n(&stop_hammer, 1, __ATOMIC_RELAXED);
	for (int i = 0;; i++) {
		struct timespec ts;

		pthread_kill(th, SIGUSR1);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!pthread_timedjoin_np(th, NULL, &ts))
			break;
		if (i == 500)
			tl_fatal("the kick hammer thread does not stop");
	}
	TL_CHECK(ok == 20 && worst < 1000000000ull,
		 "the neighbour's 20 round trips pass while evil blocks its eventfds, the slowest "
		 "%.1f ms (before the fix: the poller hung in write())", (double)worst / 1e6);

	/* Evil's completion was posted all the same; its interrupt comes once it drains. */
	deadline = now_ns() + 5000000000ull;
	while (now_ns() < deadline && !got)
		got = (int)pvfs_uguest_reap(uq, &cqe, 1);
	TL_CHECK(got == 1 && cqe.result == 4096, "evil's read completed (%d, result %d)", got,
		 got ? cqe.result : 0);
	{
		struct pollfd pfd = { .fd = call_fd, .events = POLLIN };

		TL_CHECK(poll(&pfd, 1, 1000) == 1 && read(call_fd, &v, sizeof(v)) == sizeof(v),
			 "evil drains its counter");
		pfd.revents = 0;
		TL_CHECK(poll(&pfd, 1, 5000) == 1 && read(call_fd, &v, sizeof(v)) == sizeof(v) &&
			 v >= 1, "... and then gets the interrupt that was waiting");
	}

	/*
	 * Blocked again, then unplugged: the drain must not wait for the
	 * interrupt write stuck in io-wq.
	 */
	if (write(call_fd, &full, sizeof(full)) != sizeof(full))
		tl_fatal("fill again: %m");
	{
		struct pvfs_sqe sqe = { .opcode = PVFS_OP_READ, .nr_segs = 1, .len = 4096 };
		struct pvfs_seg seg = { .addr = tl_vm_gpa(&evil, 65536), .len = 4096 };

		if (pvfs_uguest_queue_sqe(uq, &sqe, &seg, 1) < 0)
			tl_fatal("queue");
		pvfs_uguest_commit(uq);
	}
	got = 0;
	deadline = now_ns() + 5000000000ull;
	while (now_ns() < deadline && !got)
		got = (int)pvfs_uguest_reap(uq, &cqe, 1);
	TL_CHECK(got == 1 && cqe.result == 4096,
		 "evil still does I/O with its counter full (polling its CQ)");
	tl_vm_unplug(&evil);
	TL_CHECK(tl_wait_state(&d, "evil", "unplugged", 5000),
		 "evil unplugs although an interrupt write was blocked");
	TL_CHECK(tl_vm_roundtrip(&good, 0, 9), "the neighbour still works");
	tl_vm_unplug(&good);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
