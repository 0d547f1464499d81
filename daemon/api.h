/* api.h: a blocking client for the Algorithmia management API (/v1).
 * One client per thread per cluster; it keeps its connection alive. */
#ifndef API_H
#define API_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define API_MAX_RESPONSE	(16 * 1024 * 1024)	/* bytes, default */
#define API_PAGE_LIMIT		50	/* results asked for per page */
#define API_BUILD_MAX_PAGES	20	/* api_build_find gives up after */
#define API_VERSION_MAX_PAGES	100	/* version walks fail after */
#define API_RETRY_AFTER_MAX_MS	86400000L	/* Retry-After is capped */
#define API_RETRY_BUDGET_MS	120000	/* default budget of one request */

/* Error codes of the Algorithmia API that callers act upon. */
#define API_CODE_NO_ALGORITHM	1000
#define API_CODE_NO_SUCH_NAME	1001
#define API_CODE_EXISTS		1002
#define API_CODE_PUBLISHED	1007
#define API_CODE_UNAUTHORIZED	2001
#define API_CODE_BAD_KEY	2002

struct api_client;

/*
 * Conventions of every call below: names and ids are %-encoded into the
 * path and must not be empty; struct api_build / api_version out-params
 * must be zeroed before their first use and are cleared (old content
 * freed) on entry, so one can be reused across calls; cJSON ** and
 * char ** out-params are set to NULL on entry and owned by the caller.
 */

/*
 * What went wrong in a call that returned -1. Every call clears it first;
 * after a call that did not fail only status is set (the last HTTP status
 * seen, 0 if none). err may be NULL everywhere.
 */
struct api_error {
	long	 status;	/* HTTP status, 0 when no response */
	int	 code;		/* Algorithmia error.code, 0 if none */
	int	 transient;	/* timeouts, resets, 5xx, 429, 408: retry */
	int	 cancelled;	/* the cancel flag stopped the request */
	int	 halted;	/* the halt hook stopped its tries */
	long	 retry_after_ms;/* from Retry-After (seconds or HTTP-date),
				 * -1 if none */
	/* One line, redacted, e.g.
	 * "GET /v1/algorithms/acme/Hello: 403 Caller is ... (code 2001)" */
	char	 message[512];
};

struct api_build {
	char	*id;
	char	*status;	/* "in-progress", "succeeded", "failed" or
				 * whatever else the server said, verbatim */
	char	*commit_sha;	/* NULL if the server gave none */
	char	*version;	/* semantic_version if published, else NULL */
};

struct api_version {
	char	*semver;	/* NULL when unpublished */
	char	*git_hash;	/* NULL if the server gave none */
	char	*build_id;	/* NULL if the server gave none */
	char	*release_notes;	/* NULL if none */
};

/*
 * base_url is "http(s)://host[:port][/prefix]" without "/v1" (a trailing
 * "/" or "/v1" is dropped). key is registered with redact_add(). ca_file,
 * when given, is trusted together with the system's /etc/ssl/certs
 * directory (CURLOPT_CAINFO alone would replace the default bundle).
 * timeout_ms bounds every request (connect and total) and must be > 0.
 * libcurl must have been initialised (curl_global_init) before threads
 * start. Returns 0, or -1 with *cause (caller frees).
 */
int	 api_client_new(struct api_client **out, const char *base_url,
	    const char *key, const char *ca_file, uint64_t timeout_ms,
	    char **cause);
void	 api_client_free(struct api_client *);
/* Checked about once a second during a transfer (and before it starts);
 * non-zero aborts the request with err->cancelled set. NULL: none. */
void	 api_client_set_cancel(struct api_client *, const atomic_int *cancel);
/*
 * Each request is tried at most tries times (< 1 counts as 1, the default:
 * no retry), all within budget_ms (0: API_RETRY_BUDGET_MS) from its start.
 * A transient failure (no answer, 5xx, 429, 408) is tried again after
 * about 1 s, doubling, +-20% jitter, never sooner than Retry-After; when
 * the next wait would pass the budget the call fails at once, its message
 * saying how many tries were made. A GET is repeated on any of them; a
 * request that changes state only when the server cannot have acted on
 * it (it was not sent, or answered 429 or 503): other failures of it are
 * ambiguous and come back at once, transient. Each retry is logged at
 * info level; the wait ends early when the cancel flag is set.
 */
void	 api_client_set_retry(struct api_client *, int tries,
	    uint64_t budget_ms);
