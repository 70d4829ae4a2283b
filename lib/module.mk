# lib/: helpers shared by every userspace component (not installed).
lib_SRCS := lib/util.c lib/log.c lib/rpc.c lib/hist.c lib/verify.c lib/devkey.c
lib_OBJS := $(lib_SRCS:%.c=$(OBJDIR)/%.o)
LIBPVFS := $(B)/lib/libpvfs-common.a
$(LIBPVFS): $(lib_OBJS)
LIBS += $(LIBPVFS)
