// SPDX-License-Identifier: GPL-2.0-only
/*
 * mkregion - write a pvfs region header into a file, for e2e tests that need
 * no daemon. The file backs an ivshmem-plain device (QEMU's
 * memory-backend-file), so the guest driver sees it as BAR2. The header is
 * laid out by proto/pvfs_ring.h itself, never by hand, and can be made wrong
 * on purpose (magic, ABI version, geometry) or left in a given host state to
 * exercise the driver's refusal paths. --layout prints the offsets the
 * header defines as JSON, so that test doubles in other languages
 * (fakehost.py) take the layout from pvfs_ring.h too.
 *
 * usage: mkregion FILE [--size BYTES] [--queues N] [--depth N] [--segs N]
 *                      [--state init|ready|broken|removed] [--capacity BYTES]
 *                      [--block BYTES] [--max-io BYTES] [--features MASK]
 *                      [--peer N] [--bad magic|abi|geometry] [--layout]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvfs_ring.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: mkregion FILE [--size BYTES] [--queues N] [--depth N] [--segs N]\n"
		"                [--state init|ready|broken|removed] [--capacity BYTES]\n"
		"                [--block BYTES] [--max-io BYTES] [--features MASK]\n"
		"                [--peer N] [--bad magic|abi|geometry] [--layout]\n");
	exit(2);
}

static unsigned long long num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		usage();
	return v;
}

static __u32 state_of(const char *s)
{
	if (!strcmp(s, "init"))
		return PVFS_HOST_INIT;
	if (!strcmp(s, "ready"))
		return PVFS_HOST_READY;
	if (!strcmp(s, "broken"))
		return PVFS_HOST_BROKEN;
	if (!strcmp(s, "removed"))
		return PVFS_HOST_REMOVED;
	usage();
	return 0;
}

#define F(t, m) printf("  \"%s.%s\": %zu,\n", #t + 5, #m, PVFS_OFFSETOF(struct t, m))

/* Offsets and sizes a test double needs, all from pvfs_ring.h. */
static void print_layout(__u32 depth, __u32 segs)
{
	printf("{\n");
	F(pvfs_region_hdr, nr_queues);
	F(pvfs_region_hdr, queue_depth);
	F(pvfs_region_hdr, max_segs);
	F(pvfs_region_hdr, capacity);
	F(pvfs_region_hdr, host_features);
	F(pvfs_region_hdr, host_state);
	F(pvfs_region_hdr, host_generation);
	F(pvfs_region_hdr, guest_features);
	F(pvfs_region_hdr, guest_generation);
	F(pvfs_queue_ctrl, sq_tail);
	F(pvfs_queue_ctrl, sq_head);
	F(pvfs_queue_ctrl, sq_flags);
	F(pvfs_queue_ctrl, cq_tail);
	F(pvfs_queue_ctrl, cq_head);
	F(pvfs_queue_ctrl, cq_flags);
	F(pvfs_sqe, opcode);
	F(pvfs_sqe, flags);
	F(pvfs_sqe, tag);
	F(pvfs_sqe, nr_segs);
	F(pvfs_sqe, len);
	F(pvfs_sqe, offset);
	F(pvfs_cqe, tag);
	F(pvfs_cqe, result);
	printf("  \"hdr_size\": %u,\n", PVFS_HDR_SIZE);
	printf("  \"sqe_size\": %zu,\n", sizeof(struct pvfs_sqe));
	printf("  \"cqe_size\": %zu,\n", sizeof(struct pvfs_cqe));
	printf("  \"seg_size\": %zu,\n", sizeof(struct pvfs_seg));
	printf("  \"sq_off\": %llu,\n", (unsigned long long)pvfs_sq_off());
	printf("  \"cq_off\": %llu,\n", (unsigned long long)pvfs_cq_off(depth));
	printf("  \"seg_off\": %llu,\n", (unsigned long long)pvfs_seg_off(depth));
	printf("  \"queue_stride\": %llu,\n",
	       (unsigned long long)pvfs_queue_stride(depth, segs));
	printf("  \"sq_need_wakeup\": %u,\n", PVFS_SQ_NEED_WAKEUP);
	printf("  \"host_ready\": %u,\n", PVFS_HOST_READY);
	printf("  \"host_removed\": %u,\n", PVFS_HOST_REMOVED);
	printf("  \"op_read\": %u, \"op_write\": %u, \"op_flush\": %u,\n",
	       PVFS_OP_READ, PVFS_OP_WRITE, PVFS_OP_FLUSH);
	printf("  \"op_discard\": %u, \"op_write_zeroes\": %u\n",
	       PVFS_OP_DISCARD, PVFS_OP_WRITE_ZEROES);
	printf("}\n");
}