/* Names the route a retry line in the log is about; NULL: none. */
void	 api_client_set_name(struct api_client *, const char *who);
/* fn(arg, status) after every request: the HTTP status, 0 when none
 * came (metrics). NULL: none. */
void	 api_client_set_observer(struct api_client *,
	    void (*fn)(void *, long), void *arg);
/* fn(arg, why, len) before a failed request is tried again: non-zero
 * stops the tries, the error then ending "(not tried again: WHY)".
 * NULL: none. */
void	 api_client_set_halt(struct api_client *,
	    int (*fn)(void *, char *, size_t), void *arg);
/* Bodies larger than max bytes (0: API_MAX_RESPONSE) fail with
 * "response too large"; so do announced Content-Lengths above it. */
void	 api_client_set_max_response(struct api_client *, size_t max);

void	 api_build_clear(struct api_build *);
void	 api_version_clear(struct api_version *);

/* 1 found (*out = the algorithm object, caller cJSON_Delete()s; out may be
 * NULL), 0 not found (404 with any body, or error code 1000/1001), -1. */
int	 api_algo_get(struct api_client *, const char *owner, const char *algo,
	    cJSON **out, struct api_error *);
/* POST /v1/algorithms/{owner} {"name", "details", "settings"} (NULL parts
 * left out). 1 created (*out as above), 0 already exists (code 1002 with
 * any HTTP status, or a message saying "already exists"), -1 error. */
int	 api_algo_create(struct api_client *, const char *owner,
	    const char *name, const cJSON *details, const cJSON *settings,
	    cJSON **out, struct api_error *);
/* PUT /v1/algorithms/{owner}/{algo} {"details", "settings"} (NULL: {}):
 * the spec wants settings' license, network_access, pipeline_enabled and
 * source_visibility in it, so callers send the whole objects. The same
 * body twice changes nothing: a caller may send it again after an
 * ambiguous failure. 0 ok (*out the answer, out may be NULL), -1. */
int	 api_algo_update(struct api_client *, const char *owner,
	    const char *algo, const cJSON *details, const cJSON *settings,
	    cJSON **out, struct api_error *);
/* The build whose commit_sha equals sha (case-insensitively), newest
 * first, API_BUILD_MAX_PAGES pages at most. 1 found (*out filled),
 * 0 not (yet) listed, -1 error. */
int	 api_build_find(struct api_client *, const char *owner,
	    const char *algo, const char *sha, struct api_build *out,
	    struct api_error *);
/* 0 ok (*out filled; out->status is never NULL), -1 error. */
int	 api_build_get(struct api_client *, const char *owner, const char *algo,
	    const char *build_id, struct api_build *out, struct api_error *);
/* 1 logs returned (*logs, caller frees), 0 not available yet (404, or no
 * "logs" in the answer), -1 error. */
int	 api_build_logs(struct api_client *, const char *owner,
	    const char *algo, const char *build_id, char **logs,
	    struct api_error *);
/* POST .../versions {"version_info": {"version_type", "release_notes"}}
 * with details and settings empty and git_hash (NULL: none) making it a
 * compare-and-set on the commit (NULL strings left out); on 404/405
 * tries ".../version" once. 0 ok with
 * *out taken from the answer's version_info (semver or git_hash may still
 * be NULL if the server left them out: look them up with
 * api_version_find()), -1 error (err->code API_CODE_PUBLISHED: the last
 * build is already published). */
int	 api_publish(struct api_client *, const char *owner, const char *algo,
	    const char *version_type, const char *release_notes,
	    const char *git_hash, struct api_version *out, struct api_error *);
/* The newest published version, asking for published=true but checking
 * semantic_version itself. 1 found, 0 none, -1 error. */
int	 api_version_latest(struct api_client *, const char *owner,
	    const char *algo, struct api_version *out, struct api_error *);
/* The published version whose git_hash equals sha (case-insensitively).
 * 1 found, 0 none, -1 error. */
int	 api_version_find(struct api_client *, const char *owner,
	    const char *algo, const char *sha, struct api_version *out,
	    struct api_error *);
/* Calls fn for each version, newest first, across pages, until fn returns
 * non-zero. published: 1 only published, 0 only unpublished (the filter is
 * sent and also applied here), -1 all. Returns 1 if fn stopped the walk,
 * 0 if every version was seen, -1 on error (more than
 * API_VERSION_MAX_PAGES pages is one). */
int	 api_versions_each(struct api_client *, const char *owner,
	    const char *algo, int published,
	    int (*fn)(const struct api_version *, void *), void *arg,
	    struct api_error *);

#endif
