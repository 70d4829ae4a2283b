# vmm-shim/: libpvfs-shim (region, control client, userspace guest driver).
shim_SRCS := vmm-shim/region.c vmm-shim/client.c vmm-shim/uguest.c
shim_OBJS := $(shim_SRCS:%.c=$(OBJDIR)/%.o)
LIBSHIM := $(B)/lib/libpvfs-shim.a
$(LIBSHIM): $(shim_OBJS) $(lib_OBJS)
LIBS += $(LIBSHIM)
