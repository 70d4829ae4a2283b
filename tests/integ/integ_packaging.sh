#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# integ_packaging - `make deb` builds the Debian packages from the working
# tree (packaging/debian) and they hold what an operator needs: every
# expected .deb; the key files (pvfsd, pvfsctl, units, conffile, man pages of
# every program, libpvfs-shim's pkg-config file, the DKMS source tree);
# Depends from ${shlibs:Depends}; the conffile; the maintainer scripts
# (sysusers, tmpfiles, enable + start of the socket and the service); the
# libvirt hook (an executable conffile that ignores other domains and refuses
# a pvfs domain without shared RAM) and pvfs-shim@.service (not enabled);
# hardened binaries that run; a program that builds against libpvfs-shim-dev
# with `pkg-config --cflags --libs libpvfs-shim`; the DKMS tree building
# pvfs_blk.ko the way dkms runs it (when kernel headers are installed);
# lintian without errors and without manual page warnings (other warnings
# are printed). The tree itself must not be touched. About 40 s on 2 cores.
set -u
# shellcheck source=tests/integ/integ-lib.sh
. "$(dirname "$0")/integ-lib.sh"

command -v dpkg-buildpackage > /dev/null ||
	{ echo "SKIP: dpkg-buildpackage missing (scripts/install-deps --deb)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
DEB=$ROOT/build/deb
VER=$(dpkg-parsechangelog -l "$ROOT/packaging/debian/changelog" -S Version)
UVER=${VER%-*}
ARCH=$(dpkg --print-architecture)

start=$(date +%s)
if make -C "$ROOT" deb > "$T/make.log" 2>&1; then
	ok "make deb ($(($(date +%s) - start)) s)"
else
	notok "make deb failed:"; tail -30 "$T/make.log"; exit 1
fi

declare -A pkg=(
	[pvfsd]=$DEB/pvfsd_${VER}_$ARCH.deb
	[pvfs-shim]=$DEB/pvfs-shim_${VER}_$ARCH.deb
	[libpvfs-shim-dev]=$DEB/libpvfs-shim-dev_${VER}_$ARCH.deb
	[pvfs-blk-dkms]=$DEB/pvfs-blk-dkms_${VER}_all.deb
)
for p in pvfsd pvfs-shim libpvfs-shim-dev pvfs-blk-dkms; do
	if [ -f "${pkg[$p]}" ]; then ok "$(basename "${pkg[$p]}") built"; else notok "${pkg[$p]} missing"; fi
done
[ $fail = 0 ] || { ls -l "$DEB"; exit 1; }

# has_files PACKAGE PATH...: dpkg-deb -c lists every PATH.
has_files() {
	local p=$1 f missing=
	shift
	dpkg-deb -c "${pkg[$p]}" | awk '{print $6}' | sed 's|^\.||' > "$T/$p.list"
	for f in "$@"; do grep -qxF "$f" "$T/$p.list" || missing="$missing $f"; done
	[ -z "$missing" ] && ok "$p contains $*" || notok "$p lacks$missing"
}
has_files pvfsd /usr/sbin/pvfsd /usr/bin/pvfsctl /etc/pvfsd/pvfsd.conf \
	/lib/systemd/system/pvfsd.service /lib/systemd/system/pvfsd.socket \
	/usr/lib/tmpfiles.d/pvfsd.conf /usr/lib/sysusers.d/pvfsd.conf \
	/usr/share/man/man8/pvfsd.8.gz /usr/share/man/man8/pvfsctl.8.gz \
	/usr/share/bash-completion/completions/pvfsctl /usr/share/doc/pvfsd/copyright
has_files pvfs-shim /usr/bin/pvfs-shim /usr/bin/pvfs-bench \
	/usr/share/man/man1/pvfs-shim.1.gz /usr/share/man/man1/pvfs-bench.1.gz \
	/lib/systemd/system/pvfs-shim@.service /etc/libvirt/hooks/qemu.d/pvfs /etc/pvfs-shim/ \
	/usr/share/doc/pvfs-shim/libvirt.md.gz
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
has_files libpvfs-shim-dev /usr/include/pvfs/pvfs_shim.h /usr/include/pvfs/pvfs_ring.h \
	/usr/include/pvfs/pvfs_ctl.h "/usr/lib/$MA/libpvfs-shim.a" "/usr/lib/$MA/pkgconfig/libpvfs-shim.pc"
KSRC=/usr/src/pvfs-blk-$UVER
has_files pvfs-blk-dkms "$KSRC/dkms.conf" "$KSRC/Makefile" "$KSRC/pvfs_blk.c" "$KSRC/proto/pvfs_ring.h"

# Control fields: shared libraries come from ${shlibs:Depends}.
field() { dpkg-deb -f "${pkg[$1]}" "$2"; }
dep=$(field pvfsd Depends)
missing=
for l in libc6 libevent-2.1-7 libjansson4 liburing2 libsystemd0 libinih1; do
	[[ $dep == *"$l"* ]] || missing="$missing $l"
done
[ -z "$missing" ] && ok "pvfsd Depends has its shared libraries" || notok "pvfsd Depends lacks$missing: $dep"
dep=$(field pvfs-shim Depends)
[[ $dep == *libjansson4* && $dep == *libc6* ]] && ok "pvfs-shim Depends has its shared libraries" ||
	notok "pvfs-shim Depends: $dep"
[[ $(field pvfs-blk-dkms Depends) == *dkms* ]] && ok "pvfs-blk-dkms depends on dkms" ||
	notok "pvfs-blk-dkms Depends: $(field pvfs-blk-dkms Depends)"
[ "$(field pvfs-blk-dkms Architecture)" = all ] && [ "$(field pvfsd Architecture)" = "$ARCH" ] &&
	ok "Architecture fields" || notok "Architecture: dkms $(field pvfs-blk-dkms Architecture), pvfsd $(field pvfsd Architecture)"
[[ $(field libpvfs-shim-dev Depends) == *libjansson-dev* ]] && ok "libpvfs-shim-dev depends on libjansson-dev" ||
	notok "libpvfs-shim-dev Depends: $(field libpvfs-shim-dev Depends)"

# Maintainer scripts and conffiles.
dpkg-deb -e "${pkg[pvfsd]}" "$T/ctrl"
grep -qxF /etc/pvfsd/pvfsd.conf "$T/ctrl/conffiles" 2>/dev/null && ok "conffiles lists /etc/pvfsd/pvfsd.conf" ||
	notok "conffiles: $(cat "$T/ctrl/conffiles" 2>&1)"
post=$(cat "$T/ctrl/postinst" 2>/dev/null)
[[ $post == *"systemd-sysusers"*"pvfsd.conf"* ]] && ok "postinst runs systemd-sysusers (group pvfs)" ||
	notok "postinst: no systemd-sysusers"
[[ $post == *"systemd-tmpfiles"*"--create pvfsd.conf"* ]] && ok "postinst runs systemd-tmpfiles --create" ||
	notok "postinst: no systemd-tmpfiles"
grep -q "deb-systemd-helper enable 'pvfsd.socket'" "$T/ctrl/postinst" &&
	grep -q "deb-systemd-helper enable 'pvfsd.service'" "$T/ctrl/postinst" &&
	grep -q "deb-systemd-invoke \$_dh_action 'pvfsd.service' 'pvfsd.socket'" "$T/ctrl/postinst" &&
	ok "postinst enables pvfsd.socket and pvfsd.service and starts them together" ||
	notok "postinst systemd section: $(grep -n deb-systemd "$T/ctrl/postinst")"
# The group must exist before tmpfiles chowns to it and the socket uses it.
s=$(grep -n systemd-sysusers "$T/ctrl/postinst" | head -1 | cut -d: -f1)
t=$(grep -n systemd-tmpfiles "$T/ctrl/postinst" | head -1 | cut -d: -f1)
u=$(grep -n deb-systemd-invoke "$T/ctrl/postinst" | head -1 | cut -d: -f1)
[ -n "$s" ] && [ -n "$t" ] && [ -n "$u" ] && [ "$s" -lt "$t" ] && [ "$t" -lt "$u" ] &&
	ok "postinst order: sysusers, tmpfiles, then units" || notok "postinst order: sysusers $s tmpfiles $t start $u"
grep -q "deb-systemd-invoke stop 'pvfsd.service' 'pvfsd.socket'" "$T/ctrl/prerm" 2>/dev/null &&
	ok "prerm stops the units on removal" || notok "prerm: $(cat "$T/ctrl/prerm" 2>&1)"

# pvfs-shim: the hook is an executable conffile; the template unit is not
# enabled or started by the package (the hook starts instances).
dpkg-deb -e "${pkg[pvfs-shim]}" "$T/shimctrl"
grep -qxF /etc/libvirt/hooks/qemu.d/pvfs "$T/shimctrl/conffiles" 2>/dev/null &&
	ok "conffiles lists the libvirt hook" || notok "pvfs-shim conffiles: $(cat "$T/shimctrl/conffiles" 2>&1)"
dpkg-deb -c "${pkg[pvfs-shim]}" | grep -q '^-rwxr-xr-x .* \./etc/libvirt/hooks/qemu\.d/pvfs$' &&
	ok "the libvirt hook is executable" || notok "hook mode: $(dpkg-deb -c "${pkg[pvfs-shim]}" | grep hooks)"
if grep -qs 'pvfs-shim@' "$T/shimctrl/postinst"; then
	notok "pvfs-shim's postinst touches the template unit: $(grep 'pvfs-shim@' "$T/shimctrl/postinst")"
else
	ok "pvfs-shim@.service is neither enabled nor started by the package"
fi

# The binaries: they run, and carry the dpkg-buildflags hardening.
X=$T/x
for p in pvfsd pvfs-shim libpvfs-shim-dev pvfs-blk-dkms; do dpkg-deb -x "${pkg[$p]}" "$X"; done
out=$("$X/usr/sbin/pvfsd" --version 2>&1) && [[ $out == "pvfsd $UVER "* ]] &&
	ok "packaged pvfsd --version: $out" || notok "packaged pvfsd --version: $out"
out=$("$X/usr/bin/pvfsctl" --version 2>&1) && [[ $out == "pvfsctl $UVER"* ]] &&
	ok "packaged pvfsctl --version: $out" || notok "packaged pvfsctl --version: $out"
"$X/usr/bin/pvfs-shim" --help > /dev/null 2>&1 && "$X/usr/bin/pvfs-bench" --help > /dev/null 2>&1 &&
	ok "packaged pvfs-shim and pvfs-bench --help" || notok "packaged pvfs-shim/pvfs-bench --help"
grep -q '^ExecStart=/usr/sbin/pvfsd ' "$X/lib/systemd/system/pvfsd.service" &&
	ok "pvfsd.service runs /usr/sbin/pvfsd" || notok "ExecStart: $(grep ExecStart "$X/lib/systemd/system/pvfsd.service")"
U=$X/lib/systemd/system/pvfs-shim@.service
# shellcheck disable=SC2016 # $PVFS_SHIM_OPTS is the unit's, literally
grep -qxF 'ExecStart=/usr/bin/pvfs-shim --tenant %i --chardev /run/pvfs-shim/%i.sock --mem-from-peer $PVFS_SHIM_OPTS' "$U" &&
	grep -qxF 'EnvironmentFile=-/etc/pvfs-shim/%i.conf' "$U" && grep -qxF 'Type=notify' "$U" &&
	ok "pvfs-shim@.service: Type=notify, /usr/bin/pvfs-shim --mem-from-peer, /etc/pvfs-shim/%i.conf" ||
	notok "pvfs-shim@.service: $(grep -E '^(Type|ExecStart|EnvironmentFile)=' "$U")"
# The packaged hook as libvirt calls it (domain XML on stdin): a domain
# without a pvfs device is none of its business; a pvfs domain with private
# RAM is refused with a message before anything starts. Never a word on
# stdout (libvirt would take it for a new domain XML).
H=$X/etc/libvirt/hooks/qemu.d/pvfs
cat > "$T/other.xml" <<'EOF'
<domain type='kvm'>
  <name>other</name>
  <devices>
    <disk type='file' device='disk'><source file='/x.img'/><target dev='vda' bus='virtio'/></disk>
  </devices>
</domain>
EOF
cat > "$T/private.xml" <<'EOF'
<domain type='kvm'>
  <name>vm1</name>
  <memoryBacking>
    <access mode='private'/>
  </memoryBacking>
  <devices>
    <shmem name='pvfs-vm1'>
      <model type='ivshmem-doorbell'/>
      <server path='/run/pvfs-shim/vm1.sock'/>
      <msi vectors='2' ioeventfd='on'/>
    </shmem>
  </devices>
</domain>
EOF
out=$(PATH=$X/usr/bin:$PATH "$H" other prepare begin - < "$T/other.xml" 2> "$T/hook.err"); rc=$?
[ $rc = 0 ] && [ -z "$out" ] && [ ! -s "$T/hook.err" ] &&
	ok "the libvirt hook leaves a domain without a pvfs device alone" ||
	notok "hook on another domain: rc $rc, stdout '$out', stderr $(cat "$T/hook.err")"
out=$(PATH=$X/usr/bin:$PATH "$H" vm1 prepare begin - < "$T/private.xml" 2> "$T/hook.err"); rc=$?
[ $rc = 1 ] && [ -z "$out" ] && grep -q "pvfs hook: domain vm1: guest RAM must be shared" "$T/hook.err" &&
	ok "the libvirt hook refuses a pvfs domain with private RAM: $(cut -c1-50 "$T/hook.err")..." ||
	notok "hook on private RAM: rc $rc, stdout '$out', stderr $(cat "$T/hook.err")"
for b in usr/sbin/pvfsd usr/bin/pvfsctl usr/bin/pvfs-shim usr/bin/pvfs-bench; do
	h=
	readelf -h "$X/$b" | grep -q 'Type:.*DYN' || h="$h no-PIE"
	readelf -d "$X/$b" | grep -q 'BIND_NOW' || h="$h no-BIND_NOW"
	readelf -lW "$X/$b" | grep -q GNU_RELRO || h="$h no-RELRO"
	readelf -sW "$X/$b" | grep -q '__stack_chk_fail' || h="$h no-stack-protector"
	[ -z "$h" ] && ok "$b: PIE, relro, bindnow, stack protector" || notok "$b hardening:$h"
done
readelf -sW "$X/usr/sbin/pvfsd" | grep -q '__[a-z]*_chk@' && ok "pvfsd built with _FORTIFY_SOURCE" ||
	notok "pvfsd: no fortified calls (CPPFLAGS not applied?)"

# libpvfs-shim-dev's pkg-config file: as installed it names the system
# paths and the package's version; redefining prefix moves it into $X.
PC=$X/usr/lib/$MA/pkgconfig
pc() { PKG_CONFIG_PATH=$PC pkg-config "$@" libpvfs-shim; }
out="$(pc --modversion 2>&1) $(pc --variable=libdir 2>&1) $(pc --variable=includedir 2>&1)"
[ "$out" = "$UVER /usr/lib/$MA /usr/include" ] && ok "libpvfs-shim.pc: version, libdir, includedir: $out" ||
	notok "libpvfs-shim.pc: version, libdir, includedir: $out (want $UVER /usr/lib/$MA /usr/include)"
pcflags=$(pc --define-variable=prefix="$X/usr" --cflags --libs 2>&1)
[[ " $pcflags " == *" -I$X/usr/include "* && " $pcflags " == *" -L$X/usr/lib/$MA "* &&
	" $pcflags " == *" -lpvfs-shim "* && " $pcflags " == *" -ljansson "* && " $pcflags " == *" -pthread "* ]] &&
	ok "pkg-config --cflags --libs libpvfs-shim: $pcflags" || notok "pkg-config --cflags --libs libpvfs-shim: $pcflags"

# libpvfs-shim-dev: a VMM-side program compiles and links with it, with the
# flags from its pkg-config file.
cat > "$T/vmm.c" <<'EOF'
#include <errno.h>
#include <stdio.h>
#include <pvfs/pvfs_shim.h>
int main(void)
{
	struct pvfs_region_params p = { .nr_queues = 1, .depth = 8, .max_segs = 1 };
	struct pvfs_region *r;
	struct pvfs_attach_opts o = { .volume = "v.img" };
	char err[128];

	if (pvfs_region_create(&p, &r) != 0 || pvfs_region_hdr(r)->magic != PVFS_MAGIC)
		return 1;
	pvfs_region_free(r);
	/* The control client (jansson) against a socket that does not exist. */
	return pvfs_attach("/nonexistent/pvfs.sock", "t", &o, err, sizeof(err)) < 0 ? 0 : 2;
}
EOF
# shellcheck disable=SC2086 # $pcflags is a list of flags
if cc -Wall -Werror -o "$T/vmm" "$T/vmm.c" $pcflags > "$T/cc.log" 2>&1 && "$T/vmm" > /dev/null; then
	ok "a VMM program builds, links and runs with libpvfs-shim-dev (pkg-config --cflags --libs libpvfs-shim)"
else
	notok "building against libpvfs-shim-dev: $(head -5 "$T/cc.log")"
fi

# pvfs-blk-dkms: run dkms.conf's MAKE[0] as dkms 3 does (it inserts
# -jN KERNELRELEASE=<kver> after "make") in a copy laid out like the DKMS tree.
grep -q "^PACKAGE_VERSION=\"$UVER\"" "$X$KSRC/dkms.conf" && grep -q '^PACKAGE_NAME="pvfs-blk"' "$X$KSRC/dkms.conf" &&
	ok "dkms.conf: pvfs-blk $UVER, as the /usr/src directory" || notok "dkms.conf: $(grep PACKAGE "$X$KSRC/dkms.conf")"
kver=$(for d in /lib/modules/*-"$ARCH"; do [ -d "$d" ] && basename "$d"; done | sort -V | tail -n 1)
if [ -n "$kver" ] && [ -d "/lib/modules/$kver/build" ]; then
	dt=$T/dkms
	mkdir -p "$dt/pvfs-blk/$UVER"
	cp -a "$X$KSRC" "$dt/pvfs-blk/$UVER/build"
	if (
		# shellcheck disable=SC2034 # dkms.conf's variables, as dkms sets them
		kernelver=$kver kernel_source_dir=/lib/modules/$kver/build dkms_tree=$dt
		# shellcheck disable=SC1090,SC1091
		. "$dt/pvfs-blk/$UVER/build/dkms.conf"
		cd "$dt/pvfs-blk/$UVER/build" || exit 1
		eval "${MAKE[0]/#make/make -j2 KERNELRELEASE=$kver}"
	) > "$T/kmod.log" 2>&1 && [ -f "$dt/pvfs-blk/$UVER/build/pvfs_blk.ko" ]; then
		ok "the DKMS tree builds pvfs_blk.ko for $kver the way dkms runs MAKE[0]"
	else
		notok "DKMS build for $kver: $(tail -5 "$T/kmod.log")"
	fi
else
	echo "# no kernel headers under /lib/modules/*-$ARCH/build: DKMS build not tried"
fi

if command -v lintian > /dev/null; then
	lintian --pedantic "$DEB/pvfs_${VER}_$ARCH.changes" > "$T/lintian.log" 2>&1
	rc=$?
	grep -E '^[WIP]: ' "$T/lintian.log" | sed 's/^/# lintian: /'
	if [ $rc = 0 ] && ! grep -q '^E: ' "$T/lintian.log"; then
		ok "lintian: no errors ($(grep -c '^W: ' "$T/lintian.log") warnings)"
	else
		notok "lintian (exit $rc): $(grep -v '^[WIPN]: ' "$T/lintian.log" | head -10)"
	fi
	# Every program has a man page, and the man pages format cleanly.
	man=$(grep -E '^[EWIP]: .*(no-manual-page|groff-message|manpage-)' "$T/lintian.log")
	[ -z "$man" ] && ok "lintian: no manual page tags (no-manual-page, groff-message, manpage-*)" ||
		notok "lintian manual page tags: $man"
else
	echo "# lintian not installed (scripts/install-deps): lintian checks not run"
fi

# Nothing generated in the tree itself.
[ ! -e "$ROOT/debian" ] && [ -z "$(find "$ROOT/packaging/debian" \( -name tmp -o -name '*.substvars' \
	-o -name '*.debhelper*' -o -name files -o -name debhelper-build-stamp -o -name .pc \) -print -quit)" ] &&
	ok "make deb leaves the tree alone (no debian/, nothing generated in packaging/debian)" ||
	notok "make deb wrote into the tree"
echo "# $(($(date +%s) - start)) s in all"
[ $fail = 0 ]
