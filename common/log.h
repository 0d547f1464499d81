/* log.h: the daemon's logging, one write(2) per line.
 * journald priorities under systemd, ISO-8601 timestamps elsewhere. */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>

#define LOG_LEVEL_ERROR	0
#define LOG_LEVEL_WARN	1
#define LOG_LEVEL_INFO	2
#define LOG_LEVEL_DEBUG	3

void	 log_init(int level);
int	 log_open_file(const char *path, char **cause);
int	 log_reopen(char **cause);
void	 log_close(void);
void	 log_set_level(int level);
int	 log_get_level(void);
int	 log_level_parse(const char *name);
const char *log_level_name(int level);
int	 log_journal(void);

void	 log_vmsg(int level, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
void	 log_err(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_errx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
