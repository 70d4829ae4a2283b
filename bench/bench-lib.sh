# SPDX-License-Identifier: MIT
#
# bench-lib.sh - sourced by the bench scripts (from the repository root,
# after `make -s everything`): the test file and the CPU hand-off.

# bench_volume FILE SIZE: SIZE bytes of random data, written in full (an
# unwritten extent's O_DIRECT read never reaches the disk) and written back:
# io_uring cannot issue an O_DIRECT read without blocking while the range
# still has dirty or writeback pages (iomap's NOWAIT check,
# filemap_range_needs_writeback), so every such read would go to an io-wq
# worker. Call sync FILE again after cached writes to it.
bench_volume() {
	head -c "$2" /dev/urandom > "$1"
	sync "$1"
}

# handoff A,B: the one-way cache-line hand-off between CPUs A and B right
# now, in ns (build/tests/pvfs-pingpong). On a VM it moves between modes
# (60 vs 240 ns on the development VM) as the host moves the vCPUs.
handoff() {
	"$PWD/build/tests/pvfs-pingpong" --cpus "$1" --rounds 3 --trips 100000 2>/dev/null |
		sed -n 's/.*one-way hand-off \([0-9]*\) ns.*/\1/p'
}
