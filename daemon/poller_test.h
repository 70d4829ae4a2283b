/* SPDX-License-Identifier: MIT */
/*
 * poller_test.h - test hooks into the data plane (poller.c): one poller
 * without a thread, whose loop the caller runs one pass at a time, so that
 * a harness can change shared memory between passes deterministically
 * (tests/fuzz/fuzz_ring.c). Not for pvfsd itself.
 *
 * Threading: the caller is the poller thread and also the control thread;
 * poller_add/poller_remove messages are taken in by the next pass, and
 * drained tenants come back through poller_reap_done() as usual. There is
 * no stop: poller_stop_all() joins threads and must not be called.
 */
#ifndef PVFSD_POLLER_TEST_H
#define PVFSD_POLLER_TEST_H

#include <stdint.h>

#include "sched.h"

/* poller_test_start - create poller 0 without a thread. 0 or -errno. */
int poller_test_start(enum sched_mode mode, uint32_t inflight_cap);
/*
 * poller_test_pass - run one pass of the poller loop. If it found no work
 * and max_sleep_ns > 0, go to sleep the way the thread does (NEED_WAKEUP,
 * kick polls armed), for at most max_sleep_ns (a completion or a kick ends
 * it sooner). Returns 1 if the pass did work, else 0.
 */
int poller_test_pass(uint64_t max_sleep_ns);

#endif
