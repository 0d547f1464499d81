/* url.h: the one reader of URLs and listen addresses, on libcurl's URL
 * API (CURLU); no other file takes a URL or HOST:PORT apart by hand. */
#ifndef URL_H
#define URL_H

/* Why url_split() refused a URL. */
enum url_error {
	URL_OK = 0,
	URL_SYNTAX,		/* no "scheme://", or CURLU refused it */
	URL_NO_HOST,		/* "https:///v1", "https://user@/" */
	URL_HOST,		/* a host name or IPv6 address CURLU refuses */
	URL_PORT,		/* not a number from 1 to 65535 */
};

/* The parts of an absolute URL. Scheme and host are lower case; host has
 * no IPv6 brackets; port is the URL's or the scheme's default ("443",
 * "80", "9418"), "" when neither. Every field is malloc'd, never NULL
 * after a successful url_split(); after a failed one every string is
 * NULL, error says why, and has_userinfo and has_query still tell what
 * the text shows (so a caller may name that problem first). */
struct url {
	char	*scheme;
	char	*user;		/* "" when none */
	char	*host;
	char	*port;
	char	*path;		/* "/" when none */
	int	 has_userinfo;	/* "user[:pw]@", even "@" or ":pw@" */
	int	 has_query;	/* a query or a fragment is present */
	enum url_error error;
};

/* Splits an absolute "scheme://[user[:pw]@]host[:port][/path]" URL;
 * -1 and a one-line reason (never quoting a password) when it is not.
 * A raw key in the password may hold '/': "https://u:k/e+y@h/" has the
 * user "u" and the host "h". */
int	 url_split(struct url *out, const char *s, char **cause);
void	 url_clear(struct url *);

/* "scheme://host:port" of s (host bracketed when IPv6), or NULL. */
char	*url_authority(const char *s);

/* The value of query parameter name in s (absolute or relative: what
 * follows a '?' before any '#', up to '#'), %-decoded; NULL when absent, empty
 * or holding a NUL. */
char	*url_query_param(const char *s, const char *name);

/* A listen address: "HOST:PORT" or "[IPv6]:PORT", port 0 to 65535 (0:
 * any free port). Error kinds let each caller word its own message. The
 * checks run in this order: the form, brackets, host, then the port. */
enum url_listen_error {
	URL_LISTEN_OK = 0,
	URL_LISTEN_SYNTAX,	/* not HOST:PORT nor [IPv6]:PORT */
	URL_LISTEN_NO_HOST,	/* ":9464" */
	URL_LISTEN_V6_BARE,	/* "::1:9464": IPv6 needs brackets */
	URL_LISTEN_PORT,	/* not a number of at most 5 digits */
	URL_LISTEN_RANGE,	/* a number over 65535 ("65536") */
};
enum url_listen_error url_listen(const char *s, char **host, int *port,
	    int *v6);

#endif
