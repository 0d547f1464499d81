/* httpmsg.h: what the HTTP clients (api, poller) say about an answer:
 * one-line texts, status reasons, transient or permanent, Retry-After. */
#ifndef HTTPMSG_H
#define HTTPMSG_H

#include <stdarg.h>
#include <stddef.h>

#include <curl/curl.h>

#define HTTPMSG_BODY_START	4096	/* first allocation of a body */

void		 httpmsg_copy(char *buf, size_t size, const char *s);
char		*httpmsg_oneline(const char *s, size_t len);
char		*httpmsg_cut(char *s, size_t max);
void		 httpmsg_vline(char *buf, size_t size, const char *fmt,
		    va_list ap) __attribute__((format(printf, 3, 0)));
const char	*httpmsg_reason(long status);
int		 httpmsg_status_transient(long status);
int		 httpmsg_curl_transient(CURLcode);
long		 httpmsg_retry_after(const char *value, long max_ms);
int		 httpmsg_append(char **buf, size_t *len, size_t *size,
		    size_t max, const char *ptr, size_t n);
void		 httpmsg_header(const char *ptr, size_t n, long *retry_after_ms,
		    long max_ms);

/* The length of the well-formed multi-byte UTF-8 sequence at
 * s[0..len) (2 to 4 bytes: no overlong form, no surrogate, nothing past
 * U+10FFFF), or 0 (ASCII included). */
size_t	 httpmsg_utf8_len(const unsigned char *s, size_t len);

#endif
