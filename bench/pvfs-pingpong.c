/* SPDX-License-Identifier: MIT */
/*
 * pvfs-pingpong - what one hand-off between two CPUs costs on this machine:
 * two threads pinned to CPUs A and B pass a counter back and forth through
 * one cache line, as a guest and a poller pass a request and its completion
 * through the rings. Prints the round trip and the one-way hand-off in
 * nanoseconds (median of R rounds of N round trips each). A QD1 request
 * through pvfsd needs at least two hand-offs (the SQ tail to the poller, the
 * CQ tail back), and each touches more than one line (the SQE, the CQE).
 *
 *   pvfs-pingpong [--cpus A,B] [--trips N] [--rounds R]
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static _Alignas(64) uint64_t line;

struct side {
	int cpu;
	uint64_t trips;
	int odd;		/* 0: the pinger (waits for odd values), 1: the ponger */
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
		fprintf(stderr, "pvfs-pingpong: cannot pin to CPU %d\n", cpu);
		exit(1);
	}
}

static void *pong(void *arg)
{
	struct side *s = arg;

	pin(s->cpu);
	for (uint64_t i = 0; i < s->trips; i++) {
		uint64_t want = 2 * i + 1;

		while (__atomic_load_n(&line, __ATOMIC_ACQUIRE) != want)
			;
		__atomic_store_n(&line, want + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int a = 0, b = 1, rounds = 7;
	uint64_t trips = 1000000;
	double rtt[64];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cpus") && i + 1 < argc && sscanf(argv[i + 1], "%d,%d", &a, &b) == 2)
			i++;
		else if (!strcmp(argv[i], "--trips") && i + 1 < argc)
			trips = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: pvfs-pingpong [--cpus A,B] [--trips N] [--rounds R]\n");
			return 1;
		}
	}
	if (rounds < 1 || rounds > 64 || !trips) {
		fprintf(stderr, "pvfs-pingpong: --rounds 1..64, --trips > 0\n");
		return 1;
	}
	pin(a);
	for (int r = 0; r < rounds; r++) {
		struct side s = { .cpu = b, .trips = trips, .odd = 1 };
		pthread_t t;
		uint64_t t0;

		__atomic_store_n(&line, 0, __ATOMIC_RELEASE);
		if (pthread_create(&t, NULL, pong, &s)) {
			fprintf(stderr, "pvfs-pingpong: pthread_create failed\n");
			return 1;
		}
		t0 = now_ns();
		for (uint64_t i = 0; i < trips; i++) {
			__atomic_store_n(&line, 2 * i + 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&line, __ATOMIC_ACQUIRE) != 2 * i + 2)
				;
		}
		rtt[r] = (double)(now_ns() - t0) / (double)trips;
		pthread_join(t, NULL);
	}
	qsort(rtt, (size_t)rounds, sizeof(rtt[0]), cmp);
	printf("CPU %d <-> CPU %d: round trip %.0f ns (median of %d x %llu; min %.0f, max %.0f), "
	       "one-way hand-off %.0f ns\n", a, b, rtt[rounds / 2], rounds,
	       (unsigned long long)trips, rtt[0], rtt[rounds - 1], rtt[rounds / 2] / 2);
	return 0;
}
