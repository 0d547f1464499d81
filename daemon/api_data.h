/* api_data.h: the API client's hosted-data calls (/v1/connector/data):
 * collections, their listing and ACL, files, and a streamed copy. */
#ifndef API_DATA_H
#define API_DATA_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "api.h"

#define API_DATA_MAX_PAGES	100	/* listing pages followed at most */
#define API_DATA_COPY_BUF	(1024 * 1024)	/* bytes between GET and PUT */
#define API_DATA_PROGRESS_MS	250	/* progress reported at most every */

/*
 * The conventions of api.h hold here too (names %-encoded, one path
 * segment each, none empty; ".my" is sent as is; err may be NULL; every
 * call clears err first; retries, budget, cancel flag, observer and halt
 * hook as set on the client). Paths are /v1/connector/data/OWNER/COLL
 * [/FILE]. Requests that change state are repeated only when the server
 * cannot have acted on them, or after looking at the destination.
 */

struct api_data_file {
	char	*name;
	char	*last_modified;	/* as the server wrote it (ISO-8601) */
	int64_t	 size;
};

struct api_data_listing {
	struct api_data_file	*files;
	size_t			 nfiles;
	cJSON			*acl;	/* the answer's "acl" object, or NULL */
};

/*
 * GET /v1/connector/data/OWNER/COLL?acl=true, following "marker" across
 * pages (data listings have no next_link). At most API_DATA_MAX_PAGES
 * pages: a marker seen twice or more pages are an error. Each entry must
 * have a non-empty "filename" without '/', a "size" that is a
 * non-negative integer and a "last_modified" string; otherwise the call
 * fails with a message naming the entry. "acl" is taken from the first
 * page that has one. out is cleared on entry (zero it before first use).
 * 1 listed, 0 the collection does not exist (404 on the first page),
 * -1 error.
 */
int	 api_data_list(struct api_client *, const char *owner,
	    const char *coll, struct api_data_listing *out,
	    struct api_error *);
void	 api_data_listing_clear(struct api_data_listing *);

/*
 * POST /v1/connector/data/OWNER {"name": COLL, "acl": acl} (acl NULL:
 * left out). 1 created; 0 it already existed: the answer says so (code
 * 1002, or a message saying "already exists"), or, after a failure that
 * leaves it unknown whether the server acted (a transient one), a GET of
 * the collection finds it; when that GET does not find it the POST is
 * made again within the client's tries and budget. -1 error.
 */
int	 api_data_create(struct api_client *, const char *owner,
	    const char *coll, const cJSON *acl, struct api_error *);

/* PATCH .../OWNER/COLL {"acl": acl}; any 2xx answer without an "error"
 * member, an empty one included, is success. 0, or -1. */
int	 api_data_set_acl(struct api_client *, const char *owner,
	    const char *coll, const cJSON *acl, struct api_error *);

/* DELETE .../OWNER/COLL/FILE. 1 deleted (also: gone when looked at with
 * HEAD after a transient failure), 0 was not there (404), -1 error. */
int	 api_data_delete(struct api_client *, const char *owner,
	    const char *coll, const char *file, struct api_error *);

/* HEAD .../OWNER/COLL/FILE. 1 exists (*size from Content-Length, -1 if
 * none; size may be NULL), 0 not (404), -1 error (the server's words from
 * an X-Error-Message header when it sent one). */
int	 api_data_stat(struct api_client *, const char *owner,
	    const char *coll, const char *file, int64_t *size,
	    struct api_error *);

struct api_data_copy {
	int64_t	 bytes;		/* copied (hashed) */
	char	 md5[33];	/* lowercase hex of the bytes */
	char	 sha256[65];
};

/*
 * Streams GET src:/v1/connector/data/SOWNER/SCOLL/SFILE into PUT
 * dst:/v1/connector/data/DOWNER/DCOLL/DFILE without holding the file: the
 * bytes pass through a buffer of API_DATA_COPY_BUF bytes, both transfers
 * driven on one curl multi handle in the calling thread, the download
 * paused while the buffer is full and the upload while it is empty.
 *
 * size is what the listing said and the PUT's Content-Length. The PUT
 * starts only once the GET's answer is a 2xx whose Content-Length, if
 * any, is size; the last byte of the PUT is held back until the GET has
 * ended well with exactly size bytes and, when md5_expect (32 hex digits,
 * or NULL) is given, their MD5 matches it. Otherwise the PUT is aborted
 * short, so that the server stores nothing, and the call fails ("GET
 * PATH: has MD5 X, expected Y; the PUT was aborted").
 *
 * Neither transfer has a total timeout (a 2 GiB file would outlast it):
 * each fails when it moves less than 1 byte a second for the client's
 * timeout (CURLOPT_LOW_SPEED_LIMIT/TIME); connecting keeps the client's
 * timeout. The GET asks for no content encoding, so its bytes are the
 * file's. The PUT's answer is a success when it is a 2xx without an
 * "error" member (empty or not JSON included).
 *
 * The whole copy is one request for retries: a PUT of the same bytes to
 * the same name can be repeated, so a transient failure of either
 * transfer starts it again from the first byte, within the smaller tries
 * and budget of the two clients; a wrong length or MD5 is not repeated.
 * Each client's observer sees its own transfer (status 0 when it did not
 * end with an answer; the PUT's only when it started); either client's
 * cancel flag stops the copy within about 100 ms, and either's halt hook
 * stops its tries. progress(arg, bytes so far: handed to the PUT, or
 * hashed; back to 0 when a try starts again) (NULL: none) is called at
 * most every API_DATA_PROGRESS_MS and once at the end. dst must not be
 * NULL; it may be src. A redirect is not followed (the key would go with
 * it): it fails the copy as a 3xx fails any call of the client. Returns
 * 0 with *out, or -1 with err (*out zeroed).
 */
int	 api_data_copy(struct api_client *src, const char *sowner,
	    const char *scoll, const char *sfile, struct api_client *dst,
	    const char *downer, const char *dcoll, const char *dfile,
	    int64_t size, const char *md5_expect,
	    void (*progress)(void *, int64_t), void *arg,
	    struct api_data_copy *out, struct api_error *err);

/* GETs a file only to hash it, streamed as above, nothing kept: its
 * bytes must number size. 0 with *out, or -1. */
int	 api_data_hash(struct api_client *, const char *owner,
	    const char *coll, const char *file, int64_t size,
	    struct api_data_copy *out, struct api_error *);

/*
 * For api_data.c only (api_stream.c): a request whose answer need not be
 * JSON (HEAD, PATCH) on the client's own handle, tried again as the
 * client allows. body (NULL: none) is sent as JSON. 0 on a 2xx answer
 * that is no JSON object with an "error" member (*clen its
 * Content-Length, -1 if none; clen may be NULL), or -1 with err (status
 * 404 for "not there").
 */
int	 api_stream_request(struct api_client *, const char *method,
	    const char *path, const cJSON *body, int64_t *clen,
	    struct api_error *);

#endif
