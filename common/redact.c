/* redact.c: keeps secrets out of every text the daemon logs or stores.
 * The set only grows while the process runs: a key removed by a reload
 * is still a secret. Safe to call from any thread.
 *
 * redact_lock guards secrets and nsecrets. The logger takes it for every
 * line (redact_buf), so the fatal path takes it too: nothing allocates,
 * frees through xmalloc or logs while holding it. A new secret is copied
 * and a grown array allocated before the lock is taken; under the lock
 * the array is only swapped. As a last guard, a thread that somehow logs
 * while it holds the lock gets a fully masked line instead of a hang.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "xmalloc.h"

#define REDACT_MIN	4	/* shorter strings would mask ordinary text */

static char		**secrets;		/* redact_lock */
static size_t		  nsecrets;		/* redact_lock */
static pthread_mutex_t	  redact_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int	  redact_held;		/* this thread holds it */

static void
redact_lock_take(void)
{
	pthread_mutex_lock(&redact_lock);
	redact_held = 1;
}

static void
redact_lock_release(void)
{
	redact_held = 0;
	pthread_mutex_unlock(&redact_lock);
}

/* Under redact_lock. */
static int
redact_known(const char *s)
{
	size_t	 i;

	for (i = 0; i < nsecrets; i++)
		if (strcmp(secrets[i], s) == 0)
			return 1;
	return 0;
}

/*
 * The grown array is allocated with the lock released; if another thread
 * added a secret meanwhile, the size no longer fits and it is sized again.
 */
static void
redact_add_one(const char *s)
{
	char	**grown = NULL, **old, *copy, *t;
	size_t	  n = 0, i;

	if (s == NULL || strlen(s) < REDACT_MIN)
		return;
	copy = xstrdup(s);
	redact_lock_take();
	for (;;) {
		if (redact_known(copy)) {
			redact_lock_release();
			free(grown);
			free(copy);
			return;
		}
		if (grown != NULL && n == nsecrets)
			break;
		n = nsecrets;
		redact_lock_release();
		free(grown);
		grown = xreallocarray(NULL, n + 1, sizeof *grown);
		redact_lock_take();
	}
	if (n > 0)
		memcpy(grown, secrets, n * sizeof *grown);
	grown[n] = copy;
	/* Longest first, so that no shorter secret leaves a piece of a
	 * longer one behind. */
	for (i = n; i > 0 && strlen(grown[i]) > strlen(grown[i - 1]); i--) {
		t = grown[i];
		grown[i] = grown[i - 1];
		grown[i - 1] = t;
	}
	old = secrets;
	secrets = grown;
	nsecrets = n + 1;
	redact_lock_release();
	free(old);
}

char *
redact_pct_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char		*out, *p;

	out = p = xmalloc(strlen(s) * 3 + 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL)
			*p++ = (char)c;
		else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

char *
redact_base64(const char *s, size_t len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = (const unsigned char *)s;
	char		*out, *p;
	size_t		 i;

	out = p = xmalloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		*p++ = b64[in[i] >> 2];
		*p++ = b64[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*p++ = b64[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*p++ = b64[in[i + 2] & 63];
	}
	if (i < len) {
		*p++ = b64[in[i] >> 2];
		if (i + 1 < len) {
			*p++ = b64[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			*p++ = b64[(in[i + 1] & 15) << 2];
		} else {
			*p++ = b64[(in[i] & 3) << 4];
			*p++ = '=';
		}
		*p++ = '=';
	}
	*p = '\0';
	return out;
}

void
redact_add(const char *secret)
{
	char	*enc;

	if (secret == NULL || *secret == '\0')
		return;
	redact_add_one(secret);
	enc = redact_pct_encode(secret);
	redact_add_one(enc);
	free(enc);
}

/* The secret as it travels in "Authorization: Basic base64(user:secret)". */
void
redact_add_basic(const char *user, const char *secret)
{
	char	*pair, *b64;

	redact_add(secret);
	xasprintf(&pair, "%s:%s", user, secret);
	b64 = redact_base64(pair, strlen(pair));
	redact_add_one(b64);
	free(b64);
	free(pair);
}

void
redact_clear(void)
{
	char	**old;
	size_t	  i, n;

	redact_lock_take();
	old = secrets;
	n = nsecrets;
	secrets = NULL;
	nsecrets = 0;
	redact_lock_release();
	for (i = 0; i < n; i++)
		free(old[i]);
	free(old);
}

size_t
redact_count(void)
{
	size_t	 n;

	redact_lock_take();
	n = nsecrets;
	redact_lock_release();
	return n;
}

/* Length of the "user:pass@" (or "user@") userinfo at s, which follows
 * "://"; 0 when the authority has none. A raw key may hold '/', which
 * would end the authority early: a ':' followed by something other than
 * a port number before that '/' still marks a password. */
static size_t
redact_userinfo(const char *s)
{
	size_t	 i, slash = 0, colon = 0;
	int	 port = 1;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '@')
			break;
		if (strchr("\"' \t<>", s[i]) != NULL)
			return 0;
		if (strchr("/?#", s[i]) != NULL && slash == 0)
			slash = i + 1;
		if (s[i] == ':' && slash == 0 && colon == 0)
			colon = i + 1;
		else if (colon != 0 && slash == 0 && (s[i] < '0' || s[i] > '9'))
			port = 0;
	}
	if (s[i] != '@')
		return 0;
	if (slash != 0 && (colon == 0 || port))
		return 0;
	return i + 1;
}

/* Writes text into out (always NUL-terminated, truncated to fit) with
 * every secret and URL userinfo replaced by REDACT_MASK. Allocates
 * nothing, so the logger may use it on its way to fatalx(). */
void
redact_buf(const char *text, char *out, size_t outlen)
{
	const char	*p = text;
	size_t		 o = 0, i, n, mlen = strlen(REDACT_MASK);
	int		 hit;

	if (outlen == 0)
		return;
	if (redact_held) {
		/* Re-entered while this thread holds the lock (a broken
		 * invariant on the way to fatal): mask everything. */
		snprintf(out, outlen, "%s", REDACT_MASK);
		return;
	}
	redact_lock_take();
	while (*p != '\0' && o + 1 < outlen) {
		hit = 0;
		if (p[0] == ':' && p[1] == '/' && p[2] == '/' &&
		    (n = redact_userinfo(p + 3)) > 0) {
			if (o + 3 + mlen + 1 >= outlen)
				break;
			memcpy(out + o, "://" REDACT_MASK "@", 3 + mlen + 1);
			o += 3 + mlen + 1;
			p += 3 + n;
			continue;
		}
		for (i = 0; i < nsecrets; i++) {
			n = strlen(secrets[i]);
			if (strncmp(p, secrets[i], n) == 0) {
				hit = 1;
				break;
			}
		}
		if (hit) {
			if (o + mlen >= outlen)
				break;
			memcpy(out + o, REDACT_MASK, mlen);
			o += mlen;
			p += n;
		} else
			out[o++] = *p++;
	}
	out[o] = '\0';
	redact_lock_release();
}

char *
redact(const char *text)
{
	size_t	 len;
	char	*out;

	/* The result is never longer than the input plus a mask per URL;
	 * allow generous room for many short userinfos. */
	len = strlen(text) * 2 + 16;
	out = xmalloc(len);
	redact_buf(text, out, len);
	return out;
}
