/* SPDX-License-Identifier: MIT */
/*
 * integ_cycles - 1000 attach / plug / I/O / unplug / detach cycles: pvfsd's
 * fd count and RSS after the last cycle are what they were after the first
 * hundred (allocator warm-up), so nothing leaks per tenant or per plug.
 */
#include <stdio.h>
#include <string.h>

#include "tlib.h"

#define CYCLES 1000

int main(void)
{
	struct tl_daemon d = { 0 };
	char err[512];
	int fd_warm = 0, fd_end, failures = 0;
	uint64_t rss_warm = 0, rss_end;

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "c.img", 1u << 20);
	for (int i = 0; i < CYCLES; i++) {
		struct tl_vm vm;
		int r = tl_vm_plug(&d, &vm, "cyc", "c.img", 1 + i % 2, 8, 64u << 10, err, sizeof(err));

		if (r == 0 && i % 10 == 0)
			r = tl_vm_rw(&vm, 0, i % 20 == 0, 4096 * (uint64_t)(i % 64), 4096, 0) == 4096 ?
			    0 : -1;
		tl_vm_unplug(&vm);
		/* detach waits for the unplug's drain, then frees the tenant. */
		if (r == 0)
			r = tl_rpc(&d, "detach", json_pack("{s:s}", "name", "cyc"), NULL);
		if (r != 0 && failures++ < 3)
			printf("# cycle %d failed: %d %s\n", i, r, err);
		if (i == 99) {
			/* Our connection of the detach above may still be open: let it close. */
			fd_warm = tl_fd_count_settled(d.pid, tl_fd_count(d.pid) - 1);
			rss_warm = tl_rss_kb(d.pid);
		}
	}
	fd_end = tl_fd_count_settled(d.pid, fd_warm);
	rss_end = tl_rss_kb(d.pid);
	TL_CHECK(failures == 0, "%d attach/plug/detach cycles, %d failed", CYCLES, failures);
	TL_CHECK(fd_end == fd_warm, "fd count stable: %d after 100 cycles, %d after %d", fd_warm,
		 fd_end, CYCLES);
	if (tl_rss_meaningful())
		TL_CHECK(rss_end <= rss_warm + 1024, "RSS stable: %llu KiB after 100 cycles, "
			 "%llu KiB after %d", (unsigned long long)rss_warm,
			 (unsigned long long)rss_end, CYCLES);
	else
		printf("# ASan build: RSS not checked (quarantine); LeakSanitizer checks the exit\n");
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
