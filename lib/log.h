/* SPDX-License-Identifier: MIT */
/*
 * log.h - the daemon's and tools' one logging entry point. Messages go to
 * stderr with a syslog priority prefix ("<3>") when stderr is the journal,
 * plain otherwise. Library code does not log; callers log once.
 */
#ifndef PVFS_LOG_H
#define PVFS_LOG_H

#include <syslog.h>

void log_init(const char *ident, int max_level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * log_errno - log_msg for a failed call, and its -errno: errno is read once,
 * before anything else can change it, is what %m prints, and is returned
 * negated (-EIO if it was 0), so `return log_errno(LOG_ERR, "open %s: %m", p);`
 * replaces `return log_err(...), -errno;`, which read errno after logging.
 * errno itself is left as it was.
 */
int log_errno(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
