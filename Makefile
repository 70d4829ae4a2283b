# SPDX-License-Identifier: MIT
#
# Top-level Makefile for pvfs. Plain GNU make, no generator. Each component
# directory contributes a `module.mk` fragment (its sources, its binaries);
# this file holds the toolchain flags, the pattern rules and the phony targets
# so there is one place that says how C is compiled here.
#
#   make            build every userspace binary into build/bin, libraries into build/lib
#   make check      install test dependencies, build (also with sanitizers), run every test
#   make demo       the quick-start main job (scripts/demo: installs what is missing first)
#   make deps       install missing Debian packages (scripts/install-deps)
#   make kmod       build guest-kmod/pvfs_blk.ko against the guest kernel headers
#   make SAN=asan   build with ASan+UBSan into build-asan/;  SAN=tsan into build-tsan/
#   make SAN=fuzz fuzz   the libFuzzer harnesses (clang, ASan+UBSan) into build-fuzz/tests/
#   make V=1        show the commands
#   make install PREFIX=/usr DESTDIR=...   (LIBDIR=... for libpvfs-shim.a, default PREFIX/lib)
#   make deb        Debian packages from the working tree into build/deb/ (scripts/make-deb,
#                   packaging/README.md); the tree itself is not touched

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKG_CONFIG ?= pkg-config
WERROR  ?= $(if $(CI),-Werror,)
SAN     ?=

ifeq ($(SAN),)
B := build
SANFLAGS :=
else ifeq ($(SAN),asan)
B := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(SAN),tsan)
B := build-tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else ifeq ($(SAN),fuzz)
# Coverage for libFuzzer on everything; the harnesses link -fsanitize=fuzzer.
B := build-fuzz
CC := clang
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
else
$(error SAN must be empty, asan, tsan or fuzz)
endif

