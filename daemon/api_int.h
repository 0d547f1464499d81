/* api_int.h: what the parts of the API client share (api.c: the client and
 * the request; api_page.c: paging; api_algo.c: the typed endpoints). */
#ifndef API_INT_H
#define API_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "api.h"
#include "httpc.h"

struct api_client {
	CURL			*curl;
	char			*base;		/* no trailing "/" nor "/v1" */
	char			*ca_file;
	int			 capath;	/* also trust HTTPC_CAPATH */
	long			 timeout_ms;
	const atomic_int	*cancel;
	int			 tries;		/* per request, >= 1 */
	uint64_t		 retry_budget_ms;
	void			(*observe)(void *, long);
	void			*observe_arg;
	int			(*halt)(void *, char *, size_t);
	void			*halt_arg;
	char			*who;		/* "route X: " in logs, or NULL */
	struct curl_slist	*hdrs;		/* Authorization, Accept */
	struct curl_slist	*hdrs_body;	/* the same + Content-Type */

	/* The response being received; resp.max is the size limit. */
	struct httpc_resp	 resp;

	/* The server's own words of the last failure, one line, redacted. */
	char			*detail;
};

/* One walk through a paged collection ("results" + "marker"). */
struct api_pager {
	char			*path;		/* escaped; owned */
	const char		*filter;	/* extra query, or NULL */
	int			 first_limit;
	int			 max_pages;
	int			 fail_at_max;	/* max_pages reached: error */
	int			 pages;
	int			 done;
	char			*marker;	/* for the next page */
	char		       **seen;		/* every marker followed */
	size_t			 nseen;
};

/* api.c */
void	 api_error_reset(struct api_error *);
void	 api_error_soft(struct api_error *);
void	 api_fail(struct api_error *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
const char *api_json_string(const cJSON *obj, const char *name);
int	 api_call(struct api_client *, const char *method, const char *path,
	    const char *query, const cJSON *body, cJSON **out,
	    struct api_error *);
char	*api_path(struct api_client *, struct api_error *,
	    const char *const *segs, size_t n);
char	*api_body_text(const char *body, size_t len, const char *ctype,
	    long status, int *code);

/* "/v1/SEG/SEG...", each segment %-encoded; NULL (err set) if one is
 * missing. */
#define API_PATH(c, err, ...)						\
	api_path((c), (err), (const char *const []){ __VA_ARGS__ },	\
	    sizeof((const char *const []){ __VA_ARGS__ }) / sizeof(char *))

/* api_retry.c */
#define API_RETRY_FIRST_MS	1000	/* the first wait, then doubling */

int	 api_retry_may(const char *method, const struct api_error *,
	    int sent);
uint64_t api_retry_wait(int done, long retry_after_ms, uint64_t rnd);

/* One request for api_retry_run(): once() makes a try and says with
 * *again whether its failure may be repeated. A copy between clusters
 * has two clients: the tries and budget are the smaller of theirs, and
 * either's cancel flag or halt hook stops it. */
struct api_retry_req {
	struct api_client	*cl[2];		/* [1]: NULL, or a copy's dst */
	const char		*what;		/* "GET /v1/...", for messages */
	int			(*once)(void *, struct api_error *, int *);
	void			*arg;
};

int	 api_retry_run(const struct api_retry_req *, struct api_error *);
int	 api_retry_cancelled(struct api_client *const cl[2]);
void	 api_retry_cancel_fail(struct api_error *, const char *what);

/* api_algo.c */
void	 api_build_parse(const cJSON *, struct api_build *);
void	 api_version_parse(const cJSON *, struct api_version *);

/* api_page.c */
int	 api_pager_next(struct api_client *, struct api_pager *, cJSON **page,
	    const cJSON **results, struct api_error *);
int	 api_pager_take(struct api_pager *, cJSON **page,
	    const cJSON **results, struct api_error *);
void	 api_pager_free(struct api_pager *);

#endif
