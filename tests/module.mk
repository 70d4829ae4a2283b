# tests/: one executable per C test (unit and integration), linked with the
# shared helper tests/lib/tlib.c; shell tests in tests/integ and tests/e2e
# need no build. tests/run-tests runs what `make list-tests` names (below).
$(OBJDIR)/tests/%.o: override CFLAGS += -Itests/lib -iquote daemon

tlib_OBJS := $(OBJDIR)/tests/lib/tlib.o
TEST_LIBS = $(tlib_OBJS) $(LIBSHIM) $(LIBPVFS)
TEST_LDLIBS = $(jansson_LIBS) -lm

# A test exists when its source does: tests/unit/test_*.c, tests/integ/integ_*.c,
# tests/integ/integ_*.sh, tests/e2e/e2e_*.sh (fuzzers: FUZZERS in tests/fuzz).
UNIT_TESTS := $(sort $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c)))
INTEG_TESTS := $(sort $(patsubst tests/integ/%.c,%,$(wildcard tests/integ/integ_*.c)))
INTEG_SCRIPTS := $(sort $(wildcard tests/integ/integ_*.sh))
E2E_SCRIPTS := $(sort $(wildcard tests/e2e/e2e_*.sh))

# What a unit test links besides its own object and TEST_LIBS.
$(B)/tests/test_request: $(OBJDIR)/daemon/request.o
$(B)/tests/test_sched: $(OBJDIR)/daemon/sched.o $(OBJDIR)/daemon/sched_model.o
$(foreach t,$(UNIT_TESTS),$(eval $(B)/tests/$(t): $(OBJDIR)/tests/unit/$(t).o $$(TEST_LIBS)))
$(B)/tests/test_peer_ram: $(OBJDIR)/vmm-shim/peer_ram.o
# test_lifecycle drives the real tenant and poller code in-process (poller_test.h).
$(B)/tests/test_lifecycle: $(filter-out %/main.o,$(pvfsd_OBJS))
$(foreach t,$(INTEG_TESTS),$(eval $(B)/tests/$(t): $(OBJDIR)/tests/integ/$(t).o $$(TEST_LIBS)))
$(foreach t,$(UNIT_TESTS) $(INTEG_TESTS),$(eval LDLIBS_$(t) = $$(TEST_LDLIBS)))
LDLIBS_test_lifecycle = $(LIBSHIM) $(LIBPVFS) $(TEST_LDLIBS) $(LDLIBS_pvfsd)
$(B)/tests/test_nbd_uri: $(OBJDIR)/daemon/backend/nbd.o
LDLIBS_test_nbd_uri = $(TEST_LDLIBS) $(nbd_LIBS)
$(B)/tests/test_rbd_spec: $(OBJDIR)/daemon/backend/rbd.o $(OBJDIR)/daemon/backend/backend.o \
	$(OBJDIR)/lib/log.o
LDLIBS_test_rbd_spec += $(rbd_LIBS)

TESTS += $(addprefix $(B)/tests/,$(UNIT_TESTS) $(INTEG_TESTS))

# Helpers the e2e scripts run; built with everything, never run as tests.
$(B)/tests/mkregion: $(OBJDIR)/tests/e2e/mkregion.o
TESTS += $(B)/tests/mkregion

# list-tests - the one list tests/run-tests runs, a "KIND NAME" line per
# test: NAME is a binary in the build's tests/ or a script's path. A test
# whose source is gone is gone from the list, whatever binary stayed behind.
list-tests:
	@$(foreach t,$(UNIT_TESTS),echo unit $(t);)
	@$(foreach t,$(INTEG_TESTS) $(INTEG_SCRIPTS),echo integ $(t);)
	@$(foreach t,$(E2E_SCRIPTS),echo e2e $(t);)
	@$(foreach t,$(FUZZERS),echo fuzz $(t);)
.PHONY: list-tests
