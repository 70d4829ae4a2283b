# bench/: pvfs-bench, the simulated VM and load generator, and pvfs-neighbours.
bench_SRCS := bench/pvfs-bench.c
bench_OBJS := $(bench_SRCS:%.c=$(OBJDIR)/%.o)
$(B)/bin/pvfs-bench: $(bench_OBJS) $(LIBSHIM) $(LIBPVFS)
LDLIBS_pvfs-bench = $(uring_LIBS) $(jansson_LIBS) $(rbd_LIBS) $(nbd_LIBS) -lm
BIN += $(B)/bin/pvfs-bench
# pvfs-neighbours: busy VMs next to idle plugged ones (bench/neighbours);
# built with everything like the e2e helpers, never installed.
$(B)/tests/pvfs-neighbours: $(OBJDIR)/bench/pvfs-neighbours.o $(LIBSHIM) $(LIBPVFS)
LDLIBS_pvfs-neighbours = $(jansson_LIBS)
TESTS += $(B)/tests/pvfs-neighbours
# pvfs-pingpong: one cache-line hand-off between two CPUs (bench/README.md).
$(B)/tests/pvfs-pingpong: $(OBJDIR)/bench/pvfs-pingpong.o $(LIBPVFS)
TESTS += $(B)/tests/pvfs-pingpong
