/* SPDX-License-Identifier: MIT */
/*
 * calibrate.c - `pvfsctl calibrate DOMAIN --dir DIR`: measure the device of a
 * scheduling domain and give pvfsd its cost model (method
 * "set_cost_model"), as blk-iocost's coefficient generator does for
 * io.cost.model: the probe runs here, in the operator's process, on a
 * scratch file in DIR (which must be on that device), and pvfsd only stores
 * and uses the result. `--fixed` returns the domain to the fixed model.
 *
 * Six short io_uring runs with O_DIRECT (sequential 1 MiB reads and writes
 * for bytes/s; sequential and random 4 KiB reads and writes for requests/s,
 * at queue depth 32) and timed fdatasync()s give, per reads and writes,
 *   per byte      1 / bytes/s
 *   per request   1 / requests/s - 4 KiB's worth of bytes (sequential, random)
 *   per flush     the mean fdatasync() time after a 4 KiB write.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "devkey.h"
#include "output.h"
#include "pvfsctl.h"
#include "util.h"

#define PROBE_QD	32
#define SMALL		4096u
#define LARGE		(1u << 20)
#define FLUSHES		32

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * probe - requests/s of bs-sized reads or writes, sequential or random over
 * size bytes of fd, at queue depth qd for ns nanoseconds. -errno on error.
 */
static double probe(int fd, uint64_t size, bool write, bool seq, uint32_t bs, unsigned qd,
		    uint64_t ns, void *buf)
{
	struct io_uring ring;
	uint64_t t0, done = 0, pos = 0, x = 0x9e3779b97f4a7c15ull, blocks = size / bs;
	unsigned inflight = 0;
	int r;

	r = io_uring_queue_init(qd, &ring, 0);
	if (r < 0)
		return r;
	t0 = mono_ns();
	for (;;) {
		struct io_uring_cqe *cqe;
		bool more = mono_ns() - t0 < ns;

		while (more && inflight < qd) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			uint64_t off = (seq ? pos++ : xorshift(&x)) % blocks * bs;

			if (write)
				io_uring_prep_write(sqe, fd, buf, bs, off);
			else
				io_uring_prep_read(sqe, fd, buf, bs, off);
			inflight++;
		}
		if (!inflight)
			break;
		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0)
			break;
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			if (cqe->res != (int)bs)
				r = cqe->res < 0 ? cqe->res : -EIO;
			io_uring_cqe_seen(&ring, cqe);
			inflight--;
			done++;
		}
		if (r < 0)
			break;
	}
	io_uring_queue_exit(&ring);
	if (r < 0)
		return r;
	return (double)done * 1e9 / (double)(mono_ns() - t0);
}

/* flush_ns - the mean time of an fdatasync() after a 4 KiB write. */
static double flush_ns(int fd, void *buf)
{
	uint64_t sum = 0;

	for (int i = 0; i < FLUSHES; i++) {
		uint64_t t;

		if (pwrite(fd, buf, SMALL, (off_t)i * SMALL) != (ssize_t)SMALL)
			return -errno;
		t = mono_ns();
		if (fdatasync(fd) < 0)
			return -errno;
		sum += mono_ns() - t;
	}
	return (double)sum / FLUSHES;
}

/* scratch - an O_DIRECT file of size bytes in dir, written once, already unlinked. */
static int scratch(const char *dir, uint64_t size, void *buf)
{
	char path[4096], proc[64];
	int tmp, fd;

	snprintf(path, sizeof(path), "%s/.pvfs-calibrate.XXXXXX", dir);
	tmp = mkstemp(path);
	if (tmp < 0)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tmp);
	fd = open(proc, O_RDWR | O_DIRECT | O_CLOEXEC);
	unlink(path);
	close(tmp);
	if (fd < 0)
		return -errno;
	memset(buf, 0x5a, LARGE);
	/* Written, not fallocated: reads of unwritten extents never reach the device. */
	for (uint64_t off = 0; off < size; off += LARGE) {
		if (pwrite(fd, buf, LARGE, (off_t)off) != (ssize_t)LARGE) {
			int r = -errno;

			close(fd);
			return r ? r : -EIO;
		}
	}
	if (fdatasync(fd) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* measure - the cost model of the device dir is on. */
static int measure(const char *cmd, const char *dir, uint64_t size, uint64_t each_ns,
		   json_t **ret_model)
{
	double bps[2], seq[2], rnd[2], fl;
	_cleanup_free_ void *buf = NULL;
	int fd, r = 0;

	if (posix_memalign(&buf, 4096, LARGE))
		return -ENOMEM;
	fd = scratch(dir, size, buf);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: cannot write a scratch file in %s: %s\n", PROG_NAME, cmd,
			dir, strerror(-fd));
		return fd;
	}
	for (int w = 0; w < 2 && r >= 0; w++) {
		bps[w] = probe(fd, size, w, true, LARGE, 8, each_ns, buf) * LARGE;
		seq[w] = probe(fd, size, w, true, SMALL, PROBE_QD, each_ns, buf);
		rnd[w] = probe(fd, size, w, false, SMALL, PROBE_QD, each_ns, buf);
		if (bps[w] <= 0 || seq[w] <= 0 || rnd[w] <= 0)
			r = -EIO;
	}
	fl = r < 0 ? 0 : flush_ns(fd, buf);
	close(fd);
	if (r < 0 || fl < 0) {
		fprintf(stderr, "%s: %s: the probe's I/O failed in %s\n", PROG_NAME, cmd, dir);
		return -EIO;
	}
	{
		double ps[2] = { 1e12 / bps[0], 1e12 / bps[1] };
		double page[2] = { ps[0] * SMALL / 1000, ps[1] * SMALL / 1000 };

#define NS(x) ((json_int_t)((x) > 0 ? (x) : 0))
		*ret_model = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				       "read_seq_ns", NS(1e9 / seq[0] - page[0]),
				       "read_rand_ns", NS(1e9 / rnd[0] - page[0]),
				       "read_byte_ps", NS(ps[0]),
				       "write_seq_ns", NS(1e9 / seq[1] - page[1]),
				       "write_rand_ns", NS(1e9 / rnd[1] - page[1]),
				       "write_byte_ps", NS(ps[1]), "flush_ns", NS(fl));
