# tests/: one executable per C test (unit and integration), linked with the
# shared helper tests/lib/tlib.c; shell tests in tests/integ and tests/e2e
# need no build. tests/run-tests runs them all.
$(OBJDIR)/tests/%.o: override CFLAGS += -Itests/lib -iquote daemon

tlib_OBJS := $(OBJDIR)/tests/lib/tlib.o
TEST_LIBS = $(tlib_OBJS) $(LIBSHIM) $(LIBPVFS)
TEST_LDLIBS = $(jansson_LIBS) -lm

UNIT_TESTS := test_ring test_request test_sched test_verify test_peer_ram
INTEG_TESTS := $(patsubst tests/integ/%.c,%,$(wildcard tests/integ/integ_*.c))

$(B)/tests/test_ring: $(OBJDIR)/tests/unit/test_ring.o $(TEST_LIBS)
$(B)/tests/test_request: $(OBJDIR)/tests/unit/test_request.o $(OBJDIR)/daemon/request.o $(TEST_LIBS)
$(B)/tests/test_sched: $(OBJDIR)/tests/unit/test_sched.o $(OBJDIR)/daemon/sched.o $(TEST_LIBS)
$(B)/tests/test_verify: $(OBJDIR)/tests/unit/test_verify.o $(TEST_LIBS)
$(B)/tests/test_peer_ram: $(OBJDIR)/tests/unit/test_peer_ram.o $(OBJDIR)/vmm-shim/peer_ram.o $(TEST_LIBS)
$(foreach t,$(INTEG_TESTS),$(eval $(B)/tests/$(t): $(OBJDIR)/tests/integ/$(t).o $$(TEST_LIBS)))
$(foreach t,$(UNIT_TESTS) $(INTEG_TESTS),$(eval LDLIBS_$(t) = $$(TEST_LDLIBS)))

TESTS += $(addprefix $(B)/tests/,$(UNIT_TESTS) $(INTEG_TESTS))
