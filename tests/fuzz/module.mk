# tests/fuzz/: libFuzzer harnesses, built only by `make SAN=fuzz fuzz` (clang,
# ASan+UBSan, coverage instrumentation for the code under test) into
# build-fuzz/tests/. tests/fuzz/run-fuzz runs one for a bounded time from its
# seed corpus in tests/fuzz/corpus/NAME; `make check` runs them all.
FUZZERS := fuzz_request fuzz_control fuzz_ring

$(B)/tests/fuzz_request: $(OBJDIR)/tests/fuzz/fuzz_request.o $(OBJDIR)/daemon/request.o
# fuzz_control and fuzz_ring count their fds with tests/lib's tl_fd_count.
$(B)/tests/fuzz_control: $(OBJDIR)/tests/fuzz/fuzz_control.o \
	$(filter-out %/main.o,$(pvfsd_OBJS)) $(tlib_OBJS) $(LIBSHIM) $(LIBPVFS)
$(B)/tests/fuzz_ring: $(OBJDIR)/tests/fuzz/fuzz_ring.o \
	$(filter-out %/main.o,$(pvfsd_OBJS)) $(tlib_OBJS) $(LIBSHIM) $(LIBPVFS)
LDLIBS_fuzz_request =
LDLIBS_fuzz_control = $(LDLIBS_pvfsd) -lm
LDLIBS_fuzz_ring = $(LDLIBS_pvfsd) -lm
$(addprefix $(B)/tests/,$(FUZZERS)): override LDFLAGS += -fsanitize=fuzzer

ifeq ($(SAN),fuzz)
fuzz: $(addprefix $(B)/tests/,$(FUZZERS))
else
fuzz:
	$(MAKE) SAN=fuzz fuzz
endif