#undef NS
	}
	if (!ctl_json)
		printf("measured in %s: read %.0f MB/s, %.0f seq and %.0f random 4 KiB IOPS; "
		       "write %.0f MB/s, %.0f seq and %.0f random IOPS; flush %.0f us\n", dir,
		       bps[0] / 1e6, seq[0], rnd[0], bps[1] / 1e6, seq[1], rnd[1], fl / 1000);
	return 0;
}

int calibrate_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 'S' },
		{ "seconds", required_argument, NULL, 't' },
		{ "fixed", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *domain;
	uint64_t size = 256ull << 20, seconds = 3;
	json_t *model = NULL, *result = NULL;
	bool fixed = false;
	char key[128];
	struct stat st;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'S':
			if (parse_opt_number(argv[0], "--size", optarg, OPT_SIZE, &size) < 0)
				return 1;
			if (size < 16 * LARGE || size % LARGE)
				return usage_error(argv[0], "--size must be a multiple of 1M, at least 16M");
			break;
		case 't':
			if (parse_opt_number(argv[0], "--seconds", optarg, OPT_COUNT, &seconds) < 0)
				return 1;
			if (seconds < 1 || seconds > 600)
				return usage_error(argv[0], "--seconds must be 1-600");
			break;
		case 'f':
			fixed = true;
			break;
		default:
			return option_default(opt, argv);
		}
	}
	if (optind >= argc)
		return usage_error(argv[0], "missing DOMAIN (see pvfsctl stats)");
	domain = argv[optind++];
	if (optind < argc)
		return usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	if (fixed == !!dir)
		return usage_error(argv[0], "give --dir DIR (measure) or --fixed (the default model)");
	if (fixed) {
		model = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "read_seq_ns", 0,
				  "read_rand_ns", 0, "read_byte_ps", 0, "write_seq_ns", 0,
				  "write_rand_ns", 0, "write_byte_ps", 0, "flush_ns", 0);
	} else {
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "%s: %s: %s is not a directory\n", PROG_NAME, argv[0], dir);
			return 1;
		}
		dev_domain_key(st.st_dev, key, sizeof(key));
		if (strcmp(key, domain)) {
			fprintf(stderr, "%s: %s: %s is on domain %s, not %s; give a directory on "
				"that device\n", PROG_NAME, argv[0], dir, key, domain);
			return 1;
		}
		/* Six runs share the time; the scratch file and flushes come on top. */
		if (measure(argv[0], dir, size, seconds * 1000000000ull / 6, &model) < 0)
			return 1;
	}
	if (ctl_call("set_cost_model", json_pack("{s:s, s:o}", "domain", domain, "cost_model",
						 model), CTL_TIMEOUT_MS, &result) < 0)
		return 1;
	if (ctl_json) {
		print_json(result);
	} else {
		json_t *m = json_object_get(result, "cost_model");

		printf("domain %s: cost model %s\n", jstr(result, "domain"), fixed ? "fixed" :
		       "calibrated");
		if (!fixed)
			printf("  read: %lld ns seq, %lld ns random, %lld ps/byte; write: %lld ns seq, "
			       "%lld ns random, %lld ps/byte; flush %lld ns\n",
			       (long long)jint(m, "read_seq_ns"), (long long)jint(m, "read_rand_ns"),
			       (long long)jint(m, "read_byte_ps"), (long long)jint(m, "write_seq_ns"),
			       (long long)jint(m, "write_rand_ns"),
			       (long long)jint(m, "write_byte_ps"), (long long)jint(m, "flush_ns"));
	}
	json_decref(result);
	return 0;
}
