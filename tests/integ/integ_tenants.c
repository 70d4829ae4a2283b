/* SPDX-License-Identifier: MIT */
/*
 * integ_tenants - 8 tenants at once on one pvfsd, each a pvfs-bench process
 * (a simulated VM) doing verified random writes and then verified random
 * reads on its own volume. Afterwards every volume file is read directly:
 * each block must be either never written (zeroes) or a valid block of its
 * own tenant (seed) at its own offset, so no tenant's data landed in
 * another's volume or at the wrong place.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "verify.h"

#define TENANTS 8
#define VOL_SIZE (16u << 20)
#define BS 4096

int main(void)
{
	struct tl_daemon d = { 0 };
	pid_t pids[TENANTS];
	char names[TENANTS][16], vols[TENANTS][32], seeds[TENANTS][16], out[TENANTS][600];
	long long written[TENANTS];
	static uint8_t buf[BS];

	tl_daemon_start(&d, NULL);
	for (int i = 0; i < TENANTS; i++) {
		snprintf(names[i], sizeof(names[i]), "vm%d", i);
		snprintf(vols[i], sizeof(vols[i]), "vm%d.img", i);
		snprintf(seeds[i], sizeof(seeds[i]), "%d", 1000 + i);
		snprintf(out[i], sizeof(out[i]), "%s/bench-%d.json", d.dir, i);
		tl_volume(&d, vols[i], VOL_SIZE);
	}
	for (int phase = 0; phase < 2; phase++) {
		const char *rw = phase ? "randread" : "randwrite";

		for (int i = 0; i < TENANTS; i++) {
			char *argv[] = { (char *)tl_bin("pvfs-bench"), "-q", "-s", d.sock,
					 "--tenant", names[i], "--volume", vols[i], "--rw", (char *)rw,
					 "--verify", "--seed", seeds[i], "--ios", "3000",
					 "--iodepth", "8", "--queues", "2", "--json", NULL };

			pids[i] = tl_spawn(argv, out[i]);
		}
		for (int i = 0; i < TENANTS; i++) {
			int r = tl_wait(pids[i], 120000);

			TL_CHECK(r == 0, "%s: tenant %s exits 0 (got %d)", rw, names[i], r);
			if (!phase) {
				/* After its writes the bench read back each distinct block it wrote. */
				json_t *res = json_load_file(out[i], 0, NULL);

				written[i] = json_integer_value(json_object_get(res, "verified"));
				json_decref(res);
			}
		}
	}
	for (int i = 0; i < TENANTS; i++) {
		json_t *st = tl_tenant_stats(&d, names[i]);
		json_t *ops = json_object_get(st, "ops");
		long long w = json_integer_value(json_object_get(json_object_get(ops, "write"), "ops"));
		long long e = json_integer_value(json_object_get(json_object_get(ops, "write"), "errors"));

		TL_CHECK(w >= 3000 && e == 0, "%s: pvfsd counted %lld writes, %lld errors", names[i],
			 w, e);
		json_decref(st);
	}
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0 on SIGTERM");

	for (int i = 0; i < TENANTS; i++) {
		char path[600];
		uint64_t valid = 0, zero = 0, bad = 0;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", d.vols, vols[i]);
		fd = open(path, O_RDONLY);
		for (uint64_t off = 0; off < VOL_SIZE; off += BS) {
			enum verify_result r;

			if (pread(fd, buf, BS, (off_t)off) != BS) {
				bad++;
				continue;
			}
			r = verify_check(buf, BS, 1000 + (uint64_t)i, off, UINT64_MAX);
			if (r == VERIFY_OK)
				valid++;
			else if (r == VERIFY_ZERO)
				zero++;
			else if (bad++ < 3)
				printf("# %s offset %llu: %s\n", vols[i], (unsigned long long)off,
				       verify_result_name(r));
		}
		close(fd);
		TL_CHECK(bad == 0 && (long long)valid == written[i] && written[i] > 1000,
			 "%s holds exactly its own tenant's blocks: %llu valid (bench wrote %lld "
			 "distinct), %llu never written, %llu bad", vols[i], (unsigned long long)valid,
			 written[i], (unsigned long long)zero, (unsigned long long)bad);
	}
	tl_daemon_cleanup(&d);
	return tl_done();
}
