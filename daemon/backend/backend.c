/* SPDX-License-Identifier: MIT */
/*
 * backend.c - what every backend shares: telling the kinds apart by how a
 * volume is written, closing one (control thread), and telling the control
 * thread that a volume changed underneath (any thread).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backend.h"

/* Written by backend_changed (any thread), read by the control thread. */
static int changed_efd = -1;

const char *backend_kind(const char *volume)
{
	if (!strncmp(volume, "nbd://", 6) || !strncmp(volume, "nbd+unix://", 11) ||
	    !strncmp(volume, "nbds://", 7) || !strncmp(volume, "nbds+unix://", 12))
		return "nbd";
	if (!strncmp(volume, "rbd:", 4))
		return "rbd";
	return "file";
}

void backend_close(struct backend *b)
{
	if (b)
		b->ops->close(b);
}

int backend_changed_fd(void)
{
	if (changed_efd < 0)
		changed_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return changed_efd < 0 ? -errno : changed_efd;
}

void backend_changed(struct backend *b)
{
	uint64_t one = 1;

	/* Release: the control thread that reads the eventfd sees the flag. */
	__atomic_store_n(&b->changed, 1, __ATOMIC_RELEASE);
	if (changed_efd >= 0 && write(changed_efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so the control thread is woken anyway. */
	}
}

void backend_changed_reset(void)
{
	uint64_t v;

	if (changed_efd >= 0 && read(changed_efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to reset. */
	}
}

bool backend_take_changed(struct backend *b)
{
	return __atomic_exchange_n(&b->changed, 0, __ATOMIC_ACQUIRE);
}
