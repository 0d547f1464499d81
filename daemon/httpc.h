/* httpc.h: the one setup of a libcurl easy handle for the HTTP clients
 * (api, poller): protocols, redirects, auth, timeouts, trust, the body. */
#ifndef HTTPC_H
#define HTTPC_H

#include <stddef.h>

#include <curl/curl.h>

#ifndef AP_VERSION
#define AP_VERSION	"unknown"
#endif

#define HTTPC_USER_AGENT	"algopromoted/" AP_VERSION
#define HTTPC_CAPATH		"/etc/ssl/certs"  /* trusted beside ca_file */

/* The answer being received: its body (capped), Retry-After, and curl's
 * own words when the transfer fails. */
struct httpc_resp {
	char	*body;		/* NUL-terminated; NULL before any byte */
	size_t	 len;
	size_t	 size;		/* allocated */
	size_t	 max;		/* bytes; more fails with too_large set */
	int	 too_large;
	long	 retry_after_ms;	/* -1: none */
	long	 retry_after_max_ms;	/* Retry-After is capped at */
	char	 errbuf[CURL_ERROR_SIZE];
};

/* What one request asks for. */
struct httpc_req {
	const char		*url;
	long			 timeout_ms;	/* connect and total; > 0 */
	const char		*ca_file;	/* NULL: the system's trust */
	int			 capath;	/* with ca_file: also trust
						 * HTTPC_CAPATH (httpc_capath) */
	struct curl_slist	*headers;	/* NULL: none */
};

/* 1 if HTTPC_CAPATH can be trusted beside a ca_file (CURLOPT_CAINFO alone
 * would replace the default bundle). Asked once per client. */
int	 httpc_capath(void);

/*
 * Applies every option the clients share to h: http and https only, for
 * redirects too; redirects never followed (a redirect is the caller's
 * error) and credentials never sent to another host even if they were;
 * the timeouts; TCP_NODELAY and keep-alive; the user agent; the trust;
 * any encoding; no signals; curl's error text in resp->errbuf; the body
 * into resp, capped at resp->max; Retry-After into resp. 0, or -1 if
 * libcurl refused an option.
 */
int	 httpc_setup(CURL *h, const struct httpc_req *, struct httpc_resp *);

/* Zeroes resp for answers of at most max bytes. */
void	 httpc_resp_init(struct httpc_resp *, size_t max,
	    long retry_after_max_ms);
/* Forgets the last answer before a transfer (the buffer is kept). */
void	 httpc_resp_start(struct httpc_resp *);
/* Frees the body buffer; resp can be started again. */
void	 httpc_resp_drop(struct httpc_resp *);
/* What a failed transfer is called: curl's error text, else cc's name. */
const char *httpc_strerror(const struct httpc_resp *, CURLcode cc);
/* The transfer failed because the answer was larger than resp->max. */
int	 httpc_too_large(const struct httpc_resp *, CURLcode cc);

/* A base URL as the clients keep it: without trailing "/"s and, for the
 * API (api != 0), without a final "/v1" either. */
char	*httpc_base(const char *url, int api);

#endif
