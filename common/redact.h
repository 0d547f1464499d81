/* redact.h: keeps secrets out of every text the daemon logs or stores.
 * Registered keys (raw, %-encoded, and inside Basic auth) become "***". */
#ifndef REDACT_H
#define REDACT_H

#include <stddef.h>

#define REDACT_MASK	"***"

void	 redact_add(const char *secret);
void	 redact_add_basic(const char *user, const char *secret);
void	 redact_clear(void);
size_t	 redact_count(void);
char	*redact(const char *text);
void	 redact_buf(const char *text, char *out, size_t outlen);
char	*redact_pct_encode(const char *s);
char	*redact_base64(const char *s, size_t len);

#endif
