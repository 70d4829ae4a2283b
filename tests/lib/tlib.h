/* SPDX-License-Identifier: MIT */
/*
 * tlib.h - the shared helper of pvfs's C tests (unit and integration), in
 * the spirit of liburing's test/helpers.c: checks that print "ok"/"not ok"
 * and count failures, a real pvfsd started on a private temporary runtime
 * directory (readiness by sd_notify on our own NOTIFY_SOCKET, never by
 * sleeping), child processes with timeouts, /proc probes (fd count, CPU
 * time, RSS), and an in-process simulated VM on libpvfs-shim.
 *
 * Exit codes: 0 pass, 1 fail, 77 skip (with the reason printed).
 */
#ifndef PVFS_TLIB_H
#define PVFS_TLIB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "pvfs_shim.h"

#define TL_SKIP 77

extern int tl_failures;

#define TL_CHECK(cond, ...) tl_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
void tl_check(int ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* tl_fatal - a failed precondition: report and exit 1. */
void tl_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void tl_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* tl_done - print the summary and return the exit code. */
int tl_done(void);

/* The build directory ($PVFS_BUILD, default "build") and its binaries. */
const char *tl_bin(const char *name);

struct tl_daemon {
	pid_t pid;
	char dir[256];			/* temporary directory, removed by tl_daemon_cleanup */
	char run[300];			/* runtime dir */
	char vols[300];			/* volume dir */
	char sock[340];			/* control socket */
	char log[300];			/* pvfsd's stderr */
	int listen_fd;			/* > 0: pass as a socket-activated fd (LISTEN_FDS) */
	bool keep_notify;		/* keep reading sd_notify after READY (tl_notify_wait) */
	int notify_fd;			/* our NOTIFY_SOCKET end, open after start if keep_notify */
};

/*
 * tl_daemon_start - start pvfsd on d (a new temporary dir unless d->dir is
 * set, e.g. to restart on the same state) with extra arguments (NULL
 * terminated), and wait up to 10 s for READY=1.
 */
void tl_daemon_start(struct tl_daemon *d, ...) __attribute__((sentinel));
/*
 * tl_notify_wait - read sd_notify messages until one contains want, up to
 * timeout_ms; returns how many messages containing want were seen (0 on
 * timeout). With count > 1, waits for that many.
 */
int tl_notify_wait(struct tl_daemon *d, const char *want, int count, int timeout_ms);
/* tl_daemon_stop - SIGTERM, wait up to 20 s; returns the exit status (or -signal). */
int tl_daemon_stop(struct tl_daemon *d);
/* tl_daemon_kill - SIGKILL and reap. */
void tl_daemon_kill(struct tl_daemon *d);
void tl_daemon_cleanup(struct tl_daemon *d);
/* tl_volume - create vols/name of size bytes (sparse); returns its path. */
const char *tl_volume(struct tl_daemon *d, const char *name, uint64_t size);

/* tl_rpc - call method with params (consumed); returns 0 or the error code. */
int tl_rpc(struct tl_daemon *d, const char *method, json_t *params, json_t **ret_result);
/* tl_tenant_stats - the `stats` entry of one tenant (new reference) or NULL. */
json_t *tl_tenant_stats(struct tl_daemon *d, const char *name);
/* tl_tenant_rw_ops - reads + writes pvfsd completed for the tenant (0 if unknown). */
long long tl_tenant_rw_ops(struct tl_daemon *d, const char *name);
/* tl_wait_ops - poll until the tenant's reads + writes reach base + more, up to timeout_ms. */
bool tl_wait_ops(struct tl_daemon *d, const char *name, long long base, long long more,
		 int timeout_ms);
/* tl_wait_state - poll the tenant's state until it is want, up to timeout_ms. */
bool tl_wait_state(struct tl_daemon *d, const char *name, const char *want, int timeout_ms);

/* tl_spawn - start argv (NULL-terminated) with stdout to out_path (or inherited). */
pid_t tl_spawn(char *const argv[], const char *out_path);
/* tl_wait - wait up to timeout_ms for pid; exit status, 128+signal, or -ETIMEDOUT (killed). */
int tl_wait(pid_t pid, int timeout_ms);
/* tl_run - spawn and wait. */
int tl_run(char *const argv[], const char *out_path, int timeout_ms);

int tl_fd_count(pid_t pid);
/*
 * tl_fd_count_settled - the fd count once it equals want, or after 2 s.
 * pvfsd closes a control connection when it reads the client's EOF, a
 * moment after the client has its reply: a leak persists, that does not.
 */
int tl_fd_count_settled(pid_t pid, int want);
/* tl_cpu_ns - user+system CPU time of pid (all threads). */
uint64_t tl_cpu_ns(pid_t pid);
uint64_t tl_rss_kb(pid_t pid);
/*
 * tl_rss_meaningful - false in ASan builds, whose quarantine keeps freed
 * memory resident: there LeakSanitizer checks pvfsd's exit instead (a leak
 * makes it exit non-zero, which every test checks).
 */
#ifdef __SANITIZE_ADDRESS__
#define tl_rss_meaningful() false
#else
#define tl_rss_meaningful() true
#endif

/* A simulated VM in this process: region, guest RAM, plug, guest driver. */
struct tl_vm {
	struct pvfs_region *region;
	struct pvfs_uguest guest;
	struct pvfs_plug *plug;
	struct pvfs_memregion mem[2];
	int ram_fd;
	uint8_t *ram;			/* guest RAM: gpa 0 = ram[0], gpa 4G = ram[ram_size/2] */
	uint64_t ram_size;
};

/*
 * tl_vm_plug - attach tenant name on volume (if volume != NULL) and plug a
 * VM with nq queues of depth and ram_size bytes of RAM (half at gpa 0, half
 * at gpa 4 GiB). Returns 0 or the error code (message in err).
 */
int tl_vm_plug(struct tl_daemon *d, struct tl_vm *vm, const char *name, const char *volume,
	       uint32_t nq, uint32_t depth, uint64_t ram_size, char *err, size_t errlen);
/*
 * tl_vm_plug_new - tl_vm_plug of tenant name on a new sparse volume
 * name.img of vol_size bytes; a failure is fatal ("plug NAME: why").
 */
void tl_vm_plug_new(struct tl_daemon *d, struct tl_vm *vm, const char *name, uint64_t vol_size,
		    uint32_t nq, uint32_t depth, uint64_t ram_size);
void tl_vm_unplug(struct tl_vm *vm);
/* tl_vm_host_state_is - poll the region's host state until it is want, up to timeout_ms. */
bool tl_vm_host_state_is(struct tl_vm *vm, uint32_t want, int timeout_ms);
/* tl_vm_gpa - the guest-physical address of ram[off]. */
uint64_t tl_vm_gpa(const struct tl_vm *vm, uint64_t off);
/*
 * tl_vm_io - submit one request on queue q and wait up to timeout_ms for its
 * completion; returns the CQE result, or -ETIMEDOUT.
 */
int tl_vm_io(struct tl_vm *vm, uint32_t q, const struct pvfs_sqe *sqe,
	     const struct pvfs_seg *segs, unsigned nsegs, int timeout_ms);
/* tl_vm_rw - read or write len bytes at volume offset off from/to ram[ram_off]. */
int tl_vm_rw(struct tl_vm *vm, uint32_t q, bool write, uint64_t off, uint32_t len,
	     uint64_t ram_off);
/*
 * tl_vm_roundtrip - write a 4 KiB block of pattern pat at volume offset off
 * on queue 0 (from ram[0..4K)), read it back into ram[8K..12K) and compare.
 */
bool tl_vm_roundtrip(struct tl_vm *vm, uint64_t off, uint8_t pat);

/*
 * A volume whose reads the test holds (tests/integ/slowfs.py, a FUSE file
 * system): vols/fuse/vol.img, size bytes of tl_slowfs_byte(), where every
 * read at or beyond gate_off blocks until tl_slowfs_release(). The slow
 * device the life-cycle tests need for a request that stays in flight as
 * long as they like, without sleeps.
 */
struct tl_slowfs {
	pid_t pid;
	char mnt[400], ctl[400], back[400];
	int events_fd, gate_fd;
	char buf[256];
	size_t len;
};

/* tl_slowfs_byte - the volume's byte at off. */
static inline uint8_t tl_slowfs_byte(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 12) * 13 + 1);
}
/* tl_slowfs_missing - why slowfs cannot run here (root, FUSE, fusepy), or NULL if it can. */
const char *tl_slowfs_missing(void);
/* tl_slowfs_start - mount it under d's volume dir; skips (77) when tl_slowfs_missing(). */
void tl_slowfs_start(struct tl_daemon *d, struct tl_slowfs *fs, uint64_t size, uint64_t gate_off);
/* tl_slowfs_wait_read - wait up to timeout_ms for a held read; its offset, or -ETIMEDOUT. */
int64_t tl_slowfs_wait_read(struct tl_slowfs *fs, int timeout_ms);
/* tl_slowfs_release - let one held read (or the next one) go. */
void tl_slowfs_release(struct tl_slowfs *fs);
/* tl_slowfs_stop - release everything, unmount, reap. Safe to call twice. */
void tl_slowfs_stop(struct tl_slowfs *fs);

/* tl_rand - xorshift64* on *state: reproducible pseudo-random numbers. */
uint64_t tl_rand(uint64_t *state);

#endif
