# bench/: pvfs-bench, the simulated VM and load generator.
bench_SRCS := bench/pvfs-bench.c
bench_OBJS := $(bench_SRCS:%.c=$(OBJDIR)/%.o)
$(B)/bin/pvfs-bench: $(bench_OBJS) $(LIBSHIM) $(LIBPVFS)
LDLIBS_pvfs-bench = $(uring_LIBS) $(jansson_LIBS) $(rbd_LIBS) $(nbd_LIBS) -lm
BIN += $(B)/bin/pvfs-bench