int main(int argc, char **argv)
{
	static struct pvfs_region_hdr hdr;	/* zeroed: reserved fields must be */
	unsigned long long size = 1 << 20;
	__u32 queues = 1, depth = 16, segs = 8, state = PVFS_HOST_INIT;
	const char *bad = NULL, *path;
	int fd, i, layout = 0;

	if (argc < 2 || argv[1][0] == '-')
		usage();
	path = argv[1];

	hdr.capacity = 64ull << 20;
	hdr.logical_block_size = 512;
	hdr.physical_block_size = 4096;
	hdr.max_io_bytes = 1 << 20;
	hdr.max_discard_bytes = 1 << 30;
	hdr.host_features = PVFS_F_FLUSH;
	hdr.host_generation = 1;

	for (i = 2; i < argc; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(opt, "--layout")) {
			layout = 1;
			i--;	/* takes no value */
			continue;
		}
		if (!val)
			usage();
		if (!strcmp(opt, "--size"))
			size = num(val);
		else if (!strcmp(opt, "--queues"))
			queues = num(val);
		else if (!strcmp(opt, "--depth"))
			depth = num(val);
		else if (!strcmp(opt, "--segs"))
			segs = num(val);
		else if (!strcmp(opt, "--state"))
			state = state_of(val);
		else if (!strcmp(opt, "--capacity"))
			hdr.capacity = num(val);
		else if (!strcmp(opt, "--block"))
			hdr.logical_block_size = num(val);
		else if (!strcmp(opt, "--max-io"))
			hdr.max_io_bytes = num(val);
		else if (!strcmp(opt, "--features"))
			hdr.host_features = num(val);
		else if (!strcmp(opt, "--peer"))
			hdr.doorbell_peer = num(val);
		else if (!strcmp(opt, "--bad"))
			bad = val;
		else
			usage();
	}

	hdr.magic = PVFS_MAGIC;
	hdr.abi_version = PVFS_ABI_VERSION;
	hdr.region_size = size;
	hdr.nr_queues = queues;
	hdr.queue_depth = depth;
	hdr.max_segs = segs;
	hdr.queue_stride = pvfs_queue_stride(depth, segs);
	hdr.host_state = state;

	if (bad && !strcmp(bad, "magic"))
		hdr.magic = ~PVFS_MAGIC;
	else if (bad && !strcmp(bad, "abi"))
		hdr.abi_version = PVFS_ABI_VERSION + 1;
	else if (bad && !strcmp(bad, "geometry"))
		hdr.queue_stride += 4096;	/* disagrees with depth/segs */
	else if (bad)
		usage();

	if (!bad && !pvfs_geometry_valid(queues, depth, segs, hdr.queue_stride, size)) {
		fprintf(stderr, "mkregion: geometry does not fit in %llu bytes\n", size);
		return 1;
	}

	/* A fresh file: the queues must start zeroed, like a new memfd. */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, size) < 0 ||
	    pwrite(fd, &hdr, sizeof(hdr), 0) != sizeof(hdr) || close(fd) < 0) {
		fprintf(stderr, "mkregion: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (layout)
		print_layout(depth, segs);
	return 0;
}
