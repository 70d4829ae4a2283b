/* SPDX-License-Identifier: MIT */
/* log.c - see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *log_ident = "pvfs";
static int log_max = LOG_INFO;
static int log_journal;

void log_init(const char *ident, int max_level)
{
	log_ident = ident;
	log_max = max_level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

static void log_vmsg(int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void log_vmsg(int level, const char *fmt, va_list ap)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
	};
	char buf[1024];

	if (level > log_max)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", level, buf);
	else
		fprintf(stderr, "%s: %s: %s\n", log_ident, names[level & 7], buf);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_errno(int level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
	errno = saved;
	return saved > 0 ? -saved : -EIO;
}
