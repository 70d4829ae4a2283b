# daemon/: pvfsd.
pvfsd_SRCS := daemon/main.c daemon/config.c daemon/control.c daemon/tenant.c \
	daemon/poller.c daemon/request.c daemon/sched.c daemon/sched_model.c daemon/domain.c daemon/stats.c daemon/state.c \
	daemon/qos_json.c daemon/metrics.c daemon/systemd.c \
	daemon/backend/backend.c daemon/backend/file.c daemon/placement.c daemon/lifecycle.c \
	daemon/backend/nbd.c daemon/backend/rbd.c
pvfsd_OBJS := $(pvfsd_SRCS:%.c=$(OBJDIR)/%.o)
$(B)/bin/pvfsd: $(pvfsd_OBJS) $(LIBPVFS)
LDLIBS_pvfsd = $(nbd_LIBS) $(uring_LIBS) $(event_LIBS) $(jansson_LIBS) $(systemd_LIBS) $(inih_LIBS) \
	$(rbd_LIBS)
BIN += $(B)/bin/pvfsd
