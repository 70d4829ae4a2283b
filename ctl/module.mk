# ctl/: pvfsctl, the operator CLI (one subcommand per file).
pvfsctl_SRCS := ctl/pvfsctl.c ctl/client.c ctl/output.c ctl/qos.c ctl/attach.c ctl/detach.c \
	ctl/list.c ctl/move.c ctl/resize.c ctl/set_qos.c ctl/stats.c ctl/test_hooks.c \
	ctl/version.c ctl/calibrate.c
pvfsctl_OBJS := $(pvfsctl_SRCS:%.c=$(OBJDIR)/%.o)
$(B)/bin/pvfsctl: $(pvfsctl_OBJS) $(LIBPVFS)
LDLIBS_pvfsctl = $(jansson_LIBS) $(uring_LIBS)
BIN += $(B)/bin/pvfsctl
