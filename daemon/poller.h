/* poller.h: many concurrent cheap HTTP polls on one libevent loop (curl
 * multi, hiperfifo): a source repo's ref, or an algorithm's latest version. */
#ifndef POLLER_H
#define POLLER_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#define POLLER_MAX_RESPONSE	(1024 * 1024)	/* bytes, either kind */
#define POLLER_HOST_CONNECTIONS	4	/* polls on the wire per host; more wait */
#define POLLER_MAX_CONNECTIONS	32	/* kept alive, all hosts */
#define POLLER_IDLE_HANDLES	8	/* easy handles kept for reuse */
#define POLLER_TIMEOUT_DEFAULT	30000	/* ms, when a request gives 0 */
#define POLLER_RETRY_AFTER_MAX_MS 86400000L	/* Retry-After is capped */
#define POLLER_REFS_TYPE	"application/x-git-upload-pack-advertisement"

struct poller;

enum poller_kind {
	POLLER_REFS,		/* GET {url}/info/refs?service=
				 * git-upload-pack */
	POLLER_VERSION		/* GET {url}/v1/algorithms/{owner}/{algo}/
				 * versions?limit=1&published=true */
};

struct poller_result {
	enum poller_kind kind;
	uint64_t id;		/* as poller_start returned */
	int	 ok;		/* 1: answer understood */
	int	 found;		/* refs: the ref exists; version: a published
				 * version exists */
	char	 head[65];	/* refs: the ref's oid; version: the version's
				 * git_hash; lower-case hex, or "" */
	char	 version[64];	/* version: semantic_version, or "" */
	long	 status;	/* HTTP status, 0 if none */
	int	 transient;	/* when !ok: worth retrying later (timeouts,
				 * resets, connect errors, 5xx, 429, 408) */
	long	 retry_after_ms;/* from Retry-After (seconds or HTTP-date),
				 * capped; -1 none */
	/* When !ok: one line, redacted, e.g. "GET http://h/git/a/b.git/
	 * info/refs: 401 Unauthorized" (never the key; never userinfo). */
	char	 error[256];
	uint64_t elapsed_ms;
	int	 new_connection; /* 1 if this request opened a new TCP
				  * connection (CURLINFO_NUM_CONNECTS) */
};

typedef void (*poller_cb)(const struct poller_result *, void *arg);

/* What to poll; strings are copied by poller_start. */
struct poller_req {
	const char *url;	/* REFS: repo URL ".../git/OWNER/ALGO.git";
				 * VERSION: API base URL without /v1 (a
				 * trailing "/" or "/v1" is dropped) */
	const char *owner, *algo; /* VERSION only */
	const char *ref;	/* REFS: "refs/heads/master" */
	const char *user;	/* REFS: basic-auth user */
	const char *key;	/* REFS: basic-auth password (sent up front);
				 * VERSION: "Authorization: Simple KEY";
				 * NULL: no credentials */
	const char *ca_file;	/* trusted beside /etc/ssl/certs; may be NULL */
	uint64_t    timeout_ms;	/* whole request; 0: POLLER_TIMEOUT_DEFAULT */
};

/*
 * Everything runs on base's thread: poller_* must be called from it, and
 * callbacks are called from it. libcurl must have been initialised
 * (curl_global_init) before threads start.
 */
int	 poller_new(struct poller **out, struct event_base *base,
	    char **cause);
/* Cancels in-flight requests; their callbacks are NOT called. Safe from
 * inside a callback (the remaining callbacks are dropped). NULL: no-op. */
void	 poller_free(struct poller *);
/*
 * Starts one request. The callback fires exactly once from the loop, never
 * from inside poller_start (a request that cannot even start, e.g. with
 * no URL, fails the same way, with ok = 0). A callback may call
 * poller_start, poller_cancel and poller_free. Registers the key (and the
 * basic-auth pair) for redaction. Returns a request id > 0.
 */
uint64_t poller_start(struct poller *, enum poller_kind,
	    const struct poller_req *, poller_cb cb, void *arg);
/* The callback will not be called; unknown or finished ids are ignored. */
void	 poller_cancel(struct poller *, uint64_t id);
/* Requests started whose callback has neither fired nor been cancelled. */
size_t	 poller_inflight(const struct poller *);
/* curl easy handles in existence: one per request on the wire (at most
 * POLLER_HOST_CONNECTIONS per host) plus at most POLLER_IDLE_HANDLES kept
 * for the next ones. A request waiting for a connection holds none. */
size_t	 poller_handles(const struct poller *);

#endif
