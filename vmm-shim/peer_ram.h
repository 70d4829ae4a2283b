/* SPDX-License-Identifier: MIT */
/*
 * peer_ram.h - find a running QEMU's guest RAM through /proc and open it.
 *
 * When QEMU (or libvirt on its behalf) chooses where guest RAM lives, a
 * memfd ("memory-backend-memfd") or a file such as libvirt's
 * /var/lib/libvirt/qemu/ram/<id>-<name>/pc.ram, pvfs-shim cannot create it
 * itself. It takes QEMU's pid from the chardev connection (SO_PEERCRED) and
 * looks at /proc/PID: the guest RAM is a descriptor QEMU holds open that is
 * a memfd or regular file and that QEMU maps shared from offset 0. The shim
 * opens that same file through /proc/PID/fd/N (which needs the rights to
 * inspect QEMU: root, or the same user).
 *
 * Never guesses: a descriptor is taken only if it is the one candidate (or
 * the one of the asked size), the mapping is shared, and the file opened is
 * the file that was inspected (device and inode checked after the open, the
 * process checked by its start time before and after). Library code: no
 * logging; a sentence for the operator goes to why[].
 */
#ifndef PVFS_PEER_RAM_H
#define PVFS_PEER_RAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct peer_ram {
	int fd;			/* our own descriptor of the RAM file, O_RDWR */
	uint64_t size;		/* bytes QEMU maps from offset 0 */
	int peer_fd;		/* the descriptor number in QEMU */
	char name[256];		/* what /proc/PID/fd/N points at */
};

/*
 * peer_start_time - the process's start time (field 22 of /proc/PID/stat),
 * which tells a pid that was reused from the process we met; -errno.
 */
int peer_start_time(pid_t pid, uint64_t *ret);

/*
 * peer_ram_find - look for pid's guest RAM. want_size 0 takes the only
 * candidate; otherwise the one of exactly that many bytes. start_time is
 * peer_start_time() from when the peer connected.
 *
 * 0: found, *ret filled (the caller owns ret->fd).
 * -EAGAIN: nothing usable yet (QEMU has not created or mapped its RAM
 *          backend); ask again later.
 * -ESRCH: the process is gone or is not the one that connected.
 * -EACCES, -EPERM: /proc/PID cannot be inspected or the file not opened.
 * -EINVAL: the RAM is mapped private (share=off), or of an unusable size.
 * -ENOTUNIQ: several candidates and nothing to choose between them.
 */
int peer_ram_find(pid_t pid, uint64_t start_time, uint64_t want_size, struct peer_ram *ret,
		  char *why, size_t whylen);

#endif
