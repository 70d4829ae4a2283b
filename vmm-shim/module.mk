# vmm-shim/: libpvfs-shim (region, control client, userspace guest driver).
shim_SRCS := vmm-shim/region.c vmm-shim/client.c vmm-shim/uguest.c
shim_OBJS := $(shim_SRCS:%.c=$(OBJDIR)/%.o)
LIBSHIM := $(B)/lib/libpvfs-shim.a
$(LIBSHIM): $(shim_OBJS) $(lib_OBJS)
LIBS += $(LIBSHIM)
# pvfs-shim: serves QEMU's ivshmem-doorbell chardev for one VM (docs/qemu.md).
pvfs-shim_OBJS := $(OBJDIR)/vmm-shim/pvfs-shim.o $(OBJDIR)/vmm-shim/peer_ram.o
$(B)/bin/pvfs-shim: $(pvfs-shim_OBJS) $(LIBSHIM) $(LIBPVFS)
LDLIBS_pvfs-shim = $(jansson_LIBS)
BIN += $(B)/bin/pvfs-shim