PKGS := libevent jansson liburing libsystemd inih libnbd
# Computed once, when make starts: a target that installs packages must run
# the build in a new make ($(MAKE) everything after deps, as check does).
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
# Without the packages a build would stop at the first #include <jansson.h>;
# say what to run instead. Goals that install first or compile nothing are exempt.
NO_BUILD_GOALS := deps demo check clean list-tests deb kmod
DEPS_HINT := run 'scripts/install-deps --build' as root, or start with 'make demo' or 'make check'
ifneq ($(filter-out $(NO_BUILD_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell $(PKG_CONFIG) --exists $(PKGS) 2>/dev/null && echo ok),ok)
$(error missing build dependencies (pkg-config does not find all of $(PKGS)): $(DEPS_HINT))
endif
ifneq ($(shell printf '\043include <rbd/librbd.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo ok),ok)
$(error missing build dependency librbd-dev (no <rbd/librbd.h>): $(DEPS_HINT))
endif
endif
uring_LIBS    = $(shell $(PKG_CONFIG) --libs liburing)
event_LIBS    = $(shell $(PKG_CONFIG) --libs libevent)
jansson_LIBS  = $(shell $(PKG_CONFIG) --libs jansson)
systemd_LIBS  = $(shell $(PKG_CONFIG) --libs libsystemd)
inih_LIBS     = $(shell $(PKG_CONFIG) --libs inih)
# Debian 12's librbd-dev ships no pkg-config file: then its flags are these.
rbd_LIBS      = $(or $(shell $(PKG_CONFIG) --libs librbd 2>/dev/null),-lrbd -lrados)
nbd_LIBS      = $(shell $(PKG_CONFIG) --libs libnbd)

OPT ?= -O2 -g
CFLAGS ?= $(OPT)
override CFLAGS += -std=gnu11 -Wall -Wextra $(WERROR) -Wno-unused-parameter \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-D_GNU_SOURCE -fno-strict-aliasing -pthread -MMD -MP \
	-I. -Iproto -Ilib -Ivmm-shim $(PKG_CFLAGS) $(SANFLAGS)
override LDFLAGS += -pthread $(SANFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

BIN :=
LIBS :=
TESTS :=
OBJDIR := $(B)/obj

all: everything

# Each fragment appends to BIN, LIBS and TESTS.
include lib/module.mk
include vmm-shim/module.mk
include daemon/module.mk
include ctl/module.mk
include bench/module.mk
include tests/module.mk
include tests/fuzz/module.mk

everything: $(BIN) $(LIBS) $(TESTS)

$(OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(B)/bin/% $(B)/tests/%:
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS_$(notdir $@))

$(B)/lib/%.a:
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# The whole suite: dependencies, the normal build, the ASan+UBSan and TSan
# builds, then every test once plus the sanitizer runs (unit and integration
# tests under ASan+UBSan, unit tests under TSan) and the fuzzers (30 s each),
# with one summary line.
check: deps
	$(MAKE) everything
	$(MAKE) SAN=asan everything
	$(MAKE) SAN=tsan everything
	$(MAKE) SAN=fuzz fuzz
	tests/run-tests --san

# Only the normal build's tests, no dependency check (for quick iterations).
check-fast: everything
	tests/run-tests

# No prerequisites: on a fresh machine nothing may compile before the
# packages are there. scripts/demo installs what is missing, then builds
# with a new make (whose pkg-config flags see the new packages), then runs.
# DEMO_SECONDS: how long the simulated VMs run (scripts/demo's default: 6).
demo:
	scripts/demo $(DEMO_SECONDS)

deps:
	scripts/install-deps

kmod:
	$(MAKE) -C guest-kmod

SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
LIBDIR ?= $(PREFIX)/lib

install: everything
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include/pvfs \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(SYSCONFDIR)/pvfsd \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/lib/tmpfiles.d $(DESTDIR)$(PREFIX)/lib/sysusers.d \
		$(DESTDIR)$(SYSCONFDIR)/pvfs-shim $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu.d
	install -m 0755 $(B)/bin/pvfsd $(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 $(filter-out $(B)/bin/pvfsd,$(BIN)) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(filter-out $(LIBPVFS),$(LIBS)) $(DESTDIR)$(LIBDIR)/
	install -m 0644 proto/pvfs_ring.h proto/pvfs_ctl.h vmm-shim/pvfs_shim.h $(DESTDIR)$(PREFIX)/include/pvfs/
	sed -e '/^#/d' -e 's|@prefix@|$(PREFIX)|' -e 's|@libdir@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
		vmm-shim/libpvfs-shim.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libpvfs-shim.pc
	install -m 0644 docs/man/pvfsd.8 docs/man/pvfsctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 docs/man/pvfs-shim.1 docs/man/pvfs-bench.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 ctl/pvfsctl.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/pvfsctl
	test -e $(DESTDIR)$(SYSCONFDIR)/pvfsd/pvfsd.conf || \
		install -m 0644 etc/pvfsd.conf $(DESTDIR)$(SYSCONFDIR)/pvfsd/pvfsd.conf
	sed 's|/usr/sbin/pvfsd|$(PREFIX)/sbin/pvfsd|' etc/pvfsd.service > $(DESTDIR)$(UNITDIR)/pvfsd.service
	install -m 0644 etc/pvfsd.socket $(DESTDIR)$(UNITDIR)/
	sed 's|/usr/bin/pvfs-shim|$(PREFIX)/bin/pvfs-shim|' etc/pvfs-shim@.service > $(DESTDIR)$(UNITDIR)/pvfs-shim@.service
	install -m 0755 etc/pvfs-shim.libvirt-hook $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu.d/pvfs
	install -m 0644 etc/pvfsd.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/pvfsd.conf
	install -m 0644 etc/pvfsd.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/pvfsd.conf

# `make deb`: see the header and scripts/make-deb.
deb:
	$(Q)scripts/make-deb

clean:
	rm -rf build build-asan build-tsan build-fuzz
	-$(MAKE) -C guest-kmod clean

.PHONY: all everything check check-fast demo deps kmod install deb fuzz clean
.DELETE_ON_ERROR:

-include $(shell find $(OBJDIR) -name '*.d' 2>/dev/null)
