/* modelmanifest.h: an ADK model manifest (model_manifest.json[.freeze]):
 * its hosted-data files read, their URIs replaced, its lock re-made. */
#ifndef MODELMANIFEST_H
#define MODELMANIFEST_H

#include <stddef.h>

#define MODELMANIFEST_FROZEN	"model_manifest.json.freeze"
#define MODELMANIFEST_UNFROZEN	"model_manifest.json"
#define MODELMANIFEST_MAX	(4 * 1024 * 1024)	/* bytes of text */
#define MODELMANIFEST_DEPTH	128	/* nested arrays and objects */
#define MODELMANIFEST_INT_DIGITS 4300	/* Python 3.11's int() limit */

/*
 * One hosted-data file of the manifest. Every string is NUL-free UTF-8
 * (the parse refuses a NUL or a lone surrogate in them).
 */
struct modelmanifest_file {
	char	*name;		/* the entry's "name" (required_files and
				 * optional_files) or its key (named form) */
	char	*uri;		/* "data://OWNER/COLL/FILE" as written */
	char	*owner;		/* parsed from uri (".my" kept as written) */
	char	*coll;
	char	*file;
	char	*md5;		/* 32 lowercase hex digits (written in either
				 * case), NULL when the entry has none */
	int	 required;	/* in required_files, or of the named form */
	int	 fail_on_tamper;/* true in the entry (named form: 0) */
};

struct modelmanifest;

/*
 * Parses a manifest: len bytes of text, at most MODELMANIFEST_MAX. The
 * text must be what Python's json.load reads from a UTF-8 file: one JSON
 * value (NaN, Infinity and -Infinity allowed, as Python allows them) with
 * no byte order mark, and that value an object. A key written twice
 * counts as Python counts it: its last value, at its first place.
 *
 * The files are those of "required_files" then "optional_files" when the
 * object has either (the frozen form, and the form before freezing):
 * lists of objects with "name" and "source_uri" strings, and optionally
 * "md5_checksum" (a string of 32 hex digits; null counts as none) and
 * "fail_on_tamper" (true or false). Otherwise the object is of the named
 * form (model_manifest.json): each member whose value is an object with a
 * "filepath" is a file named by its key, with "md5_hash" as its MD5;
 * other members are no files and are kept as they are. Each URI must be
 * data://OWNER/COLLECTION/FILE, three non-empty names without sub-folders.
 *
 * what names the document in errors, e.g. its path. Returns 0 and *out
 * (modelmanifest_free() it), or -1 and *cause (caller frees), one line
 * naming the place, e.g. "model_manifest.json.freeze: line 3, column 7:
 * expected ':' after a key" or "model_manifest.json.freeze:
 * required_files[1].source_uri: not a data:// URI".
 */
int	 modelmanifest_parse(struct modelmanifest **out, const char *text,
	    size_t len, const char *what, char **cause);
void	 modelmanifest_free(struct modelmanifest *);

/* The number of files, and file i of them in the document's order
 * (NULL when i is not below the number). The file is the manifest's:
 * valid until the next modelmanifest_set_uri() of i or
 * modelmanifest_free(). */
size_t	 modelmanifest_nfiles(const struct modelmanifest *);
const struct modelmanifest_file *modelmanifest_file(
	    const struct modelmanifest *, size_t i);

/* 1 when the object has a top-level "lock_checksum" (of any kind), else
 * 0. */
int	 modelmanifest_frozen(const struct modelmanifest *);

/*
 * The ADK's lock rule: Python 3's str() of the document's object as
 * json.load gives it, without its top-level "lock_checksum" (a dict repr:
 * keys in order, strings per repr(), True/False/None, ints and floats as
 * Python prints them), and the MD5 of that text in UTF-8.
 *
 * modelmanifest_lock_text gives the text (*text NUL-terminated, *len its
 * length; caller frees); modelmanifest_lock_checksum its MD5 as 32
 * lowercase hex digits in out. Both return 0, or -1 and *cause when the
 * text cannot be known for sure: a non-ASCII character whose printing by
 * repr() depends on the Python's Unicode version (one that Unicode 3.2
 * and Python's own version do not both assign, in the same printable or
 * non-printable class), or an integer longer than
 * MODELMANIFEST_INT_DIGITS digits (which Python 3.11 and later refuse),
 * e.g. "x: cannot re-lock: U+1F600, whose escaping by Python's repr()
 * depends on its Unicode version at required_files[0].metadata.note".
 */
int	 modelmanifest_lock_text(const struct modelmanifest *, char **text,
	    size_t *len, char **cause);
int	 modelmanifest_lock_checksum(const struct modelmanifest *,
	    char out[33], char **cause);

/* 1 when the document has a "lock_checksum" string equal to the rule's
 * MD5 (with its URIs as they are now), 0 when not (none is not one), -1
 * and *cause when the rule cannot be computed (as above). */
int	 modelmanifest_lock_ok(const struct modelmanifest *, char **cause);

/*
 * Makes uri (NUL-terminated UTF-8, a data://OWNER/COLLECTION/FILE URI as
 * for the parse) the URI of file i: its "source_uri" or "filepath" value,
 * and the file's uri, owner, coll and file. Returns 0, or -1 and *cause
 * (the manifest unchanged) when uri is no such URI.
 */
int	 modelmanifest_set_uri(struct modelmanifest *, size_t i,
	    const char *uri, char **cause);

/*
 * The document as JSON text: the text parsed, byte for byte, but for the
 * URIs set (each written as a JSON string, non-ASCII as \u escapes) and,
 * when it had a "lock_checksum", that value replaced by the rule's MD5 in
 * its place. Python's json.load reads back the object the lock was
 * computed over. *text is NUL-terminated, *len its length (caller frees).
 * Returns 0, or -1 and *cause when the lock cannot be computed.
 */
int	 modelmanifest_render(const struct modelmanifest *, char **text,
	    size_t *len, char **cause);

/*
 * The content-addressed name of a copied file: "STEM.MD5.EXT", the MD5
 * before the last extension ("model.pth" -> "model.<md5>.pth"); a name
 * with no extension (no dot, or only a leading or a trailing one) gets
 * it at its end ("vocab" -> "vocab.<md5>", ".env" -> ".env.<md5>").
 * md5 must be 32 lowercase hex digits and file not empty, else NULL.
 * Caller frees.
 */
char	*modelmanifest_pinned_name(const char *file, const char *md5);

/* 1 and the MD5 in md5 (NUL-terminated) when name is one that
 * modelmanifest_pinned_name() makes of some file name, else 0. */
int	 modelmanifest_pinned_parse(const char *name, char md5[33]);

#endif
